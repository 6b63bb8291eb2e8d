"""The page's `chat` and `generate_image` as MCP tools, through Gradio's own MCP server.

Gradio answers a tool call by calling its own queue over HTTP, so a tool waits its turn and
reports progress like any other caller. Three things it leaves open, and this module closes:

- Where that call goes. Left alone, Gradio connects to the host named by the first MCP request
  (its X-Forwarded-Host, which any caller may write) and keeps that for every later call, with
  each caller's headers. Here it always goes to this process, on loopback.
- Whom it counts. That call arrives from loopback, so every MCP user would share one limit. The
  MCP request is stamped with its caller's address, signed with a key only this process holds,
  and the stamped call is counted for that caller, as the page and the API are.
- When it ends. An MCP host that hangs up mid-call ends its HTTP request, but not the tool call
  Gradio started for it. The stamp names the MCP request too, so the Gradio events a request
  started are ended with it.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import json
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

import gradio as gr

from .services.asgi import PEER, ASGIApp, Message, Receive, Scope, Send
from .services.files import IMAGES_ROUTE, FileStore

MCP_PATH = "/gradio_api/mcp"
# How Gradio's MCP server introduces an image's address in a tool's result.
IMAGE_URL = "Image URL: "
JOIN_PATH = "/gradio_api/queue/join"
CALLER_HEADER = b"x-websim-studio-caller"
# A join's answer is `{"event_id": "..."}`; anything longer is not one.
_JOIN_ANSWER_BYTES = 4096


class McpCallers:
    """ASGI middleware (inside the edge): stamps each MCP request with its caller and an id,
    gives Gradio's loopback calls that carry a valid stamp that caller's address, and when the
    MCP request ends, ends the Gradio events its tool calls started (`end_event`)."""

    def __init__(self, app: ASGIApp, end_event: Callable[[str], Awaitable[None]]) -> None:
        self.app = app
        self.end_event = end_event
        self._key = secrets.token_bytes(32)
        # MCP request id -> the Gradio events its tool calls joined.
        self._events: dict[str, set[str]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Whatever a caller sent under the header's name is never passed on.
        headers = [(k, v) for k, v in scope["headers"] if k != CALLER_HEADER]
        stamps = [v for k, v in scope["headers"] if k == CALLER_HEADER]
        stamped = (
            self._verified(stamps[0]) if stamps and _is_loopback(scope.get(PEER, "")) else None
        )
        if stamped is not None:
            client, call = stamped
            scope = {**scope, "headers": headers, "client": (client, 0)}
            events = self._events.get(call)
            if events is not None and scope["path"] == JOIN_PATH:
                send = _noting_event(send, events)
            await self.app(scope, receive, send)
        elif scope["path"].startswith(MCP_PATH):
            client = (scope.get("client") or ("", 0))[0]
            call = secrets.token_hex(8)
            headers.append((CALLER_HEADER, self._stamp(client, call)))
            self._events[call] = events = set()
            try:
                await self.app({**scope, "headers": headers}, receive, send)
            finally:
                del self._events[call]
                # Finished events are gone already; one still running lost its host.
                for event in events:
                    await self.end_event(event)
        else:
            await self.app({**scope, "headers": headers}, receive, send)

    def _stamp(self, client: str, call: str) -> bytes:
        return f"{client} {call} {self._signature(client, call)}".encode("latin-1")

    def _verified(self, stamp: bytes) -> tuple[str, str] | None:
        parts = stamp.decode("latin-1").rsplit(" ", 2)
        if len(parts) == 3 and hmac.compare_digest(parts[2], self._signature(*parts[:2])):
            return parts[0], parts[1]
        return None

    def _signature(self, client: str, call: str) -> str:
        signed = f"{client} {call}".encode("latin-1")
        return hmac.new(self._key, signed, hashlib.sha256).hexdigest()


def _noting_event(send: Send, events: set[str]) -> Send:
    """`send`, noting in `events` the event id a queue join answers with."""
    body = bytearray()

    async def noting(message: Message) -> None:
        if message["type"] == "http.response.body" and len(body) < _JOIN_ANSWER_BYTES:
            body.extend(message.get("body", b""))
            if not message.get("more_body", False):
                try:
                    answer = json.loads(body)
                except ValueError:
                    answer = None
                if isinstance(answer, dict) and isinstance(answer.get("event_id"), str):
                    events.add(answer["event_id"])
        await send(message)

    return noting


def serve_tools_from(demo: gr.Blocks, host: str, port: int, files: FileStore) -> None:
    """Point Gradio's MCP tool calls at this process, listening on `host`:`port`; the images
    they answer with are given at their public address among `files`."""
    server: Any = getattr(demo, "mcp_server_obj", None)
    if server is None:
        return
    server.postprocess_output_data = _public_image_urls(server.postprocess_output_data, files)
    server._local_url = f"http://{_loopback_for(host)}:{port}/"
    # On a Space Gradio would name the tools `<space>_chat`: hosts already keep each server's
    # tools apart, and the names stay the ones the docs give.
    server.tool_prefix = ""
    server.tool_to_endpoint = server.get_tool_to_endpoint()


def _public_image_urls(
    postprocess: Callable[[Any, str], list[Any]], files: FileStore
) -> Callable[[Any, str], list[Any]]:
    """Gradio's tool results, each image's address on this server's route for kept images
    (`IMAGES_ROUTE`) instead of Gradio's file route, whose address names the server's own
    folders (`/gradio_api/file=/tmp/websim-studio-…/…`)."""

    def postprocessed(data: Any, root_url: str) -> list[Any]:
        contents = postprocess(data, root_url)
        outputs = data if isinstance(data, list) else [data]
        names = iter(
            files.kept_name(output.get("path") or "")
            for output in outputs
            if isinstance(output, dict) and output.get("path")
        )
        for item in contents:
            text = getattr(item, "text", None)
            if isinstance(text, str) and text.startswith(IMAGE_URL):
                name = next(names, None)
                item.text = IMAGE_URL + (
                    root_url.rstrip("/") + IMAGES_ROUTE + name if name else "not kept here"
                )
        return contents

    return postprocessed


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
