"""Benchmark what the public app holds out against: huge bodies, many sessions, files, a 429 storm.

Run from a checkout: `python bench/public_limits.py [--quick]`. The emulator and the app
(`python app.py`, configured only through its environment, as deployed) each run in their own
process on loopback, started by `bench/processes.py` as for `bench/app_load.py`; the callers
are this process. It measures:

1. Memory: the app's RSS (psutil, the process and its children) when idle after one warm-up
   call, after 50 MiB chat bodies sent the way curl sends large bodies (declared length and
   `Expect: 100-continue`) and chunked with no length, and after thousands of ordinary `/chat`
   calls, each in a new session. The per-client request limit is lifted so that it hides nothing.
2. Disk: the app's files folder (`websim-studio-*` under the app's TMPDIR) after many
   `/generate_image` calls against a 1 MB cap, after the app's own sweep where the run lasts long
   enough for one, and after SIGTERM.
3. Websim's 429s: `WebsimClient` in this process against an in-process emulator that answers
   every chat request with 429 and `Retry-After: 2` for a storm of a few seconds, while users call
   in a loop; with one shared `UpstreamGuard` and, as the baseline, with none. (`bench/guard.py`
   measures the guard against a caller who hangs up on every try, and against everyday 429s.)

Every figure is compared with a baseline from the same run (the idle app, the cap, the client
without a guard). This script reports; it is not a test: a missed target still exits 0. Only a
process that will not start makes it fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import select
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, ExitStack, suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from processes import (
    AppProcess,
    PeakRss,
    StartError,
    app_process,
    cpu_seconds,
    emulator_process,
    resident_bytes,
)

REPO_ROOT = Path(__file__).resolve().parent.parent
# Run as a script from a checkout: make the packages beside bench/ importable without installing.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from studio.services.files import SWEEP_INTERVAL  # noqa: E402
from websim_core import (  # noqa: E402
    Settings,
    UpstreamGuard,
    UpstreamPausedError,
    WebsimClient,
    WebsimError,
)
from websim_core.emulator import Emulator, Fault  # noqa: E402

MiB = 2**20
MODEL = "gemini-1.5-pro"
# How long an app or the emulator has to end after SIGTERM before it is killed.
STOP_TIMEOUT = 15.0
HTTP_TIMEOUT = 30.0
# curl waits this long for "100 Continue" before it sends a declared body anyway.
EXPECT_WAIT = 1.0
CHUNK = MiB
# Targets: RSS growth over the idle app.
HOSTILE_TARGET = 50 * MiB
SESSIONS_TARGET = 100 * MiB
# The disk run's cap, in whole MB as WEBSIM_STUDIO_FILES_MB takes it (1 is the least it accepts).
FILES_MB = 1
# What Websim answers every chat request with during the storm.
STORM_WAIT = 2.0
STORM_FAULT = Fault.status(429, retry_after=f"{STORM_WAIT:g}")
# A call the guard holds is held for the wait, then for the answer to the call trying first.
HELD_FAIL_TARGET = STORM_WAIT + 0.5
# A user calls again about this long after an answer or a failure.
THINK_SECONDS = 1.0


@dataclass(frozen=True)
class Plan:
    """How much of everything one run does."""

    declared_bodies: int
    chunked_bodies: int
    body_mib: int
    sessions: int
    checkpoint: int
    callers: int
    images: int
    storm_users: int
    storm_seconds: float
    after_storm: float
    wait_for_sweep: bool


FULL = Plan(
    declared_bodies=20,
    chunked_bodies=4,
    body_mib=50,
    sessions=5000,
    checkpoint=1000,
    callers=32,
    # The emulator's PNGs are about 2 KB: it takes over 500 to pass a 1 MB cap.
    images=1000,
    storm_users=32,
    storm_seconds=10.0,
    after_storm=3.0,
    wait_for_sweep=True,
)
QUICK = Plan(
    declared_bodies=20,
    chunked_bodies=2,
    body_mib=50,
    sessions=300,
    checkpoint=100,
    callers=32,
    images=40,
    storm_users=8,
    storm_seconds=3.0,
    after_storm=2.0,
    wait_for_sweep=False,
)


# --- the processes -----------------------------------------------------------------------------


def studio_app(
    emulator_url: str, temp_dir: Path, **settings: str
) -> AbstractContextManager[AppProcess]:
    """`python app.py` on a free loopback port with TMPDIR=`temp_dir` and `settings`, started
    but not waited for (call `wait_until_serving()`), so that two apps can start side by side."""
    return app_process(
        emulator_url,
        {"TMPDIR": str(temp_dir), **settings},
        secret="public-limits-benchmark",
        stop_timeout=STOP_TIMEOUT,
    )


# --- calling the app over HTTP -----------------------------------------------------------------


@dataclass
class Tally:
    """What a batch of calls got back."""

    calls: int = 0
    answered: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0

    def note(self, outcome: str) -> None:
        self.calls += 1
        if outcome == "complete":
            self.answered += 1
        else:
            self.outcomes[outcome] += 1

    def others(self) -> str:
        return ", ".join(f"{count} {what}" for what, count in self.outcomes.most_common()) or "-"


async def call_app(
    session: aiohttp.ClientSession, url: str, api_name: str, data: list[Any], check: str
) -> str:
    """POST `/gradio_api/call/<api_name>` in a new session, then read its event stream to the
    end, as curl would; "complete" when the reply holds `check`, else what happened instead."""
    body = {"data": data, "session_hash": uuid.uuid4().hex}
    try:
        async with session.post(f"{url}gradio_api/call/{api_name}", json=body) as response:
            if response.status != 200:
                return f"HTTP {response.status}"
            event_id = (await response.json())["event_id"]
        async with session.get(f"{url}gradio_api/call/{api_name}/{event_id}") as response:
            if response.status != 200:
                return f"stream HTTP {response.status}"
            event = ""
            async for raw in response.content:
                line = raw.decode().rstrip("\n")
                if line.startswith("event: "):
                    event = line.removeprefix("event: ")
                elif line.startswith("data: ") and event in ("complete", "error"):
                    if event == "error":
                        return f"error: {line.removeprefix('data: ')[:80]}"
                    return "complete" if check in line else "wrong reply"
    except (aiohttp.ClientError, TimeoutError, ValueError, KeyError) as error:
        return type(error).__name__
    return "stream ended early"


async def run_calls(
    url: str,
    api_name: str,
    count: int,
    callers: int,
    arguments: Callable[[int], tuple[list[Any], str]],
    every: int = 0,
    checkpoint: Callable[[int], None] | None = None,
) -> Tally:
    """`count` calls from `callers` concurrent callers; `checkpoint(done)` after every `every`."""
    tally = Tally()
    numbers = iter(range(count))
    timeout = aiohttp.ClientTimeout(total=HTTP_TIMEOUT)
    connector = aiohttp.TCPConnector(limit=callers)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def caller() -> None:
            for number in numbers:
                data, check = arguments(number)
                tally.note(await call_app(session, url, api_name, data, check))
                if checkpoint is not None and every and tally.calls % every == 0:
                    checkpoint(tally.calls)

        started = time.perf_counter()
        await asyncio.gather(*(caller() for _ in range(callers)))
        tally.seconds = time.perf_counter() - started
    return tally


def chat_arguments(number: int) -> tuple[list[Any], str]:
    text = f"caller {number}"
    return [text, [], MODEL, ""], f"You said: {text}"


# --- 1. memory under hostile requests ----------------------------------------------------------


@dataclass(frozen=True)
class HugeBody:
    """A `/gradio_api/call/chat` body with a `data:image/png;base64,AAAA...` URL in its
    history; the body of each session (`for_session`) shares the one large block of A's."""

    block: bytes

    @classmethod
    def of(cls, size: int) -> HugeBody:
        return cls(b"A" * size)

    def for_session(self, session_hash: str) -> list[bytes]:
        turn = {
            "role": "user",
            "content": [{"type": "image_url", "image_url": {"url": "data:image/png;base64,@"}}],
        }
        body = json.dumps({"data": ["hi", [turn], MODEL, ""], "session_hash": session_hash})
        head, tail = body.encode().split(b"@")
        return [head, self.block, tail]


