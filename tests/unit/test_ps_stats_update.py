"""Units of ps, stats and update: /proc parsing, process listing against recorded cgroup
trees (v1 and v2 paths), stats messages, update arguments, and the CLI's formatting."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import click
import pytest
from google.protobuf import struct_pb2
from helpers.startup import CLICK_PATH, loaded

from pytasks import cgroups, errors, processes, resources
from pytasks.cgroups import CgroupHost, detect
from pytasks.cli.verbs import ps as ps_cli
from pytasks.cli.verbs import stats as stats_cli
from pytasks.cli.verbs.update import parse_size
from pytasks.lifecycle import Status
from pytasks.runtime import Runtime
from pytasks.service import stats_message
from pytasks.task import TaskView

DATA = Path(__file__).parent / "data" / "cgroups"
REC = "/pytasks-test-rec/default/t1"


def host_for(mountinfo: str, root: Path) -> CgroupHost:
    text = (DATA / mountinfo).read_text()
    return detect(text.replace("/sys/fs/cgroup", str(root)))


@pytest.fixture
def v1_tree(tmp_path: Path) -> Path:
    shutil.copytree(DATA / "v1", tmp_path / "v1")
    return tmp_path / "v1"


@pytest.fixture
def v2_tree(tmp_path: Path) -> Path:
    shutil.copytree(DATA / "v2", tmp_path / "v2")
    return tmp_path / "v2"


def view(pid: int, status: Status = Status.RUNNING, exit_status: int | None = None,
         **record: object) -> TaskView:
    rec = {"id": "t1", "container_id": "t1", "pid": pid, "cgroup": REC, "stdin": "",
           "stdout": "/log", "stderr": "/log", **record}
    exit_record = None if exit_status is None else {"exit_status": exit_status,
                                                     "exited_at_ns": 1}
    return TaskView("t1", rec, status, exit_record, exit_record is None)


# --- /proc parsing ----------------------------------------------------------------------------

def test_parse_stat_handles_parentheses_in_comm() -> None:
    data = b"42 (a) b) (c) S 7 42 42 34816 42 4194560 0 0 0 0 3 4 0 0 20 0 1 0 99\n"
    assert processes.parse_stat(data) == ("S", 7, 34816)


def test_parse_status_ids_takes_effective_ids_and_groups() -> None:
    text = ("Name:\tsleep\nUid:\t1000\t65534\t65534\t65534\n"
            "Gid:\t1000\t65533\t65533\t65533\nGroups:\t10 20 \n")
    assert processes.parse_status_ids(text) == (65534, 65533, [10, 20])
    assert processes.parse_status_ids("Uid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nGroups:\t\n") == \
        (0, 0, [])


@pytest.mark.parametrize(("cwd", "root", "expected"), [
    ("/tmp", "/", "/tmp"),                          # pivoted root: already container-relative
    ("/run/b/rootfs/tmp", "/run/b/rootfs", "/tmp"),  # chroot-like: strip the root
    ("/run/b/rootfs", "/run/b/rootfs", "/"),
    ("/run/b/rootfs2/x", "/run/b/rootfs", "/run/b/rootfs2/x"),  # only whole components
    ("/elsewhere", "/run/b/rootfs", "/elsewhere"),
])
def test_container_relative(cwd: str, root: str, expected: str) -> None:
    assert processes.container_relative(cwd, root) == expected


def test_parse_passwd_first_entry_wins_and_skips_junk() -> None:
    text = "root:x:0:0::/root:/bin/sh\nbad line\ntoor:x:0:0::/:/bin/sh\nnobody:x:65534:1::/:\n"
    assert processes.parse_passwd(text) == {0: "root", 65534: "nobody"}


def test_container_users_never_follows_links_out(tmp_path: Path) -> None:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text("app:x:1000:1000::/:/bin/sh\n")
    assert processes.container_users(str(tmp_path)) == {1000: "app"}
    host_file = tmp_path / "host-passwd"
    host_file.write_text("secret:x:0:0::/:/bin/sh\n")
    (tmp_path / "etc" / "passwd").unlink()
    (tmp_path / "etc" / "passwd").symlink_to(host_file)
    assert processes.container_users(str(tmp_path)) == {}
    (tmp_path / "etc" / "passwd").unlink()
    os.mkfifo(tmp_path / "etc" / "passwd")
    assert processes.container_users(str(tmp_path)) == {}  # no hang on a FIFO


def test_read_proc_of_this_process() -> None:
    info = processes.read_proc(os.getpid())
    assert info is not None
    assert info.uid == os.geteuid() and info.cwd == os.getcwd()
    assert info.args and info.state in ("R", "S")
    assert processes.read_proc(2**22 + 1) is None  # beyond pid_max: gone


# --- list_processes against recorded trees ----------------------------------------------------

def write_procs(tree: Path, subdir: str, pids: list[int]) -> None:
    (tree / subdir / REC.lstrip("/") / "cgroup.procs").write_text(
        "".join(f"{p}\n" for p in pids))
    (tree / subdir / REC.lstrip("/") / "exec" / "cgroup.procs").write_text("")


def test_list_processes_v2_init_exec_child_and_exited_exec(v2_tree: Path,
                                                          tmp_path: Path) -> None:
    host = host_for("mountinfo.v2", v2_tree)
    me, parent = os.getpid(), os.getppid()
    write_procs(v2_tree, "", [parent, me])
    task_dir = tmp_path / "task"
    (task_dir / "exec").mkdir(parents=True)
    (task_dir / "exec" / f"{me}.json").write_text(json.dumps(
        {"pid": me, "args": ["x"], "stdout": "/e.out", "terminal": False}))
    (task_dir / "exec" / "77.json").write_text(json.dumps(
        {"pid": 77, "args": ["sh", "-c", "exit 4"], "cwd": "/tmp",
         "user": {"uid": 65534, "gid": 65534, "additionalGids": [5]}}))
    (task_dir / "exec" / "77.exit").write_text(json.dumps({"pid": 77, "exit_status": 4,
                                                           "exited_at_ns": 5}))
    (task_dir / "exec" / "pending.exit").write_text("{}")  # not a pid: ignored
    procs = processes.list_processes(view(parent), task_dir, host)
    assert [(p.pid, p.kind, p.status) for p in procs] == [
        (parent, "init", "RUNNING"), (me, "exec", "RUNNING"), (77, "exec", "STOPPED")]
    assert procs[0].stdout == "/log" and procs[1].stdout == "/e.out"
    assert procs[1].args == processes.read_proc(me).args  # live: from /proc, not the record
    stopped = procs[2]
    assert (stopped.exit_status, list(stopped.args), stopped.cwd) == (4, ["sh", "-c", "exit 4"],
                                                                      "/tmp")
    assert (stopped.uid, stopped.groups) == (65534, [5])

    # frozen (v2: cgroup.freeze 1 and cgroup.events frozen 1): live ones are PAUSED
    d = v2_tree / REC.lstrip("/")
    (d / "cgroup.freeze").write_text("1\n")
    (d / "cgroup.events").write_text("populated 1\nfrozen 1\n")
    procs = processes.list_processes(view(parent, Status.PAUSED), task_dir, host)
    assert [p.status for p in procs] == ["PAUSED", "PAUSED", "STOPPED"]


def test_list_processes_v1_child_and_stopped_init(v1_tree: Path, tmp_path: Path) -> None:
    host = host_for("mountinfo.hybrid", v1_tree)
    me = os.getpid()
    write_procs(v1_tree, "pids", [me])
    task_dir = tmp_path / "task"
    task_dir.mkdir()
    rootfs = tmp_path / "rootfs"
    (rootfs / "etc").mkdir(parents=True)
    (rootfs / "etc" / "passwd").write_text("root:x:0:0::/:/bin/sh\n")
    (task_dir / "config.json").write_text(json.dumps({
        "root": {"path": str(rootfs)},
        "process": {"args": ["sh", "-c", "exit 3"], "cwd": "/", "env": ["A=1"],
                    "user": {"uid": 0, "gid": 0}}}))
    # the init (pid 1, never in our cgroup) exited; `me` is a leftover child
    procs = processes.list_processes(view(1, Status.STOPPED, exit_status=3), task_dir, host)
    assert [(p.pid, p.kind, p.status) for p in procs] == [
        (me, "child", "RUNNING"), (1, "init", "STOPPED")]
    init = procs[1]
    assert (init.exit_status, list(init.args), list(init.env)) == (3, ["sh", "-c", "exit 3"],
                                                                   ["A=1"])
    assert init.user_name == "root"  # from the bundle's rootfs


def test_list_processes_without_cgroup_lists_nothing_live(v1_tree: Path,
                                                          tmp_path: Path) -> None:
    host = host_for("mountinfo.hybrid", v1_tree)
    gone = view(5, cgroup="/pytasks-test-rec/default/missing")
    assert processes.list_processes(gone, tmp_path, host) == []


# --- stats and update (service side) ----------------------------------------------------------

def sample(task_id: str, cgroup_path: str, host: CgroupHost) -> Any:
    """What Engine.stats samples, packed as TasksService.stats packs it."""
    return stats_message(resources.TaskFigures(task_id, time.time_ns(),
                                               resources.figures(cgroup_path, host)))


def test_sample_v2_recorded(v2_tree: Path) -> None:
    msg = sample("t1", REC, host_for("mountinfo.v2", v2_tree))
    assert msg.container_id == "t1" and msg.timestamp.seconds > 0
    assert msg.memory.usage == 39735296 and msg.memory.limit == 268435456
    assert msg.pids.limit == 64 and msg.cpu.limit_cpus == 1.5


def test_sample_of_a_gone_cgroup_is_zeros(v2_tree: Path) -> None:
    msg = sample("t1", "/pytasks-test-rec/default/gone", host_for("mountinfo.v2", v2_tree))
    assert msg.memory.usage == 0 and msg.cpu.usage_ns == 0 and msg.pids.current == 0


def request(**fields: Any) -> resources.Limits:
    return resources.Limits(**fields)


def test_update_arguments_v1_with_and_without_memsw(v1_tree: Path) -> None:
    host = host_for("mountinfo.hybrid", v1_tree)
    assert resources.update_arguments(request(memory_limit=64 << 20), REC, host) == {
        "memory": 64 << 20}
    (v1_tree / "memory" / REC.lstrip("/") / "memory.memsw.limit_in_bytes").write_text("-1\n")
    assert resources.update_arguments(request(memory_limit=64 << 20), REC, host) == {
        "memory": 64 << 20, "memory_swap": 64 << 20}
    assert resources.update_arguments(request(memory_limit=-1), REC, host) == {
        "memory": -1, "memory_swap": -1}


def test_update_arguments_v2_cpus_pids_and_swap(v2_tree: Path) -> None:
    host = host_for("mountinfo.v2", v2_tree)
    assert resources.update_arguments(request(cpus=1.5, pids_limit=0), REC, host) == {
        "cpu_quota": 150000, "cpu_period": 100000, "pids_limit": -1}
    assert resources.update_arguments(request(cpus=0, pids_limit=9), REC, host) == {
        "cpu_quota": -1, "cpu_period": 100000, "pids_limit": 9}
    (v2_tree / REC.lstrip("/") / "memory.swap.max").write_text("max\n")
    assert resources.update_arguments(request(memory_limit=1 << 30), REC, host) == {
        "memory": 1 << 30, "memory_swap": 1 << 30}


@pytest.mark.parametrize("fields", [
    {}, {"memory_limit": 0}, {"memory_limit": 4096}, {"memory_limit": -2}, {"cpus": -1.0},
    {"cpus": 0.001}, {"pids_limit": -5},
])
def test_update_arguments_refuses(fields: dict, v2_tree: Path) -> None:
    with pytest.raises(errors.InvalidArgumentError):
        resources.update_arguments(request(**fields), REC, host_for("mountinfo.v2", v2_tree))


def test_update_argv_passes_only_what_changes() -> None:
    rt = Runtime("/usr/bin/runc", Path("/r"))
    assert rt.update_argv("t1", memory=1024, memory_swap=1024, pids_limit=-1) == [
        "/usr/bin/runc", "--root", "/r", "update", "--memory", "1024", "--memory-swap",
        "1024", "--pids-limit", "-1", "t1"]
    assert rt.update_argv("t1", cpu_quota=50000, cpu_period=100000)[4:] == [
        "--cpu-period", "100000", "--cpu-quota", "50000", "t1"]


# --- CLI formatting ---------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("67108864", 67108864), ("64m", 64 << 20), ("64M", 64 << 20), ("64MiB", 64 << 20),
    ("64mb", 64 << 20), ("1g", 1 << 30), ("1.5g", 3 << 29), ("512k", 512 << 10),
    ("100b", 100), ("-1", -1), ("max", -1),
])
def test_parse_size(text: str, expected: int) -> None:
    assert parse_size(text) == expected


@pytest.mark.parametrize("text", ["", "m", "kb", "12q", "0", "-5m", "abc"])
def test_parse_size_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        parse_size(text)


def stats_msg(usage_ns: int, at_ns: int, **memory: int) -> resources.TaskFigures:
    figures = cgroups.empty_stats()
    figures["cpu"]["usage_ns"] = usage_ns
    figures["cpu"]["throttled_ns"] = 1_250_000_000
    figures["memory"].update(memory)
    figures["pids"]["current"] = 3
    figures["blkio"]["read_bytes"] = 12_300_000
    return resources.TaskFigures("t1", at_ns, figures)


def test_cpu_percent_from_two_samples() -> None:
    a, b = stats_msg(0, 10**9), stats_msg(5 * 10**8, 2 * 10**9)
    assert stats_cli.cpu_percent(b, a) == pytest.approx(50.0)
    assert stats_cli.cpu_percent(b, None) is None
    assert stats_cli.cpu_percent(a, b) is None  # time went backwards


def test_stats_row_with_and_without_limit() -> None:
    a = stats_msg(0, 10**9, usage=1_613_824)
    b = stats_msg(2 * 10**9, 2 * 10**9, usage=1_613_824, limit=64 << 20)
    b.figures["pids"]["limit"] = 20
    assert stats_cli.stats_row(b, a) == ["t1", "200.00%", "1.25s", "1.539MiB / 64MiB",
                                         "2.40%", "3 / 20", "12.3MB / 0B"]
    assert stats_cli.stats_row(a, None, total_memory=1 << 30) == [
        "t1", "--", "1.25s", "1.539MiB / 1GiB", "0.15%", "3", "12.3MB / 0B"]
    assert stats_cli.stats_row(a, None, total_memory=0)[3:5] == ["1.539MiB / --", "--"]


def test_human_sizes() -> None:
    assert stats_cli.human_binary(0) == "0B"
    assert stats_cli.human_binary(1536) == "1.5KiB"
    assert stats_cli.human_decimal(999) == "999B"
    assert stats_cli.human_decimal(1_000_000) == "1MB"


def test_ps_row_and_process_message() -> None:
    entry = processes.ProcessEntry(pid=9, kind="exec", status="STOPPED",
                                   args=["sh", "-c", "echo a b"], env=["K=v w"], uid=65534,
                                   exit_status=4, user_name="nobody")
    assert ps_cli.process_row(entry) == ["9", "exec", "nobody", "STOPPED (4)",
                                          "sh -c 'echo a b'"]
    assert ps_cli.process_row(entry, show_env=True)[-1] == "'K=v w'"
    bare = processes.ProcessEntry(pid=3, kind="", status="RUNNING", args=[], env=[], uid=1000)
    assert ps_cli.process_row(bare) == ["3", "-", "1000", "RUNNING", "-"]
    # The RPC's Process: the seed's fields, plus kind/user_name in runtime_data
    message = processes.process_message(entry)
    info = struct_pb2.Struct()
    assert message.runtime_data.Unpack(info)
    assert dict(info) == {"kind": "exec", "user_name": "nobody"}
    assert (message.pid, message.status, message.exit_status, message.user.uid) == (
        9, int(Status.STOPPED), 4, 65534)


def test_new_verbs_are_registered_and_import_only_click() -> None:
    import subprocess
    import sys

    from pytasks.cli.verbs import COMMANDS

    for verb in ("pause", "resume", "ps", "stats", "update"):
        assert verb in COMMANDS
    code = ("import sys; import pytasks.cli.verbs.pause, pytasks.cli.verbs.resume, "
            "pytasks.cli.verbs.ps, pytasks.cli.verbs.stats, pytasks.cli.verbs.update; "
            "import json; print(json.dumps(sorted(sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert loaded(json.loads(out), CLICK_PATH) == []
    assert isinstance(stats_cli.command(), click.Command)
