"""bench/refused_memory.py still runs: a quick pass, its tables printed, its figures not judged."""

from __future__ import annotations

import pytest

from tests.test_bench import run_quick


# Four idle waits past the app's release interval, after the app starts.
@pytest.mark.timeout(150)
def test_refused_memory_benchmark_runs_and_prints_its_tables() -> None:
    out = run_quick("refused_memory.py", timeout=140).stdout
    for heading in ("## Memory that refusals give back", "## Targets"):
        assert out.count(heading) == 1, out
    for kind in ("(baseline)", "bad role", "Websim answers 400", "Gradio `/call/chat`"):
        assert kind in out, out
