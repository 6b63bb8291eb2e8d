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
from collections.abc import Sequence
from typing import Any

from markdown_it import MarkdownIt

from ..turns.conversation import ChatMessage, History, is_note

# Escaped wherever they are: each can start inline markup (emphasis, code, links, raw HTML,
# entities, tables, strike-through). A backslash may escape any ASCII punctuation in Markdown.
_ALWAYS_ESCAPED = frozenset("\\`*_[]<>&|~$")
# At the start of a line these make lists, headings and rules; elsewhere they are plain text.
_LINE_START = re.compile(r"^( {0,3})([-+=#])", re.MULTILINE)
_ESCAPE_AFTER_DIGITS = re.compile(r"^( {0,3}\d{1,9})([.)])", re.MULTILINE)
_ESCAPED_PUNCTUATION = re.compile(r"\\([!-/:-@\[-`{-~])")

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
    """Markdown that renders as exactly `text`: every markup character is escaped."""
    escaped = "".join("\\" + char if char in _ALWAYS_ESCAPED else char for char in text)
    escaped = _ESCAPE_AFTER_DIGITS.sub(r"\1\\\2", escaped)
    return _LINE_START.sub(r"\1\\\2", escaped)


def from_literal_markdown(markdown: str) -> str:
    """The text `literal_markdown` was given; an edit typed without escapes stays as typed."""
    return _ESCAPED_PUNCTUATION.sub(r"\1", markdown)


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


def shown_message(message: ChatMessage) -> ChatMessage:
    """One stored message as the Chatbot shows it: the same parts, the text made safe."""
    if is_note(message) or message.get("role") == "user":
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


def shown_history(history: Sequence[ChatMessage]) -> History:
    """The whole conversation as the Chatbot shows it, message for message."""
    return [shown_message(message) for message in history]
