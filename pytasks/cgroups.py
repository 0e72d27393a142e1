"""Read-only view of a container's cgroup: layout detection, freezer state, processes, stats.

Stdlib only: the per-task monitor imports it, and it is resident once per task.

pytasks never writes cgroup files itself: runc creates the cgroup, freezes it (pause/resume)
and changes its limits (update). This module only reads what the kernel reports, for cgroup
v1, the v1/v2 hybrid layout (v1 controllers plus an empty cgroup2 at .../unified) and pure
cgroup v2. The layout is taken from /proc/self/mountinfo, never guessed from paths.
"""

from __future__ import annotations

import functools
import os
import posixpath
import re
import time
from collections.abc import Iterable, Mapping

from pytasks.errors import InvalidArgumentError, NotFoundError, UnimplementedError
from pytasks.plain import Plain, field

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

MODE_V1 = "v1"          # only v1 hierarchies
MODE_HYBRID = "hybrid"  # v1 controllers plus a cgroup2 mount (systemd's "hybrid" layout)
MODE_V2 = "v2"          # unified: one cgroup2 hierarchy at the cgroup root

THAWED = "THAWED"
FROZEN = "FROZEN"
FREEZING = "FREEZING"

# v1 reports "no limit" as PAGE_COUNTER_MAX * page size (9223372036854771712 on x86-64),
# which varies with the page size; anything this large is no limit.
UNLIMITED_THRESHOLD = 2**62

# Controller names a v1 mount can carry in its super options. Everything else there is a
# mount option (rw, noprefix, xattr, clone_children, release_agent=..., cpuset_v2_mode ...).
V1_CONTROLLERS = frozenset({
    "blkio", "cpu", "cpuacct", "cpuset", "debug", "devices", "freezer", "hugetlb",
    "memory", "misc", "net_cls", "net_prio", "perf_event", "pids", "rdma",
})

# Where the process list is read on v1, in order: pids and freezer are what runc kills and
# freezes by; memory is always there in practice.
_V1_PROCS_ORDER = ("pids", "freezer", "memory", "cpu", "cpuacct", "blkio", "devices",
                   "cpuset")
# Controllers whose directory proves the cgroup exists (v1).
_V1_EXISTENCE = ("memory", "pids", "freezer", "cpu", "cpuacct", "blkio", "devices", "cpuset")

_ESCAPE = re.compile(r"\\([0-7]{3})")


# --- pure parsing helpers -------------------------------------------------------------------

def _unescape(field_text: str) -> str:
    """mountinfo escapes space, tab, newline and backslash as \\ooo octal."""
    return _ESCAPE.sub(lambda m: chr(int(m.group(1), 8)), field_text)


def parse_int(text: str | None) -> int | None:
    """One integer from a single-value file; None for a missing file, "max" or garbage."""
    if text is None:
        return None
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        return None


def parse_flat_keyed(text: str | None) -> dict[str, int]:
    """`key value` lines (cpu.stat, memory.stat, cpuacct.stat, memory.events, ...).

    Lines whose value is not an integer are skipped rather than failing the whole file:
    kernels add fields over time.
    """
    result: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) != 2:
            continue
        try:
            result[parts[0]] = int(parts[1])
        except ValueError:
            continue
    return result


def parse_nested_keyed(text: str | None) -> dict[str, dict[str, int | None]]:
    """`key sub=value sub=value` lines (v2 io.stat, io.max, ...).

    "max" becomes None; pairs that are not `sub=integer` are skipped.
    """
    result: dict[str, dict[str, int | None]] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if not parts:
            continue
        entry = result.setdefault(parts[0], {})
        for pair in parts[1:]:
            key, sep, value = pair.partition("=")
            if not sep:
                continue
            if value == "max":
                entry[key] = None
                continue
            try:
                entry[key] = int(value)
            except ValueError:
                continue
    return result


def parse_blkio_v1(text: str | None) -> dict[str, int]:
    """v1 blkio `MAJ:MIN Op value` lines summed per operation over all devices.

    Returns lower-case op names ("read", "write", "sync", "async", "discard", "total").
    The trailing device-less `Total N` line is ignored (it would double the sum).
    """
    result: dict[str, int] = {}
    for line in (text or "").splitlines():
        parts = line.split()
        if len(parts) != 3 or ":" not in parts[0]:
            continue
        try:
            value = int(parts[2])
        except ValueError:
            continue
        op = parts[1].lower()
        result[op] = result.get(op, 0) + value
    return result


