"""Benchmark the app under load: N users call `/chat` at once through gradio_client.

Run from a checkout: `python bench/app_load.py [--users N [N ...]] [--latency L] [--quick]`. The
emulator (answering every request after L seconds) and the app (`python app.py`, configured only
through its environment, as deployed) each run in their own process, and each scenario gets a fresh
app. Every user is its own `gradio_client.Client`, so its own session; the clients are created
first (timed separately), then all N calls start together. L is the ideal: a server that adds
nothing and serves everyone at once finishes in L. Each scenario is run again by a "protocol floor"
caller that makes the same HTTP requests from one event loop at almost no cost, so the report tells
the app's overhead from gradio_client's. The same run measures a baseline, the app at Gradio's
default concurrency of one request at a time, on a few users. This script reports; it is not a
test: a missed target still exits 0. Only a process that will not start makes it fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import sys
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

# gradio_client reports usage to its makers unless told not to, from a thread per Client.
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

import aiohttp
import gradio_client
from gradio_client import Client
from processes import (
    AppProcess,
    PeakRss,
    Server,
    StartError,
    app_process,
    cpu_seconds,
    emulator_process,
    resident_bytes,
)

DEFAULT_USERS = (64, 256)
DEFAULT_LATENCY = 1.0
QUICK_USERS = (8,)
QUICK_LATENCY = 0.2
# At one request at a time the baseline takes users * L, so a few users say all there is to say.
BASELINE_USERS = 8
QUICK_BASELINE_USERS = 4
# Seconds the app may add to L, by number of users: at L = 1 s, walls of 1.5 s and 2.5 s.
TARGET_OVERHEAD = {64: 0.5, 256: 1.5}
# Gradio's own default: `concurrency_limit` 1 for every listener.
BASELINE_CONCURRENCY = 1
# Clients are created this many at a time: each fetches the app's config and API info.
SETUP_WORKERS = 16
MODEL = "gemini-1.5-pro"
# The rows of the report: which app, and who calls it.
CONFIGURED = "as configured"
BASELINE = f"concurrency {BASELINE_CONCURRENCY}"
GRADIO_CLIENT = "gradio_client"
PROTOCOL_FLOOR = "protocol floor"


@dataclass
class Run:
    """What one scenario measured: N users' `/chat` calls against one app process."""

    app: str
    callers: str
    users: int
    latency: float
    setup_seconds: float = 0.0
    wall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    rss_idle: int = 0
    rss_peak: int = 0
    cpu_callers: float = 0.0
    cpu_app: float = 0.0
    cpu_emulator: float = 0.0

    def percentile(self, percent: int) -> float:
        if len(self.latencies) < 2:
            return self.latencies[0] if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[percent - 1]


@dataclass(frozen=True)
class Target:
    """One goal: the wall time of `users` users at most `bound` seconds."""

    users: int
    wall: float
    bound: float
    failed: bool

    @property
    def met(self) -> bool:
        return not self.failed and self.wall <= self.bound


# --- the processes -----------------------------------------------------------------------------


@contextmanager
def studio_app(emulator_url: str, concurrency: int | None = None) -> Iterator[AppProcess]:
    """`python app.py` on a free loopback port against `emulator_url`, until it answers."""
    settings = {
        # Every user is its own session and calls once, but say it: the limit is not measured.
        "WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "0",
        # Every user connects from this one address: the per-address connection cap would
        # count them as one client.
        "WEBSIM_STUDIO_CONNECTIONS_PER_CLIENT": "100000",
    }
    if concurrency is not None:
        settings["WEBSIM_STUDIO_CONCURRENCY"] = str(concurrency)
    with app_process(emulator_url, settings, secret="app-load-benchmark") as app:
        app.wait_until_serving()
        yield app


# --- measuring ---------------------------------------------------------------------------------


