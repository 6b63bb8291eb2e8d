"""The Chat tab's handlers against the emulator over loopback: turns, progress, failures, limits."""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from studio.services.config import StudioSettings
from studio.services.rate_limit import ClientRateLimitError
from studio.services.shared import Services
from studio.turns import failures
from studio.turns.calls import Caller
from studio.turns.chat import ChatHandlers, EmptyMessageError
from studio.turns.conversation import (
    ERROR_TITLE,
    NOT_SENT_TEXT,
    PENDING_TITLE,
    STOPPED_TITLE,
    History,
    awaits_reply,
    files_of,
    settled,
    stopped_note,
    text_of,
)
from websim_core import InvalidRequestError, Settings
from websim_core.emulator import Emulator, Fault

# The smallest valid PNG: one transparent pixel.
PIXEL_PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)


@pytest.fixture
async def services(emulator: Emulator) -> AsyncIterator[Services]:
    running = Services(Settings(base_url=emulator.base_url), StudioSettings(requests_per_minute=0))
    yield running
    await running.close()


@pytest.fixture
def uploads(tmp_path: Path) -> Path:
    folder = tmp_path / "uploads"
    folder.mkdir()
    return folder


@pytest.fixture
def chat(services: Services, uploads: Path) -> ChatHandlers:
    return ChatHandlers(services, uploads=uploads)


async def turn(
    chat: ChatHandlers, history: History, system_prompt: str = "", model: str = "gemini-1.5-pro"
) -> list[History]:
    """Every history the page would show while `respond` answers."""
    return [update async for update in chat.respond(history, system_prompt, model, Caller("tab-1"))]


def title(message: dict[str, Any]) -> str | None:
    return (message.get("metadata") or {}).get("title")


async def test_a_message_shows_pending_then_the_reply(chat: ChatHandlers) -> None:
    history = chat.add_message({"text": "  Hello there  ", "files": []}, [])
    assert history == [{"role": "user", "content": [{"type": "text", "text": "Hello there"}]}]

    updates = await turn(chat, history)

    assert title(updates[0][-1]) == PENDING_TITLE
    assert text_of(updates[0][-1]) == ""  # the title says it: "Waiting for Websim", once
    assert updates[0][:-1] == history
    final = updates[-1]
    assert final[:-1] == history
    assert final[-1]["role"] == "assistant" and title(final[-1]) is None
    assert text_of(final[-1]).startswith("Emulator reply to 1 message. You said: Hello there")


async def test_the_whole_conversation_goes_to_websim_each_turn(
    chat: ChatHandlers, emulator: Emulator
) -> None:
    history = (await turn(chat, chat.add_message({"text": "First"}, [])))[-1]
    history = chat.add_message({"text": "Second"}, history)

    final = (await turn(chat, history, system_prompt="Answer in French"))[-1]

    sent = emulator.requests[-1].body["messages"]
    assert [message["role"] for message in sent] == ["system", "user", "assistant", "user"]
    assert sent[0]["content"] == "Answer in French"
    assert sent[1]["content"] == "First" and sent[3]["content"] == "Second"
    assert text_of(final[-1]).startswith("Emulator reply to 4 messages")


async def test_retries_stream_progress_into_the_pending_reply(
    chat: ChatHandlers, emulator: Emulator, waits: list[float]
) -> None:
    emulator.script("chat", Fault.status(429, retry_after="4"))

    updates = await turn(chat, chat.add_message({"text": "Hi"}, []))

    notes = [text_of(update[-1]) for update in updates if title(update[-1]) == PENDING_TITLE]
    assert "Rate limited (429), retrying in 4 s (attempt 2 of 4)…" in notes
    assert waits == [4.0]
    assert text_of(updates[-1][-1]).startswith("Emulator reply")


async def test_a_failed_turn_keeps_the_message_and_shows_the_error_in_place(
    chat: ChatHandlers, emulator: Emulator
) -> None:
    emulator.script("chat", Fault.status(400, message="messages must alternate"))
    history = chat.add_message({"text": "Keep me"}, [])

    failed = (await turn(chat, history))[-1]

    assert failed[0] == history[0]
    assert title(failed[1]) == ERROR_TITLE
    assert "400" in text_of(failed[1]) and "messages must alternate" in text_of(failed[1])

    retried = (await turn(chat, chat.retry_from(failed, 0)))[-1]
    assert retried[0] == history[0] and len(retried) == 2
    assert text_of(retried[1]).startswith("Emulator reply to 1 message. You said: Keep me")


