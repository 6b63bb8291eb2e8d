# ruff: noqa: RUF001  (Russian words are written in Cyrillic letters)
"""The page's own words, in English and Russian: one dictionary per language, the same keys.

Gradio translates what it is given as `WORDS(key)` in the browser, by the browser's language
(`ru…` gives Russian, any other English): labels, placeholders, button and tab names, Markdown,
and a Markdown value an event returns (`token`; Gradio replaces only the first one in a value).
What Gradio does not translate (a notice, the Chatbot's
messages and examples, the Image tab's example chips) is worded here by the request's
Accept-Language (`language_of`, `said`), by the same rule. The browser code's words are in
words.js. The stored conversation keeps its notes in English (studio.turns is UI-neutral):
`worded` words them as they are shown. docs/app.md says how to add a language.
"""

from __future__ import annotations

import re
from typing import Any

import gradio as gr
from gradio.i18n import I18nData

from websim_core.catalog import DEFAULT_CHAT_MODEL, DEFAULT_IMAGE_MODEL

from ..turns import conversation
from .browser_code import Expression, source

ENGLISH = "en"

EN: dict[str, str] = {
    "page.title": "# Websim Studio\nChat with Websim's AI models and generate images.",
    "page.offline": (
        "**Offline demo:** replies and images come from an emulator on this server, not websim.ai."
    ),
    "chat.tab": "Chat",
    "chat.conversation": "Conversation",
    "chat.placeholder": (
        "**Ask anything.** Enter sends, Shift+Enter starts a new line; attach images with the clip."
    ),
    "chat.draft": "Message Websim",
    "chat.settings": "Settings and exports",
    "chat.system": "System prompt",
    "chat.system_placeholder": "Optional: how the assistant should behave",
    "chat.notes": (
        "**Model:** Websim chooses (its chat API takes no model name); "
        f"exports label it `{DEFAULT_CHAT_MODEL}`, Websim's default.  \n"
        "**Keys:** Enter sends, Shift+Enter adds a line, Esc stops a reply, "
        "Ctrl+Shift+O starts a new chat."
    ),
    "chat.export_markdown": "Export Markdown",
    "chat.export_json": "Export JSON",
    "chat.unreadable": (
        "**Your saved conversations could not be read.** This server has changed the key it "
        "saves them with since. They are kept aside in this browser, unread; conversations from "
        "now on are saved as usual."
    ),
    "chat.not_sent": "Not sent",
    "chat.not_sent_yet": "Not sent yet",
    "turn.empty": "Type a message or attach an image first.",
    "chat.starter.1": "Explain how a rainbow forms, in three sentences.",
    "chat.starter.2": "Write a haiku about a lighthouse at night.",
    "chat.starter.3": "Suggest five names for a friendly robot.",
    "chat.starter.4": "What should I check before buying a used bicycle?",
    "note.no_reply": conversation.ERROR_TITLE,
    "note.stopped": conversation.STOPPED_TITLE,
    "note.waiting": conversation.PENDING_TITLE,
    "note.retry": conversation.RETRY_TEXT,
    "note.not_sent": conversation.NOT_SENT_TEXT,
    "note.stopped_cause": conversation.STOPPED_CAUSE,
    "note.lost_cause": conversation.LOST_CAUSE,
    "note.attempt": "Attempt {attempt} of {attempts}…",
    "turn.waiting": "Waiting for Websim…",
    "turn.waiting_attempt": "Waiting for Websim (attempt {attempt} of {attempts})…",
    "turn.downloading": "Downloading the image…",
    "turn.downloading_many": "Downloading the images ({count})…",
    "turn.done": "Done: {ratio}, {model}.",
    "sidebar.label": "Conversations",
    "sidebar.new": "+ New chat",
    "sidebar.kept": "Kept in this browser, not on the server.",
    "sidebar.clear": "Delete all conversations…",
    "sidebar.confirm_clear": "Delete all",
    "sidebar.keep": "Keep them",
    "image.tab": "Image",
    "image.prompt": "Prompt",
    "image.prompt_placeholder": "A lighthouse on a cliff at dawn, watercolour",
    "image.prompt_info": "Enter generates; Shift+Enter adds a line.",
    "image.ratio": "Aspect ratio",
    "image.count": "Number of images",
    "image.generate": "Generate",
    "image.stop": "■ Stop generating",
    "image.note": (
        f"**Model:** {DEFAULT_IMAGE_MODEL}, the only one: Websim's image endpoint takes no "
        "model name."
    ),
    "image.examples": "Examples: click one to fill in the prompt",
    "image.example.1": "A lighthouse on a cliff at dawn, watercolour",
    "image.example.2": "A red fox asleep in fresh snow, morning light",
    "image.example.3": "A bowl of ramen from above, studio photo",
    "image.example.4": "Hot-air balloon festival poster, flat shapes",
    "image.stopped": "⏹️ Stopped: the request to Websim was cancelled and no image was made.",
}

