"""`python app.py` as its own process on a free loopback port, for tests that drive it."""

from __future__ import annotations

import asyncio
import json
import os
import select
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Awaitable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from websim_core.emulator import Emulator, Fault

PROJECT_ROOT = Path(__file__).resolve().parent.parent
# Under pytest's 60 s per test, so a server that never comes up fails with its own output.
STARTUP_SECONDS = 45
# Loopback only, whatever proxy the machine is configured with.
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


EMULATOR_BANNER = "Websim emulator serving on "
# Staged before a request that must not be sent: if it is sent, it takes this instead of a reply.
NOT_FOR_SENDING = Fault.status(418, message="this request should never have been sent")
T = TypeVar("T")


@dataclass(frozen=True)
class RunningApp:
    """The app serving the page at `url`; everything it printed goes to `log`."""

    url: str
    log: Path
    process: subprocess.Popen[bytes]

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def running_app(
    args: Sequence[str],
    log: Path,
    *,
    port: int | None = None,
    wait: bool = True,
    **settings: str,
) -> Iterator[RunningApp]:
    """`python app.py *args` with `settings` in its environment, until the block ends; on a
    free port, or on `port` (a browser keeps what a page stores per address). Serving when the
    block begins, unless `wait` is false."""
    if port is None:
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
    app = RunningApp(f"http://127.0.0.1:{port}/", log, process)
    try:
        if wait:
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


class EmulatorProcess:
    """`python -m websim_core.emulator` at `url`; faults are staged through its control endpoint."""

    def __init__(self, url: str) -> None:
        self.url = url

    def script(self, kind: str, *faults: Fault) -> None:
        """Queue `faults` for the next `kind` requests, in order."""
        self._control("POST", {"kind": kind, "faults": [fault.to_dict() for fault in faults]})

    @property
    def in_flight(self) -> int:
        """How many requests the emulator is answering now."""
        with LOCAL.open(self.url + "/emulator/state", timeout=10) as response:
            count: int = json.load(response)["in_flight"]
            return count

    def clear(self) -> int:
        """Drop every queued fault; how many were still queued, so never consumed."""
        cleared: int = self._control("DELETE")["cleared"]
        return cleared

    def _control(self, method: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
        request = urllib.request.Request(
            self.url + "/emulator/faults",
            data=None if payload is None else json.dumps(payload).encode(),
            method=method,
            headers={"Content-Type": "application/json"},
        )
        with LOCAL.open(request, timeout=10) as response:
            answer: dict[str, Any] = json.load(response)
            return answer


@contextmanager
def emulator_process(latency: float = 0.0) -> Iterator[EmulatorProcess]:
    """`python -m websim_core.emulator` on a free loopback port, until the block ends."""
    process = subprocess.Popen(
        [sys.executable, "-m", "websim_core.emulator", "--port", "0", "--latency", str(latency)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    try:
        ready, _, _ = select.select([process.stdout], [], [], STARTUP_SECONDS)
        line = process.stdout.readline().strip() if ready else ""
        if not line.startswith(EMULATOR_BANNER):
            pytest.fail(f"the emulator did not announce itself: {line!r}")
        yield EmulatorProcess(line.removeprefix(EMULATOR_BANNER))
    finally:
        stop(process)
        process.stdout.close()


@contextmanager
def nothing_sent_to(upstream: EmulatorProcess, count: int = 1) -> Iterator[None]:
    """Assert that no chat or image request reaches the emulator inside the block."""
    upstream.script("chat", *[NOT_FOR_SENDING] * count)
    upstream.script("image", *[NOT_FOR_SENDING] * count)
    yield
    assert upstream.clear() == 2 * count, "a request reached the emulator"


def stop(process: subprocess.Popen[Any]) -> None:
    """Ask the process to stop; kill it if it has not within 10 s."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


class EmulatorThread:
    """The emulator on an event loop of its own thread, so that blocking tests can script it
    and watch what reaches it while the app (another process) calls it."""

    def __init__(self) -> None:
        self.emulator = Emulator()
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.url = self._run(self.emulator.start())

    def _run(self, call: Awaitable[T]) -> T:
        async def run() -> T:
            return await call

        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(timeout=10)

    def script(self, kind: str, *faults: Fault) -> None:
        async def script() -> None:
            self.emulator.script(kind, *faults)  # type: ignore[arg-type]

        self._run(script())

    @property
    def in_flight(self) -> int:
        return self.emulator.in_flight

    def sent(self, kind: str) -> list[Any]:
        return [request.body for request in list(self.emulator.requests) if request.kind == kind]

    def close(self) -> None:
        self._run(self.emulator.stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@contextmanager
def running_apps(
    count: int, args: Sequence[str], folder: Path, **settings: str
) -> Iterator[list[RunningApp]]:
    """`count` replicas of `python app.py *args` started side by side, each on a free port and
    logging to `folder/replica-<n>.log`, until the block ends."""
    with ExitStack() as stack:
        apps = [
            stack.enter_context(
                running_app(args, folder / f"replica-{n}.log", wait=False, **settings)
            )
            for n in range(1, count + 1)
        ]
        for app in apps:
            _wait_until_serving(app, app.process)
        yield apps
