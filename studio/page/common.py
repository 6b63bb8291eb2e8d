"""What every part of the page shares: who is calling, and how events are queued."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..services.shared import Services
from ..turns.calls import Caller

# Events that only move the page's own state: no queue, and not part of the public API.
PRIVATE: dict[str, Any] = {"api_visibility": "private"}
QUICK: dict[str, Any] = {"queue": False, **PRIVATE}


def websim_calls(services: Services) -> dict[str, Any]:
    """Listeners wait on Websim, not the CPU: let many run at once, sharing one budget."""
    return {"concurrency_limit": services.studio.concurrency, "concurrency_id": "websim"}


def caller(request: gr.Request | None, surface: str = "page") -> Caller:
    """Whom the limits count for this event (see `Caller.of`)."""
    return Caller.of(request, surface)
