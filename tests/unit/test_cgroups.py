"""pytasks.cgroups against recorded cgroup files (v1 from this host, v2 in the kernel's
documented formats) and against the live v1 hierarchies of this host."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pytasks import cgroups
from pytasks.cgroups import (
    FREEZING,
    FROZEN,
    MODE_HYBRID,
    MODE_V1,
    MODE_V2,
    THAWED,
    Cgroup,
    CgroupHost,
    detect,
    parse_blkio_v1,
    parse_flat_keyed,
    parse_int,
    parse_mountinfo,
    parse_nested_keyed,
)
from pytasks.errors import InvalidArgumentError, NotFoundError, UnimplementedError
from pytasks.state.layout import Layout

DATA = Path(__file__).parent / "data" / "cgroups"
REC = "/pytasks-test-rec/default/t1"  # the cgroupsPath the fixtures were recorded under
TICK_NS = 1_000_000_000 // os.sysconf("SC_CLK_TCK")


def host_for(mountinfo: str, root: Path) -> CgroupHost:
    """detect() on a recorded mountinfo whose /sys/fs/cgroup is moved to `root`."""
    text = (DATA / mountinfo).read_text()
    # mountinfo escapes spaces in paths; do the same so odd tmp paths still parse.
    moved = str(root).replace("\\", "\\134").replace(" ", "\\040")
    return detect(text.replace("/sys/fs/cgroup", moved))


@pytest.fixture
def v1_tree(tmp_path: Path) -> Path:
    """A writable copy of the recorded v1 tree (tests that change a file use it)."""
    dst = tmp_path / "v1"
    shutil.copytree(DATA / "v1", dst)
    return dst


@pytest.fixture
def v2_tree(tmp_path: Path) -> Path:
    dst = tmp_path / "v2"
    shutil.copytree(DATA / "v2", dst)
    return dst


# --- parsers --------------------------------------------------------------------------------

def test_parse_flat_keyed() -> None:
    text = "nr_periods 9\nnr_throttled 7\n\nbogus\nname value\nthrottled_time 12\n"
    assert parse_flat_keyed(text) == {"nr_periods": 9, "nr_throttled": 7, "throttled_time": 12}
    assert parse_flat_keyed("") == {}
    assert parse_flat_keyed(None) == {}


def test_parse_nested_keyed() -> None:
    text = ("254:0 rbytes=10 wbytes=20 rios=1 wios=2 dbytes=0 dios=0\n"
            "8:0 rbps=max wbps=1048576 junk riops=x\n")
    assert parse_nested_keyed(text) == {
        "254:0": {"rbytes": 10, "wbytes": 20, "rios": 1, "wios": 2, "dbytes": 0, "dios": 0},
        "8:0": {"rbps": None, "wbps": 1048576},
    }
    assert parse_nested_keyed(None) == {}


def test_parse_blkio_v1_sums_devices_and_ignores_total_line() -> None:
    text = ("8:0 Read 100\n8:0 Write 10\n8:0 Total 110\n"
            "254:0 Read 1\n254:0 Write 2\n254:0 Total 3\nTotal 113\n")
    assert parse_blkio_v1(text) == {"read": 101, "write": 12, "total": 113}
    assert parse_blkio_v1("Total 0\n") == {}  # what an idle cgroup reports
    recorded = (DATA / "v1/blkio" / REC.lstrip("/") /
                "blkio.throttle.io_service_bytes_recursive").read_text()
    assert parse_blkio_v1(recorded)["read"] == 8392704


def test_parse_int() -> None:
    assert parse_int("42\n") == 42
    assert parse_int("max\n") is None
    assert parse_int(None) is None


def test_parse_mountinfo_unescapes_paths() -> None:
    line = "41 31 0:38 / /sys/fs/my\\040cgroup rw,relatime - cgroup2 cgroup2 rw\n"
    assert parse_mountinfo(line) == [("/", "/sys/fs/my cgroup", "cgroup2", ["rw"])]


# --- detect ---------------------------------------------------------------------------------

def test_detect_hybrid_like_this_host() -> None:
    root = DATA / "v1"
    host = host_for("mountinfo.hybrid", root)
    assert host.mode == MODE_HYBRID
    assert not host.is_v2
    for c in ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"):
        assert host.v1[c] == f"{root}/{c}"
    assert host.v1["name=systemd"] == f"{root}/systemd"
    assert host.unified == f"{root}/unified"
    assert host.unified_controllers == frozenset()  # hybrid: cgroup2 without controllers
    assert host.controller_version("memory") == 1
    assert host.controller_version("io") is None


def test_detect_pure_v2() -> None:
    root = DATA / "v2"
    host = host_for("mountinfo.v2", root)
    assert host.mode == MODE_V2
    assert host.is_v2
    assert host.v1 == {}
    assert host.unified == str(root)
    assert host.unified_controllers == {"cpuset", "cpu", "io", "memory", "hugetlb", "pids",
                                        "rdma", "misc"}
    assert host.controller_version("memory") == 2


def test_detect_v1_comounted_controllers(tmp_path: Path) -> None:
    host = host_for("mountinfo.v1-comount", tmp_path)
    assert host.mode == MODE_V1
    assert host.unified is None
    assert host.v1["cpu"] == host.v1["cpuacct"] == f"{tmp_path}/cpu,cpuacct"
    assert host.v1["net_cls"] == host.v1["net_prio"] == f"{tmp_path}/net_cls,net_prio"
    # Mount options are not controllers.
    assert not {"rw", "xattr", "release_agent"} & set(host.v1)
    assert host.v1["name=systemd"] == f"{tmp_path}/systemd"
    cg = Cgroup(host, "/a/b")
    assert cg.dir("cpu") == cg.dir("cpuacct") == f"{tmp_path}/cpu,cpuacct/a/b"


def test_detect_prefers_hierarchy_root_over_bind_mount() -> None:
    text = ("50 1 0:32 /sub /mnt/sub rw - cgroup cgroup rw,memory\n"
            "51 1 0:32 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
            "52 1 0:32 /other /mnt/other rw - cgroup cgroup rw,memory\n")
    assert detect(text).v1["memory"] == "/sys/fs/cgroup/memory"


def test_detect_without_cgroups() -> None:
    with pytest.raises(UnimplementedError):
        detect("22 27 0:21 / /proc rw,relatime - proc proc rw\n")


def test_detect_live_host_from_own_mountinfo() -> None:
    host = detect()
    assert host.mode in (MODE_V1, MODE_HYBRID, MODE_V2)
    if host.mode == MODE_V2:
        assert host.unified is not None
    else:
        assert host.v1
    assert cgroups.current_host() == host


# --- Cgroup paths ---------------------------------------------------------------------------

def test_cgroup_path_must_be_absolute_and_normalized() -> None:
    host = CgroupHost(mode=MODE_V2, unified="/sys/fs/cgroup")
    with pytest.raises(InvalidArgumentError):
        Cgroup(host, "pytasks/default/t1")
    with pytest.raises(InvalidArgumentError):
        Cgroup(host, "/pytasks/../etc")
    assert Cgroup(host, "/pytasks/default/t1/").path == "/pytasks/default/t1"


def test_layout_cgroup_path_resolves_per_controller(tmp_path: Path) -> None:
    host = host_for("mountinfo.hybrid", tmp_path)
    layout = Layout.of(tmp_path / "root", tmp_path / "state", "default")
    cg = Cgroup(host, layout.cgroup_path("t1"))
    assert cg.dir("memory") == f"{tmp_path}/memory/pytasks-{layout.state_tag}/default/t1"
    assert cg.dir("io") is None  # hybrid: no v2 controllers
    assert cg.unified_dir == f"{tmp_path}/unified/pytasks-{layout.state_tag}/default/t1"


# --- v1 (recorded on this host) -------------------------------------------------------------

def test_v1_stats_recorded() -> None:
    cg = Cgroup(host_for("mountinfo.hybrid", DATA / "v1"), REC)
    assert cg.exists()
    assert cg.stats() == {
        "cpu": {"usage_ns": 384674281, "user_ns": 30 * TICK_NS, "system_ns": 8 * TICK_NS,
                "periods": 9, "throttled_periods": 7, "throttled_ns": 284505846,
                "limit_cpus": 0.5},
        "memory": {"usage": 626688, "limit": 268435456, "max_usage": 40091648,
                   "cache": 12288, "rss": 221184, "oom_kills": 0},
        "pids": {"current": 2, "limit": 64},
        "blkio": {"read_bytes": 8392704, "write_bytes": 8400896, "read_ops": 9,
                  "write_ops": 12},
    }


def test_v1_pids_include_sub_cgroups() -> None:
    cg = Cgroup(host_for("mountinfo.hybrid", DATA / "v1"), REC)
    assert cg.pids() == [6629, 6630]


def test_v1_pids_fall_back_to_freezer_then_memory(v1_tree: Path) -> None:
    shutil.rmtree(v1_tree / "pids" / "pytasks-test-rec")
    (v1_tree / "freezer" / REC.lstrip("/") / "cgroup.procs").write_text("7\n")
    cg = Cgroup(host_for("mountinfo.hybrid", v1_tree), REC)
    assert cg.pids() == [7, 6630]
    shutil.rmtree(v1_tree / "freezer" / "pytasks-test-rec")
    assert cg.pids() == [6629, 6630]


def test_v1_freezer_states(v1_tree: Path) -> None:
    cg = Cgroup(host_for("mountinfo.hybrid", v1_tree), REC)
    state_file = v1_tree / "freezer" / REC.lstrip("/") / "freezer.state"
    assert cg.freezer_state() == THAWED
    for state in (FREEZING, FROZEN, THAWED):
        state_file.write_text(state + "\n")
        assert cg.freezer_state() == state
    assert not cg.wait_frozen(timeout=0.05)
    state_file.write_text("FROZEN\n")
    assert cg.wait_frozen(timeout=0.05)


def test_v1_unlimited_values(v1_tree: Path) -> None:
    d = v1_tree
    rel = REC.lstrip("/")
    (d / "memory" / rel / "memory.limit_in_bytes").write_text("9223372036854771712\n")
    (d / "cpu" / rel / "cpu.cfs_quota_us").write_text("-1\n")
    (d / "pids" / rel / "pids.max").write_text("max\n")
    stats = Cgroup(host_for("mountinfo.hybrid", d), REC).stats()
    assert stats["memory"]["limit"] == 0
    assert stats["cpu"]["limit_cpus"] == 0.0
    assert stats["pids"]["limit"] == 0


def test_v1_older_kernel_fallbacks(v1_tree: Path) -> None:
    """No _recursive blkio files, no total_* in memory.stat, no oom_kill line (< 4.13)."""
    rel = REC.lstrip("/")
    blkio = v1_tree / "blkio" / rel
    (blkio / "blkio.throttle.io_service_bytes_recursive").unlink()
    (blkio / "blkio.throttle.io_serviced_recursive").unlink()
    (blkio / "blkio.throttle.io_service_bytes").write_text("8:0 Read 5\n8:0 Write 6\nTotal 11\n")
    mem = v1_tree / "memory" / rel
    (mem / "memory.stat").write_text("cache 4096\nrss 8192\n")
    (mem / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\n")
    stats = Cgroup(host_for("mountinfo.hybrid", v1_tree), REC).stats()
    assert stats["blkio"] == {"read_bytes": 5, "write_bytes": 6, "read_ops": 9, "write_ops": 12}
    assert (stats["memory"]["cache"], stats["memory"]["rss"]) == (4096, 8192)
    assert stats["memory"]["oom_kills"] == 0


def test_v1_missing_files_read_as_zero(v1_tree: Path) -> None:
    rel = REC.lstrip("/")
    for c in ("cpu", "cpuacct", "pids", "blkio"):
        shutil.rmtree(v1_tree / c / "pytasks-test-rec")
    for f in (v1_tree / "memory" / rel).iterdir():
        if f.is_file():
            f.unlink()
    stats = Cgroup(host_for("mountinfo.hybrid", v1_tree), REC).stats()
    assert stats == cgroups.empty_stats()


def test_v1_missing_cgroup_is_not_found() -> None:
    cg = Cgroup(host_for("mountinfo.hybrid", DATA / "v1"), "/pytasks-test-rec/default/gone")
    assert not cg.exists()
    for call in (cg.stats, cg.pids, cg.freezer_state):
        with pytest.raises(NotFoundError, match="cgroup /pytasks-test-rec/default/gone not"):
            call()


# --- v2 (kernel documentation formats) ------------------------------------------------------

def test_v2_stats_recorded() -> None:
    cg = Cgroup(host_for("mountinfo.v2", DATA / "v2"), REC)
    assert cg.stats() == {
        "cpu": {"usage_ns": 1843017000, "user_ns": 1512950000, "system_ns": 330067000,
                "periods": 48, "throttled_periods": 31, "throttled_ns": 2409117000,
                "limit_cpus": 1.5},
        "memory": {"usage": 39735296, "limit": 268435456, "max_usage": 41455616,
                   "cache": 12374016, "rss": 25182208, "oom_kills": 1},
        "pids": {"current": 3, "limit": 64},
        "blkio": {"read_bytes": 8388608 + 1459200, "write_bytes": 8396800 + 314773504,
                  "read_ops": 8 + 192, "write_ops": 11 + 353},
    }


def test_v2_pids_include_sub_cgroups() -> None:
    cg = Cgroup(host_for("mountinfo.v2", DATA / "v2"), REC)
    assert cg.pids() == [4211, 4260, 4302]


@pytest.mark.parametrize(("freeze", "frozen", "expected"), [
    ("0", "0", THAWED),
    ("1", "0", FREEZING),
    ("1", "1", FROZEN),
    ("0", "1", FROZEN),  # an ancestor is frozen: the processes are stopped all the same
])
def test_v2_freezer_states(v2_tree: Path, freeze: str, frozen: str, expected: str) -> None:
    d = v2_tree / REC.lstrip("/")
    (d / "cgroup.freeze").write_text(freeze + "\n")
    (d / "cgroup.events").write_text(f"populated 1\nfrozen {frozen}\n")
    cg = Cgroup(host_for("mountinfo.v2", v2_tree), REC)
    assert cg.freezer_state() == expected


def test_v2_without_freeze_file_is_unimplemented(v2_tree: Path) -> None:
    (v2_tree / REC.lstrip("/") / "cgroup.freeze").unlink()
    with pytest.raises(UnimplementedError):
        Cgroup(host_for("mountinfo.v2", v2_tree), REC).freezer_state()


def test_v2_unlimited_and_missing(v2_tree: Path) -> None:
    d = v2_tree / REC.lstrip("/")
    (d / "memory.max").write_text("max\n")
    (d / "cpu.max").write_text("max 100000\n")
    (d / "pids.max").write_text("max\n")
    (d / "memory.peak").unlink()  # kernels < 5.19
    (d / "io.stat").write_text("")  # no IO yet
    stats = Cgroup(host_for("mountinfo.v2", v2_tree), REC).stats()
    assert stats["memory"]["limit"] == 0
    assert stats["memory"]["max_usage"] == 0
    assert stats["cpu"]["limit_cpus"] == 0.0
    assert stats["pids"]["limit"] == 0
    assert stats["blkio"] == {"read_bytes": 0, "write_bytes": 0, "read_ops": 0,
                              "write_ops": 0}


def test_v2_cpu_stat_without_cpu_controller(v2_tree: Path) -> None:
    """Without the cpu controller cpu.stat has only usage; throttling reads as 0."""
    d = v2_tree / REC.lstrip("/")
    (d / "cpu.stat").write_text("usage_usec 10\nuser_usec 6\nsystem_usec 4\n")
    (d / "cpu.max").unlink()
    cpu = Cgroup(host_for("mountinfo.v2", v2_tree), REC).stats()["cpu"]
    assert cpu == {"usage_ns": 10000, "user_ns": 6000, "system_ns": 4000, "periods": 0,
                   "throttled_periods": 0, "throttled_ns": 0, "limit_cpus": 0.0}


def test_v2_missing_cgroup_is_not_found() -> None:
    cg = Cgroup(host_for("mountinfo.v2", DATA / "v2"), "/nope")
    for call in (cg.stats, cg.pids, cg.freezer_state):
        with pytest.raises(NotFoundError, match="cgroup /nope not found"):
            call()


# --- lean import ----------------------------------------------------------------------------

def test_module_imports_only_stdlib() -> None:
    """The monitor imports this module; it must not drag third-party packages along."""
    # Compare with the modules loaded before the import (site hooks are not ours).
    code = ("import sys; before = set(sys.modules); import pytasks.cgroups; "
            "print(' '.join(sorted({m.split('.')[0] for m in set(sys.modules) - before} "
            "- set(sys.stdlib_module_names) - {'pytasks'})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).parents[2]).stdout.split()
    assert out == []


# --- live v1 host ---------------------------------------------------------------------------

LIVE_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct", "freezer")


def _live_host() -> CgroupHost | None:
    if os.geteuid() != 0:
        return None
    try:
        host = detect()
    except UnimplementedError:
        return None
    if not all(c in host.v1 for c in LIVE_CONTROLLERS):
        return None
    return host


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _rmdir(path: str) -> None:
    # The kernel refuses rmdir while an exiting task is still being torn down; retry.
    for _ in range(100):
        try:
            os.rmdir(path)
            return
        except FileNotFoundError:
            return
        except OSError:
            time.sleep(0.02)
    os.rmdir(path)


@pytest.mark.skipif(_live_host() is None, reason="needs root and v1 memory/pids/cpu/"
                    "cpuacct/freezer hierarchies")
def test_live_v1_cgroup() -> None:
    host = _live_host()
    assert host is not None
    name = f"pytasks-unittest-{os.getpid()}"
    cg = Cgroup(host, f"/{name}")
    dirs = [os.path.join(host.v1[c], name) for c in LIVE_CONTROLLERS]
    dirs = list(dict.fromkeys(dirs))  # comounted controllers share a directory
    made: list[str] = []
    child: subprocess.Popen[bytes] | None = None
    freezer = os.path.join(host.v1["freezer"], name, "freezer.state")
    try:
        for d in dirs:
            os.mkdir(d)
            made.append(d)
        _write(os.path.join(host.v1["memory"], name, "memory.limit_in_bytes"), str(64 << 20))
        _write(os.path.join(host.v1["pids"], name, "pids.max"), "10")
        _write(os.path.join(host.v1["cpu"], name, "cpu.cfs_period_us"), "100000")
        _write(os.path.join(host.v1["cpu"], name, "cpu.cfs_quota_us"), "25000")

        def enter() -> None:
            # Join before exec so the exec's own pages are charged to the new cgroup
            # (v1 does not move existing charges with a task).
            for d in dirs:
                _write(os.path.join(d, "cgroup.procs"), str(os.getpid()))

        child = subprocess.Popen(["sleep", "600"], preexec_fn=enter)
        assert cg.pids() == [child.pid]
        # Popen returns at exec; sleep's first page faults (its charges) come just after,
        # and its CPU time is charged when it first blocks.
        deadline = time.monotonic() + 5
        stats = cg.stats()
        while (stats["memory"]["usage"] == 0 or stats["cpu"]["usage_ns"] == 0) and \
                time.monotonic() < deadline:
            time.sleep(0.01)
            stats = cg.stats()
        assert stats["memory"]["usage"] > 0
        assert stats["memory"]["limit"] == 64 << 20
        assert stats["pids"] == {"current": 1, "limit": 10}
        assert stats["cpu"]["usage_ns"] > 0
        assert stats["cpu"]["limit_cpus"] == 0.25

        assert cg.freezer_state() == THAWED
        _write(freezer, FROZEN)
        assert cg.wait_frozen(timeout=5)
        _write(freezer, THAWED)
        assert cg.wait_freezer_state(THAWED, timeout=5)
    finally:
        if child is not None:
            if os.path.exists(freezer):
                _write(freezer, THAWED)  # a frozen task cannot die
            child.send_signal(signal.SIGKILL)
            child.wait()
        for d in reversed(made):
            _rmdir(d)
    assert not cg.exists()


def test_remove_empty_parents_stops_at_a_shared_level(tmp_path: Path) -> None:
    memory, unified = tmp_path / "memory", tmp_path / "unified"
    for mount in (memory, unified):
        (mount / "pytasks-x" / "ns" / "gone").mkdir(parents=True)  # left by the runtime
        (mount / "pytasks-x" / "ns" / "gone").rmdir()
        (mount / "pytasks-x" / "other").mkdir()  # another namespace still has tasks
    host = cgroups.CgroupHost(mode=cgroups.MODE_HYBRID, v1={"memory": str(memory)},
                              unified=str(unified))
    cgroups.remove_empty_parents("/pytasks-x/ns/gone", host)
    for mount in (memory, unified):
        assert not (mount / "pytasks-x" / "ns").exists()
        assert (mount / "pytasks-x" / "other").is_dir()
    assert cgroups.posixpath_parents("/a/b/c") == ["/a/b", "/a", "/"]
