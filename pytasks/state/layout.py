"""Every path under the roots, in one place, as str. Stdlib only (the monitor imports it).

Paths are plain strings joined with os.path: importing pathlib on every CLI call
would load urllib.parse, ipaddress, fnmatch and ntpath, and nothing here needs it.
"""

from __future__ import annotations

import os
import stat

DEFAULT_ROOT = "/var/lib/pytasks"
DEFAULT_STATE = "/run/pytasks"
DEFAULT_NAMESPACE = "default"

# Names of the files in a task directory (which is also the OCI bundle).
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
INIT_CONSOLE_SOCKET = "console.sock"  # the init's console socket while create runs (terminal)
# Checkpoint and restore (docs/architecture.md §9): CRIU's image directory while a dump is
# stored (then removed) or a restore's image unpacked from the store, and its work dirs,
# which keep dump.log / restore.log for diagnosis until the task is deleted.
CHECKPOINT_IMAGE_DIR = "criu-image"
CHECKPOINT_WORK_DIR = "criu-dump"
RESTORE_IMAGE_DIR = "criu-restore-image"
RESTORE_WORK_DIR = "criu-restore"
JOURNAL_FILE = "journal"          # events, one JSON line each (state/event_journal.py)
ROTATED_SUFFIX = ".1"            # the journal's previous generation
RECORD_SUFFIX = ".json"
EXIT_SUFFIX = ".exit"

# Entries of the roots beside the namespaces' own directories.
CONTENT_DIR = "content"          # <root>/content: the content store, shared by namespaces
RUNTIME_DIR = "runtime"          # <state>/runtime/<ns>: the OCI runtime's --root
FIFO_DIR = "fifo"                # <state>/fifo/<ns>/<task>: attached clients' FIFO sets
CONTAINERS_DIR = "containers"    # <root>/<ns>/containers: container records
IMAGES_DIR = "images"            # <root>/<ns>/images: image records (state/image_record.py)
UPPERS_DIR = "uppers"            # <root>/<ns>/uppers/<id>: a container's writable layer
SNAPSHOTS_DIR = "snapshots"      # <root>/snapshots/<chain id hex>: unpacked layers, shared
# content/refs/sha256/<hex>/image.<ns>.<quoted name>: an image record's claim on its blobs.
IMAGE_REF_PREFIX = "image."
# content/refs/sha256/<hex>/checkpoint.<name>: a checkpoint's claim on each of its blobs.
CHECKPOINT_REF_PREFIX = "checkpoint."

__all__ = [
    "CHECKPOINT_IMAGE_DIR", "CHECKPOINT_REF_PREFIX", "CHECKPOINT_WORK_DIR",
    "CONFIG_FILE", "DEFAULT_NAMESPACE", "DEFAULT_ROOT", "DEFAULT_STATE", "EXEC_DIR",
    "EXIT_SUFFIX", "IMAGE_REF_PREFIX", "INIT_CONSOLE_SOCKET", "INIT_EXIT_FILE",
    "INIT_PID_FILE", "MONITOR_FILE",
    "MONITOR_LOG", "MONITOR_SOCKET", "OUTPUT_LOG", "RECORD_SUFFIX", "RESTORE_IMAGE_DIR",
    "RESTORE_WORK_DIR", "ROOTFS_DIR",
    "RUNTIME_LOG", "TASK_FILE", "Layout", "criu_prefix", "criu_wrapper", "default_roots",
    "ensure_dir",
    "exec_pending_files", "namespaces", "socket_address",
]


def default_roots() -> tuple[str, str]:
    """(persistent root, volatile state): system paths for root, XDG paths otherwise."""
    if os.geteuid() == 0:
        return DEFAULT_ROOT, DEFAULT_STATE
    runtime_dir = os.environ.get("XDG_RUNTIME_DIR") or f"/tmp/pytasks-{os.geteuid()}"
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return os.path.join(data_home, "pytasks"), os.path.join(runtime_dir, "pytasks")


def namespaces(root: str, state: str) -> list[str]:
    """The namespaces that exist: a directory of the state root (tasks, or an event
    journal) or one of the persistent root holding container records. Directory names
    only (shell completion); an unreadable root contributes none."""
    found = set(_subdirs(state, skip=(RUNTIME_DIR, FIFO_DIR)))
    found.update(name for name in _subdirs(root, skip=(CONTENT_DIR, SNAPSHOTS_DIR))
                 if os.path.isdir(os.path.join(root, name, CONTAINERS_DIR)))
    return sorted(found)


