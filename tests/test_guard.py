"""UpstreamGuard: one wall (a 429 with a wait, refusals in a row) holds every call back a while."""

from __future__ import annotations

import asyncio
import re
import threading
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
from websim_core.guard import MAX_WAIT, TRIAL_RETRY_AFTER

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


async def enter(guard: UpstreamGuard, wait: float = MAX_WAIT) -> Any:
    """Take a turn and keep it: the test leaves it (`__aexit__`) when the call would end."""
    turn = guard.admission(wait=wait)
    await turn.__aenter__()
    return turn


async def settled(task: asyncio.Future[Any]) -> bool:
    """Whether `task` finishes once everything woken so far has run."""
    for _ in range(10):
        await asyncio.sleep(0)
    return task.done()


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


async def test_when_a_pause_ends_one_call_tries_first_and_the_rest_wait_for_its_answer(
    clock: Clock,
) -> None:
    guard = UpstreamGuard(clock=clock)
    guard.record(429, retry_after=5)  # the probe that would retry went away
    clock.advance(5)

    trial = await enter(guard)  # the first to come tries Websim alone
    held = [asyncio.ensure_future(enter(guard)) for _ in range(3)]
    assert not any([await settled(call) for call in held])  # held, not refused
    trial.record(200)  # its answer came back: everyone goes again
    assert all([await settled(call) for call in held])
    guard.check()


async def test_a_trial_that_ends_without_an_answer_hands_the_try_to_the_next_call(
    clock: Clock,
) -> None:
    guard = UpstreamGuard(clock=clock)
    guard.record(429, retry_after=1)
    clock.advance(1)
    first = await enter(guard)
    second, third = asyncio.ensure_future(enter(guard)), asyncio.ensure_future(enter(guard))
    assert not await settled(second)
    await first.__aexit__(asyncio.CancelledError, asyncio.CancelledError(), None)  # hung up
    assert await settled(second)  # at once, on the same clock: no wait for a timer
    assert not await settled(third)  # the second is the trial now; the third still waits for it
    second.result().record(200)
    assert await settled(third)


async def test_a_caller_who_hangs_up_and_calls_again_cannot_take_every_try(
    clock: Clock,
) -> None:
    guard = UpstreamGuard(clock=clock)
    guard.record(429, retry_after=1)
    clock.advance(1)
    attacker = await enter(guard)
    victim = asyncio.ensure_future(enter(guard))
    assert not await settled(victim)
    await attacker.__aexit__(asyncio.CancelledError, asyncio.CancelledError(), None)
    # It asks again at once: its new call runs before the victim's task is even woken.
    attacker_again = asyncio.ensure_future(enter(guard))
    assert await settled(victim)  # the try was handed to the victim, held longest
    assert not await settled(attacker_again)
    victim.result().record(200)
    assert await settled(attacker_again)


async def test_a_held_call_that_is_cancelled_passes_the_try_it_was_handed_on(
    clock: Clock,
) -> None:
    guard = UpstreamGuard(clock=clock)
    guard.record(429, retry_after=1)
    clock.advance(1)
    first = await enter(guard)
    second, third = asyncio.ensure_future(enter(guard)), asyncio.ensure_future(enter(guard))
    assert not await settled(third)
    await first.__aexit__(None, None, None)  # the try is handed to the second ...
    second.cancel()  # ... whose caller leaves before it runs
    assert await settled(third)
    assert second.cancelled()


async def test_when_the_trial_is_told_to_wait_again_the_held_calls_hear_the_new_wait(
    clock: Clock,
) -> None:
    guard = UpstreamGuard(clock=clock)
    guard.record(429, retry_after=1)
    clock.advance(1)
    trial = await enter(guard)
    held = asyncio.ensure_future(enter(guard))
    assert not await settled(held)
    assert trial.record(429, retry_after=5) is not None  # the trial's call is the new probe
    assert await settled(held)
    error = held.exception()
    assert isinstance(error, UpstreamPausedError)
    assert error.retry_after == 5 and "nothing is sent for another 5 s:" in str(error)


async def test_a_call_that_may_not_wait_for_a_trial_hears_of_it_and_is_told_a_second(
    clock: Clock,
) -> None:
    guard = UpstreamGuard(clock=clock)
    guard.record(429, retry_after=1)
    clock.advance(1)
    guard.check()  # asking takes no turn: the way is still open for the first to try
    await enter(guard)
    error = paused_error(guard)  # may not be held at all
    assert error.retry_after == TRIAL_RETRY_AFTER  # the trial's answer is due any moment
    assert re.fullmatch(
        r"Websim asked this server to wait \(rate limited, 429\); one call is trying Websim "
        r"again first: " + TRY_AGAIN,
        str(error),
    )


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


