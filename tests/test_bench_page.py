"""bench/page_load.py still runs: a quick pass, its figures printed, not judged."""

from __future__ import annotations

import re

import pytest

from tests.test_bench import run_quick


@pytest.mark.timeout(150)
def test_page_load_benchmark_prints_both_pages_and_the_ratios() -> None:
    out = run_quick("page_load.py", timeout=140).stdout
    figures = r"\s+\d+\s+\d+-\d+\s+\d+\s+\d+$"
    for page in ("Websim Studio", "bare ChatInterface"):
        assert re.search(rf"(?m)^  {page}{figures}", out), out
    # Everything the page shows comes from its own server.
    assert "Websim Studio also asked for" not in out, out
    last = out.strip().splitlines()[-1]
    assert re.fullmatch(
        r"cold load, studio / bare ChatInterface: ready \d+\.\d\dx, fetched \d+\.\d\dx", last
    ), out
