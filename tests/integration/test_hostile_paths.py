"""Symlinks planted inside the roots are refused, never followed (docs/architecture.md §7):
what pytasks creates or writes there goes through directories it checked, and an id is
checked before any path is built from it."""

from __future__ import annotations

from pathlib import Path

import pytest
from helpers.roots import Roots
from tasktools import Tasks

pytestmark = pytest.mark.integration


@pytest.fixture
def elsewhere(tmp_path: Path) -> Path:
    target = tmp_path / "elsewhere"
    target.mkdir()
    return target


def _plant(link: Path, target: Path) -> None:
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


def test_a_symlinked_containers_dir_is_refused(roots: Roots, elsewhere: Path) -> None:
    tasks = Tasks(roots)
    _plant(Path(roots.layout.containers_dir), elsewhere)
    tasks.fails(7, f"refusing to use {roots.layout.containers_dir}: it is a symbolic link",
                "containers", "create", "x", "true")
    assert list(elsewhere.iterdir()) == []


def test_a_symlinked_locks_dir_is_refused(roots: Roots, busybox_rootfs: Path,
                                          elsewhere: Path) -> None:
    tasks = Tasks(roots)
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "x", "true")
    _plant(Path(roots.layout.locks_dir), elsewhere)
    for verb in (["create", "x"], ["delete", "-f", "x"], ["pause", "x"]):
        result = tasks(*verb)
        assert result.returncode == 7, (verb, result)
        assert "it is a symbolic link" in result.stderr
    assert list(elsewhere.iterdir()) == []
    Path(roots.layout.locks_dir).unlink()
    tasks.ok("containers", "delete", "x")


def test_a_symlinked_fifo_dir_is_refused(roots: Roots, busybox_rootfs: Path,
                                         elsewhere: Path) -> None:
    tasks = Tasks(roots)
    _plant(Path(roots.layout.fifo_task_dir("x")), elsewhere)
    result = tasks("run", "--rm", "--rootfs", busybox_rootfs, "x", "echo", "hi")
    assert result.returncode == 7 and "it is a symbolic link" in result.stderr, result
    assert list(elsewhere.iterdir()) == []
    assert tasks.ids() == []


def test_a_symlinked_task_record_parent_is_refused(roots: Roots, busybox_rootfs: Path
                                                   ) -> None:
    """A task dir replaced by a symlink: its record is never written through it."""
    tasks = Tasks(roots)
    tasks.ok("run", "-d", "--rootfs", busybox_rootfs, "--readonly", "t", "true")
    tasks.ok("wait", "t")
    task_dir = Path(roots.layout.task_dir("t"))
    moved = task_dir.with_name("t-real")
    task_dir.rename(moved)
    task_dir.symlink_to(moved)
    result = tasks("start", "t")
    assert "internal error" not in result.stderr, result
    assert result.returncode != 0
    task_dir.unlink()
    moved.rename(task_dir)
    tasks.ok("delete", "t")
    tasks.ok("containers", "delete", "t")


@pytest.mark.parametrize("verb", [["delete", "-f"], ["kill"], ["get"], ["containers", "delete"]])
def test_a_path_as_an_id_is_refused_first(roots: Roots, verb: list[str]) -> None:
    result = Tasks(roots)(*verb, "../../elsewhere")
    assert result.returncode == 2, result
    assert "'../../elsewhere' is invalid" in result.stderr
