"""Slow clients over real sockets: `python app.py` with short deadlines and a small cap.

A client that sends half a request, stalls a body or reads nothing of its reply loses its
connection at the deadline, and one address's connections past the cap are told so, while
another client (127.0.0.2: loopback is a whole /8) keeps being answered at once.
"""

from __future__ import annotations

import resource
import socket
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from studio.server.connections import MIN_BODY_RATE, ConnectionLimits
from studio.services.config import StudioSettings
from tests.app_process import EmulatorProcess, RunningApp, emulator_process, running_app
from websim_core.catalog import DEFAULT_CHAT_MODEL
from websim_core.emulator import Fault

HEADER_TIMEOUT = 2
WRITE_TIMEOUT = 2
PER_CLIENT = 40
OTHER = "127.0.0.2"
CHAT = {"model": DEFAULT_CHAT_MODEL, "messages": [{"role": "user", "content": "Hello"}]}
# A Gradio asset larger than every buffer between the server and a client that reads nothing.
LARGE_ASSET = "assets/PlotlyPlot-D9Pvz5DK.js"


@pytest.fixture(scope="module")
def upstream() -> Iterator[EmulatorProcess]:
    with emulator_process() as running:
        yield running


@pytest.fixture(scope="module")
def app(
    upstream: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[RunningApp]:
    log = tmp_path_factory.mktemp("slow") / "app.log"
    with running_app(
        [],
        log,
        WEBSIM_BASE_URL=upstream.url,
        WEBSIM_STUDIO_SECRET="slow-client-tests",
        WEBSIM_STUDIO_REQUESTS_PER_MINUTE="0",
        WEBSIM_STUDIO_HEADER_TIMEOUT=str(HEADER_TIMEOUT),
        WEBSIM_STUDIO_WRITE_TIMEOUT=str(WRITE_TIMEOUT),
        WEBSIM_STUDIO_CONNECTIONS_PER_CLIENT=str(PER_CLIENT),
    ) as running:
        yield running


def connect(app: RunningApp, source: str = "127.0.0.1", receive_buffer: int = 0) -> socket.socket:
    url = urlsplit(app.url)
    sock = socket.socket()
    if receive_buffer:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.bind((source, 0))
    sock.connect((url.hostname or "", url.port or 80))
    return sock


def read_until_closed(sock: socket.socket, limit: float) -> bytes:
    """Everything the server sends until it closes; fails if it has not closed within `limit`."""
    sock.settimeout(limit)
    received = b""
    try:
        while chunk := sock.recv(65536):
            received += chunk
    except ConnectionResetError:
        pass
    except TimeoutError:
        pytest.fail(f"the server kept the connection open past {limit} s: {received[:200]!r}")
    return received


def other_client(app: RunningApp) -> httpx.Client:
    transport = httpx.HTTPTransport(local_address=OTHER)
    return httpx.Client(base_url=app.url, transport=transport, timeout=3, trust_env=False)


def test_a_body_has_the_time_its_length_needs_and_the_cap_leaves_descriptors_spare() -> None:
    limits = ConnectionLimits.of(StudioSettings.from_env({"WEBSIM_STUDIO_HEADER_TIMEOUT": "4"}))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)

    assert limits.body_timeout(0) == 4
    assert limits.body_timeout(MIN_BODY_RATE * 10) == 14
    # Undeclared, or declared past the cap: the time the cap needs, and no more.
    assert limits.body_timeout(None) == limits.body_timeout(10 * limits.max_body_bytes) < 200
    assert limits.per_peer == 64 and limits.write_timeout == 30
    assert limits.total < soft or soft == resource.RLIM_INFINITY
    chosen = StudioSettings.from_env({"WEBSIM_STUDIO_MAX_CONNECTIONS": "100"})
    assert ConnectionLimits.of(chosen).total == 100