def open_clients(url: str, count: int) -> list[Client]:
    """`count` users, each with its own Client and so its own session on the app."""

    def open_client(_: int) -> Client:
        # The app is plain HTTP on loopback, so there is nothing to verify; with verification on,
        # httpx loads the CA bundle twice per call (~35 ms of CPU), which would make this a
        # benchmark of the users' own process on a small machine.
        return Client(url, verbose=False, download_files=False, ssl_verify=False)

    with ThreadPoolExecutor(SETUP_WORKERS) as pool:
        return list(pool.map(open_client, range(count)))


def call_together(clients: Sequence[Client], run: Run) -> None:
    """Every client calls `/chat` once, all released at the same instant; fills `run`."""
    latencies: list[float | None] = [None] * len(clients)
    gate = threading.Barrier(len(clients) + 1)

    def user(number: int, client: Client) -> None:
        gate.wait()
        start = time.perf_counter()
        try:
            reply = client.predict(f"user {number}", [], MODEL, "", api_name="/chat")
        except Exception as error:
            run.failures.append(f"user {number}: {type(error).__name__}: {error}")
            return
        latencies[number] = time.perf_counter() - start
        check_reply(run, number, reply)

    threads = [
        threading.Thread(target=user, args=(number, client), name=f"user-{number}")
        for number, client in enumerate(clients)
    ]
    for thread in threads:
        thread.start()
    gate.wait()
    start = time.perf_counter()
    for thread in threads:
        thread.join()
    run.wall = time.perf_counter() - start
    run.latencies = [latency for latency in latencies if latency is not None]


def check_reply(run: Run, number: int, reply: Any) -> None:
    if not str(reply).endswith(f"You said: user {number}"):
        run.failures.append(f"user {number} got someone else's reply: {reply!r}")


@dataclass(frozen=True)
class Endpoint:
    """Where the Gradio protocol reaches `/chat`, read from the app's config as clients do."""

    join_url: str
    data_url: str
    fn_index: int

    @classmethod
    def of(cls, app_url: str) -> Endpoint:
        with urllib.request.urlopen(app_url + "config", timeout=10) as response:
            config = json.load(response)
        prefix = app_url + str(config.get("api_prefix", "")).strip("/") + "/"
        fn_index = next(
            int(dependency["id"])
            for dependency in config["dependencies"]
            if dependency.get("api_name") == "chat"
        )
        return cls(prefix + "queue/join", prefix + "queue/data", fn_index)


async def call_with_protocol(endpoint: Endpoint, run: Run) -> None:
    """The floor: the requests gradio_client makes per call (join the queue, then read the
    session's event stream), from one event loop, a fresh connection and session per user."""
    latencies: list[float | None] = [None] * run.users
    gate = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def user(number: int) -> None:
            session_hash = uuid.uuid4().hex
            body = {
                "data": [f"user {number}", [], MODEL, ""],
                "fn_index": endpoint.fn_index,
                "session_hash": session_hash,
            }
            await gate.wait()
            start = time.perf_counter()
            try:
                async with session.post(endpoint.join_url, json=body) as response:
                    response.raise_for_status()
                async with session.get(
                    endpoint.data_url, params={"session_hash": session_hash}
                ) as response:
                    completed = await _completion(response)
            except (aiohttp.ClientError, ValueError) as error:
                run.failures.append(f"user {number}: {type(error).__name__}: {error}")
                return
            latencies[number] = time.perf_counter() - start
            if not completed.get("success"):
                run.failures.append(f"user {number}: {completed.get('output')}")
            else:
                check_reply(run, number, completed["output"]["data"][0])

        tasks = [asyncio.create_task(user(number)) for number in range(run.users)]
        await asyncio.sleep(0)  # every task waits at the gate
        gate.set()
        start = time.perf_counter()
        await asyncio.gather(*tasks)
        run.wall = time.perf_counter() - start
    run.latencies = [latency for latency in latencies if latency is not None]


async def _completion(response: aiohttp.ClientResponse) -> dict[str, Any]:
    """The `process_completed` message of the session's one event, from its SSE stream."""
    response.raise_for_status()
    async for line in response.content:
        if line.startswith(b"data:"):
            message: dict[str, Any] = json.loads(line[5:])
            if message.get("msg") == "process_completed":
                return message
    raise ValueError("the event stream ended without process_completed")


