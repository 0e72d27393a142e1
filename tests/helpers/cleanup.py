"""Remove everything a test left behind under its own state dir, and say what that was.

A test owns exactly: its state dir (processes that mention it, the runc containers under
<state>/runtime/*), the mounts under its tmp dir, and the cgroups under
`pytasks-<state_tag>` in every hierarchy. Nothing else is ever touched: processes are found
by the paths in their command line, environment or working directory, never by name.

Order: find runc containers -> SIGKILL matching processes and container pids -> thaw and
kill what is still in the test's cgroups -> `runc delete --force` -> wait for the kills ->
lazy unmounts (deepest first) -> rmdir the cgroups bottom-up.

The empty parents `pytasks-<tag>` and `pytasks-<tag>/<ns>` that runc leaves when it removes
a task's cgroup are removed silently; a task's own cgroup (depth >= 2), a process, a runc
container or a mount is a leak.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from pytasks.state.layout import Layout

CGROUP_ROOT = Path("/sys/fs/cgroup")
WAIT_SECONDS = 5.0


@dataclass
class CleanupReport:
    """What had to be cleaned. Everything except `parents` and `errors` is a leak."""

    processes: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    parents: list[str] = field(default_factory=list)   # empty parent cgroups (not a leak)
    errors: list[str] = field(default_factory=list)    # what could not be cleaned

    @property
    def leaked(self) -> bool:
        return bool(self.processes or self.containers or self.mounts or self.cgroups
                    or self.errors)

    def __str__(self) -> str:
        lines = []
        for title, items in (("processes killed", self.processes),
                             ("runc containers deleted", self.containers),
                             ("mounts detached", self.mounts),
                             ("cgroups removed", self.cgroups),
                             ("could NOT clean", self.errors)):
            if items:
                lines.append(f"{title}:")
                lines.extend(f"  {item}" for item in items)
        return "\n".join(lines) or "nothing left behind"


def cleanup(state: Path, tmp: Path, *, runc: str | None = None) -> CleanupReport:
    """Clean up after a test whose volatile state dir is `state` and whose tmp dir is `tmp`
    (`state` is normally inside `tmp`). Safe to call repeatedly; never raises for what it
    finds, only reports it."""
    report = CleanupReport()
    runc = runc or shutil.which("runc")
    tag = Layout.of(state, state, "-").state_tag

    containers = list(_runc_containers(state, runc, report))
    victims = dict(_processes_mentioning(_spellings(state)))
    for _root, entry in containers:
        pid = int(entry.get("pid") or 0)
        if pid > 0 and entry.get("status") != "stopped":
            victims.setdefault(pid, f"container {entry.get('id')} init")
    for pid, what in victims.items():
        if _kill(pid):
            report.processes.append(f"{pid} {what}")

    cgroup_dirs = list(_cgroup_dirs(tag))
    for path in cgroup_dirs:
        _thaw(path)
        for pid in _cgroup_procs(path):
            what = f"{_describe(pid)} (in cgroup {path})"
            if pid not in victims and _kill(pid):
                victims[pid] = what
                report.processes.append(f"{pid} {what}")

    for root, entry in containers:
        result = subprocess.run([runc, "--root", str(root), "delete", "--force", entry["id"]],
                                capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                timeout=30) if runc else None
        report.containers.append(f"{entry['id']} ({entry.get('status')}) in {root}")
        if result is not None and result.returncode != 0 and _runc_has(runc, root, entry["id"]):
            report.errors.append(f"runc delete --force {entry['id']}: {result.stderr.strip()}")

    for pid in _still_alive(victims, WAIT_SECONDS):
        report.errors.append(f"process {pid} ({victims[pid]}) survived SIGKILL")

    _unmount_under(tmp, report)
    _remove_cgroups(cgroup_dirs, tag, report)
    return report


# --- runc -----------------------------------------------------------------------------------

def _runc_containers(state: Path, runc: str | None,
                     report: CleanupReport) -> Iterator[tuple[Path, dict]]:
    runtime = state / "runtime"
    if runc is None or not runtime.is_dir():
        return
    for root in sorted(p for p in runtime.iterdir() if p.is_dir()):
        result = subprocess.run([runc, "--root", str(root), "list", "--format", "json"],
                                capture_output=True, text=True, stdin=subprocess.DEVNULL,
                                timeout=30)
        if result.returncode != 0:
            report.errors.append(f"runc --root {root} list: {result.stderr.strip()}")
            continue
        for entry in json.loads(result.stdout or "null") or []:
            yield root, entry


def _runc_has(runc: str, root: Path, container_id: str) -> bool:
    result = subprocess.run([runc, "--root", str(root), "state", container_id],
                            capture_output=True, stdin=subprocess.DEVNULL, timeout=30)
    return result.returncode == 0


# --- processes ------------------------------------------------------------------------------

def _spellings(state: Path) -> list[bytes]:
    """The state dir as a caller may have written it: absolute and fully resolved."""
    spellings = {os.path.abspath(state), os.path.realpath(state)}
    return [s.encode() for s in sorted(spellings)]


def _ancestors() -> set[int]:
    pids, pid = set(), os.getpid()
    while pid > 0 and pid not in pids:
        pids.add(pid)
        try:
            pid = int(Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return pids


def _processes_mentioning(paths: list[bytes]) -> Iterator[tuple[int, str]]:
    """(pid, description) of every process whose cmdline, environ or cwd names one of
    `paths`, as a whole path or a prefix of one: /x/state matches /x/state/y, not /x/state2."""
    pattern = re.compile(b"(?:" + b"|".join(re.escape(p) for p in paths)
                         + rb")(?![A-Za-z0-9._-])")
    exclude = _ancestors()
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) in exclude:
            continue
        pid = int(entry.name)
        for source in ("cmdline", "environ"):
            try:
                data = Path(f"/proc/{pid}/{source}").read_bytes()
            except OSError:
                continue
            if pattern.search(data):
                yield pid, f"{_describe(pid)} ({source} names the state dir)"
                break
        else:
            try:
                cwd = os.readlink(f"/proc/{pid}/cwd").encode()
            except OSError:
                continue
            if pattern.match(cwd):
                yield pid, f"{_describe(pid)} (cwd in the state dir)"


def _describe(pid: int) -> str:
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return "?"
    text = " ".join(a.decode(errors="replace") for a in argv if a)
    return text if len(text) <= 160 else text[:157] + "..."


def _kill(pid: int) -> bool:
    """SIGKILL a live (non-zombie) process; True when a signal was sent."""
    if not _alive(pid):
        return False
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        return False
    return True


def _alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (or dead: a zombie is only an
    unreaped exit status, it holds no resources)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] not in ("Z", "X")


def _still_alive(pids: Iterable[int], seconds: float) -> list[int]:
    deadline = time.monotonic() + seconds
    pending = [pid for pid in pids if _alive(pid)]
    while pending and time.monotonic() < deadline:
        time.sleep(0.02)
        pending = [pid for pid in pending if _alive(pid)]
    return pending


# --- mounts ---------------------------------------------------------------------------------

def _unescape(text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), text)


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below `path` in this mount namespace, in mountinfo order."""
    top = os.path.realpath(path)
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            point = _unescape(line.split()[4])
            if point == top or point.startswith(top + "/"):
                found.append(point)
    return found


