"""The content store (pytasks/state/content.py, docs/architecture.md §9): streaming writes
verified and committed by rename, corruption as DataLoss, concurrent writers of one blob,
ingest files of dead writers cleaned up, references that block removal."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from pytasks import errors
from pytasks.state.content import ContentStore, parse_digest
from pytasks.state.layout import Layout


@pytest.fixture
def store(tmp_path: Path) -> ContentStore:
    return ContentStore(Layout.of(tmp_path / "root", tmp_path / "state", "default"))


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def test_streamed_once_hashed_and_committed(store: ContentStore) -> None:
    chunks = [os.urandom(1 << 16) for _ in range(40)]
    data = b"".join(chunks)
    consumed = []

    def once() -> Iterator[bytes]:  # a one-shot stream: a second pass would find it empty
        for chunk in chunks:
            consumed.append(len(chunk))
            yield chunk

    blob = store.write(once(), expected_digest=digest_of(data), expected_size=len(data),
                       media_type="application/octet-stream", labels={"k": "v"})
    assert sum(consumed) == len(data)
    assert blob.digest == digest_of(data) and blob.size == len(data)
    path = Path(store.layout.blob_file(parse_digest(blob.digest)))
    assert path == Path(store.layout.content_dir) / "blobs" / "sha256" / path.name
    assert path.read_bytes() == data
    assert os.stat(path).st_mode & 0o777 == 0o400
    assert os.listdir(store.layout.ingest_dir) == []
    info = store.info(blob.digest)
    assert (info.media_type, info.labels, info.used_by) == ("application/octet-stream",
                                                            {"k": "v"}, [])
    assert b"".join(store.read(blob.digest[:14])) == data


@pytest.mark.parametrize("kwargs", [{"expected_size": 4}, {"expected_size": 99},
                                    {"expected_digest": digest_of(b"other")}])
def test_mismatch_stores_nothing(store: ContentStore, kwargs: dict[str, object]) -> None:
    with pytest.raises(errors.DataLossError, match="nothing was stored"):
        store.write([b"hello", b" world"], **kwargs)  # type: ignore[arg-type]
    assert store.blobs() == []
    assert os.listdir(store.layout.ingest_dir) == []


def test_corrupt_blob_is_data_loss_naming_the_file(store: ContentStore) -> None:
    blob = store.write([b"checkpoint image"])
    path = store.layout.blob_file(parse_digest(blob.digest))
    os.chmod(path, 0o600)
    with open(path, "r+b") as fh:
        fh.write(b"C")
    with pytest.raises(errors.DataLossError) as caught:
        store.info(blob.digest)
    assert path in caught.value.message and "no longer match" in caught.value.message
    assert caught.value.exit_code == errors.ExitCode.FAILURE
    reader = store.read(blob.digest)
    with pytest.raises(errors.DataLossError, match=re.escape(path)):
        for _ in reader:
            pass
    # Writing the right bytes again repairs it.
    store.write([b"checkpoint image"])
    assert store.info(blob.digest).size == len(b"checkpoint image")


def test_concurrent_writers_threads(store: ContentStore) -> None:
    data = os.urandom(3 << 20)
    chunks = [data[i:i + 4096] for i in range(0, len(data), 4096)]
    results: list[str] = []
    failures: list[BaseException] = []
    start = threading.Barrier(8)

    def writer(n: int) -> None:
        try:
            start.wait()
            results.append(store.write(iter(chunks), expected_digest=digest_of(data),
                                       labels={f"w{n}": "1"}).digest)
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert results == [digest_of(data)] * 8
    assert [b.digest for b in store.blobs()] == [digest_of(data)]
    assert b"".join(store.read(digest_of(data))) == data
    assert os.listdir(store.layout.ingest_dir) == []


def _write_in_child(root: str, data: bytes, queue: multiprocessing.Queue[str]) -> None:
    store = ContentStore(Layout.of(root, root + "-state", "default"))
    queue.put(store.write([data[i:i + 8192] for i in range(0, len(data), 8192)]).digest)


def test_concurrent_writers_processes(store: ContentStore) -> None:
    data = os.urandom(2 << 20)
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[str] = context.Queue()
    children = [context.Process(target=_write_in_child, args=(store.layout.root, data, queue))
                for _ in range(4)]
    for child in children:
        child.start()
    for child in children:
        child.join(60)
        assert child.exitcode == 0
    assert sorted(queue.get(timeout=5) for _ in children) == [digest_of(data)] * 4
    assert b"".join(store.read(digest_of(data))) == data
    assert os.listdir(store.layout.ingest_dir) == []


HALF_WRITER = """
import sys
from pytasks.state.content import ContentStore
from pytasks.state.layout import Layout

