"""bench/slow_clients.py still runs: a quick pass, its figures printed, not judged."""

from __future__ import annotations

import pytest

from tests.test_bench import run_quick


# Two apps in turn, each flooded until its header deadline (10 s) closes the flood.
@pytest.mark.timeout(150)
def test_slow_clients_benchmark_runs_and_prints_its_figures() -> None:
    out = run_quick("slow_clients.py", timeout=140).stdout
    for run in ("deadlines only (per-address cap lifted):", "default settings (64 per address):"):
        assert out.count(run) == 1, out
    assert out.count("another client's /healthz, under flood:") == 2, out
    assert out.count("flood connections all closed after") == 2, out
