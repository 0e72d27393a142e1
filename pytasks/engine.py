"""Engine: the Tasks service without its protobuf envelope (plain arguments, plain results).

Every operation has the same shape: validate -> lock (when it writes) -> reconcile -> check
the lifecycle table -> act (through the monitor or the runtime adapter) -> save -> return.
TasksService (service.py) wraps each RPC around one method here; the CLI's hot verbs call
these methods directly, because importing the protobuf runtime costs more than the rest of
a light call (bench/README.md, "Why two layers").
"""

from __future__ import annotations

import json
import os

from pytasks import errors, ids, lifecycle
from pytasks.lifecycle import Op, Status
from pytasks.monitor import protocol
from pytasks.state import task_record
from pytasks.state.layout import (
    CHECKPOINT_IMAGE_DIR,
    CHECKPOINT_WORK_DIR,
    CONFIG_FILE,
    INIT_CONSOLE_SOCKET,
    INIT_PID_FILE,
    MONITOR_FILE,
    RESTORE_IMAGE_DIR,
    RESTORE_WORK_DIR,
    ROOTFS_DIR,
    RUNTIME_LOG,
    Layout,
    ensure_dir,
)
from pytasks.state.lock import TaskLock
from pytasks.task import UNKNOWN_EXIT_STATUS, TaskView, load

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence
    from typing import Any, TypeVar

    from pytasks.checkpoint import Checkpoint
    from pytasks.garbage import Leftover
    from pytasks.inspection import Inspection
    from pytasks.processes import ProcessEntry
    from pytasks.resources import Limits, TaskFigures
    from pytasks.runtime import Runtime
    from pytasks.state.container_record import ContainerStore
    from pytasks.state.content import Blob
    from pytasks.task import Listing

    T = TypeVar("T")


def require_root(task_id: str) -> None:
    """Tasks are created as root only. Said before anything is made: runc's own "rootless
    container requires user namespaces" would come after a monitor, a task dir and a
    cgroup attempt."""
    if os.geteuid() != 0:
        raise errors.PermissionDeniedError(
            f"task {task_id}: creating tasks needs root; rootless containers are not "
            "supported yet (run pytasks as root, e.g. with sudo)")


class Exit:
    """An exit fact as the RPCs report it: the status (255 when unknown) and when."""

    __slots__ = ("exited_at_ns", "status")

    def __init__(self, record: dict[str, Any] | None) -> None:
        self.status = int(record["exit_status"]) if record else UNKNOWN_EXIT_STATUS
        self.exited_at_ns: int | None = int(record["exited_at_ns"]) if record else None

    @property
    def known(self) -> bool:
        return self.exited_at_ns is not None


