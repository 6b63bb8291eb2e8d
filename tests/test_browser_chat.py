"""The Chat tab in a real browser (fixtures in tests/browser_support.py)."""

from __future__ import annotations

import base64
import json
import time
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client
from PIL import Image
from playwright.sync_api import Page, Request, expect

from studio.turns.conversation import NOT_SENT_TEXT
from tests.app_process import running_app
from tests.browser_support import (
    ARTIFACTS,
    FaultQueue,
    RunningStudio,
    bot_messages,
    draft_box,
    send,
    send_and_wait_for_reply,
    user_messages,
    wait_until_restored,
)
from websim_core.catalog import DEFAULT_CHAT_MODEL
from websim_core.emulator import Emulator, Fault


def test_a_message_shows_at_once_then_the_reply_replaces_the_waiting_note(
    page: Page, faults: FaultQueue
) -> None:
    expect(page.locator("#offline-notice")).to_contain_text("Offline demo")
    # The emulator holds this reply back long enough to see the turn in progress.
    faults("chat", {"type": "hang", "seconds": 1.5})

    send(page, "Hello from Chromium")

    expect(user_messages(page)).to_have_text(["Hello from Chromium"])
    expect(bot_messages(page)).to_contain_text(["Waiting for Websim"])
    # Said once: in the note's title, not again in its body.
    assert bot_messages(page).first.inner_text().count("Waiting for Websim") == 1
    expect(draft_box(page)).to_be_disabled()
    expect(page.locator("#draft").get_by_role("button", name="Stop")).to_be_visible()
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
            ["Websim refused this server's request (403). Try again later."],
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
    expect(bot_messages(page)).to_contain_text("⚠️ No reply")
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
    expect(bot_messages(page)).to_contain_text("No reply")
    expect(draft_box(page)).to_be_enabled()

    page.locator("#chatbot").get_by_role("button", name="Retry", exact=True).click()

    # The emulator answers in milliseconds: no need to wait the default 10 s to know it failed.
    expect(bot_messages(page)).to_have_text(
        ["Emulator reply to 1 message. You said: Try me again"], timeout=5_000
    )
    expect(user_messages(page)).to_have_text(["Try me again"])


def test_a_reload_keeps_the_conversation_and_it_goes_on_from_there(page: Page) -> None:
    send_and_wait_for_reply(page, "Remember me")

    page.reload()
    wait_until_restored(page)

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


def open_settings(page: Page) -> None:
    """Unfold the Chat tab's settings, where the system prompt and the exports are."""
    panel = page.locator("#chat-settings")
    if not panel.get_by_label("System prompt").is_visible():
        panel.get_by_role("button", name="Settings and exports").click()
    expect(panel.get_by_label("System prompt")).to_be_visible()


def export(page: Page, button: str) -> tuple[str, str]:
    """Click an export button (in the settings, unfolded first): the downloaded file's
    suggested name and its text."""
    open_settings(page)
    with page.expect_download() as download:
        page.get_by_role("button", name=button, exact=True).click()
    return download.value.suggested_filename, Path(download.value.path()).read_text("utf-8")


# Folded to ASCII and cut at the last word break within 40 characters.
ASKED = "Describe this café photo in lavish detail, please"
ASKED_SLUG = "describe-this-cafe-photo-in-lavish"
# The conversation's title, as the sidebar lists it.
ASKED_TITLE = "Describe this café photo in lavish detail, plea…"
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
    open_settings(page)
    page.get_by_label("System prompt").fill("Be brief.")
    # A failed turn leaves its error note in the conversation; the exports leave it out.
    faults("chat", {"type": "status", "code": 400, "message": "messages must alternate"})
    send(page, "This one fails")
    expect(bot_messages(page).last).to_contain_text("No reply")
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
            f"# {ASKED_TITLE}",
            "",
            "A Websim Studio conversation.",
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
        "title": ASKED_TITLE,
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
    # The failed turn got no reply, so it is not sent with the next message.
    assert reply == "Emulator reply to 3 messages. You said: And now?"


