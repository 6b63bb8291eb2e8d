"""`websim chat`: one reply, or a conversation kept in the terminal.

Websim keeps no history, so the conversation lives here and goes whole with every turn; a turn
that fails is left out of it, so the next line is a fresh try rather than a reply to an error.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

import click

from websim_core import Progress, Settings, WebsimClient, WebsimError
from websim_core.validation import validate_model

from ..turns.chat import api_messages
from ..turns.conversation import ChatMessage

EXIT_COMMAND = "/exit"
PROMPT = "you> "


@dataclass(frozen=True)
class Reply:
    """One answered turn, as `--json` prints it."""

    reply: str
    model: str
    attempts: int
    seconds: float


def notify(item: Progress) -> None:
    """Tell the person on stderr why they are still waiting: a retry and the reason for it.

    The first attempt is not announced: a reply that comes at once needs no commentary.
    """
    if item.stage == "retrying":
        click.echo(str(item), err=True)


async def chat_turn(client: WebsimClient, messages: list[ChatMessage], model: str | None) -> Reply:
    """Websim's reply to `messages`, with progress told on stderr as it happens."""
    model = validate_model(model, "chat")
    started = time.perf_counter()
    attempts = 0
    async for item in client.chat_stream(messages, model=model):
        if isinstance(item, Progress):
            attempts = item.attempt
            notify(item)
        else:
            seconds = round(time.perf_counter() - started, 3)
            return Reply(item, model, attempts, seconds)
    raise AssertionError("unreachable: chat_stream ends with the reply or raises")


async def ask_once(
    settings: Settings, message: str, system_prompt: str | None, model: str | None
) -> Reply:
    """One turn: the message under the system prompt, nothing before it."""
    messages = api_messages(message, None, system_prompt)
    async with WebsimClient(settings=settings) as client:
        return await chat_turn(client, messages, model)


def show(reply: Reply, as_json: bool) -> None:
    """The reply on stdout: its text, or one JSON object per line."""
    click.echo(json.dumps(asdict(reply), ensure_ascii=False) if as_json else reply.reply)


def converse(
    settings: Settings,
    system_prompt: str | None,
    model: str | None,
    as_json: bool,
    report: Callable[[WebsimError], None],
) -> None:
    """Read lines from stdin and answer each with the whole conversation so far, until EOF
    (Ctrl-D) or `/exit`. Ctrl-C while waiting drops that turn; at the prompt it ends too.

    A failed turn is reported through `report` and left out of the history.
    """
    validate_model(model, "chat")  # a wrong model fails now, not at the first line typed
    if sys.stdin.isatty():
        importlib.import_module("readline")  # line editing and recall for input()
    history: list[ChatMessage] = []
    # One event loop for the whole conversation, so the client's connections are kept between
    # turns; the prompt is read outside it, while nothing is in flight.
    with asyncio.Runner() as runner:
        client = WebsimClient(settings=settings)
        try:
            while (line := read_line()) is not None:
                if not line.strip():
                    continue
                try:
                    messages = api_messages(line, history, system_prompt)
                    reply = runner.run(chat_turn(client, messages, model))
                except WebsimError as error:
                    report(error)
                    continue
                except KeyboardInterrupt:
                    click.echo("(cancelled)", err=True)
                    continue
                history += [
                    {"role": "user", "content": line},
                    {"role": "assistant", "content": reply.reply},
                ]
                show(reply, as_json)
        finally:
            runner.run(client.close())


def read_line() -> str | None:
    """The next line typed, prompted on stderr; None at EOF, Ctrl-C or `/exit`."""
    click.echo(PROMPT, nl=False, err=True)
    try:
        line = input()  # an empty prompt of its own: stdout carries replies only
    except (EOFError, KeyboardInterrupt):
        click.echo(err=True)  # the shell's prompt then starts on a line of its own
        return None
    return None if line.strip() == EXIT_COMMAND else line


def message_from_stdin() -> str:
    """The whole of stdin, as the message when none is given on the command line."""
    if sys.stdin.isatty():
        click.echo("Type the message, then Ctrl-D on a line of its own.", err=True)
    return sys.stdin.read().strip()