class Engine:
    def __init__(self, layout: Layout, runtime: str = "runc") -> None:
        self.layout = layout
        self.default_runtime = runtime

    # helpers -----------------------------------------------------------------------------
    def lock(self, task_id: str) -> TaskLock:
        """The task's lock (writers of its record hold it; service.update composes with it)."""
        ensure_dir(self.layout.locks_dir)
        return TaskLock(self.layout.lock_file(task_id), f"task {task_id}")

    def claim_lock(self, container_id: str) -> TaskLock:
        """The container's lock on the persistent root, shared by every state dir that uses
        it: taken after the task lock, to claim or release the container for a task."""
        path = self.layout.claim_lock_file(container_id)
        ensure_dir(os.path.dirname(path))
        return TaskLock(path, f"container {container_id}")

    def _claim_holder(self, container: dict[str, Any]) -> str | None:
        """The other state dir that holds this container's task, or None. A claim whose
        state dir has no task dir for it (the create died before placing one, or a reboot
        emptied that state dir) is stale."""
        claimed = container.get("task_state")
        if not claimed or claimed == self.layout.state:
            return None
        other = Layout(self.layout.root, claimed, self.layout.namespace)
        return claimed if os.path.lexists(other.task_dir(container["id"])) else None

    def _release_claim(self, container_id: str) -> None:
        """After our task of the container is gone (the record may be gone too)."""
        if not os.path.lexists(self.layout.container_file(container_id)):
            return  # no record to release (and no lock file to leave behind)
        try:
            with self.claim_lock(container_id):
                container = self.containers.get(container_id)
                if container.get("task_state") == self.layout.state:
                    self.containers.set_task_state(container, None)
        except (errors.NotFoundError, errors.DataLossError):
            pass  # no record, or one delete -f cannot read: nothing to release

    def _guarded(self, task_id: str, op: Op, action: Callable[[], T]) -> T:
        """Act on a task that may move on meanwhile (exit, lose its monitor). When the act
        fails, the lifecycle's words about the task as it is now are the answer; when the
        new state still allows the operation, the act's own error stands."""
        try:
            return action()
        except errors.PytasksError:
            lifecycle.check(op, load(self.layout, task_id).status)
            raise

    def _task_dir(self, task_id: str) -> str:
        return self.layout.task_dir(task_id)

    @property
    def containers(self) -> ContainerStore:
        from pytasks.state.container_record import ContainerStore

        return ContainerStore(self.layout)

    # Create -------------------------------------------------------------------------------
    def create(self, container_id: str, *, stdin: str | None = None,
               stdout: str | None = None, stderr: str | None = None, terminal: bool = False,
               rootfs_mounts: list[dict[str, Any]] | None = None, start: bool = False,
               checkpoint: str | None = None, criu_path: str | None = None) -> int:
        """Create the task of a container; returns the init's pid. With start, Create and
        Start in one runtime call (`runc run --detach`): what `run -d` is, one runtime
        process start cheaper; the task is RUNNING when this returns. Stdio: see
        _stdio (all three None: the task's log).

        With checkpoint (a checkpoint name, its index or CRIU image digest, or a unique
        prefix), the task is restored from it: CREATED with pid 0 until Start, when its
        monitor runs the runtime's restore (docs/architecture.md §9)."""
        task_id = ids.validate(container_id, "container id")
        require_root(task_id)
        restore = None
        if checkpoint is not None:
            restore = self._restore_source(task_id, checkpoint, terminal, criu_path)
            if start:
                pid = self.create(task_id, stdin=stdin, stdout=stdout, stderr=stderr,
                                  terminal=terminal, rootfs_mounts=rootfs_mounts,
                                  checkpoint=checkpoint, criu_path=criu_path)
                try:
                    self.start(task_id)
                except BaseException:
                    self.delete(task_id, force=True)
                    raise
                return self.get(task_id).pid or pid
        task_dir = self._task_dir(task_id)
        stdio = _stdio(self.layout, task_id, stdin, stdout, stderr)
        from pytasks.runtime import resolve_binary

        with self.lock(task_id):
            # Under the task lock, which `containers delete` takes too, the record cannot
            # vanish before the task exists; under the claim lock, held until the task dir
            # is in place, a create from another state dir on this root sees our task,
            # never a claim without one.
            with self.claim_lock(task_id):
                container = self.containers.get(task_id)
                holder = self._claim_holder(container)
                if holder is not None:
                    raise errors.AlreadyExistsError(
                        f"task {task_id}: already exists in state dir {holder}")
                runtime = resolve_binary(container.get("runtime", {}).get("name")
                                         or self.default_runtime)
                ensure_dir(self.layout.namespace_dir)
                ensure_dir(self.layout.runtime_root)
                record: dict[str, Any] = {
                    "id": task_id,
                    "container_id": task_id,
                    "pid": 0,
                    "status": Status.CREATED.label,
                    **stdio,
                    "terminal": terminal,
                    "runtime": runtime,
                    "cgroup": self.layout.cgroup_path(task_id),
                    "created_at": protocol.rfc3339(protocol.now_ns()),
                    "monitor": {},
                }
                if restore is not None:
                    record["restore"] = restore.checkpoint.index.digest
                self.containers.set_task_state(container, self.layout.state)
                self._place_task_dir(task_id, record)
            try:
                return self._create_in(task_dir, task_id, container, record, stdio,
                                       terminal, rootfs_mounts or [], start, restore)
            except BaseException:
                # Once the monitor config is written a monitor may be running, and with it
                # the runtime's container: stop and delete those too, not just the files.
                if os.path.lexists(os.path.join(task_dir, MONITOR_FILE)):
                    self._remove_broken(task_id)
                else:
                    self._remove_task_files(task_id)
                raise

    def _place_task_dir(self, task_id: str, record: dict[str, Any]) -> None:
        """The task dir appears with its record in it, or not at all: it is made under a
        private name and renamed into place (docs/architecture.md §7), so a create killed
        at any instant leaves either nothing under the id or a record that names the
        runtime, which the next command reconciles and `delete -f` removes."""
        from pytasks.state.tree import remove_tree

        task_dir = self._task_dir(task_id)
        if os.path.lexists(task_dir):
            if task_record.read(self.layout, task_id) is not None:  # or DataLoss: kept
                raise errors.AlreadyExistsError(f"task {task_id}: already exists")
            # A dir without a record (left by an older pytasks): nothing was started there.
            self._remove_task_files(task_id, release=False)
        private = self.layout.creating_dir(task_id)
        remove_tree(private)  # a create killed before its rename (we hold the task lock)
        os.mkdir(private, 0o700)
        try:
            task_record.write_in(private, record)
            os.rename(private, task_dir)
        except BaseException:
            remove_tree(private)
            raise

    def _create_in(self, task_dir: str, task_id: str, container: dict[str, Any],
                   record: dict[str, Any], stdio: dict[str, str], terminal: bool,
                   rootfs_mounts: list[dict[str, Any]], start: bool,
                   restore: Restore | None = None) -> int:
        import copy

        from pytasks import spec as spec_mod
        from pytasks.state.atomic import write_json

        spec = copy.deepcopy(container["spec"])
        rootfs = container.get("rootfs", {})
        if not rootfs_mounts and rootfs.get("kind") == "image":
            # What a containerd client resolves from the container's snapshots: one
            # overlay of the image's layers and the container's own upper dir (§9).
            from pytasks.images import overlay_mount

            rootfs_mounts = [overlay_mount(self.layout, list(rootfs.get("snapshots") or []),
                                           task_id)]
        if rootfs_mounts:
            root_path = os.path.join(task_dir, ROOTFS_DIR)
            os.mkdir(root_path, 0o755)
        elif rootfs.get("kind") == "host-tools":
            root_path = os.path.join(task_dir, ROOTFS_DIR)
            os.mkdir(root_path, 0o755)
            spec_mod.prepare_host_tools_root(root_path)
        else:
            root_path = _pure_path(rootfs.get("path") or spec.get("root", {}).get("path", ""))
            if not os.path.isdir(root_path):
                raise errors.FailedPreconditionError(
                    f"rootfs {root_path} of container {task_id} is missing")
        spec.setdefault("root", {})["path"] = root_path
        spec.setdefault("linux", {})["cgroupsPath"] = self.layout.cgroup_path(task_id)
        spec.setdefault("process", {})["terminal"] = terminal
        pid_ns = any(ns.get("type") == "pid" and not ns.get("path")
                     for ns in spec["linux"].get("namespaces", []))
        if restore is not None:
            from pytasks.checkpoint import with_loopback_hook

            with_loopback_hook(spec)
        write_json(os.path.join(task_dir, CONFIG_FILE), spec)
        from pytasks import cgroups
        from pytasks.monitor import client
        from pytasks.runtime import Runtime

        rt = Runtime(record["runtime"], self.layout.runtime_root,
                     os.path.join(task_dir, RUNTIME_LOG))
        restore_argv = None
        if restore is not None:
            restore_argv = self._unpack_restore(task_dir, task_id, rt, restore, terminal)
        write_json(os.path.join(task_dir, MONITOR_FILE), client.monitor_config(
            task_id, task_dir, rt, stdio, terminal, rootfs_mounts, pid_ns, start,
            self.layout.events_dir, self.layout.namespace,
            cgroups.oom_watch_files(spec["linux"]["cgroupsPath"]), restore_argv))
        started_at = protocol.now_ns()  # before: see start()
        from pytasks.state.lock import SharedLock

        with SharedLock(self.layout.cgroup_parents_lock_file):  # see _remove_task_files
            ready = client.spawn(task_dir)
        record["pid"] = int(ready["pid"])
        record["monitor"] = {"pid": int(ready["monitor_pid"]),
                             "start_time": ready["monitor_start_time"]}
        if start:
            record["status"] = Status.RUNNING.label
            record["started_at"] = protocol.rfc3339(started_at)
        task_record.write(self.layout, task_id, record)
        self._event("/tasks/create", task_id, container_id=task_id, bundle=task_dir,
                    pid=record["pid"])
        if start:
            self._event("/tasks/start", task_id, container_id=task_id, pid=record["pid"])
        return int(record["pid"])

    def _restore_source(self, task_id: str, ref: str, terminal: bool,
                        criu_path: str | None) -> Restore:
        """What a restore needs, found before anything is written: the checkpoint, and a
        CRIU (Unavailable naming what is missing)."""
        from pytasks import criu
        from pytasks.checkpoint import Checkpoints
        from pytasks.state.content import ContentStore

        found = Checkpoints(ContentStore(self.layout)).get(ref)
        if found.terminal != terminal:
            # CRIU gives the restored processes back the stdio they had: a pty (whose new
            # master the runtime sends to the console socket) or pipes.
            which = ("with a terminal: create it with --tty" if found.terminal else
                     "without a terminal: create it without --tty")
            raise errors.InvalidArgumentError(
                f"task {task_id}: checkpoint {found.name} is of a task {which}")
        # The version remembered for this very file, as a checkpoint does; a CRIU that
        # fails at Start names its first error line.
        return Restore(found, criu.find(criu_path, cache=self.layout).path)

    def _unpack_restore(self, task_dir: str, task_id: str, rt: Runtime, restore: Restore,
                        terminal: bool) -> list[str]:
        """The CRIU image unpacked into the task dir (its digest checked as it streams:
        a corrupt blob is DataLoss and nothing is restored), and the restore argv the
        monitor runs at Start."""
        from pytasks.checkpoint import extract_image, restore_flags
        from pytasks.state.content import ContentStore

        image_dir = os.path.join(task_dir, RESTORE_IMAGE_DIR)
        work_dir = os.path.join(task_dir, RESTORE_WORK_DIR)
        extract_image(ContentStore(self.layout).read(restore.checkpoint.criu_digest),
                      image_dir)
        os.mkdir(work_dir, 0o700)
        console = (protocol.console_socket_path(INIT_CONSOLE_SOCKET) if terminal else None)
        return rt.restore_argv(task_id, restore.criu, task_dir,
                               os.path.join(task_dir, INIT_PID_FILE), image_dir, work_dir,
                               console, flags=restore_flags(restore.checkpoint.options))

    def _criu_failure(self, task_id: str, step: str, exc: errors.PytasksError,
                      log: str) -> errors.PytasksError:
        """A failed dump or restore, said with CRIU's first error line and its log's path
        (the runtime's own message only says that CRIU failed)."""
        line = checkpoint_error(log)
        if not line:
            return exc
        return errors.RuntimeFailedError(f"task {task_id}: {step} failed: {line} "
                                         f"(CRIU log: {log})")

    # Checkpoint ---------------------------------------------------------------------------
    def checkpoint(self, container_id: str, options: dict[str, str] | None = None, *,
                   parent_checkpoint: str = "", name: str | None = None,
                   criu_path: str | None = None) -> CheckpointResult:
        """Checkpoint a running or paused task with CRIU into the content store: one OCI
        index (the checkpoint, named `name`) over the CRIU image tar and the spec. The task
        keeps running (or stays paused) unless options has exit=true; a failed checkpoint
        leaves it as it was and stores nothing."""
        from pytasks import checkpoint as ckpt
        from pytasks import criu
        from pytasks.state.content import ContentStore
        from pytasks.state.tree import remove_tree
        from pytasks.task import runtime_for

        task_id = ids.validate(container_id, "container id")
        opts = ckpt.parse_options(options or {})
        if name is not None:
            ckpt.check_name(name)
        # The version remembered for this very file: no `criu --version` per checkpoint.
        found = criu.find(criu_path, cache=self.layout)
        if parent_checkpoint:
            _refuse_incremental(found.path)
        store = ContentStore(self.layout)
        checkpoints = ckpt.Checkpoints(store)
        with self.lock(task_id):
            view = load(self.layout, task_id)
            lifecycle.check(Op.CHECKPOINT, view.status)
            now = protocol.now_ns()
            if name is None:
                base = name = ckpt.default_name(task_id, now)
                serial = 1
                while checkpoints.exists(name):
                    serial += 1
                    name = f"{base}-{serial}"
            elif checkpoints.exists(name):
                raise errors.AlreadyExistsError(f"checkpoint {name} already exists")
            task_dir = self._task_dir(task_id)
            rt = runtime_for(self.layout, view.record)
            image_dir = os.path.join(task_dir, CHECKPOINT_IMAGE_DIR)
            work_dir = os.path.join(task_dir, CHECKPOINT_WORK_DIR)
            for path in (image_dir, work_dir):
                remove_tree(path)
                os.mkdir(path, 0o700)
            argv = rt.checkpoint_argv(task_id, found.path, image_dir, work_dir,
                                      leave_running=not opts.exit, flags=opts.flags)
            try:
                try:
                    rt.run(argv)
                except errors.RuntimeFailedError as exc:
                    # A CRIU replaced since its version was remembered is asked again:
                    # one gone or too old is Unavailable, as before any dump.
                    criu.find(criu_path)
                    raise self._criu_failure(task_id, "checkpoint", exc,
                                             os.path.join(work_dir, "dump.log")) from None
                finally:
                    if opts.exit and view.status is Status.PAUSED:
                        # Killed frozen, a task cannot die until its cgroup thaws.
                        rt.run(rt.resume_argv(task_id), check=False)
                stats = ckpt.dump_stats(os.path.join(work_dir, "stats-dump"))
                # The CRIU that ran, as its log says: annotated, and remembered if it is
                # not the version remembered for its file.
                logged = ckpt.logged_version(os.path.join(work_dir, "dump.log"))
                ran = criu.parse_version(f"Version: {logged}") if logged else None
                if ran is not None and ran != found.version:
                    from pytasks.state import version_cache

                    found = criu.Criu(found.path, ran, found.source)
                    version_cache.put(self.layout, found.path, found.version_text)
                # Each blob's bytes are fsynced as written; the directories once, below.
                image = store.write(ckpt.image_tar(image_dir), media_type=ckpt.CRIU_TAR_TYPE,
                                    sync_dirs=False)
            finally:
                remove_tree(image_dir)
            with open(os.path.join(task_dir, CONFIG_FILE), "rb") as fh:
                config = store.write([fh.read()], media_type=ckpt.CONFIG_TYPE,
                                     sync_dirs=False)
            annotations = {
                ckpt.A_NAME: name, ckpt.A_CONTAINER: task_id,
                ckpt.A_CREATED: protocol.rfc3339(now),
                ckpt.A_CRIU: found.version_text,
                ckpt.A_RUNTIME: rt.binary, ckpt.A_RUNTIME_VERSION: _runtime_version(
                    self.layout, rt),
                ckpt.A_OPTIONS: json.dumps(opts.given, sort_keys=True),
                ckpt.A_TERMINAL: "true" if view.record.get("terminal") else "false"}
            index = store.write([ckpt.index_document(
                [ckpt.descriptor(image), ckpt.descriptor(config)], annotations)],
                media_type=ckpt.INDEX_TYPE, sync_dirs=False)
            blobs = [index, image, config]
            checkpoints.register(name, blobs, sync_dirs=False)
            store.sync_dirs(blobs)
        if opts.exit:
            self.wait(task_id, timeout=30.0)  # its monitor records the exit CRIU caused
        self._event(TOPIC_CHECKPOINTED, task_id, container_id=task_id,
                    checkpoint=index.digest)
        return CheckpointResult(name=name, descriptors=[index, image, config], stats=stats)

    # Start --------------------------------------------------------------------------------
    def start(self, container_id: str) -> None:
        from pytasks.monitor import client

        task_id = ids.validate(container_id, "container id")
        with self.lock(task_id):
            view = load(self.layout, task_id)
            lifecycle.check(Op.START, view.status)
            # Stamped before the call: the process may exit before the call returns, and
            # started_at must never be later than its exited_at.
            started_at = protocol.now_ns()

            def call() -> dict[str, Any]:
                return self._guarded(task_id, Op.START, lambda: client.request(
                    self._task_dir(task_id), {"op": protocol.OP_START}))

            try:
                if view.record.get("restore"):
                    from pytasks.state.lock import SharedLock

                    # A restore makes the task's cgroup now (see _remove_task_files).
                    with SharedLock(self.layout.cgroup_parents_lock_file):
                        reply = call()
                else:
                    reply = call()
            except errors.RuntimeFailedError as exc:
                if not view.record.get("restore"):
                    raise
                raise self._criu_failure(task_id, "restore", exc, os.path.join(
                    self._task_dir(task_id), RESTORE_WORK_DIR, "restore.log")) from None
            pid = reply.get(protocol.START_PID)
            if view.record.get("restore") and isinstance(pid, int) and pid > 0:
                view.record["pid"] = pid  # a restored init has its pid from now on
            view.record["status"] = Status.RUNNING.label
            view.record["started_at"] = protocol.rfc3339(started_at)
            task_record.write(self.layout, task_id, view.record)
        self._event("/tasks/start", task_id, container_id=task_id, pid=view.pid)

    # Kill -----------------------------------------------------------------------------------
    def kill(self, container_id: str, signal: int, *, all: bool = False, pid: int = 0
             ) -> bool:
        """Signal the task's init (or pid, or all). True when the init got the signal but,
        as pid 1 of its namespace without a handler for it, ignores it (the kernel drops
        such signals): the caller should say so, the process lives on."""
        import signal as signals_mod

        task_id = ids.validate(container_id, "container id")
        if not 1 <= signal < signals_mod.NSIG:
            raise errors.InvalidArgumentError(
                f"invalid signal {signal}: must be 1..{signals_mod.NSIG - 1}")
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
            rt.run(rt.kill_argv(task_id, signal, all))
            return False
        from pytasks.monitor import client

        self._guarded(task_id, Op.KILL, lambda: client.request(self._task_dir(task_id), {
            "op": protocol.OP_KILL, "signal": signal, "all": all, "pid": pid}))
        if view.status is Status.PAUSED and not pid:
            self._after_kill_paused(task_id, signal)
        return not pid and not all and _ignored_by_init(view.pid, signal)

    # Wait (extension) ------------------------------------------------------------------------
    def wait(self, container_id: str, pid: int = 0, timeout: float | None = None) -> Exit:
        """The process's exit; with timeout, DeadlineExceeded when it has not exited by
        then (the process is left as it is)."""
        task_id = ids.validate(container_id, "container id")
        view = load(self.layout, task_id)
        if pid and pid != view.pid:
            return self._wait_exec(view, pid, timeout)
        if view.exit is None and not view.monitor_lost:
            reply = self._wait_request(task_id, {"op": protocol.OP_WAIT}, timeout,
                                       f"task {task_id}")
            view = load(self.layout, task_id)
            if view.exit is None and reply is not None:
                return Exit(reply)  # a full disk holds the record back: the monitor knows
        return Exit(view.exit)

    def _wait_exec(self, view: TaskView, pid: int, timeout: float | None) -> Exit:
        task_dir = self._task_dir(view.task_id)
        _, exit_record = _exec_files(task_dir, view.task_id, pid)
        if exit_record is None and view.monitor_alive:
            reply = self._wait_request(view.task_id, {"op": protocol.OP_WAIT, "pid": pid},
                                       timeout, f"process {pid} of task {view.task_id}")
            _record, exit_record = _exec_files(task_dir, view.task_id, pid)
            if exit_record is None and reply is not None:
                return Exit(reply)
        return Exit(exit_record)

    def _wait_request(self, task_id: str, request: dict[str, Any], timeout: float | None,
                      what: str) -> dict[str, Any] | None:
        """The monitor's exit reply (an exit record's fields), None when it is gone."""
        from pytasks.monitor import client

        if timeout is not None and timeout <= 0:  # the records said it has not exited
            raise errors.DeadlineExceededError(f"{what} has not exited")
        try:
            reply = client.request(self._task_dir(task_id), request, timeout=timeout)
        except client.MonitorGoneError:
            return None  # it exited meanwhile (or was lost): the records say which
        except errors.UnavailableError:
            if timeout is None:
                raise
            raise errors.DeadlineExceededError(
                f"{what} did not exit within {timeout:g}s") from None
        fields = (reply.get("exit_status"), reply.get("exited_at_ns"))
        return reply if all(type(v) is int and v >= 0 for v in fields) else None

    # Stop (local addition) ------------------------------------------------------------------
    def stop(self, container_id: str, signal: int, timeout: float) -> Exit:
        """podman/docker stop: the signal to the init, up to timeout seconds for it to exit,
        then SIGKILL to every process of the task, and its exit."""
        import signal as signals_mod

        task_id = ids.validate(container_id, "container id")
        view = load(self.layout, task_id)
        if view.exit is not None or view.status is Status.STOPPED:
            return Exit(view.exit)
        try:
            self.kill(task_id, signal)
            return self.wait(task_id, timeout=timeout)
        except errors.NotFoundError:
            return self.wait(task_id)  # it exited before the signal arrived
        except errors.DeadlineExceededError:
            pass
        try:
            self.kill(task_id, signals_mod.SIGKILL, all=True)
        except errors.NotFoundError:
            pass  # it exited just now
        return self.wait(task_id, timeout=30.0)

    # Delete -----------------------------------------------------------------------------------
    def delete(self, container_id: str, *, force: bool = False) -> Exit:
        """Delete a stopped task. With force, a task in any state: first Kill SIGKILL (all
        processes) and Wait, as ctr's `task rm -f` and podman's `rm -f` do."""
        task_id = ids.validate(container_id, "container id")
        try:
            told = self._stop_for_delete(task_id) if force else None
            with self.lock(task_id):
                # Under the task lock no create is in flight: a create dir is a leftover.
                from pytasks.state.tree import remove_tree

                remove_tree(self.layout.creating_dir(task_id))
                return self._delete_locked(task_id, told)
        except errors.DataLossError:
            if not force:
                raise
        with self.lock(task_id):
            return self._remove_broken(task_id)

    def _delete_locked(self, task_id: str, told: Exit | None = None) -> Exit:
        view = load(self.layout, task_id)
        if view.exit is None and view.monitor_alive and told is not None and told.known:
            # The monitor told the exit, but a full disk holds its record back: the task is
            # stopped (its monitor drops the record once the task dir is gone).
            view = TaskView(task_id, view.record, Status.STOPPED,
                            {"exit_status": told.status, "exited_at_ns": told.exited_at_ns},
                            True)
        lifecycle.check(Op.DELETE, view.status)
        if view.status is Status.CREATED:
            view = self._kill_created(view)
        if view.record.get("runtime"):
            from pytasks.task import runtime_for

            rt = runtime_for(self.layout, view.record)
            rt.run(rt.delete_argv(task_id, force=view.exit is None), check=False)
        self._remove_task_files(task_id)
        result = Exit(view.exit)
        if view.exit is None and view.pid:
            self._journal_lost_exit(task_id, view.pid)
        self._event("/tasks/delete", task_id, container_id=task_id, pid=view.pid,
                    exit_status=result.status, exited_at=_event_time(result))
        return result

    def _remove_broken(self, task_id: str) -> Exit:
        """delete -f of a task whose records are corrupt: stop what the facts on disk still
        show (a monitor that answers, the runtime's container), then remove it all. The
        exit status is unknown (255): the record that would hold it is what is broken."""
        import signal

        from pytasks.monitor import client
        from pytasks.runtime import resolve_binary
        from pytasks.state.atomic import read_json_object
        from pytasks.state.layout import TASK_FILE

        task_dir = self._task_dir(task_id)
        if not os.path.lexists(task_dir):
            raise errors.NotFoundError(f"task {task_id} not found")
        try:
            client.request(task_dir, {"op": protocol.OP_KILL, "signal": signal.SIGKILL,
                                      "all": True, "pid": 0}, timeout=10.0)
            client.request(task_dir, {"op": protocol.OP_WAIT}, timeout=30.0)
        except errors.PytasksError:
            pass  # no monitor, or its init already exited
        # Whichever record still says which runtime: the task's, or the monitor's config
        # (the binary its create argv runs).
        config = read_json_object(os.path.join(task_dir, MONITOR_FILE)) or {}
        create = (config.get(protocol.CONFIG_RUNTIME_ARGV) or {}).get(protocol.ARGV_CREATE)
        runtime = self.default_runtime
        for found in ((read_json_object(os.path.join(task_dir, TASK_FILE)) or {}).get("runtime"),
                      create[0] if isinstance(create, list) and create else None):
            if isinstance(found, str) and found:
                runtime = found
                break
        try:
            binary = resolve_binary(runtime)
        except errors.InvalidArgumentError:
            binary = resolve_binary(self.default_runtime)
        from pytasks.task import runtime_for

        rt = runtime_for(self.layout, {"id": task_id, "runtime": binary})
        rt.run(rt.delete_argv(task_id, force=True), check=False)
        self._remove_task_files(task_id)
        return Exit(None)

    def _stop_for_delete(self, task_id: str) -> Exit | None:
        """Kill and wait: the exit its monitor told, when it told one."""
        from pytasks.task import task_status

        # The status comes from the records (a full load would also read the spec); an
        # unknown task falls through to Delete, which reports it.
        if task_status(self.layout, task_id) in (
                Status.RUNNING, Status.PAUSED, Status.CREATED, Status.UNKNOWN):
            import signal

            from pytasks.monitor import client

            try:
                self.kill(task_id, signal.SIGKILL, all=True)
            except (errors.NotFoundError, client.MonitorGoneError):
                pass  # it finished meanwhile, or a concurrent delete is taking it apart
            try:
                told = self.wait(task_id)
            except (errors.NotFoundError, client.MonitorGoneError):
                told = None  # the records, read again under the task lock, say which
            if told is not None and told.known:
                return told
            # Without a monitor, wait cannot block on the exit: the runtime's word is the
            # fact, and SIGKILL takes a moment to land.
            import time

            deadline = time.monotonic() + 10.0
            while time.monotonic() < deadline:
                try:
                    if load(self.layout, task_id).status not in (Status.RUNNING,
                                                                 Status.PAUSED):
                        break
                except errors.NotFoundError:
                    break
                time.sleep(0.02)
        return None

    # gc (local addition) ------------------------------------------------------------------
    def gc(self, *, dry_run: bool = False) -> list[tuple[Leftover, str]]:
        """Find every leftover of the namespace (garbage.py) and remove it, each under its
        id's task lock taken without waiting: an id in use is skipped ("busy") and looked
        at again by the next gc. Returns (leftover, outcome) pairs."""
        from pytasks import garbage
        from pytasks.runtime import Runtime, resolve_binary

        runtime = Runtime(resolve_binary(self.default_runtime), self.layout.runtime_root,
                          os.devnull)
        results = []
        for item in garbage.find(self.layout, runtime):
            if item.kind == garbage.DEAD_TASK:
                results.append((item, "kept: delete it to collect its exit"))
                continue
            if dry_run:
                results.append((item, "would remove"))
                continue
            results.append((item, self._collect(item, runtime)))
        return results

    def _collect(self, item: Leftover, runtime: Runtime) -> str:
        from pytasks import garbage

        if item.kind in (garbage.LOCK_FILE, garbage.CLAIM_LOCK):
            lock = TaskLock(item.name, f"lock {item.name}")
            try:
                held = lock.try_acquire()
            except FileNotFoundError:
                return "gone: kept"
            if not held:
                return "busy: skipped"
            try:
                return self._collect_locked(item, runtime)
            finally:
                lock.__exit__()
        try:
            ids.validate(item.task_id)
        except errors.InvalidArgumentError:
            return self._collect_locked(item, runtime)  # not an id: no task can claim it
        ensure_dir(self.layout.locks_dir)
        lock_path = self.layout.lock_file(item.task_id)
        try:
            with TaskLock(lock_path, f"task {item.task_id}", timeout=0.0):
                outcome = self._collect_locked(item, runtime)
                if not (os.path.lexists(self._task_dir(item.task_id))
                        or os.path.lexists(self.layout.container_file(item.task_id))
                        or os.path.lexists(self.layout.creating_dir(item.task_id))):
                    os.unlink(lock_path)  # ours, held: leave no lock file of our own behind
                return outcome
        except errors.UnavailableError:
            return "busy: skipped"

    def _collect_locked(self, item: Leftover, runtime: Runtime) -> str:
        """Under the id's lock: look again (it may have become a task meanwhile), then
        remove."""
        from pytasks import garbage
        from pytasks.state.tree import remove_tree

        again = {(i.kind, i.name) for i in garbage.find(self.layout, runtime, only=item.kind)}
        if (item.kind, item.name) not in again:
            return "gone or in use: kept"
        if item.kind == garbage.RUNTIME_CONTAINER:
            runtime.run(runtime.delete_argv(item.name, force=True), check=False)
        elif item.kind == garbage.TASK_DIR:
            self._remove_task_files(item.task_id)
        elif item.kind == garbage.CREATE_DIR:
            _unmount_under(item.name)
            remove_tree(item.name)
        elif item.kind == garbage.MOUNT:
            from pytasks.runtime import run_process

            run_process(["/bin/umount", "-l", item.name])
        elif item.kind == garbage.CGROUP:
            try:
                os.rmdir(item.name)
            except OSError as exc:
                return f"kept: {exc.strerror}"
        elif item.kind == garbage.FIFO_SET:
            remove_tree(item.name)
        elif item.kind in (garbage.LOCK_FILE, garbage.CLAIM_LOCK):
            os.unlink(item.name)  # while holding it: see state/lock.py
        return "removed"

    # Containers' Delete ------------------------------------------------------------------
    def delete_container(self, container_id: str) -> None:
        """Remove a container record. Refused while a task exists for it, stopped or not
        (containerd's rule: the task goes first)."""
        ids.validate(container_id, "container id")
        if not os.path.lexists(self.layout.container_file(container_id)):
            raise errors.NotFoundError(f"container {container_id} not found")
        from pytasks.task import task_status

        # The task lock: a task create for this container either finished (and is seen
        # below) or starts after the record is gone (and fails with NotFound).
        with self.lock(container_id):
            status = task_status(self.layout, container_id)
            if status is not None and status != Status.STOPPED:
                raise errors.FailedPreconditionError(
                    f"cannot delete container {container_id}: task is {status.label}")
            if status is not None:
                raise errors.FailedPreconditionError(
                    f"cannot delete container {container_id}: task exists; "
                    f"delete it first with 'pytasks delete {container_id}'")
            with self.claim_lock(container_id):
                try:
                    record = self.containers.get(container_id)
                except errors.DataLossError:
                    record = {}  # a corrupt record names no one: it may go
                holder = self._claim_holder(record) if record else None
                if holder is not None:
                    raise errors.FailedPreconditionError(
                        f"cannot delete container {container_id}: its task is in state dir "
                        f"{holder}")
                self.containers.remove(container_id)
                if (record.get("rootfs") or {}).get("kind") == "image":
                    from pytasks.state.tree import remove_tree

                    # The container's writable layer goes with it; its image's
                    # snapshots stay for the image.
                    remove_tree(self.layout.upper_dir(container_id))
                # Both locks are held: unlinking them now leaves nothing of the id behind
                # (a waiter notices its file is gone and starts over, state/lock.py).
                for path in (self.layout.claim_lock_file(container_id),
                             self.layout.lock_file(container_id)):
                    try:
                        os.unlink(path)
                    except FileNotFoundError:
                        pass

    def _kill_created(self, view: TaskView) -> TaskView:
        """A created task never ran: kill its waiting init and wait for the exit fact."""
        import signal as signals_mod

        from pytasks.monitor import client

        task_dir = self._task_dir(view.task_id)
        try:
            client.request(task_dir, {"op": protocol.OP_KILL, "signal": signals_mod.SIGKILL,
                                      "all": True, "pid": 0})
            client.request(task_dir, {"op": protocol.OP_WAIT}, timeout=30.0)
        except (client.MonitorGoneError, errors.NotFoundError):
            pass
        return load(self.layout, view.task_id)

    def _remove_task_files(self, task_id: str, *, release: bool = True) -> None:
        """Everything of our task of the container; release: and our claim on it (not
        while the caller holds the claim lock: a second flock on it would wait for us)."""
        from pytasks.state.tree import remove_tree

        task_dir = self._task_dir(task_id)
        _unmount_under(task_dir)
        remove_tree(task_dir)
        remove_tree(self.layout.fifo_task_dir(task_id))
        from pytasks import cgroups
        from pytasks.state.lock import try_exclusive

        # Not while a create's runtime is making its cgroup under these parents (it would
        # find a level gone between its mkdir and its writes): then they stay, in use.
        held = try_exclusive(self.layout.cgroup_parents_lock_file)
        if held is not None:
            try:
                cgroups.remove_empty_parents(self.layout.cgroup_path(task_id))
            finally:
                os.close(held)
        if release:
            self._release_claim(task_id)

    # DeleteProcess -------------------------------------------------------------------------
    def delete_process(self, container_id: str, pid: int) -> Exit:
        task_id = ids.validate(container_id, "container id")
        with self.lock(task_id):
            view = load(self.layout, task_id)
            if pid == 0 or pid == view.pid:
                raise errors.FailedPreconditionError(
                    "cannot delete the init process with delete-process; use delete")
            task_dir = self._task_dir(task_id)
            _, exit_record = _exec_files(task_dir, task_id, pid)
            if exit_record is None and view.monitor_alive:
                raise errors.InvalidStateError(
                    f"cannot delete process {pid} in running state")
            from pytasks.state import exec_record

            exec_record.remove(task_dir, pid)
        result = Exit(exit_record)
        self._event("/tasks/delete", task_id, container_id=task_id, id=str(pid), pid=pid,
                    exit_status=result.status, exited_at=_event_time(result))
        return result

    # Exec / ResizePty / CloseIO ----------------------------------------------------------------
    def exec(self, container_id: str, process: Any, *, stdin: str | None = None,
             stdout: str | None = None, stderr: str | None = None, terminal: bool = False
             ) -> int:
        """Start an extra process (an OCI process object) in the task; returns its pid.
        Stdio: see _stdio (all three None: the task's log)."""
        task_id = ids.validate(container_id, "container id")
        task_dir = self._task_dir(task_id)
        stdio = _stdio(self.layout, task_id, stdin, stdout, stderr)
        if not isinstance(process, dict) or not process.get("args"):
            raise errors.InvalidArgumentError("exec spec must be an OCI process with args")
        view = load(self.layout, task_id)
        lifecycle.check(Op.EXEC, view.status)
        if view.monitor_lost:
            raise errors.UnavailableError(f"task {task_id} has lost its monitor")
        from pytasks.monitor import client
        from pytasks.task import runtime_for

        message = client.exec_request(task_id, task_dir, runtime_for(self.layout, view.record),
                                      process, stdio, terminal)
        reply = self._guarded(task_id, Op.EXEC, lambda: client.request(task_dir, message))
        # One request both adds and starts the process (pytasks' exec id is its pid); the
        # monitor journals both before any exit of it.
        return int(reply["pid"])

    def resize_pty(self, container_id: str, pid: int, width: int, height: int) -> None:
        self._process_request(container_id, pid, Op.RESIZE, {
            "op": protocol.OP_RESIZE, "pid": pid, "width": width, "height": height})

    def close_io(self, container_id: str, pid: int, stdin: bool) -> None:
        if stdin:  # the seed only defines closing stdin; anything else is a no-op
            self._process_request(container_id, pid, Op.CLOSE_IO, {
                "op": protocol.OP_CLOSE_STDIN, "pid": pid})

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
        from pytasks.monitor import client

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
        from pytasks.monitor import client

        return client.attach(self._task_dir(task_id), pid, stdin)

    # Get / List -------------------------------------------------------------------------------
    def get(self, container_id: str) -> TaskView:
        return load(self.layout, ids.validate(container_id, "container id"))

    def spec(self, container_id: str) -> bytes | None:
        """The task's OCI spec as written at create (None when it has none)."""
        task_id = ids.validate(container_id, "container id")
        try:
            with open(os.path.join(self._task_dir(task_id), CONFIG_FILE), "rb") as fh:
                return fh.read()
        except FileNotFoundError:
            return None

    def inspect(self, container_id: str) -> Inspection:
        """The container record and its task's facts (inspection.py)."""
        from pytasks.inspection import inspect

        return inspect(self.layout, ids.validate(container_id, "container id"))

    # Events ---------------------------------------------------------------------------------
    def _event(self, topic: str, subject: str, **fields: Any) -> None:
        from pytasks.state.event_journal import publish

        publish(self.layout, topic, subject, fields)

    def _journal_lost_exit(self, task_id: str, pid: int) -> None:
        """The exit of an init whose monitor was lost, discovered at delete: journaled with
        the unknown status, unless the monitor journaled it before it died (it writes the
        event first, then the record), so an exit is never missing nor twice there."""
        from pytasks.state.event_journal import read_all

        for event in read_all(self.layout):
            details = event.get("event")
            if event.get("topic") == protocol.TOPIC_EXIT and event.get("id") == task_id \
                    and isinstance(details, dict) and details.get("pid") == pid \
                    and details.get("id") == task_id:
                return
        self._event(protocol.TOPIC_EXIT, task_id, container_id=task_id, id=task_id, pid=pid,
                    exit_status=UNKNOWN_EXIT_STATUS,
                    exited_at=protocol.rfc3339(protocol.now_ns()))

    def events(self, filter_text: str = "", since_ns: int | None = None,
               until_ns: int | None = None) -> list[dict[str, Any]]:
        """The journal's events in [since, until], oldest first, matching the filter
        (`events` without --follow)."""
        from pytasks.state.event_journal import read_all

        chosen = _event_filter(filter_text)
        return [e for e in read_all(self.layout)
                if _event_wanted(e, chosen, since_ns, until_ns)]

    def follow_events(self, filter_text: str = "", since_ns: int | None = None,
                      until_ns: int | None = None) -> Iterator[dict[str, Any]]:
        """The events so far (from since), then new ones as they come, until until_ns
        passes (never, when None)."""
        from pytasks.state.event_journal import follow

        chosen = _event_filter(filter_text)
        for event in follow(self.layout, until_ns, history=since_ns is not None):
            if until_ns is not None and _event_ns(event) > until_ns:
                return
            if _event_wanted(event, chosen, since_ns, None):
                yield event

    def list_tasks(self, filter_text: str = "") -> Listing:
        from pytasks.task import select

        return select(self.layout, filter_text)

    # Pause / Resume -----------------------------------------------------------------------
    def pause(self, container_id: str) -> None:
        self._freeze(container_id, Op.PAUSE)

    def resume(self, container_id: str) -> None:
        self._freeze(container_id, Op.RESUME)

    def _freeze(self, container_id: str, op: Op) -> None:
        """runc pause/resume, then check the kernel's freezer (not runc's word) before
        recording PAUSED/RUNNING."""
        from pytasks import cgroups
        from pytasks.task import runtime_for

        task_id = ids.validate(container_id, "container id")
        with self.lock(task_id):
            view = load(self.layout, task_id)
            nxt = lifecycle.check(op, view.status)
            rt = runtime_for(self.layout, view.record)
            argv = rt.pause_argv(task_id) if op is Op.PAUSE else rt.resume_argv(task_id)
            self._guarded(task_id, op, lambda: rt.run(argv))
            want = cgroups.FROZEN if op is Op.PAUSE else cgroups.THAWED
            cgroup = cgroups.Cgroup(cgroups.current_host(), view.record["cgroup"])
            if not cgroup.wait_freezer_state(want):
                raise errors.RuntimeFailedError(
                    f"task {task_id}: the freezer reports {cgroup.freezer_state()} "
                    f"after {op.value}, not {want}")
            view.record["status"] = nxt.label
            task_record.write(self.layout, task_id, view.record)
        self._event("/tasks/paused" if op is Op.PAUSE else "/tasks/resumed", task_id,
                    container_id=task_id)

    def _after_kill_paused(self, task_id: str, signum: int) -> None:
        """Kill of a PAUSED task. A frozen process cannot die (cgroup v1), so SIGKILL is
        followed by a thaw, as containerd does. Any other signal sent with `runc kill
        --all` has thawed the cgroup as a side effect (runc 1.1 freezes, signals, thaws):
        freeze it again so PAUSED stays true."""
        import signal as signals_mod

        from pytasks import cgroups
        from pytasks.task import runtime_for

        with self.lock(task_id):
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
                task_record.write(self.layout, task_id, view.record)
            elif state == cgroups.THAWED:
                rt.run(rt.pause_argv(task_id), check=False)
                cgroup.wait_frozen()

    # Stats / Update (extension) ----------------------------------------------------------
    def stats(self, container_ids: Sequence[str] = ()) -> list[TaskFigures]:
        """One sample of each task's cgroup (every task when no id is given)."""
        from pytasks.resources import TaskFigures, figures
        from pytasks.task import list_ids

        task_ids = [ids.validate(c, "container id") for c in container_ids]
        samples = []
        for task_id in task_ids or list_ids(self.layout):
            try:
                view = load(self.layout, task_id, ask_runtime=False)
            except errors.NotFoundError:
                if task_ids:
                    raise
                continue  # deleted while we listed
            samples.append(TaskFigures(task_id, protocol.now_ns(),
                                       figures(view.record.get("cgroup"))))
        return samples

    def update(self, container_id: str, limits: Limits) -> None:
        """Change a task's resource limits through the runtime."""
        from pytasks.resources import update_arguments
        from pytasks.task import runtime_for

        task_id = ids.validate(container_id, "container id")
        with self.lock(task_id):
            view = load(self.layout, task_id)
            lifecycle.check(Op.UPDATE, view.status)
            arguments = update_arguments(limits, view.record.get("cgroup"))
            rt = runtime_for(self.layout, view.record)
            self._guarded(task_id, Op.UPDATE, lambda: rt.run(rt.update_argv(task_id,
                                                                            **arguments)))

    # ListProcesses -------------------------------------------------------------------------
    def list_processes(self, container_id: str) -> list[ProcessEntry]:
        from pytasks.processes import list_processes

        task_id = ids.validate(container_id, "container id")
        view = load(self.layout, task_id)
        return list_processes(view, self._task_dir(task_id))


