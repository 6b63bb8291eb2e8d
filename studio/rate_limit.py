"""A per-session rate limit, so one browser tab cannot spend the whole shared Websim quota."""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from collections.abc import Callable

WINDOW_SECONDS = 60.0
# Sessions idle for a whole window are forgotten; this bounds memory if they are never evicted.
MAX_TRACKED_SESSIONS = 100_000


class SessionRateLimitError(Exception):
    """Raised when a session sends more than its share; the message says when to try again."""

    def __init__(self, wait: float, per_minute: int) -> None:
        self.wait = wait
        super().__init__(describe_wait(wait, per_minute))


class SessionRateLimiter:
    """At most `per_minute` requests in any 60 s window per session; 0 means no limit."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._sent: OrderedDict[str, deque[float]] = OrderedDict()

    def acquire(self, session: str) -> float:
        """Count a request for `session` and return 0, or return the seconds until one may be sent.

        A refused request is not counted, so waiting out the answer always works.
        """
        if self.per_minute <= 0:
            return 0.0
        now = self._clock()
        sent = self._sent.pop(session, None) or deque()
        while sent and now - sent[0] >= WINDOW_SECONDS:
            sent.popleft()
        wait = 0.0
        if len(sent) >= self.per_minute:
            wait = sent[0] + WINDOW_SECONDS - now
        else:
            sent.append(now)
        self._sent[session] = sent  # most recently used last
        self._forget_idle(now)
        return wait

    def check(self, session: str) -> None:
        """Count a request for `session`, or raise `SessionRateLimitError` saying when to retry."""
        wait = self.acquire(session)
        if wait:
            raise SessionRateLimitError(wait, self.per_minute)

    def _forget_idle(self, now: float) -> None:
        while self._sent:
            session, sent = next(iter(self._sent.items()))
            idle = not sent or now - sent[-1] >= WINDOW_SECONDS
            if not idle and len(self._sent) <= MAX_TRACKED_SESSIONS:
                break
            del self._sent[session]


def describe_wait(seconds: float, per_minute: int) -> str:
    """One sentence telling the user when they may send again."""
    wait = max(1, math.ceil(seconds))
    unit = "second" if wait == 1 else "seconds"
    return (
        f"You have sent {per_minute} requests in the last minute, the most this app allows; "
        f"try again in {wait} {unit}."
    )
