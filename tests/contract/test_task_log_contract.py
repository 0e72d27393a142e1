"""The task's own log (state/task_log.py, docs/architecture.md §5), written by both monitors
alike: records that keep each stream and its time, shared by the init and its execs,
rotated past its bound, and a full disk that drops output, marks where, and never stops
the task. Run against each monitor with the fake runtime (monitor_harness.py)."""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
from helpers.disk import fill, small_tmpfs
from monitor_harness import Task, wait_for

from pytasks import errors
from pytasks.monitor import protocol
from pytasks.state import layout, task_log
from pytasks.state.atomic import write_json

RECORD = re.compile(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z (stdout|stderr) ([FPD]) .*",
                    re.S)


def own_log(task: Task) -> str:
    return str(task.dir / layout.OUTPUT_LOG)


def records_of(data: bytes) -> list[task_log.Record]:
    """Every line of data is a record (nothing torn, nothing else) and ends in a newline."""
    assert data.endswith(b"\n"), data[-200:]
    for line in data[:-1].split(b"\n"):
        assert RECORD.fullmatch(line), line[:200]
    records, used = task_log.parse(data)
    assert used == len(data)
    return records


def shown(records: list[task_log.Record]) -> list[tuple[bytes, bytes, bool, int]]:
    assembler = task_log.Assembler()
    lines = assembler.feed(records) + assembler.end()
    return [(line.stream, line.text, line.newline, line.dropped) for line in lines]


def assert_framed_as_task_log_frames(data: bytes) -> None:
    """Byte for byte what task_log.frame (and dropped) write: each run of records with one
    stamp and stream is one chunk of output framed at once."""
    records = task_log.parse(data)[0]
    rebuilt, index = b"", 0
    while index < len(records):
        stamp, stream, tag, content = records[index]
        if tag == task_log.DROPPED:
            rebuilt += task_log.dropped(stream, int(content), stamp)
            index += 1
            continue
        chunk = b""
        while index < len(records) and records[index][:2] == (stamp, stream) \
                and records[index][2] != task_log.DROPPED:
            chunk += records[index][3] + (b"\n" if records[index][2] == task_log.FULL else b"")
            index += 1
        rebuilt += task_log.frame(stream, chunk, stamp)
    assert rebuilt == data


def test_the_own_log_keeps_each_stream_and_time_in_records(task: Task) -> None:
    log = own_log(task)
    before = protocol.rfc3339(time.time_ns()).encode()
    task.create(["sh", "-c", "printf 'one\\ntw'; sleep 0.2; printf 'o\\n\\n'; echo err >&2; "
                 "sleep 0.1; printf 'no newline'"],
                start=True, stdio={"stdout": log, "stderr": log})
    wait_for(task.monitor_gone, "the monitor to exit")
    after = protocol.rfc3339(time.time_ns()).encode()
    data = (task.dir / layout.OUTPUT_LOG).read_bytes()
    records = records_of(data)
    assert records[0][1:] == (b"stdout", b"F", b"one")
    assert records[1][1:] == (b"stdout", b"P", b"tw")  # the chunk ended there
    assert records[0][0] == records[1][0]  # one chunk, one time
    stamps = [r[0] for r in records]
    assert stamps == sorted(stamps) and before <= stamps[0] and stamps[-1] <= after
    assert shown(records) == [(b"stdout", b"one", True, 0), (b"stdout", b"two", True, 0),
                              (b"stdout", b"", True, 0), (b"stderr", b"err", True, 0),
                              (b"stdout", b"no newline", False, 0)]
    assert_framed_as_task_log_frames(data)


def test_a_terminal_log_is_one_stream(task: Task) -> None:
    log = own_log(task)
    task.create(["sh", "-c", "echo out; echo err >&2"], start=True, terminal=True,
                stdio={"stdout": log, "stderr": log})
    wait_for(task.monitor_gone, "the monitor to exit")
    records = records_of((task.dir / layout.OUTPUT_LOG).read_bytes())
    assert {r[1] for r in records} == {b"stdout"}
    assert [text for _, text, _, _ in shown(records)] == [b"out\r", b"err\r"]


def test_execs_share_the_log_with_the_init(task: Task) -> None:
    log = own_log(task)
    stdio = {"stdout": log, "stderr": log}
    task.create(["sh", "-c", "echo init-up; exec sleep 1000"], start=True, stdio=stdio)
    wait_for(lambda: b"init-up" in Path(log).read_bytes(), "the init's line")
    for n in (1, 2):  # the second after the first has finished (and closed its sink)
        pid = task.exec(["sh", "-c", f"echo exec-{n}; echo exec-{n}-err >&2"], stdio=stdio)
        assert task.wait(pid)["exit_status"] == 0
    assert task.request({"op": protocol.OP_KILL, "signal": signal.SIGKILL}) == {"ok": True}
    wait_for(task.monitor_gone, "the monitor to exit")
    data = Path(log).read_bytes()
    got = sorted((stream, text) for stream, text, _, _ in shown(records_of(data)))
    assert got == [(b"stderr", b"exec-1-err"), (b"stderr", b"exec-2-err"),
                   (b"stdout", b"exec-1"), (b"stdout", b"exec-2"), (b"stdout", b"init-up")]
    assert_framed_as_task_log_frames(data)


