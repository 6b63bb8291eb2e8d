"""Benchmark replicas behind the balancer: the /v1 chat burst through HAProxy, one replica and two.

Run from a checkout: `python bench/balancer.py [--callers N] [--latency L] [--rounds R] [--quick]`.
Needs Debian's `haproxy` (and `redis-server`, which the replicas share as deployed; without it they
count limits in memory). The emulator (answering after L seconds), two app replicas (`python
app.py`), Redis and two HAProxy processes with deploy/haproxy.cfg run on loopback: one balancer
whose both server slots name replica 1, so that it serves as one replica does, and one in front
of both. Each round sends the burst of bench/openai_load.py (N callers, each its own connection,
all released at once, posting /v1/chat/completions) three ways, in an order that turns each
round: straight to replica 1, through the balancer to one replica, through it to two. The
figures are the medians over the rounds, and the ratios of those medians.

On one machine the replicas, the balancer, the emulator and the callers share its cores: what a
second replica buys here is the share of the work that was the app's, not a second machine. This
script reports; it is not a test: only a process that will not start makes it fail.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import io
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass

from app_load import Run, positive, seconds
from openai_load import all_at_once
from processes import (
    REPO_ROOT,
    AppProcess,
    StartError,
    app_process,
    cpu_seconds,
    emulator_process,
    free_port,
    stop,
)

CONFIG = REPO_ROOT / "deploy" / "haproxy.cfg"
DEFAULT_CALLERS = 256
DEFAULT_LATENCY = 0.5
DEFAULT_ROUNDS = 5
QUICK_CALLERS = 16
QUICK_LATENCY = 0.1
QUICK_ROUNDS = 2
START_TIMEOUT = 60.0
WAYS = ("direct, one replica", "balancer, one replica", "balancer, two replicas")


@dataclass(frozen=True)
class Balancer:
    url: str
    stats_url: str
    process: subprocess.Popen[bytes]

    def all_up(self) -> bool:
        try:
            with urllib.request.urlopen(self.stats_url + ";csv", timeout=2) as response:
                text = response.read().decode().lstrip("# ")
        except OSError:
            return False
        rows = [row for row in csv.DictReader(io.StringIO(text)) if row["svname"].startswith("r")]
        return bool(rows) and all(row["status"] == "UP" for row in rows)


@contextmanager
def balancer_process(haproxy: str, replicas: Sequence[AppProcess]) -> Iterator[Balancer]:
    """HAProxy with deploy/haproxy.cfg on free ports, its two server slots naming `replicas`
    (the one replica twice, if one); stopped on the way out."""
    listen, stats = free_port(), free_port()
    slots = [replicas[0], replicas[-1]]
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "WEBSIM_BALANCER_LISTEN": f"127.0.0.1:{listen}",
        "WEBSIM_BALANCER_STATS": f"127.0.0.1:{stats}",
        **{
            f"WEBSIM_REPLICA_{n}": ":".join(map(str, app.host_port))
            for n, app in enumerate(slots, 1)
        },
    }
    process = subprocess.Popen(
        [haproxy, "-db", "-f", str(CONFIG)],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=None,
    )
    balancer = Balancer(f"http://127.0.0.1:{listen}/", f"http://127.0.0.1:{stats}/", process)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not balancer.all_up():
            if process.poll() is not None:
                raise StartError(f"haproxy exited with code {process.returncode}")
            if time.monotonic() > deadline:
                raise StartError(f"haproxy did not see its replicas up within {START_TIMEOUT:g} s")
            time.sleep(0.1)
        yield balancer
    finally:
        stop(process)


@contextmanager
def redis_process() -> Iterator[str]:
    """Debian's redis-server on a free port, keeping nothing on disk: its URL; `memory://` if
    there is none."""
    server = shutil.which("redis-server")
    if server is None:
        yield "memory://"
        return
    port = free_port()
    process = subprocess.Popen(
        [server, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    try:
        yield f"redis://127.0.0.1:{port}"
    finally:
        stop(process)


def burst(url: str, callers: int, replicas: Sequence[AppProcess]) -> Run:
    """The burst at `url`, with the CPU the replicas spent on it."""
    before = sum(cpu_seconds(app.process) for app in replicas)
    calls = asyncio.run(all_at_once(url + "v1/chat/completions", callers))
    calls.cpu_app = sum(cpu_seconds(app.process) for app in replicas) - before
    return calls


def measure(args: argparse.Namespace, haproxy: str) -> None:
    with ExitStack() as stack:
        storage = stack.enter_context(redis_process())
        settings = {
            "WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "100000000",
            # Every caller connects from one address, through one balancer.
            "WEBSIM_STUDIO_CONNECTIONS_PER_CLIENT": "100000",
            "WEBSIM_STUDIO_TRUSTED_PROXIES": "127.0.0.1/32",
            "WEBSIM_STUDIO_LIMITS_STORAGE": storage,
            "WEBSIM_STUDIO_CONCURRENCY": str(max(args.callers, 512)),
            "WEBSIM_STUDIO_QUEUE_SIZE": str(max(args.callers, 512) * 4),
        }
        emulator = stack.enter_context(emulator_process(args.latency))
        replicas = [
            stack.enter_context(app_process(emulator.url, settings, secret="balancer-benchmark"))
            for _ in range(2)
        ]
        for app in replicas:
            app.wait_until_serving()
        one = stack.enter_context(balancer_process(haproxy, replicas[:1]))
        two = stack.enter_context(balancer_process(haproxy, replicas))
        ways = {
            WAYS[0]: (replicas[0].url, replicas[:1]),
            WAYS[1]: (one.url, replicas[:1]),
            WAYS[2]: (two.url, replicas),
        }
        for url, serving in ways.values():  # warm: connections, the replicas' clients
            burst(url, min(args.callers, 16), serving)
        runs: dict[str, list[Run]] = {way: [] for way in WAYS}
        for number in range(args.rounds):
            order = WAYS[number % 3 :] + WAYS[: number % 3]
            for way in order:
                url, serving = ways[way]
                runs[way].append(burst(url, args.callers, serving))
            print(f"round {number + 1} of {args.rounds} done", file=sys.stderr)
    report(args, runs, storage)


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def report(args: argparse.Namespace, runs: dict[str, list[Run]], storage: str) -> None:
    print(
        f"{args.callers} callers at once posting /v1/chat/completions, emulator L = "
        f"{args.latency:g} s, {args.rounds} rounds; limits in "
        f"{'Redis' if storage.startswith('redis') else 'memory'}; medians:\n"
    )
    print(
        f"  {'way':<24}{'wall s':>8}{'calls/s':>9}{'p50 s':>8}{'p99 s':>8}"
        f"{'app CPU ms/call':>17}{'failed':>8}"
    )
    rates: dict[str, float] = {}
    for way in WAYS:
        each = runs[way]
        wall = median([run.wall for run in each])
        rates[way] = median([args.callers / run.wall for run in each if run.wall])
        cpu = median([run.cpu_app / args.callers * 1000 for run in each])
        failed = sum(len(run.failures) for run in each)
        print(
            f"  {way:<24}{wall:>8.2f}{rates[way]:>9.0f}"
            f"{median([run.percentile(50) for run in each]):>8.2f}"
            f"{median([run.percentile(99) for run in each]):>8.2f}{cpu:>17.2f}{failed:>8}"
        )
        for failure in [f for run in each for f in run.failures][:3]:
            print(f"    failed: {failure}")
    print(
        f"\n  calls/s, two replicas / one, through the balancer: "
        f"{rates[WAYS[2]] / rates[WAYS[1]]:.2f}x"
    )
    print(f"  calls/s, balancer / direct, one replica: {rates[WAYS[1]] / rates[WAYS[0]]:.2f}x")
    print(
        "  walls by round (s): "
        + "; ".join(f"{way}: " + " ".join(f"{run.wall:.2f}" for run in runs[way]) for way in WAYS)
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=positive, help=f"default {DEFAULT_CALLERS}")
    parser.add_argument("--latency", type=seconds, help=f"default {DEFAULT_LATENCY:g} s")
    parser.add_argument("--rounds", type=positive, help=f"default {DEFAULT_ROUNDS}")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args(argv)
    # Explicit values win over --quick.
    args.callers = args.callers or (QUICK_CALLERS if args.quick else DEFAULT_CALLERS)
    args.latency = args.latency or (QUICK_LATENCY if args.quick else DEFAULT_LATENCY)
    args.rounds = args.rounds or (QUICK_ROUNDS if args.quick else DEFAULT_ROUNDS)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    haproxy = shutil.which("haproxy")
    if haproxy is None:
        print("error: haproxy is not installed: apt-get install haproxy", file=sys.stderr)
        return 1
    print("Websim Studio balancer benchmark: /v1 through HAProxy to one replica and to two")
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs; the replicas, HAProxy, the "
        "emulator and the callers on one machine\n"
    )
    started = time.perf_counter()
    try:
        measure(args, haproxy)
    except StartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"\ntook {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
