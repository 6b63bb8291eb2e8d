"""WebsimClient: one pooled aiohttp session, retrying chat and image calls, typed errors."""

from __future__ import annotations

import asyncio
import json
import ssl
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import aiohttp

from .catalog import API_PATHS, DEFAULT_ASPECT_RATIO, Kind
from .errors import (
    InvalidRequestError,
    RateLimitError,
    ResponseFormatError,
    UpstreamError,
    WebsimConnectionError,
    WebsimError,
    WebsimTimeoutError,
)
from .headers import build_headers
from .progress import Progress, ProgressCallback, stream_progress
from .replies import ImageResponse, describe_error_body, parse_chat_reply, parse_image_reply
from .retry import RetryPolicy, is_retryable_status, parse_retry_after
from .settings import Settings
from .validation import (
    Message,
    check_request_size,
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


class WebsimClient:
    """An async client for Websim's chat and image endpoints.

    Use it as `async with WebsimClient() as client:`, or call `await client.close()` when done.
    It holds one aiohttp session, and so one keep-alive connection pool, for its lifetime, and is
    safe to share between many concurrent calls on one event loop.

    Arguments left as None come from the environment (see `Settings`); `retry_policy`, when
    given, replaces the one built from `max_retries`.
    """

    def __init__(
        self,
        base_url: str | None = None,
        *,
        proxy: str | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        extra_headers: Mapping[str, str] | None = None,
        settings: Settings | None = None,
        retry_policy: RetryPolicy | None = None,
        pool_size: int = DEFAULT_POOL_SIZE,
        ssl: ssl.SSLContext | bool = True,
    ) -> None:
        self.settings = (settings or Settings.from_env()).with_overrides(
            base_url=base_url,
            proxy=proxy,
            timeout=timeout,
            max_retries=max_retries,
            extra_headers=extra_headers,
        )
        self.retry_policy = retry_policy or RetryPolicy(max_retries=self.settings.max_retries)
        if pool_size < 1:
            raise ValueError("pool_size must be at least 1")
        self._pool_size = pool_size
        self._ssl = ssl
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
    ) -> str:
        """Send a conversation and return Websim's reply, stripped of surrounding whitespace.

        Websim keeps no history: `messages` must hold the whole conversation. `deadline` bounds
        the whole call, retries included, in seconds. `on_progress` hears each attempt and retry.
        """
        validate_model(model, "chat")
        payload = {
            "project_id": validate_project_id(project_id, "chat"),
            "messages": validate_messages(messages),
        }
        body = _encode(payload, "messages")
        reply = await self._post("chat", body, deadline=deadline, on_progress=on_progress)
        return parse_chat_reply(reply)

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
            "project_id": validate_project_id(project_id, "image"),
            "prompt": prompt,
            "aspect_ratio": validate_aspect_ratio(aspect_ratio),
        }
        body = _encode(payload, "prompt")
        reply = await self._post("image", body, deadline=deadline, on_progress=on_progress)
        return parse_image_reply(
            reply,
            prompt=prompt,
            aspect_ratio=payload["aspect_ratio"],
            model=model,
            project_id=payload["project_id"],
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

    async def _post(
        self,
        kind: Kind,
        body: bytes,
        *,
        deadline: float | None,
        on_progress: ProgressCallback | None,
    ) -> bytes:
        """POST `body` to the `kind` endpoint, retrying by the policy; the 2xx reply's body."""
        if deadline is not None and not deadline > 0:
            raise InvalidRequestError("deadline", "must be more than 0 seconds")
        session = self._open_session()
        loop = asyncio.get_running_loop()
        give_up_at = None if deadline is None else loop.time() + deadline
        policy = self.retry_policy
        for attempt in range(1, policy.attempts + 1):
            if on_progress is not None:
                on_progress(Progress("sending", attempt, policy.attempts))
            time_limit = self._attempt_timeout
            if give_up_at is not None:
                # Never 0: aiohttp reads a total of 0 as "no timeout at all".
                remaining = max(give_up_at - loop.time(), 0.001)
                if remaining < self.settings.timeout:
                    time_limit = aiohttp.ClientTimeout(total=remaining)
            outcome = await self._attempt(session, kind, body, time_limit)
            if isinstance(outcome, bytes):
                return outcome
            failure = outcome
            if not failure.retryable or attempt == policy.attempts:
                raise failure.error(attempts=attempt)
            delay = failure.retry_after
            if delay is not None and delay > policy.max_retry_after:
                raise failure.error(attempts=attempt, asked_wait=delay)
            if delay is None:
                delay = policy.backoff(attempt - 1)
            if give_up_at is not None and loop.time() + delay >= give_up_at:
                raise failure.error(attempts=attempt, deadline=deadline)
            if on_progress is not None:
                on_progress(
                    Progress("retrying", attempt + 1, policy.attempts, delay, failure.reason)
                )
            await _sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(
        self,
        session: aiohttp.ClientSession,
        kind: Kind,
        body: bytes,
        time_limit: aiohttp.ClientTimeout,
    ) -> bytes | _Failure:
        """One request: the reply body on success, or what went wrong."""
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
                data = await _read_body(response)
                if 200 <= response.status < 300:
                    return data
                return _status_failure(response, data)
        except TimeoutError:
            return _Failure(
                reason="timed out",
                message=f"Websim did not answer within {time_limit.total:.3g} s",
                error_type=WebsimTimeoutError,
            )
        except aiohttp.ClientError as error:
            return _Failure(
                reason="connection failed",
                message=describe_client_error(error, url),
                error_type=WebsimConnectionError,
            )


@dataclass(frozen=True)
class _Failure:
    """One failed attempt, kept until we know whether to retry it or report it."""

    reason: str
    message: str
    error_type: type[WebsimError]
    status: int = 0
    detail: str = ""
    retryable: bool = True
    retry_after: float | None = None

    def error(
        self, *, attempts: int, asked_wait: float | None = None, deadline: float | None = None
    ) -> WebsimError:
        message = self.message
        if asked_wait is not None:
            at = datetime.now(UTC) + timedelta(seconds=asked_wait)
            message += (
                f"; Websim asks to wait {_duration(asked_wait)}: try again after {at:%H:%M:%S} UTC"
            )
        elif deadline is not None:
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
    elif detail:
        message += f": {detail}"
    return _Failure(
        reason="rate limited (429)" if status == 429 else f"Websim answered {status}",
        message=message,
        error_type=RateLimitError if status == 429 else UpstreamError,
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


def _encode(payload: dict[str, Any], field: str) -> bytes:
    try:
        body = json.dumps(payload, ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError) as error:
        raise InvalidRequestError(field, f"must hold only JSON values ({error})") from None
    check_request_size(body, field)
    return body


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
