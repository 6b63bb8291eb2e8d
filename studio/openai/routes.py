"""The OpenAI-compatible surface under `/v1`: models, chat completions (streamed or not) and
image generations, for OpenAI's SDKs and the tools built on them (Open WebUI, ...).

Thin on purpose: each route reads the request in OpenAI's shape (`openai_wire`), calls the same
handlers as the page and its API (`ChatHandlers.api_completion`, `ImageHandlers.api_generate_image`,
so limits, deadline, metrics and logs are theirs), and answers in OpenAI's shape, refusals in its
error envelope (`openai_errors`). A caller that hangs up cancels its Websim call.

The routes are a plain ASGI app that the edge hands `/v1` requests to directly: FastAPI's
middleware stack, router and dependency solving cost about as much server CPU per call as the
rest of the route together, and nothing here needs them (every answer, refusals included, is
written by these routes, and the edge already caps bodies, names the client and logs).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse

from websim_core import InvalidRequestError, WebsimError
from websim_core.catalog import DEFAULT_CHAT_MODEL, DEFAULT_IMAGE_MODEL
from websim_core.image_fetch import EXTENSIONS

from ..services.asgi import PEER, Receive, Scope, Send
from ..services.config import StudioSettings
from ..services.files import IMAGES_ROUTE
from ..services.identity import trusts
from ..services.logs import loggable
from ..services.rate_limit import ClientRateLimitError
from ..services.shared import Services
from ..services.shared_images import Seen
from ..turns.calls import Caller
from ..turns.chat import ChatHandlers
from ..turns.images import ImageHandlers
from .errors import Refusal, refusal_for, refusal_for_status
from .wire import (
    KEEP_ALIVE,
    ChatRequest,
    Completion,
    chat_request,
    cut_at_stop,
    error_event,
    image_request,
    model_list,
    parse_body,
)

# Seconds between keep-alive comments while Websim works on a streamed reply. A stream's status
# and headers wait for the reply or the first keep-alive, whichever comes first, so that input
# and limit refusals still come with their HTTP status rather than inside a 200 stream.
KEEP_ALIVE_SECONDS = 2.0
SURFACE = "openai"
# Downloaded images are named by the hash of their content (studio.services.files): unguessable,
# so they are served without a key, as a browser showing them in a page needs.
_MEDIA_TYPES = {extension: media_type for media_type, extension in EXTENSIONS.items()}
_IMAGE_NAME = re.compile(
    r"[0-9a-f]{32}(" + "|".join(re.escape(extension) for extension in _MEDIA_TYPES) + ")"
)
_HOST = re.compile(r"[A-Za-z0-9.\-]+(:\d{1,5})?|\[[0-9A-Fa-f:.]+\](:\d{1,5})?")
PREFIX = "/v1/"
T = TypeVar("T")

Endpoint = Callable[[Request], Awaitable[Response]]

log = logging.getLogger("websim_studio.openai")


class ClientGone(Exception):
    """The caller hung up before its answer was ready; its Websim call has been cancelled."""


class ApiKeys:
    """Who may call `/v1`: anyone (counted by address) with no keys set, else key holders
    (counted by key), the key compared in constant time."""

    def __init__(self, keys: Sequence[str]) -> None:
        self._digests = [hashlib.sha256(key.encode()).digest() for key in keys]

    def caller(self, request: Request) -> Caller:
        """The caller of `request`, or Refusal 401."""
        if not self._digests:
            return Caller.of(request, SURFACE)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise refusal_for_status(
                401, "This server needs an API key: send it as 'Authorization: Bearer <key>'."
            )
        digest = hashlib.sha256(token.strip().encode()).digest()
        known = False
        for candidate in self._digests:  # every key is compared, whichever matches
            known |= hmac.compare_digest(digest, candidate)
        if not known:
            raise refusal_for_status(401, "That API key is not one this server accepts.")
        return Caller("key:" + digest.hex()[:16], request.headers.get("x-request-id", ""), SURFACE)


class OpenAIRoutes:
    """The `/v1` routes as an ASGI app: a table of method and path, else a 404 in OpenAI's
    envelope. Anything a route fails to answer is a 500 in the envelope, logged with its
    traceback."""

    def __init__(self, routes: dict[tuple[str, str], Endpoint], image_file: Endpoint) -> None:
        self._routes = routes
        self._image_file = image_file

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        method, path = scope["method"], scope["path"]
        endpoint = self._routes.get((method, path))
        if endpoint is None:
            image = method == "GET" and path.startswith(IMAGES_ROUTE)
            endpoint = self._image_file if image else _unknown
        request = Request(scope, receive)
        try:
            response = await endpoint(request)
        except Exception:
            log.exception("%s %s failed", method, path)
            response = _refused(
                refusal_for_status(500, "This server failed to answer; the failure is logged.")
            )
        await response(scope, receive, send)


def openai_routes(services: Services) -> OpenAIRoutes:
    """The `/v1` routes, answered through `services`."""
    keys = ApiKeys(services.studio.api_keys)
    chat = ChatHandlers(services)
    images = ImageHandlers(services)
    started = int(time.time())

    def refusal(error: WebsimError | ClientRateLimitError) -> Refusal:
        return refusal_for(error, services.websim.base_url)

    async def read(caller: Caller, parse: Callable[[Any], T], raw: Any) -> T:
        """`parse(raw)`: a request in OpenAI's shape. A refusal here, before any turn, counts
        against the caller's refusal budget as the turns count theirs."""
        try:
            return parse(raw)
        except InvalidRequestError:
            await services.limiter.refused(caller.key)
            raise

    async def answered(
        request: Request, respond: Callable[[Caller, Any], Awaitable[Response]]
    ) -> Response:
        """Authenticate, read the body, call `respond`; any refusal in OpenAI's envelope."""
        try:
            caller = keys.caller(request)
            if not _is_json(request.headers.get("content-type", "")):
                # A form or text/plain post needs no CORS preflight: any web page could make
                # its visitors' browsers call /v1. JSON calls are preflighted, and refused.
                raise refusal_for_status(
                    415, "Send the body as JSON, with 'Content-Type: application/json'."
                )
            body = await read(caller, parse_body, await _body(request))
            return await respond(caller, body)
        except (ClientRateLimitError, WebsimError, Refusal, ClientGone) as error:
            # The error's traceback holds the frames that held the request's body, and the
            # call's future holds the error: a cycle, which the collector (run seldom, see
            # studio.server.composition) would free only much later. Cut here, the body goes
            # with the reply. (100 refused 8 MiB requests kept 1.5 GB otherwise.)
            error.with_traceback(None)
            if isinstance(error, ClientGone):
                return Response(status_code=499)
            return _refused(error if isinstance(error, Refusal) else refusal(error))

    async def models(request: Request) -> Response:
        try:
            keys.caller(request)
        except Refusal as error:
            return _refused(error)
        return JSONResponse(model_list(started))

    async def chat_completions(request: Request) -> Response:
        async def respond(caller: Caller, body: Any) -> Response:
            asked = await read(caller, chat_request, body)
            model = asked.model if isinstance(asked.model, str) else DEFAULT_CHAT_MODEL
            reply = asyncio.ensure_future(
                chat.api_completion(asked.messages, asked.model, caller, json_mode=asked.json_mode)
            )
            completion = Completion.start(model)
            if not asked.stream:
                await _while_connected(request, reply)
                return JSONResponse(completion.whole(cut_at_stop(reply.result(), asked.stop)))
            # A stream's headers wait for the reply or the first keep-alive (see above).
            await _while_connected(request, reply, KEEP_ALIVE_SECONDS)
            if reply.done():
                text = reply.result()  # raises what the call raised, with its own status
                events = [
                    completion.chunk({"role": "assistant", "content": ""}),
                    *completion.streamed(cut_at_stop(text, asked.stop), asked.include_usage),
                ]
                return _event_stream(_replay(events))
            return _event_stream(_keep_alive_until(reply, completion, asked, refusal))

        return await answered(request, respond)

    async def images_generations(request: Request) -> Response:
        async def respond(caller: Caller, body: Any) -> Response:
            asked = await read(caller, image_request, body)
            model = asked.model if asked.model is not None else DEFAULT_IMAGE_MODEL
            every = asyncio.ensure_future(
                images.api_generate_images(asked.prompt, asked.aspect_ratio, model, caller, asked.n)
            )
            await _while_connected(request, every)
            paths = every.result()
            if asked.response_format == "b64_json":
                encoded = await asyncio.to_thread(_base64_of, paths)
                data = [{"b64_json": image} for image in encoded]
            else:
                origin = public_origin(request, services.studio)
                data = [{"url": origin + IMAGES_ROUTE + path.name} for path in paths]
            return JSONResponse({"created": int(time.time()), "data": data})

        return await answered(request, respond)

    async def image_file(request: Request) -> Response:
        name = request.scope["path"].removeprefix(IMAGES_ROUTE)
        path = await services.kept_image(name) if _IMAGE_NAME.fullmatch(name) else Seen.UNKNOWN
        if isinstance(path, Seen):
            return _refused(image_refusal(path, services.files.max_age))
        return FileResponse(
            path,
            media_type=_MEDIA_TYPES[path.suffix],
            headers={"cache-control": f"private, max-age={int(services.files.max_age)}"},
        )

    return OpenAIRoutes(
        {
            ("GET", PREFIX + "models"): models,
            ("POST", PREFIX + "chat/completions"): chat_completions,
            ("POST", PREFIX + "images/generations"): images_generations,
        },
        image_file,
    )


