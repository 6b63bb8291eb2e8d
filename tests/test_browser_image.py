"""The Image tab in a real browser (fixtures in tests/browser_support.py)."""

from __future__ import annotations

import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Page, expect

from studio.page.image_tab import EXAMPLES, NOTICE_SECONDS
from tests.app_process import running_app
from tests.browser_support import (
    ARTIFACTS,
    EMULATOR_LINE,
    FaultQueue,
    RunningStudio,
    _call_emulator,
)
from websim_core.validation import MAX_PROMPT_CHARS

IMAGE_LOADED = """image => (image.complete && image.naturalWidth > 0)
    || new Promise((done, failed) => {
        image.addEventListener("load", () => done(true));
        image.addEventListener("error", () => failed(new Error(`${image.src} did not load`)));
    })"""
LIGHTHOUSE = "A lighthouse on a cliff at dawn"
LIGHTHOUSE_FILE = "websim-a-lighthouse-on-a-cliff-at-dawn-16x9.png"
PHONE = {"width": 390, "height": 844}


def open_image_tab(page: Page) -> None:
    page.get_by_role("tab", name="Image").click()


def generate_image(page: Page, prompt: str, aspect_ratio: str) -> None:
    open_image_tab(page)
    page.locator("#aspect-ratio").get_by_label(aspect_ratio, exact=True).check()
    page.locator("#prompt textarea").fill(prompt)
    page.locator("#generate").click()


def generate_and_wait(page: Page, prompt: str, aspect_ratio: str) -> None:
    generate_image(page, prompt, aspect_ratio)
    expect(page.locator("#image-status")).to_contain_text(f"Done: {aspect_ratio}")
    expect(page.locator("#generate")).to_be_visible()


def expect_no_error_overlay(page: Page) -> None:
    """Gradio marks a component whose event failed with a red "Error" over it: its status
    tracker, shown (not `hide`), holding an `.error`."""
    shown_trackers = page.locator("[data-testid='status-tracker']:not(.hide)")
    expect(shown_trackers.locator(".error")).to_have_count(0)


def emulator_in_flight(studio: RunningStudio) -> int:
    answer = _call_emulator("GET", studio.emulator_url + "/emulator/state")
    return int(answer["in_flight"])


def wait_for_in_flight(studio: RunningStudio, count: int, seconds: float) -> float:
    """Seconds until the emulator is answering `count` requests; fails after `seconds`."""
    started = time.monotonic()
    while emulator_in_flight(studio) != count:
        if time.monotonic() - started > seconds:
            pytest.fail(f"the emulator did not reach {count} requests in flight in {seconds} s")
        time.sleep(0.05)
    return time.monotonic() - started


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
    generate_and_wait(page, LIGHTHOUSE, "16:9")

    gallery = page.locator("#gallery")
    gallery.scroll_into_view_if_needed()

    # Both measured against what the gallery's own scroll window clips, not just the page.
    thumbnail = gallery.get_by_role("button", name="Thumbnail 1 of 1")
    expect(thumbnail).to_be_in_viewport(ratio=0.95, timeout=5_000)
    expect(gallery.get_by_text(LIGHTHOUSE)).to_be_in_viewport(timeout=5_000)


def test_a_failure_clears_the_last_result_rather_than_showing_it_beside_the_error(
    page: Page, faults: FaultQueue
) -> None:
    generate_and_wait(page, LIGHTHOUSE, "16:9")
    faults("image", {"type": "missing_field"})

    page.locator("#prompt textarea").fill("This one fails")
    page.locator("#generate").click()

    expect(page.locator("#image-status")).to_contain_text("Websim's image reply had no image")
    expect(page.locator("#result img")).to_have_count(0)
    expect(page.locator("#result-caption")).to_have_text("")
    expect_no_error_overlay(page)
    # What was typed stays, Generate is back, and the earlier image is still in the gallery.
    expect(page.locator("#prompt textarea")).to_have_value("This one fails")
    expect(page.locator("#generate")).to_be_visible()
    expect(page.locator("#gallery img")).to_have_count(1)


