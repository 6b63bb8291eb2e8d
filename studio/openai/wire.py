"""OpenAI's request and reply shapes for chat completions and image generations, and how they
map onto Websim's: which fields are honoured, ignored or refused, sizes to aspect ratios, and
the chunks of a streamed reply.

Only the shape is checked here. What the values must be (messages, models, prompts, aspect
ratios) is checked by websim_core's validation through the studio handlers, once for every
surface.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from websim_core import InvalidRequestError
from websim_core.catalog import ASPECT_RATIOS, CHAT_MODELS, IMAGE_MODELS
from websim_core.validation import MAX_PARTS, check_count

MAX_IMAGES = 4
MAX_STOP_SEQUENCES = 4
# Comments are ignored by every SSE reader, but keep proxies and clients from calling an idle
# stream dead while Websim, which answers whole, works on the reply.
KEEP_ALIVE = b": keep-alive\n\n"
DONE = b"data: [DONE]\n\n"
_SIZE = re.compile(r"(\d{1,5})x(\d{1,5})")

ImageFormat = Literal["url", "b64_json"]

TOOLS = "cannot be used: Websim's chat API has no tools or function calls"
# Fields that would change what a reply means if silently dropped: refused, with the reason.
# Everything else Websim cannot honour (temperature, max_tokens, top_p, seed, ...) is ignored.
_REFUSED_WHEN_SET: dict[str, str] = {
    "tools": TOOLS,
    "functions": TOOLS,
    "logprobs": "cannot be used: Websim returns no log probabilities",
    "top_logprobs": "cannot be used: Websim returns no log probabilities",
    "audio": "cannot be used: Websim answers in text",
    "web_search_options": "cannot be used: Websim has no web search",
    "logit_bias": "cannot be used: Websim takes no token biases",
}


@dataclass(frozen=True)
class ChatRequest:
    """A chat completion request: the conversation as Websim takes it, and how to answer."""

    messages: object
    model: object
    stream: bool = False
    json_mode: bool = False
    stop: tuple[str, ...] = ()
    include_usage: bool = False


@dataclass(frozen=True)
class ImageRequest:
    """An image generation request, with its size already turned into an aspect ratio."""

    prompt: object
    model: object
    aspect_ratio: object
    n: int = 1
    response_format: ImageFormat = "url"


def parse_body(raw: bytes) -> Mapping[str, Any]:
    """The request body as a JSON object, or InvalidRequestError saying what it is instead."""
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise InvalidRequestError("body", "is not valid JSON") from None
    except RecursionError:
        raise InvalidRequestError("body", "is nested too deeply to be a request") from None
    if not isinstance(body, Mapping):
        raise InvalidRequestError("body", "must be a JSON object")
    return body


def chat_request(body: Mapping[str, Any]) -> ChatRequest:
    """Read a `/v1/chat/completions` body; refuse what Websim cannot do faithfully."""
    for name, reason in _REFUSED_WHEN_SET.items():
        if body.get(name) not in (None, False, [], {}):
            raise InvalidRequestError(name, reason)
    for name in ("tool_choice", "function_call"):
        if body.get(name) not in (None, "none"):
            raise InvalidRequestError(name, TOOLS)
    n = body.get("n")
    if n is not None and (n != 1 or isinstance(n, bool)):
        raise InvalidRequestError("n", "must be 1: Websim gives one reply per request")
    modalities = body.get("modalities")
    if modalities is not None and modalities != ["text"]:
        raise InvalidRequestError("modalities", 'must be ["text"]: Websim answers in text')
    return ChatRequest(
        messages=websim_messages(body.get("messages")),
        model=body.get("model"),
        stream=_flag(body, "stream"),
        json_mode=_json_mode(body.get("response_format")),
        stop=_stops(body.get("stop")),
        include_usage=_flag(_options(body.get("stream_options")), "include_usage"),
    )


def websim_messages(messages: object) -> object:
    """OpenAI's messages as Websim takes them: `{role, content}` with text and `image_url`
    parts. A `developer` message is a system message; other fields (`name`, an image's
    `detail`) are dropped. Anything of another shape is passed on for validation to name."""
    if not isinstance(messages, list):
        return messages
    check_count(messages)
    converted: list[object] = []
    for index, message in enumerate(messages):
        if not isinstance(message, Mapping):
            converted.append(message)
            continue
        role = message.get("role")
        if (
            role in ("tool", "function")
            or message.get("tool_calls")
            or message.get("function_call")
        ):
            raise InvalidRequestError(f"messages[{index}]", TOOLS)
        content = message.get("content")
        if isinstance(content, list) and len(content) <= MAX_PARTS:
            # A longer list is left for validation to refuse, unwalked.
            content = [_websim_part(part) for part in content]
        converted.append({"role": "system" if role == "developer" else role, "content": content})
    return converted


def _websim_part(part: object) -> object:
    if not isinstance(part, Mapping):
        return part
    if part.get("type") == "text":
        return {"type": "text", "text": part.get("text")}
    image = part.get("image_url")
    if part.get("type") == "image_url" and isinstance(image, Mapping):
        return {"type": "image_url", "image_url": {"url": image.get("url")}}
    return part


def image_request(body: Mapping[str, Any]) -> ImageRequest:
    """Read a `/v1/images/generations` body. `aspect_ratio` (an extension) wins over `size`."""
    n = body.get("n", 1)
    if n is None:
        n = 1
    if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= MAX_IMAGES:
        raise InvalidRequestError("n", f"must be a whole number from 1 to {MAX_IMAGES}")
    response_format: ImageFormat = body.get("response_format") or "url"
    if response_format not in ("url", "b64_json"):
        raise InvalidRequestError("response_format", "must be url or b64_json")
    aspect_ratio = body.get("aspect_ratio")
    if aspect_ratio is None:
        aspect_ratio = aspect_ratio_for_size(body.get("size"))
    return ImageRequest(
        prompt=body.get("prompt"),
        model=body.get("model"),
        aspect_ratio=aspect_ratio,
        n=n,
        response_format=response_format,
    )


def aspect_ratio_for_size(size: object) -> str:
    """The one of the eleven aspect ratios nearest to `WIDTHxHEIGHT`, by ratio.

    Nearest on a log scale, so that 2:1 is as far from 1:1 as 1:2 is; `auto` or no size is 1:1.
    """
    if size is None or size == "auto":
        return ASPECT_RATIOS[0]
    match = _SIZE.fullmatch(size) if isinstance(size, str) else None
    if match is None or 0 in (int(match[1]), int(match[2])):
        raise InvalidRequestError("size", "must be WIDTHxHEIGHT in pixels, such as 1024x1024")
    wanted = math.log(int(match[1]) / int(match[2]))
    return min(ASPECT_RATIOS, key=lambda ratio: abs(_log_ratio(ratio) - wanted))


def _log_ratio(aspect_ratio: str) -> float:
    width, height = aspect_ratio.split(":")
    return math.log(int(width) / int(height))


def _flag(body: Mapping[str, Any], name: str) -> bool:
    value = body.get(name)
    if value is not None and not isinstance(value, bool):
        raise InvalidRequestError(name, "must be true or false")
    return bool(value)


def _options(options: object) -> Mapping[str, Any]:
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise InvalidRequestError("stream_options", "must be an object")
    return options


def _json_mode(response_format: object) -> bool:
    kind = response_format.get("type") if isinstance(response_format, Mapping) else None
    if response_format is None or kind == "text":
        return False
    if kind == "json_object":
        return True
    raise InvalidRequestError(
        "response_format",
        'must be {"type": "text"} or {"type": "json_object"}: Websim cannot hold a reply to a '
        "JSON schema",
    )


def _stops(stop: object) -> tuple[str, ...]:
    stops = [stop] if isinstance(stop, str) else stop
    if stops is None:
        return ()
    if (
        not isinstance(stops, list)
        or len(stops) > MAX_STOP_SEQUENCES
        or not all(isinstance(item, str) and item for item in stops)
    ):
        raise InvalidRequestError(
            "stop", f"must be a string or a list of up to {MAX_STOP_SEQUENCES} strings"
        )
    return tuple(stops)


def cut_at_stop(text: str, stops: tuple[str, ...]) -> str:
    """The reply up to the first stop sequence, as a model told to stop there would end it."""
    ends = [index for index in (text.find(stop) for stop in stops) if index >= 0]
    return text[: min(ends)] if ends else text


# --- replies -------------------------------------------------------------------------------------

# Websim reports no token counts, and a guess would be read as a measurement.
NO_USAGE = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}


@dataclass(frozen=True)
class Completion:
    """What every piece of one chat reply shares: its id, time and model."""

    model: str
    id: str = ""
    created: int = 0

    @classmethod
    def start(cls, model: str) -> Completion:
        return cls(model, "chatcmpl-" + uuid.uuid4().hex, int(time.time()))

    def whole(self, text: str) -> dict[str, Any]:
        """The `chat.completion` object of a reply that is not streamed."""
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": text, "refusal": None},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": NO_USAGE,
            "system_fingerprint": None,
        }

    def chunk(self, delta: dict[str, str], finish_reason: str | None = None) -> bytes:
        """One `chat.completion.chunk` as a Server-Sent Event."""
        choice = {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return self._event({"choices": [choice]})

    def usage_chunk(self) -> bytes:
        """The last chunk when `stream_options.include_usage` asks for it: no choices, usage."""
        return self._event({"choices": [], "usage": NO_USAGE})

    def streamed(self, text: str, include_usage: bool) -> list[bytes]:
        """The events that carry a finished reply: content, the finish, usage if asked, DONE."""
        events = [self.chunk({"content": text}), self.chunk({}, "stop")]
        if include_usage:
            events.append(self.usage_chunk())
        return [*events, DONE]

    def _event(self, fields: dict[str, Any]) -> bytes:
        chunk = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "system_fingerprint": None,
            **fields,
        }
        return b"data: " + json.dumps(chunk).encode() + b"\n\n"


def error_event(body: bytes) -> bytes:
    """A failure after the stream began: OpenAI's SDKs raise `APIError` on a chunk holding
    `error`, since the status has already gone out as 200."""
    return b"data: " + body + b"\n\n"


def model_list(created: int) -> dict[str, Any]:
    """`GET /v1/models`: Websim's chat and image models in OpenAI's list shape."""
    return {
        "object": "list",
        "data": [
            {"id": model, "object": "model", "created": created, "owned_by": "websim"}
            for model in (*CHAT_MODELS, *IMAGE_MODELS)
        ],
    }