def image_refusal(seen: Seen, max_age: float) -> Refusal:
    """Why an image's address has no image behind it, in a sentence."""
    if seen is Seen.REMOVED:
        return Refusal(
            404,
            f"This image is no longer kept: images are kept for {_duration(max_age)}.",
            code="image_removed",
        )
    if seen is Seen.UNREACHABLE:
        return refusal_for_status(
            503, "This image cannot be fetched right now; try again in a few seconds.", 5
        )
    return Refusal(
        404, "No image by that name was made here; check its address.", code="image_not_found"
    )


def _duration(seconds: float) -> str:
    """`seconds` in the unit a person would say it in: 90 seconds, 30 minutes, 6 hours."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= 2 * size:
            count = round(seconds / size)
            return f"{count} {unit}s"
    count = max(1, round(seconds))
    return f"{count} second" + ("" if count == 1 else "s")


async def _unknown(request: Request) -> Response:
    path = request.scope["path"]
    return _refused(
        refusal_for_status(
            404,
            f"There is no {loggable(request.method, 16)} {loggable(path, 100)} here. This server "
            "answers GET /v1/models, POST /v1/chat/completions and POST /v1/images/generations.",
        )
    )


async def _keep_alive_until(
    reply: asyncio.Future[str],
    completion: Completion,
    asked: ChatRequest,
    refusal: Callable[[WebsimError | ClientRateLimitError], Refusal],
) -> AsyncIterator[bytes]:
    """A stream begun before the reply: the role, keep-alives while Websim works (retries
    included), then the reply, or an error event. Leaving the stream cancels the call."""
    try:
        yield completion.chunk({"role": "assistant", "content": ""})
        yield KEEP_ALIVE
        while not reply.done():
            await asyncio.wait([reply], timeout=KEEP_ALIVE_SECONDS)
            if not reply.done():
                yield KEEP_ALIVE
        try:
            text = reply.result()
        except (ClientRateLimitError, WebsimError) as error:
            yield error_event(refusal(error).body())
            return
        for event in completion.streamed(cut_at_stop(text, asked.stop), asked.include_usage):
            yield event
    finally:
        reply.cancel()


async def _replay(events: list[bytes]) -> AsyncIterator[bytes]:
    for event in events:
        yield event


def _event_stream(events: AsyncIterator[bytes]) -> StreamingResponse:
    return StreamingResponse(
        events,
        media_type="text/event-stream",
        # Proxies such as nginx would otherwise hold the keep-alives back in a buffer.
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


async def _while_connected(
    request: Request, call: asyncio.Future[Any], seconds: float | None = None
) -> None:
    """Wait for `call` to finish, or at most `seconds`; if the caller hangs up first,
    cancel `call` and raise ClientGone."""
    hung_up = asyncio.ensure_future(_disconnected(request))
    try:
        await asyncio.wait([call, hung_up], timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        hung_up.cancel()
    if not call.done() and hung_up.done() and not hung_up.cancelled():
        call.cancel()
        raise ClientGone


async def _disconnected(request: Request) -> None:
    """Return when the caller hangs up (the body has been read, so nothing else arrives)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _body(request: Request) -> bytes:
    try:
        return await request.body()
    except HTTPException as error:  # the edge's cap on a body without Content-Length
        raise refusal_for_status(error.status_code, str(error.detail)) from None
    except ClientDisconnect:  # gone before its body was in, or too slow to send it
        raise ClientGone from None


