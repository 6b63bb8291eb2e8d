"""The conversations sidebar: the conversations kept in this browser, newest first.

New chat, switch, rename, delete and clear all. What each does to the kept conversations is in
`studio.page.saved_chats`; here are the controls and their events. The Chat tab passes `show`, which
puts a library's current conversation on the page, and the components it fills.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import gradio as gr

from .common import QUICK
from .saved_chats import (
    Library,
    clear_all,
    current_chat,
    delete,
    listing,
    read_library,
    rename,
    start_new,
    switch_to,
)


@dataclass(frozen=True)
class Sidebar:
    """The sidebar's components, built inside the page's Blocks."""

    listed: gr.Radio
    title: gr.Textbox
    new: gr.Button
    delete: gr.Button
    clear: gr.Button
    confirm_clear: gr.Button
    keep: gr.Button

    @property
    def shown(self) -> list[Any]:
        """What `listed_updates` fills, in order."""
        return [self.listed, self.title, self.delete]


def build_sidebar() -> Sidebar:
    # Folded by default: a phone opens on the conversation; the page's script unfolds it on a
    # screen wide enough to show both.
    with gr.Sidebar(label="Conversations", open=False, elem_id="sidebar"):
        new = gr.Button("+ New chat", variant="primary", size="sm", elem_id="new-chat")
        listed = gr.Radio(
            [],
            label="Kept in this browser",
            info="Newest first. Nothing is kept on the server.",
            elem_id="conversations",
        )
        title = gr.Textbox(
            label="Title",
            placeholder="Named after its first message",
            info="Type a title, then Enter.",
            max_lines=1,
            interactive=False,
            elem_id="chat-title",
        )
        delete_button = gr.Button(
            "Delete this conversation", size="sm", variant="secondary", interactive=False
        )
        clear = gr.Button("Delete all conversations…", size="sm", variant="secondary")
        with gr.Row():
            confirm_clear = gr.Button("Delete all", size="sm", variant="stop", visible=False)
            keep = gr.Button("Keep them", size="sm", variant="secondary", visible=False)
    return Sidebar(listed, title, new, delete_button, clear, confirm_clear, keep)


def listed_updates(library: Library) -> tuple[Any, ...]:
    """The list, the current conversation's title box and its delete button, for `library`."""
    chat = current_chat(library)
    kept = any(saved["id"] == chat["id"] for saved in library["chats"])
    return (
        gr.Radio(choices=listing(library), value=chat["id"] if kept else None),
        gr.Textbox(value=chat["title"] if kept else "", interactive=kept),
        gr.Button(interactive=kept),
    )


def wire_sidebar(
    sidebar: Sidebar,
    library: gr.BrowserState,
    show: Callable[[Library], tuple[Any, ...]],
    shown: Sequence[Any],
    cancels: Sequence[Any],
) -> None:
    """Connect the sidebar: each action changes the kept conversations, then `show` puts the
    current one in `shown`. Any of them stops a reply on its way (`cancels`): it belonged to
    the conversation being left, which keeps a note saying it got no reply."""

    def act(change: Callable[[Library], Library]) -> Callable[[Any], tuple[Any, ...]]:
        return lambda value: show(change(read_library(value)))

    def switch(value: Any, chat_id: str | None) -> tuple[Any, ...]:
        return show(switch_to(read_library(value), chat_id or ""))

    def retitle(value: Any, title: str) -> tuple[Any, ...]:
        library_now = read_library(value)
        renamed = rename(library_now, library_now["current"], title)
        return (renamed, *listed_updates(renamed))

    def remove(value: Any) -> tuple[Any, ...]:
        library_now = read_library(value)
        return show(delete(library_now, library_now["current"]))

    everything = list(shown)
    sidebar.new.click(act(start_new), library, everything, cancels=list(cancels), **QUICK)
    sidebar.listed.input(
        switch, [library, sidebar.listed], everything, cancels=list(cancels), **QUICK
    )
    sidebar.delete.click(remove, library, everything, cancels=list(cancels), **QUICK)
    # Enter renames. (Not on leaving the box: that would race a click on another conversation,
    # and put back the one being left.)
    sidebar.title.submit(retitle, [library, sidebar.title], [library, *sidebar.shown], **QUICK)

    # Deleting every conversation asks once more, in place.
    asking = [sidebar.clear, sidebar.confirm_clear, sidebar.keep]
    sidebar.clear.click(lambda: _asking(True), None, asking, **QUICK)
    sidebar.keep.click(lambda: _asking(False), None, asking, **QUICK)
    sidebar.confirm_clear.click(
        lambda: _asking(False), None, asking, cancels=list(cancels), **QUICK
    ).then(lambda: show(clear_all()), None, everything, **QUICK)


def _asking(asking: bool) -> tuple[Any, ...]:
    return (
        gr.Button(visible=not asking),
        gr.Button(visible=asking),
        gr.Button(visible=asking),
    )