async def test_a_challenge_page_is_one_plain_sentence_and_the_operator_hint_is_logged_once(
    chat: ChatHandlers,
    emulator: Emulator,
    caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(failures, "_hinted", set())
    caplog.set_level(logging.INFO)
    for _ in range(2):
        emulator.script("chat", Fault.html(403, "Just a moment..."))
        error = text_of((await turn(chat, chat.add_message({"text": "Hi"}, [])))[-1][-1])

        assert error == "Websim refused this server's request (403). Try again later."

    hints = [r.getMessage() for r in caplog.records if r.name == "websim_studio.failures"]
    assert len(hints) == 1
    assert "WEBSIM_EXTRA_HEADERS" in hints[0] and "WEBSIM_BASE_URL" in hints[0]
    assert "\n" not in hints[0]


async def test_an_unreachable_websim_says_so_and_the_log_names_the_setting(
    uploads: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(failures, "_hinted", set())
    caplog.set_level(logging.INFO)
    # Port 9 (discard) is closed on loopback: the connection is refused at once.
    services = Services(Settings(base_url="http://127.0.0.1:9", max_retries=0), StudioSettings())
    try:
        chat = ChatHandlers(services, uploads=uploads)
        error = text_of((await turn(chat, chat.add_message({"text": "Hi"}, [])))[-1][-1])
    finally:
        await services.close()

    assert error.startswith("Websim cannot be reached: Could not connect to 127.0.0.1:9")
    assert "connection refused" in error and error.endswith("Try again later.")
    assert "WEBSIM" not in error
    (hint,) = [r.getMessage() for r in caplog.records if r.name == "websim_studio.failures"]
    assert "http://127.0.0.1:9" in hint and "WEBSIM_BASE_URL" in hint and "WEBSIM_PROXY" in hint


async def test_a_server_error_is_said_once_and_offers_to_try_again(
    chat: ChatHandlers, emulator: Emulator, waits: list[float]
) -> None:
    emulator.script("chat", *[Fault.status(500)] * 4)

    error = text_of((await turn(chat, chat.add_message({"text": "Hi"}, [])))[-1][-1])

    assert error == (
        "Websim answered 500 Internal Server Error (after 4 attempts). Try again in a moment."
    )


async def test_an_empty_message_is_refused_and_nothing_is_added(chat: ChatHandlers) -> None:
    with pytest.raises(EmptyMessageError, match="Type a message"):
        chat.add_message({"text": "   ", "files": []}, [])


async def test_attached_images_go_to_websim_as_image_url_parts(
    chat: ChatHandlers, emulator: Emulator, uploads: Path
) -> None:
    image = uploads / "pixel.png"
    image.write_bytes(PIXEL_PNG)

    history = chat.add_message({"text": "What is this?", "files": [str(image)]}, [])
    await turn(chat, history)

    content = emulator.requests[-1].body["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is this?"}
    url = content[1]["image_url"]["url"]
    assert url == "data:image/png;base64," + base64.b64encode(PIXEL_PNG).decode()


async def test_a_file_outside_the_upload_folder_is_never_read(
    chat: ChatHandlers, emulator: Emulator, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(PIXEL_PNG)

    history = chat.add_message({"text": "Look", "files": [str(secret)]}, [])
    final = (await turn(chat, history))[-1]

    assert title(final[-1]) == ERROR_TITLE
    assert "http(s) or data: URL" in text_of(final[-1])
    assert emulator.requests == []


async def test_a_bad_model_is_named_before_anything_is_sent(
    chat: ChatHandlers, emulator: Emulator
) -> None:
    final = (await turn(chat, chat.add_message({"text": "Hi"}, []), model="flux"))[-1]

    assert "model must be one of" in text_of(final[-1])
    assert final[0]["content"][0]["text"] == "Hi"
    assert emulator.requests == []


async def test_the_session_rate_limit_refuses_before_anything_is_shown_or_sent(
    emulator: Emulator, uploads: Path
) -> None:
    services = Services(Settings(base_url=emulator.base_url), StudioSettings(requests_per_minute=2))
    try:
        chat = ChatHandlers(services, uploads=uploads)
        history: History = []
        for text in ("one", "two"):
            history = (await turn(chat, chat.add_message({"text": text}, history)))[-1]
        shown: list[History] = []
        with pytest.raises(ClientRateLimitError, match="try again in 60 seconds"):
            async for update in chat.respond(
                chat.add_message({"text": "three"}, history), "", "gemini-1.5-pro", Caller("tab-1")
            ):
                shown.append(update)
        other_tab = [
            update
            async for update in chat.respond(
                chat.add_message({"text": "x"}, []), "", "gemini-1.5-pro", Caller("tab-2")
            )
        ]
    finally:
        await services.close()

    # Nothing was shown for the refused turn: the page hands the message back to its box.
    assert shown == []
    assert len(emulator.requests) == 3  # two from the first client, one from the other
    assert text_of(other_tab[-1][-1]).startswith("Emulator reply")


async def test_turns_without_a_reply_are_not_sent_with_later_messages(
    chat: ChatHandlers, emulator: Emulator, uploads: Path
) -> None:
    image = uploads / "pixel.png"
    image.write_bytes(PIXEL_PNG)
    history = (await turn(chat, chat.add_message({"text": "Earlier"}, [])))[-1]
    # Stopped: the page settles a turn whose reply was cancelled.
    history = settled(chat.add_message({"text": "Tell me a long story"}, history))
    emulator.script("chat", Fault.html(403, "Just a moment..."))
    failed = chat.add_message({"text": "Lost", "files": [str(image)]}, history)
    history = (await turn(chat, failed))[-1]

    final = (await turn(chat, chat.add_message({"text": "Third"}, history)))[-1]

    # Upstream: the answered turn and the third message, nothing else.
    sent = emulator.requests[-1].body["messages"]
    assert [(m["role"], m["content"]) for m in sent[::2]] == [
        ("user", "Earlier"),
        ("user", "Third"),
    ]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    # On the page: each unanswered turn keeps its place and says it was not sent.
    assert [text_of(message) for message in final[::2]] == [
        "Earlier",
        "Tell me a long story",
        "Lost",
        "Third",
    ]
    assert title(final[3]) == STOPPED_TITLE and title(final[5]) == ERROR_TITLE
    for note in (final[3], final[5]):
        assert text_of(note).endswith(NOT_SENT_TEXT)
    assert text_of(final[-1]).startswith("Emulator reply to 3 messages. You said: Third")


async def test_an_early_unanswered_turn_edited_is_answered_in_place(
    chat: ChatHandlers, emulator: Emulator, uploads: Path
) -> None:
    image = uploads / "pixel.png"
    image.write_bytes(PIXEL_PNG)
    history = (await turn(chat, chat.add_message({"text": "Earlier"}, [])))[-1]
    history = settled(chat.add_message({"text": "Stopped one"}, history))
    emulator.script("chat", Fault.status(400, message="no"))
    history = (
        await turn(chat, chat.add_message({"text": "Lost", "files": [str(image)]}, history))
    )[-1]
    history = (await turn(chat, chat.add_message({"text": "Later"}, history)))[-1]

    # Edited (here: submitted as it was), the failed turn is sent with what came before it.
    again = chat.edit(history, 4, "Lost")
    updates = await turn(chat, again)

    assert title(updates[0][5]) == PENDING_TITLE
    sent = emulator.requests[-1].body["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[0]["content"] == "Earlier"
    assert [part["type"] for part in sent[2]["content"]] == ["text", "image_url"]
    final = updates[-1]
    assert len(final) == len(history)
    assert text_of(final[5]).startswith("Emulator reply to 3 messages. You said: Lost")
    assert final[:4] == history[:4] and final[6:] == history[6:]
    assert files_of(final[4]) == [str(image)]


async def test_a_turn_asked_again_in_place_over_the_limit_gets_its_note_back(
    emulator: Emulator, uploads: Path
) -> None:
    services = Services(Settings(base_url=emulator.base_url), StudioSettings(requests_per_minute=1))
    try:
        chat = ChatHandlers(services, uploads=uploads)
        history = settled(chat.add_message({"text": "Stopped one"}, []))
        history = (await turn(chat, chat.add_message({"text": "Later"}, history)))[-1]
        again = chat.retry_from(history, 0)
        with pytest.raises(ClientRateLimitError) as refusal:
            await turn(chat, again)
    finally:
        await services.close()

    kept, draft = chat.not_sent(again, str(refusal.value))

    assert draft is None  # the box keeps what is in it
    assert [text_of(message) for message in kept[::2]] == ["Stopped one", "Later"]
    assert "try again in" in text_of(kept[1]) and text_of(kept[1]).endswith(NOT_SENT_TEXT)
    assert not awaits_reply(kept)
    last, back = chat.not_sent(chat.add_message({"text": "New"}, kept), "Over the limit")
    assert last == kept and back == {"text": "New", "files": []}


async def test_a_conversation_not_waiting_for_a_reply_sends_nothing(
    chat: ChatHandlers, emulator: Emulator
) -> None:
    answered = (await turn(chat, chat.add_message({"text": "Hi"}, [])))[-1]

    assert await turn(chat, answered) == []
    assert await turn(chat, []) == []
    assert len(emulator.requests) == 1


async def test_a_character_no_request_can_carry_is_refused_in_words(chat: ChatHandlers) -> None:
    with pytest.raises(EmptyMessageError, match=r"^Not sent: the message holds a character"):
        chat.add_message({"text": "bad \ud800 text"}, [])


async def test_undo_puts_the_message_back_in_the_box(chat: ChatHandlers, uploads: Path) -> None:
    image = uploads / "pixel.png"
    image.write_bytes(PIXEL_PNG)
    history = chat.add_message({"text": "Draft", "files": [str(image)]}, [])
    history = (await turn(chat, history))[-1]

    remaining, draft = chat.undo(history, 0)

    assert remaining == []
    assert draft == {"text": "Draft", "files": [str(image)]}


async def test_edit_replaces_the_text_and_drops_later_turns(chat: ChatHandlers) -> None:
    history = (await turn(chat, chat.add_message({"text": "Frist"}, [])))[-1]
    history = (await turn(chat, chat.add_message({"text": "More"}, history)))[-1]

    edited = chat.edit(history, 0, " First ")
    final = (await turn(chat, edited))[-1]

    assert [text_of(message) for message in edited] == ["First"]
    assert text_of(final[-1]).startswith("Emulator reply to 1 message. You said: First")


async def test_the_api_returns_the_reply_text(chat: ChatHandlers) -> None:
    history = [{"role": "user", "content": "Earlier"}, {"role": "assistant", "content": "Yes"}]

    reply = await chat.api_chat("Now", history, "gemini-1.5-flash", "Be brief", Caller("client-1"))

    assert reply.startswith("Emulator reply to 4 messages. You said: Now")


async def test_the_api_leaves_out_history_turns_that_got_no_reply(
    chat: ChatHandlers, emulator: Emulator
) -> None:
    history = [
        {"role": "user", "content": "Answered"},
        {"role": "assistant", "content": "Yes"},
        {"role": "user", "content": "Stopped"},
        stopped_note(),
        {"role": "user", "content": "Never answered"},
    ]

    reply = await chat.api_chat("Now", history, None, "", Caller("client-1"))

    sent = emulator.requests[-1].body["messages"]
    assert [(m["role"], m["content"]) for m in sent] == [
        ("user", "Answered"),
        ("assistant", "Yes"),
        ("user", "Now"),
    ]
    assert reply.startswith("Emulator reply to 3 messages. You said: Now")


async def test_the_api_refuses_blank_messages_and_local_file_paths(
    chat: ChatHandlers, emulator: Emulator, uploads: Path
) -> None:
    image = uploads / "pixel.png"
    image.write_bytes(PIXEL_PNG)
    history = [
        {"role": "user", "content": [{"type": "file", "file": {"path": str(image)}}]},
        {"role": "assistant", "content": "A pixel"},
    ]

    with pytest.raises(InvalidRequestError, match="message: must be non-blank"):
        await chat.api_chat(" ", None, "gemini-1.5-pro", "", Caller("client-1"))
    with pytest.raises(InvalidRequestError, match=r"history\[0\]\.content\[0\]: give images"):
        await chat.api_chat("Hi", history, "gemini-1.5-pro", "", Caller("client-1"))
    assert emulator.requests == []


async def test_the_api_rate_limit_raises_with_the_wait(emulator: Emulator) -> None:
    services = Services(Settings(base_url=emulator.base_url), StudioSettings(requests_per_minute=1))
    try:
        chat = ChatHandlers(services)
        await chat.api_chat("one", None, "gemini-1.5-pro", "", Caller("client-1"))
        with pytest.raises(ClientRateLimitError, match="try again in 60 seconds"):
            await chat.api_chat("two", None, "gemini-1.5-pro", "", Caller("client-1"))
    finally:
        await services.close()
