"""The Image tab: its components, and what each of its events does."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr

from websim_core.catalog import (
    ASPECT_RATIOS,
    DEFAULT_ASPECT_RATIO,
    DEFAULT_IMAGE_MODEL,
    IMAGE_MODELS,
)

from ..images import ImageHandlers
from ..services import Services
from .common import PRIVATE, caller, websim_calls

# The tab's own style and script, added to the page's.
CSS = """
#result-caption { text-align: center; font-style: italic; }
"""
HEAD = ""


def build_image_tab(services: Services, images: ImageHandlers) -> None:
    """The tab, built inside the page's Blocks."""
    with gr.Tab("Image", id="image"):
        with gr.Row():
            with gr.Column(scale=2):
                prompt = gr.Textbox(
                    label="Prompt",
                    placeholder="A lighthouse on a cliff at dawn, watercolour",
                    lines=3,
                    max_lines=10,
                    elem_id="prompt",
                )
                with gr.Row():
                    image_model = gr.Dropdown(
                        list(IMAGE_MODELS), value=DEFAULT_IMAGE_MODEL, label="Model"
                    )
                aspect_ratio = gr.Radio(
                    list(ASPECT_RATIOS),
                    value=DEFAULT_ASPECT_RATIO,
                    label="Aspect ratio",
                    elem_id="aspect-ratio",
                )
                generate = gr.Button("Generate", variant="primary", elem_id="generate")
                status = gr.Markdown(elem_id="image-status")
            with gr.Column(scale=3):
                result = gr.Image(
                    label="Result",
                    type="filepath",
                    interactive=False,
                    height=520,
                    buttons=["download", "fullscreen"],
                    elem_id="result",
                )
                caption = gr.Markdown(elem_id="result-caption")
        gallery = gr.Gallery(
            label="This session's images",
            columns=6,
            height=260,
            object_fit="contain",
            preview=False,
            # Otherwise a lone image is stretched to the gallery's full width.
            fit_columns=False,
            buttons=["download", "fullscreen"],
            interactive=False,
            elem_id="gallery",
        )

    async def make_image(
        text: str,
        ratio: str,
        chosen_model: str,
        shown: list[Any] | None,
        request: gr.Request,
    ) -> AsyncIterator[tuple[Any, ...]]:
        collected = [(item[0], item[1]) for item in shown or []]
        async for update in images.generate(text, ratio, chosen_model, caller(request)):
            message = html.escape(update.status)
            if update.failed:
                yield f"⚠️ {message}", gr.skip(), gr.skip(), gr.skip()
            elif update.image is None:
                yield f"⏳ {message}", gr.skip(), gr.skip(), gr.skip()
            else:
                collected.insert(0, (str(update.image), update.caption))
                yield message, str(update.image), html.escape(update.caption), collected

    gr.on(
        [generate.click, prompt.submit],
        make_image,
        [prompt, aspect_ratio, image_model, gallery],
        [status, result, caption, gallery],
        show_progress="minimal",
        show_progress_on=[result],
        **websim_calls(services),
        **PRIVATE,
    )
