"""Connections nobody can hold for ever: deadlines for a request to arrive and for a reply to be
read, and caps on how many connections are open, from one peer and in all.

uvicorn has no read deadline: a client that sends half a request line, or half a body, keeps
its connection (and a file descriptor) for as long as it likes, and enough of them leave none
for anyone else, who then meets a reset rather than an answer. `GuardedHttp` is uvicorn's
httptools protocol with those limits added where the bytes arrive, at a timer per connection
and nothing per byte:

- a request's headers must arrive within `header_timeout` of the connection's start or of the
  previous reply's end, and its body within `body_timeout` of the headers; past that the client
  is told 408 if nothing of a reply has gone out, else the connection is closed. Keep-alive
  idle is uvicorn's own, shorter, timer;
- a reply whose transport stays paused (its buffer full because the client reads nothing) for
  `write_timeout` is cut. A stream that is read, however slowly, resumes long before;
- past `per_peer` connections from one address, or `total` in all, a new connection is told
  429 or 503 in a sentence and closed. A trusted proxy's address is never capped: it connects
  for everyone behind it.
"""

from __future__ import annotations

import asyncio
import resource
from dataclasses import dataclass
from typing import Any, ClassVar, Literal

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from ..services.config import StudioSettings, TrustedProxies
from ..services.identity import limit_key, trusts
from .edge import UPLOAD_OVERHEAD

# The slowest body a client may send: 64 KiB/s is half a megabit, a poor mobile uplink, so a
# body at the 9 MiB cap has about two and a half minutes. A body that declares its length is
# given the time its length needs, so a stalled small one goes in seconds, not minutes.
MIN_BODY_RATE = 64 * 1024
# File descriptors kept, beyond one per Websim connection the pool may open (the concurrency),
# for everything that is not a client's connection: kept files, Gradio, logs, the process.
DESCRIPTOR_RESERVE = 128
# The most connections an automatic cap allows, however high the open-files limit.
MOST_CONNECTIONS = 10_000
# Seconds a refused connection stays half-open, reading and dropping what its client sends, so
# that the client reads the refusal instead of a reset its unsent request would provoke.
LINGER = 2.0
RETRY_AFTER = 5

PER_PEER = (
    "This address has {count} connections open to the server, as many as one address may; "
    "close one or wait for one to finish, then try again."
)
FULL = "The server has as many connections open as it can hold; try again in a few seconds."
TOO_SLOW = (
    "The request did not arrive in time: its headers must come within {headers:g} s and its "
    "body at {rate} KiB/s or faster; send it again."
)


@dataclass(frozen=True)
class ConnectionLimits:
    """How long a request may take to arrive and a reply to be read, and how many connections
    may be open; see the module's docstring."""

    header_timeout: float
    write_timeout: float
    per_peer: int
    total: int
    max_body_bytes: int
    proxies: TrustedProxies

    @classmethod
    def of(cls, settings: StudioSettings) -> ConnectionLimits:
        return cls(
            header_timeout=settings.header_timeout,
            write_timeout=settings.write_timeout,
            per_peer=settings.connections_per_client,
            total=settings.max_connections or automatic_total(settings.concurrency),
            max_body_bytes=settings.max_request_bytes + UPLOAD_OVERHEAD,
            proxies=settings.trusted_proxies,
        )

    def body_timeout(self, length: int | None) -> float:
        """Seconds, from the end of its headers, that a body of `length` bytes (None: not
        declared, so perhaps as large as the cap) has to arrive."""
        size = self.max_body_bytes if length is None else min(length, self.max_body_bytes)
        return self.header_timeout + size / MIN_BODY_RATE