RU: dict[str, str] = {
    "page.title": "# Websim Studio\nЧат с ИИ-моделями Websim и создание изображений.",
    "page.offline": (
        "**Демо без сети:** ответы и изображения выдаёт эмулятор на этом сервере, а не websim.ai."
    ),
    "chat.tab": "Чат",
    "chat.conversation": "Разговор",
    "chat.placeholder": (
        "**Спросите что угодно.** Enter — отправить, Shift+Enter — новая строка; "
        "изображения прикрепляются скрепкой."
    ),
    "chat.draft": "Сообщение для Websim",
    "chat.settings": "Настройки и экспорт",
    "chat.system": "Системный промпт",
    "chat.system_placeholder": "Необязательно: как должен вести себя ассистент",
    "chat.notes": (
        "**Модель:** выбирает Websim (API чата не принимает название модели); "
        f"в экспорте — `{DEFAULT_CHAT_MODEL}`, модель Websim по умолчанию.  \n"
        "**Клавиши:** Enter — отправить, Shift+Enter — новая строка, Esc — остановить ответ, "
        "Ctrl+Shift+O — новый чат."
    ),
    "chat.export_markdown": "Экспорт в Markdown",
    "chat.export_json": "Экспорт в JSON",
    "chat.unreadable": (
        "**Не удалось прочитать сохранённые разговоры.** С тех пор сервер сменил ключ, которым "
        "их сохраняет. Они отложены в этом браузере непрочитанными; новые разговоры "
        "сохраняются как обычно."
    ),
    "chat.not_sent": "Не отправлено",
    "chat.not_sent_yet": "Пока не отправлено",
    "turn.empty": "Сначала напишите сообщение или прикрепите изображение.",
    "chat.starter.1": "Объясни в трёх предложениях, как появляется радуга.",
    "chat.starter.2": "Напиши хокку о маяке ночью.",
    "chat.starter.3": "Предложи пять имён для дружелюбного робота.",
    "chat.starter.4": "Что проверить перед покупкой подержанного велосипеда?",
    "note.no_reply": "⚠️ Нет ответа",
    "note.stopped": "■ Остановлено",
    "note.waiting": "⏳ Ждём Websim",
    "note.retry": "«Повторить» отправит сообщение ещё раз.",
    "note.not_sent": (
        "Не отправлено вместе с последующими сообщениями: измените его, чтобы отправить."
    ),
    "note.stopped_cause": "Вы остановили ответ до того, как он пришёл.",
    "note.lost_cause": "Ответ не пришёл: страницу перезагрузили или закрыли раньше.",
    "note.attempt": "Попытка {attempt} из {attempts}…",
    "turn.waiting": "Ждём Websim…",
    "turn.waiting_attempt": "Ждём Websim (попытка {attempt} из {attempts})…",
    "turn.downloading": "Загружаем изображение…",
    "turn.downloading_many": "Загружаем изображения ({count})…",
    "turn.done": "Готово: {ratio}, {model}.",
    "sidebar.label": "Разговоры",
    "sidebar.new": "+ Новый чат",
    "sidebar.kept": "Хранятся в этом браузере, а не на сервере.",
    "sidebar.clear": "Удалить все разговоры…",
    "sidebar.confirm_clear": "Удалить все",
    "sidebar.keep": "Оставить",
    "image.tab": "Изображение",
    "image.prompt": "Описание",
    "image.prompt_placeholder": "Маяк на скале на рассвете, акварель",
    "image.prompt_info": "Enter — создать; Shift+Enter — новая строка.",
    "image.ratio": "Соотношение сторон",
    "image.count": "Сколько изображений",
    "image.generate": "Создать",
    "image.stop": "■ Остановить",
    "image.note": (
        f"**Модель:** {DEFAULT_IMAGE_MODEL}, единственная: API изображений Websim не принимает "
        "название модели."
    ),
    "image.examples": "Примеры: нажмите, чтобы подставить описание",
    "image.example.1": "Маяк на скале на рассвете, акварель",
    "image.example.2": "Рыжая лиса спит в свежем снегу, утренний свет",
    "image.example.3": "Миска рамена сверху, студийное фото",
    "image.example.4": "Афиша фестиваля воздушных шаров, плоские формы",
    "image.stopped": "⏹️ Остановлено: запрос к Websim отменён, изображение не создано.",
}

