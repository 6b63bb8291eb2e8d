"""bench/refusal_flood.py still runs: a quick pass, its tables printed, its figures not judged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "refusal_flood.py"


# Two apps start, then one round of each: idle, then flooded.
@pytest.mark.timeout(150)
def test_refusal_flood_benchmark_runs_and_prints_its_tables() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=140,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for heading in ("## One client flooding the loop with refused bodies", "## Targets"):
        assert out.count(heading) == 1, out
    for app in ("refusal budget (as deployed)", "no budget (limits off, baseline)"):
        assert app in out, out
