"""One sentence for the person at the browser when a request to Websim fails.

websim_core's messages say what happened; here we add what to do, and for refusals and outages
which setting an operator of the app can change, because the person reading it may be the one
who deployed it.
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
from websim_core.errors import UpstreamPausedError
from websim_core.retry import wait_words

from ..services.rate_limit import ClientRateLimitError

REFUSED_HINT = (
    "Websim refused this server; an operator can set WEBSIM_EXTRA_HEADERS (for example a "
    "cookie) or point WEBSIM_BASE_URL at a reachable endpoint."
)


def describe_failure(error: WebsimError | ClientRateLimitError, base_url: str) -> str:
    """What went wrong and what to do, in one sentence (or two short ones)."""
    if isinstance(error, ClientRateLimitError):
        return str(error)  # already says when to try again
    if isinstance(error, InvalidRequestError):
        return f"That request cannot be sent: {error.field} {error.problem}."
    message = _sentence(str(error))
    if isinstance(error, UpstreamPausedError):
        # The guard's message already says when; a refusal also needs its operator hint.
        return f"{message} {REFUSED_HINT}" if error.status in (401, 403) else message
    if isinstance(error, RateLimitError):
        if error.retry_after is not None and error.retry_after > 0:
            if "try again" in message:
                return message  # the client already named the time
            wait = wait_words(error.retry_after)
            return f"{message} Websim is limiting requests; try again in {wait}."
        return f"{message} Websim is limiting requests; try again in a minute."
    if isinstance(error, UpstreamError) and error.status in (401, 403):
        return f"{message} {REFUSED_HINT}"
    if isinstance(error, WebsimTimeoutError):
        return (
            f"{message} Try again; an operator can raise WEBSIM_TIMEOUT or WEBSIM_STUDIO_DEADLINE."
        )
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
