"""Benchmark chat round trips: WebsimClient against a raw aiohttp floor and a naive client.

Run from a checkout: `python bench/chat_roundtrip.py [--sequential N] [--concurrent-requests M]
[--concurrency C] [--quick]`. The emulator runs in its own process, so its CPU is not spent on the
event loop being measured. Every client sends the same body and headers, over plain HTTP and over
TLS (a throwaway CA from `trustme`), and the clients take turns in rounds so that machine noise
falls on all of them alike. This script reports; it is not a test: a missed target still exits 0.
Only an emulator that will not start makes it fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import ssl
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import trustme

REPO_ROOT = Path(__file__).resolve().parent.parent
# Run as a script from a checkout: make the package beside bench/ importable without installing it.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from websim_core import Settings, WebsimClient, build_headers, generate_project_id  # noqa: E402
from websim_core.catalog import CHAT_PATH  # noqa: E402

ChatCall = Callable[[], Awaitable[str]]

# Both pooled clients get the same pool: aiohttp's own default limit, and WebsimClient's.
POOL_SIZE = 100
WARMUP_CALLS = 20
ROUNDS = 4
EMULATOR_START_TIMEOUT = 20.0
EMULATOR_STOP_TIMEOUT = 10.0
BANNER = "Websim emulator serving on "

MESSAGES = [
    {"role": "system", "content": "You are a concise assistant."},
    {"role": "user", "content": "In one sentence, why does connection reuse matter?"},
]
# What WebsimClient.chat(MESSAGES) sends, byte for byte but for the project ID: chat() makes a
# fresh one of this shape per call, as it does for every caller who passes none.
BODY = json.dumps(
    {"project_id": generate_project_id(), "messages": MESSAGES}, ensure_ascii=False, allow_nan=False
).encode()
HEADERS = build_headers("chat")


class EmulatorStartError(Exception):
    """Raised when the emulator process exits or stays silent instead of announcing its URL."""


@dataclass(frozen=True)
class Transport:
    """Where one emulator listens and the TLS setting that reaches it."""

    name: str
    base_url: str
    tls: ssl.SSLContext | bool

    @property
    def chat_url(self) -> str:
        return self.base_url + CHAT_PATH


@dataclass(frozen=True)
class Target:
    """One goal: `ratio` must be at least `bound`, or at most it when `at_most`."""

    label: str
    ratio: float
    bound: float
    at_most: bool = False

    @property
    def met(self) -> bool:
        return self.ratio <= self.bound if self.at_most else self.ratio >= self.bound


@dataclass
class Measurement:
    """What one client did on one transport, gathered across rounds."""

    latencies: list[float] = field(default_factory=list)
    busy_seconds: float = 0.0
    cpu_seconds: float = 0.0
    calls: int = 0

    def percentile(self, percent: int) -> float:
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[percent - 1]

    @property
    def per_second(self) -> float:
        return self.calls / self.busy_seconds

    @property
    def cpu_per_call(self) -> float:
        return self.cpu_seconds / self.calls


# --- the three clients -------------------------------------------------------------------------


@asynccontextmanager
async def websim_core_client(transport: Transport) -> AsyncIterator[ChatCall]:
    """The client under test, as a caller would use it."""
    # Settings() rather than the environment: a WEBSIM_* variable must not steer the bench.
    async with WebsimClient(
        transport.base_url, settings=Settings(), pool_size=POOL_SIZE, ssl=transport.tls
    ) as client:
        yield lambda: client.chat(MESSAGES)


@asynccontextmanager
async def floor_client(transport: Transport) -> AsyncIterator[ChatCall]:
    """The least work a pooled aiohttp caller can do: post, read, parse, strip."""
    connector = aiohttp.TCPConnector(limit=POOL_SIZE, ssl=transport.tls)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def call() -> str:
            async with session.post(transport.chat_url, data=BODY, headers=HEADERS) as response:
                content: str = json.loads(await response.read())["content"]
                return content.strip()

        yield call


@asynccontextmanager
async def per_request_client(transport: Transport) -> AsyncIterator[ChatCall]:
    """A naive seed implementation: a new session, so a new connection and handshake, per call."""

    async def call() -> str:
        connector = aiohttp.TCPConnector(ssl=transport.tls)
        async with (
            aiohttp.ClientSession(headers=HEADERS, connector=connector) as session,
            session.post(transport.chat_url, data=BODY) as response,
        ):
            content: str = json.loads(await response.read())["content"]
            return content.strip()

    yield call


CLIENTS = {
    "websim_core": websim_core_client,
    "floor (raw aiohttp)": floor_client,
    "per-request session": per_request_client,
}
CORE, FLOOR, NAIVE = CLIENTS


# --- the emulator process ----------------------------------------------------------------------


@contextmanager
def tls_files(ca: trustme.CA) -> Iterator[tuple[Path, Path]]:
    """A server certificate chain and key for 127.0.0.1, signed by `ca`, in a temp dir."""
    leaf = ca.issue_cert("127.0.0.1", "localhost")
    with tempfile.TemporaryDirectory(prefix="websim-bench-") as folder:
        certfile, keyfile = Path(folder, "server.pem"), Path(folder, "server.key")
        certfile.write_bytes(b"".join(blob.bytes() for blob in leaf.cert_chain_pems))
        leaf.private_key_pem.write_to_path(str(keyfile))
        yield certfile, keyfile


@asynccontextmanager
async def emulator(extra_args: Sequence[str] = ()) -> AsyncIterator[str]:
    """Start the emulator on a free port, yield its base URL, and SIGTERM it on the way out."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "websim_core.emulator",
        "--port",
        "0",
        *extra_args,
        cwd=REPO_ROOT,
        stdout=asyncio.subprocess.PIPE,
        # Left on the terminal: if the emulator fails, its own words say why.
        stderr=None,
    )
    try:
        yield await _read_banner(process)
    finally:
        await _stop(process)


