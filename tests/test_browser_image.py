"""The Image tab in a real browser (fixtures in tests/browser_support.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

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
