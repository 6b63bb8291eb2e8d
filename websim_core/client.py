"""WebsimClient: one pooled aiohttp session, retrying chat and image calls, typed errors."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any, TypeVar
from urllib.parse import urlsplit

import aiohttp

from .attempts import AttemptObserver, AttemptRecord, Outcome
from .catalog import API_PATHS, DEFAULT_ASPECT_RATIO, Kind
from .errors import (
    InvalidRequestError,
    RateLimitError,
    ResponseFormatError,
    UpstreamError,
    UpstreamPausedError,
    WebsimConnectionError,
    WebsimError,
    WebsimTimeoutError,
)
from .guard import Admission, UpstreamGuard
from .headers import build_headers
from .progress import Progress, ProgressCallback, stream_progress
from .replies import ImageResponse, describe_error_body, parse_chat_reply, parse_image_reply
from .retry import RetryPolicy, is_retryable_status, parse_retry_after, retry_at_words, wait_words
from .settings import Settings
from .validation import (
    Message,
    check_request_size,
    check_text,
    validate_aspect_ratio,
    validate_messages,
    validate_model,
    validate_project_id,
    validate_prompt,
)

DEFAULT_POOL_SIZE = 100
# A reply larger than this is not a chat reply or an image URL; stop reading rather than buffer it.
MAX_REPLY_BYTES = 16 * 1024 * 1024
# The wait between attempts, by name so that tests can record the waits instead of sitting them out.
_sleep = asyncio.sleep
T = TypeVar("T")


class WebsimClient:
    """An async client for Websim's chat and image endpoints.

    Use it as `async with WebsimClient() as client:`, or call `await client.close()` when done.
    It holds one aiohttp session, and so one keep-alive connection pool, for its lifetime, and is
    safe to share between many concurrent calls on one event loop.

    Arguments left as None come from the environment (see `Settings`). `project_id` is sent
    with every call that names none of its own; without it (or `WEBSIM_PROJECT_ID`) each call
    makes up a fresh one, as the seed did. `retry_policy`, when given, replaces the one built
    from `max_retries`. `guard`, when given, holds every call back while Websim has asked this
    server to wait or keeps refusing it (see `UpstreamGuard`). `on_attempt` hears each attempt
    as an `AttemptRecord`, for metrics.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        proxy: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        project_id: str | None = None,
        settings: Settings | None = None,
        retry_policy: RetryPolicy | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        ssl: ssl.SSLContext | bool = True,
        guard: UpstreamGuard | None = None,
        on_attempt: AttemptObserver | None = None,
    ) -> None:
        self.settings = (settings or Settings.from_env()).with_overrides(
            base_url=base_url,
            proxy=proxy,
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=extra_headers,
            project_id=project_id,
        )
        self.retry_policy = retry_policy or RetryPolicy(max_retries=self.settings.max_retries)
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self._pool_size = pool_size
        self._ssl = ssl
        self.guard = guard
        self._on_attempt = on_attempt
        self._headers = {
            kind: build_headers(kind, self.settings.extra_headers) for kind in API_PATHS
        }
        self._urls = {kind: self.settings.base_url + path for kind, path in API_PATHS.items()}
        # Built once: a call without a deadline gives every attempt the same limit.
        self._attempt_timeout = aiohttp.ClientTimeout(total=self.settings.timeout)
        self._session: aiohttp.ClientSession | None = None
        self._closed = False

    async def __aenter__(self) -> WebsimClient:
        self._open_session()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    @property
    def closed(self) -> bool:
        """Whether `close()` has been called; a closed client makes no more calls."""
        return self._closed

    async def close(self) -> None:
        """Close the session and every pooled connection. Calling it again does nothing."""
        self._closed = True
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    def _open_session(self) -> aiohttp.ClientSession:
        if self._closed:
            raise RuntimeError("this WebsimClient is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._pool_size, limit_per_host=self._pool_size, ssl=self._ssl
            )
            self._session = aiohttp.ClientSession(
                connector=connector,
                # Every caller is anonymous to Websim: a cookie one call picks up must not ride
                # along on the next user's call. Operators who need a cookie set it explicitly.
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),
            )
        return self._session

    async def chat(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        project_id: str | None = None,
        deadline: float | None = None,
        on_progress: ProgressCallback | None = None,
        json_mode: bool = False,
    ) -> str:
        """Send a conversation and return Websim's reply, stripped of surrounding whitespace.

        Websim keeps no history: `messages` must hold the whole conversation. `deadline` bounds
        the whole call, retries included, in seconds. `on_progress` hears each attempt and retry.
        `json_mode` asks for a reply in JSON (`"json": true` in the body, as Websim's own page
        SDK asks); the reply still comes back as text, unparsed.
        """
        validate_model(model, "chat")
        payload: dict[str, Any] = {
            "project_id": self._project_id(project_id, "chat"),
            "messages": validate_messages(messages),
        }
        if json_mode:
            payload["json"] = True
        body = _encode(payload, "messages", "send fewer or smaller images")
        return await self._post(
            "chat",
            body,
            lambda reply: parse_chat_reply(reply.body, content_type=reply.content_type),
            deadline=deadline,
            on_progress=on_progress,
        )

    async def generate_image(
        self,
        prompt: str,
        *,
        aspect_ratio: str = DEFAULT_ASPECT_RATIO,
        model: str | None = None,
        project_id: str | None = None,
        deadline: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> ImageResponse:
        """Generate an image from `prompt` in one of the eleven aspect ratios."""
        model = validate_model(model, "image")
        prompt = validate_prompt(prompt)
        payload = {
            "project_id": self._project_id(project_id, "image"),
            "prompt": prompt,
            "aspect_ratio": validate_aspect_ratio(aspect_ratio),
        }
        body = _encode(payload, "prompt", "shorten it")
        return await self._post(
            "image",
            body,
            lambda reply: parse_image_reply(
                reply.body,
                prompt=prompt,
                aspect_ratio=payload["aspect_ratio"],
                model=model,
                project_id=payload["project_id"],
            ),
            deadline=deadline,
            on_progress=on_progress,
        )

    def chat_stream(
        self,
        messages: Sequence[Message],
        *,
        model: str | None = None,
        project_id: str | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[Progress | str]:
        """`chat` as an async iterator: each `Progress` as it happens, then the reply text."""
        return stream_progress(
            lambda report: self.chat(
                messages, model=model, project_id=project_id, deadline=deadline, on_progress=report
            )
        )

    def generate_image_stream(
        self,
        prompt: str,
        *,
        aspect_ratio: str = DEFAULT_ASPECT_RATIO,
        model: str | None = None,
        project_id: str | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[Progress | ImageResponse]:
        """`generate_image` as an async iterator: each `Progress`, then the `ImageResponse`."""
        return stream_progress(
            lambda report: self.generate_image(
                prompt,
                aspect_ratio=aspect_ratio,
                model=model,
                project_id=project_id,
                deadline=deadline,
                on_progress=report,
            )
        )

    def _project_id(self, given: str | None, kind: Kind) -> str:
        """The call's own project ID, else the configured one, else a fresh one for `kind`."""
        return validate_project_id(given if given is not None else self.settings.project_id, kind)

    async def _post(
        self,
        kind: Kind,
        body: bytes,
        parse: Callable[[_Reply], T],
        *,
        deadline: float | None,
        on_progress: ProgressCallback | None,
    ) -> T:
        """POST `body` to the `kind` endpoint, retrying by the policy; `parse` of the 2xx reply."""
        if deadline is not None and not deadline > 0:
            raise InvalidRequestError("deadline", "must be more than 0 seconds")
        session = self._open_session()
        loop = asyncio.get_running_loop()
        give_up_at = None if deadline is None else loop.time() + deadline
        policy = self.retry_policy
        probe: object | None = None  # the guard's token, when this call's 429 paused it
        for attempt in range(1, policy.attempts + 1):
            try:
                async with self._admission(probe, self._wait_left(give_up_at)) as turn:
                    if on_progress is not None:
                        on_progress(Progress("sending", attempt, policy.attempts))
                    time_limit, cut_to_deadline = self._attempt_timeout, None
                    if give_up_at is not None:
                        # Never 0: aiohttp reads a total of 0 as "no timeout at all".
                        remaining = max(give_up_at - loop.time(), 0.001)
                        if remaining < self.settings.timeout:
                            time_limit = aiohttp.ClientTimeout(total=remaining)
                            cut_to_deadline = deadline
                    started = loop.time()
                    outcome = await self._attempt(session, kind, body, time_limit, cut_to_deadline)
                    probe = _record_reply(turn, outcome)
            except UpstreamPausedError:
                self._observe(kind, attempt, "paused", 0, None)
                raise
            if isinstance(outcome, _Reply):
                try:
                    result = parse(outcome)
                except ResponseFormatError:
                    self._observe(kind, attempt, "bad_reply", outcome.status, started)
                    raise
                self._observe(kind, attempt, "ok", outcome.status, started)
                return result
            failure = outcome
            self._observe(kind, attempt, failure.outcome, failure.status, started)
            if not failure.retryable or attempt == policy.attempts:
                raise failure.error(attempts=attempt)
            delay = failure.retry_after
            if delay is not None and delay > policy.max_retry_after:
                raise failure.error(attempts=attempt, asked_wait=delay)
            if delay is None:
                delay = policy.backoff(attempt - 1)
            if give_up_at is not None and loop.time() + delay >= give_up_at:
                raise failure.error(attempts=attempt, deadline=deadline)
            # Checked before the wait too: a call the guard would refuse hears so now, not after it.
            self._check_guard(kind, attempt + 1, probe, self._wait_left(give_up_at))
            if on_progress is not None:
                on_progress(
                    Progress("retrying", attempt + 1, policy.attempts, delay, failure.reason)
                )
            await _sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _admission(self, probe: object | None, wait: float) -> Admission | _Unguarded:
        """This attempt's turn: the guard may hold it up to `wait` seconds, or refuse it."""
        if self.guard is None:
            return _UNGUARDED
        return self.guard.admission(probe, wait=wait)

    def _wait_left(self, give_up_at: float | None) -> float:
        """How long the guard may hold a call: what is left of its deadline, or one timeout."""
        if give_up_at is None:
            return self.settings.timeout
        return give_up_at - asyncio.get_running_loop().time()

    def _check_guard(self, kind: Kind, attempt: int, probe: object | None, wait: float) -> None:
        """Raise `UpstreamPausedError` if the guard would refuse attempt number `attempt`."""
        if self.guard is None:
            return
        try:
            self.guard.check(probe, wait=wait)
        except UpstreamPausedError:
            self._observe(kind, attempt, "paused", 0, None)
            raise

    def _observe(
        self, kind: Kind, attempt: int, outcome: Outcome, status: int, started: float | None
    ) -> None:
        if self._on_attempt is None:
            return
        seconds = 0.0 if started is None else asyncio.get_running_loop().time() - started
        self._on_attempt(AttemptRecord(kind, attempt, outcome, status, seconds))

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        kind: Kind,
        body: bytes,
        time_limit: aiohttp.ClientTimeout,
        cut_to_deadline: float | None,
    ) -> _Reply | _Failure:
        """One request: the reply on success, or what went wrong.

        `cut_to_deadline` is the caller's deadline when `time_limit` was shortened to fit it.
        """
        url = self._urls[kind]
        try:
            async with session.post(
                url,
                data=body,
                headers=self._headers[kind],
                proxy=self.settings.proxy,
                timeout=time_limit,
                # A redirected POST turns into a GET and loses its body: report it instead.
                allow_redirects=False,
            ) as response:
                try:
                    data = await _read_body(response)
                except ResponseFormatError as error:
                    return _Failure(
                        reason="reply too large",
                        message=str(error),
                        error_type=ResponseFormatError,
                        outcome="bad_reply",
                        status=response.status,
                        retryable=False,
                    )
                if 200 <= response.status < 300:
                    content_type = response.headers.get("Content-Type", "")
                    return _Reply(response.status, data, content_type)
                return _status_failure(response, data)
        except TimeoutError:
            if cut_to_deadline is not None:
                # The limit was what was left of the caller's deadline: name the deadline, not
                # the leftover fraction of a second that nobody asked for.
                message = f"Websim did not answer within the {cut_to_deadline:g} s deadline"
            else:
                message = f"Websim did not answer within {time_limit.total:.3g} s"
            return _Failure(
                reason="timed out",
                message=message,
                error_type=WebsimTimeoutError,
                outcome="timeout",
                at_deadline=cut_to_deadline is not None,
            )
        except aiohttp.ClientError as error:
            return _Failure(
                reason="connection failed",
                message=describe_client_error(error, url),
                error_type=WebsimConnectionError,
                outcome="connection_error",
            )


class _Unguarded:
    """The turn of a call made by a client without a guard: always given, and told nothing."""

    async def __aenter__(self) -> _Unguarded:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def record(
        self, status: int, *, detail: str = "", retry_after: float | None = None
    ) -> object | None:
        return None


_UNGUARDED = _Unguarded()


def _record_reply(turn: Admission | _Unguarded, outcome: _Reply | _Failure) -> object | None:
    """Tell the guard about a reply's status; its token if this reply paused it. An attempt
    that got no reply records nothing: leaving its turn says so."""
    if not outcome.status:
        return None
    if isinstance(outcome, _Reply):
        return turn.record(outcome.status)
    return turn.record(outcome.status, detail=outcome.detail, retry_after=outcome.retry_after)


@dataclass(frozen=True)
class _Reply:
    """A 2xx reply, read whole; the content type helps tell a cut-off reply from plain text."""

    status: int
    body: bytes
    content_type: str


@dataclass(frozen=True)
class _Failure:
    """One failed attempt, kept until we know whether to retry it or report it."""

    reason: str
    message: str
    error_type: type[WebsimError]
    outcome: Outcome
    status: int = 0
    detail: str = ""
    retryable: bool = True
    retry_after: float | None = None
    at_deadline: bool = False
    """The message already says the caller's deadline ran out."""

    def error(
        self, *, attempts: int, asked_wait: float | None = None, deadline: float | None = None
    ) -> WebsimError:
        message = self.message
        if asked_wait is not None:
            wait = wait_words(asked_wait)
            message += f"; Websim asks to wait {wait}: {retry_at_words(asked_wait)}"
        elif deadline is not None and not self.at_deadline:
            message += f"; no time left in the {deadline:g} s deadline to retry"
        if attempts > 1:
            message += f" (after {attempts} attempts)"
        if issubclass(self.error_type, UpstreamError):
            return self.error_type(
                message, status=self.status, detail=self.detail, retry_after=self.retry_after
            )
        return self.error_type(message)


def _status_failure(response: aiohttp.ClientResponse, body: bytes) -> _Failure:
    status = response.status
    reason = response.reason or ""
    detail = describe_error_body(body)
    message = f"Websim answered {status} {reason}".rstrip()
    if 300 <= status < 400:
        location = response.headers.get("location", "")
        detail = detail or (f"moved to {location}" if location else "")
        if location:
            message += f" (moved to {location}); set WEBSIM_BASE_URL to the new address"
    elif detail and detail.rstrip(".").casefold() != reason.casefold():
        message += f": {detail}"  # not "500 Internal Server Error: Internal Server Error"
    return _Failure(
        reason="rate limited (429)" if status == 429 else f"Websim answered {status}",
        message=message,
        error_type=RateLimitError if status == 429 else UpstreamError,
        outcome="http_error",
        status=status,
        detail=detail,
        retryable=is_retryable_status(status),
        retry_after=parse_retry_after(response.headers),
    )


def describe_client_error(error: aiohttp.ClientError, url: str) -> str:
    """One line for a failed connection to `url`, naming the host and the cause."""
    host = urlsplit(url).netloc
    if isinstance(error, aiohttp.ClientConnectorCertificateError):
        return f"could not connect to {host}: its TLS certificate is not trusted"
    if isinstance(error, aiohttp.ClientConnectorError):
        os_error = error.os_error
        if isinstance(os_error, ConnectionRefusedError):
            cause = "connection refused"  # asyncio words it "Connect call failed (host, port)"
        else:
            cause = os_error.strerror or str(os_error) or type(os_error).__name__
        return f"could not connect to {host}: {cause}"
    if isinstance(error, aiohttp.ServerDisconnectedError):
        return f"{host} closed the connection without answering"
    if isinstance(error, aiohttp.ClientPayloadError):
        return f"the reply from {host} broke off"
    return f"request to {host} failed: {error or type(error).__name__}"


async def _read_body(response: aiohttp.ClientResponse) -> bytes:
    if (response.content_length or 0) > MAX_REPLY_BYTES:
        raise ResponseFormatError(f"Websim's reply is {response.content_length:,} bytes, too large")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.content.iter_any():
        size += len(chunk)
        if size > MAX_REPLY_BYTES:
            raise ResponseFormatError(f"Websim's reply ran past {MAX_REPLY_BYTES:,} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _encode(payload: dict[str, Any], field: str, size_hint: str) -> bytes:
    try:
        text = json.dumps(payload, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise InvalidRequestError(field, f"must hold only JSON values ({error})") from None
    try:
        body = text.encode()
    except UnicodeEncodeError:
        # Validation checks the texts a person typed; a lone surrogate anywhere else ends here,
        # and check_text names it instead of the codec's message.
        check_text(text, field)
        raise
    check_request_size(body, field, size_hint)
    return body
