"""Stats and Update of the extension service, without protobuf: cgroup figures of a task,
and limits -> runtime update arguments. The figures come from pytasks.cgroups (v1, hybrid
and v2); service.py packs them into messages."""

from __future__ import annotations

import os

from pytasks import cgroups, errors
from pytasks.plain import Plain

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CPU_PERIOD_US = 100_000   # the CFS period `--cpus` is expressed in (docker's choice too)
MIN_MEMORY = 6 * 1024**2  # below this runc's own init cannot even start (docker's minimum)
# The largest limits there are: the API's memory_limit is an int64 (so is runc's --memory);
# the kernel refuses a CFS quota above 2**44-1 us (max_cfs_runtime) and a pids.max above
# PID_MAX_LIMIT (2**22 on 64-bit). Larger values are InvalidArgument here, not a runtime
# failure later.
MAX_MEMORY = 2**63 - 1
MAX_CPUS = (2**44 - 1) // CPU_PERIOD_US
MAX_PIDS = 2**22


class Limits(Plain, frozen=True):
    """What UpdateTaskRequest asks for; None is "leave it as it is"."""

    memory_limit: int | None = None
    cpus: float | None = None
    pids_limit: int | None = None


class TaskFigures(Plain):
    """One sample of a task's cgroup: the shape of cgroups.empty_stats()."""

    task_id: str
    timestamp_ns: int
    figures: dict[str, dict[str, Any]]


def figures(cgroup_path: str | None,
            host: cgroups.CgroupHost | None = None) -> dict[str, dict[str, Any]]:
    """The task's cgroup figures. A task whose cgroup is gone (it stopped and runc removed
    it) reads as zeros, as `docker stats` shows a stopped container."""
    if cgroup_path:
        try:
            return cgroups.Cgroup(host or cgroups.current_host(), cgroup_path).stats()
        except errors.NotFoundError:
            pass
    return cgroups.empty_stats()


def update_arguments(limits: Limits, cgroup_path: str | None,
                     host: cgroups.CgroupHost | None = None) -> dict[str, int]:
    """Validated keyword arguments for Runtime.update_argv; InvalidArgument when none."""
    args: dict[str, int] = {}
    if limits.memory_limit is not None:
        memory = limits.memory_limit
        if memory == -1:
            args["memory"] = -1
        elif memory < MIN_MEMORY:
            raise errors.InvalidArgumentError(
                f"memory limit {memory} is too small: at least {MIN_MEMORY} bytes (6 MiB), "
                "or -1 for unlimited")
        elif memory > MAX_MEMORY:
            raise errors.InvalidArgumentError(
                f"memory limit {memory} is too large: at most {MAX_MEMORY} bytes")
        else:
            args["memory"] = memory
        if _swap_accounted(cgroup_path, host):
            # Memory plus swap is capped at the same figure, so the new limit cannot be
            # dodged by swapping out, and a limit above an older memory+swap cap is not
            # refused by the kernel (memsw must stay >= memory).
            args["memory_swap"] = args["memory"]
    if limits.cpus is not None:
        if not 0 <= limits.cpus <= MAX_CPUS:  # NaN fails both comparisons
            raise errors.InvalidArgumentError(
                f"cpus {limits.cpus:g} must be a number from 0 (unlimited) to {MAX_CPUS}")
        if limits.cpus == 0:
            args["cpu_quota"] = -1
        else:
            quota = round(limits.cpus * CPU_PERIOD_US)
            if quota < 1000:  # the kernel's minimum cfs_quota_us
                raise errors.InvalidArgumentError(f"cpus {limits.cpus:g} is too small: "
                                                  "at least 0.01")
            args["cpu_quota"] = quota
        args["cpu_period"] = CPU_PERIOD_US
    if limits.pids_limit is not None:
        # 0 and -1 both mean unlimited (docker's --pids-limit); runc takes -1 for that.
        if not -1 <= limits.pids_limit <= MAX_PIDS:
            raise errors.InvalidArgumentError(
                f"pids limit {limits.pids_limit} must be at most {MAX_PIDS}, "
                "or 0/-1 for unlimited")
        args["pids_limit"] = limits.pids_limit if limits.pids_limit > 0 else -1
    if not args:
        raise errors.InvalidArgumentError("nothing to update: give a memory, cpus or "
                                          "pids limit")
    return args


def _swap_accounted(cgroup_path: str | None, host: cgroups.CgroupHost | None) -> bool:
    """Whether the kernel accounts memory+swap for this cgroup (v1 memsw needs
    swapaccount=1; v2 has memory.swap.max unless swap accounting is off)."""
    if not cgroup_path:
        return False
    cgroup = cgroups.Cgroup(host or cgroups.current_host(), cgroup_path)
    directory = cgroup.dir("memory")
    if directory is None:
        return False
    version = cgroup.host.controller_version("memory")
    name = "memory.memsw.limit_in_bytes" if version == 1 else "memory.swap.max"
    return os.path.exists(os.path.join(directory, name))
