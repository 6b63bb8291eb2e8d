"""UpstreamGuard: hold every call back while Websim has asked this server to wait, or keeps
refusing it, so that many users do not each retry into the same wall (and keep it up).

One guard is meant to be shared by all calls of a client, and one client by a whole server. It
needs no background task: whether it is paused is worked out from its clock on each check.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .errors import UpstreamPausedError
from .retry import retry_at_words, wait_words

# Statuses that say "not you": a login wall, or Cloudflare's challenge page (a 403).
REFUSALS = frozenset({401, 403})
# Doubling stops long before this; the cap only keeps 2.0**n a finite number.
_MAX_DOUBLINGS = 32
# After a pause, one call tries Websim first; if it has not been answered by then, another may.
TRIAL_SECONDS = 10.0


@dataclass(frozen=True)
class GuardState:
    """Whether the guard holds calls back, why, and for how long: for a readiness endpoint."""

    paused: bool
    status: int = 0
    """The status that paused the guard (429, 401 or 403); 0 when it is not paused."""
    reason: str = ""
    """The cause in a few words, such as "rate limited, 429"; empty when not paused."""
    retry_in: float = 0.0
    """Seconds until calls go out again; 0 when not paused."""


class UpstreamGuard:
    """Pauses every call for a while after a 429 that asks for a wait, or after refusals in a row.

    - A 429 with `Retry-After` (or `retry-after-ms`) pauses for that wait, at most `max_pause`.
    - `refusals_to_pause` 401/403 replies in a row pause for `refusal_pause` seconds. A refusal
      right after a pause ends pauses again at once, for twice as long, up to `max_pause`.
    - Any 2xx reply resets the count and the doubling, and ends a pause that refusals began;
      other statuses change neither.

    While paused, `check()` raises `UpstreamPausedError` saying why and when to try again, except
    for the one call whose 429 started the pause (it holds the token `record` returned): it is the
    probe that retries after the wait, as Websim asked.

    When a pause ends, calls do not all go at once (people come back at the time they were told):
    the probe, or else the first call to come, tries Websim alone; the others are held until a
    reply comes back, or for at most `TRIAL_SECONDS`, after which another call may try.
    """

    def __init__(
        self,
        *,
        refusals_to_pause: int = 3,
        refusal_pause: float = 30.0,
        max_pause: float = 600.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if refusals_to_pause < 1:
            raise ValueError("refusals_to_pause must be at least 1")
        if not (refusal_pause > 0 and max_pause > 0):
            raise ValueError("refusal_pause and max_pause must be more than 0 seconds")
        self._refusals_to_pause = refusals_to_pause
        self._refusal_pause = refusal_pause
        self._max_pause = max_pause
        self._clock = clock
        # Calls on several event loops or threads may share one guard; each method is short.
        self._lock = threading.Lock()
        self._refusals = 0
        self._refusal_pauses = 0  # since the last 2xx; the next refusal pause lasts 2**this longer
        self._until = float("-inf")
        self._status = 0
        self._detail = ""
        self._probe: object | None = None
        self._after_pause = False  # a pause has ended and no reply has come back since
        self._trial_at = float("-inf")  # when the last call was let through to try

    def check(self, token: object | None = None) -> None:
        """Return if a call may be sent now; raise `UpstreamPausedError` if not.

        `token` is what `record` returned to this call, if anything: the probe passes.
        """
        with self._lock:
            now = self._clock()
            remaining = self._until - now
            if token is not None and token is self._probe:
                return
            if remaining <= 0:
                if not self._after_pause or now - self._trial_at >= TRIAL_SECONDS:
                    self._trial_at = now  # this call tries first; a reply ends the trial
                    return
                remaining = self._trial_at + TRIAL_SECONDS - now
            status, detail = self._status, self._detail
        raise UpstreamPausedError(
            _message(status, detail, remaining), status=status, detail=detail, retry_after=remaining
        )

    def record(
        self, status: int, *, detail: str = "", retry_after: float | None = None
    ) -> object | None:
        """Note the status of one reply; returns a token when this reply paused the guard.

        `detail` is the reply's words in one line; `retry_after` the wait it asked for, if any.
        """
        with self._lock:
            now = self._clock()
            if now >= self._until:
                self._after_pause = False  # the trial, or any call, has its answer
            if 200 <= status < 300:
                self._refusals = self._refusal_pauses = 0
                if self._status in REFUSALS and now < self._until:
                    # Websim served a call after all (one sent before the refusals came back):
                    # holding the others back would only keep them from being served too.
                    self._until = now
                return None
            if status == 429:
                if retry_after is None or retry_after <= 0:
                    return None
                return self._pause(now, min(retry_after, self._max_pause), status, detail)
            if status not in REFUSALS:
                return None
            self._refusals += 1
            if now < self._until:
                return None  # replies to calls sent before the pause began prove nothing new
            if self._refusals < self._refusals_to_pause and not self._refusal_pauses:
                return None
            doubling = 2.0 ** min(self._refusal_pauses, _MAX_DOUBLINGS)
            self._refusal_pauses += 1
            return self._pause(
                now, min(self._refusal_pause * doubling, self._max_pause), status, detail
            )

    def state(self) -> GuardState:
        """Whether calls are held back now, why and for how long."""
        with self._lock:
            remaining = self._until - self._clock()
            if remaining <= 0:
                return GuardState(paused=False)
            return GuardState(True, self._status, _reason(self._status, self._detail), remaining)

    def _pause(self, now: float, seconds: float, status: int, detail: str) -> object | None:
        until = now + seconds
        if now < self._until:
            # Already paused: lengthen it if asked to, but keep the one probe already waiting.
            if until > self._until:
                self._until, self._status, self._detail = until, status, detail
            return None
        self._until, self._status, self._detail = until, status, detail
        self._after_pause = True
        self._trial_at = float("-inf")
        self._probe = object()
        return self._probe


def _reason(status: int, detail: str) -> str:
    if status == 429:
        return "rate limited, 429"
    return f"{status}: {detail}" if detail else str(status)


def _message(status: int, detail: str, remaining: float) -> str:
    what = (
        "Websim asked this server to wait" if status == 429 else "Websim keeps refusing this server"
    )
    return (
        f"{what} ({_reason(status, detail)}); nothing is sent for another "
        f"{wait_words(remaining)}: {retry_at_words(remaining)}"
    )
