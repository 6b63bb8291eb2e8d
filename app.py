"""Websim Studio: chat with Websim's models and generate images, in a browser or through the API.

`python app.py` serves the page (GRADIO_SERVER_NAME / GRADIO_SERVER_PORT choose where) against
WEBSIM_BASE_URL; `python app.py --demo` answers from the bundled emulator instead, offline.
`demo` is the page, as Hugging Face Spaces expect.
"""

import argparse
import asyncio
import html
import logging
import os
import tempfile
import threading
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

# Gradio reports usage to its makers unless told not to; an offline demo should not try.
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
# Gradio's queue otherwise rebuilds a pandas table of its last 10,000 events after every event,
# for a monitoring page this app does not serve: CPU per call, and memory, for nothing.
os.environ.setdefault("GRADIO_ANALYTICS_CACHE_FREQUENCY", "1000000")
os.environ.setdefault("GRADIO_ANALYTICS_MAX_EVENTS", "1000")
# Every file the server keeps lives in one folder, removed when it stops: Gradio's uploads and
# served files too, which it must be told before it is imported.
os.environ["GRADIO_TEMP_DIR"] = os.path.join(tempfile.mkdtemp(prefix="websim-studio-"), "gradio")

import gradio as gr

from studio.calls import Caller
from studio.chat import ChatHandlers, EmptyMessageError
from studio.conversation import History
from studio.exports import EXPORT_JSON_JS, EXPORT_MARKDOWN_JS
from studio.failures import describe_failure
from studio.identity import limit_key
from studio.images import ImageHandlers
from studio.rate_limit import ClientRateLimitError
from studio.server import build_server, serve
from studio.services import Services
from websim_core import WebsimError
from websim_core.catalog import (
    ASPECT_RATIOS,
    CHAT_MODELS,
    DEFAULT_ASPECT_RATIO,
    DEFAULT_CHAT_MODEL,
    DEFAULT_IMAGE_MODEL,
    IMAGE_MODELS,
)
from websim_core.emulator import Emulator

log = logging.getLogger("websim_studio")

TITLE = "Websim Studio"
OFFLINE_NOTICE = (
    "**Offline demo:** replies and images come from the bundled Websim emulator on this "
    "server, not from websim.ai."
)
CSS = """
#result-caption { text-align: center; font-style: italic; }
"""


