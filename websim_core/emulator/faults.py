"""The failures the emulator can stage, and what each one looks like on the wire.

A `Fault` is a plain value so a test can queue it in-process and a browser test or demo can send
the same thing as JSON to the control endpoint (`to_dict` / `from_dict`).
"""

from __future__ import annotations

import html
import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Literal, cast, get_args

from aiohttp import web

from websim_core.catalog import Kind

FaultType = Literal["status", "html", "hang", "malformed_json", "missing_field", "disconnect"]

# Which optional fields each fault type uses; the rest must stay None so a fault means one thing.
_FIELDS: dict[FaultType, frozenset[str]] = {
    "status": frozenset({"code", "message", "retry_after", "retry_after_ms"}),
    "html": frozenset({"code", "title"}),
    "hang": frozenset({"seconds"}),
    "malformed_json": frozenset(),
    "missing_field": frozenset(),
    "disconnect": frozenset(),
}
_REQUIRED: dict[FaultType, frozenset[str]] = {
    "status": frozenset({"code"}),
    "hang": frozenset({"seconds"}),
}
_ALL_FIELDS = ("code", "message", "retry_after", "retry_after_ms", "title", "seconds")


@dataclass(frozen=True)
class Fault:
    """One staged failure; build it with the classmethods rather than the constructor."""

    type: FaultType
    code: int | None = None
    message: str | None = None
    retry_after: str | None = None
    retry_after_ms: str | None = None
    title: str | None = None
    seconds: float | None = None

    def __post_init__(self) -> None:
        # Validated here, not only in from_dict, because both paths (Python and the control
        # endpoint) must refuse the same nonsense with the same message.
        if self.type not in _FIELDS:
            raise ValueError(f"type: must be one of {', '.join(_FIELDS)}")
        for name in _ALL_FIELDS:
            if name not in _FIELDS[self.type] and getattr(self, name) is not None:
                raise ValueError(f"{name}: not used by a {self.type!r} fault")
        if self.type in ("status", "html") and (
            not isinstance(self.code, int)
            or isinstance(self.code, bool)
            or not 400 <= self.code <= 599
        ):
            raise ValueError("code: must be an HTTP error status, 400 to 599")
        for name in ("message", "title"):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), str):
                raise ValueError(f"{name}: must be a string")
        for name in ("retry_after", "retry_after_ms"):
            value = getattr(self, name)
            # These become header values: a line break would be header injection.
            if value is not None and (not isinstance(value, str) or "\r" in value or "\n" in value):
                raise ValueError(f"{name}: must be a single-line string")
        if self.type == "hang" and (
            not isinstance(self.seconds, int | float)
            or isinstance(self.seconds, bool)
            or math.isnan(self.seconds)
            or self.seconds < 0
        ):
            raise ValueError("seconds: must be a number >= 0")

    @classmethod
    def status(
        cls,
        code: int,
        *,
        message: str | None = None,
        retry_after: str | None = None,
        retry_after_ms: str | None = None,
    ) -> Fault:
        """Reply `code` with a JSON error body and, when given, the retry headers."""
        return cls(
            "status",
            code=code,
            message=message,
            retry_after=retry_after,
            retry_after_ms=retry_after_ms,
        )

    @classmethod
    def html(cls, code: int = 403, title: str = "Just a moment...") -> Fault:
        """Reply `code` with a Cloudflare-like HTML page, as a challenge or an edge error does."""
        return cls("html", code=code, title=title)

    @classmethod
    def hang(cls, seconds: float) -> Fault:
        """Wait `seconds` before answering normally; a large value stands for "never"."""
        return cls("hang", seconds=seconds)

    @classmethod
    def malformed_json(cls) -> Fault:
        """Reply 200 with a JSON content-type and a body cut off mid-way."""
        return cls("malformed_json")

    @classmethod
    def missing_field(cls) -> Fault:
        """Reply 200 with a JSON object lacking `content` (chat) or `url` (image)."""
        return cls("missing_field")

    @classmethod
    def disconnect(cls) -> Fault:
        """Close the connection without sending any reply."""
        return cls("disconnect")

    def to_dict(self) -> dict[str, Any]:
        """The JSON form the control endpoint accepts: `type` plus the fields that are set."""
        fields = {name: getattr(self, name) for name in sorted(_FIELDS[self.type])}
        return {"type": self.type, **{k: v for k, v in fields.items() if v is not None}}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Fault:
        """Rebuild a fault from `to_dict` output; raises ValueError naming what is wrong."""
        if not isinstance(data, Mapping):
            raise ValueError("fault: must be a JSON object")
        fields = dict(data)
        raw_type = fields.pop("type", None)
        if raw_type not in get_args(FaultType):
            raise ValueError(f"type: must be one of {', '.join(_FIELDS)}")
        fault_type = cast(FaultType, raw_type)
        unknown = sorted(set(fields) - _FIELDS[fault_type])
        if unknown:
            raise ValueError(f"{unknown[0]}: not used by a {fault_type!r} fault")
        missing = sorted(_REQUIRED.get(fault_type, frozenset()) - set(fields))
        if missing:
            raise ValueError(f"{missing[0]}: required by a {fault_type!r} fault")
        builders: dict[FaultType, Callable[..., Fault]] = {
            "status": cls.status,
            "html": cls.html,
            "hang": cls.hang,
            "malformed_json": cls.malformed_json,
            "missing_field": cls.missing_field,
            "disconnect": cls.disconnect,
        }
        return builders[fault_type](**fields)


