"""What every part of the page shares: who is calling, and how events are queued."""

from __future__ import annotations

from typing import Any

import gradio as gr

from ..calls import Caller
from ..identity import limit_key
from ..services import Services

# Events that only move the page's own state: no queue, and not part of the public API.
PRIVATE: dict[str, Any] = {"api_visibility": "private"}
QUICK: dict[str, Any] = {"queue": False, **PRIVATE}


def websim_calls(services: Services) -> dict[str, Any]:
    """Listeners wait on Websim, not the CPU: let many run at once, sharing one budget."""
    return {"concurrency_limit": services.studio.concurrency, "concurrency_id": "websim"}


def caller(request: gr.Request | None, surface: str = "page") -> Caller:
    """Whom the limits count: the client's address as the edge established it (see
    studio.edge), never the session hash, which the caller chooses."""
    client = request.client if request is not None else None
    host = getattr(client, "host", None) or "unknown"
    request_id = request.headers.get("x-request-id", "") if request is not None else ""
    return Caller(limit_key(host), request_id, surface)