def warm_up(url: str) -> None:
    """One call in a session of its own: the app opens its Websim client on first use."""
    client = Client(url, verbose=False, download_files=False, ssl_verify=False)
    try:
        client.predict("warm-up", [], MODEL, "", api_name="/chat")
    finally:
        client.close()


def observe(run: Run, emu: Server, app: AppProcess, calls: Callable[[], None]) -> None:
    """Run the timed `calls`, recording the app's memory and every process's CPU meanwhile."""
    run.rss_idle = resident_bytes(app.process)
    cpu_before = (time.process_time(), cpu_seconds(app.process), cpu_seconds(emu.process))
    with PeakRss(app.process) as peak:
        calls()
    cpu_after = (time.process_time(), cpu_seconds(app.process), cpu_seconds(emu.process))
    run.rss_peak = peak.peak
    run.cpu_callers, run.cpu_app, run.cpu_emulator = (
        after - before for after, before in zip(cpu_after, cpu_before, strict=True)
    )


def measure_gradio_client(
    app_label: str, users: int, latency: float, emu: Server, app: AppProcess
) -> Run:
    """N users, each a Client made before the timed calls, then one `/chat` each, all at once."""
    run = Run(app_label, GRADIO_CLIENT, users, latency)
    warm_up(app.url)
    started = time.perf_counter()
    clients = open_clients(app.url, users)
    run.setup_seconds = time.perf_counter() - started
    try:
        observe(run, emu, app, lambda: call_together(clients, run))
    finally:
        for client in clients:
            client.close()
    return run


def measure_protocol_floor(
    app_label: str, users: int, latency: float, emu: Server, app: AppProcess
) -> Run:
    """The same N calls with almost no client cost: what the app alone allows."""
    run = Run(app_label, PROTOCOL_FLOOR, users, latency)
    started = time.perf_counter()
    endpoint = Endpoint.of(app.url)
    run.setup_seconds = time.perf_counter() - started
    observe(run, emu, app, lambda: asyncio.run(call_with_protocol(endpoint, run)))
    return run


def run_all(users: Sequence[int], latency: float, baseline_users: int) -> list[Run]:
    runs: list[Run] = []
    with emulator_process(latency) as emu:
        for count in users:
            # A fresh app per scenario, so no figure carries what an earlier one left behind.
            with studio_app(emu.url) as app:
                for measure in (measure_gradio_client, measure_protocol_floor):
                    runs.append(measure(CONFIGURED, count, latency, emu, app))
                    print_run(runs[-1])
        with studio_app(emu.url, concurrency=BASELINE_CONCURRENCY) as app:
            runs.append(measure_gradio_client(BASELINE, baseline_users, latency, emu, app))
            print_run(runs[-1])
    return runs


# --- reporting ---------------------------------------------------------------------------------


COLUMNS = (
    f"  {'app':<15}{'callers':<15}{'users':>5}{'setup s':>9}{'wall s':>8}{'wall/L':>8}"
    f"{'p50/L':>7}{'p99/L':>7}{'RSS MB idle/peak':>18}{'CPU s callers/app/emulator':>28}"
)


def print_run(run: Run) -> None:
    latency = run.latency
    rss = f"{run.rss_idle / 2**20:.0f}/{run.rss_peak / 2**20:.0f}"
    cpu = f"{run.cpu_callers:.2f}/{run.cpu_app:.2f}/{run.cpu_emulator:.2f}"
    print(
        f"  {run.app:<15}{run.callers:<15}{run.users:>5}{run.setup_seconds:>9.2f}{run.wall:>8.2f}"
        f"{run.wall / latency:>8.2f}{run.percentile(50) / latency:>7.2f}"
        f"{run.percentile(99) / latency:>7.2f}{rss:>18}{cpu:>28}",
        flush=True,
    )
    for failure in run.failures[:3]:
        print(f"    failed: {failure}")
    if len(run.failures) > 3:
        print(f"    ... and {len(run.failures) - 3} more failures")


