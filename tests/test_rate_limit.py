"""Per-client limits on the `limits` library: a moving one-minute window, refusals not counted,
uploads in their own bucket, and a storage outage that lets requests through."""

from __future__ import annotations

import socket

import pytest

from studio.services.rate_limit import ClientLimiter, ClientRateLimitError, describe_wait


class Clock:
    """`time.time` for the limiter's memory storage and for the wait it reports."""

    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr("limits.aio.storage.memory.time.time", fake)
    monkeypatch.setattr("studio.services.rate_limit.time.time", fake)
    return fake


async def test_a_client_gets_its_share_then_the_wait_until_the_oldest_leaves_the_window(
    clock: Clock,
) -> None:
    limiter = ClientLimiter(3)

    for _ in range(3):
        await limiter.hit("a")
    clock.now += 20
    with pytest.raises(ClientRateLimitError) as refused:
        await limiter.hit("a")
    assert refused.value.wait == pytest.approx(40.0, abs=1)
    await limiter.hit("b")  # another client is not affected
    clock.now += 41
    await limiter.hit("a")


async def test_a_refused_request_is_not_counted(clock: Clock) -> None:
    limiter = ClientLimiter(1)
    await limiter.hit("a")
    for _ in range(5):
        clock.now += 10
        with pytest.raises(ClientRateLimitError):
            await limiter.hit("a")
    clock.now += 11  # 61 s after the one counted request
    await limiter.hit("a")


async def test_uploads_have_their_own_larger_bucket(clock: Clock) -> None:
    limiter = ClientLimiter(1)
    await limiter.hit("a")
    for _ in range(4):
        await limiter.hit("a", "uploads")
    with pytest.raises(ClientRateLimitError, match=r"You have sent 4 uploads in the last minute"):
        await limiter.hit("a", "uploads")


async def test_zero_turns_the_limit_off() -> None:
    limiter = ClientLimiter(0)
    for _ in range(100):
        await limiter.hit("a")


async def test_an_unreachable_storage_is_counted_on_this_replica_and_said_to_be_degraded() -> None:
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    limiter = ClientLimiter(1, f"redis://127.0.0.1:{port}")

    await limiter.hit("a")  # counted in this replica's memory: never let through unlimited
    with pytest.raises(ClientRateLimitError):
        await limiter.hit("a")
    assert limiter.degraded
    assert await limiter.storage_state() == "degraded"
    assert await ClientLimiter(1).storage_state() == "ok"


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0.2, "try again in 1 second."), (1.0, "try again in 1 second."), (41.3, "in 42 seconds.")],
)
def test_the_wait_is_said_in_whole_seconds(seconds: float, expected: str) -> None:
    sentence = describe_wait(seconds, 20)
    assert sentence.startswith("You have sent 20 requests in the last minute")
    assert sentence.endswith(expected)
