"""Every path under the roots, in one place. Stdlib only (the monitor imports it)."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

DEFAULT_ROOT = "/var/lib/pytasks"
DEFAULT_STATE = "/run/pytasks"
DEFAULT_NAMESPACE = "default"

# Names inside a task directory (which is also the OCI bundle).
TASK_FILE = "task.json"          # task record; written only by the CLI, under the task lock
CONFIG_FILE = "config.json"      # OCI runtime spec of the bundle
ROOTFS_DIR = "rootfs"            # mount point for CreateTaskRequest.rootfs / host-tools root
INIT_PID_FILE = "init.pid"       # written by the runtime (--pid-file)
INIT_EXIT_FILE = "init.exit"     # exit record of the init; written only by the monitor
MONITOR_FILE = "monitor.json"    # how to start the monitor (written by the CLI before spawn)
MONITOR_SOCKET = "monitor.sock"  # control socket, mode 0600
MONITOR_LOG = "monitor.log"      # the monitor's own diagnostics
RUNTIME_LOG = "runtime.log"      # runtime --log (JSON lines)
OUTPUT_LOG = "output.log"        # default stdout/stderr of detached tasks
EXEC_DIR = "exec"                # exec/<pid>.json (record) and exec/<pid>.exit, by the monitor
RECORD_SUFFIX = ".json"
EXIT_SUFFIX = ".exit"


def default_roots() -> tuple[str, str]:
    """(persistent root, volatile state): system paths for root, XDG paths otherwise."""
    if os.geteuid() == 0:
        return DEFAULT_ROOT, DEFAULT_STATE
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/pytasks-{os.geteuid()}"
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(data_home, "pytasks"), os.path.join(runtime_dir, "pytasks")


@dataclass(frozen=True)
class Layout:
    root: Path
    state: Path
    namespace: str

    @classmethod
    def of(cls, root: str | os.PathLike[str], state: str | os.PathLike[str],
           namespace: str) -> Layout:
        return cls(Path(os.path.abspath(root)), Path(os.path.abspath(state)), namespace)

    # persistent
    @property
    def containers_dir(self) -> Path:
        return self.root / self.namespace / "containers"

    def container_file(self, container_id: str) -> Path:
        return self.containers_dir / f"{container_id}.json"

    @property
    def content_dir(self) -> Path:
        return self.root / "content"

    # volatile
    @property
    def namespace_dir(self) -> Path:
        return self.state / self.namespace

    def task_dir(self, task_id: str) -> Path:
        return self.namespace_dir / task_id

    def task_file(self, task_id: str, name: str) -> Path:
        return self.task_dir(task_id) / name

    @property
    def locks_dir(self) -> Path:
        return self.namespace_dir / ".locks"

    def lock_file(self, task_id: str) -> Path:
        return self.locks_dir / f"{task_id}.lock"

    @property
    def runtime_root(self) -> Path:
        return self.state / "runtime" / self.namespace

    @property
    def fifo_dir(self) -> Path:
        return self.state / "fifo"

    def cgroup_path(self, task_id: str) -> str:
        """cgroupsPath for the runtime. Non-default state roots get their own parent, so
        tests and a real install can never collide on a cgroup."""
        if str(self.state) == DEFAULT_STATE:
            return f"/pytasks/{self.namespace}/{task_id}"
        return f"/pytasks-{self.state_tag}/{self.namespace}/{task_id}"

    @property
    def state_tag(self) -> str:
        return hashlib.sha256(str(self.state).encode()).hexdigest()[:10]


def ensure_dir(path: Path) -> Path:
    """mkdir -p with mode 0700 for every directory we create."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


def socket_address(dir_fd: int, name: str = MONITOR_SOCKET) -> str:
    """A short path to a socket in a deep directory (sun_path holds 108 bytes)."""
    return f"/proc/self/fd/{dir_fd}/{name}"
