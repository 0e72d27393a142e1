"""Inspection: everything known about one container and its task, gathered in one place.

What `pytasks inspect` prints (the Inspect RPC of the extension service): the container
record, and for its task the reconciled view (status, pid, exit), the monitor, and the
cgroup's limits and OOM kills while the cgroup exists. Limits come from the cgroup, not
the spec, so an `update` shows; a task whose cgroup is gone reports the spec's limits.
"""

from __future__ import annotations

from typing import Any

from pytasks import cgroups, errors
from pytasks.plain import Plain, field
from pytasks.resources import CPU_PERIOD_US
from pytasks.state.container_record import ContainerStore
from pytasks.state.layout import Layout
from pytasks.task import TaskView, load


class Limits(Plain, frozen=True):
    """The limits in force; None where nothing limits."""

    memory_limit: int | None = None
    cpus: float | None = None
    pids_limit: int | None = None


class Inspection(Plain):
    container: dict[str, Any]
    task: TaskView | None
    limits: Limits = field(default_factory=Limits)
    oom_kills: int = 0


def inspect(layout: Layout, container_id: str) -> Inspection:
    """NotFound when there is no container record of that id; a container without a task
    in this state dir has task None."""
    container = ContainerStore(layout).get(container_id)
    try:
        view: TaskView | None = load(layout, container_id)
    except errors.NotFoundError:
        view = None
    if view is None:
        return Inspection(container, None)
    sample = _sample(view.record.get("cgroup"))
    if sample is None:
        return Inspection(container, view, spec_limits(container.get("spec") or {}))
    return Inspection(container, view, _cgroup_limits(sample),
                      int(sample["memory"].get("oom_kills", 0)))


def _sample(cgroup_path: str | None) -> dict[str, dict[str, Any]] | None:
    """The cgroup's figures, or None when it is gone (runc removes it at delete)."""
    if not cgroup_path:
        return None
    try:
        return cgroups.Cgroup(cgroups.current_host(), cgroup_path).stats()
    except errors.NotFoundError:
        return None


def _cgroup_limits(sample: dict[str, dict[str, Any]]) -> Limits:
    memory = int(sample["memory"].get("limit") or 0)
    cpus = float(sample["cpu"].get("limit_cpus") or 0.0)
    pids = int(sample["pids"].get("limit") or 0)
    return Limits(memory or None, cpus or None, pids or None)


def spec_limits(spec: dict[str, Any]) -> Limits:
    """The limits an OCI spec's linux.resources asks for."""
    resources = (spec.get("linux") or {}).get("resources") or {}
    memory = (resources.get("memory") or {}).get("limit")
    cpu = resources.get("cpu") or {}
    quota, period = cpu.get("quota"), cpu.get("period") or CPU_PERIOD_US
    pids = (resources.get("pids") or {}).get("limit")
    return Limits(int(memory) if isinstance(memory, int) and memory > 0 else None,
                  quota / period if isinstance(quota, int) and quota > 0 else None,
                  int(pids) if isinstance(pids, int) and pids > 0 else None)
