"""The Image tab in a real browser (fixtures in tests/browser_support.py)."""

from __future__ import annotations

import re
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, Locator, Page, expect

from studio.page.image_tab import EXAMPLES, KEPT_IMAGES, NOTICE_SECONDS
from tests.app_process import NOT_FOR_SENDING, running_app
from tests.browser_support import (
    ARTIFACTS,
    EMULATOR_LINE,
    FaultQueue,
    RunningStudio,
    _call_emulator,
    wait_until_restored,
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
    # The browser then fetches and keeps the picture, and shows it once kept.
    expect(page.locator("#result-caption")).to_have_text(prompt)


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
    # Shown from the bytes this browser keeps, not from the server's file.
    assert (result.get_attribute("src") or "").startswith("blob:")
    thumbnails = page.locator("#gallery img")
    expect(thumbnails).to_have_count(1)
    expect(thumbnails).to_have_attribute("alt", LIGHTHOUSE)
    assert (thumbnails.get_attribute("src") or "").startswith("blob:")


def test_the_gallery_shows_the_new_image_whole_with_its_caption_under_it(page: Page) -> None:
    generate_and_wait(page, LIGHTHOUSE, "16:9")

    gallery = page.locator("#gallery")
    gallery.scroll_into_view_if_needed()

    thumbnail = gallery.get_by_role("button", name=LIGHTHOUSE)
    expect(thumbnail).to_be_in_viewport(ratio=0.95, timeout=5_000)
    picture = thumbnail.locator("img")
    picture.evaluate(IMAGE_LOADED)
    caption = thumbnail.locator(".gallery-caption")
    expect(caption).to_have_text(LIGHTHOUSE)
    picture_box, caption_box = picture.bounding_box(), caption.bounding_box()
    assert picture_box is not None and caption_box is not None
    # Below the picture, covering none of it.
    assert caption_box["y"] >= picture_box["y"] + picture_box["height"] - 0.5


def test_a_failure_clears_the_last_result_rather_than_showing_it_beside_the_error(
    page: Page, faults: FaultQueue
) -> None:
    generate_and_wait(page, LIGHTHOUSE, "16:9")
    faults("image", {"type": "missing_field"})

    page.locator("#prompt textarea").fill("This one fails")
    page.locator("#generate").click()

    expect(page.locator("#image-status")).to_contain_text("Websim's image reply had no image")
    expect(page.locator("#result img")).to_have_count(0)
    expect(page.locator("#result-caption")).to_have_count(0)
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


def test_clicking_an_example_clears_an_earlier_error(page: Page, faults: FaultQueue) -> None:
    faults("image", {"type": "missing_field"})
    generate_image(page, "This one fails", "1:1")
    expect(page.locator("#image-status")).to_contain_text("Websim's image reply had no image")

    text, _ = EXAMPLES[0]
    page.locator("#image-examples").get_by_role("button", name=text).click()

    expect(page.locator("#prompt textarea")).to_have_value(text)
    expect(page.locator("#image-status")).to_have_text("")


def test_downloads_are_named_from_the_prompt_and_ratio(page: Page) -> None:
    generate_and_wait(page, LIGHTHOUSE, "16:9")

    with page.expect_download() as from_result:
        page.locator("#result").get_by_role("link", name="Download").click()
    page.locator("#gallery").get_by_role("button", name=LIGHTHOUSE).click()
    with page.expect_download() as from_gallery:
        page.get_by_role("dialog").get_by_role("link", name="Download").click()

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
    # Brought into view by the page, not by the test: at 390 by 844 it comes below the form.
    expect(page.locator("#result img")).to_be_in_viewport(ratio=0.9)
    assert overflow() == 0
    page.screenshot(path=str(ARTIFACTS / "image_tab_phone.png"))


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


# -- kept in the browser ------------------------------------------------------------------------

# What this browser keeps, read from IndexedDB itself: [id, prompt, ratio, bytes], newest first.
KEPT = """() => new Promise((done, failed) => {
    const opening = indexedDB.open("websim-studio-images");
    opening.onerror = () => failed(opening.error);
    opening.onsuccess = () => {
        const reading = opening.result.transaction("images").objectStore("images").getAll();
        reading.onsuccess = () => {
            opening.result.close();
            done(reading.result
                .sort((a, b) => b.made - a.made || a.index - b.index)
                .map((record) => [record.id, record.prompt, record.ratio, record.blob.size]));
        };
    };
})"""


def gallery_items(page: Page) -> Locator:
    return page.locator("#gallery .gallery-item")


def test_images_stay_in_the_gallery_after_a_reload_and_open_large(page: Page) -> None:
    generate_and_wait(page, LIGHTHOUSE, "16:9")
    generate_and_wait(page, "A red fox asleep", "4:3")

    page.reload()
    wait_until_restored(page)
    open_image_tab(page)

    expect(gallery_items(page)).to_have_count(2)
    expect(page.locator("#gallery img").first).to_have_attribute("alt", "A red fox asleep")
    kept = page.evaluate(KEPT)
    assert [(prompt, ratio) for _, prompt, ratio, _ in kept] == [
        ("A red fox asleep", "4:3"),
        (LIGHTHOUSE, "16:9"),
    ]
    assert all(size > 1000 for *_, size in kept)  # the image's bytes, not an address

    opener = page.locator("#gallery").get_by_role("button", name=LIGHTHOUSE)
    opener.press("Enter")  # by keyboard as well as by click
    view = page.get_by_role("dialog")
    expect(view).to_be_visible()
    expect(view.locator(".image-view-prompt")).to_have_text(LIGHTHOUSE)
    expect(view).to_contain_text("Aspect ratio 16:9")
    view.locator("img").evaluate(IMAGE_LOADED)
    expect(view).to_be_in_viewport(ratio=1)  # whole, in the middle of the window
    page.screenshot(path=str(ARTIFACTS / "image_tab_large_view.png"))
    page.keyboard.press("Escape")
    expect(view).to_have_count(0)
    expect(opener).to_be_focused()  # back where the person was

    opener.click()
    page.get_by_role("button", name="Use this prompt again").click()
    expect(page.get_by_role("dialog")).to_have_count(0)
    expect(page.locator("#prompt textarea")).to_have_value(LIGHTHOUSE)
    expect(page.locator("#aspect-ratio").get_by_label("16:9", exact=True)).to_be_checked()
    expect(page.locator("#prompt-counter")).to_have_text(
        f"{len(LIGHTHOUSE)} / {MAX_PROMPT_CHARS:,}"
    )
    # What the page's boxes hold is what the server gets: Enter makes it again.
    page.locator("#prompt textarea").press("Enter")
    expect(page.locator("#image-status")).to_contain_text("Done: 16:9")
    expect(page.locator("#result-caption")).to_have_text(LIGHTHOUSE)
    expect(gallery_items(page)).to_have_count(3)


# Two servers start one after the other, each some 15 s on a busy machine.
@pytest.mark.timeout(120)
def test_images_stay_after_the_server_restarts_with_none_of_its_files(
    browser: Browser, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 1000})
    context.set_default_timeout(15_000)
    page = context.new_page()
    try:
        first_files, second_files = tmp_path / "first", tmp_path / "second"
        first_files.mkdir()
        second_files.mkdir()
        with running_app(["--demo"], tmp_path / "first.log", TMPDIR=str(first_files)) as app:
            port = int(app.url.rstrip("/").rsplit(":", 1)[1])
            page.goto(app.url)
            wait_until_restored(page)
            generate_and_wait(page, LIGHTHOUSE, "16:9")
            expect(gallery_items(page)).to_have_count(1)
        # Another process on the same address, its files folder new: the first one's are gone.
        with running_app(
            ["--demo"], tmp_path / "second.log", port=port, TMPDIR=str(second_files)
        ) as app:
            assert not any(first_files.iterdir())  # removed as the first server stopped
            page.goto(app.url)
            wait_until_restored(page)
            open_image_tab(page)
            thumbnail = page.locator("#gallery img")
            expect(thumbnail).to_have_attribute("alt", LIGHTHOUSE)
            thumbnail.evaluate(IMAGE_LOADED)
            width, height = thumbnail.evaluate("image => [image.naturalWidth, image.naturalHeight]")
            assert width / height == pytest.approx(16 / 9, rel=0.01)
    finally:
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
        context.close()


