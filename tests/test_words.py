"""The page's words: both languages complete, every key used, the language rule."""

from __future__ import annotations

import re
import string
from pathlib import Path
from types import SimpleNamespace

import pytest

from studio.page import words
from studio.page.rendering import shown_history
from studio.turns.conversation import LOST_TEXT, settled, user_message

PAGE = Path(words.__file__).parent
# word("key"), token("key"), said("key", …) and the keys listed in words.py itself.
USED = re.compile(
    r"""\b(?:word|token|said)\(\s*["']([\w.]+)["']|["']((?:chat|image)\.\w+\.\d)["']"""
)


def used_keys() -> set[str]:
    found: set[str] = set()
    for module in PAGE.glob("*.py"):
        for match in USED.finditer(module.read_text(encoding="utf-8")):
            found.add(match[1] or match[2])
    # Notes, refusals and the Image tab's steps are looked up by their English words.
    found |= {key for key in words.EN if key.startswith(("note.", "turn."))}
    return found


def test_both_languages_have_the_same_keys() -> None:
    assert set(words.RU) == set(words.EN)


def test_every_key_used_is_in_the_dictionaries_and_every_key_is_used() -> None:
    used = used_keys()
    assert used - set(words.EN) == set()
    assert set(words.EN) - used == set()


@pytest.mark.parametrize("key", sorted(words.EN))
def test_each_translation_takes_the_same_values(key: str) -> None:
    def fields(text: str) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(text) if name}

    assert fields(words.RU[key]) == fields(words.EN[key])
    assert words.RU[key].strip() and words.RU[key] != words.EN[key]


@pytest.mark.parametrize(
    ("header", "language"),
    [
        ("ru", "ru"),
        ("ru-RU", "ru"),
        ("ru-RU,ru;q=0.9,en;q=0.8", "ru"),
        ("RU", "ru"),
        ("en-GB", "en"),
        ("de", "en"),
        ("de-DE,ru;q=0.9", "en"),
        ("", "en"),
        (None, "en"),
    ],
)
def test_the_language_is_the_browsers_first(header: str | None, language: str) -> None:
    headers = {} if header is None else {"accept-language": header}
    assert words.language_of(SimpleNamespace(headers=headers)) == language
    assert words.language_of(None) == "en"


def test_notes_are_worded_as_shown_and_stored_in_english() -> None:
    stored = settled([user_message("Привет")])
    shown = shown_history(stored, "ru")[1]
    assert shown["metadata"]["title"] == "■ Остановлено"
    assert "Вы остановили ответ" in shown["content"][0]["text"]
    assert stored[1]["metadata"]["title"] == "■ Stopped"
    assert shown_history(stored, "en") == shown_history(stored)


def test_unknown_words_stay_as_written() -> None:
    lost = settled([user_message("a")], LOST_TEXT)[1]["content"][0]["text"]
    assert words.worded(lost, "ru").startswith("Ответ не пришёл")
    failure = "Websim refused this server's request (403). Try again later."
    assert words.worded(failure, "ru") == failure
    assert words.worded("Waiting for Websim (attempt 2 of 4)…", "ru") == (
        "Ждём Websim (попытка 2 из 4)…"
    )
    assert words.worded("Done: 16:9, flux.", "ru") == "Готово: 16:9, flux."
