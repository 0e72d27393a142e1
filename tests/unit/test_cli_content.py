"""`pytasks content ls|info|get|ingest|rm` (ctr content) as real processes: exit codes,
messages, DataLoss for a corrupt blob, and the ingest file of a killed CLI cleaned up."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from pytasks.state.content import ContentStore
from pytasks.state.layout import Layout

Run = Callable[..., subprocess.CompletedProcess[bytes]]


@pytest.fixture
def roots(tmp_path: Path) -> list[str]:
    return ["--root", str(tmp_path / "root"), "--state", str(tmp_path / "state")]


@pytest.fixture
def pt(roots: list[str]) -> Run:
    def call(*args: str, stdin: bytes = b"") -> subprocess.CompletedProcess[bytes]:
        return subprocess.run([sys.executable, "-m", "pytasks", *roots, "content", *args],
                              input=stdin, capture_output=True, timeout=60, check=False)
    return call


def test_ingest_ls_info_get_rm(pt: Run, tmp_path: Path) -> None:
    data = b"criu image bytes\n" * 1000
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    done = pt("ingest", "--media-type", "application/x-test", "--label", "origin=test",
              "--expected-digest", digest, "--expected-size", str(len(data)), stdin=data)
    assert (done.returncode, done.stdout.decode()) == (0, f"{digest}\n"), done.stderr
    listing = pt("ls")
    assert listing.returncode == 0
    header, row = listing.stdout.decode().splitlines()
    assert header.split() == ["DIGEST", "SIZE", "MEDIA", "TYPE", "USED", "BY"]
    assert row.split() == [digest, "16.6", "KiB", "application/x-test", "-"]
    assert pt("ls", "-q").stdout.decode() == f"{digest}\n"
    [entry] = json.loads(pt("ls", "--format", "json").stdout)
    assert (entry["digest"], entry["size"], entry["labels"]) == (digest, len(data),
                                                                 {"origin": "test"})
    info = json.loads(pt("info", digest[7:19]).stdout)
    assert info["media_type"] == "application/x-test" and info["used_by"] == []
    assert pt("get", digest).stdout == data
    # A checkpoint's reference blocks rm; --force overrides.
    ContentStore(Layout.of(tmp_path / "root", tmp_path / "state", "default")).add_ref(
        digest, "checkpoint.web")
    assert "checkpoint.web" in pt("ls").stdout.decode()
    refused = pt("rm", digest)
    assert refused.returncode == 5
    assert b"is used by checkpoint.web" in refused.stderr
    removed = pt("rm", "--force", digest)
    assert (removed.returncode, removed.stdout.decode()) == (0, f"{digest}\n")
    assert pt("ls", "-q").stdout == b""
    missing = pt("info", digest)
    assert missing.returncode == 3 and b"not found" in missing.stderr
    assert pt("info", "nothex").returncode == 2


def test_wrong_bytes_and_corruption(pt: Run, tmp_path: Path) -> None:
    wrong = pt("ingest", "--expected-size", "3", stdin=b"four")
    assert wrong.returncode == 1 and b"nothing was stored" in wrong.stderr
    digest = pt("ingest", stdin=b"good").stdout.decode().strip()
    path = tmp_path / "root" / "content" / "blobs" / "sha256" / digest[7:]
    path.chmod(0o600)
    path.write_bytes(b"evil")
    for verb in ("info", "get"):
        done = pt(verb, digest)
        assert done.returncode == 1, verb
        assert f"pytasks: content {path}: its bytes no longer match".encode() in done.stderr
    assert pt("rm", digest).returncode == 0


def test_killed_ingest_leaves_only_an_ingest_file(roots: list[str], pt: Run,
                                                  tmp_path: Path) -> None:
    ingest_dir = tmp_path / "root" / "content" / "ingest"
    child = subprocess.Popen([sys.executable, "-m", "pytasks", *roots, "content", "ingest"],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE)
    try:
        assert child.stdin is not None
        child.stdin.write(b"y" * (1 << 20))
        child.stdin.flush()
        deadline = time.monotonic() + 30
        while not (ingest_dir.is_dir() and any(p.stat().st_size for p in ingest_dir.iterdir())):
            assert time.monotonic() < deadline, "the ingest never started"
            time.sleep(0.01)
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
    [leftover] = list(ingest_dir.iterdir())
    assert not (tmp_path / "root" / "content" / "blobs" / "sha256").exists() or \
        not list((tmp_path / "root" / "content" / "blobs" / "sha256").iterdir())
    listing = pt("ls", "-q")
    assert listing.returncode == 0 and listing.stdout == b""
    assert f"removed {leftover}, the ingest file of a dead writer".encode() in listing.stderr
    assert list(ingest_dir.iterdir()) == []
