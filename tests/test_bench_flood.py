"""bench/refusal_flood.py still runs: a quick pass, its tables printed, its figures not judged."""

from __future__ import annotations

import pytest

from tests.test_bench import run_quick


# Two apps start, then one round of each: idle, then flooded.
@pytest.mark.timeout(150)
def test_refusal_flood_benchmark_runs_and_prints_its_tables() -> None:
    out = run_quick("refusal_flood.py", timeout=140).stdout
    for heading in ("## One client flooding the loop with refused bodies", "## Targets"):
        assert out.count(heading) == 1, out
    for app in ("refusal budget (as deployed)", "no budget (limits off, baseline)"):
        assert app in out, out
