"""The runtime adapter: the only code that builds OCI runtime argv or reads its errors.

Stdlib only: the monitor imports it. Processes are started with posix_spawn and reaped by
pid, never with waitpid(-1), so a caller with its own reaper (the monitor) stays correct.
"""

from __future__ import annotations

import json
import os

from pytasks import errors

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import re
    from collections.abc import Sequence

    StrPath = str | os.PathLike[str]


def resolve_binary(name: str) -> str:
    """'runc' / 'crun' / a path -> an absolute executable path, or InvalidArgumentError."""
    found = (name if os.access(name, os.X_OK) else None) if os.sep in name else \
        _which(name)
    if not found:
        raise errors.InvalidArgumentError(
            f"OCI runtime {name!r} not found (install it or pass --runtime runc|crun|PATH)"
        )
    return os.path.abspath(found)


def _which(name: str) -> str | None:
    """shutil.which for a bare name (the hot path never imports shutil)."""
    for directory in os.environ.get("PATH", os.defpath).split(os.pathsep):
        candidate = os.path.join(directory or ".", name)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    return None


class Result:
    __slots__ = ("returncode", "stderr", "stdout")

    def __init__(self, returncode: int, stdout: bytes, stderr: bytes) -> None:
        self.returncode, self.stdout, self.stderr = returncode, stdout, stderr


# Last runtime error message -> error class. First match wins; one table for runc and crun.
# Patterns stay strings until the first failure: `re` is not loaded by the lean monitor
# or by successful calls.
_CLASSIFY: list[tuple[str, type[errors.PytasksError], str | None]] = [
    # Before the executable rows: 'CRIU version check failed: exec: "criu": executable
    # file not found' is a missing feature of the host, not a missing command.
    (r"criu.*(not found|no such file)|checkpoint.* not supported",
     errors.UnimplementedError, None),
    # The process's executable (runc: 'exec: "x": executable file not found in $PATH',
    # 'exec: "/x": stat /x: no such file or directory'; crun: 'executable file `x` not found').
    (r'exec: "[^"]*": (executable file not found|stat .*: no such file)'
     r"|executable file `[^`]*` not found", errors.CommandNotFoundError, None),
    (r'exec: "[^"]*": (permission denied|is a directory)|exec format error'
     r"|exec: .*: permission denied", errors.CommandNotExecutableError, None),
    (r"container not running|process already finished|no such process"
     r"|cannot kill a stopped container|container .* is not running",
     errors.NotFoundError, "process already finished"),
    (r"container does not exist|container .* does not exist|no such container",
     errors.NotFoundError, None),
    (r"already exists|id already in use", errors.AlreadyExistsError, None),
    (r"cannot start a container that has stopped|cannot start an already running"
     r"|cannot exec in a stopped container"
     r"|container is not paused|container not paused|is already paused"
     r"|cannot pause|cannot resume|container's cgroup is not frozen",
     errors.FailedPreconditionError, None),
    (r"operation not permitted|permission denied", errors.PermissionDeniedError, None),
]
# Compiled on the first failure.
_COMPILED: list[tuple[re.Pattern[str], type[errors.PytasksError], str | None]] = []


def classify(message: str) -> errors.PytasksError:
    """Turn the runtime's last error message into a typed error (one table, one place)."""
    import re

    if not _COMPILED:
        _COMPILED.extend((re.compile(p), cls, text) for p, cls, text in _CLASSIFY)
    for pattern, cls, replacement in _COMPILED:
        if pattern.search(message):
            return cls(replacement or message)
    return errors.RuntimeFailedError(message)


def runtime_error(message: str, step: str) -> errors.PytasksError:
    """classify(), naming the failing step when no row matched, as containerd does
    ("OCI runtime create failed: ...")."""
    err = classify(message)
    if type(err) is errors.RuntimeFailedError:
        return errors.RuntimeFailedError(f"OCI runtime {step} failed: {message}")
    return err


