"""ListProcesses: every process of a task, described from /proc (stdlib only; the RPC
wraps each ProcessEntry into the API's Process with process_message).

The cgroup says which processes belong to the task (runc puts the init, its children and
every `runc exec` there); /proc says what each one is. Exec processes that already exited
are no longer in the cgroup: their exit records under `<task dir>/exec/` keep them listed
(STOPPED, with the exit status) until the task is deleted.
"""

from __future__ import annotations

import os
import stat

from pytasks import cgroups, errors
from pytasks.lifecycle import Status
from pytasks.plain import Plain, field
from pytasks.state import exec_record
from pytasks.state.atomic import read_json_object
from pytasks.state.layout import CONFIG_FILE
from pytasks.task import TaskView

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

KIND_INIT = "init"
KIND_EXEC = "exec"
KIND_CHILD = "child"   # anything else in the cgroup (forked by the init or an exec)

PASSWD_MAX = 1 << 20   # a container's /etc/passwd is untrusted input: read at most 1 MiB


class ProcInfo(Plain):
    """What /proc tells about one live process (as seen from our pid namespace)."""

    pid: int
    ppid: int
    state: str      # the one-letter state of /proc/PID/stat (R, S, D, T, Z ...)
    args: list[str]
    env: list[str]
    uid: int
    gid: int
    groups: list[int]
    cwd: str
    terminal: bool


class ProcessEntry(Plain):
    """One row of ListProcesses, before it becomes an API Process."""

    pid: int
    kind: str                # KIND_INIT, KIND_EXEC or KIND_CHILD
    status: str              # a Status name
    args: list[str]
    env: list[str]
    uid: int = 0
    gid: int = 0
    groups: list[int] = field(default_factory=list)
    cwd: str = ""
    terminal: bool = False
    exit_status: int = 0
    stdin: str = ""
    stdout: str = ""
    stderr: str = ""
    user_name: str | None = None


def process_message(entry: ProcessEntry) -> Any:
    """The API's Process. runtime_data carries what the seed's Process has no field for
    (kind, user_name) as a Struct, as containerd's ListPids carries details in an Any."""
    from google.protobuf import any_pb2, struct_pb2

    from pytasks.api.containerd.types import task_pb2

    data: dict[str, Any] = {"kind": entry.kind}
    if entry.user_name:
        data["user_name"] = entry.user_name
    info = struct_pb2.Struct()
    info.update(data)
    packed = any_pb2.Any()
    packed.Pack(info)
    return task_pb2.Process(
        pid=entry.pid, args=entry.args, env=entry.env,
        user=task_pb2.User(uid=entry.uid, gid=entry.gid, additional_gids=entry.groups),
        cwd=entry.cwd, terminal=entry.terminal, status=entry.status,
        exit_status=entry.exit_status, stdin=entry.stdin, stdout=entry.stdout,
        stderr=entry.stderr, runtime_data=packed)


def _read_bytes(path: str) -> bytes | None:
    try:
        with open(path, "rb") as fh:
            return fh.read()
    except OSError:  # gone (ESRCH/ENOENT) or not readable: the field stays empty
        return None


def _nul_list(data: bytes | None) -> list[str]:
    if not data:
        return []
    return [part.decode(errors="replace") for part in data.rstrip(b"\0").split(b"\0")]


def parse_stat(data: bytes) -> tuple[str, int, int]:
    """(state, ppid, tty_nr) from /proc/PID/stat; comm may hold spaces and parentheses,
    so split after the last ')'."""
    fields = data[data.rfind(b")") + 2:].split()
    return fields[0].decode(), int(fields[1]), int(fields[4])


def parse_status_ids(text: str) -> tuple[int, int, list[int]]:
    """(effective uid, effective gid, supplementary gids) from /proc/PID/status."""
    uid = gid = 0
    groups: list[int] = []
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key == "Uid":
            uid = int(value.split()[1])  # real, effective, saved, fs: ps shows effective
        elif key == "Gid":
            gid = int(value.split()[1])
        elif key == "Groups":
            groups = [int(g) for g in value.split()]
    return uid, gid, groups


