"""Benchmark one client keeping the server's loop busy with bodies it knows will be refused.

Run from a checkout: `python bench/refusal_flood.py [--quick] [--rounds N]`. The emulator and two
apps (`python app.py`, configured only through their environment) run in processes of their own
on loopback (bench/processes.py); the callers are this process. Both apps trust loopback as a
proxy, so that `X-Forwarded-For` makes the attacker and the victim two clients:

- the app as deployed, with per-client limits on, and so the refusal budget
  (`studio.services.rate_limit.REFUSALS_PER_MINUTE` refused requests a minute, then the client's
  bodies are refused unread);
- the baseline: the same app with its limits off (`WEBSIM_STUDIO_REQUESTS_PER_MINUTE=0`), which
  refuses every such body only after reading and parsing it.

In each round, for each app in turn, the victim sends small `/v1` chat requests one after the
other, first with nothing else going on (idle), then while the attacker sends 8 MiB bodies of
250,000 messages on 3 connections without pause. The victim's median time per request is the
figure; the target is that under attack it stays within 2x of idle. This script reports; it is
not a test: a missed target still exits 0. Only a process that will not start makes it fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack, suppress
from dataclasses import dataclass, field

import aiohttp
from processes import AppProcess, StartError, app_process, emulator_process

ATTACKER, VICTIM = "198.51.100.7", "203.0.113.9"
ATTACK_CONNECTIONS = 3
TARGET_RATIO = 2.0
JSON = {"content-type": "application/json"}
FLOOD = json.dumps({"messages": [{"role": "user", "content": "hi"}] * 250_000}).encode()
SMALL = json.dumps({"messages": [{"role": "user", "content": "hello"}]}).encode()
APPS = {
    "refusal budget (as deployed)": {"WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "100000"},
    "no budget (limits off, baseline)": {"WEBSIM_STUDIO_REQUESTS_PER_MINUTE": "0"},
}


@dataclass
class Figures:
    idle: list[float] = field(default_factory=list)
    attacked: list[float] = field(default_factory=list)
    attacks: Counter[str] = field(default_factory=Counter)


async def victim(session: aiohttp.ClientSession, url: str, count: int) -> float:
    """The median seconds of `count` small chat requests, one after another."""
    times = []
    for _ in range(count):
        started = time.perf_counter()
        async with session.post(
            url + "v1/chat/completions", data=SMALL, headers={**JSON, "x-forwarded-for": VICTIM}
        ) as response:
            await response.read()
            if response.status != 200:
                raise RuntimeError(f"the victim got {response.status}")
        times.append(time.perf_counter() - started)
    return statistics.median(times)


async def attacker(url: str, outcomes: Counter[str]) -> None:
    """Send the flood on one connection after another until cancelled."""
    headers = {**JSON, "x-forwarded-for": ATTACKER}
    while True:
        connector = aiohttp.TCPConnector(limit=1, force_close=True)
        try:
            async with (
                aiohttp.ClientSession(connector=connector) as session,
                session.post(url + "v1/chat/completions", data=FLOOD, headers=headers) as response,
            ):
                await response.read()
                outcomes[str(response.status)] += 1
        except aiohttp.ClientError:
            outcomes["cut off"] += 1  # refused before the body was sent: the socket closed


async def round_for(app: AppProcess, figures: Figures, count: int, settle: float) -> None:
    async with aiohttp.ClientSession() as session:
        figures.idle.append(await victim(session, app.url, count))
        flood = [
            asyncio.create_task(attacker(app.url, figures.attacks))
            for _ in range(ATTACK_CONNECTIONS)
        ]
        try:
            await asyncio.sleep(settle)  # the attacker spends whatever budget it has
            figures.attacked.append(await victim(session, app.url, count))
        finally:
            for task in flood:
                task.cancel()
            for task in flood:
                with suppress(asyncio.CancelledError):
                    await task


async def run(rounds: int, count: int, settle: float) -> dict[str, Figures]:
    figures = {name: Figures() for name in APPS}
    with ExitStack() as stack:
        emulator = stack.enter_context(emulator_process())
        apps = {
            name: stack.enter_context(
                app_process(
                    emulator.url,
                    {**settings, "WEBSIM_STUDIO_TRUSTED_PROXIES": "127.0.0.1/32"},
                    secret="bench",
                )
            )
            for name, settings in APPS.items()
        }
        for app in apps.values():
            app.wait_until_serving()
        for _ in range(rounds):  # interleaved: each round measures both apps
            for name, app in apps.items():
                await round_for(app, figures[name], count, settle)
    return figures


def report(figures: dict[str, Figures], rounds: int) -> None:
    print("## One client flooding the loop with refused bodies\n")
    print(
        f"{rounds} round(s); the victim's median per request, then the median over rounds; the "
        f"attacker sends {len(FLOOD) / 2**20:.1f} MiB bodies of 250,000 messages on "
        f"{ATTACK_CONNECTIONS} connections.\n"
    )
    print("| app | victim idle | victim under attack | ratio | the attacker's answers |")
    print("|---|---|---|---|---|")
    ratios = {}
    for name, each in figures.items():
        idle, attacked = statistics.median(each.idle), statistics.median(each.attacked)
        ratios[name] = attacked / idle
        answers = ", ".join(f"{count:,} {what}" for what, count in each.attacks.most_common())
        print(
            f"| {name} | {idle * 1000:.1f} ms | {attacked * 1000:.1f} ms "
            f"| {ratios[name]:.2f}x | {answers} |"
        )
    deployed = next(iter(figures))
    met = "met" if ratios[deployed] <= TARGET_RATIO else "missed"
    print("\n## Targets\n")
    print("| what | figure | target | |")
    print("|---|---|---|---|")
    print(
        f"| the victim under attack, against idle, with the refusal budget | "
        f"{ratios[deployed]:.2f}x | ≤ {TARGET_RATIO:g}x | {met} |"
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="one short round")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of both apps (3)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    rounds, count, settle = (1, 20, 6.0) if args.quick else (args.rounds, 60, 8.0)
    started = time.monotonic()
    try:
        figures = asyncio.run(run(rounds, count, settle))
    except StartError as error:
        print(f"could not start: {error}", file=sys.stderr)
        return 1
    report(figures, rounds)
    print(f"\n({time.monotonic() - started:.0f} s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
