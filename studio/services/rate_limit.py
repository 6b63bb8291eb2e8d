"""Per-client limits, so one client cannot spend the whole shared Websim quota.

Counted with the `limits` library over a moving 60 s window, keyed by client address (see
`identity`), never by anything the caller chooses. Counts live in this process by default, or in
Redis (`WEBSIM_STUDIO_LIMITS_STORAGE=redis://...`) so that replicas share one budget.

Trouble with Redis degrades the limits, it neither freezes calls nor opens the gates: every
operation on it has `STORAGE_SECONDS`, and while it fails or is slow each replica counts in its
own memory instead (said once in the log, and by `degraded`), trying Redis again every
`RETRY_STORAGE_SECONDS` and going back to it once it answers.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar, cast

from limits import RateLimitItemPerMinute, WindowStats
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from .logs import loggable

log = logging.getLogger("websim_studio.limits")

T = TypeVar("T")

# The longest one operation on a shared storage may take before this replica counts alone: a
# frozen Redis would otherwise hold every call (measured: until its client gave up, at 26 s).
STORAGE_SECONDS = 0.5
# How often a replica counting alone tries the shared storage again.
RETRY_STORAGE_SECONDS = 5.0

# Attaching images takes an upload each before the message is sent: allow a few per message.
UPLOADS_PER_REQUEST = 4
# Requests a client may have refused for their input in any minute; past it, its next requests
# to the routes that parse a body are refused before the body is read. A person fixing a typo
# never gets near it; a script sending 8 MiB bodies of 250,000 messages, each costing the
# server's loop most of a second to refuse, is stopped after this many.
REFUSALS_PER_MINUTE = 30
# Clients refused lately, remembered on this replica: only theirs is the budget looked up for,
# so that everyone else's requests cost no lookup. Past this many the memory starts over.
REMEMBERED_REFUSALS = 4096


class ClientRateLimitError(Exception):
    """Raised when a client sends more than its share; the message says when to try again."""

    def __init__(
        self, wait: float, allowed: int, what: str = "requests", *, asked: int = 1, left: int = 0
    ) -> None:
        self.wait = wait
        self.allowed = allowed
        self.what = what
        super().__init__(describe_wait(wait, allowed, what, asked=asked, left=left))


class ClientLimiter:
    """At most `per_minute` requests (and uploads in proportion) per client in any 60 s.

    `per_minute` 0 turns the limits off.
    """

    def __init__(self, per_minute: int, storage: str = "memory://") -> None:
        self.per_minute = per_minute
        self._storage = cast(Storage, storage_from_string(_async_uri(storage)))
        self._shared = MovingWindowRateLimiter(self._storage)
        # This replica's own counts, for while the shared storage does not answer.
        self._own = (
            self._shared
            if storage.startswith("memory://")
            else MovingWindowRateLimiter(cast(Storage, storage_from_string("async+memory://")))
        )
        self._alone_until = 0.0  # counting alone until then (time.monotonic)
        self.degraded = False
        """Whether this replica counts alone now, its shared storage unreachable or slow."""
        self._items = {
            "requests": RateLimitItemPerMinute(max(per_minute, 1), namespace="websim-studio"),
            "uploads": RateLimitItemPerMinute(
                max(per_minute, 1) * UPLOADS_PER_REQUEST, namespace="websim-studio"
            ),
            "refusals": RateLimitItemPerMinute(REFUSALS_PER_MINUTE, namespace="websim-studio"),
        }
        self._refused_at: dict[str, float] = {}

    async def hit(self, client: str, what: str = "requests", *, cost: int = 1) -> None:
        """Count `cost` of `what` for `client` (all of them or none), or raise
        `ClientRateLimitError` saying when to retry.

        A refused request is not counted, so waiting out the answer always works. If the
        storage cannot be reached the request is let through: an outage of the shared counter
        must not take the whole app down with it.
        """
        if self.per_minute <= 0:
            return
        item = self._items[what]

        async def counted(limiter: MovingWindowRateLimiter) -> object:
            if await limiter.hit(item, what, client, cost=cost):
                return None
            return await limiter.get_window_stats(item, what, client)

        try:
            stats = await self._counting(counted)
        except Exception as error:  # this replica's own memory failing: let the call through
            log.warning("rate limit storage unavailable, request allowed: %s", error)
            return
        if stats is None:
            return
        stats = cast(WindowStats, stats)
        wait = stats.reset_time - time.time()
        raise ClientRateLimitError(wait, item.amount, what, asked=cost, left=stats.remaining)

    async def refused(self, client: str) -> None:
        """Count a request refused for its input against `client`'s refusal budget."""
        if self.per_minute <= 0:
            return
        if len(self._refused_at) >= REMEMBERED_REFUSALS:
            self._refused_at.clear()
        self._refused_at[client] = time.monotonic()
        item = self._items["refusals"]
        try:
            await self._counting(lambda limiter: limiter.hit(item, "refusals", client))
        except Exception as error:
            log.warning("rate limit storage unavailable, refusal not counted: %s", error)

    @property
    def refusing(self) -> bool:
        """Whether any client has been refused for its input lately on this replica; when none
        has, nobody's refusal budget needs looking up."""
        return bool(self._refused_at)

    async def refusals_wait(self, client: str) -> float:
        """Seconds until `client`, having spent its refusal budget, may send again; 0 if now."""
        refused_at = self._refused_at.get(client)
        if refused_at is None:
            return 0.0
        if time.monotonic() - refused_at > 60:
            self._refused_at.pop(client, None)
            return 0.0
        item = self._items["refusals"]

        async def spent(limiter: MovingWindowRateLimiter) -> float:
            if await limiter.test(item, "refusals", client):
                return 0.0
            stats = await limiter.get_window_stats(item, "refusals", client)
            return max(1.0, stats.reset_time - time.time())

        try:
            return await self._counting(spent)
        except Exception:
            return 0.0  # as `hit`: a failing counter lets requests through

    async def _counting(self, operation: Callable[[MovingWindowRateLimiter], Awaitable[T]]) -> T:
        """`operation` on the shared counts, or on this replica's own while those do not answer
        within `STORAGE_SECONDS`."""
        if self._own is not self._shared and time.monotonic() >= self._alone_until:
            try:
                async with asyncio.timeout(STORAGE_SECONDS):
                    result = await operation(self._shared)
            except Exception as error:  # the storage's own errors differ by backend
                self._alone(error)
            else:
                if self.degraded:
                    self.degraded = False
                    log.warning("rate limit storage answers again: counting on it again")
                return result
        return await operation(self._own)

    def _alone(self, error: BaseException) -> None:
        self._alone_until = time.monotonic() + RETRY_STORAGE_SECONDS
        if not self.degraded:
            self.degraded = True
            what = "did not answer in time" if isinstance(error, TimeoutError) else str(error)
            log.warning(
                "rate limit storage unavailable (%s): this replica counts alone until it answers",
                loggable(what),
            )

    async def storage_state(self) -> str:
        """ "ok" when the counts are where they are configured (always, in memory); "degraded"
        when this replica counts alone, its shared storage not answering."""
        if self._own is self._shared:
            return "ok"
        try:
            async with asyncio.timeout(STORAGE_SECONDS):
                answers = bool(await self._storage.check())
        except Exception:
            answers = False
        if answers and self.degraded:
            self._alone_until = 0.0  # the next count goes to the shared storage again
        return "ok" if answers and not self.degraded else "degraded"


def describe_wait(
    seconds: float, allowed: int, what: str = "requests", *, asked: int = 1, left: int = 0
) -> str:
    """One sentence telling the user when they may send again; for a request that counts as
    `asked` at once, with `left` of the allowance unspent, how many it may ask for."""
    wait = max(1, math.ceil(seconds))
    unit = "second" if wait == 1 else "seconds"
    if asked > allowed:
        return (
            f"That asks for {asked} {what} at once, more than the {allowed} a minute this app "
            f"allows; ask for at most {allowed}."
        )
    if asked > 1 and left > 0:
        return (
            f"That counts as {asked} {what}, and {left} of the {allowed} this app allows a minute "
            f"are left; ask for {left} or fewer, or try again in {wait} {unit}."
        )
    return (
        f"You have sent {allowed} {what} in the last minute, the most this app allows; "
        f"try again in {wait} {unit}."
    )


def _async_uri(uri: str) -> str:
    """`limits` names its asyncio storages `async+<scheme>`; operators write the plain URL."""
    return uri if uri.startswith("async+") else "async+" + uri
