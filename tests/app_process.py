"""`python app.py` as its own process on a free loopback port, for tests that drive it."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Under pytest's 60 s per test, so a server that never comes up fails with its own output.
STARTUP_SECONDS = 45
# Loopback only, whatever proxy the machine is configured with.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


@dataclass(frozen=True)
class RunningApp:
    """The app serving the page at `url`; everything it printed goes to `log`."""

    url: str
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_app(args: Sequence[str], log: Path, **settings: str) -> Iterator[RunningApp]:
    """`python app.py *args` with `settings` in its environment, until the block ends."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # The machine's WEBSIM_* settings must not steer the app under test.
    env = {name: value for name, value in os.environ.items() if not name.startswith("WEBSIM_")}
    env |= {
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
        **settings,
    }
    app = RunningApp(f"http://127.0.0.1:{port}/", log)
    # Output goes to a file rather than a pipe: nothing has to drain it while the tests run.
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "app.py", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        _wait_until_serving(app, process)
        yield app
    finally:
        stop(process)


def _wait_until_serving(app: RunningApp, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"app.py exited with {process.returncode}:\n{app.output()}")
        try:
            with LOCAL.open(app.url + "config", timeout=2):
                return
        except OSError:
            time.sleep(0.1)
    pytest.fail(f"app.py did not serve {app.url} within {STARTUP_SECONDS} s:\n{app.output()}")


def stop(process: subprocess.Popen[Any]) -> None:
    """Ask the process to stop; kill it if it has not within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
