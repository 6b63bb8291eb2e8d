"""axe-core (from npm, node_modules/axe-core) scans both tabs in Chromium: desktop light and dark,
and a phone. A violation of impact "serious" or "critical" fails the test with its rule, the
elements it names and axe's own sentence."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

from tests.browser_support import DESKTOP, PHONE, RunningStudio, open_page, send_and_wait_for_reply

AXE = Path(__file__).resolve().parent.parent / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("serious", "critical")
VIEWS: dict[str, dict[str, Any]] = {
    "desktop-light": {"viewport": DESKTOP, "color_scheme": "light"},
    "desktop-dark": {"viewport": DESKTOP, "color_scheme": "dark"},
    "phone": {
        "viewport": PHONE,
        "device_scale_factor": 3,
        "has_touch": True,
        "is_mobile": True,
    },
}


def violations(page: Page) -> list[str]:
    """axe's blocking findings on the page as it is now, one line each."""
    if not AXE.exists():
        pytest.fail(f"{AXE} is missing: npm ci (as .ci/run does)")
    page.add_script_tag(path=str(AXE))
    found = page.evaluate(
        """async (blocking) => {
            // A contrast finding says which colours, the first thing to know about it.
            const colours = (data) => data && data.fgColor
                ? ` (${data.fgColor} on ${data.bgColor}, ${data.contrastRatio}:1)` : "";
            const result = await axe.run(document, { resultTypes: ["violations"] });
            return result.violations
                .filter((v) => blocking.includes(v.impact))
                .map((v) => `${v.impact} ${v.id}: ${v.help} — ` +
                    v.nodes.slice(0, 6).map(
                        (n) => n.target.join(" ") + colours(n.any[0] && n.any[0].data)
                    ).join(" | "));
        }""",
        list(BLOCKING),
    )
    return [str(line) for line in found]


@pytest.fixture(params=list(VIEWS))
def viewed(
    request: pytest.FixtureRequest, browser: Browser, studio: RunningStudio
) -> Iterator[Page]:
    yield from open_page(browser, studio.url, request, **VIEWS[request.param])


def test_the_chat_tab_with_a_conversation_has_no_serious_violation(viewed: Page) -> None:
    send_and_wait_for_reply(viewed, "Hello, accessible world")
    found = violations(viewed)
    assert not found, "\n" + "\n".join(found)


def test_the_image_tab_with_a_picture_has_no_serious_violation(viewed: Page) -> None:
    viewed.get_by_role("tab", name="Image").click()
    viewed.locator("#prompt textarea").fill("A lighthouse at dawn")
    viewed.locator("#generate").click()
    viewed.locator("#result img").wait_for()
    found = violations(viewed)
    assert not found, "\n" + "\n".join(found)