def test_past_the_cap_the_oldest_image_is_dropped(page: Page) -> None:
    generate_and_wait(page, "The first one", "1:1")
    # The store filled to its cap with older copies of it, as if made over the past days.
    page.evaluate(
        """(cap) => new Promise((done, failed) => {
            const opening = indexedDB.open("websim-studio-images");
            opening.onsuccess = () => {
                const transaction = opening.result.transaction("images", "readwrite");
                const store = transaction.objectStore("images");
                const reading = store.getAll();
                reading.onsuccess = () => {
                    const [made] = reading.result;
                    for (let day = 1; day < cap; day++) {
                        store.put({ ...made, id: `day-${day}`, made: made.made - day * 86400000,
                                    prompt: `Made ${day} days ago` });
                    }
                };
                transaction.oncomplete = () => { opening.result.close(); done(); };
                transaction.onerror = () => failed(transaction.error);
            };
        })""",
        KEPT_IMAGES,
    )
    page.reload()
    wait_until_restored(page)
    open_image_tab(page)
    expect(gallery_items(page)).to_have_count(KEPT_IMAGES)

    generate_and_wait(page, "One more", "1:1")

    expect(gallery_items(page).first.locator("img")).to_have_attribute("alt", "One more")
    prompts = [prompt for _, prompt, *_ in page.evaluate(KEPT)]
    assert len(prompts) == KEPT_IMAGES
    assert f"Made {KEPT_IMAGES - 1} days ago" not in prompts  # the oldest went
    assert f"Made {KEPT_IMAGES - 2} days ago" in prompts
    assert prompts[:2] == ["One more", "The first one"]
    expect(gallery_items(page)).to_have_count(KEPT_IMAGES)
    expect(page.locator("#gallery h2")).to_have_text(f"Your images ({KEPT_IMAGES})")


