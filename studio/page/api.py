"""`/chat` and `/generate_image`: the page's API for programs, and its MCP tools.

Gradio names each MCP tool after its function and describes it from the docstring (the summary,
then `Args:` and `Returns:`), so those are written for an agent deciding what to call.
"""

from __future__ import annotations

from typing import Any

import gradio as gr
from gradio.events import api

from websim_core import WebsimError
from websim_core.catalog import (
    ASPECT_RATIOS,
    DEFAULT_ASPECT_RATIO,
    DEFAULT_CHAT_MODEL,
    DEFAULT_IMAGE_MODEL,
)
from websim_core.validation import MAX_PROMPT_CHARS

from ..services.rate_limit import ClientRateLimitError
from ..services.shared import Services
from ..turns.chat import ChatHandlers
from ..turns.failures import describe_failure
from ..turns.images import ImageHandlers
from .common import caller, websim_calls

IMAGE_TOOL = f"""Generate one image from a text description with Websim's image model.

Args:
    prompt: What the image should show, in words (at most {MAX_PROMPT_CHARS:,} characters).
    aspect_ratio: The image's shape as width:height, one of {", ".join(ASPECT_RATIOS)}. The
        default is {DEFAULT_ASPECT_RATIO}.
    model: The image model's name; the default is {DEFAULT_IMAGE_MODEL}.

Returns:
    The image (PNG, JPEG or WebP), and the address it can be downloaded from.
"""


def add_api(services: Services, chat_handlers: ChatHandlers, images: ImageHandlers) -> None:
    """Register the two API endpoints on the Blocks being built."""

    def refusal(error: WebsimError | ClientRateLimitError) -> gr.Error:
        return gr.Error(describe_failure(error, services.websim.base_url), print_exception=False)

    async def chat(
        message: str,
        history: list[dict[str, Any]] | None = None,
        model: str = DEFAULT_CHAT_MODEL,
        system_prompt: str = "",
        request: gr.Request | None = None,
    ) -> str:
        """Ask one of Websim's AI models and get its reply as text. Websim remembers nothing
        between calls: to go on with a conversation, pass its earlier turns in `history`.

        Args:
            message: What to say to the model.
            history: Earlier turns, oldest first, as {"role": "user" or "assistant",
                "content": "..."} objects; empty for a new conversation.
            model: The chat model's name; the default is Websim's own choice.
            system_prompt: Optional instructions for how the model should answer.

        Returns:
            The model's reply, as Markdown text.
        """
        try:
            return await chat_handlers.api_chat(
                message, history, model, system_prompt, caller(request, "api")
            )
        except (ClientRateLimitError, WebsimError) as error:
            raise refusal(error) from None

    async def generate_image(
        prompt: str,
        aspect_ratio: str = DEFAULT_ASPECT_RATIO,
        model: str = DEFAULT_IMAGE_MODEL,
        request: gr.Request | None = None,
    ) -> gr.FileData:
        try:
            path = await images.api_generate_image(
                prompt, aspect_ratio, model, caller(request, "api")
            )
        except (ClientRateLimitError, WebsimError) as error:
            raise refusal(error) from None
        return gr.FileData(path=str(path), orig_name=path.name)

    # Its docstring names the ratios and the prompt's limit from where they are defined.
    generate_image.__doc__ = IMAGE_TOOL

    api(chat, api_name="chat", **websim_calls(services))
    api(generate_image, api_name="generate_image", **websim_calls(services))