def _subdirs(base: str, *, skip: tuple[str, ...]) -> list[str]:
    try:
        with os.scandir(base) as entries:
            return [e.name for e in entries if not e.name.startswith(".")
                    and e.name not in skip and e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


class Layout:
    """The roots and namespace of one invocation. (A plain class: dataclasses would pull
    `inspect` into the lean monitor.)"""

    __slots__ = ("namespace", "root", "state")

    def __init__(self, root: str, state: str, namespace: str) -> None:
        self.root, self.state, self.namespace = root, state, namespace

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Layout) and (self.root, self.state, self.namespace) == (
            other.root, other.state, other.namespace)

    def __hash__(self) -> int:
        return hash((self.root, self.state, self.namespace))

    def __repr__(self) -> str:
        return f"Layout(root={self.root!r}, state={self.state!r}, namespace={self.namespace!r})"

    @classmethod
    def of(cls, root: str | os.PathLike[str], state: str | os.PathLike[str],
           namespace: str) -> Layout:
        return cls(os.path.abspath(root), os.path.abspath(state), namespace)

    # persistent
    @property
    def containers_dir(self) -> str:
        return os.path.join(self.root, self.namespace, CONTAINERS_DIR)

    def container_file(self, container_id: str) -> str:
        return os.path.join(self.containers_dir, f"{container_id}.json")

    def claim_lock_file(self, container_id: str) -> str:
        """The container's lock on the persistent root: whoever claims the container for a
        task, from any state dir, holds it (docs/architecture.md §7)."""
        return os.path.join(self.root, self.namespace, ".locks", f"{container_id}.lock")

    @property
    def content_dir(self) -> str:
        return os.path.join(self.root, CONTENT_DIR)

    # The content store (docs/architecture.md §9); hex is a checked sha256 digest's hex.
    @property
    def blobs_dir(self) -> str:
        return os.path.join(self.content_dir, "blobs", "sha256")

    def blob_file(self, hex_digest: str) -> str:
        return os.path.join(self.blobs_dir, hex_digest)

    @property
    def blob_info_dir(self) -> str:
        return os.path.join(self.content_dir, "info", "sha256")

    def blob_info_file(self, hex_digest: str) -> str:
        """The blob's small metadata record (media type, labels), beside the blob."""
        return os.path.join(self.blob_info_dir, f"{hex_digest}{RECORD_SUFFIX}")

    def blob_refs_dir(self, hex_digest: str) -> str:
        """One empty file per user of the blob (e.g. `checkpoint.<name>`): rm refuses a
        blob while any is there."""
        return os.path.join(self.content_dir, "refs", "sha256", hex_digest)

    @property
    def ingest_dir(self) -> str:
        return os.path.join(self.content_dir, "ingest")

    def ingest_file(self, name: str) -> str:
        return os.path.join(self.ingest_dir, name)

    # Images and snapshots (docs/architecture.md §9); a name's file is its sha256 hex.
    @property
    def images_dir(self) -> str:
        return os.path.join(self.root, self.namespace, IMAGES_DIR)

    def image_file(self, name_hex: str) -> str:
        return os.path.join(self.images_dir, f"{name_hex}{RECORD_SUFFIX}")

    def image_lock_file(self) -> str:
        """Held while the namespace's image records change (import, rm)."""
        return os.path.join(self.root, self.namespace, ".locks", ".images.lock")

    @property
    def snapshots_dir(self) -> str:
        return os.path.join(self.root, SNAPSHOTS_DIR)

    def snapshot_dir(self, chain_hex: str) -> str:
        """A layer unpacked, keyed by its chain id: present only when complete."""
        return os.path.join(self.snapshots_dir, chain_hex)

    def snapshot_fs_dir(self, chain_hex: str) -> str:
        """The layer's tree in its snapshot: an overlay lowerdir."""
        return os.path.join(self.snapshot_dir(chain_hex), "fs")

    def snapshot_temp_dir(self, chain_hex: str, tag: str) -> str:
        """Where a layer is unpacked before its rename into place (a dot-name)."""
        return os.path.join(self.snapshots_dir, f".{chain_hex}.{tag}.unpacking")

    def snapshot_lock_file(self, chain_hex: str) -> str:
        return os.path.join(self.snapshots_dir, ".locks", f"{chain_hex}.lock")

    def upper_dir(self, container_id: str) -> str:
        """The container's own writable layer: upper/ and work/ of its overlay."""
        return os.path.join(self.root, self.namespace, UPPERS_DIR, container_id)

    # volatile
    @property
    def namespace_dir(self) -> str:
        return os.path.join(self.state, self.namespace)

    def task_dir(self, task_id: str) -> str:
        return os.path.join(self.namespace_dir, task_id)

    def task_file(self, task_id: str, name: str) -> str:
        return os.path.join(self.task_dir(task_id), name)

    def creating_dir(self, task_id: str) -> str:
        """Where create assembles a task dir before renaming it into place (a dot-name:
        never listed as a task)."""
        return os.path.join(self.namespace_dir, f".{task_id}.creating")

    @property
    def locks_dir(self) -> str:
        return os.path.join(self.namespace_dir, ".locks")

    @property
    def events_dir(self) -> str:
        """The namespace's event journal (state/event_journal.py): JOURNAL_FILE, and
        JOURNAL_FILE + ROTATED_SUFFIX for the generation before it."""
        return os.path.join(self.namespace_dir, ".events")

    def lock_file(self, task_id: str) -> str:
        return os.path.join(self.locks_dir, f"{task_id}.lock")

    @property
    def cgroup_parents_lock_file(self) -> str:
        """Held shared while a runtime makes a task's cgroup (its /pytasks[-tag]/<ns>
        parents included), exclusive by whoever removes those parents once empty: one per
        state dir, as the parents are shared by its namespaces."""
        return os.path.join(self.state, ".cgroup-parents.lock")

    @property
    def runtime_root(self) -> str:
        return os.path.join(self.state, RUNTIME_DIR, self.namespace)

    @property
    def fifo_dir(self) -> str:
        return os.path.join(self.state, FIFO_DIR)

    @property
    def fifo_namespace_dir(self) -> str:
        """The namespace's share of fifo/: two namespaces may have tasks of one id, and a
        delete or gc in one must never take the other's FIFO sets."""
        return os.path.join(self.fifo_dir, self.namespace)

    def fifo_task_dir(self, task_id: str) -> str:
        """FIFO sets of one task's attached clients; removed with the task, so a client
        killed before it could clean up leaves nothing behind for long."""
        return os.path.join(self.fifo_namespace_dir, task_id)

    def cgroup_path(self, task_id: str) -> str:
        """cgroupsPath for the runtime. Non-default state roots get their own parent, so
        tests and a real install can never collide on a cgroup."""
        if self.state == DEFAULT_STATE:
            return f"/pytasks/{self.namespace}/{task_id}"
        return f"/pytasks-{self.state_tag}/{self.namespace}/{task_id}"

    @property
    def state_tag(self) -> str:
        try:
            # CPython's built-in SHA-256: the same digest as hashlib's, without loading
            # OpenSSL on every create under a non-default state root.
            from _sha256 import sha256
        except ImportError:  # an interpreter built without it
            from hashlib import sha256
        return sha256(self.state.encode()).hexdigest()[:10]


