"""What Websim's replies mean: the result types, and one-line summaries of error bodies."""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Any

from .errors import ResponseFormatError

# Upstream words shown to a person are cut to this length: enough for an API's own message,
# never a wall of text.
MAX_DETAIL_CHARS = 200
_TITLE = re.compile(rb"<title[^>]*>(.*?)</title\s*>", re.IGNORECASE | re.DOTALL)
_IMAGE_URL_PREFIXES = ("https://", "http://", "data:image/")


@dataclass(frozen=True)
class ImageResponse:
    """A generated image: `images` holds its URL(s); `alt` and `prompt`, the prompt behind it."""

    images: list[str]
    alt: str
    prompt: str
    aspect_ratio: str = "1:1"
    model: str = "flux"
    project_id: str = ""

    @property
    def url(self) -> str:
        """The first (usually only) image URL."""
        return self.images[0]

    def to_markdown(self) -> str:
        """Markdown showing every image with the prompt as alt text."""
        alt = self.alt.replace("[", "(").replace("]", ")").replace("\n", " ")
        return "\n".join(f"![{alt}]({url})" for url in self.images)


def parse_chat_reply(body: bytes, *, content_type: str = "") -> str:
    """The reply text: `content` of a JSON reply, or the body itself when it is plain text.

    A body that starts like JSON, or is labelled JSON by `content_type`, yet does not parse was
    cut off on the way: an error, never half a reply shown as if it were whole.
    """
    text = _decode(body)
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        if _looks_like_html(body):
            raise ResponseFormatError(
                f"Websim sent {describe_html(body)} instead of a chat reply"
            ) from None
        if text.lstrip().startswith(("{", "[")) or _is_json_type(content_type):
            raise ResponseFormatError(
                "Websim's chat reply was cut off or garbled: it is not valid JSON"
            ) from None
        # Not JSON: Websim has answered plain text at times, and that text is the reply.
        data = {"content": text}
    if not isinstance(data, dict) or not isinstance(data.get("content"), str):
        raise ResponseFormatError("Websim's chat reply had no text `content`")
    reply: str = data["content"].strip()
    if not reply:
        raise ResponseFormatError("Websim's chat reply was empty")
    return reply


def parse_image_reply(
    body: bytes, *, prompt: str, aspect_ratio: str, model: str, project_id: str
) -> ImageResponse:
    """The image of an image-generation reply, which must carry an http(s) `url`."""
    try:
        data: Any = json.loads(_decode(body))
    except json.JSONDecodeError:
        what = describe_html(body) if _looks_like_html(body) else "text that is not JSON"
        raise ResponseFormatError(f"Websim sent {what} instead of an image reply") from None
    url = data.get("url") if isinstance(data, dict) else None
    if not isinstance(url, str) or not url.strip():
        raise ResponseFormatError("Websim's image reply had no image `url`")
    url = url.strip()
    if not url.startswith(_IMAGE_URL_PREFIXES):
        raise ResponseFormatError(
            f"Websim's image reply had a URL that is not http(s): {url[:60]!r}"
        )
    return ImageResponse(
        images=[url],
        alt=prompt,
        prompt=prompt,
        aspect_ratio=aspect_ratio,
        model=model,
        project_id=project_id,
    )


def describe_error_body(body: bytes) -> str:
    """One line saying what an error reply said: the API's own message, or what the page was."""
    if not body.strip():
        return ""
    if _looks_like_html(body):
        return describe_html(body)
    text = _decode(body)
    try:
        data: Any = json.loads(text)
    except json.JSONDecodeError:
        return _one_line(text)
    message = _json_message(data)
    return _one_line(message) if message else ""


def describe_html(body: bytes) -> str:
    """A page in a few words: Cloudflare's challenge by name, any other page by its title."""
    match = _TITLE.search(body[:65536])
    title = _one_line(html.unescape(_decode(match.group(1)))) if match else ""
    if title.lower().startswith(("just a moment", "attention required")) or b"cf-chl" in body:
        return f'a Cloudflare challenge page ("{title or "Just a moment..."}")'
    return f'an HTML page titled "{title}"' if title else "an HTML page"


def _json_message(data: Any) -> str:
    """The message of common error shapes: {"error": {"message"}}, {"error": "..."}, {"message"}."""
    if isinstance(data, str):
        return data
    if not isinstance(data, dict):
        return ""
    for key in ("error", "message", "detail", "msg"):
        value = data.get(key)
        if isinstance(value, str) and value.strip():
            return value
        if isinstance(value, dict):
            nested = _json_message(value)
            if nested:
                return nested
    return ""


def _is_json_type(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or media_type.endswith("+json")


def _looks_like_html(body: bytes) -> bool:
    head = body[:512].lstrip().lower()
    return head.startswith((b"<!doctype html", b"<html", b"<head", b"<body")) or b"<html" in head


def _decode(body: bytes) -> str:
    return body.decode("utf-8", errors="replace")


def _one_line(text: str) -> str:
    line = " ".join(text.split())
    return line if len(line) <= MAX_DETAIL_CHARS else line[: MAX_DETAIL_CHARS - 1] + "…"