def automatic_total(concurrency: int) -> int:
    """Connections the open-files limit leaves room for: all of it but the Websim pool's
    connections and a reserve, so that past the cap there is still a descriptor to refuse with."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return MOST_CONNECTIONS
    return max(32, min(MOST_CONNECTIONS, soft - concurrency - DESCRIPTOR_RESERVE))


class OpenConnections:
    """The connections open now, in all and per peer (IPv6 peers by their /64)."""

    def __init__(self) -> None:
        self.total = 0
        self.by_peer: dict[str, int] = {}

    def add(self, peer: str | None) -> int:
        """Count one more; how many `peer` now has open (0 when it is not counted)."""
        self.total += 1
        if peer is None:
            return 0
        count = self.by_peer.get(peer, 0) + 1
        self.by_peer[peer] = count
        return count

    def remove(self, peer: str | None) -> None:
        self.total -= 1
        if peer is not None:
            count = self.by_peer.pop(peer) - 1
            if count:
                self.by_peer[peer] = count


class GuardedHttp(HttpToolsProtocol):
    """uvicorn's httptools protocol with deadlines and connection caps; build one with
    `guarded_http`, which gives it its limits and its count of open connections."""

    limits: ClassVar[ConnectionLimits]
    open: ClassVar[OpenConnections]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deadline: asyncio.TimerHandle | None = None
        self._unread: asyncio.TimerHandle | None = None
        # What the latest request is still waiting for from the client; None once it is all in.
        self._receiving: Literal["headers", "body"] | None = "headers"
        self._counted = False
        self._peer: str | None = None
        self._refused = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        host = self.client[0] if self.client else ""
        if host and not trusts(host, self.limits.proxies):
            self._peer = limit_key(host)
        count = self.open.add(self._peer)
        self._counted = True
        if self.open.total > self.limits.total:
            self._refuse(503, FULL)
        elif count > self.limits.per_peer:
            self._refuse(429, PER_PEER.format(count=self.limits.per_peer))
        else:
            self._arm(self.limits.header_timeout)

    def connection_lost(self, exc: Exception | None) -> None:
        self._release()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # read and dropped: the refusal has been written
        super().data_received(data)

    def eof_received(self) -> None:
        if self._refused:
            self.transport.close()

    def handle_websocket_upgrade(self) -> None:
        # The connection becomes the WebSocket protocol's, which has deadlines of its own.
        self._release()
        super().handle_websocket_upgrade()

    # Parser callbacks: a request's headers, then its body, must arrive in time.
    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._receiving = "headers"
        if self._deadline is None:
            self._arm(self.limits.header_timeout)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        self._receiving = "body"
        self._arm(self.limits.body_timeout(self._declared_length()))

    def on_message_complete(self) -> None:
        super().on_message_complete()
        self._receiving = None
        self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if self._receiving is None and self._deadline is None and not self.transport.is_closing():
            # The next request's headers are due from the end of this reply.
            self._arm(self.limits.header_timeout)

    # Flow control: a reply nobody reads.
    def pause_writing(self) -> None:
        super().pause_writing()
        if self._unread is None:
            self._unread = self.loop.call_later(self.limits.write_timeout, self._cut_unread)

    def resume_writing(self) -> None:
        super().resume_writing()
        if self._unread is not None:
            self._unread.cancel()
            self._unread = None

    def _cut_unread(self) -> None:
        self._unread = None
        # abort, not close: close would wait for a buffer that never drains.
        self.transport.abort()

    def _too_slow(self) -> None:
        self._deadline = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        answering = cycle is not None and not cycle.response_complete
        if self._receiving is None:
            if not answering:
                self.transport.close()  # idle since the last reply ended
            return  # the wait is ours; the next deadline starts when the reply ends
        if self._receiving == "body" and self.flow.read_paused:
            # uvicorn stopped reading because the application has not taken what came: that
            # wait is not the client's.
            self._arm(self.limits.header_timeout)
            return
        if self._receiving == "headers":
            speaking = answering  # the previous reply is still going out
        else:
            speaking = bool(self.pipeline) or cycle is None or cycle.response_started
        if speaking:
            self.transport.abort()  # part of a reply is out: nothing more can be said
            return
        if self._receiving == "body" and cycle is not None:
            # The request's own cycle, waiting for its body: it hears that the client left.
            cycle.disconnected = True
            cycle.message_event.set()
        sentence = TOO_SLOW.format(headers=self.limits.header_timeout, rate=MIN_BODY_RATE // 1024)
        self.transport.write(_refusal(408, sentence))
        self.transport.close()

    def _refuse(self, status: int, sentence: str) -> None:
        self._refused = True
        self.transport.write(_refusal(status, sentence))
        if self.transport.can_write_eof():
            self.transport.write_eof()
        self._deadline = self.loop.call_later(LINGER, self.transport.abort)

    def _declared_length(self) -> int | None:
        for name, value in self.headers:
            if name == b"content-length":
                try:
                    return int(value)
                except ValueError:
                    return None
        return None

    def _arm(self, seconds: float) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(seconds, self._too_slow)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _release(self) -> None:
        self._disarm()
        if self._unread is not None:
            self._unread.cancel()
            self._unread = None
        if self._counted:
            self._counted = False
            self.open.remove(self._peer)


def guarded_http(settings: StudioSettings) -> type[GuardedHttp]:
    """The protocol class for `uvicorn.run(http=...)`, with these settings' limits."""

    class Guarded(GuardedHttp):
        limits = ConnectionLimits.of(settings)
        open = OpenConnections()

    return Guarded


_PHRASES = {408: "Request Timeout", 429: "Too Many Requests", 503: "Service Unavailable"}


def _refusal(status: int, sentence: str) -> bytes:
    body = sentence.encode()
    retry = f"retry-after: {RETRY_AFTER}\r\n" if status != 408 else ""
    head = (
        f"HTTP/1.1 {status} {_PHRASES[status]}\r\n"
        "content-type: text/plain; charset=utf-8\r\n"
        f"content-length: {len(body)}\r\n"
        f"{retry}"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body
