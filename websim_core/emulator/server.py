"""A loopback stand-in for Websim's inference API, with failures on demand.

It runs on aiohttp's own server on purpose: its strict HTTP parser rejects what a strict proxy in
front of Websim would (such as the seed's `websim-flags;` header), so the emulator catches that
class of bug instead of hiding it.
"""

from __future__ import annotations

import asyncio
import json
import random
import ssl
from collections import deque
from types import TracebackType
from typing import Any, Final, cast, get_args

from aiohttp import web

from websim_core.catalog import CHAT_PATH, IMAGE_PATH, Kind
from websim_core.emulator.answers import chat_answer, error_response, image_answer
from websim_core.emulator.faults import RANDOM_FAULTS, Fault, fault_response
from websim_core.emulator.images import MAX_IMAGE_SIDE, render_png
from websim_core.emulator.recording import (
    DEFAULT_MAX_RECORDED,
    MAX_RECORDED_BYTES,
    RecordedRequest,
    RequestLog,
)

FAULTS_PATH: Final = "/emulator/faults"
# What a test in another process can observe: whether a client that gave up closed its request.
STATE_PATH: Final = "/emulator/state"
# Chat bodies carry base64 images; aiohttp's 1 MiB default would refuse ordinary photos.
MAX_BODY_BYTES: Final = 32 * 1024 * 1024
# Connections waiting to be accepted. aiohttp's default of 128 overflows when a server under
# test opens a thousand connections at once, and the kernel then drops the excess and lets them
# retry a second later: a delay of the emulator's making, not the client's. Websim itself sits
# behind Cloudflare.
LISTEN_BACKLOG: Final = 4096
# Only a safety net: stop() cancels its own in-flight handlers first, so nothing should wait this.
SHUTDOWN_TIMEOUT: Final = 0.5


