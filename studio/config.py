"""The app's own settings, read from `WEBSIM_STUDIO_*` variables (README.md has the table).

Where and how Websim is reached stays in `websim_core.Settings` (`WEBSIM_BASE_URL`, ...); these
say how the web app shares that access between its users.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from websim_core import ConfigurationError

# Listeners spend their time waiting on Websim, not computing, so hundreds can run at once.
DEFAULT_CONCURRENCY = 512
# Beyond this many waiting events the queue answers "busy, try again" instead of growing.
DEFAULT_QUEUE_SIZE = 2048
DEFAULT_REQUESTS_PER_MINUTE = 20
DEFAULT_MAX_IMAGE_MB = 20


@dataclass(frozen=True)
class StudioSettings:
    """How the app shares Websim between its users."""

    concurrency: int = DEFAULT_CONCURRENCY
    queue_size: int = DEFAULT_QUEUE_SIZE
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE
    max_image_mb: int = DEFAULT_MAX_IMAGE_MB
    # Encrypts the conversation kept in each browser; a fixed one keeps it across restarts.
    browser_secret: str = ""
    browser_secret_is_fixed: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StudioSettings:
        """Settings from `WEBSIM_STUDIO_*` variables (of `os.environ` unless `environ` is given)."""
        env = os.environ if environ is None else environ
        secret = env.get("WEBSIM_STUDIO_SECRET", "").strip()
        return cls(
            concurrency=_positive(env, "WEBSIM_STUDIO_CONCURRENCY", DEFAULT_CONCURRENCY),
            queue_size=_positive(env, "WEBSIM_STUDIO_QUEUE_SIZE", DEFAULT_QUEUE_SIZE),
            requests_per_minute=_positive(
                env, "WEBSIM_STUDIO_REQUESTS_PER_MINUTE", DEFAULT_REQUESTS_PER_MINUTE, zero_ok=True
            ),
            max_image_mb=_positive(env, "WEBSIM_STUDIO_MAX_IMAGE_MB", DEFAULT_MAX_IMAGE_MB),
            browser_secret=secret or secrets.token_urlsafe(32),
            browser_secret_is_fixed=bool(secret),
        )


def _positive(env: Mapping[str, str], name: str, default: int, *, zero_ok: bool = False) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {raw!r}") from None
    lowest = 0 if zero_ok else 1
    if value < lowest:
        raise ConfigurationError(f"{name} must be at least {lowest}, not {value}")
    return value
