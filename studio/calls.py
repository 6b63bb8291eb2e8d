"""One call made for a user: who asked (for limits and logs), and how it went (for metrics)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Literal

from websim_core import InvalidRequestError, WebsimError, WebsimTimeoutError
from websim_core.errors import UpstreamPausedError

from .metrics import Metrics
from .rate_limit import ClientRateLimitError

log = logging.getLogger("websim_studio.calls")

Operation = Literal["chat", "image"]


@dataclass(frozen=True)
class Caller:
    """Whom a call is for: `key` is what the limits count (a client address, later an API key),
    `request_id` ties the call's log line to the request's."""

    key: str
    request_id: str = ""
    surface: str = "page"


@asynccontextmanager
async def tracked(metrics: Metrics, operation: Operation, caller: Caller) -> AsyncIterator[None]:
    """Count the call in flight, then its outcome and time, and log one line for it.

    The outcome is read from how the block ends; errors pass on unchanged.
    """
    metrics.call_started(operation)
    started = time.perf_counter()
    outcome = "ok"
    problem = ""
    try:
        yield
    except BaseException as error:
        outcome = _outcome(error)
        problem = str(error) if isinstance(error, Exception) else ""
        raise
    finally:
        seconds = time.perf_counter() - started
        metrics.call_ended(operation, caller.surface, outcome, seconds)
        if outcome == "limited":
            metrics.limit_refusals.labels("requests").inc()
        # One line per call; the error's own one-line message, never the user's text.
        log.info(
            "%s %s %s %s %.0fms%s",
            caller.request_id or "-",
            operation,
            caller.surface,
            outcome,
            seconds * 1000,
            f": {problem}" if problem else "",
        )


def _outcome(error: BaseException) -> str:
    if isinstance(error, asyncio.CancelledError | GeneratorExit):
        return "cancelled"
    if isinstance(error, ClientRateLimitError):
        return "limited"
    if isinstance(error, InvalidRequestError):
        return "refused_input"
    if isinstance(error, UpstreamPausedError):
        return "paused"
    if isinstance(error, WebsimTimeoutError):
        return "timeout"
    if isinstance(error, WebsimError):
        return "upstream_error"
    return "server_error"