class Runner:
    """Runs argv that Runtime built and reads the errors the runtime logged to --log: all a
    monitor needs, since it gets its argv complete (docs/architecture.md §4)."""

    def __init__(self, log: StrPath | None = None) -> None:
        self.log = log

    def log_offset(self) -> int:
        try:
            return os.stat(self.log).st_size if self.log else 0
        except FileNotFoundError:
            return 0

    def last_error(self, offset: int = 0, fallback: bytes = b"") -> str:
        """The last "level":"error" message logged since offset, else the fallback text."""
        message = ""
        if self.log is not None:
            try:
                with open(self.log, "rb") as fh:
                    fh.seek(offset)
                    for line in fh.read().splitlines():
                        try:
                            entry = json.loads(line)
                        except ValueError:
                            continue
                        if isinstance(entry, dict) and entry.get("level") == "error":
                            message = str(entry.get("msg", ""))
            except FileNotFoundError:
                pass
        if not message:
            text = fallback.decode(errors="replace").strip().splitlines()
            message = text[-1] if text else ""
            # runc without --log prints `time="..." level=error msg="..."`
            import re

            m = re.search(r'msg="((?:[^"\\]|\\.)*)"', message)
            if m:
                message = m.group(1).replace('\\"', '"')
        return message or "OCI runtime failed without a message"

    def run(self, argv: list[str], *, check: bool = True) -> Result:
        """Run a runtime command to completion, capturing its output; classify failures."""
        offset = self.log_offset()
        result = run_process(argv, env=self._env())
        if check and result.returncode != 0:
            raise classify(self.last_error(offset, result.stderr or result.stdout))
        return result

    def _env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("PYTASKS_")}


