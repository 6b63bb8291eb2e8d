"""UpstreamGuard: one wall (a 429 with a wait, refusals in a row) holds every call back a while."""

from __future__ import annotations

import asyncio
import re
import time
from typing import Any

import pytest
from aioresponses import aioresponses
from yarl import URL

from websim_core import (
    AttemptRecord,
    GuardState,
    RateLimitError,
    UpstreamError,
    UpstreamGuard,
    UpstreamPausedError,
    WebsimClient,
)
from websim_core.emulator import Emulator, Fault
from websim_core.guard import TRIAL_SECONDS

from .conftest import CHAT_URL, HELLO

CLOUDFLARE = 'a Cloudflare challenge page ("Just a moment...")'
TRY_AGAIN = r"try again after \d\d:\d\d:\d\d UTC$"


class Clock:
    """A monotonic clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> Clock:
    return Clock()


def paused_error(guard: UpstreamGuard, token: object | None = None) -> UpstreamPausedError:
    with pytest.raises(UpstreamPausedError) as caught:
        guard.check(token)
    return caught.value


# -- the guard on its own -------------------------------------------------------------------------


def test_a_429_with_a_wait_pauses_for_that_wait_then_reopens(clock: Clock) -> None:
    guard = UpstreamGuard(clock=clock)
    guard.check()
    token = guard.record(429, detail="Rate limit exceeded", retry_after=30)
    assert token is not None
    clock.advance(3)
    error = paused_error(guard)
    assert (error.status, error.detail, error.retry_after) == (429, "Rate limit exceeded", 27)
    assert re.fullmatch(
        r"Websim asked this server to wait \(rate limited, 429\); nothing is sent for another "
        r"27 s: " + TRY_AGAIN,
        str(error),
    )
    guard.check(token)  # the call whose 429 began the pause is the one probe
    assert guard.state() == GuardState(True, 429, "rate limited, 429", 27)
    clock.advance(27)
    guard.check()  # reopened by itself
    assert guard.state() == GuardState(paused=False)


def test_when_a_pause_ends_one_call_tries_first_and_the_rest_wait_for_its_answer(
    clock: Clock,
) -> None:
    guard = UpstreamGuard(clock=clock)
    guard.record(429, retry_after=5)  # the probe that would retry went away
    clock.advance(5)

    guard.check()  # the first to come tries Websim alone
    held = paused_error(guard)
    assert held.status == 429 and 0 < (held.retry_after or 0) <= TRIAL_SECONDS
    guard.record(200)  # its answer came back: everyone goes again
    guard.check()
    guard.check()


def test_a_trial_that_never_hears_back_lets_another_call_try(clock: Clock) -> None:
    guard = UpstreamGuard(clock=clock)
    guard.record(429, retry_after=1)
    clock.advance(1)
    guard.check()
    paused_error(guard)
    clock.advance(TRIAL_SECONDS)
    guard.check()
    paused_error(guard)


def test_a_429_without_a_wait_does_not_pause(clock: Clock) -> None:
    guard = UpstreamGuard(clock=clock)
    assert guard.record(429) is None
    assert guard.record(429, retry_after=0) is None
    guard.check()


def test_a_long_wait_pauses_for_at_most_max_pause(clock: Clock) -> None:
    guard = UpstreamGuard(max_pause=600, clock=clock)
    guard.record(429, retry_after=86400)
    assert guard.state().retry_in == 600
    assert "nothing is sent for another 10 min:" in str(paused_error(guard))
    clock.advance(600)
    guard.check()


def test_the_wait_is_told_in_whole_seconds_rounded_up(clock: Clock) -> None:
    guard = UpstreamGuard(clock=clock)
    guard.record(429, retry_after=2)
    clock.advance(1.588)
    error = paused_error(guard)
    assert "for another 1 s:" in str(error)
    assert "0.4" not in str(error)
    assert error.retry_after == pytest.approx(0.412)


def test_refusals_in_a_row_pause_for_the_refusal_pause(clock: Clock) -> None:
    guard = UpstreamGuard(refusals_to_pause=3, refusal_pause=30, clock=clock)
    assert guard.record(403, detail=CLOUDFLARE) is None
    assert guard.record(401, detail="login required") is None
    guard.check()
    guard.record(403, detail=CLOUDFLARE)
    error = paused_error(guard)
    assert (error.status, error.detail, error.retry_after) == (403, CLOUDFLARE, 30)
    assert re.fullmatch(
        r"Websim keeps refusing this server \(403: a Cloudflare challenge page "
        r'\("Just a moment\.\.\."\)\); nothing is sent for another 30 s: ' + TRY_AGAIN,
        str(error),
    )
    assert guard.state().reason == f"403: {CLOUDFLARE}"
    clock.advance(30)
    guard.check()


def test_other_failures_neither_count_nor_reset_refusals(clock: Clock) -> None:
    guard = UpstreamGuard(refusals_to_pause=2, clock=clock)
    guard.record(403)
    guard.record(502)
    guard.record(429)
    guard.record(403)
    assert guard.state().paused


def test_refusals_right_after_a_pause_double_it_up_to_the_cap(clock: Clock) -> None:
    guard = UpstreamGuard(refusals_to_pause=3, refusal_pause=30, max_pause=100, clock=clock)
    for _ in range(3):
        guard.record(403)
    pauses = []
    for _ in range(4):
        pauses.append(guard.state().retry_in)
        clock.advance(guard.state().retry_in)
        guard.check()
        guard.record(403)  # the first reply after reopening is refused again: pause at once
    assert pauses == [30, 60, 100, 100]


def test_a_success_resets_the_count_and_the_doubling(clock: Clock) -> None:
    guard = UpstreamGuard(refusals_to_pause=2, refusal_pause=30, clock=clock)
    guard.record(403)
    guard.record(403)
    clock.advance(30)
    guard.record(200)
    guard.record(403)
    guard.check()  # one refusal after a success is not yet a wall
    guard.record(403)
    assert guard.state().retry_in == 30  # and not 60: the doubling started over


def test_a_success_ends_a_refusal_pause_but_not_a_requested_wait(clock: Clock) -> None:
    guard = UpstreamGuard(refusals_to_pause=1, clock=clock)
    guard.record(403)
    assert guard.state().paused
    guard.record(200)  # a call sent before the refusals was served after all
    guard.check()
    guard.record(429, retry_after=10)
    guard.record(200)
    assert (
        guard.state().paused
    )  # Websim asked for the wait; an older call's success changes nothing


def test_refusals_of_calls_sent_before_the_pause_do_not_lengthen_it(clock: Clock) -> None:
    guard = UpstreamGuard(refusals_to_pause=1, refusal_pause=30, clock=clock)
    guard.record(403)
    clock.advance(5)
    for _ in range(10):
        assert guard.record(403) is None
    assert guard.state().retry_in == 25
    clock.advance(25)
    guard.record(403)
    assert guard.state().retry_in == 60  # doubled once, not eleven times


def test_a_second_429_keeps_the_first_probe_and_may_lengthen_the_pause(clock: Clock) -> None:
    guard = UpstreamGuard(clock=clock)
    probe = guard.record(429, retry_after=5)
    assert guard.record(429, retry_after=2) is None
    assert guard.state().retry_in == 5
    assert guard.record(429, retry_after=20) is None
    assert guard.state().retry_in == 20
    guard.check(probe)
    paused_error(guard, object())  # any other token is refused


def test_a_token_from_an_earlier_pause_does_not_pass_a_later_one(clock: Clock) -> None:
    guard = UpstreamGuard(clock=clock)
    old = guard.record(429, retry_after=5)
    clock.advance(5)
    new = guard.record(429, retry_after=5)
    assert new is not None and new is not old
    paused_error(guard, old)
    guard.check(new)


@pytest.mark.parametrize(
    "arguments",
    [{"refusals_to_pause": 0}, {"refusal_pause": 0}, {"max_pause": -1}],
)
def test_bad_settings_are_refused(arguments: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="must be"):
        UpstreamGuard(**arguments)


# -- the guard in the client, HTTP faked ----------------------------------------------------------


def sent(mock: aioresponses) -> int:
    return len(mock.requests.get(("POST", URL(CHAT_URL)), []))


async def test_the_probe_retries_while_other_calls_fail_unsent(
    mocked: aioresponses, waits: list[float]
) -> None:
    mocked.post(CHAT_URL, status=429, headers={"Retry-After": "30"})
    mocked.post(CHAT_URL, payload={"content": "ok"})
    guard = UpstreamGuard()
    async with WebsimClient(guard=guard) as client:
        # `waits` records instead of sleeping: the probe's retry comes while still paused.
        assert await client.chat(HELLO) == "ok"
        assert waits == [30.0]
        with pytest.raises(UpstreamPausedError) as caught:
            await client.chat(HELLO)
    assert sent(mocked) == 2
    assert caught.value.status == 429 and 29 < caught.value.retry_after <= 30  # type: ignore[operator]
    assert isinstance(caught.value, UpstreamError)
    assert not isinstance(caught.value, RateLimitError)


async def test_a_call_mid_retry_fails_at_once_when_another_paused_the_guard(
    mocked: aioresponses, waits: list[float]
) -> None:
    mocked.post(CHAT_URL, status=503)
    guard = UpstreamGuard()
    seen: list[AttemptRecord] = []

    def observe(record: AttemptRecord) -> None:
        seen.append(record)
        if record.outcome == "http_error":
            guard.record(429, retry_after=30)  # another call's 429 arrives meanwhile

    async with WebsimClient(guard=guard, on_attempt=observe) as client:
        with pytest.raises(UpstreamPausedError, match=r"^Websim asked this server to wait"):
            await client.chat(HELLO)
    assert sent(mocked) == 1 and waits == []  # no sleep before failing
    assert [(r.attempt, r.outcome, r.status) for r in seen] == [
        (1, "http_error", 503),
        (2, "paused", 0),
    ]


async def test_refusals_pause_calls_across_callers(mocked: aioresponses) -> None:
    for _ in range(3):
        mocked.post(CHAT_URL, status=403, body="<html><title>Just a moment...</title></html>")
    async with WebsimClient(guard=UpstreamGuard(refusals_to_pause=3)) as client:
        for _ in range(3):
            with pytest.raises(UpstreamError) as refused:
                await client.chat(HELLO)
            assert not isinstance(refused.value, UpstreamPausedError)
        with pytest.raises(UpstreamPausedError) as caught:
            await client.chat(HELLO)
    assert sent(mocked) == 3
    assert str(caught.value).startswith(
        "Websim keeps refusing this server (403: a Cloudflare challenge page"
    )
    assert "nothing is sent for another 30 s" in str(caught.value)


async def test_without_a_guard_nothing_is_held_back(mocked: aioresponses) -> None:
    for _ in range(5):
        mocked.post(CHAT_URL, status=403)
    async with WebsimClient() as client:
        for _ in range(5):
            with pytest.raises(UpstreamError) as caught:
                await client.chat(HELLO)
            assert not isinstance(caught.value, UpstreamPausedError)
    assert sent(mocked) == 5


# -- over real sockets ----------------------------------------------------------------------------


async def timed(call: Any) -> tuple[float, object]:
    started = time.perf_counter()
    try:
        result: object = await call
    except Exception as error:
        result = error
    return time.perf_counter() - started, result


async def crowd_behind_a_429(emulator: Emulator, guard: UpstreamGuard | None) -> list[Any]:
    """Twenty calls meet a 429 asking for 1 s; twenty more come during that second."""
    emulator.script("chat", *[Fault.status(429, retry_after="1")] * 20)
    async with WebsimClient(emulator.base_url, guard=guard) as client:
        first = [asyncio.ensure_future(timed(client.chat(HELLO))) for _ in range(20)]
        await asyncio.sleep(0.3)
        if guard is not None:
            assert guard.state().paused
        second = await asyncio.gather(*(timed(client.chat(HELLO)) for _ in range(20)))
        return [*await asyncio.gather(*first), *second]


async def test_a_guard_keeps_a_crowd_from_retrying_into_a_429(emulator: Emulator) -> None:
    guard = UpstreamGuard()
    outcomes = await crowd_behind_a_429(emulator, guard)
    replies = [result for _, result in outcomes if isinstance(result, str)]
    paused = [(took, result) for took, result in outcomes if isinstance(result, Exception)]
    # The twenty first attempts were all in flight together; then only the probe went again.
    assert len(emulator.requests) == 21
    assert len(replies) == 1
    assert len(paused) == 39
    for took, error in paused:
        assert isinstance(error, UpstreamPausedError), error
        assert took < 0.6, took  # at once, not after the second they would have waited
        assert str(error).startswith("Websim asked this server to wait (rate limited, 429)")
    # The probe succeeded after the wait: the way is open again for everyone.
    async with WebsimClient(emulator.base_url, guard=guard) as client:
        assert await client.chat(HELLO) == "Emulator reply to 1 message. You said: Hello"
    assert len(emulator.requests) == 22


async def test_without_a_guard_the_crowd_retries_into_the_429(emulator: Emulator) -> None:
    outcomes = await crowd_behind_a_429(emulator, None)
    assert all(isinstance(result, str) for _, result in outcomes)
    # Every rate-limited call came back for a second request: three times the guarded traffic.
    assert len(emulator.requests) == 60


async def test_a_cloudflare_wall_pauses_calls_over_the_wire(emulator: Emulator) -> None:
    emulator.script("chat", *[Fault.html(403)] * 3)
    guard = UpstreamGuard(refusals_to_pause=3, refusal_pause=0.3)
    async with WebsimClient(emulator.base_url, guard=guard) as client:
        for _ in range(3):
            with pytest.raises(UpstreamError, match=r"^Websim answered 403 Forbidden"):
                await client.chat(HELLO)
        with pytest.raises(UpstreamPausedError, match=r"^Websim keeps refusing this server"):
            await client.chat(HELLO)
        assert len(emulator.requests) == 3
        await asyncio.sleep(0.35)
        assert await client.chat(HELLO)  # reopened by itself; Websim answers again
    assert len(emulator.requests) == 4
    assert not guard.state().paused
