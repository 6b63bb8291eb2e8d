"""Replicas behind a load balancer share one budget per client through a real Redis."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import pytest

from tests.app_process import EmulatorProcess, emulator_process, running_app, stop
from tests.test_public_server import call


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Debian's redis-server on a free loopback port, keeping nothing on disk."""
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
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop(process)


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
