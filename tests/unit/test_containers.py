"""pytasks.state.container_record.ContainerStore: records on disk, exclusive create;
Engine.delete_container: the guarded delete."""

from __future__ import annotations

import os
import re
import stat
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

import pytasks.task
from pytasks.engine import Engine
from pytasks.errors import (
    AlreadyExistsError,
    DataLossError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
)
from pytasks.lifecycle import Status
from pytasks.state.container_record import ContainerStore, now_rfc3339
from pytasks.state.layout import Layout

STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")
ROOTFS = {"kind": "host-tools", "path": ""}


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout.of(tmp_path / "root", tmp_path / "state", "default")


@pytest.fixture
def store(layout: Layout) -> ContainerStore:
    return ContainerStore(layout)


@pytest.fixture
def engine(layout: Layout) -> Engine:
    return Engine(layout)


@pytest.fixture
def task_status(monkeypatch: pytest.MonkeyPatch) -> Callable[[Status | None], None]:
    """Stand in for pytasks.task.task_status with a fixed answer."""

    def install(status: Status | None) -> None:
        monkeypatch.setattr(pytasks.task, "task_status", lambda layout, container_id: status)

    install(None)
    return install


def _create(store: ContainerStore, container_id: str = "c1") -> dict:
    return store.create(container_id, spec={"ociVersion": "1.0.2-dev"}, rootfs=ROOTFS,
                        runtime="runc", labels={"a": "b"})


def test_now_rfc3339_has_nanoseconds() -> None:
    assert STAMP.fullmatch(now_rfc3339())


def test_create_get_round_trip(store: ContainerStore, layout: Layout) -> None:
    record = _create(store)
    assert record == {
        "id": "c1",
        "labels": {"a": "b"},
        "image": "",
        "runtime": {"name": "runc"},
        "spec": {"ociVersion": "1.0.2-dev"},
        "rootfs": {"kind": "host-tools", "path": ""},
        "created_at": record["created_at"],
        "updated_at": record["created_at"],
    }
    assert STAMP.fullmatch(record["created_at"])
    assert store.get("c1") == record
    path = Path(layout.container_file("c1"))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert os.listdir(path.parent) == ["c1.json"]  # no temp file left behind


def test_create_rejects_invalid_id_before_touching_disk(
        store: ContainerStore, layout: Layout) -> None:
    for bad in ("../x", "a" * 77, "", "-a", "a/b"):
        with pytest.raises(InvalidArgumentError):
            _create(store, bad)
    assert not Path(layout.root).exists()


def test_create_rejects_unknown_rootfs_kind(store: ContainerStore, layout: Layout) -> None:
    with pytest.raises(InvalidArgumentError, match="bad rootfs kind"):
        store.create("c1", spec={}, rootfs={"kind": "vm"}, runtime="runc")
    assert not Path(layout.root).exists()


def test_create_duplicate(store: ContainerStore) -> None:
    first = _create(store)
    with pytest.raises(AlreadyExistsError) as info:
        _create(store)
    assert str(info.value) == "container c1: already exists"
    assert store.get("c1") == first


