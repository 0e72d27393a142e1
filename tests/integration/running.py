"""A running busybox task to exec into, shared by the exec/IO and terminal tests."""

from __future__ import annotations

from pathlib import Path

from helpers.roots import Roots

TASK = "c"


def run_detached(roots: Roots, task_id: str, rootfs: Path, *command: str,
                 options: tuple[str, ...] = ()) -> int:
    result = roots.pytasks("run", "-d", "--rootfs", rootfs, "--readonly", *options, task_id,
                           *command, check=True)
    return int(result.stdout)


def remove(roots: Roots, task_id: str) -> None:
    """Force-delete the task and its container record, whatever state it is in (a failing
    delete shows as a leak at teardown)."""
    roots.pytasks("delete", "-f", task_id)
    roots.pytasks("containers", "delete", task_id)


def log_output(task_dir: str | Path) -> bytes:
    """What the task's processes wrote to its own log, as the bytes they wrote (both
    streams, in the log's order; the records are state/task_log.py's)."""
    from pytasks.state import task_log

    with task_log.Reader(str(task_dir)) as reader:
        return b"".join(content + (b"\n" if tag == task_log.FULL else b"")
                        for _, _, tag, content in reader.history() if tag != task_log.DROPPED)
