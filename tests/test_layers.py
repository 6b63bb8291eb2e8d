"""The layers of studio/ hold: each imports only from those below it (studio's docstring), the
surfaces never from each other, websim_core never from studio, and the command line's chat and
image commands never reach Gradio. The contracts are import-linter's, in pyproject.toml; these
tests run them on this tree, and on a copy with one import that breaks them, to show they can."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LINTER = Path(sys.executable).parent / "lint-imports"


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINTER), str(root / "pyproject.toml"), "--no-cache"],
        cwd=root,
        env={**os.environ, "PYTHONPATH": str(root)},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_every_layer_imports_only_downwards() -> None:
    linted = lint_imports(PROJECT_ROOT)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    assert f"{LAYERS} KEPT" in linted.stdout
    assert f"{CLI} KEPT" in linted.stdout


LAYERS = "studio imports only downwards"
CLI = "websim chat and websim image reach no other surface"


@pytest.mark.parametrize(
    ("module", "line", "broken", "told"),
    [
        # A turn that reaches up into a surface.
        ("studio/turns/chat.py", "from ..page import rendering", LAYERS, "studio.turns.chat ->"),
        # One surface importing another.
        ("studio/openai/wire.py", "from ..mcp import MCP_PATH", LAYERS, "studio.openai.wire ->"),
        # The core knowing of the app built on it.
        ("websim_core/replies.py", "import studio.services.config", LAYERS, "websim_core.replies"),
        # `websim chat` loading Gradio, which takes seconds.
        ("studio/cli/chat.py", "import gradio", CLI, "studio.cli.chat -> gradio"),
    ],
)
def test_a_broken_layer_is_caught(
    tmp_path: Path, module: str, line: str, broken: str, told: str
) -> None:
    for package in ("studio", "websim_core"):
        shutil.copytree(PROJECT_ROOT / package, tmp_path / package)
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / module).open("a") as source:
        source.write(f"\n{line}  # noqa\n")
    linted = lint_imports(tmp_path)
    assert linted.returncode == 1, linted.stdout + linted.stderr
    assert f"{broken} BROKEN" in linted.stdout
    assert told in linted.stdout  # the import that broke it, named
