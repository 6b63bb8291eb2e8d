"""The log formatter: one line a record, whatever a caller put in it."""

from __future__ import annotations

import logging
import sys

from hypothesis import given
from hypothesis import strategies as st

from studio.services.logs import MAX_RECORD, OneLineFormatter, loggable


def formatted(message: str, *args: object, exc_info: object = None) -> str:
    record = logging.LogRecord("websim_studio.http", logging.INFO, __file__, 1, message, args, None)
    record.exc_info = exc_info  # type: ignore[assignment]
    return OneLineFormatter("%(levelname)s %(message)s").format(record)


def test_a_line_break_or_escape_in_a_value_cannot_make_a_line_of_its_own() -> None:
    line = formatted("GET %s 404", "/v1/x\nINFO FAKE LINE\x1b[2J\u2028")
    assert line == "INFO GET /v1/x\\x0aINFO FAKE LINE\\x1b[2J\\u2028 404"


@given(st.text())
def test_every_message_is_one_line_without_control_characters(text: str) -> None:
    line = formatted("%s", text)
    assert len(line.splitlines()) <= 1
    assert not any(ord(char) < 0x20 or 0x7F <= ord(char) < 0xA0 for char in line)


def test_a_huge_value_is_cut_and_says_how_much_was_left_out() -> None:
    assert loggable("x" * 1000, 10) == "xxxxxxxxxx…(+990 chars)"
    assert len(formatted("%s", "y" * 10_000_000)) < MAX_RECORD + 100


def test_a_traceback_keeps_its_lines_but_not_what_a_caller_slipped_into_them() -> None:
    try:
        raise ValueError("bad role 'x\x1b[31m'\nFORGED")
    except ValueError:
        text = formatted("failed", exc_info=sys.exc_info())
    assert text.startswith("INFO failed\nTraceback (most recent call last):")
    assert "\x1b" not in text
    assert not any(line.startswith("FORGED") for line in text.splitlines())
