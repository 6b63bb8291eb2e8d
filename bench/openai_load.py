"""Benchmark the OpenAI-compatible API: N callers post `/v1/chat/completions` at once.

Run from a checkout: `python bench/openai_load.py [--callers N] [--latency L] [--quick]`. The
emulator and the app (`python app.py`, configured only through its environment) run in processes
of their own (bench/processes.py). One emulator serves the whole run, answering at once; for the
concurrent scenario each of the N requests is scripted to hang L seconds first (the emulator's
`hang` fault, which then answers as usual), which is what `--latency L` does to every request.
That way the sequential figures are measured against the same emulator at no latency:

1. sequential: M calls one after another through `/v1/chat/completions` (one keep-alive
   connection), and M calls with websim_core's client straight to the emulator, in alternating
   blocks; the p50 of each and their difference, which is what the app adds to a call;
2. concurrent: N callers, each its own aiohttp connection, all released at once; the wall time
   against the ideal L, latencies, and the app's CPU per call;
3. side by side: K calls at once through `/v1` and through the Gradio page's `/chat` API (the
   protocol floor of bench/app_load.py: the HTTP requests gradio_client makes, from one loop);
   the app's CPU per call for each.

The app's per-client limit is raised, not turned off (every caller here is one address), so the
limiter's cost is in the figures. This script reports; it is not a test: a missed target still
exits 0. Only a process that will not start makes it fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import sys
import time
import urllib.request
from collections.abc import Awaitable, Callable, Sequence

import aiohttp
from app_load import Endpoint, Run, call_with_protocol, positive, seconds
from processes import AppProcess, StartError, app_process, cpu_seconds, emulator_process

from websim_core import WebsimClient
from websim_core.emulator import Fault

DEFAULT_CALLERS = 1024
DEFAULT_LATENCY = 1.0
DEFAULT_SEQUENTIAL = 400
DEFAULT_SIDE_BY_SIDE = 128
QUICK_CALLERS = 16
QUICK_LATENCY = 0.2
QUICK_SEQUENTIAL = 20
QUICK_SIDE_BY_SIDE = 8
# Sequential calls go in blocks, alternating between the two ways, so that a busy moment on a
# shared machine falls on both alike.
BLOCK = 20
# The targets: the wall time of 1,024 callers at L = 1 s, and the p50 the app may add.
TARGET_CALLERS = 1024
TARGET_WALL = 1.6
TARGET_ADDED_P50 = 0.001
MODEL = "gemini-1.5-pro"


def chat_body(number: int) -> dict[str, object]:
    return {"model": MODEL, "messages": [{"role": "user", "content": f"caller {number}"}]}


def reply_of(number: int, answer: dict[str, object], calls: Run) -> None:
    try:
        text = answer["choices"][0]["message"]["content"]  # type: ignore[index]
    except (KeyError, IndexError, TypeError):
        calls.failures.append(f"caller {number}: {json.dumps(answer)[:200]}")
        return
    if not str(text).endswith(f"You said: caller {number}"):
        calls.failures.append(f"caller {number} got someone else's reply: {text!r}")


# --- sequential ----------------------------------------------------------------------------------


async def sequential(app_url: str, emulator_url: str, count: int) -> tuple[Run, Run]:
    """`count` calls each way, one at a time: through /v1, and websim_core straight to Websim."""
    through_app, direct = (
        Run("/v1", "aiohttp", count, 0.0),
        Run("direct", "websim_core", count, 0.0),
    )
    url = app_url + "v1/chat/completions"
    async with aiohttp.ClientSession() as session, WebsimClient(emulator_url) as websim:

        async def via_app(number: int) -> None:
            async with session.post(url, json=chat_body(number)) as response:
                reply_of(number, await response.json(), through_app)

        async def via_client(number: int) -> None:
            text = await websim.chat(chat_body(number)["messages"], model=MODEL)  # type: ignore[arg-type]
            if not text.endswith(f"You said: caller {number}"):
                direct.failures.append(f"caller {number}: {text!r}")

        for number in range(BLOCK):  # warm both: connections, the app's client, caches
            await via_app(number)
            await via_client(number)
        for start in range(0, count, BLOCK):
            for way, calls in ((via_app, through_app), (via_client, direct)):
                for number in range(start, min(start + BLOCK, count)):
                    began = time.perf_counter()
                    await way(number)
                    calls.latencies.append(time.perf_counter() - began)
    return through_app, direct


# --- all at once ---------------------------------------------------------------------------------


async def all_at_once(url: str, count: int) -> Run:
    """`count` callers, each its own connection, posting /v1/chat/completions together."""
    calls = Run("/v1", "aiohttp", count, 0.0)
    latencies: list[float | None] = [None] * count
    gate = asyncio.Event()
    connector = aiohttp.TCPConnector(limit=0, force_close=True)
    timeout = aiohttp.ClientTimeout(total=120)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:

        async def caller(number: int) -> None:
            await gate.wait()
            began = time.perf_counter()
            try:
                async with session.post(url, json=chat_body(number)) as response:
                    answer = await response.json()
            except (aiohttp.ClientError, ValueError) as error:
                calls.failures.append(f"caller {number}: {type(error).__name__}: {error}")
                return
            latencies[number] = time.perf_counter() - began
            reply_of(number, answer, calls)

        tasks = [asyncio.create_task(caller(number)) for number in range(count)]
        await asyncio.sleep(0)  # every task waits at the gate
        gate.set()
        began = time.perf_counter()
        await asyncio.gather(*tasks)
        calls.wall = time.perf_counter() - began
    calls.latencies = [latency for latency in latencies if latency is not None]
    return calls


def script_hangs(emulator_url: str, count: int, seconds: float) -> None:
    """The next `count` chat requests each wait `seconds` before answering."""
    faults = [Fault.hang(seconds).to_dict()] * count
    request = urllib.request.Request(
        emulator_url + "/emulator/faults",
        data=json.dumps({"kind": "chat", "faults": faults}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        assert json.load(response)["queued"] == count


def with_app_cpu(app: AppProcess, run: Callable[[], Awaitable[Run]]) -> Run:
    """Run the calls, recording the app's CPU time (its process and children) meanwhile."""
    before = cpu_seconds(app.process)
    calls = asyncio.run(run())
    calls.cpu_app = cpu_seconds(app.process) - before
    return calls