async def _read_banner(process: asyncio.subprocess.Process) -> str:
    assert process.stdout is not None
    try:
        line = await asyncio.wait_for(process.stdout.readline(), EMULATOR_START_TIMEOUT)
    except TimeoutError:
        raise EmulatorStartError(
            f"the emulator did not announce itself within {EMULATOR_START_TIMEOUT:g} s"
        ) from None
    if not line:
        code = await process.wait()
        raise EmulatorStartError(f"the emulator exited with code {code} before serving")
    text = line.decode(errors="replace").strip()
    if not text.startswith(BANNER):
        raise EmulatorStartError(f"the emulator printed {text!r} instead of its banner")
    return text.removeprefix(BANNER)


async def _stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is not None:
        return
    process.terminate()
    try:
        await asyncio.wait_for(process.wait(), EMULATOR_STOP_TIMEOUT)
    except TimeoutError:
        process.kill()
        await process.wait()


# --- measuring ---------------------------------------------------------------------------------


async def time_sequential(call: ChatCall, count: int) -> list[float]:
    """Latency of each of `count` calls made one after another, in seconds."""
    latencies: list[float] = []
    for _ in range(count):
        start = time.perf_counter()
        await call()
        latencies.append(time.perf_counter() - start)
    return latencies


async def time_concurrent(call: ChatCall, count: int, workers: int) -> float:
    """Seconds for `workers` tasks to make `count` calls between them."""
    remaining = count

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await call()

    start = time.perf_counter()
    async with asyncio.TaskGroup() as group:
        for _ in range(workers):
            group.create_task(worker())
    return time.perf_counter() - start


def turn_order(names: Sequence[str], round_number: int) -> list[str]:
    """The clients rotated by round, so no client always runs first or last."""
    shift = round_number % len(names)
    return [*names[shift:], *names[:shift]]


def split(total: int, parts: int) -> list[int]:
    """`total` split into `parts` near-equal whole shares."""
    share, extra = divmod(total, parts)
    return [share + (1 if index < extra else 0) for index in range(parts)]


async def warm_up(calls: dict[str, ChatCall], workers: int) -> None:
    """Fill caches and the pools; refuse to go on unless every client hears the same reply."""
    replies = {name: await call() for name, call in calls.items()}
    if len(set(replies.values())) != 1:
        raise RuntimeError(f"the clients got different replies: {replies}")
    for _ in range(WARMUP_CALLS - 1):
        for call in calls.values():
            await call()
    # Opening the pool's other connections belongs to start-up, not to the first timed round.
    for call in calls.values():
        await time_concurrent(call, workers, workers)


