"""The edge of the server: every HTTP request passes here before Gradio or any route sees it.

It gives the request an id and its real client address (see `identity`), refuses bodies over
the cap before anything parses or stores them (with or without Content-Length), counts uploads
against the client's limit, says "busy" in words when Gradio's queue is full, and writes one
log line and the metrics for each request. A plain ASGI middleware, so streamed replies
(Gradio's Server-Sent Events) pass through untouched.

A route family that answers everything itself (`/v1`) is handed straight to its own ASGI app,
past FastAPI; every other request goes to the application behind the edge. This runs for every
request, so it is kept cheap: no per-request parsing of addresses already seen, no metric label
lookups, no UUID objects.
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
import os
import time
from collections.abc import Mapping

from starlette.exceptions import HTTPException

from ..openai.errors import refusal_for_status
from ..openai.wire import error_event
from ..services.asgi import PEER, ASGIApp, Message, Receive, Scope, Send
from ..services.config import StudioSettings
from ..services.identity import client_address, limit_key
from ..services.logs import loggable
from ..services.metrics import Metrics
from ..services.rate_limit import (
    REFUSALS_PER_MINUTE,
    ClientLimiter,
    ClientRateLimitError,
    describe_wait,
)
from ..turns.calls import CallNotes, call_notes
from .drain import REFUSING, REFUSING_RETRY, STOPPING, Drain

log = logging.getLogger("websim_studio.http")

# Multipart framing around an uploaded file; the file itself is capped by Gradio's max_file_size.
UPLOAD_OVERHEAD = 64 * 1024
BUSY_SECONDS = 30
BUSY = (
    "The server is busy: every place in its queue is taken. Try again in about "
    f"{BUSY_SECONDS} seconds."
)
# Gradio answers 503 to a join when its queue is full; these are the routes that join.
_JOINS = ("queue_join", "call")
# The routes whose bodies are parsed and checked: a client that has spent its refusal budget is
# refused there before its body is read.
_PARSED = ("v1", "queue_join", "call", "run")
SPENT_BUDGET_PAUSE = 1.0
SHAPE_HINT = (
    'Send JSON such as {"data": ["Hello"]}; the page\'s "Use via API" link lists each route.'
)
PER_CLIENT = (
    "This address has {count} requests open to the server, as many as one address may; "
    "wait for one to finish, then try again."
)
# A request still running when the server stops past its grace is answered 503 with STOPPING.
STOPPING_RETRY = 5
# Routes for operators: they keep answering while the server drains, and do not hold it up.
_OPERATORS = ("healthz", "readyz", "metrics")
# Sentences the edge answers with are short, whatever they quote.
MAX_SENTENCE = 1000
# Peers whose client address is remembered, for requests without X-Forwarded-For; past this
# many the memory starts over, so that a scan from many addresses cannot grow it.
KNOWN_PEERS = 4096


class Edge:
    """ASGI middleware in front of the whole application; `surfaces` are the route families
    answered by an ASGI app of their own instead of `app`."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: StudioSettings,
        limiter: ClientLimiter,
        metrics: Metrics,
        max_upload_bytes: int,
        surfaces: Mapping[str, ASGIApp] | None = None,
        drain: Drain | None = None,
    ) -> None:
        self.app = app
        self.settings = settings
        self.limiter = limiter
        self.metrics = metrics
        self.max_upload_bytes = max_upload_bytes + UPLOAD_OVERHEAD
        self.surfaces = dict(surfaces or {})
        self.drain = drain
        self._clients: dict[str, str] = {}
        # Requests open now per client behind a trusted proxy (by limit key); gone at zero.
        self._open: dict[str, int] = {}
        self._per_client = PER_CLIENT.format(count=settings.connections_per_client)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = os.urandom(8).hex()
        id_header = (b"x-request-id", request_id.encode())
        headers: list[tuple[bytes, bytes]] = []
        forwarded: list[str] = []
        for key, value in scope["headers"]:
            if key == b"x-forwarded-for":
                forwarded.append(value.decode("latin-1"))
            elif key == b"x-request-id":
                continue
            headers.append((key, value))
        headers.append(id_header)
        peer = (scope.get("client") or ("", 0))[0]
        client = self._client_of(peer, forwarded)
        # Behind a trusted proxy every visitor shares the proxy's connections, which the
        # connection caps (studio.server.connections) leave alone: here the cap follows the
        # client the proxy names, counted by the requests it has open.
        proxied = client != peer and bool(forwarded)
        key = limit_key(client) if proxied else ""
        scope = {**scope, "headers": headers, "client": (client, 0), PEER: peer}
        route = route_family(scope["path"])
        status = 0
        streaming = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, streaming
            if message["type"] == "http.response.start":
                status = message["status"]
                streaming = (b"content-type", b"text/event-stream") in (
                    (key, value.split(b";")[0]) for key, value in message.get("headers", ())
                )
                message["headers"] = [*message.get("headers", ()), id_header]
            await send(message)

        surface = self.surfaces.get(route)
        # A surface's calls are told in this request's log line (see studio.turns.calls).
        notes = CallNotes(request_id) if surface is not None else None
        if notes is not None:
            call_notes.set(notes)
        if proxied:
            self._open[key] = self._open.get(key, 0) + 1
        # A stopping server waits for these (see studio.server.drain).
        drain = self.drain if route not in _OPERATORS else None
        if drain is not None:
            drain.open_requests += 1
        try:
            refusal = await self._refusal(scope, route, client)
            if proxied and self._open[key] > self.settings.connections_per_client:
                refusal = 429, self._per_client, [(b"connection", b"close"), (b"retry-after", b"5")]
            limited = _capped(receive, self._body_limit(route), self.metrics)
            if refusal is not None:
                await _answer(send_with_id, *refusal, openai=route == "v1")
            elif surface is not None:
                await surface(scope, limited, send_with_id)
            else:
                joins = route in _JOINS and scope["method"] == "POST"
                responder = _refusals_in_words(send_with_id, self.metrics, joins)
                await self.app(scope, limited, responder)
        except asyncio.CancelledError:
            # Only a server stopping past its grace cancels a request's task. Left to uvicorn,
            # the caller would get a plain "Internal Server Error" and the log a traceback.
            await _stopping(
                send_with_id, started=status != 0, openai=route == "v1", streaming=streaming
            )
            status = status or 503
        finally:
            if drain is not None:
                drain.open_requests -= 1
            if proxied:
                left = self._open[key] - 1
                if left:
                    self._open[key] = left
                else:
                    del self._open[key]
            seconds = time.perf_counter() - started
            self.metrics.http_request(route, status or 499, seconds)
            log.info(
                "%s %s %s %s %s %.0fms%s",
                request_id,
                loggable(client, 64),
                loggable(scope["method"], 16),
                loggable(scope["path"]),
                status or "disconnected",
                seconds * 1000,
                notes.close() if notes is not None else "",
            )

    def _client_of(self, peer: str, forwarded: list[str]) -> str:
        """The client's address; the same peer without X-Forwarded-For is the same client."""
        if forwarded:
            return client_address(peer, forwarded, self.settings.trusted_proxies)
        client = self._clients.get(peer)
        if client is None:
            if len(self._clients) >= KNOWN_PEERS:
                self._clients.clear()
            client = client_address(peer, (), self.settings.trusted_proxies)
            self._clients[peer] = client
        return client

    def _body_limit(self, route: str) -> int:
        """Uploads keep their own cap (Gradio's max_file_size); everything else the request cap."""
        return self.max_upload_bytes if route == "upload" else self.settings.max_request_bytes

    async def _refusal(
        self, scope: Scope, route: str, client: str
    ) -> tuple[int, str, list[tuple[bytes, bytes]]] | None:
        """Status, sentence and headers to answer at once with, or None to pass the request on."""
        if self.drain is not None and self.drain.draining and _new_work(scope):
            retry = str(REFUSING_RETRY).encode()
            return 503, REFUSING, [(b"connection", b"close"), (b"retry-after", retry)]
        limit = self._body_limit(route)
        length = _content_length(scope)
        if length is not None and length > limit:
            self.metrics.limit_refusals.labels("body_size").inc()
            # The body is not read: the connection cannot carry another request.
            return 413, too_large(length, limit), [(b"connection", b"close")]
        # Asked only once someone has been refused: otherwise every POST would parse its client's
        # address and await a lookup that finds nothing.
        if route in _PARSED and scope["method"] == "POST" and self.limiter.refusing:
            spent = await self.limiter.refusals_wait(limit_key(client))
            if spent:
                self.metrics.limit_refusals.labels("refusals").inc()
                # Answered after a pause: a script that ignores Retry-After and sends again at
                # once would otherwise cost the server a connection and a refusal every few
                # milliseconds. The pause costs a sleeping task; the body stays unread.
                await asyncio.sleep(SPENT_BUDGET_PAUSE)
                sentence = describe_wait(
                    spent, REFUSALS_PER_MINUTE, "requests that could not be sent"
                )
                retry = str(math.ceil(spent)).encode()
                return 429, sentence, [(b"connection", b"close"), (b"retry-after", retry)]
        if route == "upload" and scope["method"] == "POST":
            try:
                await self.limiter.hit(limit_key(client), "uploads")
            except ClientRateLimitError as error:
                self.metrics.limit_refusals.labels("uploads").inc()
                wait = str(math.ceil(error.wait)).encode()
                return 429, str(error), [(b"connection", b"close"), (b"retry-after", wait)]
        return None


