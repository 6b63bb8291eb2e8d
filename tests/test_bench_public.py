"""bench/public_limits.py still runs: a quick pass, its tables printed, its figures not judged."""

from __future__ import annotations

import re

import pytest

from tests.test_bench import run_quick

SECTIONS = (
    "## Memory under hostile requests",
    "## Websim's 429s: the upstream guard under a storm",
    "## Disk: the files folder",
    "## Targets",
)


def tables(text: str) -> list[list[list[str]]]:
    """Every Markdown table in `text`, as rows of cells (the header first, the rule dropped)."""
    found: list[list[list[str]]] = []
    rows: list[list[str]] = []
    for line in [*text.splitlines(), ""]:
        if line.startswith("|") and line.endswith("|"):
            cells = [cell.strip() for cell in line[1:-1].split("|")]
            if not all(re.fullmatch(r"-+", cell) for cell in cells):
                rows.append(cells)
        elif rows:
            found.append(rows)
            rows = []
    return found


# Two apps start and the storm runs its course: longer than the suite's 60 s on a busy machine.
@pytest.mark.timeout(150)
def test_public_limits_benchmark_runs_and_prints_its_tables() -> None:
    out = run_quick("public_limits.py", timeout=140).stdout
    for section in SECTIONS:
        assert out.count(section) == 1, out
    assert "`WEBSIM_STUDIO_REQUESTS_PER_MINUTE=0`" in out  # the lifted limit is said

    printed = tables(out)
    # Memory phases, RSS along the calls, the storm, the disk, the targets.
    assert len(printed) == 5, out
    for table in printed:
        assert len({len(row) for row in table}) == 1, table  # every row fills every column
        assert len(table) > 1, table
    memory, along, storm, disk, targets = printed

    phases = {row[0]: row for row in memory[1:]}
    assert list(phases) == [
        "idle: after start and one warm-up call",
        "50 MiB bodies, Content-Length + `Expect: 100-continue`",
        "50 MiB bodies, chunked, no Content-Length",
        "ordinary `/chat` calls, a new session each, 32 callers at once",
    ]
    # The ordinary calls were all answered, so their memory is that of served calls.
    ordinary = phases["ordinary `/chat` calls, a new session each, 32 callers at once"]
    assert ordinary[1] == ordinary[2] == "300", ordinary
    assert [row[0] for row in along[1:]] == ["100", "200", "300"]
    for row in along[1:]:
        assert all(re.fullmatch(r"[+-]?\d+(\.\d+)?", cell) for cell in row[1:]), row

    assert [row[:2] for row in storm[1:]] == [
        ["no guard (baseline)", "independently"],
        ["one shared `UpstreamGuard`", "independently"],
        ["no guard (baseline)", "in step"],
        ["one shared `UpstreamGuard`", "in step"],
    ]
    for row in storm[1:]:
        assert all(re.fullmatch(r"[\d,]+", cell) for cell in row[2:8]), row

    assert disk[1][0] == "right after 40 calls"
    assert disk[-1][0].startswith("after SIGTERM")
    assert all(row[-1] in ("met", "missed") for row in targets[1:]), targets
    assert re.search(r"(?m)^\d+ of \d+ targets met; took \d+ s$", out), out
