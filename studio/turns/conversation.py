"""The chat history as the page shows it, and as Websim needs it.

The page holds Gradio 6 messages: `{"role", "content": [parts], "metadata"?}` where a part is
`{"type": "text", "text"}` or `{"type": "file", "file": {"path", "mime_type", ...}}`. Messages with
a `metadata` title are notes for the person at the page (a pending reply, an error, a stopped
reply) and are never sent to Websim nor exported (the exports, built in the browser, are in
`studio.page.exports`).

A turn that got no reply keeps its note until it is retried, edited or undone; a message sent
after it is a turn of its own on the page, and Websim, which wants user and assistant to
alternate, gets both as one user turn (`fold_unanswered`).
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from websim_core import InvalidRequestError

from .failures import capitalised

ChatMessage = dict[str, Any]
History = list[ChatMessage]

ERROR_TITLE = "⚠️ No reply"
STOPPED_TITLE = "■ Stopped"
PENDING_TITLE = "⏳ Waiting for Websim"
STOPPED_TEXT = "You stopped this reply before it arrived. Retry sends the message again."
LOST_TEXT = "The page was reloaded before the reply arrived. Retry sends the message again."
# Added to an unanswered turn's note when another message follows it: both go as one.
FOLDED_TEXT = "Sent again together with the next message."


def user_message(text: str, files: Sequence[str] = ()) -> ChatMessage:
    """A user turn with its text and attached image files, as the Chatbot takes it."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for path in files:
        mime_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        parts.append({"type": "file", "file": {"path": path, "mime_type": mime_type}})
    return {"role": "user", "content": parts}


def assistant_message(text: str) -> ChatMessage:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def progress_note(text: str) -> ChatMessage:
    """The pending reply: a spinner titled with what is happening now."""
    return {
        "role": "assistant",
        "content": [{"type": "text", "text": capitalised(text) + "…"}],
        "metadata": {"title": PENDING_TITLE, "status": "pending"},
    }


def error_note(text: str) -> ChatMessage:
    """A failed turn's error, shown where the reply would be; retry replaces it."""
    return {
        "role": "assistant",
        "content": [{"type": "text", "text": text}],
        "metadata": {"title": ERROR_TITLE},
    }


def stopped_note() -> ChatMessage:
    """A reply the user stopped: nothing came back, retry sends the turn again."""
    return {
        "role": "assistant",
        "content": [{"type": "text", "text": STOPPED_TEXT}],
        "metadata": {"title": STOPPED_TITLE},
    }


def is_note(message: Mapping[str, Any]) -> bool:
    metadata = message.get("metadata")
    return isinstance(metadata, Mapping) and bool(metadata.get("title"))


def without_trailing_notes(history: Sequence[ChatMessage]) -> History:
    """The history up to its last real message, dropping a pending reply or error after it."""
    end = len(history)
    while end and is_note(history[end - 1]):
        end -= 1
    return list(history[:end])


def awaits_reply(history: Sequence[ChatMessage]) -> bool:
    """Whether the conversation ends with a user message that nothing answers yet."""
    return bool(history) and history[-1].get("role") == "user"


def with_follow_up(history: Sequence[ChatMessage]) -> History:
    """The history before another user message is added: an unanswered turn's note says that
    the turn now goes to Websim with the next one."""
    updated = list(history)
    if (
        updated
        and is_note(updated[-1])
        and updated[-1].get("metadata", {}).get("status") != "pending"
    ):
        note = updated[-1]
        text = text_of(note)
        if FOLDED_TEXT not in text:
            updated[-1] = {**note, "content": [{"type": "text", "text": f"{text} {FOLDED_TEXT}"}]}
    return updated


def settled(history: Sequence[ChatMessage], text: str = STOPPED_TEXT) -> History:
    """The history once no reply is on its way: a turn left waiting (its reply stopped, or lost
    to a reload) gets a note saying so, with `text`, so retry is offered beside it."""
    kept = list(history)
    if kept and is_note(kept[-1]) and kept[-1].get("metadata", {}).get("status") == "pending":
        kept.pop()
    if not awaits_reply(kept):
        return kept
    note = stopped_note() if text == STOPPED_TEXT else error_note(text)
    return [*kept, note]


