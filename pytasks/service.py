"""TasksService: one method per RPC, request message in, response message out.

Each method unpacks its request, calls the Engine (engine.py: the same operations with plain
arguments, no protobuf) and packs the response. A gRPC servicer would wrap this object as
is; scripts in Python may use either layer (README, "Python API").
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from google.protobuf import any_pb2, empty_pb2, timestamp_pb2

from pytasks import errors
from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
from pytasks.api.containerd.types import descriptor_pb2, task_pb2
from pytasks.api.extension.v1 import extension_pb2
from pytasks.engine import Engine, Exit
from pytasks.inspection import Inspection
from pytasks.resources import TaskFigures
from pytasks.state.content import Blob
from pytasks.state.layout import Layout
from pytasks.task import TaskView

SPEC_TYPE_URL = "types.containerd.io/opencontainers/runtime-spec/1/Spec"


class TasksService:
    def __init__(self, layout: Layout, runtime: str = "runc") -> None:
        self.engine = Engine(layout, runtime)
        self.layout = layout

    def create(self, req: tasks_pb2.CreateTaskRequest) -> tasks_pb2.CreateTaskResponse:
        pid = self.engine.create(
            req.container_id, stdin=req.stdin, stdout=req.stdout, stderr=req.stderr,
            terminal=req.terminal,
            checkpoint=req.checkpoint.digest if req.HasField("checkpoint") else None,
            rootfs_mounts=[{"type": m.type, "source": m.source, "options": list(m.options)}
                           for m in req.rootfs])
        return tasks_pb2.CreateTaskResponse(container_id=req.container_id, pid=pid)

    def start(self, req: tasks_pb2.StartTaskRequest) -> empty_pb2.Empty:
        self.engine.start(req.container_id)
        return empty_pb2.Empty()

    def kill(self, req: tasks_pb2.KillRequest) -> empty_pb2.Empty:
        which = req.WhichOneof("pid_or_all")
        self.engine.kill(req.container_id, req.signal, all=which == "all" and req.all,
                         pid=req.pid if which == "pid" else 0)
        return empty_pb2.Empty()

    def wait(self, req: extension_pb2.WaitRequest) -> extension_pb2.WaitResponse:
        return wait_response(self.engine.wait(req.container_id, req.pid))

    def delete(self, req: tasks_pb2.DeleteTaskRequest) -> tasks_pb2.DeleteResponse:
        return delete_response(req.container_id, self.engine.delete(req.container_id))

    def delete_process(self, req: tasks_pb2.DeleteProcessRequest) -> tasks_pb2.DeleteResponse:
        return delete_response(req.container_id,
                               self.engine.delete_process(req.container_id, req.pid))

    def exec(self, req: tasks_pb2.ExecProcessRequest) -> tasks_pb2.ExecProcessResponse:
        try:
            process = json.loads(req.spec.value or b"null")
        except ValueError as exc:
            raise errors.InvalidArgumentError(f"exec spec is not JSON: {exc}") from None
        pid = self.engine.exec(req.container_id, process, stdin=req.stdin, stdout=req.stdout,
                               stderr=req.stderr, terminal=req.terminal)
        return tasks_pb2.ExecProcessResponse(pid=pid)

    def resize_pty(self, req: tasks_pb2.ResizePtyRequest) -> empty_pb2.Empty:
        self.engine.resize_pty(req.container_id, req.pid, req.width, req.height)
        return empty_pb2.Empty()

    def close_io(self, req: tasks_pb2.CloseIORequest) -> empty_pb2.Empty:
        self.engine.close_io(req.container_id, req.pid, req.stdin)
        return empty_pb2.Empty()

    def attach(self, container_id: str, pid: int = 0, stdin: bool = True
               ) -> tuple[Any, dict[str, Any]]:
        """Local addition (not an RPC): see Engine.attach."""
        return self.engine.attach(container_id, pid, stdin)

    def get(self, req: tasks_pb2.GetTaskRequest) -> tasks_pb2.GetTaskResponse:
        task = task_message(self.engine.get(req.container_id))
        spec = self.engine.spec(req.container_id)
        if spec is not None:
            task.spec.CopyFrom(any_pb2.Any(type_url=SPEC_TYPE_URL, value=spec))
        return tasks_pb2.GetTaskResponse(task=task)

    def list(self, req: tasks_pb2.ListTasksRequest) -> tasks_pb2.ListTasksResponse:
        # Tasks with corrupt records are left out here; the CLI names them (verbs/list.py).
        return list_response(self.engine.list_tasks(req.filter).views)

    def pause(self, req: tasks_pb2.PauseTaskRequest) -> empty_pb2.Empty:
        self.engine.pause(req.container_id)
        return empty_pb2.Empty()

    def resume(self, req: tasks_pb2.ResumeTaskRequest) -> empty_pb2.Empty:
        self.engine.resume(req.container_id)
        return empty_pb2.Empty()

    def list_processes(self, req: tasks_pb2.ListProcessesRequest
                       ) -> tasks_pb2.ListProcessesResponse:
        from pytasks.processes import process_message

        return tasks_pb2.ListProcessesResponse(
            processes=[process_message(p) for p in self.engine.list_processes(
                req.container_id)])

    def checkpoint(self, req: tasks_pb2.CheckpointTaskRequest, *, name: str | None = None,
                   criu_path: str | None = None) -> tasks_pb2.CheckpointTaskResponse:
        """The index (the checkpoint), then the CRIU image and the config it groups."""
        result = self.engine.checkpoint(req.container_id, dict(req.options),
                                        parent_checkpoint=req.parent_checkpoint, name=name,
                                        criu_path=criu_path)
        return checkpoint_response(result.descriptors)

    # Stats / Update (extension) ------------------------------------------------------------
    def stats(self, req: extension_pb2.StatsRequest) -> extension_pb2.StatsResponse:
        return extension_pb2.StatsResponse(
            stats=[stats_message(sample) for sample in self.engine.stats(req.container_ids)])

    def update(self, req: extension_pb2.UpdateTaskRequest) -> empty_pb2.Empty:
        from pytasks.resources import Limits

        self.engine.update(req.container_id, Limits(
            memory_limit=req.memory_limit if req.HasField("memory_limit") else None,
            cpus=req.cpus if req.HasField("cpus") else None,
            pids_limit=req.pids_limit if req.HasField("pids_limit") else None))
        return empty_pb2.Empty()

    def inspect(self, req: extension_pb2.InspectRequest) -> extension_pb2.InspectResponse:
        return extension_pb2.InspectResponse(containers=[
            inspection_message(self.engine.inspect(c)) for c in req.container_ids])


def inspection_message(found: Inspection) -> extension_pb2.Inspection:
    from google.protobuf import struct_pb2

    record = found.container
    document = struct_pb2.Struct()
    document.update(record)
    message = extension_pb2.Inspection(
        id=record["id"], labels={str(k): str(v) for k, v in record.get("labels", {}).items()},
        container=document, task_state_dir=record.get("task_state") or "")
    view = found.task
    if view is None:
        return message
    rec = view.record
    exit = Exit(view.exit)
    task = message.task
    task.pid = view.pid
    task.status = view.status.name
    for name in ("created_at", "started_at"):
        if rec.get(name):
            getattr(task, name).FromJsonString(rec[name])
    task.exit_status_known = view.exit_status_known
    if view.exit is not None or view.monitor_lost:
        task.exit_status = exit.status
    if exit.exited_at_ns is not None:
        task.exited_at.FromNanoseconds(exit.exited_at_ns)
    monitor = rec.get("monitor") or {}
    task.monitor.pid = int(monitor.get("pid", 0))
    task.monitor.alive = view.monitor_alive
    task.stdin, task.stdout, task.stderr = (rec.get("stdin", ""), rec.get("stdout", ""),
                                            rec.get("stderr", ""))
    task.terminal = bool(rec.get("terminal"))
    task.runtime = rec.get("runtime", "")
    task.cgroup = rec.get("cgroup", "")
    limits = found.limits
    if limits.memory_limit is not None:
        task.memory_limit = limits.memory_limit
    if limits.cpus is not None:
        task.cpus = limits.cpus
    if limits.pids_limit is not None:
        task.pids_limit = limits.pids_limit
    task.oom_kills = found.oom_kills
    task.oom_killed = found.oom_kills > 0 or view.oom_killed
    return message


def checkpoint_response(blobs: Iterable[Blob]) -> tasks_pb2.CheckpointTaskResponse:
    return tasks_pb2.CheckpointTaskResponse(descriptors=[
        descriptor_pb2.Descriptor(media_type=b.media_type, digest=b.digest, size=b.size)
        for b in blobs])


def wait_response(result: Exit) -> extension_pb2.WaitResponse:
    return extension_pb2.WaitResponse(exit_status=result.status, exited_at=timestamp(result),
                                      exit_status_known=result.known)


def list_response(views: Iterable[TaskView]) -> tasks_pb2.ListTasksResponse:
    return tasks_pb2.ListTasksResponse(tasks=[task_message(view) for view in views])


def task_message(view: TaskView) -> task_pb2.Task:
    rec = view.record
    return task_pb2.Task(id=view.task_id, container_id=rec.get("container_id", view.task_id),
                         pid=view.pid, status=view.status.name, stdin=rec.get("stdin", ""),
                         stdout=rec.get("stdout", ""), stderr=rec.get("stderr", ""),
                         terminal=bool(rec.get("terminal")))


def delete_response(container_id: str, result: Exit) -> tasks_pb2.DeleteResponse:
    return tasks_pb2.DeleteResponse(container_id=container_id, exit_status=result.status,
                                    exited_at=timestamp(result))


def timestamp(result: Exit) -> timestamp_pb2.Timestamp | None:
    if result.exited_at_ns is None:
        return None
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(result.exited_at_ns)
    return ts


def stats_message(sample: TaskFigures) -> extension_pb2.TaskStats:
    ts = timestamp_pb2.Timestamp()
    ts.FromNanoseconds(sample.timestamp_ns)
    figures = sample.figures
    return extension_pb2.TaskStats(
        container_id=sample.task_id, timestamp=ts,
        cpu=extension_pb2.CpuStats(**figures["cpu"]),
        memory=extension_pb2.MemoryStats(**figures["memory"]),
        pids=extension_pb2.PidsStats(**figures["pids"]),
        blkio=extension_pb2.BlkioStats(**figures["blkio"]))