def _limit(value: int | None) -> int:
    """A v1/v2 limit value as pytasks reports it: 0 means unlimited (or unknown)."""
    if value is None or value < 0 or value >= UNLIMITED_THRESHOLD:
        return 0
    return value


# --- host layout ----------------------------------------------------------------------------

class CgroupHost(Plain, frozen=True):
    """How cgroups are mounted on this host.

    mode: MODE_V1, MODE_HYBRID or MODE_V2.
    v1: controller -> mount point for every v1 hierarchy ("cpu" and "cpuacct" both map to
        the same point when comounted as "cpu,cpuacct"; named hierarchies as "name=systemd").
    unified: the cgroup2 mount point, or None.
    unified_controllers: controllers enabled in the cgroup2 root (empty on a hybrid host).
    """

    mode: str
    v1: Mapping[str, str] = field(default_factory=dict)
    unified: str | None = None
    unified_controllers: frozenset[str] = frozenset()

    @property
    def is_v2(self) -> bool:
        return self.mode == MODE_V2

    def controller_version(self, controller: str) -> int | None:
        """1 or 2 for the hierarchy that holds `controller`, None if it is not available.

        A v1 mount wins, as it does for runc on a hybrid host.
        """
        if controller in self.v1:
            return 1
        if self.unified is not None and (self.is_v2 or controller in self.unified_controllers):
            # On pure v2 the container's own files decide (missing ones read as 0).
            return 2
        return None


def parse_mountinfo(text: str) -> list[tuple[str, str, str, list[str]]]:
    """(root, mount point, fstype, super options) of every cgroup/cgroup2 mount."""
    mounts: list[tuple[str, str, str, list[str]]] = []
    for line in text.splitlines():
        pre, sep, post = line.partition(" - ")
        if not sep:
            continue
        left = pre.split()
        right = post.split()
        if len(left) < 5 or len(right) < 3:
            continue
        fstype = right[0]
        if fstype not in ("cgroup", "cgroup2"):
            continue
        mounts.append((_unescape(left[3]), _unescape(left[4]), fstype, right[2].split(",")))
    return mounts


def detect(mountinfo_text: str | None = None) -> CgroupHost:
    """Describe the cgroup layout from mountinfo (this process's own unless text is given).

    With text given (tests), cgroup.controllers is still read from the unified mount point
    found there, so rewriting mount points into a fixture directory works end to end.
    """
    if mountinfo_text is None:
        with open("/proc/self/mountinfo", encoding="utf-8") as f:
            mountinfo_text = f.read()
    v1: dict[str, str] = {}
    v1_roots: dict[str, str] = {}
    unified: str | None = None
    for root, mount_point, fstype, options in parse_mountinfo(mountinfo_text):
        if fstype == "cgroup2":
            # The first cgroup2 mount is the one systemd/runc use; later ones are bind mounts.
            if unified is None:
                unified = mount_point
            continue
        names = [o for o in options if o in V1_CONTROLLERS or o.startswith("name=")]
        for name in names:
            # Keep the first mount of a hierarchy, but prefer one showing its root ("/")
            # over a bind mount of a sub-cgroup.
            if name not in v1 or (v1_roots[name] != "/" and root == "/"):
                v1[name] = mount_point
                v1_roots[name] = root
    controllers: frozenset[str] = frozenset()
    if unified is not None:
        try:
            with open(os.path.join(unified, "cgroup.controllers"), encoding="utf-8") as f:
                controllers = frozenset(f.read().split())
        except OSError:
            controllers = frozenset()
    has_v1 = any(name in V1_CONTROLLERS for name in v1)
    if has_v1:
        mode = MODE_HYBRID if unified is not None else MODE_V1
    elif unified is not None:
        mode = MODE_V2
    else:
        raise UnimplementedError("no cgroup filesystem is mounted on this host")
    return CgroupHost(mode=mode, v1=dict(v1), unified=unified, unified_controllers=controllers)


@functools.lru_cache(maxsize=1)
def current_host() -> CgroupHost:
    """detect() for this process, once: mounts do not change under a running pytasks."""
    return detect()


def oom_watch_files(path: str, host: CgroupHost | None = None) -> tuple[str, str]:
    """What a monitor watches for the OOM kills of the cgroup at path: (the file whose
    oom_kill line counts them, v1's cgroup.event_control or "" on v2); ("", "") when no
    memory controller is mounted. The cgroup need not exist yet (runc makes it)."""
    try:
        cgroup = Cgroup(host or current_host(), path)
    except UnimplementedError:  # no cgroup filesystem: the runtime will say what is wrong
        return "", ""
    directory = cgroup.dir("memory")
    if directory is None:
        return "", ""
    if cgroup.host.controller_version("memory") == 1:
        return (os.path.join(directory, "memory.oom_control"),
                os.path.join(directory, "cgroup.event_control"))
    return os.path.join(directory, "memory.events"), ""


