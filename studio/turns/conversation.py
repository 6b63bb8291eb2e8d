"""The chat history as the page shows it, and as Websim needs it.

The page holds Gradio 6 messages: `{"role", "content": [parts], "metadata"?}` where a part is
`{"type": "text", "text"}` or `{"type": "file", "file": {"path", "mime_type", ...}}`. Messages with
a `metadata` title are notes for the person at the page (a pending reply, an error, a stopped
reply) and are never sent to Websim nor exported (the exports, built in the browser, are in
`studio.page.exports`).

A turn is a user message and what follows it: the reply, or a note when there is none. A turn
that got no reply (stopped, failed, or lost to a reload) is never sent to Websim again unless
it is asked for on that turn: Websim gets only the turns that were answered, and the one asked
now, so user and assistant alternate (`to_websim_messages`). Once later messages follow such a
turn its note says so (`NOT_SENT_TEXT`).

Asking for it again is Retry (on the last turn) or editing its message (on any turn), and it is
answered in place (`asked_again`): Websim gets the answered turns before it and the turn itself,
no other unanswered turn, and nothing after it; the reply, or a new note, takes the place of its
note, and the later messages stay where they are, as they were answered. Nothing typed is lost.
Editing a turn that was answered starts over from it instead: what followed it answered its old
words, so it is dropped, as in any chat.
"""

from __future__ import annotations

import base64
import mimetypes
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from websim_core import InvalidRequestError, Progress

from .failures import capitalised

ChatMessage = dict[str, Any]
History = list[ChatMessage]

ERROR_TITLE = "⚠️ No reply"
STOPPED_TITLE = "■ Stopped"
PENDING_TITLE = "⏳ Waiting for Websim"
# What a person can do about a turn left unanswered: Retry on the last turn; on an earlier one,
# where Gradio's Chatbot offers no Retry, editing its message (submitted unchanged, it is sent
# as it was).
RETRY_TEXT = "Retry sends the message again."
NOT_SENT_TEXT = "Not sent with later messages: edit it to send it."
STOPPED_CAUSE = "You stopped this reply before it arrived."
LOST_CAUSE = "No reply arrived: the page was reloaded or left before it came."
STOPPED_TEXT = f"{STOPPED_CAUSE} {RETRY_TEXT}"
LOST_TEXT = f"{LOST_CAUSE} {RETRY_TEXT}"
_ACTIONS = (RETRY_TEXT, NOT_SENT_TEXT)


def user_message(text: str, files: Sequence[str] = ()) -> ChatMessage:
    """A user turn with its text and attached image files, as the Chatbot takes it."""
    parts: list[dict[str, Any]] = [{"type": "text", "text": text}] if text else []
    for path in files:
        mime_type = mimetypes.guess_type(path)[0] or "application/octet-stream"
        parts.append({"type": "file", "file": {"path": path, "mime_type": mime_type}})
    return {"role": "user", "content": parts}


def assistant_message(text: str) -> ChatMessage:
    return {"role": "assistant", "content": [{"type": "text", "text": text}]}


