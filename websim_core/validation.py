"""Checks on what callers ask for, made before anything is sent; each failure names its field."""

from __future__ import annotations

import math
import re
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
# How much of a refused value a refusal quotes.
QUOTED_CHARS = 40
# Counted before anything walks them: a few bytes each, 8 MiB holds 250,000 messages, which cost
# the server's loop most of a second to walk however they end.
MAX_MESSAGES = 1000
MAX_PARTS = 100
_IMAGE_URL_PREFIXES = ("data:image/", "https://", "http://")
# A lone surrogate (from a broken paste or a JavaScript string cut mid-emoji) has no UTF-8 form.
_SURROGATE = re.compile("[\ud800-\udfff]")

Message = Mapping[str, Any]


def validate_messages(messages: object, *, field: str = "messages") -> list[Message]:
    """The messages as given, once each is a {role, content} mapping with something to say.

    Content is a string or a list of OpenAI-style parts (`text`, `image_url`); parts are passed
    on unchanged. Errors name the place under `field`, such as `messages[1].content`; a caller
    checking a history of its own passes `field="history"` to get `history[1].content`.
    """
    if isinstance(messages, str | bytes) or not isinstance(messages, Sequence):
        raise InvalidRequestError(field, "must be a list of {role, content} messages")
    if not messages:
        raise InvalidRequestError(field, "must hold at least one message")
    check_count(messages, field)
    for index, message in enumerate(messages):
        where = f"{field}[{index}]"
        if not isinstance(message, Mapping):
            raise InvalidRequestError(where, "must be a {role, content} mapping")
        role = message.get("role")
        if role not in ROLES:
            raise InvalidRequestError(
                f"{where}.role", f"must be one of {_listing(ROLES)}, not {quoted(role)}"
            )
        _check_content(message.get("content"), f"{where}.content")
    return list(messages)


def check_count(messages: Sequence[object], field: str = "messages") -> None:
    """Refuse more messages than one request may hold, before any of them is looked at."""
    if len(messages) > MAX_MESSAGES:
        raise InvalidRequestError(
            field,
            f"holds {len(messages):,} messages; at most {MAX_MESSAGES:,} fit in one request, "
            "so start a new conversation or send fewer",
        )


def check_text(text: str, field: str) -> None:
    """Refuse text holding a lone surrogate, which no request can carry, naming the character."""
    match = _SURROGATE.search(text)
    if match:
        raise InvalidRequestError(
            field,
            f"holds a character that is not valid text (U+{ord(match.group()):04X}); remove it",
        )


def _check_content(content: object, field: str) -> None:
    if isinstance(content, str):
        if not content.strip():
            raise InvalidRequestError(field, "must not be blank")
        check_text(content, field)
        return
    if not isinstance(content, Sequence) or isinstance(content, bytes):
        raise InvalidRequestError(field, "must be text or a list of text and image_url parts")
    if len(content) > MAX_PARTS:
        raise InvalidRequestError(field, f"holds {len(content):,} parts; at most {MAX_PARTS} fit")
    says_something = False
    for index, part in enumerate(content):
        part_field = f"{field}[{index}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind == "text":
            text = part.get("text")
            if not isinstance(text, str):
                raise InvalidRequestError(f"{part_field}.text", "must be a string")
            check_text(text, f"{part_field}.text")
            says_something = says_something or bool(text.strip())
        elif kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else None
            if not isinstance(url, str) or not url.startswith(_IMAGE_URL_PREFIXES):
                raise InvalidRequestError(
                    f"{part_field}.image_url.url", "must be a data:image/... or http(s) URL"
                )
            check_text(url, f"{part_field}.image_url.url")
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
    check_text(prompt, "prompt")
    return prompt


def validate_aspect_ratio(aspect_ratio: object) -> str:
    """The aspect ratio, once it is one Websim's image models accept."""
    if aspect_ratio not in ASPECT_RATIOS:
        raise InvalidRequestError(
            "aspect_ratio",
            f"must be one of {_listing(ASPECT_RATIOS)}, not {quoted(aspect_ratio)}",
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


def check_request_size(body: bytes, field: str, hint: str = "make it smaller") -> None:
    """Refuse a request body over MAX_REQUEST_BYTES, blaming `field` and saying what to do.

    The problem reads on from the field's name ("messages would make the request ..."), as
    callers show `f"{error.field} {error.problem}"`.
    """
    if len(body) > MAX_REQUEST_BYTES:
        # Rounded up, so that a body just over the limit never reads "8.0 MiB, over 8 MiB".
        mebibytes = math.ceil(len(body) / 2**20 * 10) / 10
        raise InvalidRequestError(
            field,
            f"would make the request {mebibytes:.1f} MiB, over the "
            f"{MAX_REQUEST_BYTES / 2**20:.0f} MiB limit; {hint}",
        )


def quoted(value: object) -> str:
    """`value` as a refusal may quote it: short and on one line, never the caller's whole input
    (an 8 MiB role would otherwise come back whole, and be logged whole)."""
    if isinstance(value, str):
        shown = repr(value[:QUOTED_CHARS])
        return shown if len(value) <= QUOTED_CHARS else f"{shown[:-1]}…{shown[-1]}"
    if value is None or isinstance(value, bool):
        return repr(value)
    if isinstance(value, int | float) and abs(value) < 1e12:
        return repr(value)
    return "a number" if isinstance(value, int | float) else f"a {type(value).__name__}"


def _listing(values: Sequence[str]) -> str:
    return ", ".join(values)
