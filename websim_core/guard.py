"""UpstreamGuard: hold every call back while Websim has asked this server to wait, or keeps
refusing it, so that many users do not each retry into the same wall (and keep it up).

One guard is meant to be shared by all calls of a client, and one client by a whole server. It
needs no background task: whether it is paused is worked out from its clock whenever a call asks.
Calls on several event loops or threads may share it: its state sits behind a threading lock,
and a call waiting for its turn waits on a future of its own loop, woken thread-safely.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType

from .errors import UpstreamPausedError
from .retry import retry_at_words, wait_words

# Statuses that say "not you": a login wall, or Cloudflare's challenge page (a 403).
REFUSALS = frozenset({401, 403})
# Doubling stops long before this; the cap only keeps 2.0**n a finite number.
_MAX_DOUBLINGS = 32
# The longest one call is held, for a pause to end and the call trying first to be answered. A
# held call keeps its place in the server's queue, so a long wait is said at once instead.
MAX_WAIT = 10.0
# What a call refused while another tries first is told: that answer is due any moment.
TRIAL_RETRY_AFTER = 1.0


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

    A call takes its turn with `async with guard.admission(token, wait=seconds) as turn:` around
    its request, and tells of the reply with `turn.record(...)`. While paused, a call that may be
    held until the pause ends (`wait`, at most `max_wait`) is held, unsent; one that may not is
    refused at once with `UpstreamPausedError` saying how long is left. The call whose 429 began
    the pause holds the token `record` returned: it is the probe, let through to retry when
    Websim told it to, even if another 429 has lengthened the pause since.

    When a pause ends, calls do not all go at once (people come back at the time they were told):
    the first call tries Websim alone and the others are held for its answer, each for as long
    as it may be. A reply lets them all go, or, if it pauses the guard again, they are refused
    with the new wait. A trial that ends without a reply (its caller left, the connection
    failed, it timed out) hands the try at once to the call held longest.
    """

    def __init__(
        self,
        *,
        refusals_to_pause: int = 3,
        refusal_pause: float = 30.0,
        max_pause: float = 600.0,
        max_wait: float = MAX_WAIT,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if refusals_to_pause < 1:
            raise ValueError("refusals_to_pause must be at least 1")
        if not (refusal_pause > 0 and max_pause > 0):
            raise ValueError("refusal_pause and max_pause must be more than 0 seconds")
        if not max_wait >= 0:
            raise ValueError("max_wait must be 0 seconds or more")
        self._refusals_to_pause = refusals_to_pause
        self._refusal_pause = refusal_pause
        self._max_pause = max_pause
        self._max_wait = max_wait
        self._clock = clock
        self._lock = threading.Lock()
        self._refusals = 0
        self._refusal_pauses = 0  # since the last 2xx; the next refusal pause lasts 2**this longer
        self._until = float("-inf")
        self._status = 0
        self._detail = ""
        self._probe: object | None = None
        self._pauses = 0  # pauses begun so far: a held call tells a new one from the one it met
        self._after_pause = False  # a pause has begun and no reply has come back since it ended
        self._trial: Admission | None = None  # the call trying Websim first after the pause
        # The calls held now, oldest first, each with the future that wakes it.
        self._held: dict[Admission, asyncio.Future[None]] = {}

    def admission(self, token: object | None = None, *, wait: float = 0.0) -> Admission:
        """A call's turn to send, as `async with guard.admission(token, wait=seconds) as turn:`.

        `token` is what `record` returned to this call's last reply, if anything: the probe goes
        through the pause. `wait` is how long the call may be held (what is left of its deadline),
        at most `max_wait`. Entering raises `UpstreamPausedError` if the call is refused.
        """
        return Admission(self, token, wait)

    def check(self, token: object | None = None, *, wait: float = 0.0) -> None:
        """Raise `UpstreamPausedError` now if a call that may be held `wait` seconds would be
        refused; return if it would go or be held. Takes no turn: for a call about to sleep
        before a retry, which should hear a refusal before its sleep rather than after it."""
        with self._lock:
            now = self._clock()
            refusal = self._verdict(now, token, now + min(wait, self._max_wait), None, None)[1]
        if refusal is not None:
            raise refusal

    def record(
        self, status: int, *, detail: str = "", retry_after: float | None = None
    ) -> object | None:
        """Note the status of one reply; returns a token when this reply paused the guard.

        `detail` is the reply's words in one line; `retry_after` the wait it asked for, if any.
        A call that took its turn with `admission` records through it instead.
        """
        return self._record(status, detail, retry_after, None)

    def state(self) -> GuardState:
        """Whether calls are held back now, why and for how long."""
        with self._lock:
            remaining = self._until - self._clock()
            if remaining <= 0:
                return GuardState(paused=False)
            return GuardState(True, self._status, _reason(self._status, self._detail), remaining)

    # -- a call's turn -----------------------------------------------------------------------

    async def _enter(self, admission: Admission, token: object | None, wait: float) -> None:
        """Return when `admission` may send; raise `UpstreamPausedError` if it is refused."""
        loop = asyncio.get_running_loop()
        held_until: float | None = None
        behind_pause: int | None = None  # pauses begun when this call was first held
        entered = False
        try:
            while True:
                with self._lock:
                    now = self._clock()
                    if held_until is None:
                        held_until = now + min(wait, self._max_wait)
                    hold, refusal = self._verdict(now, token, held_until, behind_pause, admission)
                    if refusal is not None:
                        raise refusal
                    if hold == 0:
                        if self._after_pause:
                            self._trial = admission
                        entered = True
                        return
                    if behind_pause is None:
                        behind_pause = self._pauses
                    woken = loop.create_future()
                    # A call held again keeps its place in line: the try goes to the oldest.
                    self._held[admission] = woken
                await asyncio.wait((woken,), timeout=hold)
        finally:
            with self._lock:
                self._held.pop(admission, None)
                if not entered and self._trial is admission:
                    self._hand_on()  # handed the try, it left before using it

    def _verdict(
        self,
        now: float,
        token: object | None,
        held_until: float,
        behind_pause: int | None,
        admission: Admission | None,
    ) -> tuple[float, UpstreamPausedError | None]:
        """(seconds to hold the call before asking again, 0 to send it now; or the refusal)."""
        remaining = self._until - now
        if remaining > 0 and not (token is not None and token is self._probe):
            if behind_pause is not None and behind_pause != self._pauses:
                # Websim said wait again after the pause this call was held for (most often to
                # the call that tried first): it hears the new wait rather than sit through it.
                return 0, self._refusal(remaining, "pause")
            if now + remaining > held_until:
                return 0, self._refusal(remaining, "pause")
            return remaining, None
        if not self._after_pause or self._trial is None or self._trial is admission:
            return 0, None
        if now < held_until:
            return held_until - now, None
        return 0, self._refusal(TRIAL_RETRY_AFTER, "trial")

    def _refusal(self, retry_after: float, during: str) -> UpstreamPausedError:
        status, detail = self._status, self._detail
        what = (
            "Websim asked this server to wait"
            if status == 429
            else "Websim keeps refusing this server"
        )
        if during == "pause":
            when = f"nothing is sent for another {wait_words(retry_after)}"
        else:
            when = "one call is trying Websim again first"
        message = f"{what} ({_reason(status, detail)}); {when}: {retry_at_words(retry_after)}"
        return UpstreamPausedError(message, status=status, detail=detail, retry_after=retry_after)

    def _leave(self, admission: Admission) -> None:
        with self._lock:
            if self._trial is admission:
                self._hand_on()  # it tried first and heard nothing back

    def _hand_on(self) -> None:
        """Give the try to the call held longest, and have every held call ask again (called
        with the lock held). Handed rather than left to whoever asks first, so that a caller who
        hangs up and calls again at once cannot take every try."""
        self._trial = next(iter(self._held), None)
        self._wake()

    def _record(
        self, status: int, detail: str, retry_after: float | None, by: Admission | None
    ) -> object | None:
        with self._lock:
            before = (self._until, self._after_pause, self._trial)
            token = self._note(self._clock(), status, detail, retry_after, by)
            if (self._until, self._after_pause, self._trial) != before:
                self._wake()
            return token

    def _note(
        self,
        now: float,
        status: int,
        detail: str,
        retry_after: float | None,
        by: Admission | None,
    ) -> object | None:
        if now >= self._until or (by is not None and by is self._trial):
            self._after_pause = False  # the trial, or any call, has its answer
            self._trial = None
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

    def _pause(self, now: float, seconds: float, status: int, detail: str) -> object | None:
        until = now + seconds
        self._after_pause = True
        if now < self._until:
            # Already paused: lengthen it if asked to, but keep the one probe already waiting.
            if until > self._until:
                self._until, self._status, self._detail = until, status, detail
            return None
        self._until, self._status, self._detail = until, status, detail
        self._pauses += 1
        self._trial = None
        self._probe = object()
        return self._probe

    def _wake(self) -> None:
        """Have every held call ask again (called with the lock held)."""
        for future in self._held.values():
            with contextlib.suppress(RuntimeError):  # its loop has closed: nobody is waiting
                future.get_loop().call_soon_threadsafe(_resolve, future)


class Admission:
    """One call's turn to send to Websim through an `UpstreamGuard`; see `admission`."""

    def __init__(self, guard: UpstreamGuard, token: object | None, wait: float) -> None:
        self._guard = guard
        self._token = token
        self._wait = wait

    async def __aenter__(self) -> Admission:
        await self._guard._enter(self, self._token, self._wait)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._guard._leave(self)

    def record(
        self, status: int, *, detail: str = "", retry_after: float | None = None
    ) -> object | None:
        """`UpstreamGuard.record` for this call's reply: also the answer the others wait for."""
        return self._guard._record(status, detail, retry_after, self)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


def _reason(status: int, detail: str) -> str:
    if status == 429:
        return "rate limited, 429"
    return f"{status}: {detail}" if detail else str(status)