TOPIC_CHECKPOINTED = "/tasks/checkpointed"


class Restore:
    """A checkpoint to restore and the CRIU that restores it."""

    __slots__ = ("checkpoint", "criu")

    def __init__(self, checkpoint: Checkpoint, criu: str) -> None:
        self.checkpoint, self.criu = checkpoint, criu


class CheckpointResult:
    """The stored checkpoint: its name, the index, CRIU image and config descriptors (in
    that order) and CRIU's dump statistics."""

    __slots__ = ("descriptors", "name", "stats")

    def __init__(self, name: str, descriptors: list[Blob], stats: dict[str, int]) -> None:
        self.name, self.descriptors, self.stats = name, descriptors, stats


def checkpoint_error(log: str) -> str:
    from pytasks.checkpoint import first_error

    return first_error(log)


def _runtime_version(layout: Layout, rt: Runtime) -> str:
    """The runtime's first `--version` line ("runc version 1.1.5"), or "" when it says
    nothing useful; remembered per binary file in the state root (version_cache)."""
    from pytasks.state import version_cache

    def ask() -> str:
        result = rt.run(rt.version_argv(), check=False)
        lines = result.stdout.decode(errors="replace").splitlines()
        return lines[0].strip() if result.returncode == 0 and lines else ""

    binary = rt.binary
    if not os.path.isabs(binary):
        import shutil

        binary = shutil.which(binary) or binary
    return version_cache.cached(layout, binary, ask)