def chunks():
    yield b"x" * 65536
    sys.stdout.write("half\\n"); sys.stdout.flush()
    sys.stdin.read()  # blocks until killed
    yield b"never"

ContentStore(Layout.of(sys.argv[1], sys.argv[1] + "-state", "default")).write(chunks())
"""


def test_interrupted_ingest_is_cleaned_up(store: ContentStore) -> None:
    child = subprocess.Popen([sys.executable, "-c", HALF_WRITER, store.layout.root],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "half\n"
        ingests = os.listdir(store.layout.ingest_dir)
        assert len(ingests) == 1
        # A live writer's ingest file is left alone.
        assert store.clean_ingests() == []
        assert os.listdir(store.layout.ingest_dir) == ingests
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    assert os.listdir(store.layout.ingest_dir) == ingests  # kill -9: only the ingest file
    assert store.blobs() == []
    # The next write cleans it up.
    store.write([b"next"])
    assert os.listdir(store.layout.ingest_dir) == []


def test_refs_block_removal_unless_forced(store: ContentStore) -> None:
    blob = store.write([b"criu image"])
    store.add_ref(blob.digest, "checkpoint.web-1")
    assert store.info(blob.digest).used_by == ["checkpoint.web-1"]
    with pytest.raises(errors.FailedPreconditionError, match=re.escape("used by checkpoint.web-1")):
        store.remove(blob.digest)
    assert store.info(blob.digest).size == len(b"criu image")
    store.remove_ref(blob.digest, "checkpoint.web-1")
    store.add_ref(blob.digest, "checkpoint.web-2")
    assert store.remove(blob.digest, force=True) == blob.digest
    assert store.blobs() == []
    assert not os.path.exists(store.layout.blob_refs_dir(parse_digest(blob.digest)))
    with pytest.raises(errors.NotFoundError):
        store.info(blob.digest)
    with pytest.raises(errors.InvalidArgumentError):
        store.add_ref(blob.digest, "../escape")


def test_digest_references(store: ContentStore) -> None:
    a = store.write([b"a"])
    with pytest.raises(errors.InvalidArgumentError):
        parse_digest("md5:" + "0" * 64)
    with pytest.raises(errors.InvalidArgumentError):
        store.resolve("ab")  # too short to be a prefix
    assert store.resolve(a.digest[7:13]) == a.digest[7:]
    absent = "sha256:" + ("0" if a.digest[7] != "0" else "1") * 64
    with pytest.raises(errors.NotFoundError):
        store.resolve(absent)
    # Two names sharing a prefix: the prefix is ambiguous, each full name is not.
    for name in ("abcd" + "0" * 60, "abcd" + "1" * 60):
        Path(store.layout.blob_file(name)).write_bytes(b"")
    with pytest.raises(errors.InvalidArgumentError, match="matches 2 blobs"):
        store.resolve("abcd")
    assert store.resolve("sha256:abcd" + "1" * 60) == "abcd" + "1" * 60


def test_a_writer_s_ref_is_registered_with_the_blob_and_dropped_with_a_failure(
        store: ContentStore) -> None:
    blob = store.write([b"layer"], ref="import.1-ab")
    assert blob.used_by == ["import.1-ab"]
    with pytest.raises(errors.FailedPreconditionError):
        store.remove(blob.digest)  # a remover that finds the writer's ref leaves the blob
    with pytest.raises(errors.DataLossError):
        store.write([b"other"], expected_digest=digest_of(b"not it"), ref="import.2-cd")
    assert not os.path.exists(store.layout.blob_refs_dir(parse_digest(digest_of(b"other"))))
    with pytest.raises(errors.InvalidArgumentError):
        store.write([b"x"], ref="../escape")
    assert [b.digest for b in store.blobs()] == [blob.digest]
