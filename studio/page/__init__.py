"""The page: a Chat tab and an Image tab, plus the `/chat` and `/generate_image` API.

Each tab is its own module owning its components and events; the handlers they call
(studio.turns.chat, studio.turns.images) know nothing of Gradio.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..services.shared import Services
from ..turns.chat import ChatHandlers
from ..turns.images import ImageHandlers
from . import chat_tab, image_tab
from .api import add_api
from .browser_code import applied, script, source, stylesheet
from .common import QUICK
from .words import BROWSER_LANGUAGE, BROWSER_WORDS, WORDS, token, word

TITLE = "Websim Studio"
# Worded by the browser's language (words.py): Gradio translates an event's Markdown value too.
OFFLINE_NOTICE = token("page.offline")
# Chosen for a reading page: Soft's quiet surfaces with an indigo accent (the Space's colours),
# in the system's own fonts: a theme's web fonts would be fetched from Google on every visit,
# and an offline demo must fetch nothing from elsewhere.
THEME = gr.themes.Soft(
    primary_hue="indigo",
    secondary_hue="pink",
    neutral_hue="slate",
    font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
).set(
    # Soft's own shades fall short of WCAG AA's 4.5:1 for small text (tests/test_accessibility.py):
    # its subdued grey (2.5:1 on its background), indigo labels on indigo tints (3.6:1) and
    # white on its indigo-500 buttons (4.46:1). One step darker each, the look otherwise kept.
    body_text_color_subdued="*neutral_500",
    body_text_color_subdued_dark="*neutral_400",
    block_label_text_color="*primary_700",
    block_title_text_color="*primary_700",
    button_primary_background_fill="*primary_600",
    button_primary_background_fill_hover="*primary_700",
    button_primary_background_fill_hover_dark="*primary_700",
    checkbox_label_background_fill_selected="*primary_600",
    # The selected tab's name is drawn in the accent.
    color_accent="*primary_600",
)
# Images come from this server only (its own files, uploads, data: and blob: URLs): a reply, a
# caption or anything else on the page cannot make a reader's browser call another address.
CONTENT_POLICY = (
    """<meta http-equiv="Content-Security-Policy" content="img-src 'self' data: blob:">\n"""
)
# What the page's keys act on (keyboard.js): Esc clicks a Stop that is shown, Ctrl+Shift+O
# (Cmd+Shift+O on a Mac) clicks New chat, and the message box gets the focus back.
KEYBOARD = {
    "draft": "#draft textarea",
    "stops": ["#draft .stop-button", "#image-stop"],
    "newChat": "#new-chat",
    "chatTab": "button[role=tab][data-tab-id=chat]",
    "conversations": "#conversations",
}

__all__ = ["TITLE", "build_page", "page_options"]


def page_options() -> dict[str, Any]:
    """What Gradio's mount takes besides the Blocks: style, scripts, theme, footer, words."""
    return {
        "css": stylesheet("page.css", "chat_tab.css", "sidebar.css", "image_tab.css"),
        "head": "".join(
            [
                CONTENT_POLICY,
                f"<style>\n{stylesheet('head.css')}</style>\n",
                script(source("page.js")),
                # Gradio's page says it is English whatever it shows: a screen reader reads a
                # Russian page in Russian once its <html lang> says so.
                script(f"document.documentElement.lang = {BROWSER_LANGUAGE};"),
                script(f"{applied('keyboard.js', KEYBOARD, BROWSER_WORDS)}.install(document);"),
                chat_tab.HEAD,
            ]
        ),
        "footer_links": ["api", "settings"],
        "i18n": WORDS,
        "theme": THEME,
    }


def build_page(services: Services) -> gr.Blocks:
    """The whole page, wired to `services`."""
    chat = ChatHandlers(services, uploads=services.files.gradio_cache)
    images = ImageHandlers(services)
    demo = gr.Blocks(title=TITLE)
    with demo:
        # One compact line: the conversation below takes the rest of the window.
        with gr.Row(elem_id="page-header", equal_height=True):
            gr.Markdown(word("page.title"), elem_id="page-title")
            notice = gr.Markdown(elem_id="offline-notice")
        chat_tab.build_chat_tab(demo, services, chat)
        image_tab.build_image_tab(demo, services, images)
        add_api(services, chat, images)
        # Read at each page load: `--demo` decides it after this page is built.
        demo.load(lambda: OFFLINE_NOTICE if services.offline else "", None, notice, **QUICK)
    return demo