def test_clear_images_empties_the_gallery_and_offers_undo(page: Page) -> None:
    generate_and_wait(page, LIGHTHOUSE, "16:9")
    generate_and_wait(page, "A red fox asleep", "4:3")
    gallery = page.locator("#gallery")

    gallery.get_by_role("button", name="Clear images").click()
    expect(gallery_items(page)).to_have_count(0)
    expect(gallery.get_by_role("status")).to_have_text("Cleared 2 images. Undo")
    assert page.evaluate(KEPT) == []

    gallery.get_by_role("button", name="Undo").click()
    expect(gallery_items(page)).to_have_count(2)
    assert len(page.evaluate(KEPT)) == 2

    gallery.get_by_role("button", name="Clear images").click()
    expect(gallery_items(page)).to_have_count(0)
    page.reload()
    wait_until_restored(page)
    open_image_tab(page)
    expect(gallery).to_contain_text("The images you make are kept in this browser")
    expect(gallery_items(page)).to_have_count(0)
    expect(gallery.get_by_role("button", name="Clear images")).to_have_count(0)


# -- several at once ----------------------------------------------------------------------------


def test_several_images_come_as_a_grid_each_downloadable(page: Page, studio: RunningStudio) -> None:
    open_image_tab(page)
    page.locator("#image-count").get_by_label("3", exact=True).check()

    generate_and_wait(page, LIGHTHOUSE, "16:9")

    pictures = page.locator("#result .result-image img")
    expect(pictures).to_have_count(3)
    tops = set()
    for picture in pictures.all():
        picture.evaluate(IMAGE_LOADED)
        box = picture.bounding_box()
        assert box is not None
        tops.add(round(box["y"]))
    assert len(tops) == 2  # two to a row
    names = []
    for number in (1, 2, 3):
        with page.expect_download() as download:
            page.locator("#result").get_by_role("link", name=f"Download image {number}").click()
        names.append(download.value.suggested_filename)
    stem = LIGHTHOUSE_FILE.removesuffix(".png")
    assert names == [f"{stem}.png", f"{stem}-2.png", f"{stem}-3.png"]
    expect(gallery_items(page)).to_have_count(3)
    page.screenshot(path=str(ARTIFACTS / "image_tab_three_at_once.png"), full_page=True)


def test_a_client_short_of_the_number_asked_for_gets_a_notice_and_nothing_is_sent(
    browser: Browser, tmp_path: Path
) -> None:
    with running_app(
        ["--demo"], tmp_path / "app.log", WEBSIM_STUDIO_REQUESTS_PER_MINUTE="3"
    ) as app:
        page = browser.new_context(viewport={"width": 1280, "height": 1000}).new_page()
        try:
            page.goto(app.url)
            wait_until_restored(page)
            open_image_tab(page)
            page.locator("#image-count").get_by_label("2", exact=True).check()
            generate_and_wait(page, LIGHTHOUSE, "16:9")  # one left
            found = EMULATOR_LINE.search(app.output())
            assert found is not None
            # Taken instead of a reply by whatever is sent next; nothing should be.
            faults = found.group(1) + "/emulator/faults"
            staged = {"kind": "image", "faults": [NOT_FOR_SENDING.to_dict()] * 2}
            assert _call_emulator("POST", faults, staged) == {"queued": 2}

            page.locator("#prompt textarea").fill("Two more")
            page.locator("#generate").click()

            expect(page.locator(".toast-body").filter(has_text="try again in")).to_be_visible()
            expect(page.locator("#result .result-image img")).to_have_count(2)  # as it was
            expect(page.locator("#prompt textarea")).to_have_value("Two more")
            expect(page.locator("#generate")).to_be_visible()
            assert _call_emulator("DELETE", faults) == {"cleared": 2}  # neither was sent
        finally:
            page.context.close()


