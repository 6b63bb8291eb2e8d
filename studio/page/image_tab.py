"""The Image tab: its components, and what each of its events does.

- Generate (or Enter in the prompt; Shift+Enter adds a line) swaps itself for Stop until the
  generation ends, and the last result is cleared the moment the request is on its way, so a
  failure is never shown beside an older picture.
- Stop cancels the running event: its Websim request is dropped (the connection closes) and the
  tab says it was stopped.
- A refusal before anything is sent (a blank or too long prompt, the client over its limit) is a
  notice that goes away by itself; the prompt and the last result stay as they were.
- The prompt's counter runs in the browser, against websim_core's cap.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from typing import Any

import gradio as gr

from websim_core import InvalidRequestError
from websim_core.catalog import ASPECT_RATIOS, DEFAULT_ASPECT_RATIO, DEFAULT_IMAGE_MODEL
from websim_core.validation import MAX_PROMPT_CHARS, validate_prompt

from ..services.shared import Services
from ..turns.images import ImageHandlers
from .browser_code import applied
from .common import PRIVATE, QUICK, caller, websim_calls
from .rendering import safe_reply_markdown

# How long a refusal's notice stays: long enough to read one sentence.
NOTICE_SECONDS = 6
# Short enough that Gradio shows each label whole.
EXAMPLES = [
    ("A lighthouse on a cliff at dawn, watercolour", "16:9"),
    ("A red fox asleep in fresh snow, morning light", "4:3"),
    ("A bowl of ramen from above, studio photo", "1:1"),
    ("Hot-air balloon festival poster, flat shapes", "9:16"),
]
MODEL_NOTE = (
    f"**Model:** {DEFAULT_IMAGE_MODEL}, the only one: Websim's image endpoint takes no model name."
)
STOPPED = "⏹️ Stopped: the request to Websim was cancelled and no image was made."

# Counted in the browser at every change (prompt_counter.js), against websim_core's cap.
COUNTER_JS = applied("prompt_counter.js", MAX_PROMPT_CHARS)


def counter_html(count: int) -> str:
    """The counter as the page first shows it (the browser keeps it up to date)."""
    return f'<span class="counter">{count:,} / {MAX_PROMPT_CHARS:,}</span>'


def build_image_tab(services: Services, images: ImageHandlers) -> None:
    """The tab, built inside the page's Blocks."""
    with gr.Tab("Image", id="image"):
        with gr.Row():
            with gr.Column(scale=2, min_width=280):
                prompt = gr.Textbox(
                    label="Prompt",
                    placeholder="A lighthouse on a cliff at dawn, watercolour",
                    info="Enter generates; Shift+Enter adds a line.",
                    lines=1,
                    max_lines=10,
                    elem_id="prompt",
                )
                counter = gr.HTML(counter_html(0), elem_id="prompt-counter")
                aspect_ratio = gr.Radio(
                    list(ASPECT_RATIOS),
                    value=DEFAULT_ASPECT_RATIO,
                    label="Aspect ratio",
                    elem_id="aspect-ratio",
                )
                generate = gr.Button("Generate", variant="primary", elem_id="generate")
                stop = gr.Button("Stop", variant="stop", visible=False, elem_id="image-stop")
                status = gr.Markdown(elem_id="image-status")
                gr.Markdown(MODEL_NOTE, elem_id="image-model-note")
            with gr.Column(scale=3, min_width=280):
                result = gr.Image(
                    label="Result",
                    type="filepath",
                    interactive=False,
                    height=520,
                    buttons=["download", "fullscreen"],
                    elem_id="result",
                )
                # HTML of escaped text, not Markdown: the prompt shows exactly as typed, with no
                # markup, link or picture made of it.
                caption = gr.HTML(elem_id="result-caption")
        # Under the picture, not beside the button: on a phone the result comes right after
        # Generate, where a person looks once it is pressed.
        gr.Examples(
            [list(example) for example in EXAMPLES],
            [prompt, aspect_ratio],
            label="Examples: click one to fill in the prompt",
            # As chips, not a table.
            example_labels=[f"{text} · {ratio}" for text, ratio in EXAMPLES],
            elem_id="image-examples",
            api_visibility="private",
        )
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

    def buttons(running: bool) -> tuple[Any, Any]:
        """Generate, or Stop while a generation runs."""
        return gr.Button(visible=not running), gr.Button(visible=running)

    async def make_image(
        text: str, ratio: str, shown: list[Any] | None, request: gr.Request
    ) -> AsyncIterator[Any]:
        collected = [(item[0], item[1]) for item in shown or []]
        started = False
        async for update in images.generate(text, ratio, DEFAULT_IMAGE_MODEL, caller(request)):
            message = safe_reply_markdown(update.status)
            if update.refused:
                # Gradio shows a notice's text as HTML.
                gr.Warning(html.escape(update.status), duration=NOTICE_SECONDS)
                yield gr.skip()  # every output as it was
            elif update.failed:
                yield f"⚠️ {message}", None, "", gr.skip(), *buttons(running=False)
            elif update.image is None:
                # The first step clears the last result: from here on it would not be this one.
                cleared = (None, "") if not started else (gr.skip(), gr.skip())
                started = True
                yield f"⏳ {message}", *cleared, gr.skip(), gr.skip(), gr.skip()
            else:
                collected.insert(0, (str(update.image), update.caption))
                shown_caption = html.escape(update.caption)
                yield message, str(update.image), shown_caption, collected, *buttons(False)

    def show_stop(text: str) -> Any:
        """Stop in Generate's place; not for a prompt that will be refused before anything is
        sent (make_image says why)."""
        try:
            validate_prompt(text)
        except InvalidRequestError:
            return gr.skip()
        return buttons(running=True)

    # Stop shows first, even while the generation waits for its turn in the queue.
    running = gr.on(
        [generate.click, prompt.submit], show_stop, prompt, [generate, stop], **QUICK
    ).then(
        make_image,
        [prompt, aspect_ratio, gallery],
        [status, result, caption, gallery, generate, stop],
        # The status line and Stop say what is happening. Gradio's own tracker would also put a
        # red "Error" over the picture when the queue refuses the event (the server is busy).
        show_progress="hidden",
        # While one runs, Enter in the prompt starts nothing more.
        trigger_mode="once",
        **websim_calls(services),
        **PRIVATE,
    )
    # Whatever ended it, the page is left ready for the next one. (Gradio runs `.then` when the
    # server ends an event, but only `.failure` when the queue refuses to take it: busy.)
    running.then(lambda: buttons(running=False), None, [generate, stop], **QUICK)
    running.failure(lambda: buttons(running=False), None, [generate, stop], **QUICK)
    stop.click(
        lambda: (STOPPED, *buttons(running=False)),
        None,
        [status, generate, stop],
        cancels=[running],
        **QUICK,
    )
    prompt.change(None, prompt, counter, js=COUNTER_JS, **QUICK)
