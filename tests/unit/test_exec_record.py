"""pytasks.state.exec_record: the one reader of exec records, safe against planted symlinks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from pytasks.errors import DataLossError
from pytasks.state import exec_record


def _task_dir(tmp_path: Path) -> str:
    os.mkdir(tmp_path / "exec")
    return str(tmp_path)


def test_write_then_read_and_remove(tmp_path: Path) -> None:
    task_dir = _task_dir(tmp_path)
    exec_record.write(task_dir, 42, {"pid": 42, "args": ["true"]})
    assert exec_record.read(task_dir, 42) == ({"pid": 42, "args": ["true"]}, None)
    with open(exec_record.exit_path(task_dir, 42), "w") as fh:
        json.dump({"pid": 42, "exit_status": 3, "exited_at_ns": 5}, fh)
    assert exec_record.read(task_dir, 42)[1] == {"pid": 42, "exit_status": 3, "exited_at_ns": 5}
    assert exec_record.read_all(task_dir) == {
        42: ({"pid": 42, "args": ["true"]}, {"pid": 42, "exit_status": 3, "exited_at_ns": 5})}
    exec_record.remove(task_dir, 42)
    exec_record.remove(task_dir, 42)  # twice is harmless
    assert os.listdir(os.path.join(task_dir, "exec")) == []
    with pytest.raises(FileNotFoundError):
        exec_record.read(task_dir, 42)


def test_planted_symlinks_are_not_followed(tmp_path: Path) -> None:
    task_dir = _task_dir(tmp_path)
    secret = tmp_path / "secret.json"
    secret.write_text('{"stolen": true}')
    os.symlink(secret, exec_record.record_path(task_dir, 7))
    os.symlink(secret, exec_record.exit_path(task_dir, 7))
    with pytest.raises(DataLossError, match=r"exec record .*/exec/7.json is unreadable"):
        exec_record.read(task_dir, 7)
    assert exec_record.read_all(task_dir) == {7: ({}, None)}


def test_one_bad_file_hides_no_other_exec(tmp_path: Path) -> None:
    task_dir = _task_dir(tmp_path)
    exec_record.write(task_dir, 1, {"pid": 1})
    with open(exec_record.record_path(task_dir, 2), "w") as fh:
        fh.write("{torn")
    with open(exec_record.record_path(task_dir, 3), "w") as fh:
        fh.write("[1, 2, 3]")
    with open(os.path.join(task_dir, "exec", "pending.exit"), "w") as fh:
        fh.write("{}")
    assert exec_record.read_all(task_dir) == {1: ({"pid": 1}, None), 2: ({}, None),
                                              3: ({}, None)}


def test_no_exec_dir_reads_as_no_execs(tmp_path: Path) -> None:
    assert exec_record.read_all(str(tmp_path)) == {}


@pytest.mark.parametrize(("content", "problem"), [
    ('{"pid": "7"}', "field 'pid' is a string, not an integer"),
    ('{"pid": true}', "field 'pid' is a boolean, not an integer"),
    ('{"pid": 4294967296}', "field 'pid' is out of range: 4294967296"),
    ("[" * 100000 + "]" * 100000, "unreadable: JSON nested too deeply"),
    ("[1, 2, 3]", "it is a list, not an object"),
])
def test_a_corrupt_record_is_data_loss_naming_the_file(tmp_path: Path, content: str,
                                                        problem: str) -> None:
    task_dir = _task_dir(tmp_path)
    with open(exec_record.record_path(task_dir, 7), "w") as fh:
        fh.write(content)
    with pytest.raises(DataLossError) as info:
        exec_record.read(task_dir, 7)
    assert exec_record.record_path(task_dir, 7) in str(info.value)
    assert str(info.value).endswith(problem)
