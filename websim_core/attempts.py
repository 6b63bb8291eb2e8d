"""AttemptRecord: what one attempt at a Websim call came to, for metrics; never its content."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from .catalog import Kind

Outcome = Literal["ok", "http_error", "timeout", "connection_error", "paused", "bad_reply"]


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt: sent and answered, failed on the way, or refused unsent by the guard."""

    kind: Kind
    """Which endpoint: "chat" or "image"."""
    attempt: int
    """Counted from 1; more than 1 means a retry."""
    outcome: Outcome
    """How it ended: "ok"; "http_error" (a non-2xx reply); "timeout"; "connection_error";
    "paused" (the guard held it back unsent); "bad_reply" (a reply that breaks the contract)."""
    status: int = 0
    """The reply's HTTP status, or 0 when there was no reply."""
    seconds: float = 0.0
    """Wall time of the attempt: from sending to the reply read, or to the failure."""


AttemptObserver = Callable[[AttemptRecord], object]
