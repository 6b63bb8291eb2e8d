"""The `websim` command: chat, images, the app and the emulator from a terminal.

Results go to stdout and everything said to the person (retries, errors) to stderr, so the
output can be piped. Exit codes: 0 done, 2 the input or a setting is unusable (nothing was
sent), 1 Websim failed. Errors are websim_core's own one-line messages.

Only `serve` imports Gradio, inside the command: `websim chat` starts in a fraction of the
time the app takes.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from websim_core import ConfigurationError, InvalidRequestError, Settings, WebsimError
from websim_core.catalog import (
    ASPECT_RATIOS,
    CHAT_MODELS,
    DEFAULT_ASPECT_RATIO,
    DEFAULT_CHAT_MODEL,
    DEFAULT_IMAGE_MODEL,
    IMAGE_MODELS,
)

from .chat import ask_once, converse, message_from_stdin, show
from .image import check_request, generate, save

F = TypeVar("F", bound=Callable[..., Any])


class BadInput(click.ClickException):
    """An argument or setting websim_core refused before sending anything."""

    exit_code = 2


class WebsimFailed(click.ClickException):
    """Websim failed, or could not be reached, after the client's retries."""

    exit_code = 1


def failure(error: WebsimError) -> click.ClickException:
    """The exception click reports for `error`: its message, and the exit code of its kind."""
    if isinstance(error, InvalidRequestError | ConfigurationError):
        return BadInput(str(error))
    return WebsimFailed(str(error))


def report(error: WebsimError) -> None:
    """Tell of a failure on stderr and go on (a failed turn of a conversation)."""
    failure(error).show()


@contextmanager
def exit_on_failure() -> Iterator[None]:
    """End the command on a `WebsimError`, with its message and the exit code of its kind."""
    try:
        yield
    except WebsimError as error:
        raise failure(error) from None


def load_settings(base_url: str | None) -> Settings:
    """The `WEBSIM_*` settings, with `--base-url` over `WEBSIM_BASE_URL`."""
    with exit_on_failure():
        return Settings.from_env().with_overrides(base_url=base_url)


def base_url_option(command: F) -> F:
    """Add `--base-url` to a command that calls Websim, which then gets `settings` instead."""

    @click.option(
        "--base-url",
        metavar="URL",
        help="Websim's address, over WEBSIM_BASE_URL (such as https://api.websim.com).",
    )
    @wraps(command)
    def with_base_url(*args: Any, base_url: str | None, **kwargs: Any) -> Any:
        return command(*args, settings=load_settings(base_url), **kwargs)

    return with_base_url  # type: ignore[return-value]


def listing(values: tuple[str, ...], default: str) -> str:
    return ", ".join(f"{value} (default)" if value == default else value for value in values)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """Chat with Websim's models and generate images.

    Reads the same WEBSIM_* settings as the app: WEBSIM_BASE_URL, WEBSIM_PROXY, WEBSIM_TIMEOUT,
    WEBSIM_MAX_RETRIES, WEBSIM_EXTRA_HEADERS, WEBSIM_PROJECT_ID.
    """


@main.command()
@click.argument("message", required=False)
@click.option("-s", "--system", "system_prompt", metavar="TEXT", help="A system prompt.")
@click.option(
    "-m", "--model", metavar="MODEL", help=f"One of {listing(CHAT_MODELS, DEFAULT_CHAT_MODEL)}."
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object: reply, model, ...")
@click.option(
    "-i",
    "--interactive",
    is_flag=True,
    help="A conversation: one message a line, history kept; Ctrl-D or /exit ends it.",
)
@base_url_option
def chat(
    message: str | None,
    system_prompt: str | None,
    model: str | None,
    as_json: bool,
    interactive: bool,
    settings: Settings,
) -> None:
    """Send MESSAGE (else stdin) and print the reply."""
    if interactive:
        if message is not None:
            raise click.UsageError("give either MESSAGE or -i, not both")
        with exit_on_failure():
            converse(settings, system_prompt, model, as_json, report)
        return
    if message is None:
        message = message_from_stdin()
    with exit_on_failure():
        reply = asyncio.run(ask_once(settings, message, system_prompt, model))
    show(reply, as_json)


@main.command()
@click.argument("prompt")
@click.option(
    "-a",
    "--aspect-ratio",
    default=DEFAULT_ASPECT_RATIO,
    metavar="RATIO",
    help=f"One of {listing(ASPECT_RATIOS, DEFAULT_ASPECT_RATIO)}.",
)
@click.option(
    "-m", "--model", metavar="MODEL", help=f"One of {listing(IMAGE_MODELS, DEFAULT_IMAGE_MODEL)}."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    help="File to write, or a folder for the default name: websim-<prompt>-<ratio>.<type>.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON object: path, url, ...")
@base_url_option
def image(
    prompt: str,
    aspect_ratio: str,
    model: str | None,
    output: Path | None,
    as_json: bool,
    settings: Settings,
) -> None:
    """Generate an image of PROMPT, save it and print its path."""
    with exit_on_failure():
        check_request(prompt, aspect_ratio, model, output)
        response, fetched = asyncio.run(generate(settings, prompt, aspect_ratio, model))
    saved = save(response, fetched, output)
    click.echo(json.dumps(asdict(saved), ensure_ascii=False) if as_json else saved.path)


@main.command()
@click.option("--demo", is_flag=True, help="Answer from the bundled emulator, offline.")
@click.option("--host", help="Address to listen on (GRADIO_SERVER_NAME, else 127.0.0.1).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port to listen on (GRADIO_SERVER_PORT, else 7860).",
)
def serve(demo: bool, host: str | None, port: int | None) -> None:
    """Run the web app (the page, its API, /healthz ...)."""
    argv = ["--demo"] if demo else []
    if host is not None:
        argv += ["--host", host]
    if port is not None:
        argv += ["--port", str(port)]
    with exit_on_failure():
        # Imported here: Gradio takes seconds to load, and no other command needs it.
        from ..server.process import main as serve_app

        serve_app(argv)


@main.command(
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
    add_help_option=False,
)
@click.argument("arguments", nargs=-1, type=click.UNPROCESSED)
def emulator(arguments: tuple[str, ...]) -> None:
    """Run the Websim emulator: --port N [--latency S] [--fault-rate P] ... (--help for all)."""
    from websim_core.emulator.__main__ import main as run_emulator

    raise SystemExit(run_emulator(list(arguments)))
