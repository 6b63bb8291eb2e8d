"""Benchmark slow clients against the app: half-sent requests and stalled bodies from one address.

Run from a checkout: `python bench/slow_clients.py [--quick]`. The app (`python app.py`) and the
emulator run in their own processes (`bench/processes.py`) under an open-files limit of 4096,
set here and inherited. From 127.0.0.1 this process opens 1,500 connections that send half a
request line and 500 that send headers and part of a body, with the per-address cap lifted so
that only the deadlines close them; from 127.0.0.2 another client calls `/healthz` throughout.
It prints that client's latency idle (the baseline, same run) and under the flood, and how long
the flood's connections took to be closed; then, with the default per-address cap, how many of
the flood's connections were refused with a sentence at once. It reports; it is not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import statistics
import time
import urllib.parse

import httpx
from processes import app_process, emulator_process

OTHER = "127.0.0.2"
PARTIAL = b"GET /healthz HTTP/1.1\r\nHost: x\r\n"
STALLED = (
    b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
    b'Content-Length: 4000\r\n\r\n{"model": "gemini-1.5-pro", "messages": ['
)


async def open_flood(host: str, port: int, count: int, request: bytes) -> list[asyncio.Task[str]]:
    async def one() -> str:
        reader, writer = await asyncio.open_connection(host, port)
        writer.write(request)
        try:
            answer = await reader.read(20)
        except ConnectionError:
            answer = b""
        writer.close()
        return answer[9:12].decode() or "EOF"

    return [asyncio.create_task(one()) for _ in range(count)]


async def latencies(url: str, seconds: float) -> list[float]:
    taken = []
    transport = httpx.AsyncHTTPTransport(local_address=OTHER)
    async with httpx.AsyncClient(transport=transport, timeout=10, trust_env=False) as client:
        ends = time.monotonic() + seconds
        while time.monotonic() < ends:
            started = time.monotonic()
            try:
                (await client.get(url + "healthz")).raise_for_status()
                taken.append(time.monotonic() - started)
            except httpx.HTTPError:
                taken.append(float("inf"))
            await asyncio.sleep(0.1)
    return taken


def summary(taken: list[float]) -> str:
    failed = sum(1 for t in taken if t == float("inf"))
    answered = sorted(t for t in taken if t != float("inf")) or [float("nan")]
    p95 = answered[int(0.95 * (len(answered) - 1))]
    return (
        f"median {statistics.median(answered) * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, "
        f"max {answered[-1] * 1000:.1f} ms, {failed} of {len(taken)} failed"
    )


async def flood(url: str, partial: int, stalled: int) -> None:
    split = urllib.parse.urlsplit(url)
    host, port = split.hostname or "", split.port or 80
    print(f"  another client's /healthz, idle:        {summary(await latencies(url, 3))}")
    started = time.monotonic()
    tasks = await open_flood(host, port, partial, PARTIAL)
    tasks += await open_flood(host, port, stalled, STALLED)
    during = asyncio.create_task(latencies(url, 8))
    answers = await asyncio.gather(*tasks, return_exceptions=True)
    closed = time.monotonic() - started
    print(f"  another client's /healthz, under flood: {summary(await during)}")
    counts: dict[str, int] = {}
    for answer in answers:
        key = answer if isinstance(answer, str) else type(answer).__name__
        counts[key] = counts.get(key, 0) + 1
    print(f"  {partial} + {stalled} flood connections all closed after {closed:.1f} s: {counts}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the flood")
    args = parser.parse_args()
    partial, stalled = (150, 50) if args.quick else (1500, 500)
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    with emulator_process() as emulator:
        runs = {
            "deadlines only (per-address cap lifted)": {
                "WEBSIM_STUDIO_CONNECTIONS_PER_CLIENT": "100000"
            },
            "default settings (64 per address)": {},
        }
        for name, settings in runs.items():
            print(f"{name}:")
            with app_process(emulator.url, settings, secret="bench-slow-clients") as app:
                app.wait_until_serving()
                asyncio.run(flood(app.url, partial, stalled))


if __name__ == "__main__":
    main()