def measured(runs: Sequence[Run], app: str) -> list[Run]:
    """The runs of users through gradio_client against `app`: what the targets judge."""
    return [run for run in runs if run.app == app and run.callers == GRADIO_CLIENT]


def print_baseline(runs: Sequence[Run]) -> None:
    [baseline] = measured(runs, BASELINE)
    per_user = baseline.wall / baseline.users
    print(
        f"\nbaseline ({BASELINE}, Gradio's default): {baseline.users} users took "
        f"{baseline.wall:.2f} s, {per_user:.2f} s per user ({per_user / baseline.latency:.2f} L)"
    )
    for run in measured(runs, CONFIGURED):
        # One at a time, the wall grows by one call per user: an estimate, not a measurement.
        estimate = per_user * run.users
        print(
            f"  {run.users} users: baseline extrapolated to {estimate:.1f} s (not measured), "
            f"{estimate / run.wall:.0f} times the measured {run.wall:.2f} s"
        )


def targets(runs: Sequence[Run]) -> list[Target]:
    return [
        Target(run.users, run.wall, run.latency + TARGET_OVERHEAD[run.users], bool(run.failures))
        for run in measured(runs, CONFIGURED)
        if run.users in TARGET_OVERHEAD
    ]


def print_targets(goals: Sequence[Target]) -> None:
    if not goals:
        print(f"\nno targets at these user counts (targets are for {sorted(TARGET_OVERHEAD)})")
        return
    print(f"\n  {'target (gradio_client)':<28}{'wall s':>8}{'goal':>10}  met")
    for goal in goals:
        print(
            f"  {f'wall, {goal.users} users':<28}{goal.wall:>8.2f}{'<=':>5}{goal.bound:>5.2f}"
            f"  {'PASS' if goal.met else 'MISS'}"
        )


def print_header(args: argparse.Namespace) -> None:
    print("Websim Studio load benchmark: N users call /chat at once through gradio_client")
    print(
        f"Python {platform.python_version()}, gradio_client {gradio_client.__version__}, "
        f"{os.cpu_count()} CPUs; the app, the emulator and the callers in three processes"
    )
    print(f"emulator latency L = {args.latency:g} s: the ideal wall time and latency")
    print(
        f"{GRADIO_CLIENT}: every user its own Client (own session), made before the timed calls "
        "('setup s')"
    )
    print(
        f"{PROTOCOL_FLOOR}: the same HTTP requests from one event loop, to tell the app's cost "
        "from the callers'"
    )
    print("RSS: the app process and its children, sampled every 50 ms; CPU: in the timed window\n")
    print(COLUMNS)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def seconds(text: str) -> float:
    value = float(text)
    if not value > 0:  # also refuses NaN
        raise argparse.ArgumentTypeError("must be a number of seconds > 0")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--users",
        type=positive,
        nargs="+",
        help=f"users per scenario (default {' '.join(map(str, DEFAULT_USERS))})",
    )
    parser.add_argument(
        "--latency",
        type=seconds,
        help=f"emulator latency L in seconds (default {DEFAULT_LATENCY:g})",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a short smoke run ({QUICK_USERS[0]} users, L = {QUICK_LATENCY:g} s)",
    )
    args = parser.parse_args(argv)
    # Explicit values win over --quick.
    args.users = args.users or list(QUICK_USERS if args.quick else DEFAULT_USERS)
    args.latency = args.latency or (QUICK_LATENCY if args.quick else DEFAULT_LATENCY)
    args.baseline_users = QUICK_BASELINE_USERS if args.quick else BASELINE_USERS
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print_header(args)
    started = time.perf_counter()
    try:
        runs = run_all(args.users, args.latency, args.baseline_users)
    except StartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print_baseline(runs)
    goals = targets(runs)
    print_targets(goals)
    missed = [goal for goal in goals if not goal.met]
    verdict = f"{len(goals) - len(missed)} of {len(goals)} targets met"
    print(f"\n{verdict}; took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
