"""The page in a real browser: Debian's Chromium, driven by Playwright, against `app.py --demo`.

The app runs as its own process, as a person would start it, answering from the bundled emulator;
faults are staged through the emulator's control endpoint. A screenshot of every test's last state
goes to tests/artifacts/<test name>.png.
"""

from __future__ import annotations

import base64
import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from gradio_client import Client
from PIL import Image
from playwright.sync_api import Browser, Locator, Page, Request, expect, sync_playwright

from tests.app_process import LOCAL, running_app
from websim_core.catalog import DEFAULT_CHAT_MODEL

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags Chromium keeps dialling Google on a closed network.
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SECRET = "browser-tests-fixed-secret"
EMULATOR_LINE = re.compile(r"Offline demo: Websim emulator serving on (http://\S+)")


@dataclass(frozen=True)
class RunningStudio:
    """`python app.py --demo` serving the page at `url`, its emulator at `emulator_url`.

    Its temporary folder (TMPDIR) is `files`: whatever the server writes, it writes there.
    """

    url: str
    emulator_url: str
    files: Path


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStudio]:
    """The app started once for this module, stopped after its last test."""
    log = tmp_path_factory.mktemp("studio") / "app.log"
    files = tmp_path_factory.mktemp("studio-files")
    with running_app(["--demo"], log, WEBSIM_STUDIO_SECRET=SECRET, TMPDIR=str(files)) as app:
        # Printed before the server starts, so it is in the log once the page answers.
        found = EMULATOR_LINE.search(app.output())
        if found is None:
            pytest.fail(f"app.py --demo did not say where its emulator is:\n{app.output()}")
        yield RunningStudio(app.url, found.group(1), files)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(
            f"the browser tests drive {CHROMIUM}: apt-get install chromium (as .ci/run does)"
        )
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        expect.set_options(timeout=10_000)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, studio: RunningStudio, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The page loaded in a fresh browser context (its own localStorage and Gradio session)."""
    context = browser.new_context(viewport={"width": 1280, "height": 1000}, accept_downloads=True)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    try:
        # "networkidle": the page's load events (restoring the saved conversation) have answered,
        # so nothing typed by a test can be overwritten by them.
        opened.goto(studio.url, wait_until="networkidle")
        yield opened
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")
        opened.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()


FaultQueue = Callable[..., None]


def _call_emulator(method: str, url: str, payload: Any = None) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    control = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with LOCAL.open(control, timeout=5) as response:
        return json.load(response)


@pytest.fixture
def faults(studio: RunningStudio) -> Iterator[FaultQueue]:
    """Queue faults on the app's emulator: `faults("chat", {"type": "status", "code": 400})`.

    Whatever a test leaves unconsumed is cleared after it.
    """
    endpoint = studio.emulator_url + "/emulator/faults"

    def queue(kind: str, *staged: dict[str, Any]) -> None:
        answer = _call_emulator("POST", endpoint, {"kind": kind, "faults": list(staged)})
        assert answer == {"queued": len(staged)}

    yield queue
    _call_emulator("DELETE", endpoint)


# -- helpers ------------------------------------------------------------------------------------


def draft_box(page: Page) -> Locator:
    return page.locator("#draft textarea")


def user_messages(page: Page) -> Locator:
    return page.locator("#chatbot [data-testid='user']")


def bot_messages(page: Page) -> Locator:
    return page.locator("#chatbot [data-testid='bot']")


def send(page: Page, text: str) -> None:
    draft_box(page).fill(text)
    draft_box(page).press("Enter")


def send_and_wait_for_reply(page: Page, text: str, messages_sent: int = 1) -> None:
    """Send `text` and wait until the reply is in and the box is open for the next message."""
    send(page, text)
    plural = "message" if messages_sent == 1 else "messages"
    expect(bot_messages(page).last).to_have_text(
        f"Emulator reply to {messages_sent} {plural}. You said: {text}"
    )
    # Unlocked by the last step of a turn, the one that also saves it in the browser.
    expect(draft_box(page)).to_be_enabled()


# -- Chat ---------------------------------------------------------------------------------------


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
IMAGE_LOADED = """image => (image.complete && image.naturalWidth > 0)
    || new Promise((done, failed) => {
        image.addEventListener("load", () => done(true));
        image.addEventListener("error", () => failed(new Error(`${image.src} did not load`)));
    })"""
LIGHTHOUSE = "A lighthouse on a cliff at dawn"


def generate_image(page: Page, prompt: str, aspect_ratio: str) -> None:
    page.get_by_role("tab", name="Image").click()
    page.locator("#aspect-ratio").get_by_label(aspect_ratio, exact=True).check()
    page.locator("#prompt textarea").fill(prompt)
    page.locator("#generate").click()


def test_an_image_comes_in_the_chosen_aspect_ratio_with_its_caption(page: Page) -> None:
    generate_image(page, LIGHTHOUSE, "16:9")

    result = page.locator("#result img")
    expect(result).to_be_visible()
    result.evaluate(IMAGE_LOADED)
    width, height = result.evaluate("image => [image.naturalWidth, image.naturalHeight]")
    assert width / height == pytest.approx(16 / 9, rel=0.01), (width, height)
    expect(page.locator("#image-status")).to_contain_text("Done: 16:9")
    expect(page.locator("#result-caption")).to_have_text(LIGHTHOUSE)
    thumbnails = page.locator("#gallery img")
    expect(thumbnails).to_have_count(1)
    expect(thumbnails).to_have_attribute("alt", LIGHTHOUSE)
    assert thumbnails.get_attribute("src") == result.get_attribute("src")


def test_the_gallery_shows_the_new_image_whole_with_its_caption(page: Page) -> None:
    generate_image(page, LIGHTHOUSE, "16:9")
    expect(page.locator("#image-status")).to_contain_text("Done")

    gallery = page.locator("#gallery")
    gallery.scroll_into_view_if_needed()

    # Both measured against what the gallery's own scroll window clips, not just the page.
    thumbnail = gallery.get_by_role("button", name="Thumbnail 1 of 1")
    expect(thumbnail).to_be_in_viewport(ratio=0.95, timeout=5_000)
    expect(gallery.get_by_text(LIGHTHOUSE)).to_be_in_viewport(timeout=5_000)
