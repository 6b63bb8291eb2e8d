"""The balancer benchmark still runs: a quick pass, its figures not judged here."""

from __future__ import annotations

import re

import pytest

from tests.test_bench import run_quick


# Most of it is two replicas starting, side by side on a busy machine.
@pytest.mark.timeout(120)
def test_balancer_benchmark_runs_and_reports_one_and_two_replicas() -> None:
    out = run_quick("balancer.py", timeout=110).stdout
    figures = r"\s+\d+\.\d\d\s+\d+\s+\d+\.\d\d\s+\d+\.\d\d\s+\d+\.\d\d\s+0$"
    for way in ("direct, one replica", "balancer, one replica", "balancer, two replicas"):
        assert re.search(rf"(?m)^  {way}{figures}", out), out
    assert re.search(r"two replicas / one, through the balancer: \d+\.\d\dx", out), out
    assert "failed:" not in out  # every caller got its own reply
