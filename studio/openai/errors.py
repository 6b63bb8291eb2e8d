"""Refusals in OpenAI's error envelope, with the statuses its SDKs turn into exceptions.

`{"error": {"message", "type", "param", "code"}}`: 400 `BadRequestError`, 401
`AuthenticationError`, 404 `NotFoundError`, 413 a plain `APIStatusError`, 429 `RateLimitError`,
502 and 504 `InternalServerError`. The message is the sentence the page would show
(`studio.turns.failures`); the edge uses `refusal_for_status` for its own refusals on `/v1` paths.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass

from websim_core import (
    InvalidRequestError,
    RateLimitError,
    ResponseFormatError,
    UpstreamError,
    WebsimConnectionError,
    WebsimError,
    WebsimTimeoutError,
)
from websim_core.errors import UpstreamPausedError

from ..services.rate_limit import ClientRateLimitError
from ..turns.failures import describe_failure

# A refusal's sentence is short whatever it quotes: an error reply stays well under 4 KB.
MAX_MESSAGE = 1000
# When Websim asks for a wait without saying how long, describe_failure says "a minute".
UNSAID_WAIT = 60.0

# The `type` and `code` of the edge's own refusals, by status.
_BY_STATUS: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "unknown_url"),
    413: ("invalid_request_error", "request_too_large"),
    415: ("invalid_request_error", "unsupported_media_type"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    502: ("upstream_error", "websim_failed"),
    503: ("server_error", "server_busy"),
    504: ("upstream_error", "websim_timeout"),
}


@dataclass(frozen=True)
class Refusal(Exception):
    """One refused request: raised inside the /v1 routes, answered as OpenAI's envelope."""

    status: int
    message: str
    type: str = "invalid_request_error"
    param: str | None = None
    code: str | None = None
    retry_after: float | None = None

    def body(self) -> bytes:
        message = self.message[:MAX_MESSAGE]
        error = {"message": message, "type": self.type, "param": self.param, "code": self.code}
        return json.dumps({"error": error}).encode()

    def headers(self) -> dict[str, str]:
        headers = {}
        if self.retry_after is not None:
            headers["retry-after"] = str(max(1, math.ceil(self.retry_after)))
        if self.status in (502, 504):
            # websim_core has already retried with backoff; an SDK retrying at once on top of
            # that multiplies the load on a Websim that is failing.
            headers["x-should-retry"] = "false"
        return headers


def refusal_for_status(status: int, message: str, retry_after: float | None = None) -> Refusal:
    """A refusal with the usual type and code of `status`."""
    kind, code = _BY_STATUS.get(status, ("server_error", None))
    return Refusal(status, message, kind, None, code, retry_after)


def refusal_for(error: WebsimError | ClientRateLimitError, base_url: str) -> Refusal:
    """How a failed call is answered: its status, and the sentence the page would show."""
    message = describe_failure(error, base_url)
    if isinstance(error, ClientRateLimitError):
        return refusal_for_status(429, message, error.wait)
    if isinstance(error, InvalidRequestError):
        param = None if error.field == "body" else error.field
        return Refusal(400, message, "invalid_request_error", param)
    if isinstance(error, UpstreamPausedError) and error.status != 429:
        # Paused because Websim keeps refusing this server: Websim failed, not the caller.
        return Refusal(502, message, "upstream_error", None, "websim_refused", error.retry_after)
    if isinstance(error, RateLimitError | UpstreamPausedError):
        wait = error.retry_after if error.retry_after else UNSAID_WAIT
        return Refusal(429, message, "rate_limit_error", None, "websim_rate_limited", wait)
    if isinstance(error, WebsimTimeoutError):
        return refusal_for_status(504, message)
    if isinstance(error, UpstreamError | WebsimConnectionError | ResponseFormatError):
        return refusal_for_status(502, message)
    return refusal_for_status(500, message)  # a setting of this server is unusable