def _unmount_under(tmp: Path, report: CleanupReport) -> None:
    """Lazily unmount, deepest first and topmost of a stack first, until none is left."""
    failed: set[str] = set()
    for _ in range(1000):
        points = [p for p in mounts_under(tmp) if p not in failed]
        if not points:
            return
        # max() keeps the last (topmost) of equal depth: mountinfo lists stacked mounts in order.
        point = max(reversed(points), key=lambda p: p.count("/"))
        result = subprocess.run(["umount", "-l", point], capture_output=True, text=True,
                                stdin=subprocess.DEVNULL, timeout=30)
        if result.returncode == 0:
            report.mounts.append(point)
        else:
            failed.add(point)
            report.errors.append(f"umount -l {point}: {result.stderr.strip()}")


# --- cgroups --------------------------------------------------------------------------------

def _hierarchies() -> list[Path]:
    """/sys/fs/cgroup itself (pure v2) and every mounted hierarchy below it (v1, unified)."""
    if not CGROUP_ROOT.is_dir():
        return []
    seen, found = set(), []
    for path in [CGROUP_ROOT, *sorted(CGROUP_ROOT.iterdir())]:
        real = os.path.realpath(path)
        if path.is_dir() and real not in seen:
            seen.add(real)
            found.append(path)
    return found


def _cgroup_dirs(tag: str) -> Iterator[Path]:
    """Every cgroup under pytasks-<tag>, in every hierarchy, deepest first."""
    for hierarchy in _hierarchies():
        top = hierarchy / f"pytasks-{tag}"
        if not top.is_dir():
            continue
        for dirpath, _dirs, _files in os.walk(top, topdown=False):
            yield Path(dirpath)


def _cgroup_procs(path: Path) -> list[int]:
    try:
        return [int(line) for line in (path / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _thaw(path: Path) -> None:
    """A frozen process cannot die: thaw before killing (v1 freezer, v2 cgroup.freeze)."""
    for name, value in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
        with contextlib.suppress(OSError):
            (path / name).write_text(value)


def _remove_cgroups(dirs: list[Path], tag: str, report: CleanupReport) -> None:
    for path in dirs:   # deepest first
        depth = len(path.parts) - path.parts.index(f"pytasks-{tag}") - 1
        error = _rmdir(path)
        if error is not None:
            report.errors.append(f"rmdir {path}: {error} (procs: {_cgroup_procs(path)})")
        elif depth >= 2:
            report.cgroups.append(str(path))
        else:
            report.parents.append(str(path))


def _rmdir(path: Path) -> str | None:
    """rmdir, retrying EBUSY while the last killed process is still leaving the cgroup."""
    deadline = time.monotonic() + WAIT_SECONDS
    while True:
        try:
            path.rmdir()
            return None
        except FileNotFoundError:
            return None
        except OSError as exc:
            if time.monotonic() > deadline:
                return str(exc)
            time.sleep(0.02)