def gradio_chat(app: AppProcess, count: int) -> Run:
    """`count` Gradio `/chat` calls at once, as bench/app_load.py's protocol floor makes them."""
    endpoint = Endpoint.of(app.url)
    run = Run("as configured", "protocol floor", count, 0.0)
    before = cpu_seconds(app.process)
    asyncio.run(call_with_protocol(endpoint, run))
    run.cpu_app = cpu_seconds(app.process) - before
    return run


# --- the run -------------------------------------------------------------------------------------


def measure(args: argparse.Namespace) -> None:
    settings = {
        "WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "100000000",
        # Every caller connects from this one address, which the per-address cap would count
        # as one client.
        "WEBSIM_STUDIO_CONNECTIONS_PER_CLIENT": "100000",
        # One pooled connection to Websim per caller waiting, and room in Gradio's queue.
        "WEBSIM_STUDIO_CONCURRENCY": str(max(args.callers, 512)),
        "WEBSIM_STUDIO_QUEUE_SIZE": str(max(args.callers, 512) * 4),
    }
    with (
        emulator_process(0.0) as emulator,
        app_process(emulator.url, settings, secret="openai-load-benchmark") as app,
    ):
        app.wait_until_serving()
        url = app.url + "v1/chat/completions"

        through_app, direct = asyncio.run(sequential(app.url, emulator.url, args.sequential))
        added = through_app.percentile(50) - direct.percentile(50)
        print(f"sequential, {args.sequential} calls each way (p50 / p99 ms):")
        print_latencies("  /v1/chat/completions", through_app)
        print_latencies("  websim_core direct", direct)
        print(f"  the app adds {added * 1000:.2f} ms at p50\n")

        script_hangs(emulator.url, args.callers, args.latency)
        together = with_app_cpu(app, lambda: all_at_once(url, args.callers))
        print(f"{args.callers} callers at once, emulator L = {args.latency:g} s:")
        print(
            f"  wall {together.wall:.2f} s ({together.wall / args.latency:.2f} L), "
            f"p50 {together.percentile(50):.2f} s, p99 {together.percentile(99):.2f} s, "
            f"app CPU {together.cpu_app:.2f} s ({together.cpu_app / args.callers * 1000:.2f} ms "
            "per call)"
        )
        print_failures(together)

        v1 = with_app_cpu(app, lambda: all_at_once(url, args.side_by_side))
        gradio = gradio_chat(app, args.side_by_side)
        print(f"\napp CPU per call, {args.side_by_side} calls at once, emulator L = 0:")
        for label, calls in (("/v1/chat/completions", v1), ("Gradio /chat", gradio)):
            per_call = calls.cpu_app / args.side_by_side * 1000
            print(f"  {label:<22}{per_call:>8.2f} ms   wall {calls.wall:.2f} s")
            print_failures(calls)
        print(f"  Gradio /chat / v1: {gradio.cpu_app / max(v1.cpu_app, 1e-9):.1f}x")

        print_targets(args, together, added)


