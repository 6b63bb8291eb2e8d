"""Configuration: one settings object, read from the environment, overridden by arguments.

The variables (docs/operators.md has the same table with examples):
- `WEBSIM_BASE_URL`: where the API lives, default `https://websim.ai`.
- `WEBSIM_PROXY`: an HTTP(S) proxy for every request.
- `WEBSIM_TIMEOUT`: seconds one attempt may take, connect to last byte; default 120.
- `WEBSIM_MAX_RETRIES`: retries after the first attempt, 0 to 10; default 3.
- `WEBSIM_EXTRA_HEADERS`: a JSON object of headers to add, such as a cookie.
- `WEBSIM_PROJECT_ID`: one fixed project ID for every call, instead of a fresh random one each.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from urllib.parse import urlsplit

from .catalog import DEFAULT_BASE_URL
from .errors import ConfigurationError, InvalidRequestError
from .validation import validate_project_id

DEFAULT_TIMEOUT = 120.0
DEFAULT_MAX_RETRIES = 3
MAX_RETRIES_LIMIT = 10
# RFC 9110 token characters: anything else in a header name makes strict servers answer 400.
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")


@dataclass(frozen=True)
class Settings:
    """Where and how websim_core talks to Websim."""

    base_url: str = DEFAULT_BASE_URL
    proxy: str | None = None
    timeout: float = DEFAULT_TIMEOUT
    max_retries: int = DEFAULT_MAX_RETRIES
    extra_headers: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    # Clients written after the seed send one real project's ID rather than a random one each
    # call; None keeps the seed's way.
    project_id: str | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Settings from `WEBSIM_*` variables (of `os.environ` unless `environ` is given)."""
        env = os.environ if environ is None else environ

        def get(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        return cls().with_overrides(
            base_url=get("WEBSIM_BASE_URL"),
            proxy=get("WEBSIM_PROXY"),
            timeout=get("WEBSIM_TIMEOUT"),
            max_retries=get("WEBSIM_MAX_RETRIES"),
            extra_headers=get("WEBSIM_EXTRA_HEADERS"),
            project_id=get("WEBSIM_PROJECT_ID"),
            source="WEBSIM_",
        )

    def with_overrides(
        self,
        *,
        base_url: str | None = None,
        proxy: str | None = None,
        timeout: float | str | None = None,
        max_retries: int | str | None = None,
        extra_headers: Mapping[str, str] | str | None = None,
        project_id: str | None = None,
        source: str = "",
    ) -> Settings:
        """A copy with every value that is not None checked and put in place.

        `source` prefixes the names in error messages: "WEBSIM_" names the environment variables.
        """

        def name(setting: str) -> str:
            return f"{source}{setting.upper()}" if source else setting

        changes: dict[str, object] = {}
        if base_url is not None:
            changes["base_url"] = _check_url(base_url, name("base_url")).rstrip("/")
        if proxy is not None:
            changes["proxy"] = _check_url(proxy, name("proxy"))
        if timeout is not None:
            changes["timeout"] = _check_timeout(timeout, name("timeout"))
        if max_retries is not None:
            changes["max_retries"] = _check_max_retries(max_retries, name("max_retries"))
        if extra_headers is not None:
            changes["extra_headers"] = _check_headers(extra_headers, name("extra_headers"))
        if project_id is not None:
            changes["project_id"] = _check_project_id(project_id, name("project_id"))
        return replace(self, **changes)  # type: ignore[arg-type]


def _check_url(value: str, name: str) -> str:
    parts = urlsplit(value.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigurationError(f"{name} must be an http:// or https:// URL, not {value!r}")
    return value.strip()


def _check_timeout(value: float | str, name: str) -> float:
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a number of seconds, not {value!r}") from None
    if not 0 < seconds < float("inf"):
        raise ConfigurationError(f"{name} must be more than 0 seconds, not {value!r}")
    return seconds


def _check_max_retries(value: int | str, name: str) -> int:
    try:
        count = int(value)
    except ValueError:
        raise ConfigurationError(f"{name} must be a whole number, not {value!r}") from None
    if not 0 <= count <= MAX_RETRIES_LIMIT:
        raise ConfigurationError(f"{name} must be from 0 to {MAX_RETRIES_LIMIT}, not {value!r}")
    return count


def _check_project_id(value: str, name: str) -> str:
    try:
        return validate_project_id(value.strip(), "chat")
    except InvalidRequestError as error:
        raise ConfigurationError(f"{name} {error.problem}, not {value!r}") from None


def _check_headers(value: Mapping[str, str] | str, name: str) -> Mapping[str, str]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as error:
            raise ConfigurationError(f"{name} must be a JSON object: {error.msg}") from None
    if not isinstance(value, Mapping):
        raise ConfigurationError(f"{name} must be a JSON object of header names to values")
    headers: dict[str, str] = {}
    for header, header_value in value.items():
        if not isinstance(header, str) or not _HEADER_NAME.fullmatch(header):
            raise ConfigurationError(f"{name}: {header!r} is not a legal header name")
        if not isinstance(header_value, str) or "\r" in header_value or "\n" in header_value:
            raise ConfigurationError(f"{name}: the value of {header!r} must be one line of text")
        headers[header.lower()] = header_value
    return MappingProxyType(headers)