@dataclass
class Sent:
    """One hostile request: the status it got, and how much of its body left this process."""

    status: int
    sent_bytes: int


def send_declared(app: AppProcess, parts: list[bytes]) -> Sent:
    """POST with Content-Length and `Expect: 100-continue`, as curl sends a large body: wait up
    to a second for the server; send the body on "100 Continue" or silence, not on an answer."""
    length = sum(map(len, parts))
    host, port = app.host_port
    with socket.create_connection((host, port), timeout=HTTP_TIMEOUT) as sock:
        sock.sendall(
            (
                f"POST /gradio_api/call/chat HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "User-Agent: curl/8.5.0\r\nAccept: */*\r\nContent-Type: application/json\r\n"
                f"Content-Length: {length}\r\nExpect: 100-continue\r\n\r\n"
            ).encode()
        )
        reader = ResponseReader(sock)
        if select.select([sock], [], [], EXPECT_WAIT)[0]:
            status = reader.status()
            if status != 100:
                return Sent(status, 0)
        sent = _send_parts(sock, parts, chunked=False)
        return Sent(reader.status(), sent)


def send_chunked(app: AppProcess, parts: list[bytes]) -> Sent:
    """POST the body in 1 MiB chunks with no Content-Length, stopping when the server answers."""
    host, port = app.host_port
    with socket.create_connection((host, port), timeout=HTTP_TIMEOUT) as sock:
        sock.sendall(
            (
                f"POST /gradio_api/call/chat HTTP/1.1\r\nHost: {host}:{port}\r\n"
                "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        sent = _send_parts(sock, parts, chunked=True)
        return Sent(ResponseReader(sock).status(), sent)


def _send_parts(sock: socket.socket, parts: list[bytes], *, chunked: bool) -> int:
    """Send the body in 1 MiB pieces until done or the server answers; the bytes sent."""
    sent = 0
    for part in parts:
        view = memoryview(part)
        for start in range(0, len(view), CHUNK):
            if select.select([sock], [], [], 0)[0]:
                return sent  # the server has answered (or closed): the rest is not wanted
            piece = view[start : start + CHUNK]
            try:
                if chunked:
                    sock.sendall(f"{len(piece):x}\r\n".encode())
                sock.sendall(piece)
                if chunked:
                    sock.sendall(b"\r\n")
            except (BrokenPipeError, ConnectionResetError):
                return sent
            sent += len(piece)
    if chunked:
        with suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(b"0\r\n\r\n")
    return sent


class ResponseReader:
    """Reads HTTP response heads off a raw socket, one `status()` at a time."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def status(self) -> int:
        """The next response's status; its body (by Content-Length) is read and dropped."""
        while b"\r\n\r\n" not in self.buffer:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, TimeoutError):
                data = b""
            if not data:
                return 0  # closed without an answer
            self.buffer += data
        head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        length = next(
            (
                int(line.split(":", 1)[1])
                for line in lines
                if line.lower().startswith("content-length:")
            ),
            0,
        )
        while len(self.buffer) < length:
            data = self.sock.recv(65536)
            if not data:
                break
            self.buffer += data
        self.buffer = self.buffer[length:]
        return status


@dataclass
class Phase:
    """One phase of the memory run: what was sent and the app's memory after it."""

    label: str
    requests: int = 0
    answered: int = 0
    refused: int = 0
    other: str = "-"
    sent_mib: float | None = None
    rss: int = 0
    peak: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class Checkpoint:
    """Where the ordinary calls stood after `done` of them; times count from the first call."""

    done: int
    rss: int
    seconds: float
    app_cpu: float
    callers_cpu: float


@dataclass
class MemoryRun:
    idle: Phase
    phases: list[Phase]
    checkpoints: list[Checkpoint]


def measure_memory(app: AppProcess, plan: Plan) -> MemoryRun:
    asyncio.run(run_calls(app.url, "chat", 1, 1, chat_arguments))  # the warm-up call
    time.sleep(1)
    idle = Phase("idle: after start and one warm-up call", requests=1, answered=1)
    idle.rss = idle.peak = resident_bytes(app.process)
    phases = []
    huge = HugeBody.of(plan.body_mib * MiB)
    for label, count, send in (
        (
            f"{plan.body_mib} MiB bodies, Content-Length + `Expect: 100-continue`",
            plan.declared_bodies,
            send_declared,
        ),
        (
            f"{plan.body_mib} MiB bodies, chunked, no Content-Length",
            plan.chunked_bodies,
            send_chunked,
        ),
    ):
        phase = Phase(label, requests=count)
        statuses: Counter[int] = Counter()
        sent = 0
        started = time.perf_counter()
        with PeakRss(app.process) as peak:
            for _ in range(count):
                result = send(app, huge.for_session(uuid.uuid4().hex))
                statuses[result.status] += 1
                sent += result.sent_bytes
        phase.seconds = time.perf_counter() - started
        phase.refused = statuses.pop(413, 0)
        phase.answered = statuses.pop(200, 0)
        phase.other = ", ".join(f"{n} got {s or 'no answer'}" for s, n in statuses.items()) or "-"
        phase.sent_mib = sent / MiB
        time.sleep(0.5)
        phase.rss, phase.peak = resident_bytes(app.process), peak.peak
        phases.append(phase)

    checkpoints: list[Checkpoint] = []
    started = time.perf_counter()
    app_cpu, callers_cpu = cpu_seconds(app.process), time.process_time()

    def checkpoint(done: int) -> None:
        checkpoints.append(
            Checkpoint(
                done,
                resident_bytes(app.process),
                time.perf_counter() - started,
                cpu_seconds(app.process) - app_cpu,
                time.process_time() - callers_cpu,
            )
        )

    phase = Phase(
        f"ordinary `/chat` calls, a new session each, {plan.callers} callers at once",
        requests=plan.sessions,
    )
    with PeakRss(app.process) as peak:
        tally = asyncio.run(
            run_calls(
                app.url,
                "chat",
                plan.sessions,
                plan.callers,
                chat_arguments,
                plan.checkpoint,
                checkpoint,
            )
        )
    time.sleep(1)
    phase.answered, phase.other, phase.seconds = tally.answered, tally.others(), tally.seconds
    phase.rss, phase.peak = resident_bytes(app.process), peak.peak
    phases.append(phase)
    return MemoryRun(idle, phases, checkpoints)


def print_memory(run: MemoryRun) -> None:
    print("## Memory under hostile requests\n")
    print(
        "The app runs with `WEBSIM_STUDIO_REQUESTS_PER_MINUTE=0`: no per-client limit, so nothing "
        "below was refused for its rate; every request met the body cap and Gradio as it came.\n"
    )
    print(
        "| phase | requests | answered | refused 413 | other | body MiB sent | s | "
        "RSS MiB | peak MiB | growth MiB | RSS / idle |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    idle = run.idle.rss
    for phase in (run.idle, *run.phases):
        sent = "-" if phase.sent_mib is None else f"{phase.sent_mib:.1f}"
        growth = "baseline" if phase is run.idle else f"{(phase.rss - idle) / MiB:+.1f}"
        print(
            f"| {phase.label} | {phase.requests:,} | {phase.answered:,} | {phase.refused} | "
            f"{phase.other} | {sent} | {phase.seconds:.1f} | {phase.rss / MiB:.0f} | "
            f"{phase.peak / MiB:.0f} | {growth} | {phase.rss / idle:.2f} |"
        )
    print(
        "\nRSS along the ordinary calls, one new session per call "
        f"(idle RSS {idle / MiB:.0f} MiB):\n"
    )
    print(
        "| calls | RSS MiB | growth MiB | KiB per call | in the stretch since the last row: "
        "calls/s | app CPU ms per call | callers' CPU ms per call |"
    )
    print("|---|---|---|---|---|---|---|")
    previous = Checkpoint(0, idle, 0.0, 0.0, 0.0)
    for point in run.checkpoints:
        calls = point.done - previous.done
        print(
            f"| {point.done:,} | {point.rss / MiB:.0f} | {(point.rss - idle) / MiB:+.1f} | "
            f"{(point.rss - idle) / 1024 / point.done:.1f} | "
            f"{calls / max(point.seconds - previous.seconds, 1e-9):.0f} | "
            f"{(point.app_cpu - previous.app_cpu) * 1000 / calls:.1f} | "
            f"{(point.callers_cpu - previous.callers_cpu) * 1000 / calls:.1f} |"
        )
        previous = point


def memory_targets(run: MemoryRun) -> list[tuple[str, str, str, bool]]:
    idle = run.idle.rss
    hostile = max(phase.rss for phase in run.phases[:-1]) - idle
    refused_all = all(phase.refused == phase.requests for phase in run.phases[:-1])
    sessions = run.phases[-1]
    return [
        (
            "RSS after the 50 MiB bodies within 50 MiB of idle",
            f"{hostile / MiB:+.1f} MiB",
            f"<= {HOSTILE_TARGET / MiB:.0f} MiB",
            hostile <= HOSTILE_TARGET,
        ),
        (
            "every 50 MiB body refused with 413",
            f"{sum(p.refused for p in run.phases[:-1])} of "
            f"{sum(p.requests for p in run.phases[:-1])}",
            "all",
            refused_all,
        ),
        (
            f"RSS after {sessions.requests:,} sessions within 100 MiB of idle",
            f"{(sessions.rss - idle) / MiB:+.1f} MiB",
            f"<= {SESSIONS_TARGET / MiB:.0f} MiB",
            sessions.rss - idle <= SESSIONS_TARGET,
        ),
    ]


# --- 2. disk --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Usage:
    """The files folder at one moment: its files and their bytes."""

    folders: int
    files: int
    total: int

    @classmethod
    def of(cls, temp_dir: Path) -> Usage:
        folders = sorted(temp_dir.glob("websim-studio-*"))
        files = total = 0
        for folder in folders:
            for path in folder.rglob("*"):
                with suppress(OSError):  # deleted meanwhile
                    if path.is_file():
                        size = path.stat().st_size
                        files += 1
                        total += size
        return cls(len(folders), files, total)


@dataclass
class DiskRun:
    images: Tally
    after_calls: Usage
    after_sweep: Usage | None = None
    sweep_at: float = 0.0
    """Seconds after the app started serving when `after_sweep` was read."""
    exit_code: int | None = None
    exit_seconds: float = 0.0
    left_behind: list[str] = field(default_factory=list)


def make_images(app: AppProcess, temp_dir: Path, plan: Plan) -> DiskRun:
    run_id = uuid.uuid4().hex[:8]

    def arguments(number: int) -> tuple[list[Any], str]:
        return [f"benchmark image {number} of run {run_id}", "1:1", "flux"], "path"

    tally = asyncio.run(run_calls(app.url, "generate_image", plan.images, 16, arguments))
    return DiskRun(tally, Usage.of(temp_dir))


def finish_disk(app: AppProcess, temp_dir: Path, run: DiskRun, plan: Plan) -> None:
    """After the sweep (when this run waits for it), then SIGTERM and what is left in
    `temp_dir`, the app's TMPDIR."""
    if plan.wait_for_sweep:
        # The app's first sweep runs SWEEP_INTERVAL after its lifespan starts, just before it
        # first answers: a second's margin past that.
        wait = app.ready_at + SWEEP_INTERVAL + 1.0 - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        run.sweep_at = time.monotonic() - app.ready_at
        run.after_sweep = Usage.of(temp_dir)
    started = time.perf_counter()
    app.process.send_signal(signal.SIGTERM)
    try:
        run.exit_code = app.process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        run.exit_code = None
    run.exit_seconds = time.perf_counter() - started
    run.left_behind = sorted(path.name for path in temp_dir.iterdir())


def print_disk(run: DiskRun, plan: Plan) -> None:
    cap = FILES_MB * 2**20
    print("\n## Disk: the files folder\n")
    print(
        f"The app runs with `WEBSIM_STUDIO_FILES_MB={FILES_MB}` (a cap of {cap / MiB:.0f} MiB, the "
        "least it accepts), `WEBSIM_STUDIO_REQUESTS_PER_MINUTE=0` and a TMPDIR of its own; each "
        f"`/generate_image` call has a prompt of its own, so each image differs. The app sweeps "
        f"every {SWEEP_INTERVAL:g} s, a setting no environment variable changes "
        "(studio/services/files.py), "
        "so the folder is measured right after the calls and, "
        + (
            "since this run outlasts the first sweep, once more after it."
            if plan.wait_for_sweep
            else "in a --quick run, not after a sweep: it is over before the first one."
        )
        + "\n"
    )
    images = run.images
    print(
        f"{images.calls} calls, 16 at once: {images.answered} answered, others: {images.others()}, "
        f"{images.calls / images.seconds:.0f} calls/s.\n"
    )
    print("| moment | folders | files | MiB | MiB / cap |")
    print("|---|---|---|---|---|")
    moments = [(f"right after {images.calls} calls", run.after_calls)]
    if run.after_sweep is not None:
        sweeps = int(run.sweep_at // SWEEP_INTERVAL)
        label = f"{run.sweep_at:.0f} s after start, {sweeps} sweep{'s' if sweeps > 1 else ''} later"
        moments.append((label, run.after_sweep))
    for label, usage in moments:
        print(
            f"| {label} | {usage.folders} | {usage.files} | {usage.total / MiB:.2f} | "
            f"{usage.total / cap:.2f} |"
        )
    gone = not any(name.startswith("websim-studio-") for name in run.left_behind)
    if run.exit_code is None:
        exited = f"still running after {STOP_TIMEOUT:g} s"
    elif run.exit_code == -signal.SIGTERM:
        # uvicorn shuts down cleanly, then raises the signal again so its parent sees it.
        exited = "ended by the SIGTERM uvicorn re-raises after its clean shutdown"
    else:
        exited = f"exit code {run.exit_code}"
    left = ", ".join(run.left_behind) or "nothing"
    print(
        f"| after SIGTERM ({exited}, {run.exit_seconds:.1f} s) | "
        f"{'gone' if gone else 'still there'} | TMPDIR holds: {left} | | |"
    )


def disk_targets(run: DiskRun, plan: Plan) -> list[tuple[str, str, str, bool]]:
    cap = FILES_MB * 2**20
    goals = [
        (
            "files folder gone after SIGTERM",
            "gone" if not run.left_behind else ", ".join(run.left_behind),
            "TMPDIR empty",
            not run.left_behind and run.exit_code is not None,
        )
    ]
    if run.after_sweep is not None:
        goals.insert(
            0,
            (
                f"files folder within the {FILES_MB} MB cap after a sweep",
                f"{run.after_sweep.total / MiB:.2f} MiB",
                f"<= {cap / MiB:.0f} MiB",
                run.after_sweep.total <= cap,
            ),
        )
    return goals


# --- 3. the upstream guard under a 429 storm ---------------------------------------------------


@dataclass
class StormRun:
    """One storm: users calling chat through one shared client, with or without a guard."""

    guarded: bool
    in_step: bool
    users: int
    storm_requests: int = 0
    total_requests: int = 0
    answered: list[float] = field(default_factory=list)
    failed: list[float] = field(default_factory=list)
    failures: Counter[str] = field(default_factory=Counter)

    @property
    def label(self) -> str:
        return "one shared `UpstreamGuard`" if self.guarded else "no guard (baseline)"

    @property
    def pacing(self) -> str:
        return "in step" if self.in_step else "independently"

    @property
    def calls(self) -> int:
        return len(self.answered) + len(self.failed)


async def storm(guarded: bool, in_step: bool, plan: Plan) -> StormRun:
    """Users call chat in a loop through one client while every chat request gets a 429.

    Independent users start at random within their first second and think 0.5 to 1.5 s between
    calls (the same draws with and without the guard); users in step all call at once, every
    `THINK_SECONDS`, as people told "try again after 12:00:05" come back together.
    """
    run = StormRun(guarded, in_step, plan.storm_users)
    draws = random.Random(7)
    # Enough 429s that the storm never runs dry: more than anyone could ask for in its time.
    queued = plan.storm_users * int(plan.storm_seconds * 100) + 1000
    guard = UpstreamGuard() if guarded else None
    # Every request recorded, so `requests` counts them all: chat bodies are a few hundred bytes.
    async with Emulator(max_recorded=10**6) as emulator:
        client = WebsimClient(base_url=emulator.base_url, settings=Settings(), guard=guard)
        async with client:
            loop = asyncio.get_running_loop()
            calls_end = loop.time() + plan.storm_seconds + plan.after_storm
            emulator.script("chat", *[STORM_FAULT] * queued)

            async def end_storm() -> None:
                await asyncio.sleep(plan.storm_seconds)
                run.storm_requests = queued - emulator.clear_faults()

            async def user(number: int, pauses: Iterator[float]) -> None:
                await asyncio.sleep(next(pauses))
                call = 0
                while loop.time() < calls_end:
                    call += 1
                    began = loop.time()
                    try:
                        await client.chat([{"role": "user", "content": f"user {number} #{call}"}])
                    except UpstreamPausedError:
                        run.failed.append(loop.time() - began)
                        run.failures["held back by the guard"] += 1
                    except WebsimError as error:
                        run.failed.append(loop.time() - began)
                        run.failures[type(error).__name__] += 1
                    else:
                        run.answered.append(loop.time() - began)
                    await asyncio.sleep(next(pauses))

            def pauses() -> Iterator[float]:
                if in_step:
                    yield 0.0
                    while True:
                        yield THINK_SECONDS
                else:
                    # Drawn ahead of time, so a user's pauses do not depend on what others did.
                    first, *rest = (draws.random() for _ in range(1000))
                    yield first * THINK_SECONDS
                    for draw in rest:
                        yield (0.5 + draw) * THINK_SECONDS

            users = [user(number, pauses()) for number in range(plan.storm_users)]
            await asyncio.gather(end_storm(), *users)
            run.total_requests = len(emulator.requests)
    return run


async def storms(plan: Plan) -> list[StormRun]:
    """The four storms at once, each with its own emulator and client: a storm is mostly waits."""
    return list(
        await asyncio.gather(
            *(
                storm(guarded, in_step, plan)
                for in_step in (False, True)
                for guarded in (False, True)
            )
        )
    )


def print_storm(runs: Sequence[StormRun], plan: Plan) -> None:
    print("\n## Websim's 429s: the upstream guard under a storm\n")
    print(
        "In this process: the emulator answers every chat request with 429 and "
        f"`Retry-After: {STORM_WAIT:g}` "
        f"for {plan.storm_seconds:g} s, then normally. {plan.storm_users} users share one "
        f"`WebsimClient` (3 retries, waiting as Websim asks) and call in a loop for "
        f"{plan.storm_seconds + plan.after_storm:g} s; a call still running then is let finish. "
        "Users calling independently start within their first second and call again 0.5 to "
        f"1.5 s after each answer or failure; users in step all call at once every "
        f"{THINK_SECONDS:g} s. The guard holds a call through the wait, unsent, and refuses it "
        "when the call trying first is told to wait again. The baseline is the same client "
        "without a guard; all four runs go at once, each with an emulator of its own.\n"
    )
    print(
        "| client | users call | users | requests to Websim in the storm (429s) | "
        "requests to Websim in all | calls | answered | failed | median s to fail | "
        "median s to answer | failures |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for run in runs:
        failures = ", ".join(f"{n} {what}" for what, n in run.failures.most_common()) or "-"
        print(
            f"| {run.label} | {run.pacing} | {run.users} | {run.storm_requests:,} | "
            f"{run.total_requests:,} | {run.calls:,} | {len(run.answered):,} | "
            f"{len(run.failed):,} | {_median(run.failed)} | {_median(run.answered)} | "
            f"{failures} |"
        )


def storm_targets(runs: Sequence[StormRun]) -> list[tuple[str, str, str, bool]]:
    goals = []
    for in_step in (False, True):
        baseline, guarded = (
            next(r for r in runs if r.in_step == in_step and r.guarded == g) for g in (False, True)
        )
        ratio = guarded.storm_requests / max(baseline.storm_requests, 1)
        goals.append(
            (
                f"requests to Websim in the storm, guard / no guard, users {baseline.pacing}",
                f"{guarded.storm_requests} / {baseline.storm_requests} = {ratio:.2f} "
                f"({1 - ratio:.0%} saved)",
                "fewer",
                guarded.storm_requests < baseline.storm_requests,
            )
        )
    held = [seconds for run in runs if run.guarded for seconds in run.failed]
    held_for = statistics.median(held) if held else float("nan")
    unguarded = [seconds for run in runs if not run.guarded for seconds in run.failed]
    goals.append(
        (
            "with the guard, a failing call fails within Websim's wait and one answer (median)",
            f"{held_for:.3f} s (no guard: {_median(unguarded)} s)",
            f"< {HELD_FAIL_TARGET:g} s",
            held_for < HELD_FAIL_TARGET,
        )
    )
    return goals


def _median(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.3f}" if values else "-"


# --- the run ---------------------------------------------------------------------------------


def print_targets(goals: Sequence[tuple[str, str, str, bool]]) -> None:
    print("\n## Targets\n")
    print("| target | measured | goal | |")
    print("|---|---|---|---|")
    for name, measured, goal, met in goals:
        print(f"| {name} | {measured} | {goal} | {'met' if met else 'missed'} |")


def print_header(quick: bool) -> None:
    print("# Websim Studio public limits benchmark\n")
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{'--quick' if quick else 'full'} run. The emulator and each app run in processes of "
        "their own on loopback, the callers in this one; RSS is the app process and its "
        "children, read with psutil.\n",
        flush=True,
    )


def run_all(plan: Plan) -> list[tuple[str, str, str, bool]]:
    goals: list[tuple[str, str, str, bool]] = []
    with ExitStack() as stack:
        emulator_url = stack.enter_context(emulator_process(stop_timeout=STOP_TIMEOUT)).url
        scratch = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="public-limits-")))
        disk_dir, memory_dir = scratch / "disk", scratch / "memory"
        disk_dir.mkdir()
        memory_dir.mkdir()
        unlimited = {"WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "0"}
        # Both apps start side by side; the disk app lives on while the rest runs, to its sweep.
        disk_app = stack.enter_context(
            studio_app(emulator_url, disk_dir, WEBSIM_STUDIO_FILES_MB=str(FILES_MB), **unlimited)
        )
        with studio_app(emulator_url, memory_dir, **unlimited) as memory_app:
            disk_app.wait_until_serving()
            memory_app.wait_until_serving()
            disk = make_images(disk_app, disk_dir, plan)
            memory = measure_memory(memory_app, plan)
        print_memory(memory)
        goals += memory_targets(memory)

        runs = asyncio.run(storms(plan))
        print_storm(runs, plan)
        goals += storm_targets(runs)

        finish_disk(disk_app, disk_dir, disk, plan)
        print_disk(disk, plan)
        goals = disk_targets(disk, plan) + goals
    return goals


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a short smoke run ({QUICK.sessions} sessions, {QUICK.images} images, a "
        f"{QUICK.storm_seconds:g} s storm; no wait for the sweep)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    print_header(args.quick)
    started = time.perf_counter()
    try:
        goals = run_all(plan)
    except StartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_targets(goals)
    met = sum(goal[3] for goal in goals)
    print(f"\n{met} of {len(goals)} targets met; took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
