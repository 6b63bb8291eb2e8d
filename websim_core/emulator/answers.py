"""What the emulator answers to a request that gets no fault: checks of the body, then replies.

The checks are the emulator's own, not websim_core's validation: an emulator that reused the
client's checks could not catch the client's mistakes.
"""

from __future__ import annotations

import json
from typing import Any, Final

from aiohttp import web

from websim_core.catalog import ASPECT_RATIOS, aspect_ratio_size
from websim_core.emulator.faults import error_body
from websim_core.emulator.images import prompt_digest

ROLES: Final = ("system", "user", "assistant")
REPLY_QUOTE_CHARS: Final = 200


def error_response(status: int, message: str) -> web.Response:
    return web.json_response(error_body(message), status=status)


def _chat_problem(body: Any) -> str | None:
    """What is wrong with a chat body, naming the field, or None when it is usable."""
    envelope_problem = _envelope_problem(body)
    if envelope_problem:
        return envelope_problem
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        return "messages: must be a non-empty list"
    for index, message in enumerate(messages):
        where = f"messages[{index}]"
        if not isinstance(message, dict):
            return f"{where}: must be an object"
        if message.get("role") not in ROLES:
            return f"{where}.role: must be one of {', '.join(ROLES)}"
        content = message.get("content")
        if isinstance(content, str):
            continue
        if not isinstance(content, list):
            return f"{where}.content: must be a string or a list of parts"
        for part_index, part in enumerate(content):
            part_problem = _part_problem(part)
            if part_problem:
                return f"{where}.content[{part_index}]{part_problem}"
    return None


def _part_problem(part: Any) -> str | None:
    if not isinstance(part, dict):
        return ": must be an object"
    if part.get("type") == "text":
        return None if isinstance(part.get("text"), str) else ".text: must be a string"
    if part.get("type") == "image_url":
        image_url = part.get("image_url")
        if isinstance(image_url, dict) and isinstance(image_url.get("url"), str):
            return None
        return ".image_url.url: must be a string"
    return ".type: must be 'text' or 'image_url'"


def _image_problem(body: Any) -> str | None:
    """What is wrong with an image body, naming the field, or None when it is usable."""
    envelope_problem = _envelope_problem(body)
    if envelope_problem:
        return envelope_problem
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt: must be a non-blank string"
    if body.get("aspect_ratio") not in ASPECT_RATIOS:
        return f"aspect_ratio: must be one of {', '.join(ASPECT_RATIOS)}"
    return None


def _envelope_problem(body: Any) -> str | None:
    """What both endpoints require of a body: a JSON object carrying a project ID."""
    if not isinstance(body, dict):
        return "body: must be a JSON object"
    project_id = body.get("project_id")
    if not isinstance(project_id, str) or not project_id:
        return "project_id: must be a non-empty string"
    return None


def chat_reply(body: dict[str, Any]) -> str:
    """The reply to a valid chat body: a function of the body alone, so tests can predict it."""
    messages: list[dict[str, Any]] = body["messages"]
    said, images = "", 0
    for message in reversed(messages):
        if message["role"] == "user":
            said, images = _message_text(message["content"])
            break
    plural = "message" if len(messages) == 1 else "messages"
    reply = f"Emulator reply to {len(messages)} {plural}. You said: {said[:REPLY_QUOTE_CHARS]}"
    if images:
        reply += f" (with {images} image{'' if images == 1 else 's'})"
    if body.get("json") is True:
        # Clients ask for JSON output this way; answer with JSON text so they can parse it.
        reply = json.dumps({"reply": reply})
    return reply


def _message_text(content: str | list[dict[str, Any]]) -> tuple[str, int]:
    if isinstance(content, str):
        return content, 0
    texts = [part["text"] for part in content if part["type"] == "text"]
    images = sum(1 for part in content if part["type"] == "image_url")
    return " ".join(texts), images


def chat_answer(body: Any) -> web.Response:
    problem = _chat_problem(body)
    if problem:
        return error_response(400, problem)
    # Real Websim pads its replies; the padding is kept so clients are made to strip it.
    return web.json_response({"content": f"\n  {chat_reply(body)}  \n"})


def image_answer(body: Any, origin: str, long_side: int) -> web.Response:
    problem = _image_problem(body)
    if problem:
        return error_response(400, problem)
    width, height = aspect_ratio_size(body["aspect_ratio"], long_side)
    return web.json_response(
        {"url": f"{origin}/images/{width}x{height}/{prompt_digest(body['prompt'])}.png"}
    )