def build_demo(services: Services) -> gr.Blocks:
    """The page: a Chat tab and an Image tab, plus the `/chat` and `/generate_image` API."""
    chat = ChatHandlers(services, uploads=services.files.gradio_cache)
    images = ImageHandlers(services)
    websim_calls: dict[str, Any] = {
        # Listeners wait on Websim, not the CPU: let many run at once, sharing one budget.
        "concurrency_limit": services.studio.concurrency,
        "concurrency_id": "websim",
    }

    with gr.Blocks(title=TITLE) as demo:
        gr.Markdown(f"# {TITLE}\nChat with Websim's AI models and generate images.")
        notice = gr.Markdown(elem_id="offline-notice")
        saved = gr.BrowserState(
            {"history": [], "system_prompt": "", "model": DEFAULT_CHAT_MODEL},
            storage_key="websim-studio-chat",
            secret=services.studio.browser_secret,
        )

        with gr.Tab("Chat", id="chat"):
            with gr.Row():
                model = gr.Dropdown(
                    list(CHAT_MODELS), value=DEFAULT_CHAT_MODEL, label="Model", scale=1
                )
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

        with gr.Tab("Image", id="image"):
            with gr.Row():
                with gr.Column(scale=2):
                    prompt = gr.Textbox(
                        label="Prompt",
                        placeholder="A lighthouse on a cliff at dawn, watercolour",
                        lines=3,
                        max_lines=10,
                        elem_id="prompt",
                    )
                    with gr.Row():
                        image_model = gr.Dropdown(
                            list(IMAGE_MODELS), value=DEFAULT_IMAGE_MODEL, label="Model"
                        )
                    aspect_ratio = gr.Radio(
                        list(ASPECT_RATIOS),
                        value=DEFAULT_ASPECT_RATIO,
                        label="Aspect ratio",
                        elem_id="aspect-ratio",
                    )
                    generate = gr.Button("Generate", variant="primary", elem_id="generate")
                    status = gr.Markdown(elem_id="image-status")
                with gr.Column(scale=3):
                    result = gr.Image(
                        label="Result",
                        type="filepath",
                        interactive=False,
                        height=520,
                        buttons=["download", "fullscreen"],
                        elem_id="result",
                    )
                    caption = gr.Markdown(elem_id="result-caption")
            gallery = gr.Gallery(
                label="This session's images",
                columns=6,
                height=260,
                object_fit="contain",
                preview=False,
                # Otherwise a lone image is stretched to the gallery's full width.
                fit_columns=False,
                buttons=["download", "fullscreen"],
                interactive=False,
                elem_id="gallery",
            )

        # -- Chat -------------------------------------------------------------------------

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
            async for updated in chat.respond(history, system, chat_model, _caller(request)):
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

        private: dict[str, Any] = {"api_visibility": "private"}
        quick: dict[str, Any] = {"queue": False, **private}
        conversation = [chatbot, system_prompt, model]
        saving = [saved]  # kept in the browser, encrypted: the server stores nothing
        # The exports are built in the browser from these three: no server event, no file.
        export_md.click(None, conversation, None, js=EXPORT_MARKDOWN_JS)
        export_json.click(None, conversation, None, js=EXPORT_JSON_JS)

        def answer(trigger: Any) -> None:
            """After `trigger` put the turn in place: answer it, then save and unlock."""
            trigger.success(persist, conversation, saving, **quick).then(
                respond, conversation, chatbot, show_progress="hidden", **websim_calls, **private
            ).then(finish, conversation, [*saving, draft], **quick)

        answer(draft.submit(add_message, [draft, chatbot], [chatbot, draft], **quick))
        answer(chatbot.retry(retry, chatbot, chatbot, **quick))
        answer(chatbot.edit(edit, chatbot, chatbot, **quick))
        chatbot.undo(undo, chatbot, [chatbot, draft], **quick).then(
            persist, conversation, saving, **quick
        )
        chatbot.clear(lambda: [], None, chatbot, **quick).then(
            persist, conversation, saving, **quick
        )
        gr.on(
            [system_prompt.blur, model.change],
            persist,
            conversation,
            saving,
            trigger_mode="always_last",
            **quick,
        )
        # Read at each page load: `--demo` decides it after this page is built.
        demo.load(lambda: OFFLINE_NOTICE if services.offline else "", None, notice, **quick)
        demo.load(restore, saved, conversation, **quick)

        # -- Image ------------------------------------------------------------------------

        async def make_image(
            text: str,
            ratio: str,
            chosen_model: str,
            shown: list[Any] | None,
            request: gr.Request,
        ) -> AsyncIterator[tuple[Any, ...]]:
            collected = [(item[0], item[1]) for item in shown or []]
            async for update in images.generate(text, ratio, chosen_model, _caller(request)):
                message = html.escape(update.status)
                if update.failed:
                    yield f"⚠️ {message}", gr.skip(), gr.skip(), gr.skip()
                elif update.image is None:
                    yield f"⏳ {message}", gr.skip(), gr.skip(), gr.skip()
                else:
                    collected.insert(0, (str(update.image), update.caption))
                    yield message, str(update.image), html.escape(update.caption), collected

        gr.on(
            [generate.click, prompt.submit],
            make_image,
            [prompt, aspect_ratio, image_model, gallery],
            [status, result, caption, gallery],
            show_progress="minimal",
            show_progress_on=[result],
            **websim_calls,
            **private,
        )

        # -- API for programs -------------------------------------------------------------

        async def chat_api(
            message: str,
            history: list[dict[str, Any]] | None = None,
            model: str = DEFAULT_CHAT_MODEL,
            system_prompt: str = "",
            request: gr.Request | None = None,
        ) -> str:
            """Websim's reply to `message`, after the optional `history` of
            {"role", "content"} messages (Websim keeps none), under `system_prompt`."""
            try:
                return await chat.api_chat(
                    message, history, model, system_prompt, _caller(request, "api")
                )
            except (ClientRateLimitError, WebsimError) as error:
                raise _api_error(error, services) from None

        async def generate_image_api(
            prompt: str,
            aspect_ratio: str = DEFAULT_ASPECT_RATIO,
            model: str = DEFAULT_IMAGE_MODEL,
            request: gr.Request | None = None,
        ) -> gr.FileData:
            """An image of `prompt` in one of the eleven aspect ratios, as a PNG/JPEG/WebP file."""
            try:
                path = await images.api_generate_image(
                    prompt, aspect_ratio, model, _caller(request, "api")
                )
            except (ClientRateLimitError, WebsimError) as error:
                raise _api_error(error, services) from None
            return gr.FileData(path=str(path), orig_name=path.name)

        gr.api(chat_api, api_name="chat", **websim_calls)
        gr.api(generate_image_api, api_name="generate_image", **websim_calls)

    return demo


def _caller(request: gr.Request | None, surface: str = "page") -> Caller:
    """Whom the limits count: the client's address as the edge established it (see
    studio.edge), never the session hash, which the caller chooses."""
    client = request.client if request is not None else None
    host = getattr(client, "host", None) or "unknown"
    request_id = request.headers.get("x-request-id", "") if request is not None else ""
    return Caller(limit_key(host), request_id, surface)


def _index(index: int | tuple[int, int]) -> int:
    return index if isinstance(index, int) else index[0]


def _api_error(error: WebsimError | ClientRateLimitError, services: Services) -> gr.Error:
    return gr.Error(describe_failure(error, services.websim.base_url), print_exception=False)


services = Services(files_root=Path(os.environ["GRADIO_TEMP_DIR"]).parent)
demo = build_demo(services)


def start_emulator() -> str:
    """Run the bundled emulator on a free loopback port in a background thread; its URL."""
    emulator = Emulator()
    loop = asyncio.new_event_loop()
    started = asyncio.run_coroutine_threadsafe(emulator.start("127.0.0.1", 0), loop)
    threading.Thread(target=loop.run_forever, name="websim-emulator", daemon=True).start()
    return started.result(timeout=30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--demo",
        action="store_true",
        help="answer from the bundled Websim emulator on loopback instead of WEBSIM_BASE_URL",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # one line per request otherwise
    if args.demo:
        base_url = start_emulator()
        services.go_offline(base_url)
        print(f"Offline demo: Websim emulator serving on {base_url}", flush=True)
    if not services.studio.browser_secret_is_fixed:
        log.warning(
            "WEBSIM_STUDIO_SECRET is not set: conversations kept in browsers will not survive "
            "a restart of this server."
        )
    application = build_server(demo, services, css=CSS, footer_links=["api", "settings"])
    serve(
        application,
        host=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )


if __name__ == "__main__":
    main()