def _refuse_incremental(criu: str) -> None:
    """parent_checkpoint needs CRIU's memory dirty tracking (pre-dump); say which kernel
    feature is missing when it is, and that pytasks has no incremental dump otherwise."""
    from pytasks.runtime import run_process

    check = run_process([criu, "check", "--feature", "mem_dirty_track"])
    if check.returncode != 0:
        raise errors.FailedPreconditionError(
            "parent_checkpoint needs incremental dumps, which need the kernel's soft-dirty "
            "memory tracking (CONFIG_MEM_SOFT_DIRTY; `criu check --feature "
            "mem_dirty_track` fails here)")
    raise errors.UnimplementedError("incremental checkpoints (parent_checkpoint) are not "
                                    "supported yet")


def _event_time(result: Exit) -> str | None:
    return protocol.rfc3339(result.exited_at_ns) if result.exited_at_ns is not None else None


def _event_filter(filter_text: str) -> Any:
    from pytasks import filters

    return filters.parse(filter_text, filters.EVENT_FIELDS)


def _event_ns(event: dict[str, Any]) -> int:
    from pytasks.state.event_journal import parse_time

    return parse_time(str(event.get("timestamp", "")))


def _event_wanted(event: dict[str, Any], chosen: Any, since_ns: int | None,
                  until_ns: int | None) -> bool:
    if since_ns is not None or until_ns is not None:
        at = _event_ns(event)
        if (since_ns is not None and at < since_ns) or (until_ns is not None and at > until_ns):
            return False
    return bool(chosen.match({"topic": str(event.get("topic", "")),
                              "id": str(event.get("id", "")),
                              "namespace": str(event.get("namespace", ""))}))


