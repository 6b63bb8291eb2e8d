"""The chat history as Websim sees it."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studio.turns.conversation import (
    ERROR_TITLE,
    LOST_TEXT,
    NOT_SENT_TEXT,
    PENDING_TITLE,
    RETRY_TEXT,
    STOPPED_CAUSE,
    STOPPED_TITLE,
    asked_again,
    assistant_message,
    error_note,
    marked,
    progress_note,
    settled,
    stopped_note,
    text_of,
    to_websim_messages,
    user_message,
    waiting_turn,
    with_answer,
)
from websim_core import InvalidRequestError, Progress

PNG_BYTES = b"\x89PNG\r\n\x1a\nnot really"


@pytest.fixture
def conversation(tmp_path: Path) -> list[dict]:
    image = tmp_path / "cat.png"
    image.write_bytes(PNG_BYTES)
    return [
        user_message("Hello"),
        error_note("Websim answered 502 Bad Gateway."),
        user_message("Hello again", [str(image)]),
        assistant_message("Hi! A cat."),
        progress_note(),
    ]


def test_notes_are_never_sent_and_images_become_data_urls(
    conversation: list[dict], tmp_path: Path
) -> None:
    messages = to_websim_messages(conversation, "  Be kind ", uploads=tmp_path)

    assert messages[0] == {"role": "system", "content": "Be kind"}
    # "Hello" got no reply: it is not sent again.
    assert [message["role"] for message in messages] == ["system", "user", "assistant"]
    text, image = messages[1]["content"]
    assert text == {"type": "text", "text": "Hello again"}
    assert image["image_url"]["url"].startswith("data:image/png;base64,iVBORw0KGgpub3")


def test_without_uploads_folder_local_files_are_refused(conversation: list[dict]) -> None:
    with pytest.raises(InvalidRequestError, match=r"^history\[2\]\.content\[1\]: give images"):
        to_websim_messages(conversation)


def test_api_style_messages_pass_through() -> None:
    parts = [
        {"type": "text", "text": "What is this?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
    ]
    history = [{"role": "user", "content": parts}, {"role": "assistant", "content": "A dog"}]

    assert to_websim_messages(history) == history


def roles_and_texts(messages: list[dict]) -> list[tuple[str, str]]:
    return [(message["role"], text_of(message)) for message in messages]


def unanswered_between(tmp_path: Path) -> list[dict]:
    """Answered, stopped, failed with an image, lost to a reload, answered, then one asked."""
    image = tmp_path / "dog.png"
    image.write_bytes(PNG_BYTES)
    return [
        user_message("one"),
        assistant_message("Answer one"),
        user_message("stopped"),
        stopped_note(),
        user_message("failed", [str(image)]),
        error_note("Websim answered 502 Bad Gateway."),
        user_message("lost"),
        error_note(LOST_TEXT),
        user_message("two"),
        assistant_message("Answer two"),
        user_message("three"),
    ]


def test_turns_that_got_no_reply_are_left_out_and_turns_alternate(tmp_path: Path) -> None:
    messages = to_websim_messages(unanswered_between(tmp_path), "Be kind", uploads=tmp_path)

    assert messages == [
        {"role": "system", "content": "Be kind"},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "Answer one"},
        {"role": "user", "content": "two"},
        {"role": "assistant", "content": "Answer two"},
        {"role": "user", "content": "three"},
    ]


def test_in_an_api_history_a_user_turn_without_a_reply_is_left_out() -> None:
    history = [
        {"role": "user", "content": "never answered"},
        {"role": "user", "content": "answered"},
        {"role": "assistant", "content": "Hello"},
        {"role": "assistant", "content": "A reply of two parts"},
        {"role": "user", "content": "asked now"},
    ]

    assert to_websim_messages(history) == history[1:]


@given(st.lists(st.sampled_from(["user", "assistant", "note"]), max_size=12))
def test_no_two_user_turns_are_ever_sent_one_after_the_other(kinds: list[str]) -> None:
    history = [
        error_note(f"note {n}") if kind == "note" else {"role": kind, "content": f"{kind} {n}"}
        for n, kind in enumerate(kinds)
    ]

    sent = to_websim_messages(history)

    assert all(not (a["role"] == b["role"] == "user") for a, b in pairwise(sent))
    # Every reply goes, with the user turn it answered; a user turn goes only when answered,
    # or when it is the last message.
    replies = [m["role"] == "assistant" and "metadata" not in m for m in history]
    for index, message in enumerate(history):
        if replies[index]:
            assert message in sent
        elif message["role"] == "user":
            answered = index + 1 < len(history) and replies[index + 1]
            assert (message in sent) == (answered or index == len(history) - 1)


def test_a_note_before_later_messages_says_the_turn_was_not_sent_with_them() -> None:
    stopped = [user_message("Tell me a long story"), stopped_note()]
    failed = [user_message("Hello"), error_note("Websim answered 502 Bad Gateway.")]

    after_stop = marked([*stopped, user_message("Later")])
    after_failure = marked([*failed, user_message("Later")])

    assert text_of(after_stop[1]) == f"{STOPPED_CAUSE} {NOT_SENT_TEXT}"
    assert text_of(after_failure[1]) == f"Websim answered 502 Bad Gateway. {NOT_SENT_TEXT}"
    assert marked(after_failure) == after_failure  # said once
    # Undone back to the last turn, it offers Retry again.
    assert text_of(marked(after_stop[:2])[1]) == f"{STOPPED_CAUSE} {RETRY_TEXT}"
    assert marked(failed) == failed
    assert text_of(failed[1]) == "Websim answered 502 Bad Gateway."  # the input is untouched


def test_an_early_unanswered_turn_asked_again_is_answered_in_place(tmp_path: Path) -> None:
    history = marked(unanswered_between(tmp_path)[:-1])
    failed = 4  # the failed turn with its image

    again = asked_again(history, failed)

    assert waiting_turn(again) == failed
    assert again[failed + 1]["metadata"] == {"title": PENDING_TITLE, "status": "pending"}
    assert again[: failed + 1] == history[: failed + 1] and again[failed + 2 :] == history[6:]
    # Websim gets the answered turns before it and the turn itself: not the stopped one.
    sent = to_websim_messages(again[: failed + 1], uploads=tmp_path)
    assert [message["role"] for message in sent] == ["user", "assistant", "user"]
    assert sent[-1]["content"][0] == {"type": "text", "text": "failed"}
    assert sent[-1]["content"][1]["image_url"]["url"].startswith("data:image/png;base64,")
    # The reply takes the note's place; the later messages stay, and the other notes too.
    answered = with_answer(again, failed, assistant_message("At last"))
    assert roles_and_texts(answered) == [
        *roles_and_texts(history[:5]),
        ("assistant", "At last"),
        *roles_and_texts(history[6:]),
    ]
    assert NOT_SENT_TEXT in text_of(answered[3]) and NOT_SENT_TEXT in text_of(answered[7])


def test_the_last_turn_asked_again_drops_its_note_and_an_answered_one_what_followed() -> None:
    history = [
        user_message("one"),
        assistant_message("Answer one"),
        user_message("two"),
        error_note("Websim answered 502 Bad Gateway."),
    ]

    assert asked_again(history, 2) == history[:3]
    assert asked_again(history, 0) == history[:1]


def test_a_failure_in_place_says_it_was_not_sent_with_later_messages() -> None:
    again = asked_again(marked([user_message("early"), stopped_note(), user_message("later")]), 0)

    failed = with_answer(again, 0, error_note("Websim answered 500 Internal Server Error."))

    assert text_of(failed[1]) == f"Websim answered 500 Internal Server Error. {NOT_SENT_TEXT}"
    assert waiting_turn(failed) == 2  # the later message was never answered: it is the last


def test_the_pending_note_says_waiting_once_and_only_what_its_title_does_not() -> None:
    first = progress_note(Progress("sending", 1, 4))
    second = progress_note(Progress("sending", 2, 4))
    retrying = progress_note(Progress("retrying", 2, 4, delay=4, reason="rate limited (429)"))

    assert first["metadata"] == {"title": PENDING_TITLE, "status": "pending"}
    assert text_of(first) == ""
    assert text_of(second) == "Attempt 2 of 4…"
    assert text_of(retrying) == "Rate limited (429), retrying in 4 s (attempt 2 of 4)…"
    for note in (first, second, retrying):
        assert "waiting for websim" not in text_of(note).lower()


def test_a_turn_left_waiting_is_settled_with_a_note_and_an_answered_one_is_not() -> None:
    waiting = [user_message("Hello"), progress_note()]

    stopped = settled(waiting)
    lost = settled(waiting[:1], LOST_TEXT)

    assert stopped == [user_message("Hello"), stopped_note()]
    assert lost[-1]["metadata"]["title"] == ERROR_TITLE and text_of(lost[-1]) == LOST_TEXT
    answered = [user_message("Hello"), assistant_message("Hi")]
    assert settled(answered) == answered


def test_a_turn_stopped_in_place_keeps_its_place_and_the_later_messages() -> None:
    again = asked_again(marked([user_message("early"), stopped_note(), user_message("later")]), 0)

    stopped = settled(again)

    assert roles_and_texts(stopped) == [
        ("user", "early"),
        ("assistant", f"{STOPPED_CAUSE} {NOT_SENT_TEXT}"),
        ("user", "later"),
        ("assistant", f"{STOPPED_CAUSE} {RETRY_TEXT}"),
    ]
    assert stopped[1]["metadata"]["title"] == STOPPED_TITLE
