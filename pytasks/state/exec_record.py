"""Exec records: `exec/<pid>.json` (what was started) and `exec/<pid>.exit` (how it ended).

Both are written by the monitor only (docs/architecture.md §7); this module is their one
reader, the Python monitor's one writer and the one remover (DeleteProcess). Reads never
follow a symlink planted in a record's place. Stdlib only: the monitor imports it.
"""

from __future__ import annotations

import os

from pytasks.state import schema
from pytasks.state.atomic import read_json_object, write_json
from pytasks.state.layout import EXEC_DIR, EXIT_SUFFIX, RECORD_SUFFIX

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    Pair = tuple[dict[str, Any], "dict[str, Any] | None"]


def record_path(task_dir: str, pid: int) -> str:
    return os.path.join(task_dir, EXEC_DIR, f"{pid}{RECORD_SUFFIX}")


def exit_path(task_dir: str, pid: int) -> str:
    return os.path.join(task_dir, EXEC_DIR, f"{pid}{EXIT_SUFFIX}")


def write(task_dir: str, pid: int, record: dict[str, Any]) -> None:
    write_json(record_path(task_dir, pid), record)


def remove(task_dir: str, pid: int) -> None:
    """Forget a finished exec (DeleteProcess): its record, then its exit record."""
    for path in (record_path(task_dir, pid), exit_path(task_dir, pid)):
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass


def read(task_dir: str, pid: int) -> Pair:
    """The exec's record and its exit record (None while it runs). FileNotFoundError when
    the exec has no record, DataLoss when one is unreadable or corrupt; a record being
    replaced by its writer is never seen torn."""
    record = schema.EXEC.read(record_path(task_dir, pid))
    try:
        exit_record = schema.EXIT.read(exit_path(task_dir, pid))
    except FileNotFoundError:
        exit_record = None
    return record, exit_record


def read_all(task_dir: str | os.PathLike[str]) -> dict[int, Pair]:
    """pid -> (record, exit record or None) of every exec of the task. Unreadable entries
    read as an empty record or no exit, so one bad file cannot hide the others."""
    task_dir = os.fspath(task_dir)
    exec_dir = os.path.join(task_dir, EXEC_DIR)
    try:
        entries = os.listdir(exec_dir)
    except OSError:
        return {}
    found: dict[int, Pair] = {}
    for entry in entries:
        stem, _, suffix = entry.partition(".")
        if f".{suffix}" not in (RECORD_SUFFIX, EXIT_SUFFIX) or not stem.isdigit():
            continue
        pid = int(stem)
        if pid in found:
            continue
        record = read_json_object(record_path(task_dir, pid))
        exit_record = read_json_object(exit_path(task_dir, pid))
        found[pid] = (record if record and schema.EXEC.problem(record) is None else {},
                      exit_record if schema.EXIT.problem(exit_record) is None else None)
    return found
