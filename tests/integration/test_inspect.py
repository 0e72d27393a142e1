"""inspect: one JSON document per container (docs/architecture.md §6), real tasks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from helpers.roots import Roots
from running import remove, run_detached
from tasktools import Tasks

pytestmark = pytest.mark.integration


@pytest.fixture
def tasks(roots: Roots) -> Iterator[Tasks]:
    yield Tasks(roots)
    for task_id in ("web", "job", "bare", "here"):
        remove(roots, task_id)


def _inspect(tasks: Tasks, *ids: str) -> list[dict[str, Any]]:
    containers: list[dict[str, Any]] = json.loads(tasks.ok("inspect", *ids))["containers"]
    return containers


def test_inspect_running_stopped_and_taskless(tasks: Tasks, roots: Roots,
                                              busybox_rootfs: Path) -> None:
    pid = run_detached(roots, "web", busybox_rootfs, "sleep", "1000",
                       options=("--label", "tier=front"))
    tasks.ok("update", "--memory", "64m", "--pids-limit", "50", "web")
    run_detached(roots, "job", busybox_rootfs, "sh", "-c", "exit 3")
    assert tasks("wait", "job").returncode == 3
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "bare", "true")

    web, job, bare = _inspect(tasks, "web", "job", "bare")
    assert web["id"] == "web" and web["labels"] == {"tier": "front"}
    assert web["container"]["spec"]["process"]["user"]["uid"] == 0  # an integer, not 0.0
    assert web["task_state_dir"] == str(roots.layout.state)
    task = web["task"]
    assert (task["pid"], task["status"], task["exit_status_known"]) == (pid, "RUNNING", False)
    assert task["monitor"]["alive"] and task["monitor"]["pid"] > 0
    assert task["memory_limit"] == 64 * 2**20 and task["pids_limit"] == 50
    assert task["oom_kills"] == 0 and task["oom_killed"] is False
    assert task["created_at"] <= task["started_at"]

    stopped = job["task"]
    assert (stopped["status"], stopped["exit_status"], stopped["exit_status_known"]) == (
        "STOPPED", 3, True)
    assert stopped["exited_at"] >= stopped["started_at"]
    assert "task" not in bare and bare["task_state_dir"] == ""


def test_inspect_reports_a_missing_id_and_prints_the_others(
        tasks: Tasks, roots: Roots, busybox_rootfs: Path) -> None:
    tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "here", "true")
    result = tasks("inspect", "gone", "here")
    assert result.returncode == 3, result
    assert "gone" in result.stderr and "not found" in result.stderr
    assert [c["id"] for c in json.loads(result.stdout)["containers"]] == ["here"]
    bad = tasks("inspect", "../x")
    assert bad.returncode == 2 and "'../x' is invalid" in bad.stderr, bad


def test_list_filters_on_container_labels(tasks: Tasks, roots: Roots,
                                          busybox_rootfs: Path) -> None:
    run_detached(roots, "web", busybox_rootfs, "sleep", "1000",
                 options=("--label", "tier=front"))
    run_detached(roots, "job", busybox_rootfs, "sleep", "1000",
                 options=("--label", "tier=back"))
    assert tasks.ids("--filter", "labels.tier==front") == ["web"]
    assert tasks.ids("--filter", "labels.tier~=\"^(front|back)$\",status==running") == [
        "job", "web"]
    assert tasks.ids("--filter", "labels.other") == []
    tasks.fails(2, r'unknown field "labels\."', "list", "--filter", "labels.==x")