def test_a_call_that_may_not_wait_out_a_pause_is_refused_at_once_with_the_time_left(
    clock: Clock,
) -> None:
    guard = UpstreamGuard(clock=clock)
    guard.record(429, retry_after=30)
    clock.advance(3)
    turn = guard.admission(wait=20)
    with pytest.raises(UpstreamPausedError, match="nothing is sent for another 27 s:") as caught:
        asyncio.run(turn.__aenter__())
    assert caught.value.retry_after == 27  # what is left, not what was first asked


def test_a_call_is_held_at_most_max_wait_whatever_its_deadline(clock: Clock) -> None:
    guard = UpstreamGuard(max_wait=5, clock=clock)
    guard.record(429, retry_after=8)
    with pytest.raises(UpstreamPausedError) as caught:
        guard.check(wait=3600)
    assert caught.value.retry_after == 8
    clock.advance(3.5)
    guard.check(wait=3600)  # 4.5 s to go: it would be held


# -- holding a call, on the real clock ------------------------------------------------------------


async def test_a_call_that_may_wait_out_a_pause_is_held_then_sent() -> None:
    guard = UpstreamGuard()
    guard.record(429, retry_after=0.3)
    started = time.monotonic()
    turn = await enter(guard, wait=1)
    assert 0.25 < time.monotonic() - started < 1.0
    assert not guard.state().paused
    turn.record(200)


async def test_a_call_held_for_a_trial_is_held_no_longer_than_it_may_wait() -> None:
    guard = UpstreamGuard()
    guard.record(429, retry_after=0.05)
    await asyncio.sleep(0.06)
    await enter(guard)  # the trial, and it never answers
    started = time.monotonic()
    with pytest.raises(
        UpstreamPausedError, match="one call is trying Websim again first"
    ) as caught:
        await enter(guard, wait=0.3)
    assert 0.25 < time.monotonic() - started < 1.0
    assert caught.value.retry_after == TRIAL_RETRY_AFTER


def test_one_guard_serves_calls_on_several_event_loops(clock: Clock) -> None:
    """As when the g4f provider's synchronous calls run on a loop of their own, in a thread."""
    guard = UpstreamGuard(clock=clock)
    guard.record(429, retry_after=1)
    clock.advance(1)
    trying, answered = threading.Event(), threading.Event()

    async def trial() -> None:
        turn = await enter(guard)
        trying.set()
        await asyncio.to_thread(answered.wait, 5)
        turn.record(200)

    thread = threading.Thread(target=asyncio.run, args=(trial(),))
    thread.start()
    assert trying.wait(5)

    async def held_on_this_loop() -> None:
        held = asyncio.ensure_future(enter(guard))
        assert not await settled(held)
        answered.set()  # the other loop's trial is answered: this loop's call is woken
        await asyncio.wait_for(held, 5)

    asyncio.run(held_on_this_loop())
    thread.join(5)


