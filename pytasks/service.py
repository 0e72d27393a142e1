"""TasksService: one method per RPC, request message in, response message out.

Every method has the same shape: validate -> lock (when it writes) -> reconcile -> check the
lifecycle table -> act (through the monitor or the runtime adapter) -> save -> respond.
The CLI only parses arguments and renders; a gRPC servicer would wrap this object as is.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal as signals_mod
from pathlib import Path
from typing import TYPE_CHECKING, Any

from google.protobuf import any_pb2, empty_pb2, timestamp_pb2

from pytasks import errors, ids, lifecycle
from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
from pytasks.api.containerd.types import task_pb2
from pytasks.api.extension.v1 import extension_pb2
from pytasks.lifecycle import Op, Status
from pytasks.monitor import client, protocol
from pytasks.state import layout as names
from pytasks.state.atomic import write_json
from pytasks.state.layout import Layout, ensure_dir
from pytasks.state.lock import TaskLock
from pytasks.task import UNKNOWN_EXIT_STATUS, TaskView, list_ids, load, save_record

if TYPE_CHECKING:
    from pytasks.containers import ContainerStore

SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"


class TasksService:
    def __init__(self, layout: Layout, runtime: str = "runc") -> None:
        self.layout = layout
        self.default_runtime = runtime

    # helpers -----------------------------------------------------------------------------
    def _locked(self, task_id: str) -> TaskLock:
        ensure_dir(self.layout.locks_dir)
        return TaskLock(self.layout.lock_file(task_id), f"task {task_id}")

    def _task_dir(self, task_id: str) -> Path:
        return self.layout.task_dir(task_id)

    @property
    def containers(self) -> ContainerStore:
        from pytasks.containers import ContainerStore

        return ContainerStore(self.layout)

    # Create -------------------------------------------------------------------------------
    def create(self, req: tasks_pb2.CreateTaskRequest) -> tasks_pb2.CreateTaskResponse:
        task_id = ids.validate(req.container_id, "container id")
        task_dir = self._task_dir(task_id)
        stdio = {name: _check_stdio(name, getattr(req, name), task_dir)
                 for name in ("stdin", "stdout", "stderr")}
        if req.HasField("checkpoint"):
            raise errors.UnimplementedError("restoring a task from a checkpoint is not "
                                            "supported yet")
        from pytasks.runtime import resolve_binary

        with self._locked(task_id):
            # Under the task lock, which `containers delete` takes too: the record cannot
            # vanish between this read and the task's creation.
            container = self.containers.get(task_id)
            runtime = resolve_binary(container.get("runtime", {}).get("name")
                                     or self.default_runtime)
            ensure_dir(self.layout.namespace_dir)
            ensure_dir(self.layout.runtime_root)
            try:
                task_dir.mkdir(mode=0o700)
            except FileExistsError:
                raise errors.AlreadyExistsError(f"task {task_id}: already exists") from None
            try:
                return self._create_in(task_dir, task_id, container, runtime, stdio, req)
            except BaseException:
                self._remove_task_files(task_id)
                raise

    def _create_in(self, task_dir: Path, task_id: str, container: dict[str, Any],
                   runtime: str, stdio: dict[str, str], req: tasks_pb2.CreateTaskRequest
                   ) -> tasks_pb2.CreateTaskResponse:
        from pytasks import spec as spec_mod

        spec = copy.deepcopy(container["spec"])
        rootfs = container.get("rootfs", {})
        rootfs_mounts = [{"type": m.type, "source": m.source, "options": list(m.options)}
                         for m in req.rootfs]
        if rootfs_mounts:
            root_path = task_dir / names.ROOTFS_DIR
            root_path.mkdir(mode=0o755)
        elif rootfs.get("kind") == "host-tools":
            root_path = task_dir / names.ROOTFS_DIR
            root_path.mkdir(mode=0o755)
            spec_mod.prepare_host_tools_root(root_path)
        else:
            root_path = Path(rootfs.get("path") or spec.get("root", {}).get("path", ""))
            if not root_path.is_dir():
                raise errors.FailedPreconditionError(
                    f"rootfs {root_path} of container {task_id} is missing")
        spec.setdefault("root", {})["path"] = str(root_path)
        spec.setdefault("linux", {})["cgroupsPath"] = self.layout.cgroup_path(task_id)
        spec.setdefault("process", {})["terminal"] = bool(req.terminal)
        pid_ns = any(ns.get("type") == "pid" and not ns.get("path")
                     for ns in spec["linux"].get("namespaces", []))
        write_json(task_dir / names.CONFIG_FILE, spec)
        write_json(task_dir / names.MONITOR_FILE, {
            "id": task_id,
            "runtime": runtime,
            "runtime_root": str(self.layout.runtime_root),
            "stdio": {**stdio, "terminal": bool(req.terminal)},
            "rootfs_mounts": rootfs_mounts,
            "pid_namespace": pid_ns,
        })
        record: dict[str, Any] = {
            "id": task_id,
            "container_id": task_id,
            "pid": 0,
            "status": Status.CREATED.label,
            **stdio,
            "terminal": bool(req.terminal),
            "runtime": runtime,
            "cgroup": self.layout.cgroup_path(task_id),
            "created_at": protocol.rfc3339(protocol.now_ns()),
            "monitor": {},
        }
        save_record(self.layout, task_id, record)
        ready = client.spawn(task_dir)
        record["pid"] = int(ready["pid"])
        record["monitor"] = {"pid": int(ready["monitor_pid"]),
                             "start_time": ready["monitor_start_time"]}
        save_record(self.layout, task_id, record)
        return tasks_pb2.CreateTaskResponse(container_id=task_id, pid=record["pid"])

    # Start --------------------------------------------------------------------------------
    def start(self, req: tasks_pb2.StartTaskRequest) -> empty_pb2.Empty:
        task_id = ids.validate(req.container_id, "container id")
        with self._locked(task_id):
            view = load(self.layout, task_id)
            lifecycle.check(Op.START, view.status)
            try:
                client.request(self._task_dir(task_id), {"op": protocol.OP_START})
            except client.MonitorGoneError:
                view = load(self.layout, task_id)
                lifecycle.check(Op.START, view.status)
                raise
            view.record["status"] = Status.RUNNING.label
            view.record["started_at"] = protocol.rfc3339(protocol.now_ns())
            save_record(self.layout, task_id, view.record)
        return empty_pb2.Empty()

    # Kill -----------------------------------------------------------------------------------
    def kill(self, req: tasks_pb2.KillRequest) -> empty_pb2.Empty:
        task_id = ids.validate(req.container_id, "container id")
        if not 1 <= req.signal < signals_mod.NSIG:
            raise errors.InvalidArgumentError(
                f"invalid signal {req.signal}: must be 1..{signals_mod.NSIG - 1}")
        which = req.WhichOneof("pid_or_all")
        kill_all = which == "all" and req.all
        pid = req.pid if which == "pid" else 0
        view = load(self.layout, task_id)
        if pid and pid == view.pid:
            pid = 0
        lifecycle.check(Op.KILL, view.status)
        if view.monitor_lost:
            # No monitor (and no recorded exit): signal through the runtime directly.
            if pid:
                raise errors.NotFoundError(f"process {pid} not found in task {task_id}")
            from pytasks.task import runtime_for

            rt = runtime_for(self.layout, view.record)
            rt.run(rt.kill_argv(task_id, req.signal, kill_all))
            return empty_pb2.Empty()
        try:
            client.request(self._task_dir(task_id), {
                "op": protocol.OP_KILL, "signal": req.signal, "all": kill_all, "pid": pid})
        except client.MonitorGoneError:
            lifecycle.check(Op.KILL, load(self.layout, task_id).status)
            raise
        if view.status is Status.PAUSED and not pid:
            self._after_kill_paused(task_id, req.signal)
        return empty_pb2.Empty()

    # Wait (extension) ------------------------------------------------------------------------
    def wait(self, req: extension_pb2.WaitRequest) -> extension_pb2.WaitResponse:
        task_id = ids.validate(req.container_id, "container id")
        view = load(self.layout, task_id)
        if req.pid and req.pid != view.pid:
            return self._wait_exec(view, req.pid)
        if view.exit is None and not view.monitor_lost:
            try:
                client.request(self._task_dir(task_id), {"op": protocol.OP_WAIT},
                               timeout=None)
            except client.MonitorGoneError:
                pass
            view = load(self.layout, task_id)
        return extension_pb2.WaitResponse(
            exit_status=view.exit_status, exited_at=_timestamp(view.exit),
            exit_status_known=view.exit_status_known)

    def _wait_exec(self, view: TaskView, pid: int) -> extension_pb2.WaitResponse:
        task_dir = self._task_dir(view.task_id)
        _, exit_record = _exec_files(task_dir, view.task_id, pid)
        if exit_record is None and view.monitor_alive:
            try:
                client.request(task_dir, {"op": protocol.OP_WAIT, "pid": pid}, timeout=None)
            except client.MonitorGoneError:
                pass
            _record, exit_record = _exec_files(task_dir, view.task_id, pid)
        return extension_pb2.WaitResponse(
            exit_status=int(exit_record["exit_status"]) if exit_record else
            UNKNOWN_EXIT_STATUS, exited_at=_timestamp(exit_record),
            exit_status_known=exit_record is not None)

    # Delete -----------------------------------------------------------------------------------
    def delete(self, req: tasks_pb2.DeleteTaskRequest) -> tasks_pb2.DeleteResponse:
        task_id = ids.validate(req.container_id, "container id")
        with self._locked(task_id):
            view = load(self.layout, task_id)
            lifecycle.check(Op.DELETE, view.status)
            if view.status is Status.CREATED:
                view = self._kill_created(view)
            if view.record.get("runtime"):
                from pytasks.task import runtime_for

                rt = runtime_for(self.layout, view.record)
                rt.run(rt.delete_argv(task_id, force=view.exit is None), check=False)
            self._remove_task_files(task_id)
        return tasks_pb2.DeleteResponse(container_id=task_id, exit_status=view.exit_status,
                                        exited_at=_timestamp(view.exit))

    def _kill_created(self, view: TaskView) -> TaskView:
        """A created task never ran: kill its waiting init and wait for the exit fact."""
        task_dir = self._task_dir(view.task_id)
        try:
            client.request(task_dir, {"op": protocol.OP_KILL, "signal": signals_mod.SIGKILL,
                                      "all": True, "pid": 0})
            client.request(task_dir, {"op": protocol.OP_WAIT}, timeout=30.0)
        except (client.MonitorGoneError, errors.NotFoundError):
            pass
        return load(self.layout, view.task_id)

    def _remove_task_files(self, task_id: str) -> None:
        task_dir = self._task_dir(task_id)
        _unmount_under(task_dir)
        shutil.rmtree(task_dir, ignore_errors=True)
        shutil.rmtree(self.layout.fifo_task_dir(task_id), ignore_errors=True)
        from pytasks import cgroups

        cgroups.remove_empty_parents(self.layout.cgroup_path(task_id))

    # DeleteProcess -------------------------------------------------------------------------
    def delete_process(self, req: tasks_pb2.DeleteProcessRequest) -> tasks_pb2.DeleteResponse:
        task_id = ids.validate(req.container_id, "container id")
        with self._locked(task_id):
            view = load(self.layout, task_id)
            if req.pid == 0 or req.pid == view.pid:
                raise errors.FailedPreconditionError(
                    "cannot delete the init process with delete-process; use delete")
            task_dir = self._task_dir(task_id)
            _, exit_record = _exec_files(task_dir, task_id, req.pid)
            if exit_record is None and view.monitor_alive:
                raise errors.InvalidStateError(
                    f"cannot delete process {req.pid} in running state")
            for suffix in (names.RECORD_SUFFIX, names.EXIT_SUFFIX):
                try:
                    os.unlink(task_dir / names.EXEC_DIR / f"{req.pid}{suffix}")
                except FileNotFoundError:
                    pass
        return tasks_pb2.DeleteResponse(
            container_id=task_id,
            exit_status=int(exit_record["exit_status"]) if exit_record else
            UNKNOWN_EXIT_STATUS, exited_at=_timestamp(exit_record))

    # Exec / ResizePty / CloseIO ----------------------------------------------------------------
    def exec(self, req: tasks_pb2.ExecProcessRequest) -> tasks_pb2.ExecProcessResponse:
        task_id = ids.validate(req.container_id, "container id")
        task_dir = self._task_dir(task_id)
        stdio = {name: _check_stdio(name, getattr(req, name), task_dir)
                 for name in ("stdin", "stdout", "stderr")}
        try:
            process = json.loads(req.spec.value or b"null")
        except ValueError as exc:
            raise errors.InvalidArgumentError(f"exec spec is not JSON: {exc}") from None
        if not isinstance(process, dict) or not process.get("args"):
            raise errors.InvalidArgumentError("exec spec must be an OCI process with args")
        view = load(self.layout, task_id)
        lifecycle.check(Op.EXEC, view.status)
        if view.monitor_lost:
            raise errors.UnavailableError(f"task {task_id} has lost its monitor")
        try:
            reply = client.request(task_dir, {
                "op": protocol.OP_EXEC, "process": process, "stdio": stdio,
                "terminal": bool(req.terminal)})
        except client.MonitorGoneError:
            lifecycle.check(Op.EXEC, load(self.layout, task_id).status)
            raise
        return tasks_pb2.ExecProcessResponse(pid=int(reply["pid"]))

    def resize_pty(self, req: tasks_pb2.ResizePtyRequest) -> empty_pb2.Empty:
        self._process_request(req.container_id, req.pid, Op.RESIZE, {
            "op": protocol.OP_RESIZE, "pid": req.pid, "width": req.width,
            "height": req.height})
        return empty_pb2.Empty()

    def close_io(self, req: tasks_pb2.CloseIORequest) -> empty_pb2.Empty:
        if req.stdin:  # the seed only defines closing stdin; anything else is a no-op
            self._process_request(req.container_id, req.pid, Op.CLOSE_IO, {
                "op": protocol.OP_CLOSE_STDIN, "pid": req.pid})
        return empty_pb2.Empty()

    def _process_request(self, container_id: str, pid: int, op: Op,
                         message: dict[str, Any]) -> None:
        """A request about one process (init or exec) that is a no-op once it exited."""
        task_id = ids.validate(container_id, "container id")
        view = load(self.layout, task_id)
        lifecycle.check(op, view.status)
        if pid and pid != view.pid:
            _record, exit_record = _exec_files(self._task_dir(task_id), task_id, pid)
            if exit_record is not None:
                return
        elif view.exit is not None:
            return
        try:
            client.request(self._task_dir(task_id), message)
        except client.MonitorGoneError:
            pass  # the process and its monitor are gone: nothing left to resize or close

    def attach(self, container_id: str, pid: int = 0, stdin: bool = True
               ) -> tuple[Any, dict[str, Any]]:
        """Local addition (not an RPC): a framed stream to a running process's stdio.
        One attached client per process; a second one is refused."""
        task_id = ids.validate(container_id, "container id")
        view = load(self.layout, task_id)
        if view.status not in (Status.RUNNING, Status.CREATED, Status.PAUSED):
            raise errors.InvalidStateError(f"cannot attach to task in {view.status.label} state")
        if view.monitor_lost:
            raise errors.UnavailableError(f"task {task_id} has lost its monitor")
        return client.attach(self._task_dir(task_id), pid, stdin)

    # Get / List -------------------------------------------------------------------------------
    def get(self, req: tasks_pb2.GetTaskRequest) -> tasks_pb2.GetTaskResponse:
        task_id = ids.validate(req.container_id, "container id")
        view = load(self.layout, task_id)
        task = _task_message(view)
        try:
            with open(self._task_dir(task_id) / names.CONFIG_FILE, "rb") as fh:
                task.spec.CopyFrom(any_pb2.Any(type_url=SPEC_TYPE_URL, value=fh.read()))
        except FileNotFoundError:
            pass
        return tasks_pb2.GetTaskResponse(task=task)

    def list(self, req: tasks_pb2.ListTasksRequest) -> tasks_pb2.ListTasksResponse:
        from pytasks.task import select

        return tasks_pb2.ListTasksResponse(
            tasks=[_task_message(view) for view in select(self.layout, req.filter)])

    def pause(self, req: tasks_pb2.PauseTaskRequest) -> empty_pb2.Empty:
        self._freeze(req.container_id, Op.PAUSE)
        return empty_pb2.Empty()

    def resume(self, req: tasks_pb2.ResumeTaskRequest) -> empty_pb2.Empty:
        self._freeze(req.container_id, Op.RESUME)
        return empty_pb2.Empty()

    def _freeze(self, container_id: str, op: Op) -> None:
        """runc pause/resume, then check the kernel's freezer (not runc's word) before
        recording PAUSED/RUNNING."""
        from pytasks import cgroups
        from pytasks.task import runtime_for

        task_id = ids.validate(container_id, "container id")
        with self._locked(task_id):
            view = load(self.layout, task_id)
            nxt = lifecycle.check(op, view.status)
            rt = runtime_for(self.layout, view.record)
            try:
                rt.run(rt.pause_argv(task_id) if op is Op.PAUSE else rt.resume_argv(task_id))
            except errors.PytasksError:
                # It may have exited meanwhile: then the lifecycle's words are the answer.
                lifecycle.check(op, load(self.layout, task_id).status)
                raise
            want = cgroups.FROZEN if op is Op.PAUSE else cgroups.THAWED
            cgroup = cgroups.Cgroup(cgroups.current_host(), view.record["cgroup"])
            if not cgroup.wait_freezer_state(want):
                raise errors.RuntimeFailedError(
                    f"task {task_id}: the freezer reports {cgroup.freezer_state()} "
                    f"after {op.value}, not {want}")
            view.record["status"] = nxt.label
            save_record(self.layout, task_id, view.record)

    def _after_kill_paused(self, task_id: str, signum: int) -> None:
        """Kill of a PAUSED task. A frozen process cannot die (cgroup v1), so SIGKILL is
        followed by a thaw, as containerd does. Any other signal sent with `runc kill
        --all` has thawed the cgroup as a side effect (runc 1.1 freezes, signals, thaws):
        freeze it again so PAUSED stays true."""
        from pytasks import cgroups
        from pytasks.task import runtime_for

        with self._locked(task_id):
            view = load(self.layout, task_id)
            if view.status is not Status.PAUSED:
                return  # exited or resumed meanwhile
            rt = runtime_for(self.layout, view.record)
            cgroup = cgroups.Cgroup(cgroups.current_host(), view.record["cgroup"])
            try:
                state = cgroup.freezer_state()
            except errors.NotFoundError:
                return  # the cgroup is gone with the task
            if signum == signals_mod.SIGKILL:
                if state != cgroups.THAWED:
                    rt.run(rt.resume_argv(task_id), check=False)
                view.record["status"] = Status.RUNNING.label  # thawed, and about to exit
                save_record(self.layout, task_id, view.record)
            elif state == cgroups.THAWED:
                rt.run(rt.pause_argv(task_id), check=False)
                cgroup.wait_frozen()

    # ListProcesses -------------------------------------------------------------------------
    def list_processes(self, req: tasks_pb2.ListProcessesRequest
                       ) -> tasks_pb2.ListProcessesResponse:
        from pytasks.processes import list_processes

        task_id = ids.validate(req.container_id, "container id")
        view = load(self.layout, task_id)
        return tasks_pb2.ListProcessesResponse(
            processes=list_processes(view, self._task_dir(task_id)))

    # Stats / Update (extension) ------------------------------------------------------------
    def stats(self, req: extension_pb2.StatsRequest) -> extension_pb2.StatsResponse:
        from pytasks.resources import sample

        task_ids = [ids.validate(c, "container id") for c in req.container_ids]
        response = extension_pb2.StatsResponse()
        for task_id in task_ids or list_ids(self.layout):
            try:
                view = load(self.layout, task_id, ask_runtime=False)
            except errors.NotFoundError:
                if task_ids:
                    raise
                continue  # deleted while we listed
            response.stats.append(sample(task_id, view.record.get("cgroup")))
        return response

    def update(self, req: extension_pb2.UpdateTaskRequest) -> empty_pb2.Empty:
        from pytasks.resources import update_arguments
        from pytasks.task import runtime_for

        task_id = ids.validate(req.container_id, "container id")
        with self._locked(task_id):
            view = load(self.layout, task_id)
            lifecycle.check(Op.UPDATE, view.status)
            arguments = update_arguments(req, view.record.get("cgroup"))
            rt = runtime_for(self.layout, view.record)
            try:
                rt.run(rt.update_argv(task_id, **arguments))
            except errors.PytasksError:
                # It may have exited meanwhile: then the lifecycle's words are the answer.
                lifecycle.check(Op.UPDATE, load(self.layout, task_id).status)
                raise
        return empty_pb2.Empty()


def _exec_files(task_dir: Path, task_id: str, pid: int
                ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """An exec's record and exit record (None while it runs); NotFound for unknown pids."""
    from pytasks.state.atomic import read_json

    base = task_dir / names.EXEC_DIR / str(pid)
    try:
        record = read_json(f"{base}{names.RECORD_SUFFIX}")
    except FileNotFoundError:
        raise errors.NotFoundError(f"process {pid} not found in task {task_id}") from None
    try:
        exit_record = read_json(f"{base}{names.EXIT_SUFFIX}")
    except FileNotFoundError:
        exit_record = None
    return record, exit_record


