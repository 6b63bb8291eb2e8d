"""The chat history as Websim sees it."""

from __future__ import annotations

from itertools import pairwise
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from studio.turns.conversation import (
    ERROR_TITLE,
    FOLDED_TEXT,
    LOST_TEXT,
    assistant_message,
    error_note,
    fold_unanswered,
    progress_note,
    settled,
    stopped_note,
    text_of,
    to_websim_messages,
    user_message,
    with_follow_up,
    without_trailing_notes,
)
from websim_core import InvalidRequestError

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
        progress_note("waiting for Websim"),
    ]


def test_notes_are_never_sent_and_images_become_data_urls(
    conversation: list[dict], tmp_path: Path
) -> None:
    messages = to_websim_messages(conversation, "  Be kind ", uploads=tmp_path)

    assert messages[0] == {"role": "system", "content": "Be kind"}
    assert [message["role"] for message in messages] == ["system", "user", "user", "assistant"]
    assert messages[1]["content"] == "Hello"
    text, image = messages[2]["content"]
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


def test_trailing_notes_are_dropped_before_a_new_turn(conversation: list[dict]) -> None:
    assert without_trailing_notes(conversation) == conversation[:4]
    assert without_trailing_notes(conversation[:2]) == conversation[:1]


def test_unanswered_user_turns_fold_into_the_next_one_in_order() -> None:
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}
    messages = [
        {"role": "system", "content": "Be kind"},
        {"role": "user", "content": "one"},
        {"role": "user", "content": [{"type": "text", "text": "two"}, image]},
        {"role": "user", "content": "three"},
        {"role": "assistant", "content": "Answered"},
        {"role": "user", "content": "four"},
        {"role": "user", "content": "five"},
    ]

    folded = fold_unanswered(messages)

    assert folded == [
        {"role": "system", "content": "Be kind"},
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "one"},
                {"type": "text", "text": "two"},
                image,
                {"type": "text", "text": "three"},
            ],
        },
        {"role": "assistant", "content": "Answered"},
        {"role": "user", "content": "four\n\nfive"},
    ]
    assert messages[1] == {"role": "user", "content": "one"}  # the input is left as it was


@given(st.lists(st.sampled_from(["user", "assistant"]), max_size=12))
def test_after_folding_no_two_user_turns_are_adjacent(roles: list[str]) -> None:
    messages = [{"role": role, "content": f"{role} {n}"} for n, role in enumerate(roles)]

    folded = fold_unanswered(messages)

    assert all(
        not (first["role"] == second["role"] == "user") for first, second in pairwise(folded)
    )
    said = " ".join(str(message["content"]).replace("\n\n", " ") for message in folded)
    assert said == " ".join(str(message["content"]) for message in messages)


def test_a_turn_left_waiting_is_settled_with_a_note_and_an_answered_one_is_not() -> None:
    waiting = [user_message("Hello"), progress_note("waiting for Websim")]

    stopped = settled(waiting)
    lost = settled(waiting[:1], LOST_TEXT)

    assert stopped == [user_message("Hello"), stopped_note()]
    assert lost[-1]["metadata"]["title"] == ERROR_TITLE and text_of(lost[-1]) == LOST_TEXT
    answered = [user_message("Hello"), assistant_message("Hi")]
    assert settled(answered) == answered


def test_a_follow_up_marks_the_unanswered_turns_note_once() -> None:
    failed = [user_message("Hello"), error_note("Websim answered 502 Bad Gateway.")]

    once = with_follow_up(failed)
    twice = with_follow_up(once)

    assert text_of(once[-1]) == f"Websim answered 502 Bad Gateway. {FOLDED_TEXT}"
    assert twice == once
    assert failed[-1]["content"][0]["text"] == "Websim answered 502 Bad Gateway."
