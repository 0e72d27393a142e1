"""The event journal (pytasks/state/event_journal.py), the time forms of --since/--until
(pytasks/instants.py) and the events filter fields, without containers."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

import pytest

from pytasks import errors, filters, instants
from pytasks.cli.batch import _names
from pytasks.state import event_journal
from pytasks.state.layout import Layout


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout(root=str(tmp_path / "root"), state=str(tmp_path / "state"),
                  namespace="ns")


def test_append_writes_one_documented_line_per_event(layout: Layout) -> None:
    event_journal.append(layout, "/tasks/exit", "web",
                         {"container_id": "web", "pid": 7, "exit_status": 3})
    raw = Path(layout.events_dir, "journal").read_bytes()
    assert raw.endswith(b"\n") and raw.count(b"\n") == 1
    event = json.loads(raw)
    assert list(event) == ["timestamp", "namespace", "topic", "id", "event"]
    assert event["namespace"] == "ns" and event["topic"] == "/tasks/exit"
    assert event["event"] == {"container_id": "web", "pid": 7, "exit_status": 3}
    assert abs(event_journal.parse_time(event["timestamp"]) - time.time_ns()) < 5e9
    assert os.stat(Path(layout.events_dir, "journal")).st_mode & 0o777 == 0o600


def test_a_torn_last_line_and_garbage_are_skipped(layout: Layout) -> None:
    event_journal.append(layout, "/tasks/start", "a", {})
    with open(Path(layout.events_dir, "journal"), "ab") as fh:
        fh.write(b"not json\n[1,2]\n{\"topic\": 3}\n{\"topic\":\"/tasks/st")
    assert [e["id"] for e in event_journal.read_all(layout)] == ["a"]
    events, used = event_journal.parse_lines(b'{"topic":"/x"}\n{"topic":')
    assert events == [{"topic": "/x"}] and used == len(b'{"topic":"/x"}\n')


def test_an_oversized_event_is_refused_not_torn(layout: Layout) -> None:
    with pytest.raises(ValueError, match="bytes long"):
        event_journal.append(layout, "/tasks/exit", "a", {"x": "y" * event_journal.MAX_LINE})
    assert list(event_journal.read_all(layout)) == []


def test_publish_never_fails_the_command(layout: Layout, tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    Path(layout.state).mkdir(parents=True)
    Path(layout.state, "ns").write_text("a file where the namespace dir goes")
    event_journal.publish(layout, "/tasks/start", "a", {})
    assert "warning: event /tasks/start of a was not journaled" in capsys.readouterr().err


def test_the_journal_is_rotated_and_bounded(layout: Layout,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(event_journal, "MAX_BYTES", 4096)
    for n in range(400):
        event_journal.append(layout, "/tasks/exec-added", "a", {"exec_id": str(n)})
    names = sorted(os.listdir(layout.events_dir))
    assert names == ["journal", "journal.1"]
    sizes = [os.path.getsize(Path(layout.events_dir, n)) for n in names]
    one = len(event_journal.line(layout, "/tasks/exec-added", "a", {"exec_id": "399"}))
    assert all(size <= 4096 + one for size in sizes)
    kept = [int(e["event"]["exec_id"]) for e in event_journal.read_all(layout)]
    assert kept == list(range(kept[0], 400)) and kept[0] > 0  # oldest dropped, in order


def _writer(state: str, root: str, worker: int, count: int) -> None:
    layout = Layout(root=root, state=state, namespace="ns")
    for n in range(count):
        event_journal.append(layout, "/tasks/exec-added", f"w{worker}",
                             {"exec_id": str(n), "pad": "x" * (n % 64)})


def test_sixteen_writers_at_once_never_tear_a_line(layout: Layout) -> None:
    count = 300
    procs = [multiprocessing.get_context("fork").Process(
        target=_writer, args=(layout.state, layout.root, w, count)) for w in range(16)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(60)
        assert proc.exitcode == 0
    raw = b"".join(Path(layout.events_dir, name).read_bytes()
                   for name in ("journal.1", "journal") if Path(layout.events_dir, name).exists())
    lines = raw.splitlines()
    assert len(lines) == 16 * count
    per_writer: dict[str, list[int]] = {}
    for line in lines:
        event = json.loads(line)  # every line whole
        per_writer.setdefault(event["id"], []).append(int(event["event"]["exec_id"]))
    assert all(seq == list(range(count)) for seq in per_writer.values())
    assert len(per_writer) == 16


def test_event_filters_use_the_list_syntax() -> None:
    chosen = filters.parse("topic==/tasks/exit,id==web", filters.EVENT_FIELDS)
    assert chosen.match({"topic": "/tasks/exit", "id": "web", "namespace": "n"})
    assert not chosen.match({"topic": "/tasks/exit", "id": "db", "namespace": "n"})
    assert filters.parse("topic~=/exec/", filters.EVENT_FIELDS).match(
        {"topic": "/tasks/exec-added", "id": "a", "namespace": "n"})
    assert filters.parse("id==/web/").match({"id": "web"})  # a slash-quoted value stays
    with pytest.raises(errors.InvalidArgumentError, match='unknown field "status"'):
        filters.parse("status==running", filters.EVENT_FIELDS)
    with pytest.raises(errors.InvalidArgumentError, match='unknown field "topic"'):
        filters.parse("topic==/tasks/exit")


def test_instants_take_rfc3339_durations_and_unix_seconds() -> None:
    now = 1_800_000_000 * 10**9
    assert instants.parse("10m", "--since", now) == now - 600 * 10**9
    assert instants.parse("1h30m", "--since", now) == now - 5400 * 10**9
    assert instants.parse("1.5s", "--since", now) == now - 1_500_000_000
    assert instants.parse("1700000000", "--since", now) == 1_700_000_000 * 10**9
    assert instants.parse("2026-12-03T10:00:00Z", "--since") == 1_796_292_000 * 10**9
    assert instants.parse("2026-12-03T11:00:00+01:00", "--since") == 1_796_292_000 * 10**9
    stamp = "2026-12-03T10:00:00.123456789Z"
    assert instants.parse(stamp, "--since") == event_journal.parse_time(stamp)
    for bad in ("soon", "10x", "", "2026-13-01"):
        with pytest.raises(errors.InvalidArgumentError, match="invalid --until"):
            instants.parse(bad, "--until")


def test_a_batch_line_names_its_id_once() -> None:
    assert _names("task web not found", "web")
    assert _names("monitor of web is not running", "web")
    assert not _names("task web2 not found", "web")
    assert not _names("cannot start task in running state", "running")
    assert not _names("process already finished", "c")


def test_the_compiled_monitor_names_the_journal_as_the_layout_does() -> None:
    from pytasks.monitor import protocol
    from pytasks.state import layout as layout_mod

    assert protocol.JOURNAL_NAME == layout_mod.JOURNAL_FILE
    assert protocol.JOURNAL_ROTATED_NAME == layout_mod.JOURNAL_FILE + layout_mod.ROTATED_SUFFIX
    assert protocol.TOPIC_EXIT in event_journal.TOPICS
