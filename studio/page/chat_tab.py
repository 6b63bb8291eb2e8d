"""The Chat tab: its components, and what each of its events does.

A turn is a chain: `check` refuses what cannot be sent in a notice (the box keeps it), `take`
puts the message on the page and locks the box, `save` keeps it in the browser, `respond`
waits on Websim and streams the pending note then the reply, `finish` settles and saves the
turn and opens the box again. Stop (the box's own button while a reply is on its way) cancels
`respond`: Gradio cancels its task, which closes the Websim request, and `finish` then marks the
turn stopped.

The conversation is held twice: `history` as stored (what was typed and answered, sent to Websim
and exported) and the Chatbot's value as shown (`studio.page.rendering`), message for message.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import gradio as gr

from websim_core.catalog import DEFAULT_CHAT_MODEL

from ..services.rate_limit import ClientRateLimitError
from ..services.shared import Services
from ..turns.chat import ChatHandlers, EmptyMessageError
from ..turns.conversation import LOST_TEXT, History, awaits_reply, settled
from . import sidebar as conversations
from .browser_code import applied, script, source
from .common import PRIVATE, QUICK, caller, websim_calls
from .exports import EXPORT_JSON_JS, EXPORT_MARKDOWN_JS
from .rendering import from_literal_markdown, shown_history
from .saved_chats import (
    UNREAD_MARK,
    Library,
    current_chat,
    empty_library,
    read_library,
    save_current,
)
from .words import ENGLISH, STARTERS, language_of, said, token, word, worded

STORAGE_KEY = "websim-studio-chat"
# How long a refusal's notice stays before it goes by itself.
NOTICE_SECONDS = 6
# Saved under another WEBSIM_STUDIO_SECRET (docs/operators.md): visitors read what happened.
UNREADABLE_NOTICE = token("chat.unreadable")

# The browser's side of the kept conversations (saved_chats.js): what was stored is read from
# the page's head, before Gradio's BrowserState can write over it, and at load an unreadable
# value is moved aside and said once.
_SAVED_CHATS = applied("saved_chats.js", STORAGE_KEY, UNREAD_MARK)
HEAD = script(f"{_SAVED_CHATS}.remember();")
UNREADABLE_JS = f"{_SAVED_CHATS}.keepUnreadable"
RESTORED_JS = source("chat_tab.js")


def build_chat_tab(demo: gr.Blocks, services: Services, chat: ChatHandlers) -> None:
    """The tab, built inside the page's Blocks."""
    library = gr.BrowserState(
        empty_library(), storage_key=STORAGE_KEY, secret=services.studio.browser_secret
    )
    # As stored; the Chatbot shows `shown_history(history)`. Held in the page rather than in a
    # gr.State: the server keeps no session for it, and needs no heartbeat from the page.
    history = gr.JSON([], visible=False, elem_id="chat-history")

    # The tab fills the window (chat_tab.css): the conversation takes the height the header
    # leaves, scrolling inside itself, above the box; what is seldom changed folds away below.
    with gr.Tab(word("chat.tab"), id="chat", elem_id="chat-tab"):
        sidebar = conversations.build_sidebar()
        unreadable = gr.Markdown(visible=False, elem_id="unreadable-notice")
        chatbot = gr.Chatbot(
            label=word("chat.conversation"),
            show_label=False,
            height="100%",
            buttons=["copy", "copy_all"],
            editable="user",
            feedback_options=None,
            group_consecutive_messages=False,
            placeholder=token("chat.placeholder"),
            # Gradio does not translate examples: the page's load sets them in its language.
            examples=starters(ENGLISH),
            allow_file_downloads=False,
            elem_id="chatbot",
        )
        draft = gr.MultimodalTextbox(
            placeholder=token("chat.draft"),
            file_types=["image"],
            file_count="multiple",
            sources=["upload"],
            show_label=False,
            elem_id="draft",
        )
        with gr.Accordion(word("chat.settings"), open=False, elem_id="chat-settings"):
            system_prompt = gr.Textbox(
                label=word("chat.system"),
                placeholder=word("chat.system_placeholder"),
                lines=1,
                max_lines=6,
            )
            gr.Markdown(word("chat.notes"), elem_id="model-note")
            with gr.Row(elem_id="export-row"):
                export_md = gr.Button(
                    word("chat.export_markdown"),
                    size="sm",
                    variant="secondary",
                    visible=False,
                    elem_id="export-markdown",
                )
                export_json = gr.Button(
                    word("chat.export_json"),
                    size="sm",
                    variant="secondary",
                    visible=False,
                    elem_id="export-json",
                )

    def exports_for(kept: History) -> tuple[Any, Any]:
        return gr.Button(visible=bool(kept)), gr.Button(visible=bool(kept))

    def show(value: Library, language: str) -> tuple[Any, ...]:
        """Put `value`'s current conversation on the page, its notes in `language`. A turn that
        was waiting for its reply when the page was left can no longer get it: it says so, with
        retry."""
        current = current_chat(value)
        kept = current["history"]
        if awaits_reply(kept):
            kept = settled(kept, LOST_TEXT)
            value = save_current(value, kept, current["system_prompt"])
        return (
            value,
            kept,
            shown_history(kept, language),
            current["system_prompt"],
            *conversations.listed_updates(value),
            *exports_for(kept),
        )

    view = [library, history, chatbot, system_prompt, *sidebar.shown, export_md, export_json]

    def restore(value: Any, request: gr.Request) -> tuple[Any, ...]:
        unread = isinstance(value, dict) and bool(value.get("unreadable"))
        notice = gr.Markdown(UNREADABLE_NOTICE, visible=True) if unread else gr.Markdown()
        language = language_of(request)
        shown = show(read_library(value), language)
        # The Chatbot's value with the starters in the page's language.
        words = gr.Chatbot(value=shown[2], examples=starters(language))
        return (*shown[:2], words, *shown[3:], notice)

    def check(message: dict[str, Any] | None, request: gr.Request) -> None:
        """Refuse what cannot be sent in a notice that goes by itself. The error that follows
        is shown nowhere (this step has no outputs to cover): it only ends the turn's chain."""
        try:
            chat.add_message(message, [])
        except EmptyMessageError as error:
            language = language_of(request)
            gr.Warning(
                worded(str(error), language),
                duration=NOTICE_SECONDS,
                title=said("chat.not_sent", language),
            )
            raise gr.Error(str(error), visible=False, print_exception=False) from None

    def take(message: dict[str, Any] | None, kept: History, request: gr.Request) -> tuple[Any, ...]:
        """The typed message on the page, and the box emptied and locked until the reply."""
        kept = chat.add_message(message, _stored(kept))
        shown = shown_history(kept, language_of(request))
        return kept, shown, gr.MultimodalTextbox(value=None, **_LOCKED)

    def take_starter(kept: History, event: gr.SelectData, request: gr.Request) -> tuple[Any, ...]:
        picked = event.value if isinstance(event.value, dict) else {"text": str(event.value)}
        return take({"text": str(picked.get("text") or "…")}, kept, request)

    async def respond(
        kept: History, system: str, request: gr.Request
    ) -> AsyncIterator[tuple[Any, ...]]:
        kept = _stored(kept)
        language = language_of(request)
        if not awaits_reply(kept):
            # Nothing to answer (the message was refused). A generator that yields nothing
            # would make Gradio set every output to None, the box's value included.
            yield gr.skip(), gr.skip(), gr.skip()
            return
        try:
            async for updated in chat.respond(kept, system, DEFAULT_CHAT_MODEL, caller(request)):
                yield updated, shown_history(updated, language), gr.skip()
        except ClientRateLimitError as error:
            # Nothing was sent: the message goes back to the box, to send when allowed.
            title = said("chat.not_sent_yet", language)
            gr.Warning(str(error), duration=NOTICE_SECONDS, title=title)
            remaining, message = chat.not_sent(kept, str(error))
            box = gr.skip() if message is None else gr.MultimodalTextbox(value=message)
            yield remaining, shown_history(remaining, language), box

    def save(kept: History, value: Any, system: str) -> tuple[Any, ...]:
        saved = save_current(read_library(value), _stored(kept), system)
        return (saved, *conversations.listed_updates(saved), *exports_for(kept))

    saving = [library, *sidebar.shown, export_md, export_json]

    def finish(kept: History, value: Any, system: str, request: gr.Request) -> tuple[Any, ...]:
        """No reply is on its way any more: a turn left waiting (stopped) says so."""
        kept = settled(kept)
        return (
            kept,
            shown_history(kept, language_of(request)),
            gr.MultimodalTextbox(**_UNLOCKED),
            *save(kept, value, system),
        )

    def retry(kept: History, event: gr.RetryData, request: gr.Request) -> tuple[Any, ...]:
        kept = chat.retry_from(_stored(kept), _index(event.index))
        shown = shown_history(kept, language_of(request))
        return kept, shown, gr.MultimodalTextbox(**_LOCKED)

    def undo(kept: History, event: gr.UndoData, request: gr.Request) -> tuple[Any, ...]:
        kept, message = chat.undo(_stored(kept), _index(event.index))
        shown = shown_history(kept, language_of(request))
        return kept, shown, gr.MultimodalTextbox(value=message)

    def edit(kept: History, event: gr.EditData, request: gr.Request) -> tuple[Any, ...]:
        # The Chatbot edits the text as shown, escapes included: read it back as typed.
        text = from_literal_markdown(str(event.value))
        kept = chat.edit(_stored(kept), _index(event.index), text)
        shown = shown_history(kept, language_of(request))
        return kept, shown, gr.MultimodalTextbox(**_LOCKED)

    turn_outputs = [history, chatbot, draft]
    replies: list[Any] = []

    def answer(trigger: Any, fn: Callable[..., Any], inputs: list[Any]) -> None:
        """After `trigger` runs `fn` to put the turn in place: save, answer, settle, unlock."""
        placed = trigger(fn, inputs, turn_outputs, show_progress="hidden", **QUICK)
        reply = placed.success(save, [history, library, system_prompt], saving, **QUICK).then(
            respond,
            [history, system_prompt],
            turn_outputs,
            show_progress="hidden",
            **websim_calls(services),
            **PRIVATE,
        )
        reply.then(finish, [history, library, system_prompt], [*turn_outputs, *saving], **QUICK)
        replies.append(reply)

    # Enter: first the checks that may refuse it in a notice, then the turn.
    answer(
        draft.submit(check, draft, None, show_progress="hidden", **_LOCAL).success,
        take,
        [draft, history],
    )
    answer(chatbot.example_select, take_starter, [history])
    answer(chatbot.retry, retry, [history])
    answer(chatbot.edit, edit, [history])
    # The box's stop button, shown while a reply is on its way.
    draft.stop(None, None, None, cancels=replies, **QUICK)

    chatbot.undo(undo, history, turn_outputs, **QUICK).then(
        save, [history, library, system_prompt], saving, **QUICK
    )
    chatbot.clear(lambda: ([], []), None, [history, chatbot], **QUICK).then(
        save, [history, library, system_prompt], saving, **QUICK
    )
    system_prompt.blur(
        save, [history, library, system_prompt], saving, trigger_mode="always_last", **QUICK
    )
    # The exports are built in the browser from the kept conversation: no server event, no file.
    export_md.click(None, library, None, js=EXPORT_MARKDOWN_JS)
    export_json.click(None, library, None, js=EXPORT_JSON_JS)

    conversations.wire_sidebar(sidebar, library, show, view, replies)
    demo.load(restore, library, [*view, unreadable], js=UNREADABLE_JS, **QUICK).then(
        None, js=RESTORED_JS, **PRIVATE
    )


# While a reply is on its way the box takes nothing new and its button is Stop.
_LOCKED: dict[str, Any] = {"interactive": False, "submit_btn": False, "stop_btn": True}
_UNLOCKED: dict[str, Any] = {"interactive": True, "submit_btn": True, "stop_btn": False}
# Events that only move the page's state but may give a notice: queued (Gradio sends notices
# over the queue's stream), never waiting behind Websim calls.
_LOCAL: dict[str, Any] = {"queue": True, "concurrency_limit": None, **PRIVATE}


def starters(language: str) -> list[Any]:
    """The Chatbot's starter prompts in `language`."""
    return [{"text": said(key, language)} for key in STARTERS]


def _stored(kept: Any) -> History:
    """The stored history as the page sends it back (null before anything was said)."""
    return kept if isinstance(kept, list) else []


def _index(index: int | tuple[int, int]) -> int:
    return index if isinstance(index, int) else index[0]
