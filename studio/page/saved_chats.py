"""The conversations kept in one browser: what the sidebar lists, switches, renames and deletes.

The page keeps them in a `gr.BrowserState` (localStorage, encrypted with the server's secret), so
the server stores none. Its value is a `Library`:

    {"chats": [{"id", "title", "named", "updated", "history", "system_prompt"}, ...],
     "current": "<id of the conversation on the page>"}

newest first. A conversation is listed once it has a message; a new, empty one is only
`current`. The value the page starts with when nothing could be read carries `UNREAD_MARK`, which
no saved value has: that is how the page tells "nothing saved" from "saved but unreadable".
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from typing import Any

from ..turns.conversation import History, is_note, text_of

Library = dict[str, Any]
Chat = dict[str, Any]

UNREAD_MARK = "unread"
TITLE_CHARS = 48
UNTITLED = "New conversation"
# How much of a conversation's text the sidebar's search looks through: the page is sent it with
# the list, besides the library itself, so a very long conversation is searched by its start.
SEARCH_CHARS = 20_000


def empty_library() -> Library:
    """What the browser holds before anything is saved (and what it gets when reading fails)."""
    return {"chats": [], "current": "", UNREAD_MARK: True}


def read_library(value: object) -> Library:
    """A usable library from whatever the browser sent, including the single conversation the
    page kept before it had a sidebar (`{"history", "system_prompt", "model"}`)."""
    if not isinstance(value, Mapping):
        return {"chats": [], "current": ""}
    if isinstance(value.get("history"), list):
        chat = _chat(new_id(), value["history"], str(value.get("system_prompt") or ""))
        return {"chats": [chat] if chat["history"] else [], "current": chat["id"]}
    chats = [
        _chat(
            str(chat.get("id") or new_id()),
            _history_of(chat),
            str(chat.get("system_prompt") or ""),
            title=str(chat.get("title") or ""),
            named=bool(chat.get("named")),
            updated=float(chat.get("updated") or 0),
        )
        for chat in value.get("chats") or []
        if isinstance(chat, Mapping)
    ]
    chats.sort(key=lambda chat: chat["updated"], reverse=True)
    return {"chats": chats, "current": str(value.get("current") or "")}


def new_id() -> str:
    return uuid.uuid4().hex[:12]


def title_for(history: History) -> str:
    """A conversation's title: the start of the first thing the user said, on one line."""
    for message in history:
        if message.get("role") == "user" and not is_note(message):
            said = " ".join(text_of(message).split())
            if said:
                return said if len(said) <= TITLE_CHARS else said[: TITLE_CHARS - 1] + "…"
            return "Image"
    return UNTITLED


def current_chat(library: Library) -> Chat:
    """The conversation on the page: the one saved under `current`, or a new, empty one."""
    for chat in library["chats"]:
        if chat["id"] == library["current"]:
            return dict(chat)
    return _chat(library["current"] or new_id(), [], "")


def save_current(library: Library, history: History, system_prompt: str) -> Library:
    """The library with the page's conversation saved as the newest; an empty one is dropped."""
    chat = current_chat(library)
    others = [saved for saved in library["chats"] if saved["id"] != chat["id"]]
    if not history:
        return {"chats": others, "current": chat["id"]}
    unchanged = chat["history"] == history and chat["system_prompt"] == system_prompt
    updated = chat["updated"] if unchanged else time.time()
    title = chat["title"] if chat["named"] else title_for(history)
    saved = {**chat, "history": history, "system_prompt": system_prompt}
    saved |= {"title": title, "updated": updated}
    chats = sorted([saved, *others], key=lambda each: each["updated"], reverse=True)
    return {"chats": chats, "current": chat["id"]}


def start_new(library: Library) -> Library:
    """A new, empty conversation on the page; the others stay listed."""
    return {"chats": list(library["chats"]), "current": new_id()}


def switch_to(library: Library, chat_id: str) -> Library:
    if not any(chat["id"] == chat_id for chat in library["chats"]):
        return library
    return {"chats": list(library["chats"]), "current": chat_id}


def rename(library: Library, chat_id: str, title: str) -> Library:
    """Give a conversation its own title; a blank one goes back to the first message's."""
    title = " ".join(title.split())[:120]
    chats = [
        {**chat, "title": title or title_for(chat["history"]), "named": bool(title)}
        if chat["id"] == chat_id
        else chat
        for chat in library["chats"]
    ]
    return {"chats": chats, "current": library["current"]}


def delete(library: Library, chat_id: str) -> Library:
    """Remove a conversation; the page goes to the newest left, or a new one."""
    chats = [chat for chat in library["chats"] if chat["id"] != chat_id]
    current = library["current"]
    if current == chat_id:
        current = chats[0]["id"] if chats else new_id()
    return {"chats": chats, "current": current}


def clear_all() -> Library:
    return {"chats": [], "current": new_id()}


def entries(library: Library) -> list[dict[str, Any]]:
    """What the sidebar's list shows and searches, newest first: each kept conversation's id,
    title, what was said in it (on one line, up to `SEARCH_CHARS`) and whether it is on the page."""
    return [
        {
            "id": chat["id"],
            "title": chat["title"],
            "text": said_in(chat["history"]),
            "current": chat["id"] == library["current"],
        }
        for chat in library["chats"]
    ]


def said_in(history: History) -> str:
    """The text of a conversation's messages, notes left out, on one line."""
    said = " ".join(text_of(message) for message in history if not is_note(message))
    return " ".join(said.split())[:SEARCH_CHARS]


def _history_of(chat: Mapping[str, Any]) -> History:
    history = chat.get("history")
    return history if isinstance(history, list) else []


def _chat(
    chat_id: str,
    history: History,
    system_prompt: str,
    *,
    title: str = "",
    named: bool = False,
    updated: float = 0.0,
) -> Chat:
    return {
        "id": chat_id,
        "title": title or title_for(history),
        "named": named,
        "updated": updated,
        "history": history,
        "system_prompt": system_prompt,
    }