def test_with_nothing_said_no_export_is_offered(page: Page) -> None:
    open_settings(page)
    exports = page.get_by_role("button", name="Export Markdown").or_(
        page.get_by_role("button", name="Export JSON")
    )
    expect(exports).to_have_count(0)

    send_and_wait_for_reply(page, "Now there is something")

    expect(page.get_by_role("button", name="Export JSON", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Export Markdown", exact=True)).to_be_visible()


# -- Refusals, markup, failed turns, Stop ---------------------------------------------------------


def notice(page: Page, text: str) -> Any:
    return page.get_by_test_id("toast-body").filter(has_text=text)


def test_enter_on_an_empty_box_says_so_briefly_and_leaves_everything_usable(page: Page) -> None:
    draft_box(page).press("Enter")

    refusal = notice(page, "Type a message or attach an image first.")
    expect(refusal).to_be_visible()
    # Nothing covers the conversation or the box, and the box still sends.
    expect(page.locator("#chatbot .error, #draft .error")).to_have_count(0)
    expect(draft_box(page)).to_be_enabled()
    send_and_wait_for_reply(page, "Then this goes")
    expect(user_messages(page)).to_have_text(["Then this goes"])
    expect(refusal).to_be_hidden()  # by itself


MARKUP = ["<img src=x onerror=alert(1)>", "<script>alert(2)</script>", "[x](javascript:alert(3))"]
REMOTE_PIXEL = "http://127.0.0.2:9/pixel.png?q=leak"


def test_markup_shows_as_typed_and_a_remote_image_in_a_reply_is_never_fetched(
    page: Page,
) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    typed = " ".join(MARKUP)

    for text in (typed, f"A pixel ![]({REMOTE_PIXEL}) here"):
        send(page, text)
        expect(bot_messages(page).last).to_contain_text("Emulator reply")
        expect(draft_box(page)).to_be_enabled()

    # The user's words, markup included, as typed; the echoed reply shows its HTML as text.
    expect(user_messages(page).first).to_have_text(typed)
    expect(bot_messages(page).first).to_contain_text(MARKUP[0])
    expect(bot_messages(page).first).to_contain_text(MARKUP[1])
    expect(page.locator("#chatbot a[href^='javascript']")).to_have_count(0)
    # The reply's remote image is a link to it, not a picture.
    link = bot_messages(page).last.get_by_role("link", name=f"Image: {REMOTE_PIXEL}")
    expect(link).to_have_attribute("href", REMOTE_PIXEL)
    expect(page.locator("#chatbot img[src*='127.0.0.2']")).to_have_count(0)
    expect(page.locator("#chatbot img[src='x']")).to_have_count(0)
    assert [url for url in requested if "127.0.0.2" in url or url.endswith("/x")] == []
    assert dialogs == []


TYPED_CODE = "Why?\ndef f(x):\n    return  x\n```python\nif x:\n    print(1)\n```\nThanks"


def test_the_users_spacing_shows_as_typed_and_a_fence_as_code(
    observed_page: Page, observed_studio: RunningStudio
) -> None:
    page, emulator = observed_page, observed_studio.emulator
    assert emulator is not None
    send(page, TYPED_CODE)
    expect(bot_messages(page).last).to_contain_text("Emulator reply")
    expect(draft_box(page)).to_be_enabled()

    said = user_messages(page).first
    # The indentation and the double space, as no-break spaces; the fence as a code block.
    shown = said.evaluate("(element) => element.innerText").replace("\u200b", "")
    assert "def f(x):\n\u00a0\u00a0\u00a0\u00a0return \u00a0x" in shown, repr(shown)
    code = said.locator("pre code")
    expect(code).to_have_count(1)
    assert code.evaluate("(element) => element.textContent") == "if x:\n    print(1)\n"
    assert emulator.requests[-1].body["messages"][-1]["content"] == TYPED_CODE
    # Edited and submitted as it is, the message goes again exactly as typed.
    sent_before = len(emulator.requests)
    page.locator("#chatbot").get_by_role("button", name="Edit", exact=True).first.click()
    page.locator("#chatbot").get_by_role("button", name="Save and send").click()
    deadline = time.monotonic() + 5
    while len(emulator.requests) == sent_before and time.monotonic() < deadline:
        time.sleep(0.05)
    expect(draft_box(page)).to_be_enabled()
    assert emulator.requests[-1].body["messages"] == [{"role": "user", "content": TYPED_CODE}]
    expect(user_messages(page).first.locator("pre code")).to_have_count(1)


def stop_the_reply(page: Page, emulator: Emulator) -> None:
    """Wait until Websim holds the turn's request, then press Stop and wait for the note."""
    deadline = time.monotonic() + 5
    while emulator.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emulator.in_flight == 1
    page.locator("#draft").get_by_role("button", name="Stop").click()
    expect(bot_messages(page).last).to_contain_text("Stopped")
    expect(draft_box(page)).to_be_enabled()


def test_turns_stopped_or_failed_are_not_sent_with_later_messages_until_edited(
    observed_page: Page, observed_studio: RunningStudio
) -> None:
    page = observed_page
    emulator = observed_studio.emulator
    assert emulator is not None
    send_and_wait_for_reply(page, "First")
    emulator.script("chat", Fault.hang(30))
    send(page, "Tell me a long story")
    stop_the_reply(page, emulator)
    emulator.script("chat", Fault.html(403, "Just a moment..."))
    send(page, "This one fails")
    expect(bot_messages(page).last).to_contain_text("Websim refused this server's request (403)")
    expect(draft_box(page)).to_be_enabled()

    send_and_wait_for_reply(page, "Third", messages_sent=3)

    # Websim got the answered turn and the third message: neither unanswered one.
    first_reply = "Emulator reply to 1 message. You said: First"
    assert emulator.requests[-1].body["messages"] == [
        {"role": "user", "content": "First"},
        {"role": "assistant", "content": first_reply},
        {"role": "user", "content": "Third"},
    ]
    expect(user_messages(page)).to_have_text(
        ["First", "Tell me a long story", "This one fails", "Third"]
    )
    stopped, failed = bot_messages(page).nth(1), bot_messages(page).nth(2)
    expect(stopped).to_contain_text("Stopped")
    expect(stopped).to_contain_text(f"You stopped this reply before it arrived. {NOT_SENT_TEXT}")
    expect(failed).to_contain_text("No reply")
    expect(failed).to_contain_text(
        f"Websim refused this server's request (403). Try again later. {NOT_SENT_TEXT}"
    )

    # Edited and submitted as it was, the stopped turn is answered in its own place.
    # Each user message has its Edit button; the second is the story's.
    page.locator("#chatbot").get_by_role("button", name="Edit", exact=True).nth(1).click()
    page.locator("#chatbot").get_by_role("button", name="Save and send").click()

    expect(stopped).to_have_text("Emulator reply to 3 messages. You said: Tell me a long story")
    assert emulator.requests[-1].body["messages"][1:] == [
        {"role": "assistant", "content": first_reply},
        {"role": "user", "content": "Tell me a long story"},
    ]
    expect(user_messages(page)).to_have_text(
        ["First", "Tell me a long story", "This one fails", "Third"]
    )
    expect(bot_messages(page)).to_have_count(4)
    expect(bot_messages(page).nth(2)).to_contain_text(NOT_SENT_TEXT)
    expect(bot_messages(page).last).to_have_text("Emulator reply to 3 messages. You said: Third")
    expect(draft_box(page)).to_be_enabled()


def test_stop_ends_a_slow_reply_at_once_and_websim_sees_the_request_dropped(
    observed_page: Page, observed_studio: RunningStudio
) -> None:
    page = observed_page
    emulator = observed_studio.emulator
    assert emulator is not None
    emulator.script("chat", Fault.hang(30))
    send(page, "Take your time")
    expect(bot_messages(page)).to_contain_text(["Waiting for Websim"])
    deadline = time.monotonic() + 5
    while emulator.in_flight == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emulator.in_flight == 1

    stopped_at = time.monotonic()
    page.locator("#draft").get_by_role("button", name="Stop").click()

    expect(draft_box(page)).to_be_enabled(timeout=2_000)
    assert time.monotonic() - stopped_at < 2
    expect(draft_box(page)).to_be_focused()  # the Stop pressed is gone: the box has the focus
    expect(bot_messages(page).last).to_contain_text("Stopped")
    expect(user_messages(page)).to_have_text(["Take your time"])
    # The emulator's handler for that request ended because its client went away.
    deadline = time.monotonic() + 2
    while emulator.in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    assert emulator.in_flight == 0
    # And retry is there: it sends the turn again.
    page.locator("#chatbot").get_by_role("button", name="Retry", exact=True).click()
    expect(bot_messages(page).last).to_have_text(
        "Emulator reply to 1 message. You said: Take your time"
    )


def test_a_reply_lost_to_a_reload_is_marked_with_retry(page: Page, faults: FaultQueue) -> None:
    faults("chat", {"type": "hang", "seconds": 5})
    send(page, "Are you there?")
    expect(bot_messages(page)).to_contain_text(["Waiting for Websim"])

    page.reload()
    wait_until_restored(page)

    expect(user_messages(page)).to_have_text(["Are you there?"])
    expect(bot_messages(page).last).to_contain_text("the page was reloaded or left")
    page.locator("#chatbot").get_by_role("button", name="Retry", exact=True).click()
    expect(bot_messages(page).last).to_have_text(
        "Emulator reply to 1 message. You said: Are you there?", timeout=10_000
    )


# -- Conversations --------------------------------------------------------------------------------


def listed(page: Page) -> Any:
    return page.locator("#conversations .conversation")


def row(page: Page, title: str) -> Any:
    return listed(page).filter(has=page.get_by_role("button", name=title, exact=True))


def current_title(page: Page) -> Any:
    return page.locator("#conversations [aria-current=true]")


def delete_from_its_row(page: Page, title: str) -> None:
    page.get_by_role("button", name=f"Delete “{title}”").click()
    expect(page.locator("#conversations .confirming")).to_have_text(f"Delete “{title}”?DeleteKeep")
    page.locator("#conversations").get_by_role("button", name="Delete", exact=True).click()


def test_conversations_are_kept_listed_renamed_switched_and_deleted(page: Page) -> None:
    send_and_wait_for_reply(page, "About cats")
    page.get_by_role("button", name="+ New chat").click()
    expect(user_messages(page)).to_have_count(0)
    expect(draft_box(page)).to_be_focused()
    send_and_wait_for_reply(page, "About dogs")
    expect(listed(page)).to_have_text(["About dogs", "About cats"])  # newest first
    expect(current_title(page)).to_have_text("About dogs")

    page.get_by_role("button", name="Rename “About dogs”").click()
    title_box = page.get_by_role("textbox", name="New title for “About dogs”")
    expect(title_box).to_be_focused()
    title_box.press("Control+A")
    title_box.press_sequentially("Dogs, mostly")
    title_box.press("Enter")
    expect(listed(page)).to_have_text(["Dogs, mostly", "About cats"])
    row(page, "About cats").get_by_role("button", name="About cats", exact=True).click()
    expect(user_messages(page)).to_have_text(["About cats"])
    expect(current_title(page)).to_have_text("About cats")
    expect(draft_box(page)).to_be_focused()  # ready for the next message

    page.reload()
    wait_until_restored(page)
    expect(listed(page)).to_have_text(["Dogs, mostly", "About cats"])
    expect(user_messages(page)).to_have_text(["About cats"])
    expect(current_title(page)).to_have_text("About cats")
    # The restored conversation goes on from where it was.
    send_and_wait_for_reply(page, "More cats", messages_sent=3)
    expect(listed(page)).to_have_text(["About cats", "Dogs, mostly"])

    # Deleting asks first; keeping it changes nothing.
    page.get_by_role("button", name="Delete “About cats”").click()
    page.locator("#conversations").get_by_role("button", name="Keep", exact=True).click()
    expect(listed(page)).to_have_text(["About cats", "Dogs, mostly"])
    delete_from_its_row(page, "About cats")
    expect(listed(page)).to_have_text(["Dogs, mostly"])
    expect(user_messages(page)).to_have_text(["About dogs"])
    expect(current_title(page)).to_have_text("Dogs, mostly")
    page.get_by_role("button", name="Delete all conversations…").click()
    page.get_by_role("button", name="Delete all", exact=True).click()
    expect(listed(page)).to_have_count(0)
    expect(page.locator("#conversations [role=status]")).to_have_text("No conversations yet.")
    expect(user_messages(page)).to_have_count(0)


def test_rename_and_delete_work_from_the_keyboard_and_another_row_leaves_the_page_as_it_is(
    page: Page, faults: FaultQueue
) -> None:
    send_and_wait_for_reply(page, "First topic")
    page.get_by_role("button", name="+ New chat").click()
    send_and_wait_for_reply(page, "Second topic")
    expect(listed(page)).to_have_text(["Second topic", "First topic"])

    # Escape leaves the title as it was; the focus goes back to the Rename button.
    page.get_by_role("button", name="Rename “First topic”").focus()
    page.keyboard.press("Enter")
    page.keyboard.type("Not this")
    page.keyboard.press("Escape")
    expect(listed(page)).to_have_text(["Second topic", "First topic"])
    expect(page.get_by_role("button", name="Rename “First topic”")).to_be_focused()
    # Leaving the title box keeps what was typed in it, unsaved.
    page.keyboard.press("Enter")
    page.keyboard.type("The first, renamed")
    page.get_by_role("searchbox", name="Search conversations").focus()
    expect(page.get_by_role("textbox", name="New title for “First topic”")).to_have_value(
        "The first, renamed"
    )
    page.get_by_role("button", name="Save the title").click()
    expect(listed(page)).to_have_text(["Second topic", "The first, renamed"])

    # A reply on its way goes on while another conversation is deleted.
    faults("chat", {"type": "hang", "seconds": 2})
    send(page, "Still answered")
    expect(bot_messages(page).last).to_contain_text("Waiting for Websim")
    page.get_by_role("button", name="Delete “The first, renamed”").focus()
    page.keyboard.press("Enter")
    confirm = page.locator("#conversations").get_by_role("button", name="Delete", exact=True)
    expect(confirm).to_be_focused()
    page.keyboard.press("Escape")  # asked, and kept
    expect(page.get_by_role("button", name="Delete “The first, renamed”")).to_be_focused()
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    expect(listed(page)).to_have_text(["Second topic"])
    expect(bot_messages(page).last).to_have_text(
        "Emulator reply to 3 messages. You said: Still answered", timeout=10_000
    )
    expect(user_messages(page)).to_have_text(["Second topic", "Still answered"])
    page.reload()
    wait_until_restored(page)
    expect(listed(page)).to_have_text(["Second topic"])


def test_a_title_being_typed_survives_the_list_arriving_from_a_reply(
    page: Page, faults: FaultQueue
) -> None:
    send_and_wait_for_reply(page, "Name me later")
    faults("chat", {"type": "hang", "seconds": 1.5})
    send(page, "A slow one")
    expect(bot_messages(page).last).to_contain_text("Waiting for Websim")
    page.get_by_role("button", name="Rename “Name me later”").click()
    page.keyboard.press("Control+A")
    page.keyboard.type("Half-typed")

    # The reply comes, and with its save a new list from the server.
    expect(bot_messages(page).last).to_have_text(
        "Emulator reply to 3 messages. You said: A slow one", timeout=10_000
    )
    expect(draft_box(page)).to_be_enabled()
    title_box = page.get_by_role("textbox", name="New title for “Name me later”")
    expect(title_box).to_have_value("Half-typed")
    expect(title_box).to_be_focused()
    page.keyboard.type(", then done")
    page.keyboard.press("Enter")
    expect(listed(page)).to_have_text(["Half-typed, then done"])


def test_the_search_finds_conversations_by_title_and_by_what_was_said(page: Page) -> None:
    for number, said in enumerate(
        ["Plan a trip to Lisbon", "Bake a sourdough loaf", "Write a haiku about the sea"]
    ):
        if number:
            page.get_by_role("button", name="+ New chat").click()
        send_and_wait_for_reply(page, said)
    page.get_by_role("button", name="Rename “Plan a trip to Lisbon”").click()
    page.keyboard.press("Control+A")
    page.keyboard.type("Holiday\n")
    expect(listed(page)).to_have_count(3)
    search = page.get_by_role("searchbox", name="Search conversations")
    box = search.bounding_box()
    assert box is not None and box["y"] < 120  # at the top, under New chat

    search.fill("HOLIDAY")  # a title, whatever its case
    expect(listed(page)).to_have_text(["Holiday"])
    search.fill("lisbon trip")  # what was said, every word
    expect(listed(page).locator(".conversation-name")).to_have_text(["Holiday"])
    expect(listed(page).locator(".conversation-excerpt")).to_contain_text(["trip to Lisbon"])
    search.fill("emulator reply")  # the replies are searched too
    expect(listed(page)).to_have_count(3)
    search.fill("croissant")
    expect(listed(page)).to_have_count(0)
    expect(page.locator("#conversations [role=status]")).to_have_text(
        "No conversation matches “croissant”."
    )
    page.screenshot(path=str(ARTIFACTS / "sidebar_search_nothing_found.png"))
    search.fill("sourdough")
    expect(listed(page)).to_have_text(["Bake a sourdough loaf"])
    search.press("ArrowDown")
    expect(page.get_by_role("button", name="Bake a sourdough loaf", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(user_messages(page)).to_have_text(["Bake a sourdough loaf"])
    expect(draft_box(page)).to_be_focused()
    # A new list from the server (this turn's save) keeps the search as typed.
    send_and_wait_for_reply(page, "More flour?", messages_sent=3)
    expect(search).to_have_value("sourdough")
    expect(listed(page)).to_have_text(["Bake a sourdough loaf"])
    search.press("Escape")
    expect(listed(page)).to_have_count(3)


def test_a_renamed_conversation_is_exported_under_its_new_title(page: Page) -> None:
    send_and_wait_for_reply(page, "Some words to start with")
    page.get_by_role("button", name="Rename “Some words to start with”").click()
    page.keyboard.press("Control+A")
    page.keyboard.type("Notes for Ana\n")
    expect(listed(page)).to_have_text(["Notes for Ana"])

    markdown_name, markdown = export(page, "Export Markdown")
    json_name, json_text = export(page, "Export JSON")

    assert markdown_name.endswith("-notes-for-ana.md"), markdown_name
    assert markdown.splitlines()[0] == "# Notes for Ana"
    assert json_name.endswith("-notes-for-ana.json"), json_name
    assert json.loads(json_text)["title"] == "Notes for Ana"


def sidebar_open(page: Page) -> Any:
    return page.locator("#sidebar.open")


def open_the_sidebar(page: Page) -> None:
    page.locator("#sidebar .toggle-button").click()
    expect(sidebar_open(page)).to_have_count(1)
    # Then it slides in.
    page.wait_for_function("document.querySelector('#sidebar').getBoundingClientRect().x >= 0")


def test_on_a_phone_the_sidebar_folds_away_after_new_chat_switching_and_deleting(
    phone_page: Page,
) -> None:
    page = phone_page
    send_and_wait_for_reply(page, "Phone one")
    open_the_sidebar(page)
    page.get_by_role("button", name="+ New chat").click()
    expect(sidebar_open(page)).to_have_count(0)
    expect(user_messages(page)).to_have_count(0)
    expect(draft_box(page)).not_to_be_focused()  # no keyboard raised by itself
    send_and_wait_for_reply(page, "Phone two")

    open_the_sidebar(page)
    expect(listed(page)).to_have_text(["Phone two", "Phone one"])
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / "phone_sidebar_open.png"))
    # On a touch screen Rename and Delete show on every row, not only under a pointer.
    expect(page.get_by_role("button", name="Rename “Phone one”")).to_have_css("opacity", "1")
    expect(page.get_by_role("button", name="Delete “Phone one”")).to_have_css("opacity", "1")
    row(page, "Phone one").get_by_role("button", name="Phone one", exact=True).click()
    expect(sidebar_open(page)).to_have_count(0)
    expect(user_messages(page)).to_have_text(["Phone one"])

    open_the_sidebar(page)
    delete_from_its_row(page, "Phone one")
    expect(sidebar_open(page)).to_have_count(0)
    expect(user_messages(page)).to_have_text(["Phone two"])
    open_the_sidebar(page)
    expect(listed(page)).to_have_text(["Phone two"])
    page.get_by_role("button", name="Delete all conversations…").click()
    page.get_by_role("button", name="Delete all", exact=True).click()
    expect(sidebar_open(page)).to_have_count(0)
    expect(user_messages(page)).to_have_count(0)


def test_the_sidebar_belongs_to_the_chat_tab_and_leaves_the_image_tab_its_width(
    page: Page,
) -> None:
    send_and_wait_for_reply(page, "Before the pictures")
    expect(sidebar_open(page)).to_have_count(1)  # opened where there is room
    chat_left = page.locator("#chatbot").bounding_box()
    assert chat_left is not None and chat_left["x"] > 300

    page.get_by_role("tab", name="Image").click()
    expect(page.locator("#sidebar")).to_be_hidden()
    prompt = page.locator("#prompt textarea")
    expect(prompt).to_be_visible()
    box = prompt.bounding_box()
    assert box is not None and box["x"] < 100, box  # no blank column where the sidebar was
    page.screenshot(path=str(ARTIFACTS / "image_tab_after_sidebar.png"))

    page.get_by_role("tab", name="Chat").click()
    expect(sidebar_open(page)).to_be_visible()
    expect(listed(page)).to_have_text(["Before the pictures"])
    back = page.locator("#chatbot").bounding_box()
    assert back is not None and back["x"] == pytest.approx(chat_left["x"], abs=2)


def test_the_sidebar_in_dark_mode_marks_the_current_conversation_legibly(
    browser: Any, studio: RunningStudio, request: pytest.FixtureRequest
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    page = context.new_page()
    try:
        page.goto(studio.url)
        wait_until_restored(page)
        send_and_wait_for_reply(page, "Dark one")
        page.get_by_role("button", name="+ New chat").click()
        send_and_wait_for_reply(page, "Dark two")
        expect(current_title(page)).to_have_text("Dark two")
        page.get_by_role("searchbox", name="Search conversations").fill("dark")
        row_colour, text_colour, other_text = page.evaluate(
            """() => {
                const luminance = (color) => {
                    const [r, g, b] = color.match(/[\\d.]+/g).map(Number);
                    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
                };
                const current = document.querySelector("#conversations .conversation.current");
                const other = document.querySelector(
                    "#conversations .conversation:not(.current) .conversation-name"
                );
                return [
                    luminance(getComputedStyle(current).backgroundColor),
                    luminance(getComputedStyle(current.querySelector("button")).color),
                    luminance(getComputedStyle(other).color),
                ];
            }"""
        )
        assert row_colour < 90 < 150 < text_colour, (row_colour, text_colour)
        assert other_text > 150, other_text
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()


def test_conversations_saved_under_another_secret_are_reported_not_dropped_silently(
    browser: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        with running_app(["--demo"], tmp_path / "first.log", WEBSIM_STUDIO_SECRET="one") as app:
            port = int(app.url.rstrip("/").rsplit(":", 1)[1])
            page.goto(app.url)
            wait_until_restored(page)
            send_and_wait_for_reply(page, "Written under the first secret")
        with running_app(
            ["--demo"], tmp_path / "second.log", port=port, WEBSIM_STUDIO_SECRET="two"
        ) as app:
            page.goto(app.url)
            wait_until_restored(page)
            notice_box = page.locator("#unreadable-notice")
            expect(notice_box).to_contain_text("Your saved conversations could not be read")
            expect(notice_box).to_contain_text("changed the key it saves them with")
            expect(notice_box).not_to_contain_text("WEBSIM_")
            kept_aside = page.evaluate(
                "Object.keys(localStorage).filter((key) => key.includes(':unreadable:'))"
            )
            assert len(kept_aside) == 1
            # Said once: the next visit starts quietly, and saves as usual.
            send_and_wait_for_reply(page, "Written under the second secret")
            page.reload()
            wait_until_restored(page)
            expect(page.locator("#unreadable-notice")).to_be_hidden()
            expect(user_messages(page)).to_have_text(["Written under the second secret"])
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()


# -- Phone and look -------------------------------------------------------------------------------


def in_view(page: Page, selector: str) -> bool:
    box = page.locator(selector).first.bounding_box()
    size = page.viewport_size
    assert box is not None and size is not None
    return box["y"] >= 0 and box["y"] + box["height"] <= size["height"] and box["x"] >= 0


def test_on_a_phone_title_tabs_and_box_are_in_view_at_load_and_nothing_overflows(
    phone_page: Page,
) -> None:
    page = phone_page
    assert page.evaluate("window.scrollY") == 0
    for selector in ("#page-title h1", "button[role=tab]:has-text('Image')", "#draft textarea"):
        assert in_view(page, selector), selector
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    expect(page.locator("#sidebar.open")).to_have_count(0)  # folded away
    footer = page.locator("footer")
    expect(footer.get_by_text("Use via API")).to_be_visible()
    expect(footer.get_by_text("Settings")).to_be_visible()

    send_and_wait_for_reply(page, "Hello from a phone")
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    page.screenshot(path=str(ARTIFACTS / "phone_conversation.png"))


def test_dark_mode_draws_dark_surfaces_and_light_text(
    browser: Any, studio: RunningStudio, request: pytest.FixtureRequest
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme="dark")
    page = context.new_page()
    try:
        page.goto(studio.url)
        wait_until_restored(page)
        send_and_wait_for_reply(page, "Hello in the dark")
        background, text = page.evaluate(
            """() => {
                const luminance = (color) => {
                    const [r, g, b] = color.match(/[\\d.]+/g).map(Number);
                    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
                };
                const container = document.querySelector(".gradio-container");
                const said = document.querySelector("#chatbot [data-testid='bot']");
                return [
                    luminance(getComputedStyle(container).backgroundColor),
                    luminance(getComputedStyle(said).color),
                ];
            }"""
        )
        assert background < 60 < 150 < text, (background, text)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()


# -- Layout, editing, keys ------------------------------------------------------------------------


def box_of(page: Page, selector: str) -> dict[str, float]:
    box = page.locator(selector).first.bounding_box()
    assert box is not None, selector
    return box


def set_sidebar_open(page: Page, wanted: bool) -> None:
    if (page.locator("#sidebar.open").count() == 1) != wanted:
        page.locator("#sidebar .toggle-button").click()
    expect(page.locator("#sidebar.open")).to_have_count(1 if wanted else 0)


def expect_a_chat_app(page: Page, header_at_most: float) -> None:
    """The conversation takes the window's height under a compact header, the box sits at the
    bottom under it, and the page itself does not scroll."""
    height = page.viewport_size["height"] if page.viewport_size else 0
    conversation, box = box_of(page, "#chatbot"), box_of(page, "#draft")
    settings, footer = box_of(page, "#chat-settings"), box_of(page, "footer")
    assert conversation["y"] <= header_at_most, conversation
    # Below the conversation: the box, the folded settings and Gradio's footer, then the end.
    assert 0 <= box["y"] - (conversation["y"] + conversation["height"]) <= 24
    assert box["y"] + box["height"] <= settings["y"] <= footer["y"]
    assert height - 48 <= footer["y"] + footer["height"] <= height
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight + 1")


@pytest.mark.parametrize("sidebar", [True, False], ids=["sidebar-open", "sidebar-closed"])
def test_on_a_desktop_the_conversation_fills_the_window_and_the_box_stays_at_the_bottom(
    page: Page, sidebar: bool
) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    set_sidebar_open(page, sidebar)
    expect_a_chat_app(page, header_at_most=140)
    box_at = box_of(page, "#draft")

    for number in range(1, 7):
        words = " ".join(["with a few more words"] * 8)
        send_and_wait_for_reply(page, f"Message {number} {words}", messages_sent=2 * number - 1)

    # The conversation scrolls inside itself; the box has not moved and nothing else scrolls.
    expect_a_chat_app(page, header_at_most=140)
    assert box_of(page, "#draft") == box_at
    scrolled = page.locator("#chatbot .bubble-wrap")
    assert scrolled.evaluate("(wrap) => wrap.scrollHeight > wrap.clientHeight + 100")
    expect(user_messages(page).last).to_be_in_viewport()
    page.screenshot(
        path=str(ARTIFACTS / f"desktop_conversation_{'with' if sidebar else 'no'}_sidebar.png")
    )


def test_on_a_phone_the_header_is_compact_and_the_box_stays_at_the_bottom(
    phone_page: Page,
) -> None:
    page = phone_page
    expect_a_chat_app(page, header_at_most=150)
    for number in range(1, 5):
        words = " ".join(["and some words"] * 6)
        send_and_wait_for_reply(page, f"Phone {number} {words}", messages_sent=2 * number - 1)
    expect_a_chat_app(page, header_at_most=150)
    conversation = box_of(page, "#chatbot")
    assert conversation["height"] >= 0.6 * 844
    expect(draft_box(page)).to_be_in_viewport()


def test_the_settings_fold_away_with_a_one_line_note_and_the_exports_in_view(
    page: Page,
) -> None:
    expect(page.get_by_label("System prompt")).to_be_hidden()
    send_and_wait_for_reply(page, "Something to export")

    open_settings(page)

    note = page.locator("#model-note")
    expect(note).to_contain_text("Websim chooses")
    expect(note).to_contain_text("Ctrl+Shift+O")
    lines = note.locator("p").evaluate(
        "(p) => Math.round(p.getBoundingClientRect().height"
        " / parseFloat(getComputedStyle(p).lineHeight))"
    )
    assert lines == 2  # the model's line, and the keys' line
    for name in ("Export Markdown", "Export JSON"):
        expect(page.get_by_role("button", name=name, exact=True)).to_be_in_viewport()
    assert page.evaluate("document.documentElement.scrollHeight <= window.innerHeight + 1")


@pytest.mark.parametrize("where", ["desktop", "phone"])
def test_an_edit_is_wide_enter_sends_it_shift_enter_adds_a_line_and_esc_cancels(
    browser: Any, studio: RunningStudio, where: str
) -> None:
    size = {"width": 1280, "height": 900} if where == "desktop" else {"width": 390, "height": 844}
    context = browser.new_context(viewport=size)
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        page.goto(studio.url)
        wait_until_restored(page)
        send_and_wait_for_reply(page, "Frist words")
        chatbot = page.locator("#chatbot")

        chatbot.get_by_role("button", name="Edit", exact=True).click()
        editing = chatbot.locator("textarea.edit-textarea")
        expect(editing).to_be_focused()
        assert (
            box_of(page, "#chatbot textarea.edit-textarea")["width"]
            >= 0.5 * box_of(page, "#chatbot")["width"]
        )
        expect(chatbot.get_by_role("button", name="Save and send")).to_be_visible()
        expect(chatbot.get_by_role("button", name="Cancel editing")).to_be_visible()
        editing.fill("First words")
        editing.press("Shift+Enter")
        editing.press_sequentially("and a second line")
        expect(editing).to_have_value("First words\nand a second line")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"editing_{where}.png"))
        editing.press("Enter")

        expect(editing).to_have_count(0)
        # Websim was sent the edited text, its two lines as typed.
        expect(bot_messages(page)).to_have_count(1)
        reply = bot_messages(page).first
        expect(reply).to_contain_text("Emulator reply to 1 message. You said: First words")
        assert reply.inner_text().strip().endswith("First words\nand a second line")
        expect(user_messages(page)).to_have_count(1)
        assert user_messages(page).first.inner_text().strip() == "First words\nand a second line"
        expect(draft_box(page)).to_be_enabled()

        chatbot.get_by_role("button", name="Edit", exact=True).click()
        editing.fill("Never sent")
        editing.press("Escape")
        expect(editing).to_have_count(0)
        expect(user_messages(page).first).to_contain_text("First words")
        expect(bot_messages(page)).to_have_count(1)
    finally:
        page.screenshot(path=str(ARTIFACTS / f"editing_{where}_end.png"))
        context.close()


def test_esc_stops_a_slow_reply_from_anywhere_and_the_box_has_the_focus_again(
    page: Page, faults: FaultQueue
) -> None:
    faults("chat", {"type": "hang", "seconds": 30})
    send(page, "Take your time")
    expect(bot_messages(page)).to_contain_text(["Waiting for Websim"])
    page.locator("#page-title").click()  # the focus anywhere but the box

    stopped_at = time.monotonic()
    page.keyboard.press("Escape")

    expect(draft_box(page)).to_be_enabled(timeout=2_000)
    assert time.monotonic() - stopped_at < 2
    expect(bot_messages(page).last).to_contain_text("Stopped")
    expect(draft_box(page)).to_be_focused()


def test_the_stop_button_reads_as_stop(page: Page, faults: FaultQueue) -> None:
    faults("chat", {"type": "hang", "seconds": 30})
    send(page, "Hold on")
    stop = page.locator("#draft").get_by_role("button", name="Stop")
    expect(stop).to_be_visible()
    # A filled square in a round button, not an empty square that reads as a checkbox.
    shape = stop.evaluate(
        """(button) => {
            const box = button.getBoundingClientRect();
            const square = getComputedStyle(button.querySelector("svg rect"));
            return [box.width === box.height, getComputedStyle(button).borderRadius,
                    square.fill !== "none", getComputedStyle(button).backgroundColor];
        }"""
    )
    assert shape[:3] == [True, "50%", True], shape
    assert shape[3] not in {"rgba(0, 0, 0, 0)", "transparent"}, shape
    stop.locator("..").screenshot(path=str(ARTIFACTS / "stop_button.png"))
    page.keyboard.press("Escape")
    expect(draft_box(page)).to_be_enabled(timeout=2_000)


def test_esc_stops_an_image_generation_too(page: Page, faults: FaultQueue) -> None:
    faults("image", {"type": "hang", "seconds": 20})
    page.get_by_role("tab", name="Image").click()
    page.locator("#prompt textarea").fill("This one hangs")
    page.locator("#generate").click()
    expect(page.locator("#image-stop")).to_be_visible()
    expect(page.locator("#image-status")).to_contain_text("Waiting for Websim")

    page.keyboard.press("Escape")

    expect(page.locator("#image-status")).to_contain_text("Stopped", timeout=2_000)
    expect(page.locator("#generate")).to_be_visible()


def test_focus_is_in_the_box_after_sending_and_switching_and_ctrl_shift_o_starts_a_new_chat(
    page: Page,
) -> None:
    send_and_wait_for_reply(page, "About cats")
    expect(draft_box(page)).to_be_focused()

    page.locator("#page-title").click()
    page.keyboard.press("Control+Shift+O")
    expect(user_messages(page)).to_have_count(0)
    expect(draft_box(page)).to_be_focused()
    send_and_wait_for_reply(page, "About dogs")
    expect(listed(page)).to_have_text(["About dogs", "About cats"])

    listed(page).filter(has_text="About cats").click()
    expect(user_messages(page)).to_have_text(["About cats"])
    expect(draft_box(page)).to_be_focused()

    # From the Image tab too: back to Chat, on a new conversation.
    page.get_by_role("tab", name="Image").click()
    page.keyboard.press("Control+Shift+O")
    expect(page.get_by_role("tab", name="Chat")).to_have_attribute("aria-selected", "true")
    expect(user_messages(page)).to_have_count(0)
    expect(draft_box(page)).to_be_focused()


def overlap(one: dict[str, float], other: dict[str, float]) -> bool:
    return not (
        one["x"] + one["width"] <= other["x"]
        or other["x"] + other["width"] <= one["x"]
        or one["y"] + one["height"] <= other["y"]
        or other["y"] + other["height"] <= one["y"]
    )


# The README's picture of the Chat tab (docs/images/chat.png is a copy of it).
README_SCREENSHOT = ARTIFACTS / "chat.png"


def expect_the_buttons_above_the_messages(page: Page) -> None:
    """The clear and copy-all buttons sit above the part that scrolls, on no message."""
    buttons = box_of(page, "#chatbot .top-panel")
    # Where messages can show: inside the scrolling part's border, which clips what it scrolls.
    shown_from, overflow = page.locator("#chatbot .bubble-wrap").evaluate(
        "(e) => [e.getBoundingClientRect().top + e.clientTop, getComputedStyle(e).overflowY]"
    )
    assert buttons["y"] + buttons["height"] <= shown_from, (buttons, shown_from)
    assert overflow in {"auto", "scroll"}


def test_the_conversation_buttons_leave_the_first_message_room(page: Page) -> None:
    page.set_viewport_size({"width": 1280, "height": 900})
    # A short first message sits at the top right, where the clear and copy-all buttons are.
    send_and_wait_for_reply(page, "Write a haiku about a lighthouse at night.")
    send_and_wait_for_reply(page, "Now one about the sea.", messages_sent=3)

    expect_the_buttons_above_the_messages(page)
    page.mouse.move(0, 0)
    page.screenshot(path=str(README_SCREENSHOT))


def test_on_a_phone_the_conversation_buttons_sit_on_no_message(phone_page: Page) -> None:
    page = phone_page
    words = " ".join(["long enough to fill the width of a phone"] * 3)
    for number in range(1, 4):
        send_and_wait_for_reply(page, f"Message {number} {words}", messages_sent=2 * number - 1)

    # Scrolled to the last reply: what is at the top is some earlier message's middle.
    expect_the_buttons_above_the_messages(page)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_starters_are_cards_in_light_and_dark(
    browser: Any, studio: RunningStudio, scheme: str
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900}, color_scheme=scheme)
    page = context.new_page()
    try:
        page.goto(studio.url)
        wait_until_restored(page)
        looks = page.evaluate(
            """() => {
                const card = getComputedStyle(document.querySelector("#chatbot .example"));
                const chat = getComputedStyle(document.querySelector("#chatbot"));
                return [card.backgroundColor !== chat.backgroundColor,
                        parseFloat(card.borderTopWidth), card.borderTopColor];
            }"""
        )
        assert looks[0] and looks[1] >= 1, looks
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"starters_{scheme}.png"))
    finally:
        context.close()


def test_on_a_phone_the_api_panel_header_does_not_overlap_itself(phone_page: Page) -> None:
    page = phone_page
    page.locator("footer").get_by_text("Use via API").click()
    header = page.locator(".api-docs-wrap .banner-wrap")
    expect(header).to_be_visible()
    parts = [
        box_of(page, ".api-docs-wrap .banner-wrap h2 .title"),
        box_of(page, ".api-docs-wrap .banner-wrap h2 .counts"),
        box_of(page, ".api-docs-wrap .banner-wrap > button"),
    ]
    for index, part in enumerate(parts):
        for other in parts[index + 1 :]:
            assert not overlap(part, other), (part, other)
        assert part["x"] + part["width"] <= 390
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