def fold_unanswered(messages: Sequence[ChatMessage]) -> list[ChatMessage]:
    """Websim's messages with user turns that got no reply folded into the user turn after
    them, text and images in order, so that user and assistant alternate."""
    folded: list[ChatMessage] = []
    for message in messages:
        if folded and message.get("role") == "user" and folded[-1].get("role") == "user":
            earlier = folded[-1]["content"]
            later = message.get("content")
            if isinstance(earlier, str) and isinstance(later, str):
                content: Any = f"{earlier}\n\n{later}"
            else:
                content = [*_as_parts(earlier), *_as_parts(later)]
            folded[-1] = {**folded[-1], "content": content}
        else:
            folded.append(dict(message))
    return folded


def _as_parts(content: Any) -> list[Any]:
    if isinstance(content, list):
        return list(content)
    return [{"type": "text", "text": str(content)}] if content else []


def text_of(message: Mapping[str, Any]) -> str:
    """The message's text parts, joined by blank lines."""
    content = message.get("content")
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts = [part.get("text", "") for part in content if _part_type(part) == "text"]
    return "\n\n".join(text for text in texts if isinstance(text, str) and text)


def files_of(message: Mapping[str, Any]) -> list[str]:
    """Paths (or URLs) of the files attached to the message."""
    content = message.get("content")
    if not isinstance(content, list):
        return []
    paths = []
    for part in content:
        if _part_type(part) == "file":
            path = _file_path(part)
            if path:
                paths.append(path)
    return paths


def to_websim_messages(
    history: Sequence[Any], system_prompt: str = "", *, uploads: Path | None = None
) -> list[ChatMessage]:
    """The whole conversation as Websim's chat API takes it: it keeps no history of its own.

    Text-only turns become plain strings; turns with images become a list of `text` and
    `image_url` parts. Attached files are inlined as data URLs, but only from the `uploads`
    folder: a history sent by an API caller must not make the server read its own files.
    Messages whose content is a string or already in Websim's part format pass as they are.
    """
    messages: list[ChatMessage] = []
    if system_prompt.strip():
        messages.append({"role": "system", "content": system_prompt.strip()})
    for index, message in enumerate(history):
        if not isinstance(message, Mapping):
            raise InvalidRequestError(f"history[{index}]", "must be a {role, content} object")
        if is_note(message):
            continue
        content = _websim_content(message.get("content"), f"history[{index}]", uploads)
        messages.append({"role": message.get("role"), "content": content})
    return messages


def _websim_content(content: Any, field: str, uploads: Path | None) -> Any:
    if not isinstance(content, list):
        return content  # a string, or something websim_core's validation will name
    parts: list[dict[str, Any]] = []
    for number, part in enumerate(content):
        kind = _part_type(part)
        if kind == "file":
            url = _image_url(part, f"{field}.content[{number}]", uploads)
            parts.append({"type": "image_url", "image_url": {"url": url}})
        else:
            parts.append(part)
    if all(_part_type(part) == "text" for part in parts):
        return "\n\n".join(str(part.get("text", "")) for part in parts)
    return parts


def _image_url(part: Mapping[str, Any], field: str, uploads: Path | None) -> str:
    path = _file_path(part)
    if path is None:
        raise InvalidRequestError(field, "has no file path")
    if path.startswith(("http://", "https://", "data:")):
        return path
    if uploads is None or not Path(path).resolve().is_relative_to(uploads.resolve()):
        raise InvalidRequestError(field, "give images as an http(s) or data: URL")
    file = part.get("file") if isinstance(part.get("file"), Mapping) else part
    mime_type = (file or {}).get("mime_type") or mimetypes.guess_type(path)[0] or ""
    if not mime_type.startswith("image/"):
        raise InvalidRequestError(field, f"{Path(path).name} is not an image")
    try:
        data = Path(path).read_bytes()
    except OSError:
        raise InvalidRequestError(field, f"{Path(path).name} is no longer on the server") from None
    return f"data:{mime_type};base64,{base64.b64encode(data).decode()}"


def _part_type(part: Any) -> str:
    return str(part.get("type", "")) if isinstance(part, Mapping) else ""


def _file_path(part: Mapping[str, Any]) -> str | None:
    file = part.get("file")
    if isinstance(file, Mapping):
        path = file.get("path") or file.get("url")
        return str(path) if path else None
    return None
