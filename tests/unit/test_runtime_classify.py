"""pytasks.runtime: the one table classifying the OCI runtime's error messages, and reading
the last error from the runtime's JSON log. Messages are runc 1.1.5's (and crun's) own."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from pytasks import errors, runtime

CREATE = "runc create failed: unable to start container process: "

# (message, class, message after classification or None = the runtime's message kept)
CASES = [
    # the process's executable is missing / not runnable (docker's 127 / 126)
    (CREATE + 'exec: "nosuchcmd": executable file not found in $PATH',
     errors.CommandNotFoundError, None),
    (CREATE + 'exec: "/nonexistent": stat /nonexistent: no such file or directory',
     errors.CommandNotFoundError, None),
    ("executable file `nosuchcmd` not found in $PATH: No such file or directory",  # crun
     errors.CommandNotFoundError, None),
    (CREATE + 'exec: "/etc/passwd": permission denied', errors.CommandNotExecutableError, None),
    # kill / signal of a finished process
    ("container not running", errors.NotFoundError, "process already finished"),
    ("cannot kill a stopped container", errors.NotFoundError, "process already finished"),
    # unknown container
    ("container does not exist", errors.NotFoundError, None),
    ("container `x` does not exist", errors.NotFoundError, None),  # crun
    # duplicate
    ("runc create failed: container with given ID already exists", errors.AlreadyExistsError,
     None),
    # wrong state
    ("cannot start a container that has stopped", errors.FailedPreconditionError, None),
    ("exec failed: cannot exec in a stopped container", errors.FailedPreconditionError, None),
    ("cannot start an already running container", errors.FailedPreconditionError, None),
    ("container not paused", errors.FailedPreconditionError, None),
    # privilege
    (CREATE + 'error during container init: error mounting "proc" to rootfs at "/proc": '
     "mount proc:/proc (via /proc/self/fd/7), flags: 0xe: operation not permitted",
     errors.PermissionDeniedError, None),
    # anything else: a runtime failure with the runtime's words
    ("container still running", errors.RuntimeFailedError, None),
    ("something nobody has seen before", errors.RuntimeFailedError, None),
]


@pytest.mark.parametrize(("message", "cls", "text"), CASES, ids=[c[0][-40:] for c in CASES])
def test_classify(message: str, cls: type[errors.PytasksError], text: str | None) -> None:
    err = runtime.classify(message)
    assert type(err) is cls
    assert str(err) == (text or message)


def test_missing_criu_is_unimplemented() -> None:
    # runc 1.1.5 `checkpoint` with no criu in PATH, verbatim:
    err = runtime.classify(
        'CRIU version check failed: exec: "criu": executable file not found in $PATH')
    assert type(err) is errors.UnimplementedError


def test_every_row_is_covered() -> None:
    covered = set()
    for message, _, _ in CASES:
        for index, (pattern, _, _) in enumerate(runtime._CLASSIFY):
            if re.search(pattern, message):
                covered.add(index)
                break
    missing_criu = 'CRIU version check failed: exec: "criu": executable file not found'
    covered.add(next(i for i, (pattern, _, _) in enumerate(runtime._CLASSIFY)
                     if re.search(pattern, missing_criu)))
    uncovered = [runtime._CLASSIFY[i][0] for i in range(len(runtime._CLASSIFY))
                 if i not in covered]
    assert uncovered == []


def _runtime(tmp_path: Path) -> runtime.Runtime:
    return runtime.Runtime("/usr/sbin/runc", tmp_path / "root", tmp_path / "runtime.log")


def test_last_error_reads_the_last_error_line_after_offset(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    old = json.dumps({"level": "error", "msg": "old error", "time": "t"}) + "\n"
    rt.log.write_text(old)  # type: ignore[union-attr]
    offset = rt.log_offset()
    assert offset == len(old)
    with rt.log.open("a") as fh:  # type: ignore[union-attr]
        fh.write(json.dumps({"level": "warning", "msg": "just a warning"}) + "\n")
        fh.write("not json at all\n")
        fh.write(json.dumps({"level": "error", "msg": "first"}) + "\n")
        fh.write(json.dumps({"level": "error", "msg": "container does not exist"}) + "\n")
        fh.write(json.dumps({"level": "info", "msg": "later info"}) + "\n")
    assert rt.last_error(offset) == "container does not exist"
    assert rt.last_error(0) == "container does not exist"


def test_last_error_falls_back_to_runc_text_output(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    stderr = (b'time="2026-11-28T17:57:28Z" level=error msg="runc create failed: exec: '
              b'\\"nosuchcmd\\": executable file not found in $PATH"\n')
    assert rt.last_error(0, stderr) == ('runc create failed: exec: "nosuchcmd": executable '
                                        "file not found in $PATH")
    assert rt.last_error(0, b"plain\nlast line\n") == "last line"
    assert rt.last_error(0, b"") == "OCI runtime failed without a message"


def test_argv_always_has_root_and_json_log(tmp_path: Path) -> None:
    rt = _runtime(tmp_path)
    assert rt.kill_argv("t1", 9, all_processes=True) == [
        "/usr/sbin/runc", "--root", str(tmp_path / "root"), "--log",
        str(tmp_path / "runtime.log"), "--log-format", "json", "kill", "--all", "t1", "9"]
    assert rt.delete_argv("t1", force=True)[-3:] == ["delete", "--force", "t1"]
    assert rt.create_argv("t1", tmp_path, tmp_path / "pid")[-6:] == [
        "create", "--bundle", str(tmp_path), "--pid-file", str(tmp_path / "pid"), "t1"]
    assert rt.create_argv("t1", tmp_path, tmp_path / "pid", start=True)[-7:] == [
        "run", "--detach", "--bundle", str(tmp_path), "--pid-file", str(tmp_path / "pid"),
        "t1"]


def test_resolve_binary(tmp_path: Path) -> None:
    assert runtime.resolve_binary("sh").startswith("/")
    with pytest.raises(errors.InvalidArgumentError, match="not found"):
        runtime.resolve_binary("no-such-runtime-xyz")
    with pytest.raises(errors.InvalidArgumentError):
        runtime.resolve_binary(str(tmp_path / "missing"))