# --- one cgroup -----------------------------------------------------------------------------

def _read(path: str) -> str | None:
    """A cgroup file's text, or None when it does not exist or cannot be read.

    cgroup files vanish with their cgroup and some are write-only or kernel-dependent, so
    every unreadable file is "no value" rather than an error.
    """
    try:
        with open(path, encoding="utf-8") as f:
            return f.read()
    except OSError:
        return None


def empty_stats() -> dict[str, dict[str, Any]]:
    """The stats() shape with every figure 0 (also what a gone task renders as)."""
    return {
        "cpu": {"usage_ns": 0, "user_ns": 0, "system_ns": 0, "periods": 0,
                "throttled_periods": 0, "throttled_ns": 0, "limit_cpus": 0.0},
        "memory": {"usage": 0, "limit": 0, "max_usage": 0, "cache": 0, "rss": 0,
                   "oom_kills": 0},
        "pids": {"current": 0, "limit": 0},
        "blkio": {"read_bytes": 0, "write_bytes": 0, "read_ops": 0, "write_ops": 0},
    }


class Cgroup:
    """One container cgroup, named by the absolute cgroupsPath given to runc.

    runc joins an absolute cgroupsPath directly onto each hierarchy's mount point (v1) or
    the unified mount point (v2), so this does the same.
    """

    def __init__(self, host: CgroupHost, path: str) -> None:
        if not path.startswith("/"):
            raise InvalidArgumentError(f"cgroup path {path!r} is not absolute")
        norm = posixpath.normpath(path)
        if norm != path.rstrip("/") and norm != path:
            # ".." or "//" would escape or alias the intended cgroup.
            raise InvalidArgumentError(f"cgroup path {path!r} is not normalized")
        self.host = host
        self.path = norm

    def __repr__(self) -> str:
        return f"Cgroup({self.path!r}, mode={self.host.mode})"

    # paths

    def _join(self, mount_point: str) -> str:
        return os.path.join(mount_point, self.path.lstrip("/"))

    def dir(self, controller: str) -> str | None:
        """The directory of this cgroup in the hierarchy holding `controller`, if any."""
        version = self.host.controller_version(controller)
        if version == 1:
            return self._join(self.host.v1[controller])
        if version == 2 and self.host.unified is not None:
            return self._join(self.host.unified)
        return None

    @property
    def unified_dir(self) -> str | None:
        """The directory in the cgroup2 hierarchy (v2 core files: procs, freeze, events)."""
        return self._join(self.host.unified) if self.host.unified is not None else None

    def _candidate_dirs(self) -> list[str]:
        dirs: list[str] = []
        if self.host.is_v2:
            if self.unified_dir is not None:
                dirs.append(self.unified_dir)
            return dirs
        for controller in _V1_EXISTENCE:
            if controller in self.host.v1:
                d = self._join(self.host.v1[controller])
                if d not in dirs:
                    dirs.append(d)
        return dirs

    def exists(self) -> bool:
        return any(os.path.isdir(d) for d in self._candidate_dirs())

    def _require(self) -> None:
        if not self.exists():
            raise NotFoundError(f"cgroup {self.path} not found")

    def _file(self, controller: str, name: str) -> str | None:
        d = self.dir(controller)
        return _read(os.path.join(d, name)) if d is not None else None

    # freezer

    def freezer_state(self) -> str:
        """THAWED, FROZEN or FREEZING, as the kernel reports it now."""
        if "freezer" in self.host.v1:
            d = self._join(self.host.v1["freezer"])
            text = _read(os.path.join(d, "freezer.state"))
            if text is not None:
                state = text.strip()
                return state if state in (THAWED, FROZEN, FREEZING) else THAWED
            self._require()
            if not os.path.isdir(d):
                raise NotFoundError(f"cgroup {self.path} not found in the freezer hierarchy")
            raise UnimplementedError(f"cgroup {self.path} has no freezer.state")
        unified = self.unified_dir
        if unified is None:
            raise UnimplementedError("no cgroup freezer on this host")
        freeze = parse_int(_read(os.path.join(unified, "cgroup.freeze")))
        d = unified
        if freeze is None:
            if not os.path.isdir(d):
                raise NotFoundError(f"cgroup {self.path} not found")
            raise UnimplementedError(f"cgroup {self.path} has no cgroup.freeze "
                                     "(kernel older than 5.2?)")
        frozen = parse_flat_keyed(_read(os.path.join(d, "cgroup.events"))).get("frozen", 0)
        if frozen:
            # Also true when an ancestor is frozen: the processes are stopped either way.
            return FROZEN
        return FREEZING if freeze else THAWED

    def wait_freezer_state(self, state: str, timeout: float = 5.0,
                           interval: float = 0.01) -> bool:
        """Poll until the freezer reports `state`; False on timeout (runc may return before
        a v1 FREEZING cgroup settles)."""
        deadline = time.monotonic() + timeout
        while True:
            if self.freezer_state() == state:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(interval)

    def wait_frozen(self, timeout: float = 5.0, interval: float = 0.01) -> bool:
        return self.wait_freezer_state(FROZEN, timeout, interval)

    # processes

    def _procs_dir(self) -> str:
        if self.host.is_v2:
            order: Iterable[str | None] = [self.unified_dir]
        else:
            order = [self._join(self.host.v1[c]) for c in _V1_PROCS_ORDER
                     if c in self.host.v1]
        for d in order:
            if d is not None and os.path.isdir(d):
                return d
        raise NotFoundError(f"cgroup {self.path} not found")

    def pids(self) -> list[int]:
        """Every process in the cgroup and its sub-cgroups (runc exec may nest them), sorted.

        Pids are as seen in this process's pid namespace.
        """
        top = self._procs_dir()
        found: set[int] = set()
        # os.walk ignores directories that vanish mid-walk, which is what we want.
        for dirpath, _dirnames, _files in os.walk(top):
            for line in (_read(os.path.join(dirpath, "cgroup.procs")) or "").split():
                pid = parse_int(line)
                if pid:
                    found.add(pid)
        return sorted(found)

    # stats

    def stats(self) -> dict[str, dict[str, Any]]:
        """cpu, memory, pids and blkio figures; missing files read as 0."""
        self._require()
        stats = empty_stats()
        self._cpu(stats["cpu"])
        self._memory(stats["memory"])
        self._pids(stats["pids"])
        self._blkio(stats["blkio"])
        return stats

    def _cpu(self, out: dict[str, Any]) -> None:
        if self.host.controller_version("cpuacct") == 1 or \
                self.host.controller_version("cpu") == 1:
            usage = parse_int(self._file("cpuacct", "cpuacct.usage"))
            out["usage_ns"] = usage or 0
            # cpuacct.stat counts USER_HZ ticks (what runc and containerd report too).
            ticks = parse_flat_keyed(self._file("cpuacct", "cpuacct.stat"))
            ns_per_tick = 1_000_000_000 // _clock_ticks()
            out["user_ns"] = ticks.get("user", 0) * ns_per_tick
            out["system_ns"] = ticks.get("system", 0) * ns_per_tick
            cpu_stat = parse_flat_keyed(self._file("cpu", "cpu.stat"))
            out["periods"] = cpu_stat.get("nr_periods", 0)
            out["throttled_periods"] = cpu_stat.get("nr_throttled", 0)
            out["throttled_ns"] = cpu_stat.get("throttled_time", 0)
            quota = parse_int(self._file("cpu", "cpu.cfs_quota_us"))
            period = parse_int(self._file("cpu", "cpu.cfs_period_us"))
            out["limit_cpus"] = _cpus(quota, period)
            return
        d = self.unified_dir
        if d is None:
            return
        # v2 cpu.stat has usage even without the cpu controller; throttling only with it.
        cpu_stat = parse_flat_keyed(_read(os.path.join(d, "cpu.stat")))
        out["usage_ns"] = cpu_stat.get("usage_usec", 0) * 1000
        out["user_ns"] = cpu_stat.get("user_usec", 0) * 1000
        out["system_ns"] = cpu_stat.get("system_usec", 0) * 1000
        out["periods"] = cpu_stat.get("nr_periods", 0)
        out["throttled_periods"] = cpu_stat.get("nr_throttled", 0)
        out["throttled_ns"] = cpu_stat.get("throttled_usec", 0) * 1000
        cpu_max = (_read(os.path.join(d, "cpu.max")) or "").split()
        if len(cpu_max) == 2:
            out["limit_cpus"] = _cpus(parse_int(cpu_max[0]), parse_int(cpu_max[1]))

    def _memory(self, out: dict[str, Any]) -> None:
        version = self.host.controller_version("memory")
        if version == 1:
            out["usage"] = parse_int(self._file("memory", "memory.usage_in_bytes")) or 0
            out["limit"] = _limit(parse_int(self._file("memory", "memory.limit_in_bytes")))
            out["max_usage"] = parse_int(
                self._file("memory", "memory.max_usage_in_bytes")) or 0
            mstat = parse_flat_keyed(self._file("memory", "memory.stat"))
            # total_* include sub-cgroups (use_hierarchy is always 1 on current kernels).
            out["cache"] = mstat.get("total_cache", mstat.get("cache", 0))
            out["rss"] = mstat.get("total_rss", mstat.get("rss", 0))
            oom = parse_flat_keyed(self._file("memory", "memory.oom_control"))
            out["oom_kills"] = oom.get("oom_kill", 0)  # kernels >= 4.13
            return
        if version is None:
            return
        out["usage"] = parse_int(self._file("memory", "memory.current")) or 0
        out["limit"] = _limit(parse_int(self._file("memory", "memory.max")))
        out["max_usage"] = parse_int(self._file("memory", "memory.peak")) or 0  # >= 5.19
        mstat = parse_flat_keyed(self._file("memory", "memory.stat"))
        out["cache"] = mstat.get("file", 0)
        out["rss"] = mstat.get("anon", 0)
        # memory.events counts the subtree; memory.events.local would miss nested execs.
        out["oom_kills"] = parse_flat_keyed(
            self._file("memory", "memory.events")).get("oom_kill", 0)

    def _pids(self, out: dict[str, Any]) -> None:
        if self.host.controller_version("pids") is None:
            return
        out["current"] = parse_int(self._file("pids", "pids.current")) or 0
        out["limit"] = _limit(parse_int(self._file("pids", "pids.max")))

    def _blkio(self, out: dict[str, Any]) -> None:
        version = self.host.controller_version("blkio")
        if version == 1:
            # The throttle files count every bio on every kernel (CFQ's blkio.io_* files are
            # gone with blk-mq); _recursive includes sub-cgroups.
            for suffix in ("_recursive", ""):
                nbytes = self._file("blkio", f"blkio.throttle.io_service_bytes{suffix}")
                nops = self._file("blkio", f"blkio.throttle.io_serviced{suffix}")
                if nbytes is not None or nops is not None:
                    b = parse_blkio_v1(nbytes)
                    o = parse_blkio_v1(nops)
                    out["read_bytes"] = b.get("read", 0)
                    out["write_bytes"] = b.get("write", 0)
                    out["read_ops"] = o.get("read", 0)
                    out["write_ops"] = o.get("write", 0)
                    return
            return
        if self.host.controller_version("io") is None:
            return
        for dev in parse_nested_keyed(self._file("io", "io.stat")).values():
            out["read_bytes"] += dev.get("rbytes") or 0
            out["write_bytes"] += dev.get("wbytes") or 0
            out["read_ops"] += dev.get("rios") or 0
            out["write_ops"] += dev.get("wios") or 0