def test_enter_generates_and_shift_enter_adds_a_line(page: Page) -> None:
    open_image_tab(page)
    box = page.locator("#prompt textarea")
    box.fill("A lighthouse")
    box.press("Shift+Enter")
    box.press_sequentially("on a cliff")

    expect(box).to_have_value("A lighthouse\non a cliff")
    expect(page.locator("#image-status")).to_have_text("")

    box.press("Enter")

    expect(page.locator("#image-status")).to_contain_text("Done: 1:1")
    expect(box).to_have_value("A lighthouse\non a cliff")  # no line added by the Enter
    expect(page.locator("#result-caption")).to_have_text("A lighthouse\non a cliff")


def test_stop_cancels_a_hanging_generation_and_its_websim_request(
    page: Page, faults: FaultQueue, studio: RunningStudio
) -> None:
    faults("image", {"type": "hang", "seconds": 20})
    generate_image(page, "This one hangs", "1:1")

    stop = page.locator("#image-stop")
    expect(stop).to_be_visible()
    expect(page.locator("#generate")).to_be_hidden()
    expect(page.locator("#image-status")).to_contain_text("Waiting for Websim")
    wait_for_in_flight(studio, 1, 10)

    stop.click()

    expect(page.locator("#generate")).to_be_visible(timeout=2_000)
    expect(stop).to_be_hidden()
    expect(page.locator("#image-status")).to_contain_text("Stopped")
    # The emulator saw its client hang up, long before the 20 s hang would have ended.
    assert wait_for_in_flight(studio, 0, 2) < 2
    expect(page.locator("#result img")).to_have_count(0)
    expect_no_error_overlay(page)

    # The tab is usable at once: Enter generates the next one.
    page.locator("#prompt textarea").fill("After the stop")
    page.locator("#prompt textarea").press("Enter")
    expect(page.locator("#image-status")).to_contain_text("Done: 1:1")


def test_refusals_are_notices_that_go_away_and_leave_everything_as_it_was(
    page: Page,
) -> None:
    generate_and_wait(page, LIGHTHOUSE, "16:9")
    box = page.locator("#prompt textarea")
    counter = page.locator("#prompt-counter")
    too_long = "x" * (MAX_PROMPT_CHARS + 1)

    box.fill(too_long)
    expect(counter).to_have_text(f"{MAX_PROMPT_CHARS + 1:,} / {MAX_PROMPT_CHARS:,}: 1 too many")
    box.press("Enter")

    notice = page.locator(".toast-body").filter(has_text="the limit is")
    expect(notice).to_be_visible()
    # The text typed, the last picture and its caption are all as they were.
    expect(box).to_have_value(too_long)
    expect(page.locator("#result img")).to_have_count(1)
    expect(page.locator("#result-caption")).to_have_text(LIGHTHOUSE)
    expect(page.locator("#image-status")).to_contain_text("Done: 16:9")
    expect(page.locator("#generate")).to_be_visible()
    expect_no_error_overlay(page)

    box.fill("   ")
    page.locator("#generate").click()
    expect(page.locator(".toast-body").filter(has_text="must not be blank")).to_be_visible()

    expect(notice).to_be_hidden(timeout=(NOTICE_SECONDS + 4) * 1000)
    expect(page.locator(".toast-body")).to_have_count(0, timeout=(NOTICE_SECONDS + 4) * 1000)


def test_the_counter_shows_the_limit_and_an_example_fills_the_prompt(page: Page) -> None:
    open_image_tab(page)
    counter = page.locator("#prompt-counter")
    expect(counter).to_have_text(f"0 / {MAX_PROMPT_CHARS:,}")

    text, ratio = EXAMPLES[1]
    page.locator("#image-examples").get_by_role("button", name=text).click()

    expect(page.locator("#prompt textarea")).to_have_value(text)
    expect(page.locator("#aspect-ratio").get_by_label(ratio, exact=True)).to_be_checked()
    expect(counter).to_have_text(f"{len(text)} / {MAX_PROMPT_CHARS:,}")
    expect(page.locator("#image-status")).to_have_text("")  # filled in, not generated


