"""Browser-test fixtures: Debian's Chromium, driven by Playwright, against `app.py --demo`.

The app runs as its own process, as a person would start it, answering from the bundled emulator;
faults are staged through the emulator's control endpoint. A screenshot of every test's last state
goes to tests/artifacts/<test name>.png.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright

from tests.app_process import LOCAL, EmulatorThread, running_app
from websim_core.emulator import Emulator

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
    # Set when the emulator runs in the test process, so a test can read what it received.
    emulator: Emulator | None = field(default=None, compare=False)


PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 1000}


@pytest.fixture(scope="module")
def studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStudio]:
    """The app started once for this module, stopped after its last test."""
    log = tmp_path_factory.mktemp("studio") / "app.log"
    files = tmp_path_factory.mktemp("studio-files")
    # One browser at a time sends every message of the module: a person's per-minute share
    # (tested in test_app_api.py) would refuse the later ones.
    unlimited = {"WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "0"}
    with running_app(
        ["--demo"], log, WEBSIM_STUDIO_SECRET=SECRET, TMPDIR=str(files), **unlimited
    ) as app:
        # Printed before the server starts, so it is in the log once the page answers.
        found = EMULATOR_LINE.search(app.output())
        if found is None:
            pytest.fail(f"app.py --demo did not say where its emulator is:\n{app.output()}")
        yield RunningStudio(app.url, found.group(1), files)


@pytest.fixture(scope="module")
def observed_studio(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningStudio]:
    """The app answered by an emulator running in this process: `studio.emulator` tells what
    Websim received (`requests`) and what is still waiting on it (`in_flight`)."""
    log = tmp_path_factory.mktemp("observed") / "app.log"
    files = tmp_path_factory.mktemp("observed-files")
    upstream = EmulatorThread()
    try:
        with running_app(
            [], log, WEBSIM_BASE_URL=upstream.url, WEBSIM_STUDIO_SECRET=SECRET, TMPDIR=str(files)
        ) as app:
            yield RunningStudio(app.url, upstream.url, files, upstream.emulator)
    finally:
        upstream.close()


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


def open_page(
    browser: Browser, url: str, request: pytest.FixtureRequest, **context_options: Any
) -> Iterator[Page]:
    """`url` loaded in a fresh browser context (its own localStorage and Gradio session); the
    last state's screenshot goes to tests/artifacts/<test name>.png."""
    options = {"viewport": DESKTOP, "accept_downloads": True, **context_options}
    context = browser.new_context(**options)
    context.set_default_timeout(15_000)
    opened = context.new_page()
    try:
        # Once the kept conversation is restored, nothing a test types can be overwritten by it.
        # (Not "networkidle": the page keeps its heartbeat to the server open.)
        opened.goto(url)
        wait_until_restored(opened)
        yield opened
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        name = re.sub(r"[^\w.-]+", "_", request.node.name).strip("_")
        opened.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
        context.close()


@pytest.fixture
def page(browser: Browser, studio: RunningStudio, request: pytest.FixtureRequest) -> Iterator[Page]:
    """The page at desktop size, on the `--demo` app."""
    yield from open_page(browser, studio.url, request)


@pytest.fixture
def observed_page(
    browser: Browser, observed_studio: RunningStudio, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """The page at desktop size, on the app whose emulator the test can read."""
    yield from open_page(browser, observed_studio.url, request)


@pytest.fixture
def phone_page(
    browser: Browser, studio: RunningStudio, request: pytest.FixtureRequest
) -> Iterator[Page]:
    """The page on a phone: 390 by 844 CSS pixels, touch, at a phone's pixel ratio."""
    yield from open_page(
        browser,
        studio.url,
        request,
        viewport=PHONE,
        device_scale_factor=3,
        has_touch=True,
        is_mobile=True,
    )


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


def wait_until_restored(page: Page) -> None:
    """Wait for the page's load events: the kept conversation is on the page."""
    expect(page.locator("body[data-chat-restored=yes]")).to_have_count(1)


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