def _cpus(quota: int | None, period: int | None) -> float:
    """CFS quota/period as a number of CPUs; 0.0 means unlimited (quota -1 or "max")."""
    if quota is None or period is None or quota <= 0 or period <= 0:
        return 0.0
    return quota / period


@functools.lru_cache(maxsize=1)
def _clock_ticks() -> int:
    try:
        ticks = os.sysconf("SC_CLK_TCK")
    except (ValueError, OSError):
        ticks = 100
    return ticks if ticks > 0 else 100


def remove_empty_parents(path: str, host: CgroupHost | None = None) -> None:
    """After the runtime removed a container's cgroup, drop the parents it left behind
    (pytasks' /pytasks[-tag]/<ns> levels) in every hierarchy, where empty. Best-effort:
    stops climbing at the first parent that is not empty (another task) or already gone."""
    host = host or current_host()
    mounts = set(host.v1.values())
    if host.unified is not None:
        mounts.add(host.unified)
    parents = [p for p in posixpath_parents(path) if p != "/"]
    for mount in mounts:
        for parent in parents:  # deepest first
            try:
                os.rmdir(os.path.join(mount, parent.lstrip("/")))
            except OSError:
                break


def posixpath_parents(path: str) -> list[str]:
    """'/a/b/c' -> ['/a/b', '/a', '/'] (the parents of a cgroup path, deepest first)."""
    out = []
    while path not in ("/", ""):
        path = os.path.dirname(path)
        out.append(path)
    return out
