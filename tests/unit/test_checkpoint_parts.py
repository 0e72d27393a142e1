"""checkpoint.py: options, CRIU's log and statistics, and the image tar (no CRIU needed)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from pytasks import checkpoint, errors


def test_options_map_to_runtime_flags_and_unknown_keys_are_refused() -> None:
    opts = checkpoint.parse_options({"exit": "true", "tcp-established": "true",
                                     "file-locks": "false", "manage-cgroups-mode": "full"})
    assert opts.exit is True
    assert opts.flags == ("--manage-cgroups-mode", "full", "--tcp-established")
    assert checkpoint.restore_flags(opts.given) == ["--manage-cgroups-mode", "full",
                                                    "--tcp-established"]
    with pytest.raises(errors.InvalidArgumentError, match="unknown checkpoint option 'x'"):
        checkpoint.parse_options({"x": "1"})
    with pytest.raises(errors.InvalidArgumentError, match="want true or false"):
        checkpoint.parse_options({"shell-job": "maybe"})
    with pytest.raises(errors.InvalidArgumentError, match="want one of soft, full, strict"):
        checkpoint.parse_options({"manage-cgroups-mode": "ignore"})


def test_names_follow_the_id_rule() -> None:
    assert checkpoint.check_name("web-20261203T100000Z") == "web-20261203T100000Z"
    for bad in ("", ".hidden", "a/b", "x" * 129):
        with pytest.raises(errors.InvalidArgumentError):
            checkpoint.check_name(bad)


def test_first_error_skips_the_noise_and_the_prefixes(tmp_path: Path) -> None:
    log = tmp_path / "restore.log"
    log.write_text("(00.01) Error (criu/util.c:1534): rlimit: Can't setup RLIMIT_NOFILE for "
                   "self: Operation not permitted\n(00.02) fine\n"
                   "(00.08)      1: Error (criu/files-reg.c:2175): File bin/busybox has bad "
                   "size 3 (expect 2)\n(00.09) Error (criu/cr-restore.c:2331): Restoring "
                   "FAILED.\n")
    assert checkpoint.first_error(str(log)) == (
        "Error (criu/files-reg.c:2175): File bin/busybox has bad size 3 (expect 2)")
    assert checkpoint.first_error(str(tmp_path / "missing")) == ""


def test_dump_stats_reads_criu_stats_file(tmp_path: Path) -> None:
    def varint(n: int) -> bytes:
        out = b""
        while True:
            byte, n = n & 0x7F, n >> 7
            out += bytes([byte | (0x80 if n else 0)])
            if not n:
                return out
    dump = b"".join(varint(field << 3) + varint(value)
                    for field, value in ((1, 100911), (2, 113868), (7, 34)))
    entry = varint(1 << 3 | 2) + varint(len(dump)) + dump
    path = tmp_path / "stats-dump"
    path.write_bytes(struct.pack("<III", 0x55105940, 0x57093306, len(entry)) + entry)
    assert checkpoint.dump_stats(str(path)) == {"freezing_time": 100911,
                                               "frozen_time": 113868, "pages_written": 34}
    assert checkpoint.dump_stats(str(tmp_path / "none")) == {}


def test_image_tar_round_trips_and_refuses_paths(tmp_path: Path) -> None:
    image = tmp_path / "image"
    image.mkdir()
    (image / "pages-1.img").write_bytes(os.urandom(3 * 1024 * 1024 + 7))
    (image / "inventory.img").write_bytes(b"x")
    data = b"".join(checkpoint.image_tar(str(image)))
    checkpoint.extract_image([data[i:i + 4096] for i in range(0, len(data), 4096)],
                             str(tmp_path / "out"))
    for name in ("pages-1.img", "inventory.img"):
        assert (tmp_path / "out" / name).read_bytes() == (image / name).read_bytes()

    import io
    import tarfile

    hostile = io.BytesIO()
    with tarfile.open(fileobj=hostile, mode="w") as tar:
        info = tarfile.TarInfo("../escape")
        tar.addfile(info, io.BytesIO(b""))
    with pytest.raises(errors.DataLossError, match="not a plain file"):
        checkpoint.extract_image([hostile.getvalue()], str(tmp_path / "hostile"))
    assert not (tmp_path / "escape").exists()


def test_extraction_reads_to_the_end_so_the_digest_check_runs(tmp_path: Path) -> None:
    image = tmp_path / "image"
    image.mkdir()
    (image / "a.img").write_bytes(b"a")

    def chunks():
        yield from checkpoint.image_tar(str(image))
        yield b"\0" * 512
        raise errors.DataLossError("bytes no longer match")

    with pytest.raises(errors.DataLossError, match="no longer match"):
        checkpoint.extract_image(chunks(), str(tmp_path / "out"))


@pytest.mark.parametrize(("name", "size", "mode", "mtime"), [
    ("pages-1.img", 123456, 0o600, 1796352199), ("a", 0, 0o644, 0),
    ("x" * 99, 8 ** 11 - 1, 0o777, 2 ** 33 - 1),
    ("x" * 100, 5, 0o644, 0), ("\u00e9", 1, 0o600, 1), ("big", 8 ** 11, 0o600, 5)])
def test_tar_headers_are_tarfile_s_own(name: str, size: int, mode: int, mtime: int) -> None:
    import tarfile

    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, mode, mtime
    assert checkpoint.tar_header(name, size, mode, mtime) == info.tobuf(format=tarfile.PAX_FORMAT)


def test_logged_version_is_the_criu_that_ran(tmp_path: Path) -> None:
    log = tmp_path / "dump.log"
    log.write_text("(00.000000) CRIU run id = 1\n(00.000108) Version: 4.2.1 (gitid 0)\n")
    assert checkpoint.logged_version(str(log)) == "4.2.1"
    assert checkpoint.logged_version(str(tmp_path / "none.log")) == ""


def test_a_restored_task_with_its_own_network_namespace_gets_the_loopback_hook() -> None:
    spec: dict = {"linux": {"namespaces": [{"type": "pid"}, {"type": "network"}]}}
    checkpoint.with_loopback_hook(spec)
    checkpoint.with_loopback_hook(spec)  # a restored task checkpointed again: still one
    hooks = spec["hooks"]["createRuntime"]
    assert len(hooks) == 1 and hooks[0]["path"] == "/bin/sh"
    script = hooks[0]["args"][2]
    assert "nsenter -t \"$pid\" -n" in script and script.endswith(" link set lo up")
    # The host's network namespace (or one joined by path) is left alone.
    for namespaces in ([{"type": "pid"}], [{"type": "network", "path": "/proc/1/ns/net"}]):
        other: dict = {"linux": {"namespaces": namespaces}}
        checkpoint.with_loopback_hook(other)
        assert "hooks" not in other


def test_the_loopback_hook_reads_the_pid_from_the_state_on_stdin(tmp_path: Path) -> None:
    import subprocess

    hook = checkpoint.loopback_hook()
    # The same script with an echo in place of nsenter and ip: what it would run.
    script = str(hook["args"][2]).replace("exec ", "echo ")  # type: ignore[index]
    state = '{"ociVersion":"1.0.2","id":"t","status":"creating","pid":4242,"bundle":"/b"}'
    done = subprocess.run(["/bin/sh", "-c", script], input=state, capture_output=True,
                          text=True, check=True)
    assert done.stdout.split()[1:4] == ["-t", "4242", "-n"]