def _task_message(view: TaskView) -> task_pb2.Task:
    rec = view.record
    return task_pb2.Task(id=view.task_id, container_id=rec.get("container_id", view.task_id),
                         pid=view.pid, status=view.status.name, stdin=rec.get("stdin", ""),
                         stdout=rec.get("stdout", ""), stderr=rec.get("stderr", ""),
                         terminal=bool(rec.get("terminal")))


def _timestamp(exit_record: dict[str, Any] | None) -> timestamp_pb2.Timestamp | None:
    if not exit_record:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(int(exit_record["exited_at_ns"]))
    return ts


def _check_stdio(name: str, value: str, task_dir: Path) -> str:
    """'' (null), an absolute FIFO or file path, or file:///abs/path."""
    if not value:
        return ""
    path = value[len("file://"):] if value.startswith("file://") else value
    if not os.path.isabs(path):
        raise errors.InvalidArgumentError(f"{name} path {value!r} must be absolute")
    if name == "stdin" and not os.path.exists(path):
        raise errors.InvalidArgumentError(f"stdin {path} does not exist")
    parent = os.path.dirname(path)
    if name != "stdin" and parent != str(task_dir) and not os.path.isdir(parent):
        raise errors.InvalidArgumentError(f"{name} directory {os.path.dirname(path)} "
                                          "does not exist")
    return value


def _unmount_under(path: Path) -> None:
    """Guard before rmtree: never delete through a mount still attached below the task dir."""
    prefix = str(path) + "/"
    try:
        with open("/proc/self/mountinfo") as fh:
            points = [line.split()[4] for line in fh]
    except OSError:
        return
    from pytasks.runtime import run_process

    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        run_process(["/bin/umount", "-l", point])
