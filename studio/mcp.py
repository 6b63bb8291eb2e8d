"""The page's `chat` and `generate_image` as MCP tools, through Gradio's own MCP server.

Gradio answers a tool call by calling its own queue over HTTP, so a tool waits its turn and
reports progress like any other caller. Two things it leaves open, and this module closes:

- Where that call goes. Left alone, Gradio connects to the host named by the first MCP request
  (its X-Forwarded-Host, which any caller may write) and keeps that for every later call, with
  each caller's headers. Here it always goes to this process, on loopback.
- Whom it counts. That call arrives from loopback, so every MCP user would share one limit. The
  MCP request is stamped with its caller's address, signed with a key only this process holds,
  and the stamped call is counted for that caller, as the page and the API are.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import secrets
from typing import Any

import gradio as gr

from .edge import PEER, ASGIApp, Receive, Scope, Send

MCP_PATH = "/gradio_api/mcp"
CALLER_HEADER = b"x-websim-studio-caller"


class McpCallers:
    """ASGI middleware (inside the edge): stamps MCP requests with their caller, and gives
    Gradio's loopback calls that carry a valid stamp that caller's address."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._key = secrets.token_bytes(32)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            scope = self._with_caller(scope)
        await self.app(scope, receive, send)

    def _with_caller(self, scope: Scope) -> Scope:
        # Whatever a caller sent under the header's name is never passed on.
        headers = [(k, v) for k, v in scope["headers"] if k != CALLER_HEADER]
        stamps = [v for k, v in scope["headers"] if k == CALLER_HEADER]
        if stamps and _is_loopback(scope.get(PEER, "")):
            caller = self._verified(stamps[0])
            if caller is not None:
                return {**scope, "headers": headers, "client": (caller, 0)}
        if scope["path"].startswith(MCP_PATH):
            client = (scope.get("client") or ("", 0))[0]
            headers.append((CALLER_HEADER, self._stamp(client)))
        return {**scope, "headers": headers}

    def _stamp(self, client: str) -> bytes:
        return f"{client} {self._signature(client)}".encode("latin-1")

    def _verified(self, stamp: bytes) -> str | None:
        client, _, signature = stamp.decode("latin-1").rpartition(" ")
        if client and hmac.compare_digest(signature, self._signature(client)):
            return client
        return None

    def _signature(self, client: str) -> str:
        return hmac.new(self._key, client.encode("latin-1"), hashlib.sha256).hexdigest()


def serve_tools_from(demo: gr.Blocks, host: str, port: int) -> None:
    """Point Gradio's MCP tool calls at this process, listening on `host`:`port`."""
    server: Any = getattr(demo, "mcp_server_obj", None)
    if server is None:
        return
    server._local_url = f"http://{_loopback_for(host)}:{port}/"
    # On a Space Gradio would name the tools `<space>_chat`: hosts already keep each server's
    # tools apart, and the names stay the ones the docs give.
    server.tool_prefix = ""
    server.tool_to_endpoint = server.get_tool_to_endpoint()
    _cancel_jobs_of_departed_hosts(server)


def _cancel_jobs_of_departed_hosts(server: Any) -> None:
    """An MCP host that leaves mid-call cancels the call: the job's stream is closed, and the
    server cancels an event whose client has gone (see studio.gradio_hardening)."""
    for name in ("_execute_tool_without_progress", "_execute_tool_with_progress"):
        run = getattr(server, name)

        async def cancellable(job: Any, *args: Any, _run: Any = run) -> Any:
            try:
                return await _run(job, *args)
            except asyncio.CancelledError:
                job.cancel()
                raise

        setattr(server, name, cancellable)


def _loopback_for(host: str) -> str:
    """The address this process answers on from itself."""
    if host in ("", "0.0.0.0", "localhost"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host


def _is_loopback(peer: str) -> bool:
    try:
        return ipaddress.ip_address(peer).is_loopback
    except ValueError:
        return False
