"""pytasks.state.atomic: whole-file replacement that never tears and never follows links."""

from __future__ import annotations

import errno
import json
import os
import stat
from pathlib import Path

import pytest

from pytasks.state import atomic


def test_write_json_round_trip_and_mode(tmp_path: Path) -> None:
    target = tmp_path / "rec.json"
    atomic.write_json(target, {"b": 1, "a": [1, 2]})
    assert atomic.read_json(target) == {"a": [1, 2], "b": 1}
    assert target.read_text().endswith("\n")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert os.listdir(tmp_path) == ["rec.json"]


def test_replaces_existing_content(tmp_path: Path) -> None:
    target = tmp_path / "f"
    target.write_bytes(b"old content that is longer")
    atomic.write_atomic(target, b"new")
    assert target.read_bytes() == b"new"


def test_failing_write_keeps_old_file_and_leaves_no_temp(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "rec.json"
    atomic.write_json(target, {"generation": 1})
    real_write = os.write
    calls = []

    def failing_write(fd: int, data: bytes) -> int:
        calls.append(len(data))
        if len(calls) == 1:
            return real_write(fd, bytes(data[:10]))  # a short write first ...
        raise OSError(errno.ENOSPC, "No space left on device")  # ... then the disk is full

    with monkeypatch.context() as m:
        m.setattr(os, "write", failing_write)
        with pytest.raises(OSError) as info:
            atomic.write_json(target, {"generation": 2, "pad": "x" * 1000})
    assert info.value.errno == errno.ENOSPC
    assert len(calls) == 2, "the write loop must continue after a short write"
    assert atomic.read_json(target) == {"generation": 1}
    assert os.listdir(tmp_path) == ["rec.json"]


def test_failing_rename_leaves_no_temp(tmp_path: Path) -> None:
    target = tmp_path / "dir"
    target.mkdir()
    (target / "keep").write_text("x")  # rename onto a non-empty directory fails
    with pytest.raises(OSError):
        atomic.write_atomic(target, b"data")
    assert sorted(os.listdir(tmp_path)) == ["dir"]
    assert (target / "keep").read_text() == "x"


def test_symlink_at_target_is_replaced_not_followed(tmp_path: Path) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious")
    target = tmp_path / "rec.json"
    target.symlink_to(victim)
    atomic.write_json(target, {"ok": True})
    assert not target.is_symlink()
    assert atomic.read_json(target) == {"ok": True}
    assert victim.read_text() == "precious"


def test_dangling_symlink_at_target_is_replaced(tmp_path: Path) -> None:
    target = tmp_path / "rec.json"
    target.symlink_to(tmp_path / "elsewhere" / "new-file")
    atomic.write_atomic(target, b"{}")
    assert not target.is_symlink()
    assert not (tmp_path / "elsewhere").exists()


def test_read_json_refuses_a_symlink(tmp_path: Path) -> None:
    real = tmp_path / "real.json"
    real.write_text(json.dumps({"planted": True}))
    link = tmp_path / "rec.json"
    link.symlink_to(real)
    with pytest.raises(OSError) as info:
        atomic.read_json(link)
    assert info.value.errno == errno.ELOOP


def test_read_json_of_missing_file(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        atomic.read_json(tmp_path / "absent.json")
