"""The Chat tab in a real browser (fixtures in tests/browser_support.py)."""

from __future__ import annotations

import base64
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client
from PIL import Image
from playwright.sync_api import Page, Request, expect

from tests.browser_support import (
    FaultQueue,
    RunningStudio,
    bot_messages,
    draft_box,
    send,
    send_and_wait_for_reply,
    user_messages,
)
from websim_core.catalog import DEFAULT_CHAT_MODEL


def test_a_message_shows_at_once_then_the_reply_replaces_the_waiting_note(
    page: Page, faults: FaultQueue
) -> None:
    expect(page.locator("#offline-notice")).to_contain_text("Offline demo")
    # The emulator holds this reply back long enough to see the turn in progress.
    faults("chat", {"type": "hang", "seconds": 1.5})

    send(page, "Hello from Chromium")

    expect(user_messages(page)).to_have_text(["Hello from Chromium"])
    expect(bot_messages(page)).to_contain_text(["Waiting for Websim"])
    expect(draft_box(page)).to_be_disabled()
    expect(bot_messages(page)).to_have_text(
        ["Emulator reply to 1 message. You said: Hello from Chromium"]
    )
    expect(draft_box(page)).to_be_enabled()
    expect(draft_box(page)).to_have_value("")


@pytest.mark.parametrize(
    ("fault", "error_says"),
    [
        pytest.param(
            {"type": "status", "code": 400, "message": "messages must alternate"},
            ["Websim answered 400 Bad Request: messages must alternate."],
            id="400",
        ),
        pytest.param(
            {"type": "html", "code": 403, "title": "Just a moment..."},
            ["Websim answered 403 Forbidden", "an operator can set WEBSIM_EXTRA_HEADERS"],
            id="403-challenge-page",
        ),
    ],
)
def test_a_failed_turn_keeps_the_message_and_shows_the_error_where_the_reply_would_be(
    page: Page, faults: FaultQueue, fault: dict[str, Any], error_says: list[str]
) -> None:
    faults("chat", fault)

    send(page, "Keep me")

    expect(user_messages(page)).to_have_text(["Keep me"])
    expect(bot_messages(page)).to_have_count(1)
    expect(bot_messages(page)).to_contain_text("⚠️ Not sent")
    for words in error_says:
        # In the viewport, not only in the page: the note unfolds, clipped, before it shows.
        expect(bot_messages(page).get_by_text(words)).to_be_in_viewport()
    # A challenge page is summarised in one sentence, never shown as markup or page text.
    expect(bot_messages(page)).not_to_contain_text("<")
    expect(bot_messages(page)).not_to_contain_text("review the security of your connection")
    expect(draft_box(page)).to_be_enabled()


def test_retry_replaces_the_error_with_a_reply(page: Page, faults: FaultQueue) -> None:
    faults("chat", {"type": "status", "code": 400, "message": "messages must alternate"})
    send(page, "Try me again")
    expect(bot_messages(page)).to_contain_text("Not sent")
    expect(draft_box(page)).to_be_enabled()

    page.locator("#chatbot").get_by_role("button", name="Retry", exact=True).click()

    # The emulator answers in milliseconds: no need to wait the default 10 s to know it failed.
    expect(bot_messages(page)).to_have_text(
        ["Emulator reply to 1 message. You said: Try me again"], timeout=5_000
    )
    expect(user_messages(page)).to_have_text(["Try me again"])


def test_a_reload_keeps_the_conversation_and_it_goes_on_from_there(page: Page) -> None:
    send_and_wait_for_reply(page, "Remember me")

    page.reload(wait_until="networkidle")

    expect(user_messages(page)).to_have_text(["Remember me"])
    expect(bot_messages(page)).to_have_text(["Emulator reply to 1 message. You said: Remember me"])
    # The restored history is what the next turn sends: three messages, not one.
    send_and_wait_for_reply(page, "And now?", messages_sent=3)
    expect(user_messages(page)).to_have_text(["Remember me", "And now?"])


def test_undo_takes_the_turn_back_and_puts_its_text_in_the_box(page: Page) -> None:
    send_and_wait_for_reply(page, "Oops, wrong words")

    page.locator("#chatbot").get_by_role("button", name="Undo", exact=True).click()

    expect(user_messages(page)).to_have_count(0)
    expect(bot_messages(page)).to_have_count(0)
    expect(draft_box(page)).to_have_value("Oops, wrong words")


