"""state/tree.remove_tree: the task-dir cleanup (without shutil)."""

from __future__ import annotations

import os
from pathlib import Path

from pytasks import runtime
from pytasks.state.tree import remove_tree


def test_remove_tree_removes_nested_files_fifos_and_symlinks_without_following(
        tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("x")
    tree = tmp_path / "task"
    (tree / "exec" / "deep").mkdir(parents=True)
    (tree / "task.json").write_text("{}")
    (tree / "exec" / "1.json").write_text("{}")
    os.mkfifo(tree / "exec" / "deep" / "fifo")
    (tree / "link-to-dir").symlink_to(outside)
    (tree / "exec" / "link-to-file").symlink_to(outside / "keep")
    remove_tree(tree)
    assert not tree.exists()
    assert (outside / "keep").read_text() == "x"  # symlinks were removed, not followed


def test_remove_tree_of_a_missing_path_is_quiet(tmp_path: Path) -> None:
    remove_tree(tmp_path / "nothing")


def test_which_finds_executables_on_path_only(tmp_path: Path, monkeypatch) -> None:
    tool = tmp_path / "tool"
    tool.write_text("#!/bin/sh\n")
    plain = tmp_path / "plain"
    plain.write_text("")
    tool.chmod(0o755)
    monkeypatch.setenv("PATH", f"/nonexistent:{tmp_path}")
    assert runtime.resolve_binary("tool") == str(tool)
    assert runtime._which("plain") is None  # not executable
    assert runtime._which("tmp") is None or not os.path.isdir(runtime._which("tmp") or "")
