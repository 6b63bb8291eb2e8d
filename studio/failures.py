"""One sentence for the person at the browser when a request to Websim fails.

websim_core's messages say what happened; here we add what an operator of the app can change,
because the person reading it may be the one who deployed it.
"""

from __future__ import annotations

from websim_core import (
    InvalidRequestError,
    RateLimitError,
    UpstreamError,
    WebsimConnectionError,
    WebsimError,
    WebsimTimeoutError,
)

from .rate_limit import SessionRateLimitError


def describe_failure(error: WebsimError | SessionRateLimitError, base_url: str) -> str:
    """What went wrong, and for refusals and outages which setting an operator can change."""
    if isinstance(error, SessionRateLimitError):
        return str(error)  # already says when to try again
    message = _sentence(str(error))
    if isinstance(error, InvalidRequestError):
        return f"That request cannot be sent: {error.field} {error.problem}."
    if isinstance(error, RateLimitError):
        return f"{message} Websim is limiting requests; wait a little and retry."
    if isinstance(error, UpstreamError) and error.status in (401, 403):
        return (
            f"{message} Websim refused this server; an operator can set WEBSIM_EXTRA_HEADERS "
            "(for example a cookie) or point WEBSIM_BASE_URL at a reachable endpoint."
        )
    if isinstance(error, WebsimTimeoutError):
        return f"{message} An operator can raise WEBSIM_TIMEOUT or check WEBSIM_BASE_URL."
    if isinstance(error, WebsimConnectionError):
        return (
            f"Websim cannot be reached at {base_url}: {message} An operator can set "
            "WEBSIM_BASE_URL, or WEBSIM_PROXY if this server needs a proxy."
        )
    return message


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sentence(text: str) -> str:
    text = capitalised(text.strip())
    if not text:
        return "Websim failed without saying why."
    return text if text.endswith((".", "!", "?")) else text + "."