class Runtime(Runner):
    """One OCI runtime binary with its --root and --log. Build argv; run; classify."""

    def __init__(self, binary: str, root: StrPath, log: StrPath | None = None) -> None:
        super().__init__(log)
        self.binary = binary
        self.root = root

    def _global(self) -> list[str]:
        argv = [self.binary, "--root", str(self.root)]
        if self.log is not None:
            argv += ["--log", str(self.log), "--log-format", "json"]
        return argv

    # argv builders ------------------------------------------------------------------
    def create_argv(self, task_id: str, bundle: StrPath, pid_file: StrPath,
                    console_socket: StrPath | None = None, *, start: bool = False
                    ) -> list[str]:
        """`create`, or with start `run --detach`: create and start in one runtime call
        (one Go process start less for `pytasks run -d`)."""
        verb = ["run", "--detach"] if start else ["create"]
        argv = [*self._global(), *verb, "--bundle", str(bundle), "--pid-file", str(pid_file)]
        if console_socket is not None:
            argv += ["--console-socket", str(console_socket)]
        return [*argv, task_id]

    def exec_argv(self, task_id: str, process_file: StrPath, pid_file: StrPath,
                  console_socket: StrPath | None = None) -> list[str]:
        argv = [*self._global(), "exec", "--detach", "--process", str(process_file),
                "--pid-file", str(pid_file)]
        if console_socket is not None:
            argv += ["--console-socket", str(console_socket)]
        return [*argv, task_id]

    def checkpoint_argv(self, task_id: str, criu: str, image_dir: StrPath, work_dir: StrPath,
                        *, leave_running: bool = True, flags: Sequence[str] = ()
                        ) -> list[str]:
        """`checkpoint` with the CRIU at criu (runc 1.1's global --criu); flags are CRIU
        options as the runtime spells them (checkpoint.py's option table)."""
        return [*self._global(), "--criu", criu, "checkpoint", "--image-path",
                str(image_dir), "--work-path", str(work_dir),
                *(["--leave-running"] if leave_running else []), *flags, task_id]

    def restore_argv(self, task_id: str, criu: str, bundle: StrPath, pid_file: StrPath,
                     image_dir: StrPath, work_dir: StrPath,
                     console_socket: StrPath | None = None, *, flags: Sequence[str] = ()
                     ) -> list[str]:
        """`restore --detach` of a checkpoint image into the bundle: the restored init
        becomes a child of the nearest subreaper, the monitor that runs this
        (--no-subreaper: runc need not be one itself). Paths are absolute: CRIU
        resolves them after changing directory."""
        argv = [*self._global(), "--criu", criu, "restore", "--detach", "--no-subreaper",
                "--bundle", os.path.abspath(bundle), "--pid-file", os.path.abspath(pid_file),
                "--image-path", os.path.abspath(image_dir),
                "--work-path", os.path.abspath(work_dir), *flags]
        if console_socket is not None:
            argv += ["--console-socket", str(console_socket)]
        return [*argv, task_id]

    def version_argv(self) -> list[str]:
        return [self.binary, "--version"]

    def start_argv(self, task_id: str) -> list[str]:
        return [*self._global(), "start", task_id]

    def kill_argv(self, task_id: str, signal: int | str, all_processes: bool = False
                  ) -> list[str]:
        return [*self._global(), "kill", *(["--all"] if all_processes else []), task_id,
                str(signal)]

    def list_argv(self) -> list[str]:
        return [*self._global(), "list", "--format", "json"]

    def delete_argv(self, task_id: str, force: bool = False) -> list[str]:
        return [*self._global(), "delete", *(["--force"] if force else []), task_id]

    def state_argv(self, task_id: str) -> list[str]:
        return [*self._global(), "state", task_id]

    def pause_argv(self, task_id: str) -> list[str]:
        return [*self._global(), "pause", task_id]

    def resume_argv(self, task_id: str) -> list[str]:
        return [*self._global(), "resume", task_id]

    def update_argv(self, task_id: str, *, memory: int | None = None,
                    memory_swap: int | None = None, cpu_quota: int | None = None,
                    cpu_period: int | None = None, pids_limit: int | None = None
                    ) -> list[str]:
        """`update` with only the limits given (None = unchanged); -1 means unlimited.

        Values are plain byte/usec counts: runc and crun both parse them that way."""
        argv = [*self._global(), "update"]
        for flag, value in (("--memory", memory), ("--memory-swap", memory_swap),
                            ("--cpu-period", cpu_period), ("--cpu-quota", cpu_quota),
                            ("--pids-limit", pids_limit)):
            if value is not None:
                argv += [flag, str(value)]
        return [*argv, task_id]

    # running ------------------------------------------------------------------------
    def state(self, task_id: str) -> dict | None:
        """The runtime's view of the container, or None when it does not exist."""
        result = self.run(self.state_argv(task_id), check=False)
        if result.returncode != 0:
            return None
        try:
            return json.loads(result.stdout)
        except ValueError:
            return None


def run_process(argv: list[str], *, env: dict[str, str] | None = None,
                stdin: int | None = None) -> Result:
    """posix_spawn + read both pipes + waitpid(pid). Never reaps anything but its child."""
    import selectors

    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY) if stdin is None else None
    actions = [
        (os.POSIX_SPAWN_DUP2, null if stdin is None else stdin, 0),
        (os.POSIX_SPAWN_DUP2, out_w, 1),
        (os.POSIX_SPAWN_DUP2, err_w, 2),
    ]
    try:
        pid = os.posix_spawn(argv[0], argv, os.environ if env is None else env,
                             file_actions=actions)
    finally:
        for fd in (out_w, err_w, null):
            if fd is not None:
                os.close(fd)
    chunks: dict[int, list[bytes]] = {out_r: [], err_r: []}
    with selectors.DefaultSelector() as sel:
        for fd in chunks:
            sel.register(fd, selectors.EVENT_READ)
        open_fds = len(chunks)
        while open_fds:
            for key, _ in sel.select():
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                else:
                    sel.unregister(key.fd)
                    open_fds -= 1
    os.close(out_r)
    os.close(err_r)
    _, status = os.waitpid(pid, 0)
    code = os.waitstatus_to_exitcode(status)
    return Result(code if code >= 0 else 128 - code, b"".join(chunks[out_r]),
                  b"".join(chunks[err_r]))
