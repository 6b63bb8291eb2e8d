"""The benchmarks still run: a quick pass of each, its figures not judged here."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench"


def run_quick(
    script: str, *arguments: str, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """`bench/<script> --quick *arguments`, which must exit 0 within `timeout` seconds."""
    result = subprocess.run(
        [sys.executable, str(BENCH / script), "--quick", *arguments],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    return result


def test_chat_roundtrip_benchmark_runs_and_reports_every_target() -> None:
    result = run_quick("chat_roundtrip.py")
    for line in ("p50 latency, websim_core / floor", "throughput, websim_core / per-request"):
        assert result.stdout.count(line) == 2, result.stdout  # once for http, once for https


def test_app_load_benchmark_runs_and_reports_its_figures() -> None:
    result = run_quick("app_load.py")
    assert re.search(r"wall/L\s+p50/L\s+p99/L\s+RSS MB idle/peak", result.stdout), result.stdout
    figures = r"\s+\d+\.\d\d" * 5 + r"\s+\d+/\d+\s+[\d./]+$"
    for app, callers, users in [
        ("as configured", "gradio_client", 8),
        ("as configured", "protocol floor", 8),
        ("concurrency 1", "gradio_client", 4),
    ]:
        row = rf"(?m)^  {app}\s+{callers}\s+{users}{figures}"
        assert len(re.findall(row, result.stdout)) == 1, result.stdout
    assert "baseline extrapolated to" in result.stdout
    assert "failed:" not in result.stdout  # every user got their own reply
