"""One call made for a user: who asked (for limits and logs), and how it went (for metrics).

Each call is logged in one line. A call made while the edge holds the request's `CallNotes`
open (the /v1 routes) goes into the request's own line instead, so that a /v1 call costs one log
record, not two; a call that ends after its request was logged (a caller that hung up) still
gets a line of its own. The first failure of each kind that an operator can do something about
adds a line saying what (`studio.turns.failures`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Literal

from websim_core import InvalidRequestError, WebsimError, WebsimTimeoutError
from websim_core.errors import UpstreamPausedError

from ..services.identity import limit_key
from ..services.logs import loggable
from ..services.rate_limit import ClientRateLimitError
from ..services.shared import Services
from .failures import log_operator_hint

log = logging.getLogger("websim_studio.calls")

Operation = Literal["chat", "image"]


@dataclass(frozen=True)
class Caller:
    """Whom a call is for: `key` is what the limits count (a client address, later an API key),
    `request_id` ties the call's log line to the request's."""

    key: str
    request_id: str = ""
    surface: str = "page"

    @classmethod
    def of(cls, request: Any, surface: str = "page") -> Caller:
        """The caller of an HTTP `request` (Starlette's, or Gradio's wrapping of it), counted
        by the client's address as the edge established it (see studio.server.edge): never by a
        session hash or anything else the caller chooses."""
        client = getattr(request, "client", None)
        host = getattr(client, "host", None) or "unknown"
        request_id = request.headers.get("x-request-id", "") if request is not None else ""
        return cls(limit_key(host), request_id, surface)


@dataclass
class CallNotes:
    """What the calls made for one request said, waiting for the request's log line."""

    request_id: str
    lines: list[str] = field(default_factory=list)
    open: bool = True

    def close(self) -> str:
        """The calls' lines, to end the request's own line with; later calls log their own."""
        self.open = False
        return "".join("; " + line for line in self.lines)


# Set by the edge for the requests whose log line carries their calls' lines.
call_notes: ContextVar[CallNotes | None] = ContextVar("websim_studio_call_notes", default=None)


@asynccontextmanager
async def tracked(services: Services, operation: Operation, caller: Caller) -> AsyncIterator[None]:
    """Count the call in flight, then its outcome and time, and log one line for it; a call
    refused for its input counts against the caller's refusal budget too.

    The outcome is read from how the block ends; errors pass on unchanged.
    """
    metrics = services.metrics
    metrics.call_started(operation)
    started = time.perf_counter()
    outcome = "ok"
    problem = ""
    try:
        yield
    except BaseException as error:
        outcome = _outcome(error)
        problem = str(error) if isinstance(error, Exception) else ""
        log_operator_hint(error, services.websim.base_url)
        raise
    finally:
        seconds = time.perf_counter() - started
        metrics.call_ended(operation, caller.surface, outcome, seconds)
        if outcome == "limited":
            metrics.limit_refusals.labels("requests").inc()
        elif outcome == "refused_input":
            await services.limiter.refused(caller.key)
        # One line per call; the error's own one-line message, never the user's text.
        line = f"{operation} {caller.surface} {outcome} {seconds * 1000:.0f}ms"
        if problem:
            line += f": {loggable(problem)}"
        notes = call_notes.get()
        if notes is not None and notes.open and notes.request_id == caller.request_id:
            notes.lines.append(line)
        else:
            log.info("%s %s", caller.request_id or "-", line)


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
