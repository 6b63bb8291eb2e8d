"""The chat history as Websim sees it."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.conversation import (
    assistant_message,
    error_note,
    progress_note,
    to_websim_messages,
    user_message,
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
