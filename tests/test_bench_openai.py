"""The /v1 benchmark still runs: a quick pass, its figures not judged here."""

from __future__ import annotations

import re

from tests.test_bench import run_quick


def test_openai_load_benchmark_runs_and_reports_its_figures() -> None:
    result = run_quick("openai_load.py")
    out = result.stdout
    assert re.search(r"(?m)^  /v1/chat/completions\s+\d+\.\d\d / \d+\.\d\d$", out), out
    assert re.search(r"(?m)^  websim_core direct\s+\d+\.\d\d / \d+\.\d\d$", out), out
    assert re.search(r"16 callers at once.*\n  wall \d+\.\d\d s .* per call\)$", out, re.M), out
    assert re.search(r"(?m)^  Gradio /chat\s+\d+\.\d\d ms", out), out
    assert re.search(r"p50 added by the app at most 1 ms: -?\d+\.\d\d ms", out), out
    assert "failed:" not in out  # every caller got its own reply