# -- look ---------------------------------------------------------------------------------------


def colour(element: Locator, property: str) -> tuple[int, ...]:
    """The element's computed colour `property` as red, green, blue."""
    value = element.evaluate(f"node => getComputedStyle(node).{property}")
    return tuple(int(part) for part in re.findall(r"[\d.]+", value)[:3])


def test_the_tab_has_the_whole_width_and_chat_gets_its_conversations_back(page: Page) -> None:
    sidebar = page.locator("#sidebar")
    expect(sidebar).to_be_visible()  # opened by itself on a wide screen
    open_image_tab(page)

    expect(sidebar).to_be_hidden()
    tab, gallery = page.locator(".gradio-container").bounding_box(), page.locator("#gallery")
    box = gallery.bounding_box()
    assert tab is not None and box is not None
    assert box["width"] > tab["width"] - 80, (box, tab)

    page.get_by_role("tab", name="Chat").click()
    expect(sidebar).to_be_visible()


def test_stop_reads_as_stop(page: Page, faults: FaultQueue) -> None:
    faults("image", {"type": "hang", "seconds": 20})
    generate_image(page, "This one hangs", "1:1")

    stop = page.locator("#image-stop")
    expect(stop).to_have_text("■ Stop generating")
    red, green, blue = colour(stop, "backgroundColor")
    assert red > green + 60 and red > blue + 60, (red, green, blue)  # red, not a pale grey
    page.screenshot(path=str(ARTIFACTS / "image_tab_stop.png"))
    stop.click()
    expect(page.locator("#generate")).to_be_visible()


def test_the_tab_in_dark_mode_and_its_screenshot(
    browser: Browser, studio: RunningStudio, request: pytest.FixtureRequest
) -> None:
    """image_tab_light.png is the README's picture of the tab (docs/images/image.png)."""
    for scheme in ("light", "dark"):
        context = browser.new_context(viewport={"width": 1280, "height": 1000}, color_scheme=scheme)
        page = context.new_page()
        try:
            page.goto(studio.url)
            wait_until_restored(page)
            generate_and_wait(page, "A red fox asleep in fresh snow", "4:3")
            generate_and_wait(page, LIGHTHOUSE, "16:9")
            page.locator("#result img").evaluate(IMAGE_LOADED)
            for thumbnail in page.locator("#gallery img").all():
                thumbnail.evaluate(IMAGE_LOADED)
            page.mouse.move(0, 0)  # Generate as it looks at rest, not under the pointer
            light_text = sum(colour(page.locator("#gallery h2"), "color")) > 450
            assert light_text == (scheme == "dark")
        finally:
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"image_tab_{scheme}.png"), full_page=True)
            context.close()


def test_on_a_phone_in_the_dark_the_gallery_and_large_view_fit(
    browser: Browser, studio: RunningStudio
) -> None:
    context = browser.new_context(
        viewport=PHONE, device_scale_factor=3, has_touch=True, is_mobile=True, color_scheme="dark"
    )
    page = context.new_page()
    try:
        page.goto(studio.url)
        wait_until_restored(page)
        generate_and_wait(page, "A hot-air balloon festival at dusk, flat shapes", "9:16")
        generate_and_wait(page, LIGHTHOUSE, "16:9")
        page.locator("#gallery").scroll_into_view_if_needed()
        page.screenshot(path=str(ARTIFACTS / "image_tab_phone_gallery_dark.png"))
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
        tall = page.locator("#gallery").get_by_role("button", name="A hot-air balloon festival")
        tall.tap()
        view = page.get_by_role("dialog")
        view.locator("img").evaluate(IMAGE_LOADED)
        box = view.bounding_box()
        assert box is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        assert box["y"] >= 0 and box["y"] + box["height"] <= PHONE["height"]
        expect(view.get_by_role("button", name="Use this prompt again")).to_be_in_viewport()
        page.screenshot(path=str(ARTIFACTS / "image_tab_phone_large_view_dark.png"))
        view.get_by_role("button", name="Close").tap()
        expect(view).to_have_count(0)
    finally:
        context.close()
