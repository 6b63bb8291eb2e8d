"""The retry policy: which failures are retried and how long the waits are."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from websim_core import RetryPolicy
from websim_core.retry import (
    is_retryable_status,
    parse_retry_after,
    retry_at_words,
    wait_words,
)


@pytest.mark.parametrize("status", [408, 409, 429, 500, 502, 503, 504, 520, 521, 522, 523, 524])
def test_transient_statuses_are_retried(status: int) -> None:
    assert is_retryable_status(status)


@pytest.mark.parametrize("status", [400, 401, 403, 404, 405, 413, 422])
def test_request_errors_are_not_retried(status: int) -> None:
    assert not is_retryable_status(status)


def test_backoff_doubles_up_to_the_cap_with_jitter_below() -> None:
    policy = RetryPolicy()
    no_jitter = [policy.backoff(n, rand=lambda: 0.0) for n in range(6)]
    full_jitter = [policy.backoff(n, rand=lambda: 1.0) for n in range(6)]
    assert no_jitter == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    assert full_jitter == [0.375, 0.75, 1.5, 3.0, 6.0, 6.0]


@given(st.integers(min_value=0, max_value=60), st.floats(min_value=0, max_value=1))
def test_backoff_stays_within_its_bounds(retry: int, rand: float) -> None:
    policy = RetryPolicy()
    delay = policy.backoff(retry, rand=lambda: rand)
    ceiling = min(0.5 * 2**retry, 8.0)
    assert 0.75 * ceiling - 1e-9 <= delay <= ceiling


def test_attempts_count_the_first_try() -> None:
    assert RetryPolicy(max_retries=3).attempts == 4
    assert RetryPolicy(max_retries=0).attempts == 1


def test_retry_after_ms_wins_over_retry_after() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5


def test_retry_after_in_seconds() -> None:
    assert parse_retry_after({"retry-after": "7"}) == 7.0
    assert parse_retry_after({"retry-after": "0.25"}) == 0.25


def test_retry_after_as_an_http_date() -> None:
    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now + timedelta(seconds=30), usegmt=True)
    assert parse_retry_after({"retry-after": header}, now=now) == 30.0


def test_retry_after_in_the_past_means_now() -> None:
    now = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
    header = format_datetime(now - timedelta(minutes=5), usegmt=True)
    assert parse_retry_after({"retry-after": header}, now=now) == 0.0
    assert parse_retry_after({"retry-after": "-3"}) == 0.0


@pytest.mark.parametrize("value", ["soon", "", "nan", "Tue, 99 Foo 2026"])
def test_unreadable_retry_after_is_no_hint(value: str) -> None:
    assert parse_retry_after({"retry-after": value}) is None


def test_no_header_is_no_hint() -> None:
    assert parse_retry_after({}) is None


@given(st.floats(min_value=0, max_value=1e6, allow_nan=False))
def test_seconds_are_read_back_as_written(seconds: float) -> None:
    assert parse_retry_after({"retry-after": repr(seconds)}) == seconds


@pytest.mark.parametrize(
    ("seconds", "words"),
    [
        (0.412, "1 s"),
        (27.0, "27 s"),
        (29.2, "30 s"),
        (119.5, "120 s"),
        (600, "10 min"),
        (601, "11 min"),
        (9000, "2.5 h"),
    ],
)
def test_waits_are_told_in_whole_units_rounded_up(seconds: float, words: str) -> None:
    assert wait_words(seconds) == words


def test_the_time_to_try_again_is_never_early() -> None:
    now = datetime(2026, 11, 24, 12, 0, 0, 700_000, tzinfo=UTC)
    assert retry_at_words(2.5, now=now) == "try again after 12:00:04 UTC"  # 12:00:03.2 rounded up
    assert retry_at_words(2.3, now=now) == "try again after 12:00:03 UTC"  # exactly 12:00:03
