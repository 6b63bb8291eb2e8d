"""Benchmark what refused and failed requests leave in the app's memory once they end.

Run from a checkout: `python bench/refused_memory.py [--quick]`. The emulator and the app
(`python app.py`, configured only through its environment) run in processes of their own on
loopback (bench/processes.py); the callers are this process, one request at a time. Each kind of
request is sent in a row, and the app's RSS (psutil) is read before, at its peak, and once idle
again (after the app's memory release interval, studio.server.memory):

- refused `/v1` chat requests of 8 MiB (a message with the role "bogus"),
- valid 7 MiB `/v1` chat requests that Websim answers 400 (a 502 from the app),
- refused 7 MiB Gradio `/call/chat` calls (an invalid history),
- and, as the baseline, accepted 7 MiB `/v1` chat requests, which keep nothing.

The target: each kind leaves idle RSS within 150 MB of where it started. This script reports;
it is not a test: a missed target still exits 0. Only a process that will not start makes it
fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
from processes import PeakRss, StartError, app_process, emulator_process, resident_bytes

REPO_ROOT = Path(__file__).resolve().parent.parent
# Run as a script from a checkout: make the packages beside bench/ importable without installing.
sys.path.insert(0, str(REPO_ROOT))

from studio.server.memory import RELEASE_INTERVAL  # noqa: E402

MiB = 2**20
TARGET_MB = 150
JSON = {"content-type": "application/json"}


@dataclass(frozen=True)
class Kind:
    """One kind of request, sent `count` times in a row."""

    name: str
    count: int
    send: Callable[[aiohttp.ClientSession, str, str], Awaitable[int]]


@dataclass(frozen=True)
class Figures:
    kind: Kind
    status: int
    before: int
    peak: int
    idle: int

    @property
    def kept_mb(self) -> float:
        return (self.idle - self.before) / MiB


def chat_body(content_bytes: int, *, bad_role: bool) -> bytes:
    messages = [{"role": "user", "content": "x" * content_bytes}]
    if bad_role:
        messages.append({"role": "bogus", "content": "a"})
    return json.dumps({"messages": messages}).encode()


async def refused_v1(session: aiohttp.ClientSession, app: str, emulator: str) -> int:
    body = chat_body(8 * MiB - 200, bad_role=True)
    async with session.post(app + "v1/chat/completions", data=body, headers=JSON) as response:
        await response.read()
        return response.status


async def failed_upstream_v1(session: aiohttp.ClientSession, app: str, emulator: str) -> int:
    fault = {"kind": "chat", "faults": [{"type": "status", "code": 400}]}
    async with session.post(emulator + "/emulator/faults", json=fault) as response:
        await response.read()
    return await accepted_v1(session, app, emulator)


async def accepted_v1(session: aiohttp.ClientSession, app: str, emulator: str) -> int:
    body = chat_body(7 * MiB, bad_role=False)
    async with session.post(app + "v1/chat/completions", data=body, headers=JSON) as response:
        await response.read()
        return response.status


async def refused_gradio(session: aiohttp.ClientSession, app: str, emulator: str) -> int:
    history = [{"role": "user", "content": "x" * (7 * MiB)}, {"role": "bogus", "content": "a"}]
    body = json.dumps({"data": ["hi", history, "gemini-1.5-pro", ""]}).encode()
    async with session.post(app + "gradio_api/call/chat", data=body, headers=JSON) as response:
        event = (await response.json())["event_id"]
    async with session.get(app + f"gradio_api/call/chat/{event}") as response:
        stream = await response.text()
    return 400 if "event: error" in stream else response.status


async def measure(kind: Kind, app_url: str, emulator_url: str, process: object) -> Figures:
    before = resident_bytes(process)  # type: ignore[arg-type]
    status = 0
    with PeakRss(process) as peak:  # type: ignore[arg-type]
        async with aiohttp.ClientSession() as session:
            for _ in range(kind.count):
                status = await kind.send(session, app_url, emulator_url)
        # Idle: past the app's release interval, with nothing sent meanwhile.
        await asyncio.sleep(RELEASE_INTERVAL + 1.5)
    return Figures(kind, status, before, peak.peak, resident_bytes(process))  # type: ignore[arg-type]


async def run(quick: bool) -> list[Figures]:
    scale = 0.2 if quick else 1.0
    kinds = [
        Kind("accepted 7 MiB `/v1` chat (baseline)", round(30 * scale), accepted_v1),
        Kind("refused 8 MiB `/v1` chat (bad role)", round(100 * scale), refused_v1),
        Kind("7 MiB `/v1` chat Websim answers 400", round(30 * scale), failed_upstream_v1),
        Kind("refused 7 MiB Gradio `/call/chat`", round(30 * scale), refused_gradio),
    ]
    with (
        emulator_process() as emulator,
        app_process(
            emulator.url, {"WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "0"}, secret="bench"
        ) as app,
    ):
        app.wait_until_serving()
        async with aiohttp.ClientSession() as session:
            await accepted_v1(session, app.url, emulator.url)  # warm-up: the first call's imports
        return [await measure(kind, app.url, emulator.url, app.process) for kind in kinds]


def report(figures: list[Figures], quick: bool) -> None:
    print("## Memory that refusals give back\n")
    print(
        f"{'--quick' if quick else 'full'} run; one request at a time, idle read "
        f"{RELEASE_INTERVAL + 1.5:g} s after the last.\n"
    )
    print("| requests | count | last status | RSS before | peak | idle after | kept |")
    print("|---|---|---|---|---|---|---|")
    for each in figures:
        print(
            f"| {each.kind.name} | {each.kind.count} | {each.status} | {each.before / MiB:.0f} MB "
            f"| {each.peak / MiB:.0f} MB | {each.idle / MiB:.0f} MB | {each.kept_mb:+.0f} MB |"
        )
    baseline = figures[0].kept_mb
    print("\n## Targets\n")
    print("| requests | kept | against the accepted baseline | target | met |")
    print("|---|---|---|---|---|")
    for each in figures[1:]:
        met = "yes" if each.kept_mb <= TARGET_MB else "no"
        print(
            f"| {each.kind.name} | {each.kept_mb:+.0f} MB | {each.kept_mb - baseline:+.0f} MB "
            f"| ≤ {TARGET_MB} MB | {met} |"
        )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a fifth of the requests")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        figures = asyncio.run(run(args.quick))
    except StartError as error:
        print(f"could not start: {error}", file=sys.stderr)
        return 1
    report(figures, args.quick)
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