class Emulator:
    """Serves the chat and image endpoints on loopback; queue `Fault`s to make them misbehave.

    `requests` holds the recent API requests, oldest first, faulted ones included: at most
    `max_recorded` of them and 32 MiB (`MAX_RECORDED_BYTES`) of raw bodies in all, the oldest
    dropped first, so that a long demo or standalone run does not keep every photo it was sent.
    It indexes and slices like a list, and compares equal to a list of the same requests.
    """

    def __init__(
        self,
        *,
        latency: float = 0.0,
        fault_rate: float = 0.0,
        seed: int | None = None,
        ssl_context: ssl.SSLContext | None = None,
        image_long_side: int = 512,
        max_recorded: int = DEFAULT_MAX_RECORDED,
    ) -> None:
        if latency < 0:
            raise ValueError("latency: must be >= 0 seconds")
        if not 0.0 <= fault_rate <= 1.0:
            raise ValueError("fault_rate: must be between 0 and 1")
        if not 1 <= image_long_side <= MAX_IMAGE_SIDE:
            raise ValueError(f"image_long_side: must be 1 to {MAX_IMAGE_SIDE} pixels")
        if max_recorded < 0:
            raise ValueError("max_recorded: must be >= 0")
        self.latency = latency
        self.fault_rate = fault_rate
        self.image_long_side = image_long_side
        self.requests = RequestLog(max_recorded, MAX_RECORDED_BYTES)
        self._ssl_context = ssl_context
        self._random = random.Random(seed)
        self._scripted: dict[Kind, deque[Fault]] = {"chat": deque(), "image": deque()}
        self._peers: set[tuple[str, int]] = set()
        self._in_flight: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self._base_url: str | None = None

    # -- lifecycle -------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Listen on `host`:`port` (0 picks a free port) and return the base URL to call."""
        if self._runner is not None:
            raise RuntimeError("the emulator is already running")
        # handler_cancellation: a client that gives up on a hang must not leave its handler asleep.
        runner = web.AppRunner(
            self._make_app(),
            handler_cancellation=True,
            shutdown_timeout=SHUTDOWN_TIMEOUT,
            access_log=None,
        )
        await runner.setup()
        try:
            site = web.TCPSite(
                runner, host, port, ssl_context=self._ssl_context, backlog=LISTEN_BACKLOG
            )
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        bound_port: int = runner.addresses[0][1]
        scheme = "https" if self._ssl_context is not None else "http"
        self._base_url = f"{scheme}://{_url_host(host)}:{bound_port}"
        return self._base_url

    async def stop(self) -> None:
        """Stop serving, cutting off any request still in progress; safe to call twice."""
        runner, self._runner = self._runner, None
        self._base_url = None
        if runner is None:
            return
        # Cancel first so cleanup finds nothing to wait for, however long a hang was scripted.
        for task in list(self._in_flight):
            task.cancel()
        await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()

    @property
    def base_url(self) -> str:
        """Where the emulator listens, such as ``http://127.0.0.1:54321``."""
        if self._base_url is None:
            raise RuntimeError("the emulator is not running: call start() first")
        return self._base_url

    @property
    def connections(self) -> int:
        """Distinct TCP connections that carried API requests: proves a client reuses them."""
        return len(self._peers)

    @property
    def in_flight(self) -> int:
        """API requests being answered now; one whose client hung up is no longer counted."""
        return len(self._in_flight)

    # -- faults ----------------------------------------------------------------------------------

    def script(self, kind: Kind, *faults: Fault) -> None:
        """Queue `faults` for `kind`; each later request of that kind consumes one, in order."""
        if kind not in self._scripted:
            raise ValueError(f"kind: must be one of {', '.join(self._scripted)}")
        for fault in faults:
            if not isinstance(fault, Fault):
                raise TypeError(f"expected a Fault, got {type(fault).__name__}")
        self._scripted[kind].extend(faults)

    def clear_faults(self) -> int:
        """Drop every queued fault of both kinds; returns how many were dropped."""
        dropped = sum(len(queue) for queue in self._scripted.values())
        for queue in self._scripted.values():
            queue.clear()
        return dropped

    def _next_fault(self, kind: Kind) -> Fault | None:
        queue = self._scripted[kind]
        if queue:
            return queue.popleft()
        if self.fault_rate and self._random.random() < self.fault_rate:
            return self._random.choice(RANDOM_FAULTS)
        return None

    # -- HTTP ------------------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application(client_max_size=MAX_BODY_BYTES)
        app.router.add_get("/", self._index)
        app.router.add_post(CHAT_PATH, self._chat)
        app.router.add_post(IMAGE_PATH, self._image)
        # \d{1,5} keeps int() cheap and inside Python's digit limit; the handler checks the size.
        app.router.add_get(
            r"/images/{width:\d{1,5}}x{height:\d{1,5}}/{digest:[A-Za-z0-9_-]{1,64}}.png",
            self._png,
        )
        app.router.add_post(FAULTS_PATH, self._queue_faults)
        app.router.add_delete(FAULTS_PATH, self._clear_faults)
        app.router.add_get(STATE_PATH, self._state)
        return app

    async def _index(self, request: web.Request) -> web.Response:
        return web.Response(
            text=(
                "Websim emulator: a loopback stand-in for Websim's inference API.\n\n"
                f"POST {CHAT_PATH}\n"
                f"POST {IMAGE_PATH}\n"
                "GET  /images/<W>x<H>/<digest>.png\n"
                f"POST {FAULTS_PATH}  "
                '{"kind": "chat"|"image", "faults": [{"type": "status", "code": 429}, ...]}\n'
                f"DELETE {FAULTS_PATH}\n"
                f'GET  {STATE_PATH}  {{"in_flight": <API requests being answered now>}}\n'
            )
        )

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_api(request, "chat")

    async def _image(self, request: web.Request) -> web.StreamResponse:
        return await self._serve_api(request, "image")

    async def _serve_api(self, request: web.Request, kind: Kind) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self._in_flight.add(task)
        try:
            body = self._record(request, kind, await request.read())
            if self.latency:
                await asyncio.sleep(self.latency)
            fault = self._next_fault(kind)
            if fault is not None and fault.type == "disconnect":
                return await _disconnect(request)
            if fault is not None and fault.type == "hang":
                assert fault.seconds is not None
                await asyncio.sleep(fault.seconds)
            elif fault is not None:
                return fault_response(fault, kind)
            if kind == "chat":
                return chat_answer(body)
            # The origin comes from the request so the URL works on port 0, under TLS and the CLI.
            origin = f"{request.scheme}://{request.host}"
            return image_answer(body, origin, self.image_long_side)
        finally:
            self._in_flight.discard(task)

    def _record(self, request: web.Request, kind: Kind, raw: bytes) -> Any:
        # The real client sends JSON labelled text/plain, so the content-type is no guide.
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        transport = request.transport
        peername = transport.get_extra_info("peername") if transport is not None else None
        peer = (str(peername[0]), int(peername[1])) if peername else ("", 0)
        self._peers.add(peer)
        headers = {name.lower(): value for name, value in request.headers.items()}
        self.requests.append(RecordedRequest(kind, headers, body, raw, peer))
        return body

    async def _png(self, request: web.Request) -> web.Response:
        width = int(request.match_info["width"])
        height = int(request.match_info["height"])
        if not (1 <= width <= MAX_IMAGE_SIDE and 1 <= height <= MAX_IMAGE_SIDE):
            return error_response(400, f"size: each side must be 1 to {MAX_IMAGE_SIDE} pixels")
        # A thread keeps a large render from stalling latency and hang timings on the loop.
        png = await asyncio.to_thread(render_png, width, height, request.match_info["digest"])
        return web.Response(
            body=png,
            content_type="image/png",
            headers={"Cache-Control": "public, max-age=31536000, immutable"},
        )

    async def _queue_faults(self, request: web.Request) -> web.Response:
        try:
            payload = json.loads(await request.read())
        except ValueError:
            return error_response(400, "body: must be JSON")
        if not isinstance(payload, dict):
            return error_response(400, "body: must be a JSON object")
        kind = payload.get("kind")
        if kind not in get_args(Kind):
            return error_response(400, "kind: must be 'chat' or 'image'")
        raw_faults = payload.get("faults")
        if not isinstance(raw_faults, list):
            return error_response(400, "faults: must be a list of fault objects")
        faults: list[Fault] = []
        for index, raw_fault in enumerate(raw_faults):
            try:
                faults.append(Fault.from_dict(raw_fault))
            except ValueError as exc:
                return error_response(400, f"faults[{index}].{exc}")
        # Queue all or nothing: a half-applied script would make a test's failure hard to read.
        self.script(cast(Kind, kind), *faults)
        return web.json_response({"queued": len(faults)})

    async def _clear_faults(self, request: web.Request) -> web.Response:
        return web.json_response({"cleared": self.clear_faults()})

    async def _state(self, request: web.Request) -> web.Response:
        return web.json_response({"in_flight": self.in_flight})


# -- connection faults -----------------------------------------------------------------------


async def _disconnect(request: web.Request) -> web.StreamResponse:
    transport = request.transport
    if transport is not None:
        transport.close()
    # With handler_cancellation, aiohttp cancels this handler once it sees the closed connection;
    # waiting for that is the only way to end without aiohttp writing a reply of its own.
    await asyncio.Event().wait()
    raise AssertionError("unreachable: the handler is cancelled when its connection closes")


def _url_host(host: str) -> str:
    # A wildcard bind is reachable on loopback; a client cannot connect to 0.0.0.0 everywhere.
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host == "::":
        return "[::1]"
    return f"[{host}]" if ":" in host else host