def container_relative(path: str, root: str) -> str:
    """A process's cwd as the container sees it. readlink(/proc/PID/cwd) is relative to
    the reader's root when reachable from it (a chroot, or a root not pivoted away), so
    strip the process's own root (readlink(/proc/PID/root)) from the front."""
    if root in ("", "/") or not path.startswith(root):
        return path
    rest = path[len(root):]
    if rest == "":
        return "/"
    return rest if rest.startswith("/") else path


def read_proc(pid: int, proc: str = "/proc") -> ProcInfo | None:
    """Describe a live process; None when it is gone (it may exit while we read)."""
    base = f"{proc}/{pid}"
    raw_stat = _read_bytes(f"{base}/stat")
    raw_status = _read_bytes(f"{base}/status")
    if raw_stat is None or raw_status is None:
        return None
    state, ppid, tty_nr = parse_stat(raw_stat)
    uid, gid, groups = parse_status_ids(raw_status.decode(errors="replace"))
    try:
        cwd = container_relative(os.readlink(f"{base}/cwd"), os.readlink(f"{base}/root"))
    except OSError:
        cwd = ""  # zombies have neither
    return ProcInfo(pid=pid, ppid=ppid, state=state,
                    args=_nul_list(_read_bytes(f"{base}/cmdline")),
                    env=_nul_list(_read_bytes(f"{base}/environ")),
                    uid=uid, gid=gid, groups=groups, cwd=cwd, terminal=tty_nr != 0)


def container_users(root: str) -> dict[int, str]:
    """uid -> name from the container's own /etc/passwd under `root` (/proc/PID/root of
    a live process, else the bundle's rootfs).

    The file is the container's: a symlink there would resolve against *our* root, so
    /etc must be a real directory and passwd is opened with O_NOFOLLOW (never follow a
    link out of the container)."""
    etc = f"{root}/etc"
    try:
        if not stat.S_ISDIR(os.lstat(etc).st_mode):
            return {}
        fd = os.open(f"{etc}/passwd", os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return {}
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return {}  # a FIFO or device would block or never end
        data = os.read(fd, PASSWD_MAX)
    except OSError:
        return {}
    finally:
        os.close(fd)
    return parse_passwd(data.decode(errors="replace"))


def parse_passwd(text: str) -> dict[int, str]:
    users: dict[int, str] = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) >= 3 and fields[0] and fields[2].isdigit():
            users.setdefault(int(fields[2]), fields[0])  # the first entry wins, as getpwuid
    return users



def _user_from_meta(meta: dict[str, Any]) -> tuple[int, int, list[int]]:
    """An exec record's user (uid, gid, groups), in the OCI process shape or the flat one."""
    user = meta.get("user")
    if not isinstance(user, dict):
        user = meta.get("process", {}).get("user", {}) if isinstance(
            meta.get("process"), dict) else {}
    try:
        return (int(user.get("uid", 0)), int(user.get("gid", 0)),
                [int(g) for g in user.get("additionalGids", user.get("additional_gids", []))])
    except (TypeError, ValueError):
        return 0, 0, []


def _meta_field(meta: dict[str, Any], key: str, default: Any) -> Any:
    """A field of an exec record, flat or under an OCI "process" object."""
    if key in meta:
        return meta[key]
    process = meta.get("process")
    return process.get(key, default) if isinstance(process, dict) else default


