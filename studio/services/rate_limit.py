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


class ClientRateLimitError(Exception):
    """Raised when a client sends more than its share; the message says when to try again."""

    def __init__(self, wait: float, allowed: int, what: str = "requests") -> None:
        self.wait = wait
        self.allowed = allowed
        self.what = what
        super().__init__(describe_wait(wait, allowed, what))


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
        }

    async def hit(self, client: str, what: str = "requests") -> None:
        """Count one of `what` for `client`, or raise `ClientRateLimitError` saying when to retry.

        A refused request is not counted, so waiting out the answer always works. If the
        storage cannot be reached the request is let through: an outage of the shared counter
        must not take the whole app down with it.
        """
        if self.per_minute <= 0:
            return
        item = self._items[what]
        try:
            if await self._limiter.hit(item, what, client):
                return
            stats = await self._limiter.get_window_stats(item, what, client)
        except Exception as error:  # the storage's own errors differ by backend
            log.warning("rate limit storage unavailable, request allowed: %s", error)
            return
        raise ClientRateLimitError(stats.reset_time - time.time(), item.amount, what)

    async def ready(self) -> bool:
        """Whether the storage answers (always, in memory)."""
        try:
            return bool(await self._storage.check())
        except Exception:
            return False


def describe_wait(seconds: float, allowed: int, what: str = "requests") -> str:
    """One sentence telling the user when they may send again."""
    wait = max(1, math.ceil(seconds))
    unit = "second" if wait == 1 else "seconds"
    return (
        f"You have sent {allowed} {what} in the last minute, the most this app allows; "
        f"try again in {wait} {unit}."
    )


def _async_uri(uri: str) -> str:
    """`limits` names its asyncio storages `async+<scheme>`; operators write the plain URL."""
    return uri if uri.startswith("async+") else "async+" + uri
