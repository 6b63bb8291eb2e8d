"""The per-session rate limit: a sliding one-minute window, refusals not counted, memory bounded."""

from __future__ import annotations

import pytest

from studio import rate_limit
from studio.rate_limit import SessionRateLimiter, SessionRateLimitError, describe_wait


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_session_gets_its_share_then_the_wait_until_the_oldest_leaves_the_window() -> None:
    clock = Clock()
    limiter = SessionRateLimiter(3, clock=clock)

    assert [limiter.acquire("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    clock.now += 20
    assert limiter.acquire("a") == pytest.approx(40.0)
    assert limiter.acquire("b") == 0.0  # another session is not affected
    clock.now += 40
    assert limiter.acquire("a") == 0.0


def test_refused_requests_do_not_push_the_wait_further() -> None:
    clock = Clock()
    limiter = SessionRateLimiter(1, clock=clock)
    limiter.acquire("a")

    for _ in range(5):
        clock.now += 10
        limiter.acquire("a")

    clock.now += 10
    assert limiter.acquire("a") == 0.0  # 60 s after the only counted request


def test_zero_means_no_limit() -> None:
    limiter = SessionRateLimiter(0)
    assert all(limiter.acquire("a") == 0.0 for _ in range(1000))


def test_check_raises_with_a_sentence_saying_when() -> None:
    limiter = SessionRateLimiter(1)
    limiter.check("a")

    with pytest.raises(
        SessionRateLimitError, match=r"in the last minute.*try again in 60 seconds\.$"
    ):
        limiter.check("a")


def test_idle_sessions_are_forgotten_and_the_table_is_bounded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(rate_limit, "MAX_TRACKED_SESSIONS", 100)
    clock = Clock()
    limiter = SessionRateLimiter(5, clock=clock)

    for number in range(250):
        limiter.acquire(f"tab-{number}")
    assert len(limiter._sent) == 100

    clock.now += 61
    limiter.acquire("late")
    assert list(limiter._sent) == ["late"]


@pytest.mark.parametrize(
    ("seconds", "ending"), [(0.2, "in 1 second."), (1.0, "in 1 second."), (41.3, "in 42 seconds.")]
)
def test_waits_are_rounded_up_to_whole_seconds(seconds: float, ending: str) -> None:
    assert describe_wait(seconds, 20).endswith(ending)
