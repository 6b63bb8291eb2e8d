"""Kept images shared between replicas through Redis, so that any replica serves an image any of
them handed out, for as long as images are kept.

Each image is one key holding its bytes, named by its content (as `files.FileStore` names it),
with the files' own age limit as its TTL; an index (a sorted set of `<size>:<name>` by expiry)
keeps the total under its cap, oldest first, as the folder's sweep does. A second, small key per
name outlives the image by `REMEMBERED_SECONDS`, so that a replica can tell "no longer kept"
from "never made here".

Trouble with Redis costs at most a short wait, as for the limits (`rate_limit`): every
operation has `STORAGE_SECONDS` (more for the bytes of a large image), and while Redis fails
each replica keeps and serves only its own files, said once in the log, and tries again every
`RETRY_STORAGE_SECONDS`.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from typing import TypeVar

import coredis
from coredis.retry import NoRetryPolicy

from .logs import loggable
from .rate_limit import RETRY_STORAGE_SECONDS, STORAGE_SECONDS

log = logging.getLogger("websim_studio.files")
T = TypeVar("T")

IMAGE_KEY = "websim-studio:image:"
MADE_KEY = "websim-studio:image-made:"
INDEX_KEY = "websim-studio:images"
# How long past its removal a replica still knows that an image by that name was made, so
# that its address gets "no longer kept" rather than "never made here": a week, about a hundred
# bytes a name.
REMEMBERED_SECONDS = 7 * 24 * 3600
# Seconds an operation carrying an image's bytes may take beyond STORAGE_SECONDS, per MiB: a
# 20 MiB image over a slow link still fits, and a frozen Redis still costs a bounded wait.
SECONDS_PER_MIB = 0.1


class Seen(enum.Enum):
    """What the shared store knows of a name it does not hold (see `SharedImages.find`)."""

    REMOVED = "removed"
    """Made by some replica, and past its age limit or pushed out by the cap."""
    UNKNOWN = "unknown"
    """Never kept by any replica (or forgotten, a week after its removal)."""
    UNREACHABLE = "unreachable"
    """Redis did not answer in time: nothing is known."""


@dataclass(frozen=True)
class SharedImage:
    """An image's bytes as the shared store holds them, and when it was first kept."""

    data: bytes
    kept_at: float


class SharedImages:
    """Images kept in Redis at `url` for `max_age` seconds: each at most `max_image_bytes`,
    at most `max_bytes` in all."""

    def __init__(self, url: str, *, max_age: float, max_image_bytes: int, max_bytes: int) -> None:
        self.max_age = max_age
        self.max_image_bytes = max_image_bytes
        self.max_bytes = max_bytes
        self._redis: coredis.Redis[bytes] = coredis.Redis.from_url(
            url,
            decode_responses=False,
            connect_timeout=STORAGE_SECONDS,
            # Each call has its own deadline (`_within`); a retry inside it would only wait longer.
            retry_policy=NoRetryPolicy(),
        )
        self._alone_until = 0.0
        self.degraded = False
        """Whether this replica shares no images now, Redis failing or slow."""

    async def keep(self, name: str, data: bytes) -> None:
        """Share the image `data`, kept on this replica under `name`; on trouble, keep it
        here only. An image over `max_image_bytes` is kept here only."""
        size = len(data)
        if size > self.max_image_bytes or size > self.max_bytes or not self._trying:
            return
        ttl = max(1, int(self.max_age * 1000))
        now = time.time()

        async def store() -> None:
            redis = self._redis
            await redis.zremrangebyscore(INDEX_KEY, float("-inf"), now)
            members = await redis.zrange(INDEX_KEY, 0, -1)
            member = f"{size}:{name}".encode()
            held = [m for m in members if m != member]
            total = sum(_size_of(m) for m in held)
            dropped = []
            while held and total + size > self.max_bytes:
                oldest = held.pop(0)  # scores are expiries, all after the same age: oldest first
                total -= _size_of(oldest)
                dropped.append(oldest)
            pipe = await redis.pipeline(transaction=False)
            if dropped:
                pipe.zrem(INDEX_KEY, tuple(dropped))
                pipe.delete([IMAGE_KEY + _name_of(m) for m in dropped])
            pipe.set(IMAGE_KEY + name, data, px=ttl)
            pipe.set(MADE_KEY + name, str(now).encode(), px=ttl + REMEMBERED_SECONDS * 1000)
            pipe.zadd(INDEX_KEY, {member: now + self.max_age})
            pipe.pexpire(INDEX_KEY, ttl)
            await pipe.execute()

        await self._within(store(), size)

    async def find(self, name: str) -> SharedImage | Seen:
        """The image kept under `name`, or what is known of it."""
        if not self._trying:
            return Seen.UNREACHABLE

        async def look() -> tuple[int, bytes | None]:
            pipe = await self._redis.pipeline(transaction=False)
            pipe.strlen(IMAGE_KEY + name)
            pipe.get(MADE_KEY + name)
            size, made = await pipe.execute()
            return int(size), made if isinstance(made, bytes) else None

        # What is there first, in one short round trip: the bytes' wait follows their size.
        known = await self._within(look(), 0)
        if known is None:
            return Seen.UNREACHABLE
        size, made = known
        if made is None:
            return Seen.UNKNOWN
        data = await self._within(self._redis.get(IMAGE_KEY + name), size) if size else None
        if isinstance(data, bytes) and data:
            return SharedImage(data, float(made))
        return Seen.UNREACHABLE if data is None and size and self.degraded else Seen.REMOVED

    async def close(self) -> None:
        self._redis.connection_pool.disconnect()

    @property
    def _trying(self) -> bool:
        return time.monotonic() >= self._alone_until

    async def _within(self, operation: Awaitable[T], size: int) -> T | None:
        """`operation`'s result, or None (said once) when Redis fails or is slow: for a while
        then, this replica keeps and serves its own files only."""
        seconds = STORAGE_SECONDS + SECONDS_PER_MIB * size / 2**20
        try:
            async with asyncio.timeout(seconds):
                result = await operation
        except Exception as error:  # coredis' own errors, OSError, TimeoutError
            self._alone_until = time.monotonic() + RETRY_STORAGE_SECONDS
            if not self.degraded:
                self.degraded = True
                what = "did not answer in time" if isinstance(error, TimeoutError) else str(error)
                log.warning(
                    "shared image store unavailable (%s): this replica serves only the images "
                    "it holds until it answers",
                    loggable(what),
                )
            return None
        if self.degraded:
            self.degraded = False
            log.warning("shared image store answers again: images are shared again")
        return result


def _size_of(member: bytes) -> int:
    size, _, _ = member.partition(b":")
    return int(size) if size.isdigit() else 0


def _name_of(member: bytes) -> str:
    return member.partition(b":")[2].decode("ascii", "replace")