def test_create_race_loses_at_link(store: ContainerStore, layout: Layout,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """The winner appears between the early check and the link: link(2) still refuses."""
    _create(store)
    winner = store.get("c1")
    monkeypatch.setattr(os.path, "lexists", lambda path: False)
    with pytest.raises(AlreadyExistsError):
        _create(store)
    monkeypatch.undo()
    assert store.get("c1") == winner
    assert os.listdir(layout.containers_dir) == ["c1.json"]


def test_racing_creates_have_one_winner(store: ContainerStore) -> None:
    results: list[str] = []
    barrier = threading.Barrier(8)

    def attempt() -> None:
        barrier.wait()
        try:
            _create(store, "race")
            results.append("won")
        except AlreadyExistsError:
            results.append("lost")

    threads = [threading.Thread(target=attempt) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["lost"] * 7 + ["won"]


def test_get_unknown(store: ContainerStore) -> None:
    with pytest.raises(NotFoundError) as info:
        store.get("nope")
    assert str(info.value) == "container nope not found"
    with pytest.raises(InvalidArgumentError):
        store.get("../etc/passwd")


def test_get_corrupt_record(store: ContainerStore, layout: Layout) -> None:
    Path(layout.containers_dir).mkdir(parents=True)
    Path(layout.container_file("bad")).write_text("{")
    with pytest.raises(DataLossError, match="container bad: unreadable record"):
        store.get("bad")
    Path(layout.container_file("other")).write_text('{"id": "someone-else"}')
    with pytest.raises(DataLossError, match="is corrupt: it has no field 'spec'"):
        store.get("other")


def test_get_does_not_follow_planted_symlink(store: ContainerStore, layout: Layout,
                                             tmp_path: Path) -> None:
    Path(layout.containers_dir).mkdir(parents=True)
    (tmp_path / "target.json").write_text('{"id": "link"}')
    os.symlink(tmp_path / "target.json", layout.container_file("link"))
    with pytest.raises(DataLossError):
        store.get("link")


def test_list_sorted_and_skips_strays(store: ContainerStore, layout: Layout) -> None:
    assert store.list() == ([], [])  # no directory yet
    for cid in ("b", "a", "c.2"):
        _create(store, cid)
    (Path(layout.containers_dir) / ".c.json.new-1-abcd").write_text("{")  # a create in flight
    (Path(layout.containers_dir) / "notes.txt").write_text("x")
    (Path(layout.containers_dir) / "bad..name.json").write_text("{}")
    assert [r["id"] for r in store.list()[0]] == ["a", "b", "c.2"]


def test_delete(store: ContainerStore, engine: Engine, layout: Layout,
                task_status: Callable) -> None:
    _create(store)
    engine.delete_container("c1")
    assert not Path(layout.container_file("c1")).exists()
    with pytest.raises(NotFoundError, match=r"^container c1 not found$"):
        engine.delete_container("c1")


def test_delete_invalid_id(engine: Engine, task_status: Callable) -> None:
    with pytest.raises(InvalidArgumentError):
        engine.delete_container("../x")


@pytest.mark.parametrize("status", [Status.RUNNING, Status.CREATED, Status.PAUSED,
                                    Status.UNKNOWN])
def test_delete_refused_while_task_alive(store: ContainerStore, engine: Engine, layout: Layout,
                                         task_status: Callable, status: Status) -> None:
    _create(store)
    task_status(status)
    with pytest.raises(FailedPreconditionError) as info:
        engine.delete_container("c1")
    assert str(info.value) == f"cannot delete container c1: task is {status.label}"
    assert Path(layout.container_file("c1")).exists()


def test_delete_refused_while_stopped_task_exists(store: ContainerStore, engine: Engine,
                                                  layout: Layout,
                                                  task_status: Callable) -> None:
    _create(store)
    task_status(Status.STOPPED)
    with pytest.raises(FailedPreconditionError) as info:
        engine.delete_container("c1")
    assert str(info.value) == (
        "cannot delete container c1: task exists; delete it first with 'pytasks delete c1'")
    assert Path(layout.container_file("c1")).exists()


def test_remove_is_the_bare_record_removal(store: ContainerStore, layout: Layout) -> None:
    _create(store)
    store.remove("c1")
    assert not Path(layout.container_file("c1")).exists()
    with pytest.raises(NotFoundError, match=r"^container c1 not found$"):
        store.remove("c1")
    with pytest.raises(InvalidArgumentError):
        store.remove("../x")


def test_create_makes_the_record_durable_before_answering(
        store: ContainerStore, layout: Layout, monkeypatch: pytest.MonkeyPatch) -> None:
    """The record's data, then its directory entry, are fsynced (an observer on fsync;
    durability itself needs a power cut to show)."""
    synced: list[str] = []
    real_fsync = os.fsync

    def observe(fd: int) -> None:
        synced.append(os.readlink(f"/proc/self/fd/{fd}"))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", observe)
    _create(store)
    directory = os.path.dirname(layout.container_file("c1"))
    assert len(synced) == 2
    assert os.path.dirname(synced[0]) == directory and ".c1.json.new-" in synced[0]
    assert synced[1] == directory
