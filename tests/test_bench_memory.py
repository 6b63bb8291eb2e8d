"""bench/refused_memory.py still runs: a quick pass, its tables printed, its figures not judged."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parent.parent / "bench" / "refused_memory.py"


# Four idle waits past the app's release interval, after the app starts.
@pytest.mark.timeout(150)
def test_refused_memory_benchmark_runs_and_prints_its_tables() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick"],
        capture_output=True,
        text=True,
        timeout=140,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for heading in ("## Memory that refusals give back", "## Targets"):
        assert out.count(heading) == 1, out
    for kind in ("(baseline)", "bad role", "Websim answers 400", "Gradio `/call/chat`"):
        assert kind in out, out
