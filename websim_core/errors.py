"""Errors raised by websim_core: catch `WebsimError` for all of them, or a subclass to be specific.

Every message is one short line meant for a person: what went wrong and, where it helps, what to do.
"""

from __future__ import annotations


class WebsimError(Exception):
    """Base class of every error websim_core raises."""


class InvalidRequestError(WebsimError, ValueError):
    """Raised before anything is sent when an argument is unusable; `.field` names the argument."""

    def __init__(self, field: str, problem: str) -> None:
        self.field = field
        self.problem = problem
        super().__init__(f"{field}: {problem}")


class ConfigurationError(WebsimError, ValueError):
    """Raised when a setting (argument or environment variable) is unusable; names the setting."""


class UpstreamError(WebsimError):
    """Raised when Websim answers with an HTTP error: `.status` is the code, `.detail` its words."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        detail: str = "",
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.retry_after = retry_after
        super().__init__(message)


class RateLimitError(UpstreamError):
    """Raised on 429 once retries run out, or when Websim asks for a wait longer than the cap."""


class UpstreamPausedError(UpstreamError):
    """Raised without sending while an `UpstreamGuard` holds calls back after Websim said wait
    (429) or kept refusing (401/403): `.status` and `.detail` are that reply's, `.retry_after`
    the seconds until calls go out again."""


class WebsimConnectionError(WebsimError):
    """Raised when Websim cannot be reached: refused, reset, DNS or TLS failure, after retries."""


class WebsimTimeoutError(WebsimConnectionError):
    """Raised when Websim does not answer in time, after retries or at the caller's deadline."""


class ResponseFormatError(WebsimError):
    """Raised when a 2xx reply breaks the contract, such as an image reply without a `url`."""