# What `fault_rate` draws from: the failures real Websim traffic shows most.
RANDOM_FAULTS: tuple[Fault, ...] = (
    Fault.status(429, retry_after="1"),
    Fault.status(500),
    Fault.html(502, title="websim.ai | 502: Bad gateway"),
    Fault.status(503),
)

# A plausible start of the real reply, cut off: a client that only checks the content-type fails.
_TRUNCATED_BODIES: dict[Kind, bytes] = {
    "chat": b'{"content": "\\n  Emulator reply to 1 mess',
    "image": b'{"url": "https://websim.ai/images/1024x1024/',
}


def error_body(message: str) -> dict[str, Any]:
    """The JSON error shape the emulator uses for every error it writes itself."""
    return {"error": {"message": message}}


def reason_phrase(code: int) -> str:
    """The standard reason phrase, or a generic one for codes such as Cloudflare's 520-524."""
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return f"HTTP error {code}"


def cloudflare_page(title: str) -> str:
    """A page shaped like Cloudflare's: clients must summarise it, never show it to a user."""
    safe_title = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="en-US">
<head>
<title>{safe_title}</title>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8">
<meta name="robots" content="noindex,nofollow">
<meta name="viewport" content="width=device-width,initial-scale=1">
<style>body{{font-family:system-ui,sans-serif;margin:0}}.main-wrapper{{padding:8rem 1.5rem}}</style>
</head>
<body>
<div class="main-wrapper" role="main">
<div class="main-content">
<h1 class="zone-name-title">websim.ai</h1>
<h2 class="h2">{safe_title}</h2>
<noscript><p>Enable JavaScript and cookies to continue</p></noscript>
<p>websim.ai needs to review the security of your connection before proceeding.</p>
</div>
</div>
<script>(function(){{window._cf_chl_opt={{cvId:'3',cType:'managed',cRay:'8e0c0ffee0000000'}};}}());</script>
<div class="footer" role="contentinfo">
Ray ID: <code>8e0c0ffee0000000</code> &middot; Performance &amp; security by Cloudflare
</div>
</body>
</html>
"""


def fault_response(fault: Fault, kind: Kind) -> web.Response:
    """The reply for a fault that has one; `hang` and `disconnect` are the server's to act out."""
    if fault.type == "status":
        assert fault.code is not None
        headers: dict[str, str] = {}
        if fault.retry_after is not None:
            headers["Retry-After"] = fault.retry_after
        if fault.retry_after_ms is not None:
            headers["retry-after-ms"] = fault.retry_after_ms
        body = error_body(fault.message or reason_phrase(fault.code))
        return web.json_response(body, status=fault.code, headers=headers)
    if fault.type == "html":
        assert fault.code is not None and fault.title is not None
        return web.Response(
            status=fault.code,
            text=cloudflare_page(fault.title),
            content_type="text/html",
            headers={"Server": "cloudflare"},
        )
    if fault.type == "malformed_json":
        return web.Response(body=_TRUNCATED_BODIES[kind], content_type="application/json")
    if fault.type == "missing_field":
        return web.Response(text=json.dumps({"status": "ok"}), content_type="application/json")
    raise ValueError(f"a {fault.type!r} fault has no canned reply")
