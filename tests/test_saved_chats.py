"""The conversations kept in a browser: listing, titles, switching, renaming, deleting."""

from __future__ import annotations

import gradio as gr

from studio.page.saved_chats import (
    SEARCH_CHARS,
    UNREAD_MARK,
    Library,
    current_chat,
    delete,
    empty_library,
    entries,
    read_library,
    rename,
    save_current,
    start_new,
    switch_to,
    title_for,
)
from studio.page.sidebar import chosen, typed_title
from studio.turns.conversation import assistant_message, error_note, user_message


def listed_titles(library: Library) -> list[str]:
    """The titles the sidebar lists, newest first."""
    return [entry["title"] for entry in entries(library)]


def test_conversations_are_listed_newest_first_titled_from_their_first_message() -> None:
    library = read_library(empty_library())
    library = save_current(library, [user_message("About cats"), assistant_message("Yes")], "")
    cats = library["current"]
    library = start_new(library)
    assert current_chat(library)["history"] == []
    assert listed_titles(library) == ["About cats"]  # a new chat is not listed
    library = save_current(library, [user_message("About dogs " * 10)], "Be brief")

    titles = listed_titles(library)
    assert titles == ["About dogs About dogs About dogs About dogs Abo…", "About cats"]
    library = switch_to(library, cats)
    assert current_chat(library)["history"][0] == user_message("About cats")

    renamed = rename(library, cats, "  Cats,   mostly ")
    assert listed_titles(renamed)[1] == "Cats, mostly"
    assert listed_titles(save_current(renamed, [user_message("Other")], ""))[0] == "Cats, mostly"
    assert listed_titles(rename(renamed, cats, ""))[1] == "About cats"

    remaining = delete(library, cats)
    assert listed_titles(remaining) == [titles[0]]
    assert current_chat(remaining)["system_prompt"] == "Be brief"


def test_what_the_browser_sends_is_read_whatever_its_shape() -> None:
    old_shape = {"history": [user_message("Hello")], "system_prompt": "Kind", "model": "x"}

    migrated = read_library(old_shape)

    assert listed_titles(migrated)[0] == "Hello"
    assert current_chat(migrated)["system_prompt"] == "Kind"
    assert read_library(None) == {"chats": [], "current": ""}
    assert read_library({"chats": ["junk", {"history": "junk"}]})["chats"][0]["history"] == []
    assert UNREAD_MARK in empty_library() and UNREAD_MARK not in read_library(empty_library())


def test_an_emptied_conversation_leaves_the_list() -> None:
    library = save_current(read_library(None), [user_message("Hi")], "")

    assert listed_titles(save_current(library, [], "")) == []
    assert title_for([user_message("", ["/tmp/cat.png"])]) == "Image"


def test_the_sidebar_lists_each_conversation_with_what_was_said_in_it_and_marks_the_current() -> (
    None
):
    library = save_current(read_library(None), [user_message("About cats")], "")
    cats = library["current"]
    library = save_current(
        start_new(library),
        [
            user_message("Tell me\nabout   dogs", ["/tmp/dog.png"]),
            error_note("Websim is busy"),
            assistant_message("Dogs bark."),
        ],
        "",
    )
    library = rename(library, cats, "Cats, mostly")

    listed = entries(library)

    assert [(entry["title"], entry["current"]) for entry in listed] == [
        ("Tell me about dogs", True),
        ("Cats, mostly", False),
    ]
    assert listed[0]["text"] == "Tell me about dogs Dogs bark."  # on one line, notes left out
    assert listed[1] == {
        "id": cats,
        "title": "Cats, mostly",
        "text": "About cats",
        "current": False,
    }
    long = save_current(read_library(None), [user_message("word " * SEARCH_CHARS)], "")
    assert len(entries(long)[0]["text"]) == SEARCH_CHARS
    assert entries(start_new(library))[0]["current"] is False  # a new chat is on the page


def test_what_a_row_of_the_list_sends_is_read_whoever_sent_it() -> None:
    def sent(data: object) -> gr.EventData:
        return gr.EventData(None, data)

    assert chosen(sent({"id": "a1b2c3d4e5f6"})) == "a1b2c3d4e5f6"
    assert typed_title(sent({"id": "a1", "title": "Dogs"})) == "Dogs"
    for odd in (None, "a1", ["a1"], {"id": 7}, {"id": None}, {}):
        assert chosen(sent(odd)) == ""
        assert typed_title(sent(odd)) is None
    assert len(chosen(sent({"id": "x" * 10_000}))) == 64
    assert len(typed_title(sent({"title": "y" * 10_000})) or "") == 1000
    library = save_current(read_library(None), [user_message("Hi")], "")
    renamed = rename(library, library["current"], typed_title(sent({"title": " z " * 900})) or "")
    assert len(renamed["chats"][0]["title"]) == 120
