"""Benchmark the upstream guard: a caller who hangs up on every try, and Websim's everyday 429s.

Run from a checkout: `python bench/guard.py [--quick]`. As in the 429 storm of
`bench/public_limits.py`, the callers share one `WebsimClient` in this process, against an
emulator on loopback in this process too; each run has an emulator of its own. It measures:

1. An attacker and a victim. Websim answers a chat in 0.5 s, and a 429 at once. The attacker's
   first call meets a 429 asking for 1 s, and it hangs up; from then on it starts a call every
   second (Websim's Retry-After), and when the guard refuses it, comes back at the very moment
   the refusal names. Every call it makes it hangs up 0.3 s later. The victim calls in a loop,
   again a second after each answer or failure. The figure is the share of the victim's calls
   that were answered.
2. Websim's everyday 429s. 20 callers call in a loop; Websim answers 8 % of chat requests with
   429 and `Retry-After: 1` (drawn in advance: every client meets the same draws), the rest in
   0.3 s. The figure is the share of calls answered.

Each scenario runs three clients at once, each against its own emulator: no guard (the
baseline), the guard as it was before calls were held (`LegacyGuard` below: it refused every
call during a pause, and for 10 s after a trial that heard nothing), and the guard now. A run is
repeated in rounds and the medians are reported, as ratios to the baseline. This script reports;
it is not a test: a missed target still exits 0.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import os
import platform
import random
import statistics
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
# Run as a script from a checkout: make the packages beside bench/ importable without installing.
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

from websim_core import (  # noqa: E402
    Settings,
    UpstreamGuard,
    UpstreamPausedError,
    WebsimClient,
    WebsimError,
)
from websim_core.emulator import Emulator, Fault  # noqa: E402

# Scenario 1: how Websim answers, and how the attacker and the victim behave.
ANSWER_SECONDS = 0.5
RETRY_AFTER = 1.0
HANG_UP_AFTER = 0.3
VICTIM_THINKS = 1.0
# The deadline every caller gives its calls (the app's WEBSIM_STUDIO_DEADLINE is 120 s).
DEADLINE = 30.0
# Scenario 2.
CALLERS = 20
RATE_LIMITED = 0.08
EVERYDAY_ANSWER_SECONDS = 0.3
CALLER_THINKS = 0.2
# Targets, for the guard now.
VICTIM_TARGET = 0.80
EVERYDAY_TARGET = 0.85
CLIENTS = ("no guard (baseline)", "the guard before", "the guard now")


@dataclass(frozen=True)
class Plan:
    """How long each run lasts and how many rounds there are."""

    rounds: int
    attack_seconds: float
    everyday_seconds: float


FULL = Plan(rounds=5, attack_seconds=30.0, everyday_seconds=30.0)
QUICK = Plan(rounds=3, attack_seconds=6.0, everyday_seconds=7.0)


# --- the guard as it was ---------------------------------------------------------------------


class LegacyGuard:
    """The guard before it held calls (commit 6ac1d48), behind the interface the client uses now.

    While paused it refused every call but the probe at once; after a pause the first call to
    come tried first, and the others were refused until a reply came back, or for 10 s, after
    which the next call to come tried. A trial whose caller left was never heard of again.
    """

    TRIAL_SECONDS = 10.0

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._until = float("-inf")
        self._probe: object | None = None
        self._after_pause = False
        self._trial_at = float("-inf")

    def admission(self, token: object | None = None, *, wait: float = 0.0) -> _LegacyTurn:
        return _LegacyTurn(self, token)

    def check(self, token: object | None = None, *, wait: float = 0.0) -> None:
        with self._lock:
            now = time.monotonic()
            remaining = self._until - now
            if token is not None and token is self._probe:
                return
            if remaining <= 0:
                if not self._after_pause or now - self._trial_at >= self.TRIAL_SECONDS:
                    self._trial_at = now
                    return
                remaining = self._trial_at + self.TRIAL_SECONDS - now
        raise UpstreamPausedError(
            "Websim asked this server to wait (rate limited, 429)",
            status=429,
            detail="",
            retry_after=remaining,
        )

    def record(
        self, status: int, *, detail: str = "", retry_after: float | None = None
    ) -> object | None:
        with self._lock:
            now = time.monotonic()
            if now >= self._until:
                self._after_pause = False
            if status != 429 or not retry_after or retry_after <= 0:
                return None
            if now < self._until:
                self._until = max(self._until, now + retry_after)
                return None
            self._until = now + retry_after
            self._after_pause = True
            self._trial_at = float("-inf")
            self._probe = object()
            return self._probe


class _LegacyTurn:
    def __init__(self, guard: LegacyGuard, token: object | None) -> None:
        self._guard = guard
        self._token = token

    async def __aenter__(self) -> _LegacyTurn:
        self._guard.check(self._token)
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        return None

    def record(
        self, status: int, *, detail: str = "", retry_after: float | None = None
    ) -> object | None:
        return self._guard.record(status, detail=detail, retry_after=retry_after)


def make_guard(client: str) -> Any:
    if client == "the guard now":
        return UpstreamGuard()
    if client == "the guard before":
        return LegacyGuard()
    return None


# --- one run ---------------------------------------------------------------------------------


@dataclass
class Run:
    """What the callers of one run (or the victim, in the attack) got back."""

    client: str
    calls: int = 0
    answered: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    answer_seconds: list[float] = field(default_factory=list)
    requests: int = 0
    rate_limited: int = 0
    seconds: float = 0.0

    @property
    def share(self) -> float:
        return self.answered / self.calls if self.calls else 0.0

    @property
    def per_second(self) -> float:
        return self.answered / self.seconds if self.seconds else 0.0

    async def call(self, client: WebsimClient, text: str) -> float | None:
        """One chat call, tallied; the Retry-After of a refusal by the guard, if refused."""
        loop = asyncio.get_running_loop()
        began = loop.time()
        self.calls += 1
        try:
            await client.chat([{"role": "user", "content": text}], deadline=DEADLINE)
        except UpstreamPausedError as error:
            self.failures["refused by the guard"] += 1
            return error.retry_after
        except WebsimError as error:
            self.failures[type(error).__name__] += 1
        else:
            self.answered += 1
            self.answer_seconds.append(loop.time() - began)
        return None


async def attack(client_name: str, plan: Plan) -> Run:
    """Scenario 1: the victim's calls, while the attacker hangs up on every try."""
    victim = Run(client_name)
    answer = Fault.hang(ANSWER_SECONDS)
    rate_limited = Fault.status(429, retry_after=f"{RETRY_AFTER:g}")
    async with Emulator(max_recorded=10**6) as emulator:
        emulator.script("chat", rate_limited, *[answer] * 10_000)
        client = WebsimClient(
            base_url=emulator.base_url, settings=Settings(), guard=make_guard(client_name)
        )
        async with client:
            loop = asyncio.get_running_loop()
            ends = loop.time() + plan.attack_seconds

            async def hang_up_on(call: asyncio.Future[Any]) -> float | None:
                """Hang up HANG_UP_AFTER s into the call; a refusal's Retry-After, if refused."""
                done, _ = await asyncio.wait((call,), timeout=HANG_UP_AFTER)
                if not done:
                    call.cancel()
                    return None
                error = call.exception()
                return error.retry_after if isinstance(error, UpstreamPausedError) else None

            async def attacker() -> None:
                number = 0
                while loop.time() < ends:
                    number += 1
                    chat = client.chat([{"role": "user", "content": f"attack {number}"}])
                    told = await hang_up_on(asyncio.ensure_future(chat))
                    # Back when the guard said to, or when Websim's wait is over again.
                    pause = told if told is not None else RETRY_AFTER - HANG_UP_AFTER
                    await asyncio.sleep(min(pause, max(ends - loop.time(), 0)))

            async def victim_calls() -> None:
                await asyncio.sleep(0.1)  # the attacker's call meets the 429 first
                number = 0
                while loop.time() < ends:
                    number += 1
                    await victim.call(client, f"victim {number}")
                    await asyncio.sleep(VICTIM_THINKS)

            started = loop.time()
            await asyncio.gather(attacker(), victim_calls())
            victim.seconds = loop.time() - started
        victim.requests = len(emulator.requests)
        victim.rate_limited = 1
    return victim