def _pure_path(text: str) -> str:
    """str(pathlib.PurePosixPath(text)) without importing pathlib (off the hot path):
    '.' and empty components dropped, '..' kept, '' -> '.', '//' kept as POSIX allows."""
    if text.startswith("//") and not text.startswith("///"):
        lead = "//"
    else:
        lead = "/" if text.startswith("/") else ""
    return lead + "/".join(p for p in text.split("/") if p and p != ".") or "."


def _exec_files(task_dir: str, task_id: str, pid: int
                ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    """An exec's record and exit record (None while it runs); NotFound for unknown pids."""
    from pytasks.state import exec_record

    try:
        return exec_record.read(task_dir, pid)
    except FileNotFoundError:
        raise errors.NotFoundError(f"process {pid} not found in task {task_id}") from None


def _stdio(layout: Layout, task_id: str, stdin: str | None, stdout: str | None,
           stderr: str | None) -> dict[str, str]:
    """A process's stdio paths. None for all three: stdout and stderr append to the task's
    log (`pytasks logs`), as a detached task's do; otherwise None or '' is /dev/null."""
    if stdin is None and stdout is None and stderr is None:
        from pytasks.state.layout import OUTPUT_LOG

        log = layout.task_file(task_id, OUTPUT_LOG)
        return {"stdin": "", "stdout": log, "stderr": log}
    task_dir = layout.task_dir(task_id)
    return {name: _check_stdio(name, value or "", task_dir)
            for name, value in (("stdin", stdin), ("stdout", stdout), ("stderr", stderr))}


def _check_stdio(name: str, value: str, task_dir: str) -> str:
    """'' (null), an absolute FIFO or file path, or file:///abs/path."""
    if not value:
        return ""
    path = value[len("file://"):] if value.startswith("file://") else value
    if not os.path.isabs(path):
        raise errors.InvalidArgumentError(f"{name} path {value!r} must be absolute")
    if name == "stdin" and not os.path.exists(path):
        raise errors.InvalidArgumentError(f"stdin {path} does not exist")
    parent = os.path.dirname(path)
    if name != "stdin" and parent != task_dir and not os.path.isdir(parent):
        raise errors.InvalidArgumentError(f"{name} directory {os.path.dirname(path)} "
                                          "does not exist")
    return value


def _unmount_under(path: str) -> None:
    """Guard before rmtree: never delete through a mount still attached below the task dir."""
    prefix = path + "/"
    try:
        with open("/proc/self/mountinfo") as fh:
            points = [line.split()[4] for line in fh]
    except OSError:
        return
    from pytasks.runtime import run_process

    for point in sorted((p for p in points if p.startswith(prefix)), key=len, reverse=True):
        run_process(["/bin/umount", "-l", point])


# Signals whose default action the kernel applies even to a namespace's init.
_UNBLOCKABLE = (9, 19)  # SIGKILL, SIGSTOP


def _ignored_by_init(pid: int, signal: int) -> bool:
    """True when pid is pid 1 of its pid namespace and has no handler for signal:
    the kernel then discards it (pid_namespaces(7)). From /proc/PID/status: NSpid's last
    field, and the SigCgt mask."""
    if signal in _UNBLOCKABLE or pid <= 0:
        return False
    try:
        with open(f"/proc/{pid}/status") as fh:
            fields = dict(line.rstrip("\n").split(":\t", 1) for line in fh if ":\t" in line)
        caught = int(fields.get("SigCgt", "0"), 16)
        nspid = fields.get("NSpid", "").split()
    except (OSError, ValueError):
        return False  # gone or unreadable: nothing to warn about
    return bool(nspid) and nspid[-1] == "1" and not caught & (1 << (signal - 1))
