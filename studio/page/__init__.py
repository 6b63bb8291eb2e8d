"""The page: a Chat tab and an Image tab, plus the `/chat` and `/generate_image` API.

Each tab is its own module owning its components and events; the handlers they call
(studio.chat, studio.images) know nothing of Gradio.
"""

from __future__ import annotations

import gradio as gr

from ..chat import ChatHandlers
from ..images import ImageHandlers
from ..services import Services
from .api import add_api
from .chat_tab import build_chat_tab
from .common import QUICK
from .image_tab import build_image_tab

TITLE = "Websim Studio"
OFFLINE_NOTICE = (
    "**Offline demo:** replies and images come from the bundled Websim emulator on this "
    "server, not from websim.ai."
)
CSS = """
#result-caption { text-align: center; font-style: italic; }
"""

__all__ = ["CSS", "TITLE", "build_page"]


def build_page(services: Services) -> gr.Blocks:
    """The whole page, wired to `services`."""
    chat = ChatHandlers(services, uploads=services.files.gradio_cache)
    images = ImageHandlers(services)
    demo = gr.Blocks(title=TITLE)
    with demo:
        gr.Markdown(f"# {TITLE}\nChat with Websim's AI models and generate images.")
        notice = gr.Markdown(elem_id="offline-notice")
        build_chat_tab(demo, services, chat)
        build_image_tab(services, images)
        add_api(services, chat, images)
        # Read at each page load: `--demo` decides it after this page is built.
        demo.load(lambda: OFFLINE_NOTICE if services.offline else "", None, notice, **QUICK)
    return demo
