"""The page: a Chat tab and an Image tab, plus the `/chat` and `/generate_image` API.

Each tab is its own module owning its components and events; the handlers they call
(studio.chat, studio.images) know nothing of Gradio.
"""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..chat import ChatHandlers
from ..images import ImageHandlers
from ..services import Services
from . import chat_tab, image_tab
from .api import add_api
from .common import QUICK

TITLE = "Websim Studio"
OFFLINE_NOTICE = (
    "**Offline demo:** replies and images come from the bundled Websim emulator on this "
    "server, not from websim.ai."
)
# Page-wide style and script; each tab adds its own.
PAGE_CSS = ""
PAGE_HEAD = ""

__all__ = ["TITLE", "build_page", "page_options"]


def page_options() -> dict[str, Any]:
    """What Gradio's mount takes besides the Blocks: style, scripts, theme, footer."""
    return {
        "css": PAGE_CSS + chat_tab.CSS + image_tab.CSS,
        "head": PAGE_HEAD + chat_tab.HEAD + image_tab.HEAD,
        "footer_links": ["api", "settings"],
    }


def build_page(services: Services) -> gr.Blocks:
    """The whole page, wired to `services`."""
    chat = ChatHandlers(services, uploads=services.files.gradio_cache)
    images = ImageHandlers(services)
    demo = gr.Blocks(title=TITLE)
    with demo:
        gr.Markdown(f"# {TITLE}\nChat with Websim's AI models and generate images.")
        notice = gr.Markdown(elem_id="offline-notice")
        chat_tab.build_chat_tab(demo, services, chat)
        image_tab.build_image_tab(services, images)
        add_api(services, chat, images)
        # Read at each page load: `--demo` decides it after this page is built.
        demo.load(lambda: OFFLINE_NOTICE if services.offline else "", None, notice, **QUICK)
    return demo
