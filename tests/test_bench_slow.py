"""bench/slow_clients.py still runs: a quick pass, its figures printed, not judged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "slow_clients.py"


# Two apps in turn, each flooded until its header deadline (10 s) closes the flood.
@pytest.mark.timeout(150)
def test_slow_clients_benchmark_runs_and_prints_its_figures() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=140,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for run in ("deadlines only (per-address cap lifted):", "default settings (64 per address):"):
        assert out.count(run) == 1, out
    assert out.count("another client's /healthz, under flood:") == 2, out
    assert out.count("flood connections all closed after") == 2, out
