"""Task records: task.json (written only by the CLI, under the task lock) and the init's
exit record init.exit (written only by the monitor, docs/architecture.md §4). This module
is their one reader and the one writer of task.json. Stdlib only (cheap for list/get)."""

from __future__ import annotations

import os

from pytasks.state import schema
from pytasks.state.atomic import write_json
from pytasks.state.layout import INIT_EXIT_FILE, TASK_FILE

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pytasks.state.layout import Layout


def read(layout: Layout, task_id: str) -> dict[str, Any] | None:
    """The task record, or None when the task does not exist (or was half-created)."""
    try:
        return schema.TASK.read(layout.task_file(task_id, TASK_FILE))
    except FileNotFoundError:
        return None


def write(layout: Layout, task_id: str, record: dict[str, Any]) -> None:
    """Only the CLI writes task.json, and only under the task lock."""
    write_json(layout.task_file(task_id, TASK_FILE), record)


def write_in(task_dir: str, record: dict[str, Any]) -> None:
    """The first record of a task, into its dir before the dir has its name (create)."""
    write_json(os.path.join(task_dir, TASK_FILE), record)


def read_exit(task_dir: str) -> dict[str, Any] | None:
    """The init's exit record, or None while it has not exited (or nobody saw it)."""
    try:
        return schema.EXIT.read(os.path.join(task_dir, INIT_EXIT_FILE))
    except FileNotFoundError:
        return None
