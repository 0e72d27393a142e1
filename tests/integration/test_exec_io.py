"""Exec, DeleteProcess, CloseIO, kill --pid on real runc with a busybox rootfs
(issue 3). Terminals are in test_tty.py.

Facts come from outside pytasks where they can: /proc for processes and memory, the bytes
that arrive on our own pipes, the files a task wrote.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
from helpers.roots import Roots
from running import TASK, remove

pytestmark = pytest.mark.integration

MIB = 1 << 20


# --- helpers --------------------------------------------------------------------------------

def pytasks_bytes(roots: Roots, *args: object, input: bytes | None = None,
                  timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(roots.argv(*args), env=roots.full_env(), input=input,
                          stdin=None if input is not None else subprocess.DEVNULL,
                          capture_output=True, timeout=timeout)


def task_dir(roots: Roots, task_id: str = TASK) -> Path:
    return Path(roots.layout.task_dir(task_id))


def exec_dir(roots: Roots, task_id: str = TASK) -> Path:
    return task_dir(roots, task_id) / "exec"


def exec_records(roots: Roots, task_id: str = TASK) -> list[str]:
    """<pid>.json and <pid>.exit files (not the monitor's transient .pending-* files)."""
    d = exec_dir(roots, task_id)
    return sorted(p.name for p in d.iterdir() if p.name[:1].isdigit()) if d.is_dir() else []


def exec_pids(roots: Roots, task_id: str = TASK) -> list[int]:
    return [int(n.removesuffix(".json")) for n in exec_records(roots, task_id)
            if n.endswith(".json")]


def monitor_pid(roots: Roots, task_id: str = TASK) -> int:
    record = json.loads((task_dir(roots, task_id) / "task.json").read_text())
    return int(record["monitor"]["pid"])


def alive(pid: int) -> bool:
    """Exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def status(roots: Roots, task_id: str = TASK) -> str:
    got = roots.pytasks("get", "--format", "json", task_id, check=True)
    return json.loads(got.stdout)["task"]["status"]


def wait_until(condition, seconds: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


def parse_time(text: str) -> datetime:
    """RFC 3339 with up to nanoseconds and a Z -> aware datetime (microseconds kept)."""
    head, _, frac = text.rstrip("Z").partition(".")
    micros = (frac + "000000")[:6]
    return datetime.strptime(f"{head}.{micros}", "%Y-%m-%dT%H:%M:%S.%f").replace(
        tzinfo=timezone.utc)


# --- attached exec ----------------------------------------------------------------------------

EXIT_CASES = [
    (["true"], 0, None),
    (["sh", "-c", "exit 7"], 7, None),
    (["/etc"], 126, "permission denied"),
    (["nosuch"], 127, "not found"),
    (["sh", "-c", "kill -9 $$"], 128 + 9, None),
]


@pytest.mark.python_monitor_smoke
def test_attached_exec(roots: Roots, task: str) -> None:
    # The exit status passes through, pytasks' messages only for what could not run.
    for command, expected, message in EXIT_CASES:
        result = roots.pytasks("exec", task, *command)
        assert result.returncode == expected, (command, result.stderr)
        if message is None:
            assert result.stderr == "", (command, result.stderr)
        else:
            assert message in result.stderr and command[0] in result.stderr, result.stderr
        # The attached exec deletes its own process record (DeleteProcess).
        assert exec_records(roots) == [], command
    assert status(roots) == "RUNNING"

    # stdout and stderr arrive on their own streams, byte-exact.
    script = "echo out1; echo err1 >&2; printf 'out2'; printf 'err2\\0' >&2; exit 3"
    result = pytasks_bytes(roots, "exec", task, "sh", "-c", script)
    assert result.returncode == 3, result.stderr
    assert result.stdout == b"out1\nout2"
    assert result.stderr == b"err1\nerr2\0"

    # cwd, env and user of the container's process are overridden.
    result = roots.pytasks("exec", "--cwd", "/tmp", "--env", "GREETING=hi there",
                           "--user", "65534:65534", task,
                           "sh", "-c", 'pwd; echo "$GREETING"; id -u; id -g')
    assert result.returncode == 0, result.stderr
    assert result.stdout == "/tmp\nhi there\n65534\n65534\n"

    # While it runs the process has a record; once it is done, none is left.
    proc = roots.spawn("exec", task, "sh", "-c", "sleep 0.7; exit 7")
    wait_until(lambda: len(exec_pids(roots)) == 1, 5, "the exec's record")
    (pid,) = exec_pids(roots)
    assert alive(pid)
    assert json.loads((exec_dir(roots) / f"{pid}.json").read_text())["args"] == [
        "sh", "-c", "sleep 0.7; exit 7"]
    assert proc.wait(10) == 7
    assert exec_records(roots) == []
    gone = roots.pytasks("delete-process", task, pid)
    assert gone.returncode == 3, gone.stderr
    assert f"process {pid} not found" in gone.stderr


# --- detached exec, Wait --pid, DeleteProcess ---------------------------------------------

@pytest.mark.python_monitor_smoke
def test_detached_exec_status_and_exit_time_via_wait_and_delete_process(
        roots: Roots, task: str) -> None:
    init_pid = json.loads((task_dir(roots) / "task.json").read_text())["pid"]
    before = datetime.now(timezone.utc)
    result = roots.pytasks("exec", "-d", task, "sh", "-c",
                           "echo detached-out; echo detached-err >&2; sleep 1; exit 42",
                           check=True)
    pid = int(result.stdout)  # only the pid
    assert result.stdout == f"{pid}\n"
    assert alive(pid)

    refused = roots.pytasks("delete-process", task, pid)
    assert refused.returncode == 5, refused.stderr
    assert "running" in refused.stderr
    assert alive(pid)

    waited = roots.pytasks("wait", "--pid", pid, task)
    assert (waited.returncode, waited.stdout) == (42, "42\n"), waited.stderr
    assert not alive(pid)
    after = datetime.now(timezone.utc)

    # Detached output goes to the task's log.
    log = (task_dir(roots) / "output.log").read_bytes()
    assert b"detached-out\n" in log and b"detached-err\n" in log

    deleted = roots.pytasks("delete-process", "--format", "json", task, pid, check=True)
    response = json.loads(deleted.stdout)
    assert response["exit_status"] == 42
    exited = parse_time(response["exited_at"])
    assert before.timestamp() + 0.9 < exited.timestamp() <= after.timestamp() + 0.001

    # The record is gone now.
    again = roots.pytasks("delete-process", task, pid)
    assert again.returncode == 3, again.stderr
    waited_again = roots.pytasks("wait", "--pid", pid, task)
    assert waited_again.returncode == 3 and "not found" in waited_again.stderr

    unknown = roots.pytasks("delete-process", task, 999999)
    assert unknown.returncode == 3 and "not found" in unknown.stderr
    init = roots.pytasks("delete-process", task, init_pid)
    assert init.returncode == 5 and "init" in init.stderr
    assert status(roots) == "RUNNING"


# --- stdin ---------------------------------------------------------------------------------

def test_stdin(roots: Roots, task: str) -> None:
    result = pytasks_bytes(roots, "exec", "-i", task, "cat", input=b"a\nb")
    assert (result.returncode, result.stdout, result.stderr) == (0, b"a\nb", b"")

    # Binary-safe: 1 MiB of random bytes round-trip exactly, via stdout and via stderr.
    data = random.Random(3).randbytes(MIB)
    result = pytasks_bytes(roots, "exec", "-i", task, "cat", input=data)
    assert result.returncode == 0, result.stderr
    assert len(result.stdout) == len(data)
    assert result.stdout == data
    result = pytasks_bytes(roots, "exec", "-i", task, "sh", "-c", "cat >&2", input=data)
    assert (result.returncode, result.stdout) == (0, b"")
    assert result.stderr == data

    # Without -i the process's stdin is empty: cat ends at once and sees nothing.
    result = pytasks_bytes(roots, "exec", task, "cat", input=b"not for cat", timeout=10)
    assert (result.returncode, result.stdout) == (0, b"")


# --- volume and back-pressure ----------------------------------------------------------------

def test_200mb_of_stdout_arrive_complete_with_bounded_monitor_memory(
        roots: Roots, task: str) -> None:
    total = 200_000_000
    monitor = monitor_pid(roots)
    baseline = rss_kib(monitor)
    samples: list[int] = []  # the monitor's VmRSS in KiB, every 20 ms
    client: list[int] = []  # the attached pytasks client's
    stop = threading.Event()
    proc = subprocess.Popen(roots.argv("exec", task, "head", "-c", total, "/dev/zero"),
                            env=roots.full_env(), stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def sample() -> None:
        while not stop.is_set():
            for pid, into in ((monitor, samples), (proc.pid, client)):
                try:
                    into.append(rss_kib(pid))
                except (OSError, AssertionError):
                    pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    received = nonzero = 0
    try:
        assert proc.stdout is not None
        while chunk := proc.stdout.read1(1 << 20):
            received += len(chunk)
            nonzero += len(chunk) - chunk.count(0)
        assert proc.wait(60) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        stop.set()
        sampler.join(5)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert received == total
    assert nonzero == 0
    assert len(samples) >= 10, "the transfer was too quick to sample"
    assert max(samples) < 60 * 1024, f"monitor RSS peaked at {max(samples)} KiB"
    assert max(samples) - baseline < 16 * 1024, \
        f"monitor RSS grew from {baseline} to {max(samples)} KiB"
    assert max(client) < 80 * 1024, f"client RSS peaked at {max(client)} KiB"
    assert status(roots) == "RUNNING"


def test_slow_reader_gets_everything_and_never_breaks_the_process(
        roots: Roots, task: str) -> None:
    count = 200_000  # ~1.3 MB: far more than every pipe and queue on the way holds
    expected = b"".join(b"%d\n" % i for i in range(1, count + 1))
    proc = subprocess.Popen(roots.argv("exec", task, "seq", 1, count), env=roots.full_env(),
                            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        got = bytearray(proc.stdout.read1(4096))
        assert got
        time.sleep(1.5)  # nobody reads: the process must block, not fail
        pids = exec_pids(roots)
        assert len(pids) == 1 and alive(pids[0]), "seq did not wait for us"
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:  # a trickle: 16 KiB every 50 ms
            got += proc.stdout.read1(16384)
            time.sleep(0.05)
        assert len(got) < len(expected), "too fast to be a slow reader"
        got += proc.stdout.read()
        assert proc.wait(30) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
    assert len(got) == len(expected)
    assert bytes(got) == expected


# --- exec and the task's state -------------------------------------------------------------

def test_exec_into_a_created_task_works(roots: Roots, busybox_rootfs: Path) -> None:
    roots.pytasks("containers", "create", "--rootfs", busybox_rootfs, "--readonly", TASK,
                  "sleep", "1000", check=True)
    try:
        roots.pytasks("create", TASK, check=True)
        assert status(roots) == "CREATED"
        result = roots.pytasks("exec", TASK, "echo", "in created")
        assert (result.returncode, result.stdout) == (0, "in created\n"), result.stderr
        pid = int(roots.pytasks("exec", "-d", TASK, "sh", "-c", "exit 4", check=True).stdout)
        assert roots.pytasks("wait", "--pid", pid, TASK).returncode == 4
        assert status(roots) == "CREATED"
    finally:
        remove(roots, TASK)


def test_exec_into_a_paused_stopped_or_unknown_task_is_refused(roots: Roots,
                                                               task: str) -> None:
    # Attached verbs report pytasks' own failures as 125 (docs/architecture.md §6) with the same
    # message that the plain verb (-d) reports with the error's own code.
    roots.pytasks("pause", task, check=True)
    try:
        detached = roots.pytasks("exec", "-d", task, "true")
        assert detached.returncode == 5, detached.stderr
        assert "cannot exec task in paused state" in detached.stderr
        attached = roots.pytasks("exec", task, "true")
        assert attached.returncode == 125
        assert "cannot exec task in paused state" in attached.stderr
        assert exec_records(roots) == []
    finally:
        roots.pytasks("resume", task, check=True)

    roots.pytasks("kill", "-s", "KILL", task, check=True)
    wait_until(lambda: status(roots) == "STOPPED", 10, "the task to stop")
    detached = roots.pytasks("exec", "-d", task, "true")
    assert detached.returncode == 5, detached.stderr
    assert "cannot exec task in stopped state" in detached.stderr
    attached = roots.pytasks("exec", task, "true")
    assert attached.returncode == 125
    assert "cannot exec task in stopped state" in attached.stderr

    unknown = roots.pytasks("exec", "-d", "nosuch", "true")
    assert unknown.returncode == 3
    assert "task nosuch not found" in unknown.stderr
    unknown = roots.pytasks("exec", "nosuch", "true")
    assert unknown.returncode == 125
    assert "task nosuch not found" in unknown.stderr


# --- kill --pid ----------------------------------------------------------------------------

def test_kill_pid_signals_only_that_exec(roots: Roots, task: str) -> None:
    init_pid = json.loads((task_dir(roots) / "task.json").read_text())["pid"]
    first = int(roots.pytasks("exec", "-d", task, "sleep", "1000", check=True).stdout)
    second = int(roots.pytasks("exec", "-d", task, "sleep", "1000", check=True).stdout)
    roots.pytasks("kill", "--pid", first, task, check=True)
    waited = roots.pytasks("wait", "--pid", first, task)
    assert (waited.returncode, waited.stdout) == (128 + signal.SIGTERM, "143\n")
    assert not alive(first)
    assert alive(second) and alive(init_pid)

    roots.pytasks("kill", "-s", "KILL", "--pid", second, task, check=True)
    assert roots.pytasks("wait", "--pid", second, task).returncode == 137
    finished = roots.pytasks("kill", "--pid", second, task)
    assert finished.returncode == 3, finished.stderr
    assert status(roots) == "RUNNING" and alive(init_pid)

    # A live host process that is not part of the task is never signalled.
    bystander = subprocess.Popen(["sleep", "30"])
    try:
        refused = roots.pytasks("kill", "-s", "KILL", "--pid", bystander.pid, task)
        assert refused.returncode == 3, refused.stderr
        assert "not found" in refused.stderr
        time.sleep(0.1)
        assert bystander.poll() is None
    finally:
        bystander.kill()
        bystander.wait()


# --- close-io ------------------------------------------------------------------------------

def test_close_io_is_what_ends_stdin(roots: Roots, busybox_rootfs: Path) -> None:
    fifo, out = roots.tmp / "in.fifo", roots.tmp / "out.txt"
    os.mkfifo(fifo)
    roots.pytasks("containers", "create", "--rootfs", busybox_rootfs, "--readonly", TASK,
                  "cat", check=True)
    try:
        pid = int(roots.pytasks("create", "--stdin", fifo, "--stdout", out, TASK,
                                check=True).stdout)
        roots.pytasks("start", TASK, check=True)
        writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.write(writer, b"first line\n")
        os.close(writer)  # our writer is gone: that alone must not end cat's stdin
        wait_until(lambda: out.exists() and out.read_bytes() == b"first line\n", 5,
                   "cat's output")
        time.sleep(0.5)
        assert status(roots) == "RUNNING" and alive(pid)
        # Another client may still write: the FIFO is kept open for it.
        writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.write(writer, b"second line\n")
        os.close(writer)
        wait_until(lambda: out.read_bytes().endswith(b"second line\n"), 5, "the 2nd line")
        assert status(roots) == "RUNNING"

        roots.pytasks("close-io", TASK, pid, check=True)
        waited = roots.pytasks("wait", TASK, timeout=15)
        assert waited.returncode == 0, waited.stderr
        assert status(roots) == "STOPPED"
        assert out.read_bytes() == b"first line\nsecond line\n"
        # CloseIO of an exited process is a no-op.
        assert roots.pytasks("close-io", TASK, pid).returncode == 0
    finally:
        remove(roots, TASK)


# --- init exit ends the execs ----------------------------------------------------------------

def test_execs_are_killed_and_recorded_when_the_init_exits(roots: Roots, task: str) -> None:
    monitor = monitor_pid(roots)
    pids = [int(roots.pytasks("exec", "-d", task, "sleep", "1000", check=True).stdout)
            for _ in range(2)]
    assert all(alive(p) for p in pids)
    roots.pytasks("kill", "-s", "KILL", task, check=True)
    assert roots.pytasks("wait", task).returncode == 137
    records = {p: json.loads((exec_dir(roots) / f"{p}.exit").read_text()) for p in pids}
    assert {p: r["exit_status"] for p, r in records.items()} == {p: 137 for p in pids}
    init_exit = json.loads((task_dir(roots) / "init.exit").read_text())
    # every exec's record is written before the init's
    assert all(r["exited_at_ns"] <= init_exit["exited_at_ns"] for r in records.values())
    for p in pids:
        waited = roots.pytasks("wait", "--pid", p, task)
        assert (waited.returncode, waited.stdout) == (137, "137\n")
    wait_until(lambda: not any(alive(p) for p in [*pids, monitor]), 5,
               "the execs and the monitor to be gone")
    deleted = roots.pytasks("delete", task)
    assert deleted.returncode == 0, deleted.stderr
    assert not task_dir(roots).exists()


# --- the monitor's records and finished execs (the same with either monitor) ----------------

def assert_written_like_write_json(path: Path) -> None:
    """Byte for byte what pytasks.state.atomic.write_json writes for the file's content."""
    text = path.read_bytes()
    assert text == (json.dumps(json.loads(text), indent=2, sort_keys=True) + "\n").encode(), \
        text.decode(errors="replace")


def test_records_are_written_as_write_json_writes_them_numbers_exact(
        roots: Roots, busybox_rootfs: Path, tmp_path: Path) -> None:
    from pytasks.spec import default_spec

    spec = default_spec(["sleep", "1000"])
    spec["root"] = {"path": str(busybox_rootfs), "readonly": True}
    unlimited = 2**64 - 1  # RLIM_INFINITY: more digits than a double keeps
    spec["process"]["rlimits"].append(
        {"type": "RLIMIT_FSIZE", "hard": unlimited, "soft": unlimited})
    bundle = tmp_path / "bundle"
    bundle.mkdir()
    (bundle / "config.json").write_text(json.dumps(spec))
    roots.pytasks("run", "-d", "--bundle", bundle, TASK, check=True)
    try:
        # The exec's spec reaches the runtime with the rlimit intact (not 1.8446744e+19).
        # And the records escape what Python's json.dumps escapes (ensure_ascii).
        args = ["sh", "-c", "ulimit -f; exit 3",
                "h\u00e9llo \u2603 \U0001f600 \"q\" \\ \t \x01 \x7f"]
        pid = int(roots.pytasks("exec", "-d", TASK, *args, check=True).stdout)
        assert roots.pytasks("wait", "--pid", pid, TASK).returncode == 3
        record = exec_dir(roots) / f"{pid}.json"
        assert json.loads(record.read_text())["args"] == args
        assert_written_like_write_json(record)
        assert_written_like_write_json(exec_dir(roots) / f"{pid}.exit")
        assert "unlimited\n" in (task_dir(roots) / "output.log").read_text()
        roots.pytasks("kill", "-s", "KILL", TASK, check=True)
        assert roots.pytasks("wait", TASK).returncode == 137
        assert_written_like_write_json(task_dir(roots) / "init.exit")
    finally:
        remove(roots, TASK)


def test_finished_execs_are_still_answered_for_by_the_monitor(roots: Roots, task: str) -> None:
    """A client that read no exit record yet asks the monitor: it answers for a finished
    exec as long as its records exist (the compiled monitor keeps 16 bytes of it)."""
    from pytasks import errors
    from pytasks.monitor import client

    pids = [int(roots.pytasks("exec", "-d", task, "sh", "-c", f"exit {n}", check=True).stdout)
            for n in range(20)]  # more than the first 16 the compiled monitor makes room for
    for n, pid in enumerate(pids):
        assert roots.pytasks("wait", "--pid", pid, task).returncode == n
    for pid in pids[:8]:  # DeleteProcess removes the records: later nobody asks for these
        roots.pytasks("delete-process", task, pid, check=True)
    late = int(roots.pytasks("exec", "-d", task, "sh", "-c", "exit 42", check=True).stdout)
    assert roots.pytasks("wait", "--pid", late, task).returncode == 42
    for n, pid in [*enumerate(pids), (42, late)]:
        if pid in pids[:8]:
            continue
        reply = client.request(task_dir(roots), {"op": "wait", "pid": pid})
        exit_record = json.loads((exec_dir(roots) / f"{pid}.exit").read_text())
        assert reply == {"ok": True, **exit_record}, pid
        assert exit_record["exit_status"] == n
        with pytest.raises(errors.NotFoundError, match=r"^process already finished$"):
            client.request(task_dir(roots), {"op": "kill", "pid": pid, "signal": 9})
        with pytest.raises(errors.NotFoundError, match=r"^process already finished$"):
            client.attach(task_dir(roots), pid, stdin=False)
        assert client.request(task_dir(roots), {"op": "close-stdin", "pid": pid}) == {"ok": True}
    state = client.request(task_dir(roots), {"op": "state"})
    assert {int(p): s for p, s in state["execs"].items() if int(p) not in pids[:8]} == {
        **{pid: n for n, pid in enumerate(pids) if pid not in pids[:8]}, late: 42}
    assert status(roots) == "RUNNING"
