"""What the server writes to its log: one line a record, which nothing a caller sends can break.

Paths, header values, ids, field values and error messages can all come from a caller. Written
as they are, a `%0A` in a path forges a line of its own, an ESC byte drives the terminal of
whoever reads the log, and an 8 MiB field fills the disk. So every record passes one formatter
that escapes control characters (and the Unicode ones that reorder or break lines) and caps its
length; a value logged on its own is capped shorter, where it is written (`loggable`).
"""

from __future__ import annotations

import logging
import re
import traceback
from typing import Any

# A value from a request (a path, a client, an error's message), in one log line.
MAX_VALUE = 300
# One record's message; a traceback's lines are each capped to this too.
MAX_RECORD = 2000
# Of a traceback, the last lines: where it failed, not every frame of Gradio's stack.
MAX_TRACEBACK_LINES = 60
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200e\u200f\u202a-\u202e\u2066-\u2069]")
FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def loggable(value: object, limit: int = MAX_VALUE) -> str:
    """`value` as one short, inert piece of a log line: cut at `limit` characters (saying how
    many more there were), its control characters written as escapes."""
    text = value if isinstance(value, str) else str(value)
    if len(text) > limit:
        text = f"{text[:limit]}…(+{len(text) - limit:,} chars)"
    return _UNSAFE.sub(_escaped, text)


class OneLineFormatter(logging.Formatter):
    """Formats records as `logging.Formatter` does, each message one line of at most
    `MAX_RECORD` characters; a traceback keeps its line breaks, each of its lines made safe."""

    def formatMessage(self, record: logging.LogRecord) -> str:
        safe = logging.makeLogRecord(record.__dict__)
        safe.message = loggable(record.message, MAX_RECORD)
        return super().formatMessage(safe)

    def formatException(self, ei: Any) -> str:
        # An exception's message may quote a request: it is kept on its one line, while the
        # frames (this server's own source) keep theirs.
        chunks = []
        for chunk in traceback.TracebackException(*ei[:3]).format():
            structural = chunk[:1].isspace() or chunk.startswith("Traceback")
            chunks.append(chunk if structural else loggable(chunk.rstrip("\n"), MAX_RECORD) + "\n")
        return _safe_lines("".join(chunks).rstrip("\n"))

    def formatStack(self, stack_info: str) -> str:
        return _safe_lines(super().formatStack(stack_info))


def configure(level: int = logging.INFO) -> None:
    """Send every logger's records (Gradio's and uvicorn's too) to stderr through one
    `OneLineFormatter`."""
    handler = logging.StreamHandler()
    handler.setFormatter(OneLineFormatter(FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)


def _safe_lines(text: str) -> str:
    lines = text.splitlines()
    if len(lines) > MAX_TRACEBACK_LINES:
        cut = len(lines) - MAX_TRACEBACK_LINES
        lines = [lines[0], f"  … {cut} lines left out …", *lines[-MAX_TRACEBACK_LINES + 1 :]]
    return "\n".join(loggable(line, MAX_RECORD) for line in lines)


def _escaped(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
