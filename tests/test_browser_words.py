# ruff: noqa: RUF001  (Russian words are written in Cyrillic letters)
"""The page in the browser's language: a Russian browser reads Russian, any other English."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.browser_support import (
    ARTIFACTS,
    PHONE,
    FaultQueue,
    RunningStudio,
    bot_messages,
    browser,
    draft_box,
    faults,
    open_page,
    page,
    send,
    studio,
)
from tests.test_accessibility import violations

__all__ = ["browser", "faults", "page", "studio"]


@pytest.fixture
def russian_page(
    browser: Browser, studio: RunningStudio, request: pytest.FixtureRequest
) -> Iterator[Page]:
    yield from open_page(browser, studio.url, request, locale="ru-RU")


def test_a_russian_browser_says_so_to_the_page_and_the_server(russian_page: Page) -> None:
    assert russian_page.evaluate("navigator.language") == "ru-RU"
    with russian_page.expect_request(lambda sent: sent.resource_type == "document") as asked:
        russian_page.reload()
    assert asked.value.all_headers()["accept-language"].startswith("ru")


def test_the_chat_tab_and_the_sidebar_are_in_russian(russian_page: Page) -> None:
    page = russian_page
    expect(page.get_by_role("tab", name="Чат")).to_be_visible()
    expect(page.get_by_role("tab", name="Изображение")).to_be_visible()
    expect(page.locator("#page-title")).to_contain_text("Чат с ИИ-моделями Websim")
    expect(page.locator("#offline-notice")).to_contain_text("Демо без сети")
    expect(draft_box(page)).to_have_attribute("placeholder", "Сообщение для Websim")
    expect(page.locator("#chatbot")).to_contain_text("Спросите что угодно.")
    expect(page.locator("#chatbot")).to_contain_text("Напиши хокку о маяке ночью.")
    expect(page.locator("#chat-settings")).to_contain_text("Настройки и экспорт")
    expect(page.locator("#new-chat")).to_have_text("+ Новый чат")
    expect(page.locator("#kept-where")).to_contain_text("Хранятся в этом браузере")
    search = page.locator("#conversations input[type=search]")
    expect(search).to_have_attribute("placeholder", "Поиск по разговорам")
    expect(page.locator("#conversations")).to_contain_text("Разговоров пока нет.")
    expect(page.locator("body")).not_to_contain_text("Message Websim")
    expect(page.locator("html")).to_have_attribute("lang", "ru")


def test_a_stopped_reply_says_so_in_russian(russian_page: Page, faults: FaultQueue) -> None:
    page = russian_page
    faults("chat", {"type": "hang", "seconds": 20})
    send(page, "Расскажи длинную историю")
    expect(bot_messages(page).last).to_contain_text("Ждём Websim")
    page.locator("#draft").get_by_role("button", name="Stop").click()
    expect(bot_messages(page).last).to_contain_text("■ Остановлено")
    expect(bot_messages(page).last).to_contain_text(
        "Вы остановили ответ до того, как он пришёл. «Повторить» отправит сообщение ещё раз."
    )
    expect(draft_box(page)).to_be_enabled()


def test_the_image_tab_is_in_russian_with_its_status_lines(
    russian_page: Page, faults: FaultQueue
) -> None:
    page = russian_page
    page.get_by_role("tab", name="Изображение").click()
    expect(page.locator("#prompt")).to_contain_text("Описание")
    expect(page.locator("#aspect-ratio")).to_contain_text("Соотношение сторон")
    expect(page.locator("#image-count")).to_contain_text("Сколько изображений")
    expect(page.locator("#image-examples")).to_contain_text("Рыжая лиса спит в свежем снегу")
    page.locator("#prompt textarea").fill("Маяк на скале")
    page.locator("#generate").click()
    expect(page.locator("#image-status")).to_contain_text("Готово: 1:1")
    expect(page.locator("#generate")).to_have_text("Создать")
    expect(page.locator("#result")).to_contain_text("Скачать")
    expect(page.locator("#gallery")).to_contain_text("Ваши изображения (1)")

    faults("image", {"type": "hang", "seconds": 20})
    page.locator("#generate").click()
    expect(page.locator("#image-status")).to_contain_text("Ждём Websim")
    page.locator("#image-stop").click()
    expect(page.locator("#image-status")).to_contain_text("Остановлено: запрос к Websim отменён")


def test_an_english_browser_reads_english(page: Page) -> None:
    assert page.evaluate("navigator.language") == "en-US"
    expect(page.get_by_role("tab", name="Chat")).to_be_visible()
    expect(draft_box(page)).to_have_attribute("placeholder", "Message Websim")
    expect(page.locator("#chatbot")).to_contain_text("Write a haiku about a lighthouse at night.")
    expect(page.locator("#new-chat")).to_have_text("+ New chat")
    search = page.locator("#conversations input[type=search]")
    expect(search).to_have_attribute("placeholder", "Search conversations")
    expect(page.locator("body")).not_to_contain_text("Новый чат")
    expect(page.locator("html")).to_have_attribute("lang", "en")


@pytest.mark.parametrize("size", ["desktop", "phone", "dark"])
def test_the_russian_page_fits_its_longer_words(
    browser: Browser, studio: RunningStudio, request: pytest.FixtureRequest, size: str
) -> None:
    options: dict[str, Any] = {
        "phone": {"viewport": PHONE, "is_mobile": True, "has_touch": True},
        "dark": {"color_scheme": "dark"},
    }.get(size, {})
    for opened in open_page(browser, studio.url, request, locale="ru-RU", **options):
        overflow = "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        assert opened.evaluate(overflow) == 0
        opened.screenshot(path=str(ARTIFACTS / f"russian_start_{size}.png"))
        send(opened, "Привет! Как дела?")
        expect(bot_messages(opened).last).to_contain_text("Emulator reply")
        expect(draft_box(opened)).to_be_enabled()
        opened.get_by_role("button", name="Настройки и экспорт").click()
        assert opened.evaluate(overflow) == 0
        # The settings opened, with their longer words, leave the message box whole in view.
        expect(draft_box(opened)).to_be_in_viewport(ratio=1)
        box = draft_box(opened).bounding_box()
        assert box is not None and box["height"] >= 20, box
        found = violations(opened)
        assert not found, "\n" + "\n".join(found)
        opened.screenshot(path=str(ARTIFACTS / f"russian_chat_{size}.png"), full_page=True)
        opened.get_by_role("tab", name="Изображение").click()
        opened.locator("#prompt textarea").fill("Маяк на скале на рассвете")
        opened.locator("#generate").click()
        expect(opened.locator("#image-status")).to_contain_text("Готово")
        assert opened.evaluate(overflow) == 0
        found = violations(opened)
        assert not found, "\n" + "\n".join(found)
        opened.screenshot(path=str(ARTIFACTS / f"russian_image_{size}.png"), full_page=True)
