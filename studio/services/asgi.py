"""The ASGI vocabulary the server's layers share, and what the edge adds to a request's scope.

The edge (studio.server.edge) sets the scope's "client" to the client's own address; the address
of the peer that connected is kept under `PEER`, for the surfaces that must know whether that
peer is a trusted proxy or this process itself.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# Where the peer's own address is kept in the scope once "client" holds the client's address:
# whether it is a trusted proxy decides whether its X-Forwarded-Host/Proto are believed.
PEER = "websim_studio.peer"
