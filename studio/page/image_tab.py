"""The Image tab: its components, and what each of its events does.

- Generate (or Enter in the prompt; Shift+Enter adds a line) swaps itself for Stop until the
  generation ends, and the last result is cleared the moment the request is on its way, so a
  failure is never shown beside an older picture.
- "Number of images" makes 1 to 4 at once, counted against the client's limit all or none.
- Stop cancels the running event: its Websim request is dropped (the connection closes) and the
  tab says it was stopped.
- A refusal before anything is sent (a blank or too long prompt, the client over its limit) is a
  notice that goes away by itself; the prompt and the last result stay as they were.
- Clicking an example fills in the prompt and ratio and clears the last status line.
- The prompt's counter runs in the browser, against websim_core's cap.

The result and the gallery are the browser's (image_gallery.js, over image_store.js): the
server's event hands the result a description of the images made (`made`), and the browser
fetches each from this server's route for kept images and keeps its bytes in IndexedDB. The
gallery shows what this browser keeps, so it outlives reloads, server restarts and the server's
own copies, which age out.
"""

from __future__ import annotations

import html
import json
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import gradio as gr

from websim_core import InvalidRequestError
from websim_core.catalog import ASPECT_RATIOS, DEFAULT_ASPECT_RATIO, DEFAULT_IMAGE_MODEL
from websim_core.validation import MAX_PROMPT_CHARS, validate_prompt

from ..services.files import IMAGES_ROUTE
from ..services.shared import Services
from ..turns.images import MAX_IMAGES, ImageHandlers
from .browser_code import applied, source
from .common import PRIVATE, QUICK, caller, websim_calls
from .rendering import safe_reply_markdown
from .words import BROWSER_WORDS, EN, language_of, said, token, word, worded
from .words import EXAMPLES as WORD_EXAMPLES

# How long a refusal's notice stays: long enough to read one sentence.
NOTICE_SECONDS = 6
# Short enough that Gradio shows each label whole (words.py), in each language; the page's
# load sets them in its own (Gradio does not translate examples).
RATIOS = ["16:9", "4:3", "1:1", "9:16"]
EXAMPLES = [(EN[key], ratio) for key, ratio in zip(WORD_EXAMPLES, RATIOS, strict=True)]
STOPPED = token("image.stopped")
# What this browser keeps of the images it made: past either cap the oldest go first. A few
# hundred megabytes is well inside what browsers give a site, and a gallery of this many
# thumbnails still opens at once.
KEPT_IMAGES = 60
KEPT_BYTES = 200 * 1024 * 1024

# Counted in the browser at every change (prompt_counter.js), against websim_core's cap.
COUNTER_JS = applied("prompt_counter.js", MAX_PROMPT_CHARS)


def gallery_js(part: str, max_count: int = KEPT_IMAGES, max_bytes: int = KEPT_BYTES) -> str:
    """The `js_on_load` of the result (`part` "result") or the gallery ("gallery")."""
    store = applied("image_store.js", {"maxCount": max_count, "maxBytes": max_bytes})
    gallery = f"({source('image_gallery.js')})"
    return f"{gallery}(element, props, watch, {store}, {json.dumps(part)}, {BROWSER_WORDS});"


def made(prompt: str, aspect_ratio: str, images: tuple[Path, ...], kept_name: Any) -> str:
    """The result's value: what the browser fetches and keeps, as JSON. Each image is fetched
    from this server's route for kept images (relative, so the page works under any prefix),
    and saved under its download name."""
    return json.dumps(
        {
            "batch": uuid.uuid4().hex,
            # The gallery's order, newest first, on the server's clock.
            "made": int(time.time() * 1000),
            "prompt": prompt,
            "ratio": aspect_ratio,
            "images": [
                {"url": IMAGES_ROUTE.lstrip("/") + (kept_name(path) or ""), "name": path.name}
                for path in images
            ],
        }
    )


def counter_html(count: int) -> str:
    """The counter as the page first shows it (the browser keeps it up to date)."""
    return f'<span class="counter">{count:,} / {MAX_PROMPT_CHARS:,}</span>'