def test_half_sent_requests_are_closed_at_their_deadline_while_others_are_answered(
    app: RunningApp,
) -> None:
    partial_headers = [b"GET /healthz HTTP/1.1\r\nHost: x\r\n"] * 10
    stalled_v1 = [
        b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 4000\r\n\r\n{"model": "gpt-4o", "messages": ['
    ] * 8
    stalled_joins = [
        b"POST /gradio_api/queue/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b'Content-Length: 2000\r\n\r\n{"data": ["Hel'
    ] * 8
    slow = [connect(app) for _ in partial_headers + stalled_v1 + stalled_joins]
    nothing_sent = [connect(app) for _ in range(4)]
    try:
        for sock, request in zip(slow, partial_headers + stalled_v1 + stalled_joins, strict=True):
            sock.sendall(request)
        started = time.monotonic()
        with other_client(app) as client:
            while time.monotonic() - started < HEADER_TIMEOUT:
                asked = time.monotonic()
                assert client.get("healthz").status_code == 200
                assert client.post("v1/chat/completions", json=CHAT).status_code == 200
                assert time.monotonic() - asked < 3
        for sock in slow + nothing_sent:
            answer = read_until_closed(sock, HEADER_TIMEOUT + 5)
            assert answer == b"" or answer.startswith(b"HTTP/1.1 408 "), answer[:100]
            assert answer == b"" or b"did not arrive in time" in answer
        assert time.monotonic() - started < HEADER_TIMEOUT + 5
    finally:
        for sock in slow + nothing_sent:
            sock.close()


def test_connections_past_one_address_cap_are_told_so_while_others_are_served(
    app: RunningApp,
) -> None:
    held = [connect(app) for _ in range(PER_CLIENT)]
    try:
        time.sleep(0.2)
        with connect(app) as excess:
            excess.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = read_until_closed(excess, 3)
        assert answer.startswith(b"HTTP/1.1 429 "), answer[:100]
        assert b"connection: close" in answer
        assert b"as many as one address may" in answer
        with other_client(app) as client:
            assert client.get("healthz").status_code == 200
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)
    with httpx.Client(base_url=app.url, timeout=3, trust_env=False) as client:
        assert client.get("healthz").status_code == 200  # the cap counts open connections only


def test_a_reply_nobody_reads_is_cut_while_a_stream_that_is_read_goes_on(
    app: RunningApp, upstream: EmulatorProcess
) -> None:
    with connect(app, receive_buffer=4096) as unread:
        reply_left_unread(app, upstream, unread)


def reply_left_unread(app: RunningApp, upstream: EmulatorProcess, unread: socket.socket) -> None:
    unread.sendall(f"GET /{LARGE_ASSET} HTTP/1.1\r\nHost: x\r\n\r\n".encode())
    # The stream waits on Websim for longer than the write deadline, sending keep-alives.
    upstream.script("chat", Fault.hang(WRITE_TIMEOUT + 2))
    streaming = {**CHAT, "stream": True}
    with (
        other_client(app) as client,
        client.stream("POST", "v1/chat/completions", json=streaming) as reply,
    ):
        assert reply.status_code == 200
        streamed = b"".join(reply.iter_bytes())
    assert b"data: [DONE]" in streamed
    # By now the unread reply has sat paused past its deadline: what is left is what the buffers
    # took before the server stopped writing, and then the end of the connection.
    received = read_until_closed(unread, 5)
    length = int(received.split(b"content-length: ", 1)[1].split(b"\r\n", 1)[0])
    assert len(received.split(b"\r\n\r\n", 1)[1]) < length


def test_behind_a_trusted_proxy_the_cap_follows_the_client_it_names(
    upstream: EmulatorProcess, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """A proxy (here loopback, trusted) connects for everyone: its connections are never
    capped, but one visitor's requests past the cap are told so while another's go on."""
    log = tmp_path_factory.mktemp("proxied") / "app.log"
    with running_app(
        [],
        log,
        WEBSIM_BASE_URL=upstream.url,
        WEBSIM_STUDIO_SECRET="slow-client-tests",
        WEBSIM_STUDIO_REQUESTS_PER_MINUTE="0",
        WEBSIM_STUDIO_TRUSTED_PROXIES="127.0.0.1/32",
        WEBSIM_STUDIO_CONNECTIONS_PER_CLIENT="3",
    ) as app:
        upstream.script("chat", *[Fault.hang(5)] * 3)
        url = app.url + "v1/chat/completions"

        def as_visitor(visitor: str, timeout: float) -> httpx.Response:
            headers = {"x-forwarded-for": visitor}
            return httpx.post(url, json=CHAT, headers=headers, timeout=timeout, trust_env=False)

        held = [threading.Thread(target=as_visitor, args=("198.51.100.7", 15)) for _ in range(3)]
        for thread in held:
            thread.start()
        deadline = time.monotonic() + 10
        while upstream.in_flight < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert upstream.in_flight == 3
        fourth = as_visitor("198.51.100.7", 10)
        assert fourth.status_code == 429
        assert "requests open to the server" in fourth.json()["error"]["message"]
        started = time.monotonic()
        other = as_visitor("203.0.113.9", 10)
        assert other.status_code == 200 and time.monotonic() - started < 3
        for thread in held:
            thread.join(timeout=20)
        upstream.clear()
        assert as_visitor("198.51.100.7", 10).status_code == 200  # its requests ended: served
