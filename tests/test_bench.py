"""The benchmarks still run: a quick pass of each, its figures not judged here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def test_chat_roundtrip_benchmark_runs_and_reports_every_target() -> None:
    result = subprocess.run(
        [sys.executable, str(BENCH / "chat_roundtrip.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for line in ("p50 latency, websim_core / floor", "throughput, websim_core / per-request"):
        assert result.stdout.count(line) == 2, result.stdout  # once for http, once for https