def test_the_log_is_rotated_past_its_bound(task: Task) -> None:
    bound = 400
    log = own_log(task)
    task.write_config(["sh", "-c", "for i in $(seq 1 40); do echo line-$i; sleep 0.01; done"],
                      start=True, stdio={"stdout": log, "stderr": log})
    write_json(task.dir / layout.MONITOR_FILE,
               {**task.config, protocol.CONFIG_LOG_MAX_BYTES: bound})
    task.spawn()
    wait_for(task.monitor_gone, "the monitor to exit")
    older = (task.dir / task_log.ROTATED).read_bytes()
    current = (task.dir / layout.OUTPUT_LOG).read_bytes() if (
        task.dir / layout.OUTPUT_LOG).exists() else b""
    # A generation is renamed once a write takes it to the bound: never much over it.
    assert bound <= len(older) < 2 * bound
    assert len(current) < 2 * bound
    texts = [text for _, text, _, _ in shown(records_of(older) + (
        records_of(current) if current else []))]
    # The newest lines, with no gap: the generations before output.log.1 are gone.
    expected = [f"line-{i}".encode() for i in range(1, 41)]
    assert texts == expected[-len(texts):] and len(texts) < len(expected)


def test_a_fifo_planted_as_the_log_fails_the_create_instead_of_hanging_it(task: Task) -> None:
    log = own_log(task)
    os.mkfifo(log, 0o600)
    with pytest.raises(errors.InternalError, match="No such device or address"):
        task.create(["sh", "-c", "echo pwned"], start=True,
                    stdio={"stdout": log, "stderr": log})
    wait_for(lambda: not task.monitors(), "the failed monitor to exit")
    assert task.calls_of("create") == [] and task.calls_of("run") == []


# a full disk ---------------------------------------------------------------------------------
@pytest.mark.skipif(os.geteuid() != 0, reason="mounts a small tmpfs: needs root")
def test_a_full_disk_drops_output_marks_it_and_never_stops_the_task(
        tmp_path: Path, monitor_kind: str) -> None:
    burst = 300_000  # far more than a pipe holds: a monitor that stopped reading blocks it
    go, go_on = tmp_path / "go", tmp_path / "go-on"  # two: a writer of one may linger
    os.mkfifo(go, 0o600)
    os.mkfifo(go_on, 0o600)
    done = tmp_path / "burst-done"
    script = (f"echo before; read x < {go}; head -c {burst} /dev/zero | tr '\\0' y; echo; "
              f"echo burst-err >&2; echo > {done}; read x < {go_on}; echo after; "
              "echo after-err >&2")
    with small_tmpfs(tmp_path / "disk", "2m") as disk:
        task = Task(disk, monitor_kind)
        try:
            log = own_log(task)
            ready = task.create(["sh", "-c", script], start=True,
                                stdio={"stdout": log, "stderr": log})
            wait_for(lambda: b"before" in Path(log).read_bytes(), "the first line")
            fill(disk / "filler")
            with open(go, "w") as fh:  # the burst, onto a full disk
                fh.write("go\n")
            wait_for(done.exists, "the task to write its burst (it must not block)")
            assert task.request({"op": protocol.OP_STATE})["exited"] is False
            assert protocol.process_start_time(ready["pid"]) is not None
            (disk / "filler").unlink()
            with open(go_on, "w") as fh:
                fh.write("go\n")
            wait_for(task.monitor_gone, "the monitor to exit")
            data = Path(log).read_bytes()
        finally:
            task.kill_everything()
    records = records_of(data)
    lines = shown(records)
    dropped = {stream: count for stream, _, _, count in lines if count}
    # Every byte is in the log or counted in a marker: a page's slack may have taken a
    # little, the rest was dropped; nothing of a failed write was left behind.
    kept = b"".join(text + b"\n" * newline for stream, text, newline, count in lines
                    if stream == b"stdout" and not count and text not in (b"before", b"after"))
    assert dropped[b"stdout"] > 0 and dropped[b"stdout"] + len(kept) == burst + 1
    kept_err = [text for stream, text, _, _ in lines if stream == b"stderr"]
    assert dropped.get(b"stderr", 0) + (len(b"burst-err\n") if b"burst-err" in kept_err
                                        else 0) == len(b"burst-err\n")
    # The markers come before the first output written after them, the task's later
    # output after them.
    texts = [(stream, text) for stream, text, _, count in lines if not count]
    assert texts[0] == (b"stdout", b"before")
    assert texts[-2:] == [(b"stdout", b"after"), (b"stderr", b"after-err")]
    first_marker = next(i for i, line in enumerate(lines) if line[3])
    assert first_marker < lines.index((b"stdout", b"after", True, 0))
    assert_framed_as_task_log_frames(data)
