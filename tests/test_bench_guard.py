"""bench/guard.py still runs: one quick round, its tables printed, its figures not judged."""

from __future__ import annotations

import re

import pytest

from tests.test_bench import run_quick
from tests.test_bench_public import tables

SECTIONS = (
    "## An attacker who hangs up on every try",
    "## Websim's everyday 429s",
    "## Targets",
)
CLIENTS = ["no guard (baseline)", "the guard before", "the guard now"]


# One round of each scenario, three clients side by side: about 20 s.
@pytest.mark.timeout(90)
def test_guard_benchmark_runs_and_prints_its_tables() -> None:
    out = run_quick("guard.py", "--rounds", "1", timeout=80).stdout
    for section in SECTIONS:
        assert out.count(section) == 1, out

    printed = tables(out)
    assert len(printed) == 3, out
    for table in printed:
        assert len({len(row) for row in table}) == 1, table  # every row fills every column
    attack, everyday, targets = printed
    for table in (attack, everyday):
        assert [row[0] for row in table[1:]] == CLIENTS
        assert table[1][2] == "baseline"
        for row in table[1:]:
            assert re.fullmatch(r"\d+%", row[1]), row
            assert all(re.fullmatch(r"[\d,]+", cell) for cell in row[4:7]), row
        for row in table[2:]:
            assert re.fullmatch(r"\d+\.\d\d", row[2]), row  # the ratio to the baseline
    assert len(targets) == 3
    assert all(row[-1] in ("met", "missed") for row in targets[1:]), targets
    assert re.search(r"(?m)^\d+ of \d+ targets met; took \d+ s$", out), out