def test_downloads_are_named_from_the_prompt_and_ratio(page: Page) -> None:
    generate_and_wait(page, LIGHTHOUSE, "16:9")

    with page.expect_download() as from_result:
        page.locator("#result").get_by_role("button", name="Download").click()
    page.locator("#gallery").get_by_role("button", name="Thumbnail 1 of 1").click()
    with page.expect_download() as from_gallery:
        page.locator("#gallery").get_by_role("button", name="Download").click()

    assert from_result.value.suggested_filename == LIGHTHOUSE_FILE
    assert from_gallery.value.suggested_filename == LIGHTHOUSE_FILE


def test_the_caption_shows_the_prompt_as_typed_and_fetches_nothing(page: Page) -> None:
    asked: list[str] = []
    page.on("request", lambda request: asked.append(request.url))
    typed = "<img src=/x-probe onerror=alert(1)> **bold** ![](http://remote.invalid/pixel.png)"

    generate_and_wait(page, typed, "1:1")

    caption = page.locator("#result-caption")
    expect(caption).to_have_text(typed)
    expect(caption.locator("img, strong, a, em")).to_have_count(0)
    addresses = [urlsplit(url) for url in asked]
    fetched = [a for a in addresses if a.path == "/x-probe" or a.hostname == "remote.invalid"]
    assert fetched == []


def test_on_a_phone_nothing_overflows_and_generate_is_in_reach(page: Page) -> None:
    page.set_viewport_size(PHONE)
    page.reload(wait_until="networkidle")  # opened on the phone, as a person would
    open_image_tab(page)

    def overflow() -> int:
        width: int = page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        return width

    assert overflow() == 0
    page.locator("#prompt textarea").fill(LIGHTHOUSE)
    generate = page.locator("#generate")
    generate.scroll_into_view_if_needed()
    expect(generate).to_be_in_viewport(ratio=1)
    generate.click()
    expect(page.locator("#image-status")).to_contain_text("Done: 1:1")
    expect(page.locator("#result img")).to_be_visible()
    assert overflow() == 0


def test_a_busy_server_is_a_passing_notice_with_no_error_over_the_picture(
    browser: Browser, tmp_path: Path
) -> None:
    # One generation at a time and one place in the queue: the third to ask finds it full.
    settings = {"WEBSIM_STUDIO_CONCURRENCY": "1", "WEBSIM_STUDIO_QUEUE_SIZE": "1"}
    with running_app(["--demo"], tmp_path / "app.log", **settings) as app:
        found = EMULATOR_LINE.search(app.output())
        assert found is not None, app.output()
        hangs = [{"type": "hang", "seconds": 20}] * 2
        _call_emulator(
            "POST", found.group(1) + "/emulator/faults", {"kind": "image", "faults": hangs}
        )
        pages = []
        for number in range(3):
            page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
            page.goto(app.url, wait_until="networkidle")
            generate_image(page, f"Picture {number}", "1:1")
            pages.append(page)
            if number < 2:
                expect(page.locator("#image-stop")).to_be_visible()
        try:
            third = pages[2]
            expect(third.locator(".toast-body").filter(has_text="busy")).to_be_visible()
            third.wait_for_timeout(500)  # time for Gradio to mark the event's outputs
            expect_no_error_overlay(third)
            expect(third.locator("#prompt textarea")).to_have_value("Picture 2")
            expect(third.locator("#generate")).to_be_visible()
        finally:
            pages[2].screenshot(path=str(ARTIFACTS / "image_tab_busy.png"), full_page=True)
            for page in pages[:2]:
                page.locator("#image-stop").click()
            for page in pages:
                page.context.close()