def print_latencies(label: str, calls: Run) -> None:
    p50, p99 = calls.percentile(50) * 1000, calls.percentile(99) * 1000
    print(f"{label:<24}{p50:>8.2f} / {p99:.2f}")
    print_failures(calls)


def print_failures(calls: Run) -> None:
    for failure in calls.failures[:3]:
        print(f"    failed: {failure}")
    if len(calls.failures) > 3:
        print(f"    ... and {len(calls.failures) - 3} more failures")


def print_targets(args: argparse.Namespace, together: Run, added: float) -> None:
    print("\ntargets:")
    if args.callers == TARGET_CALLERS and args.latency == DEFAULT_LATENCY:
        met = together.wall <= TARGET_WALL and not together.failures
        print(
            f"  {TARGET_CALLERS} callers within {TARGET_WALL:g} s: {together.wall:.2f} s  "
            f"{'PASS' if met else 'MISS'}"
        )
    else:
        print(f"  (the wall target is for {TARGET_CALLERS} callers at L = {DEFAULT_LATENCY:g} s)")
    verdict = "PASS" if added <= TARGET_ADDED_P50 else "MISS"
    print(f"  p50 added by the app at most 1 ms: {added * 1000:.2f} ms  {verdict}")


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--callers", type=positive, help=f"default {DEFAULT_CALLERS}")
    parser.add_argument("--latency", type=seconds, help=f"default {DEFAULT_LATENCY:g} s")
    parser.add_argument("--sequential", type=positive, help=f"default {DEFAULT_SEQUENTIAL}")
    parser.add_argument("--side-by-side", type=positive, help=f"default {DEFAULT_SIDE_BY_SIDE}")
    parser.add_argument("--quick", action="store_true", help="a short smoke run")
    args = parser.parse_args(argv)
    # Explicit values win over --quick.
    args.callers = args.callers or (QUICK_CALLERS if args.quick else DEFAULT_CALLERS)
    args.latency = args.latency or (QUICK_LATENCY if args.quick else DEFAULT_LATENCY)
    args.sequential = args.sequential or (QUICK_SEQUENTIAL if args.quick else DEFAULT_SEQUENTIAL)
    args.side_by_side = args.side_by_side or (
        QUICK_SIDE_BY_SIDE if args.quick else DEFAULT_SIDE_BY_SIDE
    )
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    print("Websim Studio /v1 benchmark: OpenAI-style chat completions through the app")
    print(
        f"Python {platform.python_version()}, aiohttp {aiohttp.__version__}, {os.cpu_count()} "
        "CPUs; the app, the emulator and the callers in three processes\n"
    )
    started = time.perf_counter()
    try:
        measure(args)
    except StartError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"\ntook {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
