"""When to retry a failed request, and how long to wait first."""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

# 408 and 409 are transient by definition, 429 asks us to come back, and 5xx covers Cloudflare's
# 520-524 as well. Other 4xx mean the request itself is wrong: repeating it cannot help.
_RETRYABLE_4XX = frozenset({408, 409, 429})


def is_retryable_status(status: int) -> bool:
    """Whether an HTTP status is worth another attempt."""
    return status in _RETRYABLE_4XX or status >= 500


@dataclass(frozen=True)
class RetryPolicy:
    """How many retries a call gets and how the waits between them grow."""

    max_retries: int = 3
    initial_delay: float = 0.5
    max_delay: float = 8.0
    # A server asking for a longer wait than this is not waited for: the caller hears at once.
    max_retry_after: float = 60.0

    @property
    def attempts(self) -> int:
        """Attempts in all: the first one and every retry."""
        return self.max_retries + 1

    def backoff(self, retry: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before retry number `retry` (0-based) when the server gave no hint.

        Doubling from `initial_delay` up to `max_delay`, then cut by up to a quarter at random so
        that many clients failing together do not come back together.
        """
        delay = min(self.initial_delay * 2.0**retry, self.max_delay)
        return delay * (1 - 0.25 * rand())


def parse_retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asks us to wait, from `retry-after-ms` or `Retry-After`; None if neither.

    `Retry-After` may be a number of seconds or an HTTP date; a date in the past means now.
    """
    milliseconds = _number(headers.get("retry-after-ms"))
    if milliseconds is not None:
        return milliseconds / 1000
    value = headers.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return seconds
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - (now or datetime.now(UTC))).total_seconds(), 0.0)


def wait_words(seconds: float) -> str:
    """A wait as a person reads it, rounded up to whole units: "27 s", "10 min", "2.5 h"."""
    if seconds < 120:
        return f"{math.ceil(seconds)} s"
    if seconds < 7200:
        return f"{math.ceil(seconds / 60)} min"
    return f"{seconds / 3600:.1f} h"


def retry_at_words(seconds: float, now: datetime | None = None) -> str:
    """The words "try again after HH:MM:SS UTC" for a wait of `seconds` from `now`.

    Rounded up to the next whole second: a person who retries at the time shown is never early.
    """
    at = (now or datetime.now(UTC)) + timedelta(seconds=seconds)
    if at.microsecond:
        at = at.replace(microsecond=0) + timedelta(seconds=1)
    return f"try again after {at:%H:%M:%S} UTC"


def _number(text: str | None) -> float | None:
    """A non-negative number of `text`, or None when it holds none (NaN included)."""
    if text is None:
        return None
    try:
        number = float(text)
    except ValueError:
        return None
    return None if math.isnan(number) else max(number, 0.0)