async def everyday(client_name: str, plan: Plan, round_number: int) -> Run:
    """Scenario 2: CALLERS callers in a loop, Websim answering some requests with 429; which
    requests, the round's draws say (every client of a round meets the same ones)."""
    run = Run(client_name)
    chance = random.Random(round_number)
    # Enough for the busiest client, the one without a guard, with room to spare.
    most = int(CALLERS * plan.everyday_seconds / EVERYDAY_ANSWER_SECONDS * 2) + 1000
    draws = [chance.random() < RATE_LIMITED for _ in range(most)]
    answer = Fault.hang(EVERYDAY_ANSWER_SECONDS)
    rate_limited = Fault.status(429, retry_after=f"{RETRY_AFTER:g}")
    async with Emulator(max_recorded=10**6) as emulator:
        emulator.script("chat", *[rate_limited if draw else answer for draw in draws])
        client = WebsimClient(
            base_url=emulator.base_url, settings=Settings(), guard=make_guard(client_name)
        )
        async with client:
            loop = asyncio.get_running_loop()
            ends = loop.time() + plan.everyday_seconds

            async def caller(number: int) -> None:
                await asyncio.sleep(number * EVERYDAY_ANSWER_SECONDS / CALLERS)
                call = 0
                while loop.time() < ends:
                    call += 1
                    await run.call(client, f"caller {number} #{call}")
                    await asyncio.sleep(CALLER_THINKS)

            started = loop.time()
            await asyncio.gather(*(caller(number) for number in range(CALLERS)))
            run.seconds = loop.time() - started
        run.requests = len(emulator.requests)
        run.rate_limited = sum(draws[: run.requests])
    return run