def examples_in(language: str) -> list[list[str]]:
    """The examples' prompts and ratios in `language`."""
    return [[said(key, language), ratio] for key, ratio in zip(WORD_EXAMPLES, RATIOS, strict=True)]


def example_labels(language: str) -> list[str]:
    """The examples' chips in `language`."""
    return [f"{text} · {ratio}" for text, ratio in examples_in(language)]


def build_image_tab(demo: gr.Blocks, services: Services, images: ImageHandlers) -> None:
    """The tab, built inside the page's Blocks."""
    with gr.Tab(word("image.tab"), id="image"):
        with gr.Row():
            with gr.Column(scale=2, min_width=280):
                prompt = gr.Textbox(
                    label=word("image.prompt"),
                    placeholder=word("image.prompt_placeholder"),
                    info=word("image.prompt_info"),
                    lines=1,
                    max_lines=10,
                    elem_id="prompt",
                )
                counter = gr.HTML(counter_html(0), elem_id="prompt-counter")
                aspect_ratio = gr.Radio(
                    list(ASPECT_RATIOS),
                    value=DEFAULT_ASPECT_RATIO,
                    label=word("image.ratio"),
                    elem_id="aspect-ratio",
                )
                count = gr.Radio(
                    list(range(1, MAX_IMAGES + 1)),
                    value=1,
                    label=word("image.count"),
                    elem_id="image-count",
                )
                generate = gr.Button(word("image.generate"), variant="primary", elem_id="generate")
                stop = gr.Button(
                    word("image.stop"), variant="stop", visible=False, elem_id="image-stop"
                )
                status = gr.Markdown(elem_id="image-status")
                gr.Markdown(word("image.note"), elem_id="image-model-note")
            with gr.Column(scale=3, min_width=280):
                # The browser draws it (gallery_js), from its value: `made`, or "" for none.
                result = gr.HTML(
                    "",
                    html_template="",
                    js_on_load=gallery_js("result"),
                    elem_id="result",
                )
        # Under the picture, not beside the button: on a phone the result comes right after
        # Generate, where a person looks once it is pressed.
        examples = gr.Examples(
            [list(example) for example in EXAMPLES],
            [prompt, aspect_ratio],
            label=word("image.examples"),
            # As chips, not a table.
            example_labels=example_labels("en"),
            elem_id="image-examples",
            api_visibility="private",
        )
        gr.HTML("", html_template="", js_on_load=gallery_js("gallery"), elem_id="gallery")

    def buttons(running: bool) -> tuple[Any, Any]:
        """Generate, or Stop while a generation runs."""
        return gr.Button(visible=not running), gr.Button(visible=running)

    async def make_image(
        text: str, ratio: str, number: int, request: gr.Request
    ) -> AsyncIterator[Any]:
        started = False
        language = language_of(request)
        updates = images.generate(text, ratio, DEFAULT_IMAGE_MODEL, caller(request), number)
        async for update in updates:
            status = worded(update.status, language)
            message = safe_reply_markdown(status)
            if update.refused:
                # Gradio shows a notice's text as HTML.
                gr.Warning(html.escape(status), duration=NOTICE_SECONDS)
                yield gr.skip()  # every output as it was
            elif update.failed:
                yield f"⚠️ {message}", "", *buttons(running=False)
            elif not update.images:
                # The first step clears the last result: from here on it would not be this one.
                cleared = "" if not started else gr.skip()
                started = True
                yield f"⏳ {message}", cleared, gr.skip(), gr.skip()
            else:
                value = made(update.caption, ratio, update.images, services.files.kept_name)
                yield message, value, *buttons(running=False)

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
        [prompt, aspect_ratio, count],
        [status, result, generate, stop],
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
    # A filled-in example is a fresh start: an earlier failure's words would not be about it.
    examples.dataset.click(lambda: "", None, status, **QUICK)

    # Gradio does not translate examples: they are set in the page's language as it loads.
    def examples_for(request: gr.Request) -> Any:
        language = language_of(request)
        return gr.Dataset(samples=examples_in(language), sample_labels=example_labels(language))

    demo.load(examples_for, None, examples.dataset, **QUICK)