def progress_note(progress: Progress | None = None) -> ChatMessage:
    """The pending reply: a spinner under its title, which says it waits for Websim; the body
    says only what the title does not (a retry and why, or which attempt is out)."""
    if progress is None or (progress.stage == "sending" and progress.attempt == 1):
        said = ""
    elif progress.stage == "sending":
        said = f"Attempt {progress.attempt} of {progress.attempts}…"
    else:
        said = capitalised(str(progress)) + "…"
    return {
        "role": "assistant",
        "content": [{"type": "text", "text": said}],
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


def is_pending(message: Mapping[str, Any]) -> bool:
    """Whether `message` is the note of a reply on its way."""
    metadata = message.get("metadata")
    return isinstance(metadata, Mapping) and metadata.get("status") == "pending"


def waiting_turn(history: Sequence[ChatMessage]) -> int | None:
    """The index of the user message to answer now: the one whose note is pending (a turn
    asked again in place), else the last message if it is a user's; None when there is none."""
    for index in range(1, len(history)):
        if is_pending(history[index]) and history[index - 1].get("role") == "user":
            return index - 1
    if history and history[-1].get("role") == "user":
        return len(history) - 1
    return None


def awaits_reply(history: Sequence[ChatMessage]) -> bool:
    """Whether a user message in the conversation waits for a reply nothing has given yet."""
    return waiting_turn(history) is not None


def with_answer(history: Sequence[ChatMessage], index: int, answer: ChatMessage) -> History:
    """The history with `answer` (a reply or a note) in the place of the reply to the user
    message at `index`: after it, instead of the note there, before any later messages."""
    after = index + 1
    if after < len(history) and is_note(history[after]):
        after += 1
    return marked([*history[: index + 1], answer, *history[after:]])


def asked_again(history: Sequence[ChatMessage], index: int) -> History:
    """The history to answer when the turn whose user message is at `index` is asked again.

    An unanswered turn with later messages after it waits in place: its note becomes a pending
    one, the later messages stay. Otherwise what followed the message is dropped (the last
    turn's reply or note, or the turns after an answered one) and the message is answered last.
    """
    rest = history[index + 1 :]
    if len(rest) > 1 and is_note(rest[0]):
        return [*history[: index + 1], progress_note(), *rest[1:]]
    return list(history[: index + 1])


def marked(history: Sequence[ChatMessage]) -> History:
    """The history with each unanswered turn's note saying what can be done about it: on the
    last turn Retry (when retrying is the way), before later messages that it was not sent with
    them (`NOT_SENT_TEXT`)."""
    updated = list(history)
    for index, message in enumerate(updated):
        if not is_note(message) or is_pending(message):
            continue
        cause = _cause(text_of(message))
        if index < len(updated) - 1:
            action = NOT_SENT_TEXT
        elif message["metadata"].get("title") == STOPPED_TITLE or cause == LOST_CAUSE:
            action = RETRY_TEXT
        else:
            action = ""
        text = f"{cause} {action}".strip()
        if text != text_of(message):
            updated[index] = {**message, "content": [{"type": "text", "text": text}]}
    return updated


def _cause(text: str) -> str:
    """A note's text without the sentence saying what to do about it."""
    for action in _ACTIONS:
        text = text.removesuffix(action).rstrip()
    return text


def settled(history: Sequence[ChatMessage], text: str = STOPPED_TEXT) -> History:
    """The history once no reply is on its way: a turn left waiting (its reply stopped, or lost
    to a reload) gets a note saying so, with `text`, so retry is offered beside it."""
    note = stopped_note() if text == STOPPED_TEXT else error_note(text)
    kept = list(history)
    index = waiting_turn(kept)
    while index is not None:
        kept = with_answer(kept, index, note)
        index = waiting_turn(kept)
    return marked(kept)


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
    history: Sequence[Any],
    system_prompt: str = "",
    *,
    uploads: Path | None = None,
    unanswered: bool = False,
) -> list[ChatMessage]:
    """The whole conversation as Websim's chat API takes it: it keeps no history of its own.

    Notes are left out, and so is every user message that got no reply (see the module's
    docstring), so user and assistant alternate. Text-only turns become plain strings; turns
    with images become a list of `text` and `image_url` parts. Attached files are inlined as
    data URLs, but only from the `uploads` folder: a history sent by an API caller must not make
    the server read its own files.
    Messages whose content is a string or already in Websim's part format pass as they are.
    With `unanswered`, user messages that got no reply are kept (to check what a caller sent).
    """
    messages: list[ChatMessage] = []
    if system_prompt.strip():
        messages.append({"role": "system", "content": system_prompt.strip()})
    for index, message in enumerate(history):
        if not isinstance(message, Mapping):
            raise InvalidRequestError(f"history[{index}]", "must be a {role, content} object")
        if is_note(message) or (not unanswered and _unanswered(history, index)):
            continue
        content = _websim_content(message.get("content"), f"history[{index}]", uploads)
        messages.append({"role": message.get("role"), "content": content})
    return messages


def _unanswered(history: Sequence[Any], index: int) -> bool:
    """Whether the message at `index` is a user's that got no reply: another message follows
    it, and it is not an assistant's reply. The last message is the one being asked."""
    if history[index].get("role") != "user" or index == len(history) - 1:
        return False
    following = history[index + 1]
    return not (
        isinstance(following, Mapping)
        and following.get("role") == "assistant"
        and not is_note(following)
    )


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