LANGUAGES: dict[str, dict[str, str]] = {"en": EN, "ru": RU}
WORDS = gr.I18n(**LANGUAGES)
# The browser code's words (words.js), in the browser's language: the `say` its files take.
BROWSER_WORDS = Expression(f"({source('words.js')})().wordsFor(navigator.language)")
BROWSER_LANGUAGE = Expression(f"({source('words.js')})().languageOf(navigator.language)")

STARTERS = ["chat.starter.1", "chat.starter.2", "chat.starter.3", "chat.starter.4"]
EXAMPLES = ["image.example.1", "image.example.2", "image.example.3", "image.example.4"]

# What studio.turns writes for the page (notes, refusals, the Image tab's steps), English being
# its words: sentences with values are matched whole, the others replaced wherever they are,
# longest first, so that a sentence goes whole before any shorter one inside it.
_TURN_KEYS = [key for key in EN if key.startswith(("note.", "turn."))]
_TEMPLATES = [
    (re.compile(re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>.+?)", re.escape(EN[key]))), key)
    for key in _TURN_KEYS
    if "{" in EN[key]
]
_SENTENCES = sorted(
    ((EN[key], key) for key in _TURN_KEYS if "{" not in EN[key]), key=lambda pair: -len(pair[0])
)
_TAG = re.compile(r"[A-Za-z]{1,8}")


def word(key: str) -> I18nData:
    """`key`'s words for a component: Gradio translates them in the browser."""
    if key not in EN:
        raise KeyError(key)
    return WORDS(key)


def token(key: str) -> str:
    """`key` as text Gradio translates inside a Markdown value an event returns."""
    return str(word(key))


def language_of(request: Any) -> str:
    """The page's language for a request: Russian when the browser's first language is
    Russian (`ru`, `ru-RU`), English otherwise (the Accept-Language header, as Chromium and
    Firefox send `navigator.language` first)."""
    headers = getattr(request, "headers", None)
    header = headers.get("accept-language", "") if headers is not None else ""
    found = _TAG.match(str(header).strip())
    tag = found.group(0).lower() if found else ""
    return tag if tag in LANGUAGES else ENGLISH


def said(key: str, language: str, **values: Any) -> str:
    """`key`'s words in `language`, with `values` filled in."""
    return LANGUAGES.get(language, EN)[key].format(**values)


def worded(text: str, language: str) -> str:
    """A note's title or text, a refusal or a step of an image, as studio.turns wrote it, in
    `language`. Words it does not know (Websim's own failure details) stay as they are."""
    if language == ENGLISH or not text:
        return text
    for pattern, key in _TEMPLATES:
        found = pattern.fullmatch(text)
        if found:
            return said(key, language, **found.groupdict())
    for english, key in _SENTENCES:
        text = text.replace(english, said(key, language))
    return text
