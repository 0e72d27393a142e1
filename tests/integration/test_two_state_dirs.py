"""Two state dirs on one persistent root (docs/architecture.md §7): the container record
names the state dir that holds its task, so a second task is AlreadyExists and deleting a
container whose task runs elsewhere is FailedPrecondition, whichever state dir asks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.roots import Roots
from tasktools import Tasks

pytestmark = pytest.mark.integration


@pytest.fixture
def other(roots: Roots, tmp_path: Path) -> Iterator[Roots]:
    """A second state dir on the same root and namespace."""
    second = Roots(root=roots.root, state=tmp_path / "state2", tmp=tmp_path,
                   namespace=roots.namespace)
    yield second
    report = second.cleanup()
    assert not report.leaked, str(report)


def test_one_task_per_container_across_state_dirs(roots: Roots, other: Roots,
                                                  busybox_rootfs: Path) -> None:
    first, second = Tasks(roots), Tasks(other)
    first.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "shared",
             "sleep", "1000")
    assert first.create("shared") > 0
    record = json.loads(Path(roots.layout.container_file("shared")).read_text())
    assert record["task_state"] == str(roots.state)

    second.fails(4, f"task shared: already exists in state dir {roots.state}$",
                 "create", "shared")
    second.fails(5, f"cannot delete container shared: its task is in state dir {roots.state}$",
                 "containers", "delete", "shared")
    first.fails(5, "cannot delete container shared: task is created", "containers", "delete",
                "shared")
    assert second.ids() == [] and second.runc_list() == []

    first.ok("delete", "-f", "shared")
    record = json.loads(Path(roots.layout.container_file("shared")).read_text())
    assert "task_state" not in record
    assert second.create("shared") > 0  # the claim moved with the task
    first.fails(4, f"already exists in state dir {other.state}$", "create", "shared")
    second.ok("delete", "-f", "shared")
    first.ok("containers", "delete", "shared")


def test_a_stale_claim_is_no_obstacle(roots: Roots, other: Roots,
                                      busybox_rootfs: Path) -> None:
    """A claim naming a state dir without the task (a crash between removing the task and
    releasing it, or a reboot that emptied that state dir) does not block anyone."""
    first = Tasks(roots)
    first.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "c1", "true")
    path = Path(roots.layout.container_file("c1"))
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "task_state": str(other.state)}))
    assert first.create("c1") > 0
    first.ok("delete", "-f", "c1")
    path.write_text(json.dumps({**record, "task_state": str(other.state)}))
    first.ok("containers", "delete", "c1")