def criu_prefix() -> str:
    """Where scripts/install-criu puts CRIU 4.2 (scripts/setup: .venv/criu), found from
    the interpreter that runs pytasks (docs/architecture.md §9)."""
    import sys

    return os.path.join(sys.prefix, "criu")


def criu_wrapper() -> str:
    return os.path.join(criu_prefix(), "bin", "criu")


def exec_pending_files(task_dir: str, tag: str) -> tuple[str, str, str]:
    """The files of an exec being started, under a tag its client chose: the process spec
    (written by the monitor), the pid file (by the runtime), both absolute, and the console
    socket's name relative to the task dir (bound by the monitor, with a terminal). The
    monitor removes them once the runtime call is over."""
    stem = f".pending-{tag}"
    return (os.path.join(task_dir, EXEC_DIR, f"{stem}.process.json"),
            os.path.join(task_dir, EXEC_DIR, f"{stem}.pid"),
            f"{EXEC_DIR}/{stem}.console.sock")


def ensure_dir(path: str | os.PathLike[str]) -> str:
    """mkdir -p with mode 0700 for every directory we create, parents included; returns
    the path as str. The directory itself must be a real directory: a symlink planted in
    its place is refused, never followed (ancestors that already exist are the system's,
    e.g. /var/run)."""
    target = os.fspath(path)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        parent = os.path.dirname(target)
        if parent and parent != target:
            ensure_dir(parent)
        try:
            os.mkdir(target, 0o700)
        except FileExistsError:
            pass  # made meanwhile: checked below like any other
        st = os.lstat(target)
    if not stat.S_ISDIR(st.st_mode):
        from pytasks import errors

        kind = "a symbolic link" if stat.S_ISLNK(st.st_mode) else "not a directory"
        raise errors.PermissionDeniedError(f"refusing to use {target}: it is {kind}")
    return target


def socket_address(dir_fd: int, name: str = MONITOR_SOCKET) -> str:
    """A short path to a socket in a deep directory (sun_path holds 108 bytes)."""
    return f"/proc/self/fd/{dir_fd}/{name}"
