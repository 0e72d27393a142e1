"""What gc looks for: every kind of leftover a crash, a kill or a wiped dir can leave in a
namespace (docs/architecture.md §7, "gc"). This module only looks; Engine.gc acts, each id
under its task lock, so it is safe beside any other call. A leftover is something no task
owns: a task (even a dead one, even a broken one) is never a leftover, its owner deletes it.
"""

from __future__ import annotations

import json
import os

from pytasks import cgroups
from pytasks.monitor import protocol
from pytasks.plain import Plain
from pytasks.state.layout import TASK_FILE, Layout

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pytasks.runtime import Runtime

RUNTIME_CONTAINER = "runtime container"  # in the runtime's root, with no task dir
TASK_DIR = "task dir"                    # a task dir without a record (an older create)
CREATE_DIR = "create dir"                # .<id>.creating of a create that died
MOUNT = "mount"                          # under the namespace's state, of no task
CGROUP = "cgroup"                        # /pytasks[-tag]/<ns>/<id> of no task
FIFO_SET = "fifo set"                    # fifo/<ns>/<task>/<set> of a client that is gone
LOCK_FILE = "lock file"                  # of an id with no task, create or container
CLAIM_LOCK = "claim lock"                # on the persistent root, of no container
DEAD_TASK = "dead task"                  # reported, kept: its exit is its owner's to collect


class Leftover(Plain, frozen=True):
    kind: str
    name: str          # what is removed: a path, a runtime container id, a cgroup dir
    task_id: str = ""  # the id whose task lock guards the removal, if any


def _entries(path: str) -> list[str]:
    try:
        return sorted(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return []


def task_ids(layout: Layout) -> set[str]:
    """Ids with a task dir (a task, healthy or not, or a dir without a record)."""
    return {e for e in _entries(layout.namespace_dir) if not e.startswith(".")}


def has_record(layout: Layout, task_id: str) -> bool:
    return os.path.lexists(layout.task_file(task_id, TASK_FILE))


def find(layout: Layout, runtime: Runtime, only: str | None = None) -> list[Leftover]:
    """Every leftover, or (only) those of one kind: gc looks again at one kind before it
    removes an item, without asking the runtime or walking the cgroups once more."""
    tasks = task_ids(layout)
    found: list[Leftover] = []
    if only in (None, TASK_DIR, DEAD_TASK):
        for task_id in sorted(tasks):
            if not has_record(layout, task_id):
                found.append(Leftover(TASK_DIR, layout.task_dir(task_id), task_id))
            elif only is None and _dead(layout, task_id):
                found.append(Leftover(DEAD_TASK, layout.task_dir(task_id), task_id))
    if only in (None, CREATE_DIR):
        for entry in _entries(layout.namespace_dir):
            if entry.startswith(".") and entry.endswith(".creating"):
                task_id = entry[1:-len(".creating")]
                found.append(Leftover(CREATE_DIR, layout.creating_dir(task_id), task_id))
    finders = (((RUNTIME_CONTAINER,), lambda: _runtime_containers(layout, runtime, tasks)),
               ((MOUNT,), lambda: _mounts(layout, tasks)),
               ((CGROUP,), lambda: _cgroups(layout, tasks)),
               ((FIFO_SET,), lambda: _fifo_sets(layout, tasks)),
               ((LOCK_FILE, CLAIM_LOCK), lambda: _lock_files(layout, tasks)))
    for kinds, finder in finders:
        if only is None or only in kinds:
            found += [item for item in finder() if only is None or item.kind == only]
    return found


def _dead(layout: Layout, task_id: str) -> bool:
    """A task whose process ended (exit record) or whose monitor is gone."""
    from pytasks import errors
    from pytasks.task import load

    try:
        view = load(layout, task_id, ask_runtime=False)
    except errors.PytasksError:
        return False  # broken or gone: `list` names it, delete -f removes it
    return view.exit is not None or view.monitor_lost


def _runtime_containers(layout: Layout, runtime: Runtime, tasks: set[str]
                        ) -> list[Leftover]:
    if not _entries(layout.runtime_root):
        return []
    result = runtime.run(runtime.list_argv(), check=False)
    try:
        listed = json.loads(result.stdout or "null") or []
    except ValueError:
        listed = []
    return [Leftover(RUNTIME_CONTAINER, str(c["id"]), str(c["id"])) for c in listed
            if isinstance(c, dict) and isinstance(c.get("id"), str) and c["id"] not in tasks]


def _mounts(layout: Layout, tasks: set[str]) -> list[Leftover]:
    """Mounts below the namespace's state dir that are not inside a task dir with a
    record (a monitor's own mounts live in its private namespace, not here)."""
    try:
        with open("/proc/self/mountinfo") as fh:
            points = [line.split()[4] for line in fh]
    except OSError:
        return []
    prefix = layout.namespace_dir + "/"
    found = []
    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        task_id = point[len(prefix):].split("/", 1)[0]
        if task_id in tasks and has_record(layout, task_id):
            continue
        found.append(Leftover(MOUNT, point, task_id.lstrip(".").removesuffix(".creating")))
    return found


def _cgroups(layout: Layout, tasks: set[str]) -> list[Leftover]:
    host = cgroups.current_host()
    mounts = set(host.v1.values())
    if host.unified is not None:
        mounts.add(host.unified)
    parent = os.path.dirname(layout.cgroup_path("x")).lstrip("/")
    found = []
    for mount in sorted(mounts):
        base = os.path.join(mount, parent)
        for entry in _entries(base):
            path = os.path.join(base, entry)
            if entry not in tasks and os.path.isdir(path):
                found.append(Leftover(CGROUP, path, entry))
    return found


def _fifo_sets(layout: Layout, tasks: set[str]) -> list[Leftover]:
    found = []
    for task_id in _entries(layout.fifo_namespace_dir):
        task_fifos = layout.fifo_task_dir(task_id)
        sets = _entries(task_fifos)
        if task_id not in tasks:
            found.append(Leftover(FIFO_SET, task_fifos, task_id))
            continue
        for name in sets:
            if not client_alive(name):
                found.append(Leftover(FIFO_SET, os.path.join(task_fifos, name), task_id))
    return found


def client_alive(set_name: str) -> bool:
    """A FIFO set is named KIND-PID-STARTTIME-TAG by its client (stdio.FifoSet.create)."""
    parts = set_name.split("-")
    if len(parts) != 4 or not parts[1].isdigit() or not parts[2].isdigit():
        return False  # not ours to keep
    return protocol.is_alive(int(parts[1]), int(parts[2]))


def _lock_files(layout: Layout, tasks: set[str]) -> list[Leftover]:
    found = []
    containers = {e[:-len(".json")] for e in _entries(layout.containers_dir)
                  if e.endswith(".json")}
    for entry in _entries(layout.locks_dir):
        task_id = entry.removesuffix(".lock")
        if entry.endswith(".lock") and task_id not in tasks and task_id not in containers \
                and not os.path.lexists(layout.creating_dir(task_id)):
            found.append(Leftover(LOCK_FILE, os.path.join(layout.locks_dir, entry), task_id))
    claim_dir = os.path.dirname(layout.claim_lock_file("x"))
    for entry in _entries(claim_dir):
        task_id = entry.removesuffix(".lock")
        if entry.endswith(".lock") and task_id not in containers:
            found.append(Leftover(CLAIM_LOCK, os.path.join(claim_dir, entry), task_id))
    return found

