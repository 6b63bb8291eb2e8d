"""`/chat` and `/generate_image`: the page's API for programs (Gradio clients and MCP hosts)."""

from __future__ import annotations

from typing import Any

import gradio as gr
from gradio.events import api

from websim_core import WebsimError
from websim_core.catalog import DEFAULT_ASPECT_RATIO, DEFAULT_CHAT_MODEL, DEFAULT_IMAGE_MODEL

from ..chat import ChatHandlers
from ..failures import describe_failure
from ..images import ImageHandlers
from ..rate_limit import ClientRateLimitError
from ..services import Services
from .common import caller, websim_calls


def add_api(services: Services, chat: ChatHandlers, images: ImageHandlers) -> None:
    """Register the two API endpoints on the Blocks being built."""

    def refusal(error: WebsimError | ClientRateLimitError) -> gr.Error:
        return gr.Error(describe_failure(error, services.websim.base_url), print_exception=False)

    async def chat_api(
        message: str,
        history: list[dict[str, Any]] | None = None,
        model: str = DEFAULT_CHAT_MODEL,
        system_prompt: str = "",
        request: gr.Request | None = None,
    ) -> str:
        """Websim's reply to `message`, after the optional `history` of
        {"role", "content"} messages (Websim keeps none), under `system_prompt`."""
        try:
            return await chat.api_chat(
                message, history, model, system_prompt, caller(request, "api")
            )
        except (ClientRateLimitError, WebsimError) as error:
            raise refusal(error) from None

    async def generate_image_api(
        prompt: str,
        aspect_ratio: str = DEFAULT_ASPECT_RATIO,
        model: str = DEFAULT_IMAGE_MODEL,
        request: gr.Request | None = None,
    ) -> gr.FileData:
        """An image of `prompt` in one of the eleven aspect ratios, as a PNG/JPEG/WebP file."""
        try:
            path = await images.api_generate_image(
                prompt, aspect_ratio, model, caller(request, "api")
            )
        except (ClientRateLimitError, WebsimError) as error:
            raise refusal(error) from None
        return gr.FileData(path=str(path), orig_name=path.name)

    api(chat_api, api_name="chat", **websim_calls(services))
    api(generate_image_api, api_name="generate_image", **websim_calls(services))