@pytest.mark.parametrize(
    "arguments",
    [{"refusals_to_pause": 0}, {"refusal_pause": 0}, {"max_pause": -1}, {"max_wait": -1}],
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


async def wait_until(condition: Any, seconds: float = 5.0) -> None:
    give_up = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < give_up, "timed out waiting"
        await asyncio.sleep(0.01)


ANSWER = "Emulator reply to 1 message. You said: Hello"


async def crowd_behind_a_429(emulator: Emulator, guard: UpstreamGuard | None) -> dict[str, Any]:
    """Twenty calls meet Websim's 429 asking for 1 s, and twenty more come during that second
    while Websim still answers 429; then Websim answers again, its first answer taking 0.5 s."""
    emulator.script("chat", *[Fault.status(429, retry_after="1")] * 100)
    async with WebsimClient(emulator.base_url, guard=guard) as client:
        first = [asyncio.ensure_future(timed(client.chat(HELLO))) for _ in range(20)]
        await asyncio.sleep(0.3)
        second = [asyncio.ensure_future(timed(client.chat(HELLO))) for _ in range(20)]
        await asyncio.sleep(0.5)
        in_the_wall = len(emulator.requests)
        emulator.clear_faults()
        emulator.script("chat", Fault.hang(0.5))
        await wait_until(lambda: len(emulator.requests) > in_the_wall)
        await asyncio.sleep(0.25)  # the first request after the wall is still being answered
        while_first_answered = len(emulator.requests) - in_the_wall
        outcomes = await asyncio.gather(*first, *second)
    return {
        "in the wall": in_the_wall,
        "while the first is answered": while_first_answered,
        "in all": len(emulator.requests),
        "answered": sum(result == ANSWER for _, result in outcomes),
    }


async def test_a_guard_holds_a_crowd_out_of_a_429_and_serves_it_after_one_call_tried(
    emulator: Emulator,
) -> None:
    seen = await crowd_behind_a_429(emulator, UpstreamGuard())
    # The twenty first attempts were all in flight together; the twenty latecomers were held,
    # unsent; after the wait one call tried alone, and once it was answered everyone went.
    assert seen == {
        "in the wall": 20,
        "while the first is answered": 1,
        "in all": 60,
        "answered": 40,
    }


async def test_without_a_guard_the_crowd_retries_into_the_429(emulator: Emulator) -> None:
    seen = await crowd_behind_a_429(emulator, None)
    # The latecomers were sent into the wall too, and everyone retried at once after it.
    assert seen["in the wall"] == 40
    assert seen["while the first is answered"] > 1
    assert (seen["in all"], seen["answered"]) == (80, 40)


async def test_a_call_whose_deadline_ends_before_the_pause_hears_the_time_left_at_once(
    emulator: Emulator,
) -> None:
    emulator.script("chat", Fault.status(429, retry_after="3"))
    guard = UpstreamGuard()
    async with WebsimClient(emulator.base_url, guard=guard) as client:
        with pytest.raises(RateLimitError):  # 3 s do not fit in its 1 s deadline
            await client.chat(HELLO, deadline=1)
        await asyncio.sleep(0.5)
        took, error = await timed(client.chat(HELLO, deadline=2))
    assert isinstance(error, UpstreamPausedError), error
    assert took < 0.3, took
    assert error.retry_after is not None and 2.2 < error.retry_after < 2.6  # the real time left
    assert "nothing is sent for another 3 s:" in str(error)  # rounded up to whole seconds
    assert len(emulator.requests) == 1


async def test_a_trial_whose_caller_hangs_up_lets_the_next_call_try_at_once(
    emulator: Emulator,
) -> None:
    emulator.script("chat", Fault.status(429, retry_after_ms="200"), Fault.hang(30))
    guard = UpstreamGuard()
    async with WebsimClient(emulator.base_url, guard=guard) as client:
        with pytest.raises(RateLimitError):  # the call told to wait gives up: no probe retries
            await client.chat(HELLO, deadline=0.1)
        await asyncio.sleep(0.25)
        trial = asyncio.ensure_future(client.chat(HELLO))
        await wait_until(lambda: emulator.in_flight == 1)
        held = asyncio.ensure_future(client.chat(HELLO, deadline=5))
        await asyncio.sleep(0.3)
        assert len(emulator.requests) == 2  # held behind the trial, not refused
        assert not held.done()
        trial.cancel()  # its caller leaves mid-call
        hung_up = time.perf_counter()
        assert await held == ANSWER
        assert time.perf_counter() - hung_up < 0.5
    assert len(emulator.requests) == 3


async def test_a_trial_that_fails_on_the_connection_lets_the_next_call_try_at_once() -> None:
    # Every request is answered (or cut) after 0.3 s.
    async with Emulator(latency=0.3) as emulator:
        emulator.script("chat", Fault.status(429, retry_after_ms="400"), Fault.disconnect())
        guard = UpstreamGuard()
        async with WebsimClient(emulator.base_url, guard=guard) as client:
            with pytest.raises(RateLimitError):  # 0.3 s + 0.4 s do not fit in its deadline
                await client.chat(HELLO, deadline=0.5)
            await wait_until(lambda: not guard.state().paused)
            trial = asyncio.ensure_future(client.chat(HELLO))  # its connection will be cut
            await wait_until(lambda: emulator.in_flight == 1)
            took, reply = await timed(client.chat(HELLO, deadline=5))
            assert reply == ANSWER
            # Held for the trial's 0.3 s, then its own 0.3 s: not the trial's backoff and retry.
            assert took < 0.3 + 0.3 + 0.25, took
            assert await trial == ANSWER


async def test_an_attacker_who_cancels_every_trial_cannot_keep_a_victim_out(
    emulator: Emulator,
) -> None:
    """Websim answers in 0.4 s. The attacker meets a 429 asking for 0.3 s and hangs up; from
    then on it calls every 0.3 s, hanging up after 0.1 s, to be first to try each time."""
    emulator.script("chat", Fault.status(429, retry_after_ms="300"), *[Fault.hang(0.4)] * 100)
    guard = UpstreamGuard()
    async with WebsimClient(emulator.base_url, guard=guard) as client:

        async def attack() -> None:
            while True:
                call = asyncio.ensure_future(client.chat(HELLO))
                await asyncio.sleep(0.1)
                call.cancel()
                await asyncio.sleep(0.2)

        attacker = asyncio.ensure_future(attack())
        await wait_until(lambda: guard.state().paused)
        outcomes = [await timed(client.chat(HELLO, deadline=5)) for _ in range(3)]
        attacker.cancel()
    assert [result for _, result in outcomes] == [ANSWER] * 3
    assert outcomes[0][0] < 1.5  # the pause, perhaps one cancelled try, then its own answer


async def test_a_cloudflare_wall_pauses_calls_over_the_wire(emulator: Emulator) -> None:
    emulator.script("chat", *[Fault.html(403)] * 3)
    # Holds no call, so that each hears of the pause; the pause is short to keep the test short.
    guard = UpstreamGuard(refusals_to_pause=3, refusal_pause=0.3, max_wait=0)
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
