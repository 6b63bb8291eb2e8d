"""Checks on what callers ask for, made before anything is sent; each failure names its field."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from .catalog import (
    ASPECT_RATIOS,
    CHAT_MODELS,
    DEFAULT_CHAT_MODEL,
    DEFAULT_IMAGE_MODEL,
    IMAGE_MODELS,
    Kind,
)
from .errors import InvalidRequestError
from .ids import generate_project_id

ROLES = ("system", "user", "assistant")
# Large enough for a conversation carrying a few photos as data URLs, small enough that a
# runaway history is stopped here rather than by an opaque 413 upstream.
MAX_REQUEST_BYTES = 8 * 1024 * 1024
MAX_PROMPT_CHARS = 4000
_IMAGE_URL_PREFIXES = ("data:image/", "https://", "http://")

Message = Mapping[str, Any]


def validate_messages(messages: object) -> list[Message]:
    """The messages as given, once each is a {role, content} mapping with something to say.

    Content is a string or a list of OpenAI-style parts (`text`, `image_url`); parts are passed
    on unchanged.
    """
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise InvalidRequestError("messages", "must be a list of {role, content} messages")
    if not messages:
        raise InvalidRequestError("messages", "must hold at least one message")
    for index, message in enumerate(messages):
        field = f"messages[{index}]"
        if not isinstance(message, Mapping):
            raise InvalidRequestError(field, "must be a {role, content} mapping")
        role = message.get("role")
        if role not in ROLES:
            raise InvalidRequestError(
                f"{field}.role", f"must be one of {_listing(ROLES)}, not {role!r}"
            )
        _check_content(message.get("content"), f"{field}.content")
    return list(messages)


def _check_content(content: object, field: str) -> None:
    if isinstance(content, str):
        if not content.strip():
            raise InvalidRequestError(field, "must not be blank")
        return
    if not isinstance(content, Sequence) or isinstance(content, bytes):
        raise InvalidRequestError(field, "must be text or a list of text and image_url parts")
    says_something = False
    for index, part in enumerate(content):
        part_field = f"{field}[{index}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidRequestError(f"{part_field}.text", "must be a string")
            says_something = says_something or bool(text.strip())
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else None
            if not isinstance(url, str) or not url.startswith(_IMAGE_URL_PREFIXES):
                raise InvalidRequestError(
                    f"{part_field}.image_url.url", "must be a data:image/... or http(s) URL"
                )
            says_something = True
        else:
            raise InvalidRequestError(
                part_field, "must be a {type: text} or {type: image_url} part"
            )
    if not says_something:
        raise InvalidRequestError(field, "must not be blank")


def validate_prompt(prompt: object) -> str:
    """The prompt without surrounding whitespace, once it is non-blank and within the length cap."""
    if not isinstance(prompt, str):
        raise InvalidRequestError("prompt", "must be text")
    prompt = prompt.strip()
    if not prompt:
        raise InvalidRequestError("prompt", "must not be blank")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InvalidRequestError(
            "prompt", f"is {len(prompt):,} characters; the limit is {MAX_PROMPT_CHARS:,}"
        )
    return prompt


def validate_aspect_ratio(aspect_ratio: object) -> str:
    """The aspect ratio, once it is one Websim's image models accept."""
    if aspect_ratio not in ASPECT_RATIOS:
        raise InvalidRequestError(
            "aspect_ratio", f"must be one of {_listing(ASPECT_RATIOS)}, not {aspect_ratio!r}"
        )
    return str(aspect_ratio)


def validate_model(model: object, kind: Kind) -> str:
    """The model, or the default for `kind` when None, once it is a model of that kind."""
    if kind == "chat":
        known, default, other, other_kind = (
            CHAT_MODELS,
            DEFAULT_CHAT_MODEL,
            IMAGE_MODELS,
            "an image",
        )
    else:
        known, default, other, other_kind = IMAGE_MODELS, DEFAULT_IMAGE_MODEL, CHAT_MODELS, "a chat"
    if model is None:
        return default
    if model not in known:
        hint = f"; {model!r} is {other_kind} model" if model in other else ""
        raise InvalidRequestError("model", f"must be one of {_listing(known)} for {kind}{hint}")
    return str(model)


def validate_project_id(project_id: object, kind: Kind) -> str:
    """The project ID, or a fresh one of the right shape for `kind` when None."""
    if project_id is None:
        return generate_project_id(for_image=kind == "image")
    if (
        not isinstance(project_id, str)
        or not 0 < len(project_id) <= 64
        or not all(ch.isascii() and (ch.isalnum() or ch in "_-") for ch in project_id)
    ):
        raise InvalidRequestError("project_id", "must be 1 to 64 ASCII letters, digits, '_' or '-'")
    return project_id


def check_request_size(body: bytes, field: str) -> None:
    """Refuse a request body over MAX_REQUEST_BYTES, blaming `field` for its size."""
    if len(body) > MAX_REQUEST_BYTES:
        raise InvalidRequestError(
            field,
            f"the request would be {len(body) / 2**20:.1f} MiB; the limit is "
            f"{MAX_REQUEST_BYTES / 2**20:.0f} MiB",
        )


def _listing(values: Sequence[str]) -> str:
    return ", ".join(values)