async def rounds_of(scenario: Callable[[str], Any], plan: Plan, label: str) -> dict[str, list[Run]]:
    """`plan.rounds` rounds of the three clients side by side, each with its own emulator."""
    runs: dict[str, list[Run]] = {client: [] for client in CLIENTS}
    for number in range(plan.rounds):
        started = time.perf_counter()
        for run in await asyncio.gather(*(scenario(client, number) for client in CLIENTS)):
            runs[run.client].append(run)
        took = time.perf_counter() - started
        print(f"{label}: round {number + 1} of {plan.rounds}, {took:.1f} s", file=sys.stderr)
    return runs


# --- the report ------------------------------------------------------------------------------


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def seconds(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.2f}" if values else "-"


def median_run(runs: Sequence[Run]) -> Run:
    """The round with the median share answered (the lower middle one of an even number)."""
    return sorted(runs, key=lambda run: run.share)[(len(runs) - 1) // 2]


def print_table(title: str, intro: str, runs: dict[str, list[Run]], who: str) -> None:
    print(f"\n## {title}\n")
    print(intro + "\n")
    baseline = median([run.share for run in runs[CLIENTS[0]]])
    print(
        f"| client | {who} answered, median | / no guard | rounds | calls | answered | "
        "refused by the guard | other failures | requests to Websim | 429s from Websim | "
        "median s to answer | answered / s |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for client in CLIENTS:
        share = median([run.share for run in runs[client]])
        middle = median_run(runs[client])
        others = Counter(middle.failures)
        refused = others.pop("refused by the guard", 0)
        other = ", ".join(f"{n} {what}" for what, n in others.most_common()) or "-"
        ratio = "baseline" if client == CLIENTS[0] else f"{share / baseline:.2f}"
        rounds = " ".join(f"{run.share:.0%}" for run in runs[client])
        print(
            f"| {client} | {share:.0%} | {ratio} | {rounds} | {middle.calls:,} | "
            f"{middle.answered:,} | {refused:,} | {other} | {middle.requests:,} | "
            f"{middle.rate_limited:,} | {seconds(middle.answer_seconds)} | "
            f"{middle.per_second:.1f} |"
        )
    sys.stdout.flush()


def targets(
    attacked: dict[str, list[Run]], everyday_runs: dict[str, list[Run]]
) -> list[tuple[str, str, str, bool]]:
    goals = []
    for name, runs, target in (
        (
            "the victim's calls answered, an attacker hanging up on every try",
            attacked,
            VICTIM_TARGET,
        ),
        ("calls answered, 8 % of Websim's answers 429", everyday_runs, EVERYDAY_TARGET),
    ):
        now, before, baseline = (median([run.share for run in runs[c]]) for c in reversed(CLIENTS))
        goals.append(
            (
                f"{name}, with the guard",
                f"{now:.0%} ({now / baseline:.2f} of no guard's {baseline:.0%}; "
                f"the guard before: {before:.0%})",
                f">= {target:.0%}",
                now >= target,
            )
        )
    return goals


def print_targets(goals: Sequence[tuple[str, str, str, bool]]) -> None:
    print("\n## Targets\n")
    print("| target | measured | goal | |")
    print("|---|---|---|---|")
    for name, measured, goal, met in goals:
        print(f"| {name} | {measured} | {goal} | {'met' if met else 'missed'} |")


async def run_all(plan: Plan) -> list[tuple[str, str, str, bool]]:
    attacked = await rounds_of(
        lambda client, number: attack(client, plan), plan, "attacker and victim"
    )
    print_table(
        "An attacker who hangs up on every try",
        f"Websim answers a chat in {ANSWER_SECONDS:g} s; the attacker's first call meets a 429 "
        f"asking for {RETRY_AFTER:g} s, then it calls every {RETRY_AFTER:g} s (or when a "
        f"refusal says to) and hangs up {HANG_UP_AFTER:g} s into every call. The victim calls "
        f"for {plan.attack_seconds:g} s, again {VICTIM_THINKS:g} s after each answer or "
        f"failure, with a {DEADLINE:g} s deadline. Shares are the victim's; the other columns "
        "are the median round's. 429s from Websim: the one the attacker met.",
        attacked,
        "victim's calls",
    )
    everyday_runs = await rounds_of(
        lambda client, number: everyday(client, plan, number), plan, "everyday 429s"
    )
    print_table(
        "Websim's everyday 429s",
        f"{CALLERS} callers call for {plan.everyday_seconds:g} s, again {CALLER_THINKS:g} s "
        f"after each answer or failure, with a {DEADLINE:g} s deadline. Websim answers "
        f"{RATE_LIMITED:.0%} of chat requests (drawn anew each round, the same for every "
        f"client) with 429 and `Retry-After: {RETRY_AFTER:g}`, the others in "
        f"{EVERYDAY_ANSWER_SECONDS:g} s. The client retries 3 times, waiting as Websim asks. "
        "The other columns are the median round's.",
        everyday_runs,
        "calls",
    )
    return targets(attacked, everyday_runs)


def print_header(plan: Plan, quick: bool) -> None:
    print("# Websim Studio upstream guard benchmark\n")
    print(
        f"Python {platform.python_version()}, {os.cpu_count()} CPUs, "
        f"{'--quick' if quick else 'full'} run, {plan.rounds} rounds. The callers, the client "
        "and the emulators all run in this process, on one event loop.",
        flush=True,
    )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"a short smoke run ({QUICK.rounds} rounds of {QUICK.attack_seconds:g} s and "
        f"{QUICK.everyday_seconds:g} s)",
    )
    parser.add_argument(
        "--rounds", type=int, help="rounds of each scenario, instead of the run's own number"
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    plan = QUICK if args.quick else FULL
    if args.rounds is not None:
        plan = dataclasses.replace(plan, rounds=max(args.rounds, 1))
    print_header(plan, args.quick)
    started = time.perf_counter()
    goals = asyncio.run(run_all(plan))
    print_targets(goals)
    met = sum(goal[3] for goal in goals)
    print(f"\n{met} of {len(goals)} targets met; took {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
