"""Progress of a call in flight, for showing a person why they are still waiting."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Literal, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Progress:
    """One step of a call: an attempt going out, or a retry scheduled after a failure."""

    stage: Literal["sending", "retrying"]
    attempt: int
    """The attempt being made ("sending") or about to be made ("retrying"), counted from 1."""
    attempts: int
    """Attempts allowed in all: the first and every retry."""
    delay: float = 0.0
    """Seconds until the next attempt ("retrying" only)."""
    reason: str = ""
    """Why the last attempt failed ("retrying" only), e.g. "rate limited (429)"."""

    def __str__(self) -> str:
        if self.stage == "sending":
            if self.attempt == 1:
                return "waiting for Websim"
            return f"waiting for Websim (attempt {self.attempt} of {self.attempts})"
        return (
            f"{self.reason}, retrying in {_seconds(self.delay)} "
            f"(attempt {self.attempt} of {self.attempts})"
        )


ProgressCallback = Callable[[Progress], object]


def _seconds(delay: float) -> str:
    return f"{delay:.1f} s" if delay < 1 else f"{round(delay)} s"


async def stream_progress(
    call: Callable[[ProgressCallback], Awaitable[T]],
) -> AsyncIterator[Progress | T]:
    """Run `call(report)` and yield every Progress it reports, then its result.

    The call's error is raised from the iteration. Leaving the loop early cancels the call.
    """
    queue: asyncio.Queue[Progress | None] = asyncio.Queue()
    task = asyncio.ensure_future(call(queue.put_nowait))
    task.add_done_callback(lambda _: queue.put_nowait(None))
    try:
        while (item := await queue.get()) is not None:
            yield item
        yield task.result()
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        elif not task.cancelled():
            task.exception()  # retrieved here when the loop was left early, so none is "lost"
