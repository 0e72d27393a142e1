"""The CLI's next-step advice on error lines (pytasks/cli/hints.py)."""

from __future__ import annotations

import tempfile

from pytasks import errors, lifecycle
from pytasks.cli.hints import HINTS, with_hint
from pytasks.lifecycle import Op, Status


def test_every_hint_follows_a_message_the_lifecycle_really_gives() -> None:
    given = set()
    for op in Op:
        for status in Status:
            try:
                lifecycle.check(op, status)
            except errors.PytasksError as exc:
                given.add(str(exc))
    exec_words = "cannot exec task in stopped state"  # the exec path's own wording
    for start, _ in HINTS:
        assert start in given or start == exec_words, start


def test_a_hint_is_added_once_and_other_messages_are_left_alone() -> None:
    hinted = with_hint("cannot delete task in running state")
    assert hinted == ("cannot delete task in running state "
                      "(use 'pytasks delete -f' to kill it first)")
    assert with_hint(hinted) == hinted
    assert with_hint("task web not found") == "task web not found"


def test_the_cli_names_a_missing_task_once() -> None:
    from test_input_properties import run_line

    with tempfile.TemporaryDirectory() as directory:
        code, stderr = run_line(directory, ["start", "nosuch"])
    assert code == 3 and stderr == "pytasks: task nosuch not found\n"
