"""The conversations sidebar: the conversations kept in this browser, newest first.

New chat, then a search box over the list; each row switches to its conversation, renames it or
deletes it (asking first), and the one on the page is marked; at the bottom, delete them all
(asking first). The list is a gr.HTML built by `sidebar.js`, which searches in the browser and
sends each row's action to the server as an event of its own. What each does to the kept
conversations is in `studio.page.saved_chats`; here are the controls and their events. The Chat tab
passes `show`, which puts a library's current conversation on the page, and the components it
fills.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from .browser_code import applied
from .common import QUICK
from .saved_chats import (
    Library,
    clear_all,
    delete,
    entries,
    read_library,
    rename,
    start_new,
    switch_to,
)
from .words import BROWSER_WORDS, language_of, word

_SIDEBAR = applied("sidebar.js", BROWSER_WORDS)
# Run by the list's gr.HTML as it mounts, with Gradio's `element`, `trigger`, `props`, `watch`.
LIST_JS = f"{_SIDEBAR}.mount(element, trigger, props, watch);"
# After New chat or Delete all: the message box on a wide screen, the sidebar folded on a narrow.
SETTLE_JS = f"() => {{ {_SIDEBAR}.settle(); }}"
# What a row's event may carry: an id is new_id()'s 12 characters; a title is cut to 120 (with
# room here for the spaces `rename` folds).
_ID_CHARS = 64
_TITLE_CHARS = 1000


@dataclass(frozen=True)
class Sidebar:
    """The sidebar's components, built inside the page's Blocks."""

    listed: gr.HTML
    new: gr.Button
    clear: gr.Button
    confirm_clear: gr.Button
    keep: gr.Button

    @property
    def shown(self) -> list[Any]:
        """What `listed_updates` fills, in order."""
        return [self.listed]


def build_sidebar() -> Sidebar:
    # Folded by default: a phone opens on the conversation; the page's script unfolds it on a
    # screen wide enough to show both.
    with gr.Sidebar(label=word("sidebar.label"), open=False, elem_id="sidebar"):
        new = gr.Button(word("sidebar.new"), variant="primary", size="sm", elem_id="new-chat")
        listed = gr.HTML(
            [],
            html_template="",
            js_on_load=LIST_JS,
            apply_default_css=False,
            elem_id="conversations",
        )
        gr.Markdown(word("sidebar.kept"), elem_id="kept-where")
        clear = gr.Button(word("sidebar.clear"), size="sm", variant="secondary")
        with gr.Row():
            confirm_clear = gr.Button(
                word("sidebar.confirm_clear"), size="sm", variant="stop", visible=False
            )
            keep = gr.Button(word("sidebar.keep"), size="sm", variant="secondary", visible=False)
    return Sidebar(listed, new, clear, confirm_clear, keep)


def listed_updates(library: Library) -> tuple[Any, ...]:
    """The list for `library`, its current conversation marked."""
    return (gr.HTML(value=entries(library)),)


def wire_sidebar(
    sidebar: Sidebar,
    library: gr.BrowserState,
    show: Callable[[Library, str], tuple[Any, ...]],
    shown: Sequence[Any],
    cancels: Sequence[Any],
) -> None:
    """Connect the sidebar: each action changes the kept conversations, then `show` puts the
    current one in `shown`, its notes in the request's language. Those that change the
    conversation on the page stop a reply on its way (`cancels`): it belonged to the
    conversation being left, which keeps a note saying it got no reply. Renaming, or deleting
    another conversation, leaves the page as it is."""

    def act(change: Callable[[Library], Library]) -> Callable[..., tuple[Any, ...]]:
        def acted(value: Any, request: gr.Request) -> tuple[Any, ...]:
            return show(change(read_library(value)), language_of(request))

        return acted

    def switch(value: Any, event: gr.EventData, request: gr.Request) -> tuple[Any, ...]:
        return show(switch_to(read_library(value), chosen(event)), language_of(request))

    def retitle(value: Any, event: gr.EventData) -> tuple[Any, ...]:
        library_now = read_library(value)
        title = typed_title(event)
        if title is None:
            return gr.skip(), gr.skip()
        renamed = rename(library_now, chosen(event), title)
        return (renamed, *listed_updates(renamed))

    def remove_current(value: Any, event: gr.EventData, request: gr.Request) -> tuple[Any, ...]:
        return show(delete(read_library(value), chosen(event)), language_of(request))

    def remove_other(value: Any, event: gr.EventData) -> tuple[Any, ...]:
        library_now = read_library(value)
        chat_id = chosen(event)
        if chat_id == library_now["current"]:
            # The page shows it: only the event that stops its reply and shows another may go.
            return gr.skip(), gr.skip()
        removed = delete(library_now, chat_id)
        return (removed, *listed_updates(removed))

    everything = list(shown)
    changes_page: dict[str, Any] = {"cancels": list(cancels), **QUICK}
    sidebar.new.click(act(start_new), library, everything, **changes_page)
    sidebar.new.click(None, js=SETTLE_JS)
    listed = sidebar.listed
    listed.switch(switch, library, everything, **changes_page)
    listed.delete_current(remove_current, library, everything, **changes_page)
    listed.rename(retitle, library, [library, listed], **QUICK)
    listed.delete_other(remove_other, library, [library, listed], **QUICK)

    # Deleting every conversation asks once more, in place.
    asking = [sidebar.clear, sidebar.confirm_clear, sidebar.keep]
    sidebar.clear.click(lambda: _asking(True), None, asking, **QUICK)
    sidebar.keep.click(lambda: _asking(False), None, asking, **QUICK)
    sidebar.confirm_clear.click(lambda: _asking(False), None, asking, **changes_page).then(
        act(lambda _: clear_all()), library, everything, **QUICK
    )
    sidebar.confirm_clear.click(None, js=SETTLE_JS)


def chosen(event: gr.EventData) -> str:
    """The conversation a row's event names ("" when it names none: it may come from anyone)."""
    data = event._data
    chat_id = data.get("id") if isinstance(data, dict) else None
    return chat_id[:_ID_CHARS] if isinstance(chat_id, str) else ""


def typed_title(event: gr.EventData) -> str | None:
    """The title a row's rename event carries (cut to `_TITLE_CHARS`), or None."""
    data = event._data
    title = data.get("title") if isinstance(data, dict) else None
    return title[:_TITLE_CHARS] if isinstance(title, str) else None


def _asking(asking: bool) -> tuple[Any, ...]:
    return (
        gr.Button(visible=not asking),
        gr.Button(visible=asking),
        gr.Button(visible=asking),
    )
