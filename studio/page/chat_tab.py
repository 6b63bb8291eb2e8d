"""The Chat tab: its components, and what each of its events does."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import gradio as gr

from websim_core.catalog import CHAT_MODELS, DEFAULT_CHAT_MODEL

from ..chat import ChatHandlers, EmptyMessageError
from ..conversation import History
from ..exports import EXPORT_JSON_JS, EXPORT_MARKDOWN_JS
from ..services import Services
from .common import PRIVATE, QUICK, caller, websim_calls

# The tab's own style and script, added to the page's.
CSS = ""
HEAD = ""


def build_chat_tab(demo: gr.Blocks, services: Services, chat: ChatHandlers) -> None:
    """The tab, built inside the page's Blocks."""
    saved = gr.BrowserState(
        {"history": [], "system_prompt": "", "model": DEFAULT_CHAT_MODEL},
        storage_key="websim-studio-chat",
        secret=services.studio.browser_secret,
    )

    with gr.Tab("Chat", id="chat"):
        with gr.Row():
            model = gr.Dropdown(list(CHAT_MODELS), value=DEFAULT_CHAT_MODEL, label="Model", scale=1)
            system_prompt = gr.Textbox(
                label="System prompt",
                placeholder="Optional: how the assistant should behave",
                lines=1,
                max_lines=6,
                scale=3,
            )
        chatbot = gr.Chatbot(
            label="Conversation",
            height=520,
            buttons=["copy", "copy_all"],
            editable="user",
            feedback_options=None,
            placeholder="Ask anything. Attach images with the clip.",
            elem_id="chatbot",
        )
        draft = gr.MultimodalTextbox(
            placeholder="Message Websim (Enter sends, Shift+Enter for a new line)",
            file_types=["image"],
            file_count="multiple",
            sources=["upload"],
            show_label=False,
            autofocus=True,
            elem_id="draft",
        )
        with gr.Row():
            export_md = gr.Button(
                "Export Markdown", size="sm", variant="secondary", elem_id="export-markdown"
            )
            export_json = gr.Button(
                "Export JSON", size="sm", variant="secondary", elem_id="export-json"
            )

    def add_message(message: dict[str, Any] | None, history: History) -> tuple[History, Any]:
        try:
            history = chat.add_message(message, history)
        except EmptyMessageError as error:
            raise gr.Error(str(error), print_exception=False) from None
        # Locked until the reply is in, so two turns never answer the same history.
        return history, gr.MultimodalTextbox(value=None, interactive=False)

    async def respond(
        history: History, system: str, chat_model: str, request: gr.Request
    ) -> AsyncIterator[History]:
        async for updated in chat.respond(history, system, chat_model, caller(request)):
            yield updated

    def persist(history: History, system: str, chat_model: str) -> dict[str, Any]:
        """Keep the conversation in the browser, where a reload finds it."""
        return {"history": history, "system_prompt": system, "model": chat_model}

    def finish(history: History, system: str, chat_model: str) -> tuple[Any, ...]:
        return persist(history, system, chat_model), gr.MultimodalTextbox(interactive=True)

    def restore(state: dict[str, Any] | None) -> tuple[Any, ...]:
        state = state if isinstance(state, dict) else {}
        history = state.get("history") if isinstance(state.get("history"), list) else []
        chat_model = state.get("model") if state.get("model") in CHAT_MODELS else None
        return (
            history,
            str(state.get("system_prompt") or ""),
            chat_model or DEFAULT_CHAT_MODEL,
        )

    def retry(history: History, event: gr.RetryData) -> History:
        return chat.retry_from(history, _index(event.index))

    def undo(history: History, event: gr.UndoData) -> tuple[History, Any]:
        history, message = chat.undo(history, _index(event.index))
        return history, gr.MultimodalTextbox(value=message)

    def edit(history: History, event: gr.EditData) -> History:
        return chat.edit(history, _index(event.index), str(event.value))

    conversation = [chatbot, system_prompt, model]
    saving = [saved]  # kept in the browser, encrypted: the server stores nothing
    # The exports are built in the browser from these three: no server event, no file.
    export_md.click(None, conversation, None, js=EXPORT_MARKDOWN_JS)
    export_json.click(None, conversation, None, js=EXPORT_JSON_JS)

    def answer(trigger: Any) -> None:
        """After `trigger` put the turn in place: answer it, then save and unlock."""
        trigger.success(persist, conversation, saving, **QUICK).then(
            respond,
            conversation,
            chatbot,
            show_progress="hidden",
            **websim_calls(services),
            **PRIVATE,
        ).then(finish, conversation, [*saving, draft], **QUICK)

    answer(draft.submit(add_message, [draft, chatbot], [chatbot, draft], **QUICK))
    answer(chatbot.retry(retry, chatbot, chatbot, **QUICK))
    answer(chatbot.edit(edit, chatbot, chatbot, **QUICK))
    chatbot.undo(undo, chatbot, [chatbot, draft], **QUICK).then(
        persist, conversation, saving, **QUICK
    )
    chatbot.clear(lambda: [], None, chatbot, **QUICK).then(persist, conversation, saving, **QUICK)
    gr.on(
        [system_prompt.blur, model.change],
        persist,
        conversation,
        saving,
        trigger_mode="always_last",
        **QUICK,
    )
    demo.load(restore, saved, conversation, **QUICK)


def _index(index: int | tuple[int, int]) -> int:
    return index if isinstance(index, int) else index[0]
