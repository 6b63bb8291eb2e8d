"""The Chat tab's and the `/chat` API's handlers.

Handlers never raise for a failed turn: the user's message stays in the history and the error
takes the reply's place, so one click on retry sends it again. Which turns Websim is sent, and
how a turn asked again is answered in place, is `studio.turns.conversation`'s.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from websim_core import InvalidRequestError, Progress, WebsimError
from websim_core.catalog import DEFAULT_CHAT_MODEL
from websim_core.validation import Message, check_text, validate_messages, validate_model

from ..services.shared import Services
from .calls import Caller, tracked
from .conversation import (
    ChatMessage,
    History,
    asked_again,
    assistant_message,
    error_note,
    files_of,
    marked,
    progress_note,
    text_of,
    to_websim_messages,
    user_message,
    waiting_turn,
    with_answer,
)
from .failures import describe_failure


class EmptyMessageError(ValueError):
    """Raised when a message cannot be sent as typed (nothing in it, or a character no request
    can carry); the page says why in a notice and keeps the draft."""


class ChatHandlers:
    """Turns of one conversation, answered through the process's shared Websim client."""

    def __init__(self, services: Services, uploads: Path | None = None) -> None:
        self.services = services
        # Only files under this folder (Gradio's upload cache) may be attached to a message.
        self.uploads = uploads

    def add_message(self, draft: dict[str, Any] | None, history: History) -> History:
        """Append the typed message (text and images) to the conversation."""
        draft = draft or {}
        text = str(draft.get("text") or "").strip()
        files = [str(path) for path in draft.get("files") or []]
        if not text and not files:
            raise EmptyMessageError("Type a message or attach an image first.")
        try:
            check_text(text, "message")
        except InvalidRequestError as error:
            raise EmptyMessageError(f"Not sent: the message {error.problem}.") from None
        # A turn left unanswered keeps its note, which now says it is not sent with this one.
        return marked([*history, user_message(text, files)])

    async def respond(
        self, history: History, system_prompt: str, model: str, caller: Caller
    ) -> AsyncIterator[History]:
        """Answer the user message waiting for its reply, yielding the history as it changes.

        That is the last message, or a turn asked again in place (`asked_again`); Websim gets
        the answered turns before it and the message. First the pending reply and its progress,
        then the reply, or the error in its place. A history with no user message waiting is
        left alone. Raises `ClientRateLimitError`, before anything is yielded, when the caller
        is over its share: nothing was sent, so the page hands the message back rather than
        mark a failure (`not_sent`).
        """
        index = waiting_turn(history)
        if index is None:
            return
        try:
            async with tracked(self.services, "chat", caller):
                messages = to_websim_messages(
                    history[: index + 1], system_prompt or "", uploads=self.uploads
                )
                await self.services.limiter.hit(caller.key)
                async for item in self.services.client.chat_stream(
                    messages, model=model, deadline=self.services.studio.deadline
                ):
                    if isinstance(item, Progress):
                        yield with_answer(history, index, progress_note(item))
                    else:
                        yield with_answer(history, index, assistant_message(item))
        except WebsimError as error:
            failure = describe_failure(error, self.services.websim.base_url)
            yield with_answer(history, index, error_note(failure))

    def not_sent(self, history: History, refusal: str) -> tuple[History, dict[str, Any] | None]:
        """The history when the waiting turn could not be sent at all (`refusal` says why),
        and what goes back into the message box: the last message goes back there, to send
        when allowed; a turn asked again in place keeps its place, with `refusal` as its note."""
        index = waiting_turn(history)
        if index is None:
            return history, None
        if index == len(history) - 1:
            return self.undo(history, index)
        return with_answer(history, index, error_note(refusal)), None

    def retry_from(self, history: History, index: int) -> History:
        """The history to answer again when retry is pressed; Gradio gives the `index` of the
        turn's user message (see `asked_again`)."""
        return asked_again(history, index)

    def undo(self, history: History, index: int) -> tuple[History, dict[str, Any]]:
        """Remove the user message at `index` and what followed; its text and images go back
        into the message box, so nothing typed is lost."""
        message = history[index] if 0 <= index < len(history) else {}
        return marked(history[:index]), {"text": text_of(message), "files": files_of(message)}

    def edit(self, history: History, index: int, text: str) -> History:
        """Replace the text of the user message at `index` and answer it: in place if it had
        no reply and later messages follow, else with the turns after it dropped."""
        message: ChatMessage = history[index]
        edited = user_message(text.strip(), files_of(message))
        return asked_again([*history[:index], edited, *history[index + 1 :]], index)

    async def api_chat(
        self,
        message: object,
        history: object,
        model: object,
        system_prompt: object,
        caller: Caller,
    ) -> str:
        """One reply for programs.

        Arguments are checked here, whatever their types, because programs send anything.
        Raises `WebsimError` when Websim fails or the input is unusable (before anything is
        sent), and `ClientRateLimitError` when the caller is over its share.
        """
        async with tracked(self.services, "chat", caller):
            messages = api_messages(message, history, system_prompt)
            return await self._api_reply(messages, model, caller)

    async def api_completion(
        self, messages: object, model: object, caller: Caller, *, json_mode: bool = False
    ) -> str:
        """One reply to a whole conversation given as Websim takes it, its last turn included
        (the OpenAI-compatible surface); `json_mode` asks for JSON. Raises as `api_chat` does."""
        async with tracked(self.services, "chat", caller):
            checked = validate_messages(messages)
            return await self._api_reply(checked, model, caller, json_mode=json_mode)

    async def _api_reply(
        self, messages: Sequence[Message], model: object, caller: Caller, *, json_mode: bool = False
    ) -> str:
        """Check the model, count the call against the caller, then ask Websim."""
        if model is not None and not isinstance(model, str):
            raise InvalidRequestError("model", "must be text, such as " + DEFAULT_CHAT_MODEL)
        chosen = validate_model(model or DEFAULT_CHAT_MODEL, "chat")
        await self.services.limiter.hit(caller.key)
        return await self.services.client.chat(
            messages, model=chosen, deadline=self.services.studio.deadline, json_mode=json_mode
        )


def api_messages(message: object, history: object, system_prompt: object) -> list[ChatMessage]:
    """What Websim is sent for an API call: the system prompt, the history, then the message.

    Problems are named as the caller wrote them: `history[2].content`, not the index in the
    list Websim gets.
    """
    if not isinstance(message, str) or not message.strip():
        raise InvalidRequestError("message", "must be non-blank text")
    check_text(message, "message")
    if history is not None and not isinstance(history, list):
        raise InvalidRequestError(
            "history", "must be a list of {role, content} messages, or left out"
        )
    if system_prompt is not None and not isinstance(system_prompt, str):
        raise InvalidRequestError("system_prompt", "must be text, or left out")
    # The message is the turn asked now: a user turn in `history` that got no reply is left
    # out, as on the page.
    asked: list[Any] = [*(history or []), {"role": "user", "content": message}]
    # Every turn the caller sent is checked, the ones left out too: a malformed turn is named,
    # never dropped unsaid.
    *written, _ = to_websim_messages(asked, unanswered=True)
    if written:
        validate_messages(written, field="history")
    *earlier, last = to_websim_messages(asked)
    system = to_websim_messages([], system_prompt or "")
    return [*system, *earlier, last]
