"""Tasks as the RPCs see them: records (state/task_record.py) reconciled with facts.
Stdlib only (cheap for list/get).

Facts beat caches: the monitor's exit record > monitor liveness (pid + start time) and the
runtime's state > the status cached in task.json (docs/architecture.md §7). Reading never
wakes a monitor.
"""

from __future__ import annotations

import os

from pytasks import errors
from pytasks.lifecycle import Status, parse_status
from pytasks.monitor import protocol
from pytasks.plain import Plain
from pytasks.state import task_record
from pytasks.state.layout import RUNTIME_LOG, Layout

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pytasks.runtime import Runtime

UNKNOWN_EXIT_STATUS = 255  # on the wire when no exit was recorded; never 0, never 137


class TaskView(Plain):
    task_id: str
    record: dict[str, Any]
    status: Status
    exit: dict[str, Any] | None
    monitor_alive: bool

    @property
    def pid(self) -> int:
        return int(self.record.get("pid", 0))

    @property
    def monitor_lost(self) -> bool:
        return self.exit is None and not self.monitor_alive

    @property
    def exit_status(self) -> int:
        return int(self.exit["exit_status"]) if self.exit else UNKNOWN_EXIT_STATUS

    @property
    def exit_status_known(self) -> bool:
        return self.exit is not None

    @property
    def oom_killed(self) -> bool:
        """The init's exit came after an OOM kill in the task's cgroup (its monitor saw the
        kernel count one), as docker's State.OOMKilled."""
        return bool(self.exit and self.exit.get("oom_killed") is True)


def load(layout: Layout, task_id: str, *, ask_runtime: bool = True) -> TaskView:
    task_dir = layout.task_dir(task_id)
    record = task_record.read(layout, task_id)
    if record is None:
        if os.path.isdir(task_dir):
            # Half-created (create crashed before writing the record): deletable, UNKNOWN.
            return TaskView(task_id, {"id": task_id, "container_id": task_id, "pid": 0},
                            Status.UNKNOWN, None, False)
        raise errors.NotFoundError(f"task {task_id} not found")
    return reconcile(layout, task_id, record, ask_runtime=ask_runtime)


def reconcile(layout: Layout, task_id: str, record: dict[str, Any], *,
              ask_runtime: bool = True) -> TaskView:
    task_dir = layout.task_dir(task_id)
    exit_record = task_record.read_exit(task_dir)
    if exit_record is not None:
        return TaskView(task_id, record, Status.STOPPED, exit_record, False)
    monitor = record.get("monitor") or {}
    if not monitor.get("pid"):
        record = _unfinished_create(layout, task_id, record)
        monitor = record["monitor"]
    if protocol.is_alive(int(monitor.get("pid", 0)), monitor.get("start_time")):
        return TaskView(task_id, record, parse_status(record.get("status", "unknown")), None,
                        True)
    # The monitor writes the exit record and then exits: look again before calling it lost.
    exit_record = task_record.read_exit(task_dir)
    if exit_record is not None:
        return TaskView(task_id, record, Status.STOPPED, exit_record, False)
    status = Status.UNKNOWN
    if ask_runtime and record.get("pid"):
        state = runtime_for(layout, record).state(task_id)
        if state and state.get("status") in ("running", "paused", "created"):
            status = parse_status(state["status"])
    return TaskView(task_id, record, status, None, False)


def _unfinished_create(layout: Layout, task_id: str, record: dict[str, Any]
                       ) -> dict[str, Any]:
    """A record whose create died before naming its monitor: the monitor it started, if
    one answers, is the fact. The repaired record is returned, not written (readers hold
    no lock); the next writer under the task lock saves it with its own change."""
    from pytasks.monitor import client

    found = client.identify(layout.task_dir(task_id))
    if found is None:
        return record
    repaired = dict(record, pid=record.get("pid") or found["init_pid"],
                    monitor={"pid": found["monitor_pid"],
                             "start_time": found["monitor_start_time"]})
    state = runtime_for(layout, repaired).state(task_id)
    if state and state.get("status") in ("running", "paused", "created"):
        repaired["status"] = state["status"]
    return repaired


def runtime_for(layout: Layout, record: dict[str, Any]) -> Runtime:
    from pytasks.runtime import Runtime

    if not record.get("runtime"):
        # Only the placeholder of a task dir without a record (a leftover, or a task being
        # removed this instant): nothing runs there.
        raise errors.NotFoundError(f"task {record['id']} not found")
    return Runtime(record["runtime"], layout.runtime_root,
                   layout.task_file(record["id"], RUNTIME_LOG))


def task_status(layout: Layout, task_id: str) -> Status | None:
    """The task's status, or None when no task exists for the container."""
    try:
        return load(layout, task_id).status
    except errors.NotFoundError:
        return None


def glance(layout: Layout, task_id: str) -> Status:
    """The status from the records and the monitor's liveness alone, for shell completion:
    no runtime call, no monitor connection. UNKNOWN for a task being created (no monitor
    named yet), a lost monitor, a corrupt record or none."""
    try:
        record = task_record.read(layout, task_id)
    except errors.PytasksError:
        return Status.UNKNOWN
    if record is None or not (record.get("monitor") or {}).get("pid"):
        return Status.UNKNOWN
    try:
        return reconcile(layout, task_id, record, ask_runtime=False).status
    except (errors.PytasksError, KeyError):
        return Status.UNKNOWN  # an exit record that is not one; a status word that is not


def list_ids(layout: Layout) -> list[str]:
    """Ids of the tasks in the namespace (directory names; dot-entries are ours)."""
    try:
        entries = os.listdir(layout.namespace_dir)
    except FileNotFoundError:
        return []
    return sorted(e for e in entries if not e.startswith("."))


class Listing(Plain):
    """What List finds: the healthy tasks, and one DataLoss per task whose records are
    unreadable or corrupt (it cannot be matched against a filter; it is never hidden)."""

    views: list[TaskView]
    broken: list[errors.DataLossError]


def select(layout: Layout, filter_text: str = "") -> Listing:
    """The tasks of the namespace that match a containerd filter, reconciled. This is the
    List RPC without its protobuf envelope: light CLI calls render from it directly."""
    selector = None
    if filter_text.strip():  # blank matches everything: no need to load filters.py
        from pytasks import filters

        selector = filters.parse(filter_text)
    views = []
    broken = []
    for task_id in list_ids(layout):
        try:
            view = load(layout, task_id)
        except errors.NotFoundError:
            continue  # deleted while we listed
        except errors.DataLossError as exc:
            broken.append(exc)
            continue
        if selector is None:
            views.append(view)
            continue
        fields = filter_fields(view)
        if selector.wants_labels:  # only then: one more record read per task
            fields.update(_label_fields(layout, view))
        if selector.match(fields):
            views.append(view)
    return Listing(views, broken)


def _label_fields(layout: Layout, view: TaskView) -> dict[str, str]:
    from pytasks.filters import LABELS
    from pytasks.state.container_record import ContainerStore

    try:
        labels = ContainerStore(layout).get(view.record.get("container_id", view.task_id)
                                            ).get("labels") or {}
    except errors.PytasksError:
        return {}  # no record (or a corrupt one): no labels to match
    return {LABELS + str(k): str(v) for k, v in labels.items()}


def filter_fields(view: TaskView) -> dict[str, str]:
    return {"id": view.task_id, "container_id": view.record.get("container_id", view.task_id),
            "pid": str(view.pid), "status": view.status.name}
