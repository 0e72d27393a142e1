"""pytasks.monitor.protocol: process identity (pid + start time), exit records, times."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from pytasks.monitor import protocol


def _stat_field_22(pid: int) -> int:
    """starttime read independently: field 22 of /proc/PID/stat (comm may hold spaces)."""
    text = Path(f"/proc/{pid}/stat").read_text()
    return int(text[text.rindex(")") + 2:].split()[19])


def _wait_for_state(pid: int, state: str) -> None:
    deadline = time.monotonic() + 5
    while Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != state:
        assert time.monotonic() < deadline, f"{pid} never reached state {state}"
        time.sleep(0.01)


def test_start_time_of_self() -> None:
    start = protocol.process_start_time(os.getpid())
    assert isinstance(start, int) and start > 0
    assert start == _stat_field_22(os.getpid())
    assert protocol.is_alive(os.getpid(), start)


def test_start_time_with_parentheses_and_spaces_in_comm(tmp_path: Path) -> None:
    odd = tmp_path / "a) b (c"
    shutil.copy("/bin/sleep", odd)
    proc = subprocess.Popen([str(odd), "10"])
    try:
        _wait_for_state(proc.pid, "S")
        assert Path(f"/proc/{proc.pid}/comm").read_text().strip() == "a) b (c"
        assert protocol.process_start_time(proc.pid) == _stat_field_22(proc.pid)
    finally:
        proc.kill()
        proc.wait()


def test_dead_process_is_not_alive() -> None:
    proc = subprocess.Popen(["sleep", "10"])
    start = protocol.process_start_time(proc.pid)
    assert protocol.is_alive(proc.pid, start)
    proc.kill()
    proc.wait()
    assert protocol.process_start_time(proc.pid) is None
    assert not protocol.is_alive(proc.pid, start)


def test_zombie_is_not_alive() -> None:
    proc = subprocess.Popen(["true"])
    try:
        _wait_for_state(proc.pid, "Z")
        assert protocol.process_start_time(proc.pid) is None
    finally:
        proc.wait()


def test_pid_reuse_is_detected_by_start_time() -> None:
    start = protocol.process_start_time(os.getpid())
    assert start is not None
    assert not protocol.is_alive(os.getpid(), start + 1)
    assert not protocol.is_alive(os.getpid(), None)


@pytest.mark.parametrize("pid", [0, -1])
def test_no_pid_is_not_alive(pid: int) -> None:
    assert not protocol.is_alive(pid, 1)


@pytest.mark.parametrize(("ns", "text"), [
    (0, "1970-01-01T00:00:00.000000000Z"),
    (1, "1970-01-01T00:00:00.000000001Z"),
    (1_700_000_000_123_456_789, "2023-11-14T22:13:20.123456789Z"),
    (1_709_164_800_000_000_000, "2024-02-29T00:00:00.000000000Z"),
])
def test_rfc3339(ns: int, text: str) -> None:
    assert protocol.rfc3339(ns) == text


def test_exit_record() -> None:
    record = protocol.exit_record(42, 137, 1_700_000_000_000_000_005, note="x")
    assert record == {"pid": 42, "exit_status": 137,
                      "exited_at_ns": 1_700_000_000_000_000_005,
                      "exited_at": "2023-11-14T22:13:20.000000005Z", "note": "x"}


def test_encode_decode() -> None:
    line = protocol.encode({"op": "kill", "signal": 9})
    assert line == b'{"op":"kill","signal":9}\n'
    assert protocol.decode(line) == {"op": "kill", "signal": 9}
    with pytest.raises(ValueError):
        protocol.decode(b"[1, 2]\n")
    with pytest.raises(ValueError):
        protocol.decode(b"not json\n")


def test_pid_from_file(tmp_path: Path) -> None:
    (tmp_path / "pid").write_text("1234")
    assert protocol.pid_from_file(tmp_path / "pid") == 1234
    (tmp_path / "empty").write_text("")
    assert protocol.pid_from_file(tmp_path / "empty") == 0
