"""Replicas behind a load balancer share one budget per client through a real Redis."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.app_process import EmulatorProcess, emulator_process, running_app, stop
from tests.test_public_server import call


@pytest.fixture(scope="module")
def redis_server(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Debian's redis-server on a free loopback port, keeping nothing on disk: its URL and
    process."""
    server = shutil.which("redis-server")
    if server is None:
        pytest.fail("redis-server is not installed: apt-get install redis-server (.ci/run does)")
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(folder),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as connection:
                connection.sendall(b"PING\r\n")
                if connection.recv(16).startswith(b"+PONG"):
                    break
        except OSError:
            pass
        if time.monotonic() > deadline or process.poll() is not None:
            stop(process)
            pytest.fail("redis-server did not start")
        time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}", process
    finally:
        process.send_signal(signal.SIGCONT)
        stop(process)


@pytest.fixture(scope="module")
def redis_url(redis_server: tuple[str, subprocess.Popen[bytes]]) -> str:
    return redis_server[0]


@pytest.fixture(scope="module")
def upstream() -> Iterator[EmulatorProcess]:
    with emulator_process() as running:
        yield running


def test_two_replicas_share_one_allowance_per_client(
    redis_url: str, upstream: EmulatorProcess, tmp_path: Path
) -> None:
    settings = {
        "WEBSIM_BASE_URL": upstream.url,
        "WEBSIM_STUDIO_SECRET": "replicas",
        "WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "4",
        "WEBSIM_STUDIO_LIMITS_STORAGE": redis_url,
    }
    with ExitStack() as stack:
        replicas = [
            stack.enter_context(running_app([], tmp_path / f"replica-{n}.log", **settings)).url
            for n in range(2)
        ]
        hi = ["hi", [], "gemini-1.5-pro", ""]
        # A load balancer sends the same client to either replica.
        outcomes = [call(replicas[n % 2], "chat", hi) for n in range(6)]

    answered = [o for o in outcomes if o.startswith("complete: Emulator reply")]
    refused = [o for o in outcomes if "You have sent 4 requests in the last minute" in o]
    assert (len(answered), len(refused)) == (4, 2), outcomes
    assert outcomes[:4] == answered  # both replicas counted every one of the first four


def test_a_frozen_redis_neither_freezes_calls_nor_lifts_the_limit(
    redis_server: tuple[str, subprocess.Popen[bytes]], upstream: EmulatorProcess, tmp_path: Path
) -> None:
    url, redis = redis_server
    settings = {
        "WEBSIM_BASE_URL": upstream.url,
        "WEBSIM_STUDIO_SECRET": "replicas",
        "WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "3",
        "WEBSIM_STUDIO_LIMITS_STORAGE": url,
    }
    hi = ["hi", [], "gemini-1.5-pro", ""]
    with running_app([], tmp_path / "frozen.log", **settings) as app:
        redis.send_signal(signal.SIGSTOP)
        try:
            outcomes = []
            for _ in range(4):
                started = time.monotonic()
                outcomes.append(call(app.url, "chat", hi))
                assert time.monotonic() - started < 2, outcomes
            with urllib.request.urlopen(app.url + "readyz", timeout=5) as response:
                assert response.status == 200
                assert json.load(response)["limits_storage"] == "degraded"
        finally:
            redis.send_signal(signal.SIGCONT)
        # Counted on the replica meanwhile: the limit held.
        assert [o.startswith("complete:") for o in outcomes] == [True, True, True, False]
        assert "You have sent 3 requests in the last minute" in outcomes[3]
        output = app.output()
    assert output.count("this replica counts alone until it answers") == 1  # once an outage