def list_processes(view: TaskView, task_dir: str | os.PathLike[str],
                   host: cgroups.CgroupHost | None = None) -> list[ProcessEntry]:
    """Every process of the task, init first, then by pid; exited execs after the live."""
    record = view.record
    init_pid = view.pid
    execs = exec_record.read_all(task_dir)
    pids: list[int] = []
    frozen = False
    if record.get("cgroup"):
        cgroup = cgroups.Cgroup(host or cgroups.current_host(), record["cgroup"])
        try:
            pids = cgroup.pids()
            frozen = cgroup.freezer_state() != cgroups.THAWED
        except (errors.NotFoundError, errors.UnimplementedError):
            pass  # gone (the task exited and runc removed it), or no freezer at all
    users: dict[int, str] | None = None
    live: list[ProcessEntry] = []
    for pid in pids:
        info = read_proc(pid)
        if info is None:
            continue
        if users is None:
            users = container_users(f"/proc/{pid}/root")  # one container, one passwd
        # A process with an exit record is gone: a live one with its pid is a reuse.
        running_exec = pid in execs and execs[pid][1] is None
        running_init = pid == init_pid and view.exit is None
        kind = KIND_INIT if running_init else KIND_EXEC if running_exec else KIND_CHILD
        if info.state in ("Z", "X"):
            status = Status.STOPPED
        elif frozen:
            status = Status.PAUSED
        elif kind == KIND_INIT and view.status is Status.CREATED:
            status = Status.CREATED  # `runc init` waiting for start
        else:
            status = Status.RUNNING
        proc = ProcessEntry(
            pid=pid, kind=kind, status=status.name, args=info.args, env=info.env,
            uid=info.uid, gid=info.gid, groups=info.groups, cwd=info.cwd,
            terminal=info.terminal, user_name=users.get(info.uid))
        if kind == KIND_INIT:
            proc.stdin, proc.stdout, proc.stderr = (record.get(k, "") for k in
                                                    ("stdin", "stdout", "stderr"))
        elif kind == KIND_EXEC:
            meta = execs[pid][0]
            proc.stdin, proc.stdout, proc.stderr = (str(meta.get(k, "")) for k in
                                                    ("stdin", "stdout", "stderr"))
            proc.terminal = proc.terminal or bool(_meta_field(meta, "terminal", False))
        live.append(proc)
    live.sort(key=lambda p: (p.pid != init_pid, p.pid))
    stopped: list[ProcessEntry] = []
    spec = read_json_object(os.path.join(task_dir, CONFIG_FILE)) or {}
    if view.exit is not None and init_pid:
        meta = {k: record.get(k, "") for k in ("stdin", "stdout", "stderr")}
        meta["process"] = spec.get("process") if isinstance(spec.get("process"), dict) else {}
        stopped.append(_exited(init_pid, KIND_INIT, view.exit_status, meta))
    for pid in sorted(execs):
        meta, exit_record = execs[pid]
        if exit_record is None:
            continue  # still running (listed above), or vanished without a record
        stopped.append(_exited(pid, KIND_EXEC, int(exit_record.get("exit_status", 0)), meta))
    if stopped:
        # No process left to look through: the bundle's rootfs has the same passwd.
        root = spec.get("root", {}).get("path") if isinstance(spec.get("root"), dict) else None
        names_by_uid = users if users is not None else \
            container_users(root) if isinstance(root, str) and root.startswith("/") else {}
        for proc in stopped:
            proc.user_name = names_by_uid.get(proc.uid)
    return live + stopped


def _exited(pid: int, kind: str, exit_status: int, meta: dict[str, Any]) -> ProcessEntry:
    """A process that is gone: what its record says, STOPPED, with its exit status."""
    args = _meta_field(meta, "args", [])
    env = _meta_field(meta, "env", [])
    uid, gid, groups = _user_from_meta(meta)
    return ProcessEntry(
        pid=pid, kind=kind, status=Status.STOPPED.name,
        args=[str(a) for a in args] if isinstance(args, list) else [],
        env=[str(e) for e in env] if isinstance(env, list) else [],
        uid=uid, gid=gid, groups=groups, cwd=str(_meta_field(meta, "cwd", "")),
        terminal=bool(_meta_field(meta, "terminal", False)), exit_status=exit_status,
        stdin=str(meta.get("stdin", "")), stdout=str(meta.get("stdout", "")),
        stderr=str(meta.get("stderr", "")))