def _is_json(content_type: str) -> bool:
    """`application/json`, with or without parameters (`; charset=utf-8`)."""
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json"


def _refused(refusal: Refusal) -> Response:
    return Response(
        refusal.body(),
        status_code=refusal.status,
        media_type="application/json",
        headers=refusal.headers(),
    )


def _base64_of(paths: Sequence[Path]) -> list[str]:
    return [base64.b64encode(path.read_bytes()).decode() for path in paths]


def public_origin(request: Request, settings: StudioSettings) -> str:
    """`scheme://host` as the caller reached this server: behind a trusted proxy, what its
    X-Forwarded-Proto and X-Forwarded-Host say (the value nearest us); else the request's own."""
    headers = request.headers
    scheme, host = request.url.scheme, headers.get("host", "")
    if trusts(request.scope.get(PEER, ""), settings.trusted_proxies):
        scheme = _nearest(headers.get("x-forwarded-proto")) or scheme
        host = _nearest(headers.get("x-forwarded-host")) or host
    if scheme not in ("http", "https"):
        scheme = "http"
    if not _HOST.fullmatch(host):
        server = request.scope.get("server") or ("127.0.0.1", 80)
        host = f"{server[0]}:{server[1]}"
    return f"{scheme}://{host}"


def _nearest(value: str | None) -> str:
    """The last of a comma-separated header's values: the one the nearest proxy wrote."""
    return (value or "").rsplit(",", 1)[-1].strip()
