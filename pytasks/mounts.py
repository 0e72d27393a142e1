"""Mounting CreateTaskRequest.rootfs entries in the monitor's private mount namespace.

Stdlib only. The monitor unshares its mount namespace before mounting, so rootfs mounts
never appear on the host and vanish with the monitor and the container: nothing can leak.
"""

from __future__ import annotations

import ctypes
import os

from pytasks import errors
from pytasks.runtime import run_process

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CLONE_NEWNS = 0x00020000
PR_SET_CHILD_SUBREAPER = 36
MOUNT_BIN = "/bin/mount"


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(None, use_errno=True)


def set_child_subreaper() -> None:
    """Orphaned container processes reparent to us, so we can reap the init (prctl(2))."""
    if _libc().prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def private_mount_namespace() -> None:
    """unshare(CLONE_NEWNS) and make every mount a slave, so nothing propagates back."""
    if _libc().unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise errors.PermissionDeniedError(f"unshare(CLONE_NEWNS): {os.strerror(err)}")
    _mount_cmd(["--make-rslave", "/"])


def mount(entry: dict[str, Any], target: str) -> None:
    """Mount one containerd.v1.types.Mount (type, source, options) onto target."""
    argv = []
    if entry.get("type"):
        argv += ["-t", entry["type"]]
    options = [o for o in entry.get("options", []) if o]
    if options:
        argv += ["-o", ",".join(options)]
    _mount_cmd([*argv, entry.get("source") or "none", target])


def _mount_cmd(args: list[str]) -> None:
    result = run_process([MOUNT_BIN, *args])
    if result.returncode != 0:
        text = (result.stderr or result.stdout).decode(errors="replace").strip()
        raise errors.InvalidArgumentError(f"mount {' '.join(args)}: {text or 'failed'}")
