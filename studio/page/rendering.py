"""What the Chatbot is given to show, so that text appears as it was written and fetches nothing.

Gradio's Chatbot renders every message as Markdown with raw HTML allowed (sanitised, but a
sanitised `<img src=x>` still makes the browser fetch `x`). So the page never hands it a stored
message as it is:

- the user's words become Markdown that renders as exactly those words (`literal_markdown`), and
  an edited message is read back with `from_literal_markdown`;
- a reply stays Markdown, but its raw HTML shows as text, links lead only to `http(s)` and
  `mailto` addresses (any other is shown as written), and an image is shown only when it is on
  this server (a relative address); any other becomes a link to it (`safe_reply_markdown`).

The stored history keeps the raw text: exports and Websim get what was typed and answered.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from markdown_it import MarkdownIt

from ..turns.conversation import ChatMessage, History, is_note
from .words import ENGLISH, worded

# Escaped wherever they are: each can start inline markup (emphasis, code, links, raw HTML,
# entities, tables, strike-through). A backslash may escape any ASCII punctuation in Markdown.
_ALWAYS_ESCAPED = frozenset("\\`*_[]<>&|~$")
# At the start of a line these make lists, headings and rules; elsewhere they are plain text.
_LINE_START = re.compile(r"^([ \t]*)([-+=#])", re.MULTILINE)
_ESCAPE_AFTER_DIGITS = re.compile(r"^([ \t]*\d{1,9})([.)])", re.MULTILINE)
# What keeps the user's spacing on the page: Markdown strips a line's leading spaces and HTML
# merges runs of them, but neither touches these. Typed as they are, they become references.
_NBSP, _TAB, _BLANK = "\u00a0", "\u2003\u2003", "\u200b"
_LITERAL = {char: "\\" + char for char in _ALWAYS_ESCAPED} | {
    _NBSP: "&#160;",
    "\u2003": "&#8195;",
    _BLANK: "&#8203;",
}
_KEPT_SPACES = re.compile(r"^[ \t]+|[ \t]{2,}|\t")
_READ = {_NBSP: " ", _TAB: "\t", "\u2003": "\t", _BLANK: "", "&#160;": _NBSP}
_READ |= {"&#8195;": "\u2003", "&#8203;": _BLANK}
_READ_BACK = re.compile(
    r"\\[!-/:-@\[-`{-~]|\u2003\u2003|[\u00a0\u2003\u200b]|&#160;|&#8195;|&#8203;"
)

_SAFE_SCHEMES = ("http://", "https://", "mailto:")
_PARSER = MarkdownIt("commonmark")
# For checking the result: every link and image, whatever its address (the default refuses some).
_CHECKER = MarkdownIt("commonmark")
_CHECKER.validateLink = lambda url: True  # type: ignore[method-assign]

# `[text](destination "title")`, with one level of parentheses allowed in the destination as
# in `https://en.wikipedia.org/wiki/Go_(game)`; `!` before it makes it an image.
_INLINE_LINK = re.compile(
    r"(?P<bang>!?)\[(?P<text>(?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*"
    r"(?P<dest><[^<>\n]*>|(?:[^\s()]|\([^\s()]*\))*)"
    r"(?P<title>\s+(?:\"[^\"\n]*\"|'[^'\n]*'|\([^()\n]*\)))?\s*\)"
)
_REFERENCE_IMAGE = re.compile(r"!\[(?![^\[\]]*\]\()")
# `[label]: destination`, a reference definition, at the start of a line.
_DEFINITION = re.compile(r"^( {0,3})\[([^\]\n]+)\]:[ \t]*(<[^>\n]*>|\S+)", re.MULTILINE)
_CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)


def literal_markdown(text: str) -> str:
    """Markdown that renders as exactly `text`, its spaces, indentation and blank lines
    included; a fenced code block in it renders as code.

    Outside fences every markup character is escaped. Spaces that Markdown or HTML would drop
    or merge (at a line's start, after another space) become no-break spaces and a tab two em
    spaces; an indented line starts with a zero-width space, which keeps a paragraph's first
    line from being trimmed, and so does a blank line after a blank line, so that it shows.
    Those three characters, typed as they are, are written as numeric references instead, so
    that `from_literal_markdown` can tell them apart.
    """
    return _by_fences(text, _literal_prose)


def from_literal_markdown(markdown: str) -> str:
    """The text `literal_markdown` was given; an edit typed without escapes stays as typed."""
    return _by_fences(markdown, _typed_prose)


def _by_fences(text: str, prose: Callable[[list[str]], list[str]]) -> str:
    """`text` with its lines outside top-level fenced code blocks passed through `prose`, and
    the fences' lines (the fence lines too) left as they are."""
    lines = text.split("\n")
    fenced = [False] * len(lines)
    for token in _PARSER.parse(text):
        if token.type == "fence" and token.level == 0 and token.map:
            start, end = token.map
            # The blank lines after it too: whether an unclosed fence holds them depends on
            # what they hold, and they show nothing either way.
            while end < len(lines) and not lines[end].strip(" \t"):
                end += 1
            for number in range(start, min(end, len(lines))):
                fenced[number] = True
    out: list[str] = []
    run: list[str] = []
    for line, in_fence in zip(lines, fenced, strict=True):
        if in_fence:
            out.extend(prose(run))
            run = []
            out.append(line)
        else:
            run.append(line)
    out.extend(prose(run))
    return "\n".join(out)


def _literal_prose(lines: list[str]) -> list[str]:
    if not lines:
        return []
    text = "\n".join(lines)
    escaped = "".join(_LITERAL.get(char, char) for char in text)
    escaped = _ESCAPE_AFTER_DIGITS.sub(r"\1\\\2", escaped)
    escaped = _LINE_START.sub(r"\1\\\2", escaped)
    escaped_lines = escaped.split("\n")
    shown = []
    for number, line in enumerate(escaped_lines):
        if not line and number and not escaped_lines[number - 1]:
            shown.append(_BLANK)  # Markdown would merge it with the blank line before
        else:
            shown.append(_KEPT_SPACES.sub(_kept_spaces, line))
    return shown


def _kept_spaces(match: re.Match[str]) -> str:
    spaces = match.group()
    if match.start() == 0:
        # After a zero-width space: a paragraph's first line is trimmed of no-break spaces too.
        return _BLANK + spaces.replace(" ", _NBSP).replace("\t", _TAB)
    return spaces[0].replace("\t", _TAB) + spaces[1:].replace(" ", _NBSP).replace("\t", _TAB)


def _typed_prose(lines: list[str]) -> list[str]:
    return [_READ_BACK.sub(_read_back, line) for line in lines]


def _read_back(match: re.Match[str]) -> str:
    said = match.group()
    if said.startswith("\\"):
        return said[1:]
    return _READ.get(said, "")


def safe_reply_markdown(text: str) -> str:
    """A reply's Markdown with raw HTML as text, safe links only, and no image from elsewhere."""
    lines = text.split("\n")
    in_code = [False] * len(lines)
    for token in _PARSER.parse(text):
        if token.type in ("fence", "code_block") and token.map:
            start, end = token.map
            for number in range(start, min(end, len(lines))):
                in_code[number] = True
    out: list[str] = []
    prose: list[str] = []
    for line, code in zip(lines, in_code, strict=True):
        if code:
            if prose:
                out.append(_safe_prose("\n".join(prose)))
                prose = []
            out.append(line)
        else:
            prose.append(line)
    if prose:
        out.append(_safe_prose("\n".join(prose)))
    made_safe = "\n".join(out)
    if _unsafe_target(made_safe):
        # Markup the patterns above do not read (brackets inside a link's text, say): show the
        # reply's brackets as written rather than guess where its links point.
        return "\n".join(
            line if code else line.replace("[", "\\[").replace("<", "&lt;")
            for line, code in zip(lines, in_code, strict=True)
        )
    return made_safe


def _unsafe_target(markdown: str) -> bool:
    """Whether `markdown` still holds a link off http(s)/mailto or an image from elsewhere."""
    for block in _CHECKER.parse(markdown):
        for token in block.children or []:
            if token.type == "link_open":
                href = str(token.attrGet("href") or "")
                if not (href.startswith(_SAFE_SCHEMES) or _on_this_server(href)):
                    return True
            elif token.type == "image" and not _on_this_server(str(token.attrGet("src") or "")):
                return True
    return False


def _safe_prose(text: str) -> str:
    """Outside code blocks: code spans stay as they are; everything between them is made safe."""
    pieces: list[str] = []
    position = 0
    for span in _CODE_SPAN.finditer(text):
        pieces.append(_safe_inline(text[position : span.start()]))
        pieces.append(span.group())
        position = span.end()
    pieces.append(_safe_inline(text[position:]))
    return "".join(pieces)


def _safe_inline(text: str) -> str:
    text = text.replace("<", "&lt;")
    # Reference-style images (`![alt][ref]`, `![alt]`) could load from anywhere: links instead.
    text = _REFERENCE_IMAGE.sub("!\\\\[", text)
    text = _INLINE_LINK.sub(_safe_link, text)
    return _DEFINITION.sub(_safe_definition, text)


def _safe_link(match: re.Match[str]) -> str:
    destination = match.group("dest").strip("<>")
    label = match.group("text")
    title = match.group("title") or ""
    if match.group("bang"):
        if _on_this_server(destination):
            return match.group()
        if not destination.startswith(_SAFE_SCHEMES):
            return "\\" + match.group()
        # A picture from elsewhere would be fetched by every reader's browser: link to it.
        shown = f"Image: {label}" if label.strip() else f"Image: {destination}"
        return f"[{shown}](<{destination}>{title})"
    if destination.startswith(_SAFE_SCHEMES) or _on_this_server(destination):
        return match.group()
    return "\\" + match.group()  # shown as written: a link there could run script


def _safe_definition(match: re.Match[str]) -> str:
    destination = match.group(3).strip("<>")
    if destination.startswith(_SAFE_SCHEMES) or _on_this_server(destination):
        return match.group()
    return f"{match.group(1)}\\[{match.group(2)}]: {match.group(3)}"


def _on_this_server(destination: str) -> bool:
    """A path on this server's own origin: `/...` but not `//host/...`."""
    return destination.startswith("/") and not destination.startswith("//")


def shown_message(message: ChatMessage, language: str = ENGLISH) -> ChatMessage:
    """One stored message as the Chatbot shows it: the same parts, the text made safe; a
    note in `language`."""
    if is_note(message):
        message = _worded_note(message, language)
        render = literal_markdown
    elif message.get("role") == "user":
        render = literal_markdown
    else:
        render = safe_reply_markdown
    content = message.get("content")
    if isinstance(content, str):
        return {**message, "content": render(content)}
    if not isinstance(content, list):
        return dict(message)
    parts: list[Any] = []
    for part in content:
        if isinstance(part, dict) and part.get("type") == "text":
            parts.append({**part, "text": render(str(part.get("text", "")))})
        else:
            parts.append(part)
    return {**message, "content": parts}


def shown_history(history: Sequence[ChatMessage], language: str = ENGLISH) -> History:
    """The whole conversation as the Chatbot shows it, message for message, its notes in
    `language` (see `studio.page.words`)."""
    return [shown_message(message, language) for message in history]


def _worded_note(note: ChatMessage, language: str) -> ChatMessage:
    if language == ENGLISH:
        return note
    metadata = {**note["metadata"], "title": worded(str(note["metadata"]["title"]), language)}
    content = note.get("content")
    if isinstance(content, str):
        content = worded(content, language)
    elif isinstance(content, list):
        content = [
            {**part, "text": worded(str(part.get("text", "")), language)}
            if isinstance(part, dict) and part.get("type") == "text"
            else part
            for part in content
        ]
    return {**note, "metadata": metadata, "content": content}
