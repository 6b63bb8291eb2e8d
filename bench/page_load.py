"""Benchmark the page's cold load beside Gradio's bare `ChatInterface`, in one browser, one run.

Run from a checkout: `python bench/page_load.py [--rounds N] [--quick]`. Two servers start side by
side: the app (`python app.py` against the emulator, configured through its environment as
deployed) and the floor, `bench/bare_chat_page.py`, a `gr.ChatInterface` with Gradio's defaults.
Each round opens each page once in a fresh browser context (an empty cache, as a first visit),
the two interleaved, and measures:

- ready: milliseconds from navigation until the message box accepts typing (it is on screen and
  neither disabled nor read-only), read by the page itself at each animation frame;
- fetched: the bytes that came over the wire (compressed sizes, as Chromium counts them) and the
  number of requests, until a second after the box was ready.

Medians of the rounds are printed, then the ratios studio / floor last. Absolute times depend on
this machine's load: they are information; the ratio is the figure. This script reports; it is
not a test: only a server that will not start makes it fail.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from playwright.sync_api import Browser, sync_playwright
from processes import (
    REPO_ROOT,
    START_TIMEOUT,
    StartError,
    app_process,
    emulator_process,
    free_port,
    stop,
)

CHROMIUM = "/usr/bin/chromium"
LOOPBACK = "http://127.0.0.1:"
# Without the background-networking flags Chromium keeps dialling out on a closed network.
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
DEFAULT_ROUNDS = 7
QUICK_ROUNDS = 2
SETTLE_MS = 1000
VIEWPORT = {"width": 1280, "height": 900}
# Each page's message box.
STUDIO_BOX = "#draft textarea"
FLOOR_BOX = "textarea"
STUDIO = "Websim Studio"
FLOOR = "bare ChatInterface"
# Run before the page's own scripts: from the first frame on, look for the box each frame and
# note when it first accepts typing.
WATCH_BOX = """
(() => {
    const selector = %s;
    const look = () => {
        const box = document.querySelector(selector);
        if (box && !box.disabled && !box.readOnly && box.offsetParent !== null) {
            window.__boxReadyAt = performance.now();
        } else {
            requestAnimationFrame(look);
        }
    };
    requestAnimationFrame(look);
})();
"""


@dataclass
class Loads:
    """What one page measured, a figure per round."""

    name: str
    ready_ms: list[float] = field(default_factory=list)
    fetched: list[int] = field(default_factory=list)
    requests: list[int] = field(default_factory=list)
    elsewhere: set[str] = field(default_factory=set)
    """Hosts other than this server's that the page asked for."""

    def median(self, figures: Sequence[float]) -> float:
        return statistics.median(figures)


def load_once(browser: Browser, url: str, box: str, loads: Loads) -> None:
    """Open `url` in a new, empty context and note when `box` accepts typing, and what came."""
    context = browser.new_context(viewport=VIEWPORT)
    try:
        # This machine reaches nothing beyond loopback: a request elsewhere (the default theme's
        # web fonts) is refused at once, as a browser offline would, and counted.
        context.route(lambda url: not url.startswith(LOOPBACK), lambda route: route.abort())
        page = context.new_page()
        page.on("requestfailed", lambda request: loads.elsewhere.add(request.url.split("/")[2]))
        page.add_init_script(WATCH_BOX % repr(box))
        session = context.new_cdp_session(page)
        session.send("Network.enable")
        received: list[int] = []
        session.on(
            "Network.loadingFinished",
            lambda event: received.append(int(event.get("encodedDataLength", 0))),
        )
        page.goto(url, wait_until="load", timeout=60_000)
        page.wait_for_function("window.__boxReadyAt !== undefined", timeout=60_000)
        # What the page still fetches once it can be typed in (fonts, its load events). Not
        # "network idle": Gradio's heartbeat for a page with session state never ends.
        page.wait_for_timeout(SETTLE_MS)
        loads.ready_ms.append(float(page.evaluate("window.__boxReadyAt")))
        loads.fetched.append(sum(received))
        loads.requests.append(len(received))
    finally:
        context.close()


@contextmanager
def floor_process() -> Iterator[str]:
    """bench/bare_chat_page.py on a free port, until it answers."""
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("bare_chat_page.py")), str(port)],
        cwd=REPO_ROOT,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        wait_for(url, process)
        yield url
    finally:
        stop(process)


def wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise StartError(f"{url} exited with code {process.returncode}")
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise StartError(f"nothing answered at {url} within {START_TIMEOUT:g} s")


def measure(rounds: int) -> tuple[Loads, Loads]:
    studio, floor = Loads(STUDIO), Loads(FLOOR)
    with (
        emulator_process() as emulator,
        app_process(emulator.url, {}, secret="page-load-benchmark") as app,
        floor_process() as floor_url,
        sync_playwright() as playwright,
    ):
        app.wait_until_serving()
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        # One load of each first, not counted: the servers' own first-request work (Gradio
        # builds its config and reads its templates once) is not what a visitor waits for.
        load_once(browser, app.url, STUDIO_BOX, Loads(STUDIO))
        load_once(browser, floor_url, FLOOR_BOX, Loads(FLOOR))
        for number in range(rounds):
            # Interleaved, and alternating who goes first: a noisy moment hits both.
            pair = [(app.url, STUDIO_BOX, studio), (floor_url, FLOOR_BOX, floor)]
            for url, box, loads in pair if number % 2 == 0 else reversed(pair):
                load_once(browser, url, box, loads)
        browser.close()
    return studio, floor


def report(studio: Loads, floor: Loads, rounds: int) -> None:
    print(f"Cold load of the page, {rounds} interleaved rounds, medians (fresh browser context)")
    print(f"  {'page':<22}{'ready ms':>10}{'range ms':>16}{'fetched KB':>12}{'requests':>10}")
    for loads in (studio, floor):
        low, high = min(loads.ready_ms), max(loads.ready_ms)
        print(
            f"  {loads.name:<22}{statistics.median(loads.ready_ms):>10.0f}"
            f"{f'{low:.0f}-{high:.0f}':>16}"
            f"{statistics.median(loads.fetched) / 1024:>12.0f}"
            f"{statistics.median(loads.requests):>10.0f}"
        )
    for loads in (studio, floor):
        if loads.elsewhere:
            print(f"  {loads.name} also asked for: {', '.join(sorted(loads.elsewhere))}")
    ready = statistics.median(studio.ready_ms) / statistics.median(floor.ready_ms)
    fetched = statistics.median(studio.fetched) / statistics.median(floor.fetched)
    print(f"cold load, studio / bare ChatInterface: ready {ready:.2f}x, fetched {fetched:.2f}x")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, help=f"rounds of both pages ({DEFAULT_ROUNDS})")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        studio, floor = measure(args.rounds)
    except StartError as error:
        print(f"cannot measure: {error}", file=sys.stderr)
        return 1
    report(studio, floor, args.rounds)
    return 0


if __name__ == "__main__":
    sys.exit(main())
