"""The layering of docs/architecture.md §3, as import-linter contracts in pyproject.toml:
imports run downward only and no modules import each other, lazy imports included."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
CONTRACTS = 4


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(root), "NO_COLOR": "1"}
    return subprocess.run([str(LINT_IMPORTS), "--no-cache"], cwd=root, env=env,
                          capture_output=True, text=True, timeout=120)


def test_the_tree_keeps_every_contract() -> None:
    result = lint(REPO)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {CONTRACTS} kept, 0 broken." in result.stdout


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "pytasks", tmp_path / "pytasks",
                    ignore=shutil.ignore_patterns("__pycache__", "pytasks-monitor"))
    shutil.copy(REPO / "pyproject.toml", tmp_path)
    return tmp_path


def _append(path: Path, line: str) -> None:
    path.write_text(path.read_text() + f"\n\ndef _planted() -> None:\n    {line}\n")


@pytest.mark.parametrize(("module", "line", "broken"), [
    # Upward: a record module reaching for the task layer (what containers.py once did).
    ("state/container_record.py", "from pytasks import task", "pytasks layers run downward"),
    # Upward inside the CLI: the App reaching for a verb.
    ("cli/app.py", "from pytasks.cli.verbs import kill", "cli layers run downward"),
    # A cycle between siblings of one layer.
    ("state/atomic.py", "from pytasks.state import lock", "no import cycles"),
])
def test_a_planted_import_breaks_its_contract(copy: Path, module: str, line: str,
                                               broken: str) -> None:
    if module == "state/atomic.py":
        _append(copy / "pytasks/state/lock.py", "from pytasks.state import atomic")
    _append(copy / "pytasks" / module, line)
    result = lint(copy)
    assert result.returncode != 0, result.stdout
    assert f"{broken} BROKEN" in result.stdout, result.stdout  # an upward import is a cycle too