def _new_work(scope: Scope) -> bool:
    """Whether a request starts work a draining server no longer takes: every POST (a /v1 call,
    a Gradio event, an upload, an MCP request) but Gradio's cancel of an event it holds."""
    return scope["method"] == "POST" and not scope["path"].endswith("/cancel")


async def _stopping(send: Send, *, started: bool, openai: bool, streaming: bool) -> None:
    """End a request the stopping server cancelled: a 503 saying so if nothing was sent yet,
    else the end of the reply begun; a `/v1` stream's last event is OpenAI's error, which the
    SDKs raise, rather than a stream that merely stops."""
    try:
        if not started:
            headers = [(b"connection", b"close"), (b"retry-after", str(STOPPING_RETRY).encode())]
            await _answer(send, 503, STOPPING, headers, openai=openai)
        else:
            last = b""
            if openai and streaming:
                last = error_event(refusal_for_status(503, STOPPING).body())
            await send({"type": "http.response.body", "body": last, "more_body": False})
    except (OSError, RuntimeError):
        pass  # the connection is gone, or the reply was already whole


def too_large(size: int, limit: int, *, streamed: bool = False) -> str:
    """The 413 sentence; a streamed body is only known to be over, not its full size."""
    size_text = f"over {_megabytes(limit)}" if streamed else _megabytes(size)
    return (
        f"The request is {size_text}; this server takes at most {_megabytes(limit)}. "
        "Send a shorter conversation or smaller images."
    )


