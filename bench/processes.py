"""The processes the benchmarks start, and what they cost: the emulator, the app, RSS and CPU.

Every benchmark runs the emulator (`python -m websim_core.emulator`) and the app (`python app.py`,
configured only through its environment, as deployed) in processes of their own on loopback, and
reads their memory and CPU with psutil, the process and its children together. A benchmark imports
this module as `from processes import ...`: run as `python bench/<name>.py`, its own folder is
first on `sys.path`.
"""

from __future__ import annotations

import os
import queue
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import psutil

REPO_ROOT = Path(__file__).resolve().parent.parent
EMULATOR_BANNER = "Websim emulator serving on "
# How long the emulator may take to print its banner, and the app to answer its first request.
START_TIMEOUT = 60.0
# How long a process has to end after SIGTERM before it is killed.
STOP_TIMEOUT = 10.0
RSS_SAMPLE_SECONDS = 0.05


class StartError(Exception):
    """Raised when the emulator or the app exits or stays silent instead of serving; a benchmark
    reports it and exits 1."""


@dataclass(frozen=True)
class Server:
    """A process a benchmark started, and where it serves."""

    url: str
    process: subprocess.Popen[bytes]


@contextmanager
def emulator_process(
    latency: float = 0.0, *, stop_timeout: float = STOP_TIMEOUT
) -> Iterator[Server]:
    """The emulator on a free port, answering after `latency` seconds; stopped on the way out."""
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "websim_core.emulator"),
            *("--port", "0", "--latency", f"{latency:g}"),
        ],
        cwd=REPO_ROOT,
        stdout=subprocess.PIPE,
        # Left on the terminal: if the emulator fails, its own words say why.
        stderr=None,
    )
    try:
        assert process.stdout is not None
        line = first_line(process.stdout, START_TIMEOUT)
        if line is None:
            raise StartError(f"the emulator did not announce itself within {START_TIMEOUT:g} s")
        if not line.startswith(EMULATOR_BANNER):
            raise StartError(f"the emulator printed {line!r} instead of its banner")
        yield Server(line.removeprefix(EMULATOR_BANNER), process)
    finally:
        stop(process, stop_timeout)


@dataclass
class AppProcess:
    """`python app.py`, started; `wait_until_serving()` waits until it answers at `url`."""

    url: str
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    ready_at: float = 0.0
    """When it first answered, in `time.monotonic()` seconds."""

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = self.url.removeprefix("http://").rstrip("/").split(":")
        return host, int(port)

    def wait_until_serving(self) -> None:
        """Return once the app answers `GET /config`; StartError if it exits or stays silent."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise StartError(
                    f"the app exited with code {self.process.returncode}:\n{self.output()}"
                )
            try:
                with urllib.request.urlopen(self.url + "config", timeout=1):
                    self.ready_at = time.monotonic()
                    return
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        raise StartError(f"the app did not answer at {self.url} within {START_TIMEOUT:g} s")

    def output(self) -> str:
        """Everything the app has printed so far, stdout and stderr together."""
        self.log.seek(0)
        return self.log.read().decode(errors="replace").strip()


@contextmanager
def app_process(
    emulator_url: str,
    settings: Mapping[str, str],
    *,
    secret: str,
    stop_timeout: float = STOP_TIMEOUT,
) -> Iterator[AppProcess]:
    """`python app.py` on a free loopback port against `emulator_url`, with `settings` added to its
    environment; started but not waited for (call `wait_until_serving()`), so that two apps can
    start side by side. Stopped on the way out."""
    port = free_port()
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(
            [sys.executable, "app.py"],
            cwd=REPO_ROOT,
            env=app_environment(port, emulator_url, secret, settings),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            yield AppProcess(f"http://127.0.0.1:{port}/", process, log)
        finally:
            stop(process, stop_timeout)


def app_environment(
    port: int, emulator_url: str, secret: str, settings: Mapping[str, str]
) -> dict[str, str]:
    """This process's environment for the app, minus the machine's WEBSIM_* settings (they must
    not steer a benchmark), serving on loopback at `port` against `emulator_url`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith("WEBSIM_")}
    return env | {
        "GRADIO_ANALYTICS_ENABLED": "False",
        "GRADIO_SERVER_NAME": "127.0.0.1",
        "GRADIO_SERVER_PORT": str(port),
        "WEBSIM_BASE_URL": emulator_url,
        # Only to keep the app's warning about a random secret out of the figures and its log.
        "WEBSIM_STUDIO_SECRET": secret,
        **settings,
    }


def free_port() -> int:
    """A loopback TCP port nothing listens on now, for a server to be started on."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def first_line(stream: IO[bytes], timeout: float) -> str | None:
    """The stream's first line, or None if none comes within `timeout` seconds."""
    lines: queue.Queue[bytes] = queue.Queue()
    threading.Thread(target=lambda: lines.put(stream.readline()), daemon=True).start()
    try:
        return lines.get(timeout=timeout).decode(errors="replace").strip()
    except queue.Empty:
        return None


def stop(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT) -> None:
    """SIGTERM the process if it still runs, and kill it if it has not ended within `timeout`
    seconds; its stdout pipe, if any, is closed."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    if process.stdout is not None:
        process.stdout.close()


# --- what the processes use --------------------------------------------------------------------


def resident_bytes(process: subprocess.Popen[bytes]) -> int:
    """Resident memory (RSS) of a process and its children, in bytes."""
    return _tree_rss(psutil.Process(process.pid))


def cpu_seconds(process: subprocess.Popen[bytes]) -> float:
    """CPU time (user + system) a process and its children have used so far."""
    parent = psutil.Process(process.pid)
    total = 0.0
    for each in (parent, *parent.children(recursive=True)):
        with suppress(psutil.NoSuchProcess):  # a child may end between listing and reading
            times = each.cpu_times()
            total += times.user + times.system
    return total


class PeakRss:
    """The highest RSS of a process and its children while the block runs, sampled every 50 ms
    in a thread: `with PeakRss(process) as peak: ...`, then `peak.peak` in bytes."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        self.process = psutil.Process(process.pid)
        self.peak = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)

    def _run(self) -> None:
        while not self._done.wait(RSS_SAMPLE_SECONDS):
            self.peak = max(self.peak, _tree_rss(self.process))

    def __enter__(self) -> PeakRss:
        self.peak = _tree_rss(self.process)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, _tree_rss(self.process))


def _tree_rss(parent: psutil.Process) -> int:
    total = 0
    for each in (parent, *parent.children(recursive=True)):
        with suppress(psutil.NoSuchProcess):  # a child may end between listing and reading
            total += each.memory_info().rss
    return total
