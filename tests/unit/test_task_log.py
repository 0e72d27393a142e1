"""The task's own log (pytasks/state/task_log.py): its records, how they read back as lines,
and a reader that follows it across rotations; `logs --tail` over lines and notices.
Without monitors: tests/contract checks that both monitors write these records."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest

from pytasks.cli.verbs.logs import last
from pytasks.monitor import protocol
from pytasks.state import layout, task_log

T1 = b"2026-12-03T10:00:00.000000001Z"
T2 = b"2026-12-03T10:00:00.000000002Z"


def test_the_compiled_monitor_names_the_log_as_this_module_does() -> None:
    assert protocol.LOG_NAME == layout.OUTPUT_LOG
    assert protocol.LOG_ROTATED_NAME == task_log.ROTATED == layout.OUTPUT_LOG + ".1"
    assert (protocol.LOG_STDOUT.encode(), protocol.LOG_STDERR.encode()) == task_log.STREAMS
    assert (protocol.LOG_FULL.encode(), protocol.LOG_PARTIAL.encode(),
            protocol.LOG_DROPPED.encode()) == task_log.TAGS


@pytest.mark.parametrize(("data", "records"), [
    (b"one\n", [b"F one"]),
    (b"one\ntwo\n", [b"F one", b"F two"]),
    (b"one\ntw", [b"F one", b"P tw"]),
    (b"no newline", [b"P no newline"]),
    (b"\n\n", [b"F ", b"F "]),
    (b"cr\r\n\x0bvt \t\n", [b"F cr\r", b"F \x0bvt \t"]),  # only \n ends a line
])
def test_a_chunk_is_one_record_per_line_and_a_partial_rest(data: bytes, records: list[bytes]
                                                            ) -> None:
    framed = task_log.frame(b"stderr", data, T1)
    assert framed == b"".join(T1 + b" stderr " + r + b"\n" for r in records)
    parsed, used = task_log.parse(framed)
    assert used == len(framed)
    assert [(s, t) for _, s, t, _ in parsed] == [(b"stderr", r[:1]) for r in records]
    assert b"".join(c + (b"\n" if t == b"F" else b"") for _, _, t, c in parsed) == data


def test_parse_skips_what_is_not_a_record_and_leaves_a_torn_end() -> None:
    good = task_log.frame(b"stdout", b"a\n", T1)
    data = good + b"garbage\n" + T1 + b" stdin F x\n" + T1 + b" stdout X y\n" + good[:20]
    records, used = task_log.parse(data)
    assert records == [(T1, b"stdout", b"F", b"a")]
    assert used == len(data) - 20
    assert task_log.parse(b"") == ([], 0) and task_log.parse(b"half") == ([], 0)


def test_partials_join_their_stream_s_next_record_and_markers_are_notices() -> None:
    data = (task_log.frame(b"stdout", b"hel", T1) + task_log.frame(b"stderr", b"oops\n", T2)
            + task_log.frame(b"stdout", b"lo\nwor", T2) + task_log.dropped(b"stdout", 42, T2)
            + task_log.frame(b"stdout", b"ld", T2))
    assert task_log.dropped(b"stdout", 42, T2) == T2 + b" stdout D 42\n"
    assembler = task_log.Assembler()
    lines = assembler.feed(task_log.parse(data)[0])
    got = [(line.stamp, line.stream, line.text, line.dropped) for line in lines]
    assert got == [(T2, b"stderr", b"oops", 0), (T1, b"stdout", b"hello", 0),
                   (T2, b"stdout", b"", 42)]
    rest = assembler.end()
    assert [(line.text, line.newline) for line in rest] == [(b"world", False)]
    assert assembler.end() == []


def _line(text: bytes) -> task_log.Line:
    return task_log.Line(T1, b"stdout", text)


def _notice(count: int) -> task_log.Line:
    return task_log.Line(T1, b"stdout", b"", dropped=count)


def test_tail_counts_lines_and_keeps_the_notices_among_them() -> None:
    a, b, c, d1, d2 = _line(b"a"), _line(b"b"), _line(b"c"), _notice(1), _notice(2)
    lines = [a, d1, b, c, d2]
    assert last(lines, None) == lines
    assert last(lines, 0) == []
    assert last(lines, 1) == [c, d2]
    assert last(lines, 2) == [b, c, d2]
    assert last(lines, 3) == lines
    assert last(lines, 99) == lines


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as fh:
        fh.write(data)


def test_history_reads_the_older_generation_first(tmp_path: Path) -> None:
    _append(tmp_path / task_log.ROTATED, task_log.frame(b"stdout", b"old\n", T1))
    _append(tmp_path / layout.OUTPUT_LOG, task_log.frame(b"stdout", b"new\n", T2) + b"T")
    with task_log.Reader(str(tmp_path)) as reader:
        assert [r[3] for r in reader.history()] == [b"old", b"new"]
    with task_log.Reader(str(tmp_path / "nothing-here")) as reader:
        assert reader.history() == []


def test_follow_reads_across_rotations_without_a_gap_or_a_repeat(tmp_path: Path) -> None:
    """A writer that appends, in pieces that tear records, and renames the log as the
    monitors do; the follower sees every record once, in order, then ends."""
    path, rotated = tmp_path / layout.OUTPUT_LOG, tmp_path / task_log.ROTATED
    _append(path, task_log.frame(b"stdout", b"line-0\n", T1))
    finished = threading.Event()

    def write() -> None:
        for i in range(1, 61):
            record = task_log.frame(b"stderr" if i % 3 else b"stdout", b"line-%d\n" % i, T2)
            _append(path, record[:7])
            time.sleep(0.001)
            _append(path, record[7:])
            if i % 20 == 0:
                os.rename(path, rotated)
                if i % 40 == 0:
                    time.sleep(0.05)  # a while with no output.log at all
                _append(path, b"")
        finished.set()

    with task_log.Reader(str(tmp_path)) as reader:
        seen = [r[3] for r in reader.history()]
        writer = threading.Thread(target=write)
        writer.start()
        try:
            for records in reader.follow(finished.is_set, wait_seconds=0.5):
                seen += [r[3] for r in records]
        finally:
            writer.join()
    assert seen == [b"line-%d" % i for i in range(61)]


def test_follow_ends_at_once_when_the_task_has_ended(tmp_path: Path) -> None:
    _append(tmp_path / layout.OUTPUT_LOG, task_log.frame(b"stdout", b"a\nb\n", T1))
    with task_log.Reader(str(tmp_path)) as reader:
        reader.history()
        started = time.monotonic()
        assert list(reader.follow(lambda: True, wait_seconds=5)) == []
        assert time.monotonic() - started < 1


def test_follow_reads_on_from_where_a_failed_write_was_taken_off(tmp_path: Path) -> None:
    """A monitor whose write failed half way truncates the file back: a follower that read
    past that point reads the next records from there, not from its old offset."""
    path = tmp_path / layout.OUTPUT_LOG
    kept = task_log.frame(b"stdout", b"kept\n", T1)
    _append(path, kept + task_log.frame(b"stdout", b"taken back off\n", T1))
    written = threading.Event()

    def space_again() -> None:
        time.sleep(0.2)
        _append(path, task_log.dropped(b"stdout", 15, T2) + task_log.frame(b"stdout", b"a\n", T2))
        written.set()

    with task_log.Reader(str(tmp_path)) as reader:
        assert [r[3] for r in reader.history()] == [b"kept", b"taken back off"]
        os.truncate(path, len(kept))
        writer = threading.Thread(target=space_again)
        writer.start()
        try:
            got = [(r[2], r[3]) for records in reader.follow(written.is_set, wait_seconds=0.5)
                   for r in records]
        finally:
            writer.join()
    assert got == [(b"D", b"15"), (b"F", b"a")]