def route_family(path: str) -> str:
    """A small, fixed set of names for metrics: never the raw path, which callers choose."""
    if path in _EXACT:
        return _EXACT[path]
    for prefix, family in _PREFIXES:
        if path.startswith(prefix):
            return family
    if path.startswith("/gradio_api/file"):
        return "file"
    if path.startswith("/gradio_api/"):
        return "gradio_api"
    return "other"


_EXACT = {
    "/": "page",
    "/healthz": "healthz",
    "/readyz": "readyz",
    "/metrics": "metrics",
    "/config": "config",
    "/gradio_api/queue/join": "queue_join",
    "/gradio_api/queue/data": "queue_data",
    "/gradio_api/upload": "upload",
    "/gradio_api/info": "info",
    "/theme.css": "static",
    "/favicon.ico": "static",
    "/manifest.json": "static",
}
_PREFIXES = (
    ("/gradio_api/call/", "call"),
    ("/gradio_api/run/", "run"),
    ("/gradio_api/queue/", "queue_data"),
    ("/v1/", "v1"),
    ("/assets/", "static"),
    ("/static/", "static"),
    ("/svelte/", "static"),
)


def _capped(receive: Receive, limit: int, metrics: Metrics) -> Receive:
    """`receive`, failing with 413 once the body runs past `limit` (chunked bodies included).

    The error is an HTTPException so that the route's own exception handling answers it with
    413 while nothing has been sent yet; the rest of the body is never read.
    """
    received = 0

    async def capped() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > limit:
                metrics.limit_refusals.labels("body_size").inc()
                raise HTTPException(413, detail=too_large(received, limit, streamed=True))
        return message

    return capped


def _refusals_in_words(send: Send, metrics: Metrics, joins: bool) -> Send:
    """Say Gradio's and FastAPI's refusals as sentences: a full queue (503 to a join, "Queue is
    full. Max size is N and size is N.") and a body of the wrong shape (422, a list of pydantic
    errors). Everything else passes through untouched, streams included."""
    holding: Message | None = None
    held = b""

    async def worded_send(message: Message) -> None:
        nonlocal holding, held
        if message["type"] == "http.response.start":
            status = message["status"]
            if status == 422 or (status == 503 and joins):
                holding = message
                return
        elif holding is not None and message["type"] == "http.response.body":
            held += message.get("body", b"")
            if message.get("more_body", False):
                return
            status = holding["status"]
            if status == 503:
                metrics.limit_refusals.labels("busy").inc()
                sentence, extra = BUSY, [(b"retry-after", str(BUSY_SECONDS).encode())]
            else:
                sentence, extra = _shape_problem(held), []
            kept = [
                (k, v)
                for k, v in holding.get("headers", [])
                if k not in (b"content-length", b"content-type")
            ]
            await _answer(send, status, sentence, [*kept, *extra])
            return
        await send(message)

    return worded_send


def _shape_problem(body: bytes) -> str:
    """One sentence for FastAPI's list of validation errors about a request body."""
    try:
        first = json.loads(body)["detail"][0]
        kind, where, problem = first["type"], first["loc"], first["msg"]
    except (ValueError, LookupError, TypeError):
        return "That request cannot be sent: its body is not what this route takes. " + SHAPE_HINT
    # The location may name keys the caller chose: quoted short, never whole.
    field = loggable(".".join(str(part) for part in where if part != "body"), 80) or "its body"
    if kind == "json_invalid":
        what = "its body is not valid JSON"
    elif kind == "missing":
        what = f"{field} is missing"
    else:
        what = f"{field}: {problem[:1].lower()}{problem[1:]}"
    return f"That request cannot be sent: {what}. {SHAPE_HINT}"


async def _answer(
    send: Send,
    status: int,
    sentence: str,
    headers: list[tuple[bytes, bytes]],
    *,
    openai: bool = False,
) -> None:
    """A JSON `{"detail": sentence}` response, as FastAPI words its own errors; on the
    OpenAI-compatible routes, OpenAI's error envelope, which its SDKs read."""
    sentence = sentence[:MAX_SENTENCE]
    if openai:
        body = refusal_for_status(status, sentence).body()
    else:
        body = json.dumps({"detail": sentence}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                *headers,
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for key, value in scope["headers"]:
        if key == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _megabytes(size: int) -> str:
    return f"{size / 2**20:.1f} MiB"
