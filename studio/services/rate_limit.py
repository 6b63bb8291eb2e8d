"""Per-client limits, so one client cannot spend the whole shared Websim quota.

Counted with the `limits` library over a moving 60 s window, keyed by client address (see
`identity`), never by anything the caller chooses. Counts live in this process by default, or in
Redis (`WEBSIM_STUDIO_LIMITS_STORAGE=redis://...`) so that replicas share one budget.
"""

from __future__ import annotations

import logging
import math
import time
from typing import cast

from limits import RateLimitItemPerMinute
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

log = logging.getLogger("websim_studio.limits")

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
        self._limiter = MovingWindowRateLimiter(self._storage)
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
        try:
            if await self._limiter.hit(item, what, client, cost=cost):
                return
            stats = await self._limiter.get_window_stats(item, what, client)
        except Exception as error:  # the storage's own errors differ by backend
            log.warning("rate limit storage unavailable, request allowed: %s", error)
            return
        wait = stats.reset_time - time.time()
        raise ClientRateLimitError(wait, item.amount, what, asked=cost, left=stats.remaining)

    async def refused(self, client: str) -> None:
        """Count a request refused for its input against `client`'s refusal budget."""
        if self.per_minute <= 0:
            return
        if len(self._refused_at) >= REMEMBERED_REFUSALS:
            self._refused_at.clear()
        self._refused_at[client] = time.monotonic()
        try:
            await self._limiter.hit(self._items["refusals"], "refusals", client)
        except Exception as error:
            log.warning("rate limit storage unavailable, refusal not counted: %s", error)

    async def refusals_wait(self, client: str) -> float:
        """Seconds until `client`, having spent its refusal budget, may send again; 0 if now."""
        refused_at = self._refused_at.get(client)
        if refused_at is None:
            return 0.0
        if time.monotonic() - refused_at > 60:
            self._refused_at.pop(client, None)
            return 0.0
        item = self._items["refusals"]
        try:
            if await self._limiter.test(item, "refusals", client):
                return 0.0
            stats = await self._limiter.get_window_stats(item, "refusals", client)
        except Exception:
            return 0.0  # as `hit`: an outage of the shared counter lets requests through
        return max(1.0, stats.reset_time - time.time())

    async def ready(self) -> bool:
        """Whether the storage answers (always, in memory)."""
        try:
            return bool(await self._storage.check())
        except Exception:
            return False


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