async def measure(
    transport: Transport, sequential: int, concurrent: int, workers: int
) -> dict[str, Measurement]:
    """Latency and throughput of every client on `transport`, interleaved in rounds."""
    results = {name: Measurement() for name in CLIENTS}
    async with AsyncExitStack() as stack:
        calls = {
            name: await stack.enter_async_context(open_client(transport))
            for name, open_client in CLIENTS.items()
        }
        await warm_up(calls, workers)
        for round_number, count in enumerate(split(sequential, ROUNDS)):
            for name in turn_order(list(calls), round_number):
                results[name].latencies += await time_sequential(calls[name], count)
        for round_number, count in enumerate(split(concurrent, ROUNDS)):
            for name in turn_order(list(calls), round_number):
                # This process's CPU time is the client's alone: the emulator has its own process,
                # so it shows the client's cost even when the emulator is what limits req/s.
                cpu_start = time.process_time()
                results[name].busy_seconds += await time_concurrent(calls[name], count, workers)
                results[name].cpu_seconds += time.process_time() - cpu_start
                results[name].calls += count
    return results


# --- reporting ---------------------------------------------------------------------------------


def targets(transport: Transport, results: dict[str, Measurement]) -> list[Target]:
    core, floor, naive = results[CORE], results[FLOOR], results[NAIVE]
    # A TLS handshake per call costs far more than a TCP connect, so the bar is higher there.
    naive_bound = 5.0 if transport.name == "https" else 2.0
    return [
        Target(
            "p50 latency, websim_core / floor",
            core.percentile(50) / floor.percentile(50),
            1.2,
            at_most=True,
        ),
        Target("throughput, websim_core / floor", core.per_second / floor.per_second, 0.8),
        Target(
            "throughput, websim_core / per-request",
            core.per_second / naive.per_second,
            naive_bound,
        ),
    ]


def print_report(transport: Transport, results: dict[str, Measurement]) -> list[Target]:
    print(f"\n{transport.name} ({transport.base_url})")
    print(f"  {'client':<22}{'p50 ms':>9}{'p99 ms':>9}{'req/s':>9}{'client CPU us/call':>20}")
    for name, result in results.items():
        print(
            f"  {name:<22}{result.percentile(50) * 1000:>9.2f}"
            f"{result.percentile(99) * 1000:>9.2f}{result.per_second:>9.0f}"
            f"{result.cpu_per_call * 1e6:>20.0f}"
        )
    goals = targets(transport, results)
    print(f"  {'target':<40}{'ratio':>7}{'goal':>9}  met")
    for goal in goals:
        sign = "<=" if goal.at_most else ">="
        print(
            f"  {goal.label:<40}{goal.ratio:>7.2f}{sign:>5}{goal.bound:>4.1f}"
            f"  {'yes' if goal.met else 'NO'}"
        )
    return goals


def print_header(args: argparse.Namespace) -> None:
    print("websim_core chat round-trip benchmark")
    print(
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, "
        f"{os.cpu_count()} CPUs; emulator in its own process"
    )
    print(
        f"per client and transport: {WARMUP_CALLS} warm-up calls, {args.sequential} sequential, "
        f"{args.concurrent_requests} with {args.concurrency} concurrent workers; "
        f"clients take turns over {ROUNDS} rounds"
    )
    print("client CPU: this process's CPU time per call in the throughput run")


async def run(args: argparse.Namespace) -> list[Target]:
    ca = trustme.CA()
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    goals: list[Target] = []
    with tls_files(ca) as (certfile, keyfile):
        setups: list[tuple[str, list[str], ssl.SSLContext | bool]] = [
            ("http", [], True),
            ("https", ["--certfile", str(certfile), "--keyfile", str(keyfile)], client_tls),
        ]
        for name, extra_args, tls in setups:
            async with emulator(extra_args) as base_url:
                transport = Transport(name, base_url, tls)
                results = await measure(
                    transport, args.sequential, args.concurrent_requests, args.concurrency
                )
            goals += print_report(transport, results)
    return goals


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequential", type=positive, help="sequential calls (default 400)")
    parser.add_argument(
        "--concurrent-requests", type=positive, help="calls in the throughput run (default 2000)"
    )
    parser.add_argument(
        "--concurrency", type=positive, default=50, help="concurrent workers (default 50)"
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (100 and 500)")
    args = parser.parse_args(argv)
    # Explicit counts win over --quick.
    args.sequential = args.sequential or (100 if args.quick else 400)
    args.concurrent_requests = args.concurrent_requests or (500 if args.quick else 2000)
    if args.sequential < ROUNDS or args.concurrent_requests < ROUNDS:
        parser.error(f"--sequential and --concurrent-requests must be at least {ROUNDS}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print_header(args)
    started = time.perf_counter()
    try:
        goals = asyncio.run(run(args))
    except EmulatorStartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    missed = [goal for goal in goals if not goal.met]
    verdict = "all targets met" if not missed else f"{len(missed)} of {len(goals)} targets missed"
    print(f"\n{verdict}; took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
