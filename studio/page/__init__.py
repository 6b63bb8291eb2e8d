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
from . import chat_tab, image_tab, sidebar
from .api import add_api
from .common import QUICK

TITLE = "Websim Studio"
OFFLINE_NOTICE = (
    "**Offline demo:** replies and images come from the bundled Websim emulator on this "
    "server, not from websim.ai."
)
# Chosen for a reading page: Soft's quiet surfaces with an indigo accent (the Space's colours),
# in the system's own fonts: a theme's web fonts would be fetched from Google on every visit,
# and an offline demo must fetch nothing from elsewhere.
THEME = gr.themes.Soft(
    primary_hue="indigo",
    secondary_hue="pink",
    neutral_hue="slate",
    font=["ui-sans-serif", "system-ui", "-apple-system", "Segoe UI", "Roboto", "sans-serif"],
    font_mono=["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"],
)
# Page-wide style and script; each tab adds its own.
PAGE_CSS = """
#page-title { margin-bottom: 0; }
#page-title h1 { font-size: var(--text-xxl); margin: 0; }
#page-title p { margin: 0; color: var(--body-text-color-subdued); }
#offline-notice:empty { display: none; }
#offline-notice p {
    margin: 0; padding: var(--size-1) var(--size-3); border-radius: var(--radius-md);
    background: var(--color-accent-soft); font-size: var(--text-sm);
}
@media (width <= 640px) {
    .gradio-container { padding: var(--size-2) !important; }
    #page-title h1 { font-size: var(--text-xl); }
    #page-title p { display: none; }
}
"""
# Images come from this server only (its own files, uploads, data: and blob: URLs): a reply, a
# caption or anything else on the page cannot make a reader's browser call another address.
# The box is focused where there is room to show the whole page around it; on a phone focusing
# it scrolls the page and raises the keyboard, so there it waits for a tap. (The conversations
# sidebar opens by itself on a wide screen: studio.page.chat_tab, once the page is restored.)
PAGE_HEAD = """
<meta http-equiv="Content-Security-Policy" content="img-src 'self' data: blob:">
<style>
/* Gradio hides "Use via API" from the footer on narrow screens; the API is there all the same.
   (Here, not in the page's css, which Gradio scopes to the page's body and not its footer.) */
@media (width <= 640px) {
    footer .show-api { display: flex !important; }
    footer .show-api-divider { display: inline !important; }
}
/* The sidebar opens at load on a wide screen: at once, not sliding the page under the cursor. */
.sidebar, .sidebar-parent { transition: none !important; }
</style>
<script>
(() => {
    const wide = () => window.matchMedia("(min-width: 1100px)").matches;
    const ready = (selector, then, tries = 200) => {
        const found = document.querySelector(selector);
        if (found) then(found);
        else if (tries > 0) setTimeout(() => ready(selector, then, tries - 1), 50);
    };
    const arrange = () => {
        if (!wide()) return;
        ready("#draft textarea", (box) => box.focus({ preventScroll: true }));
    };
    // Gradio adds this to the head itself, sometimes after the page's load event.
    if (document.readyState === "complete") arrange();
    else window.addEventListener("load", arrange);
})();
</script>
"""

__all__ = ["TITLE", "build_page", "page_options"]


def page_options() -> dict[str, Any]:
    """What Gradio's mount takes besides the Blocks: style, scripts, theme, footer."""
    return {
        "css": PAGE_CSS + chat_tab.CSS + sidebar.CSS + image_tab.CSS,
        "head": PAGE_HEAD + chat_tab.HEAD + image_tab.HEAD,
        "footer_links": ["api", "settings"],
        "theme": THEME,
    }


def build_page(services: Services) -> gr.Blocks:
    """The whole page, wired to `services`."""
    chat = ChatHandlers(services, uploads=services.files.gradio_cache)
    images = ImageHandlers(services)
    demo = gr.Blocks(title=TITLE)
    with demo:
        gr.Markdown(
            f"# {TITLE}\nChat with Websim's AI models and generate images.", elem_id="page-title"
        )
        notice = gr.Markdown(elem_id="offline-notice")
        chat_tab.build_chat_tab(demo, services, chat)
        image_tab.build_image_tab(services, images)
        add_api(services, chat, images)
        # Read at each page load: `--demo` decides it after this page is built.
        demo.load(lambda: OFFLINE_NOTICE if services.offline else "", None, notice, **QUICK)
    return demo
