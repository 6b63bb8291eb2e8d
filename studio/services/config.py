"""The app's own settings, read from `WEBSIM_STUDIO_*` variables (docs/operators.md has the table).

Where and how Websim is reached stays in `websim_core.Settings` (`WEBSIM_BASE_URL`, ...); these
say how the web app shares that access between its users, and what it lets one client spend.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field

from websim_core import ConfigurationError
from websim_core.validation import MAX_REQUEST_BYTES

# Listeners spend their time waiting on Websim, not computing, so hundreds can run at once.
DEFAULT_CONCURRENCY = 512
# Beyond this many waiting events the queue answers "busy, try again" instead of growing.
DEFAULT_QUEUE_SIZE = 2048
DEFAULT_REQUESTS_PER_MINUTE = 20
DEFAULT_MAX_IMAGE_MB = 20
# Just above Websim's own 8 MiB request cap, leaving room for Gradio's JSON around a message.
DEFAULT_MAX_REQUEST_MB = MAX_REQUEST_BYTES / 2**20 + 1
# Longest a user waits for one Websim call, retries included.
DEFAULT_DEADLINE = 120.0
DEFAULT_FILES_MB = 1024
DEFAULT_FILES_MAX_AGE = 6 * 3600.0
# Whole seconds a stopping server lets calls in flight finish (studio.server.drain). No grace
# covers every call (one may take DEFAULT_DEADLINE), and one longer than the container's own
# ends in its SIGKILL: no error replies, the files folder left behind. So the default fits
# `docker stop`'s 10 s, with room for the clean-up; raise it with the container's own grace.
DEFAULT_SHUTDOWN_GRACE = 5
# A Hugging Face Space is reached through the Hub's proxies, which connect from private
# addresses (10.x) and append the caller's address to X-Forwarded-For. Peers in the private
# ranges are therefore trusted to say who they forward for; a public peer never is.
DEFAULT_TRUSTED_PROXIES = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16,fc00::/7"
# Seconds a client has to send a request's headers, from its connection's start or the end of
# the previous reply: a browser sends them in one packet, so ten seconds is many round trips
# even on a bad mobile link. The body is given more (see studio.server.connections).
DEFAULT_HEADER_TIMEOUT = 10.0
# Seconds a reply may sit unread, its buffer full, before its connection is closed. Streams
# that are read never wait this long: only a client that reads nothing at all does.
DEFAULT_WRITE_TIMEOUT = 30.0
# Connections one peer address may hold open: a browser opens six per host and one stream per
# tab, so this leaves room for a household or an office behind one address.
DEFAULT_CONNECTIONS_PER_CLIENT = 64

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class TrustedProxies:
    """Who may tell us a client's address through X-Forwarded-For.

    Either a number of proxy `hops` in front of the app (each appends the address it heard
    from), or the `networks` those proxies connect from. Neither means no proxy is trusted.
    """

    hops: int = 0
    networks: tuple[Network, ...] = ()

    @classmethod
    def parse(cls, value: str, name: str = "WEBSIM_STUDIO_TRUSTED_PROXIES") -> TrustedProxies:
        """`"2"` (hops), `"10.0.0.0/8,fd00::/8"` (networks), or `""`/`"0"` (none)."""
        value = value.strip()
        if not value or value == "0":
            return cls()
        if value.isdigit():
            return cls(hops=int(value))
        networks = []
        for item in value.split(","):
            try:
                networks.append(ipaddress.ip_network(item.strip(), strict=False))
            except ValueError:
                raise ConfigurationError(
                    f"{name} must be a number of hops or comma-separated networks such as "
                    f"10.0.0.0/8, not {item.strip()!r}"
                ) from None
        return cls(networks=tuple(networks))


@dataclass(frozen=True)
class StudioSettings:
    """How the app shares Websim between its users."""

    concurrency: int = DEFAULT_CONCURRENCY
    queue_size: int = DEFAULT_QUEUE_SIZE
    requests_per_minute: int = DEFAULT_REQUESTS_PER_MINUTE
    max_image_mb: int = DEFAULT_MAX_IMAGE_MB
    max_request_mb: float = DEFAULT_MAX_REQUEST_MB
    deadline: float = DEFAULT_DEADLINE
    trusted_proxies: TrustedProxies = field(
        default_factory=lambda: TrustedProxies.parse(DEFAULT_TRUSTED_PROXIES)
    )
    # `memory://` keeps counts in this process; `redis://host:6379` shares them between replicas.
    limits_storage: str = "memory://"
    files_mb: int = DEFAULT_FILES_MB
    files_max_age: float = DEFAULT_FILES_MAX_AGE
    shutdown_grace: int = DEFAULT_SHUTDOWN_GRACE
    # Encrypts the conversation kept in each browser; a fixed one keeps it across restarts.
    browser_secret: str = ""
    browser_secret_is_fixed: bool = False
    # Keys the OpenAI-compatible /v1 routes require as `Authorization: Bearer <key>`; none
    # leaves them open, counted per client address like every other route.
    api_keys: tuple[str, ...] = field(default=(), repr=False)
    # The page's `chat` and `generate_image` as MCP tools at /gradio_api/mcp/.
    mcp: bool = True
    # When set, /metrics answers only `Authorization: Bearer <token>`; otherwise anyone.
    metrics_token: str = field(default="", repr=False)
    # Slow clients: deadlines for receiving a request and for a reply nobody reads, and caps on
    # open connections (None: from the process's open-files limit; see studio.server.connections).
    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    write_timeout: float = DEFAULT_WRITE_TIMEOUT
    connections_per_client: int = DEFAULT_CONNECTIONS_PER_CLIENT
    max_connections: int | None = None

    @property
    def max_request_bytes(self) -> int:
        return int(self.max_request_mb * 2**20)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StudioSettings:
        """Settings from `WEBSIM_STUDIO_*` variables (of `os.environ` unless `environ` is given)."""
        env = os.environ if environ is None else environ
        secret = env.get("WEBSIM_STUDIO_SECRET", "").strip()
        storage = env.get("WEBSIM_STUDIO_LIMITS_STORAGE", "").strip() or "memory://"
        if not storage.startswith(("memory://", "redis://", "rediss://")):
            raise ConfigurationError(
                f"WEBSIM_STUDIO_LIMITS_STORAGE must be memory:// or a redis:// URL, not {storage!r}"
            )
        return cls(
            concurrency=_whole(env, "WEBSIM_STUDIO_CONCURRENCY", DEFAULT_CONCURRENCY),
            queue_size=_whole(env, "WEBSIM_STUDIO_QUEUE_SIZE", DEFAULT_QUEUE_SIZE),
            requests_per_minute=_whole(
                env, "WEBSIM_STUDIO_REQUESTS_PER_MINUTE", DEFAULT_REQUESTS_PER_MINUTE, zero_ok=True
            ),
            max_image_mb=_whole(env, "WEBSIM_STUDIO_MAX_IMAGE_MB", DEFAULT_MAX_IMAGE_MB),
            max_request_mb=_number(env, "WEBSIM_STUDIO_MAX_REQUEST_MB", DEFAULT_MAX_REQUEST_MB),
            deadline=_number(env, "WEBSIM_STUDIO_DEADLINE", DEFAULT_DEADLINE),
            trusted_proxies=TrustedProxies.parse(
                env.get("WEBSIM_STUDIO_TRUSTED_PROXIES", DEFAULT_TRUSTED_PROXIES)
            ),
            limits_storage=storage,
            files_mb=_whole(env, "WEBSIM_STUDIO_FILES_MB", DEFAULT_FILES_MB),
            files_max_age=_number(env, "WEBSIM_STUDIO_FILES_MAX_AGE", DEFAULT_FILES_MAX_AGE),
            shutdown_grace=_whole(env, "WEBSIM_STUDIO_SHUTDOWN_GRACE", DEFAULT_SHUTDOWN_GRACE),
            browser_secret=secret or secrets.token_urlsafe(32),
            browser_secret_is_fixed=bool(secret),
            api_keys=_keys(env, "WEBSIM_STUDIO_API_KEYS"),
            mcp=_switch(env, "WEBSIM_STUDIO_MCP", default=True),
            metrics_token=env.get("WEBSIM_STUDIO_METRICS_TOKEN", "").strip(),
            header_timeout=_number(env, "WEBSIM_STUDIO_HEADER_TIMEOUT", DEFAULT_HEADER_TIMEOUT),
            write_timeout=_number(env, "WEBSIM_STUDIO_WRITE_TIMEOUT", DEFAULT_WRITE_TIMEOUT),
            connections_per_client=_whole(
                env, "WEBSIM_STUDIO_CONNECTIONS_PER_CLIENT", DEFAULT_CONNECTIONS_PER_CLIENT
            ),
            max_connections=(
                _whole(env, "WEBSIM_STUDIO_MAX_CONNECTIONS", 1)
                if env.get("WEBSIM_STUDIO_MAX_CONNECTIONS", "").strip()
                else None
            ),
        )


def _switch(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    raw = env.get(name, "").strip().lower()
    if not raw:
        return default
    if raw in {"1", "true", "yes", "on"}:
        return True
    if raw in {"0", "false", "no", "off"}:
        return False
    raise ConfigurationError(f"{name} must be 1 or 0 (on or off), not {raw!r}")


def _whole(env: Mapping[str, str], name: str, default: int, *, zero_ok: bool = False) -> int:
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


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number, not {raw!r}") from None
    if not 0 < value < float("inf"):
        raise ConfigurationError(f"{name} must be more than 0, not {raw!r}")
    return value


def _keys(env: Mapping[str, str], name: str) -> tuple[str, ...]:
    """Comma-separated keys, blanks around them dropped; each must fit in a header as it is."""
    keys = tuple(key.strip() for key in env.get(name, "").split(",") if key.strip())
    for key in keys:
        if not all("!" <= character <= "~" for character in key):
            raise ConfigurationError(
                f"{name} must be comma-separated keys of printable ASCII characters without "
                "spaces; one of them is not"
            )
    return keys