def attach(page: Page, image: Path) -> None:
    """Attach `image` to the draft through the clip's file input, and wait for its upload."""
    page.locator("#draft input[type=file]").set_input_files(image)
    expect(page.locator("#draft").get_by_role("listitem", name="File thumbnail")).to_have_count(1)


def export(page: Page, button: str) -> tuple[str, str]:
    """Click an export button: the downloaded file's suggested name and its text."""
    with page.expect_download() as download:
        page.get_by_role("button", name=button, exact=True).click()
    return download.value.suggested_filename, Path(download.value.path()).read_text("utf-8")


# Folded to ASCII and cut at the last word break within 40 characters.
ASKED = "Describe this café photo in lavish detail, please"
ASKED_SLUG = "describe-this-cafe-photo-in-lavish"
ANSWERED = f"Emulator reply to 1 message. You said: {ASKED} (with 1 image)"


def test_the_exports_are_built_in_the_browser_and_hold_the_conversation(
    page: Page,
    studio: RunningStudio,
    faults: FaultQueue,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    image = tmp_path / "red dot.png"
    Image.new("RGB", (3, 2), (200, 10, 10)).save(image)
    attach(page, image)
    send(page, ASKED)
    expect(bot_messages(page)).to_have_text([ANSWERED])
    expect(draft_box(page)).to_be_enabled()
    # The exports take the system prompt as it is now, whatever the turns were sent with.
    page.get_by_label("System prompt").fill("Be brief.")
    # A failed turn leaves its error note in the conversation; the exports leave it out.
    faults("chat", {"type": "status", "code": 400, "message": "messages must alternate"})
    send(page, "This one fails")
    expect(bot_messages(page).last).to_contain_text("Not sent")
    expect(draft_box(page)).to_be_enabled()
    days = {date.today().isoformat()}
    server_calls: list[Request] = []
    page.on("request", lambda request: server_calls.append(request))

    markdown_name, markdown = export(page, "Export Markdown")
    json_name, json_text = export(page, "Export JSON")

    days.add(date.today().isoformat())
    assert markdown_name in {f"websim-chat-{day}-{ASKED_SLUG}.md" for day in days}
    assert json_name == markdown_name.removesuffix(".md") + ".json"
    assert markdown == "\n".join(
        [
            "# Websim Studio conversation",
            "",
            f"Model: `{DEFAULT_CHAT_MODEL}`",
            "",
            "## System",
            "",
            "Be brief.",
            "",
            "## You",
            "",
            ASKED,
            "",
            "![attached image](red dot.png)",
            "",
            "## Websim",
            "",
            ANSWERED,
            "",
            "## You",
            "",
            "This one fails",
            "",
        ]
    )
    document = json.loads(json_text)
    inlined = "data:image/png;base64," + base64.b64encode(image.read_bytes()).decode()
    assert document == {
        "model": DEFAULT_CHAT_MODEL,
        "system_prompt": "Be brief.",
        "messages": [
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": ASKED},
                    {"type": "image_url", "image_url": {"url": inlined}},
                ],
            },
            {"role": "assistant", "content": ANSWERED},
            {"role": "user", "content": "This one fails"},
        ],
    }
    # No server event ran for the exports: the one request was the browser fetching the image
    # it inlines, and the server holds the uploaded image but no export.
    assert [(call.method, call.url.rsplit("/", 1)[-1]) for call in server_calls] == [
        ("GET", "red%20dot.png")
    ]
    assert "red dot.png" in {path.name for path in studio.files.rglob("*")}
    assert [*studio.files.rglob("*.md"), *studio.files.rglob("*.json")] == []
    # What the JSON export holds is a history the `/chat` API takes back.
    monkeypatch.setenv("GRADIO_ANALYTICS_ENABLED", "False")
    client = Client(studio.url, verbose=False, download_files=str(tmp_path), ssl_verify=False)
    try:
        reply = client.predict("And now?", document["messages"], api_name="/chat")
    finally:
        client.close()
    assert reply == "Emulator reply to 4 messages. You said: And now?"


def test_with_nothing_said_an_export_says_so_and_downloads_nothing(page: Page) -> None:
    downloads: list[Any] = []
    page.on("download", lambda download: downloads.append(download))

    page.get_by_role("button", name="Export JSON", exact=True).click()

    notice = page.get_by_role("status").filter(has_text="Nothing to export yet")
    expect(notice).to_be_visible()
    expect(notice).to_be_hidden()  # by itself, a few seconds later
    assert downloads == []


# -- Image --------------------------------------------------------------------------------------

# Resolves once the <img> has its pixels: naturalWidth is 0 until then.
