"""One sentence for the person at the page when a call to Websim fails, and a hint for its
operator in the log.

websim_core's messages say what happened; here it is said in a visitor's words, with what they
can do. What the server's operator could change (a setting) is no use to a visitor, and names
the server's workings to anyone: it goes to the log instead, once per kind of failure
(`log_operator_hint`), and is in docs/operators.md under Troubleshooting Websim.
"""

from __future__ import annotations

import logging

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

log = logging.getLogger("websim_studio.failures")

# What an operator can do, by kind of failure; each is logged the first time its kind happens.
OPERATOR_HINTS = {
    "refused": (
        "Websim refused this server: set WEBSIM_EXTRA_HEADERS (for example a logged-in "
        "browser's cookie) or point WEBSIM_BASE_URL at a reachable endpoint; see "
        "docs/operators.md, Troubleshooting Websim."
    ),
    "moved": "Websim answered with a redirect: set WEBSIM_BASE_URL to the new address.",
    "timeout": "Websim answered too slowly: WEBSIM_TIMEOUT and WEBSIM_STUDIO_DEADLINE allow more.",
    "unreachable": (
        "Websim cannot be reached at {base_url}: check WEBSIM_BASE_URL, or set WEBSIM_PROXY if "
        "this server needs a proxy."
    ),
}
_hinted: set[str] = set()


def describe_failure(error: WebsimError | ClientRateLimitError, base_url: str) -> str:
    """What went wrong and what to do, in one sentence (or two short ones)."""
    if isinstance(error, ClientRateLimitError):
        return str(error)  # already says when to try again
    if isinstance(error, InvalidRequestError):
        return f"That request cannot be sent: {error.field} {error.problem}."
    message = _sentence(str(error))
    if isinstance(error, UpstreamPausedError):
        return message  # the guard's message already says what and when
    if isinstance(error, RateLimitError):
        if error.retry_after is not None and error.retry_after > 0:
            if "try again" in message:
                return message  # the client already named the time
            wait = wait_words(error.retry_after)
            return f"{message} Websim is limiting requests; try again in {wait}."
        return f"{message} Websim is limiting requests; try again in a minute."
    if isinstance(error, UpstreamError) and error.status in (401, 403):
        return f"Websim refused this server's request ({error.status}). Try again later."
    if isinstance(error, UpstreamError) and 300 <= error.status < 400:
        return f"Websim answered from another address ({error.status}). Try again later."
    if isinstance(error, UpstreamError) and error.status >= 500:
        return f"{message} Try again in a moment."
    if isinstance(error, WebsimTimeoutError):
        return f"{message} Try again."
    if isinstance(error, WebsimConnectionError):
        return f"Websim cannot be reached: {message} Try again later."
    return message


def operator_hint(error: BaseException) -> str | None:
    """The kind of failure `error` is, for an operator, when a setting may help (a key of
    `OPERATOR_HINTS`); None when no setting would."""
    if isinstance(error, UpstreamError) and error.status in (401, 403):
        return "refused"  # a pause after refusals too: UpstreamPausedError is an UpstreamError
    if isinstance(error, UpstreamError) and 300 <= error.status < 400:
        return "moved"
    if isinstance(error, WebsimTimeoutError):
        return "timeout"
    if isinstance(error, WebsimConnectionError):
        return "unreachable"
    return None


def log_operator_hint(error: BaseException, base_url: str) -> None:
    """Log what an operator can do about `error`, the first time its kind of failure happens
    in this process: one line, with the settings' names."""
    kind = operator_hint(error)
    if kind is None or kind in _hinted:
        return
    _hinted.add(kind)
    log.warning("%s (said once)", OPERATOR_HINTS[kind].format(base_url=base_url))


def capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sentence(text: str) -> str:
    text = capitalised(text.strip())
    if not text:
        return "Websim failed without saying why."
    return text if text.endswith((".", "!", "?")) else text + "."
