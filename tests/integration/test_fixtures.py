"""The test fixtures themselves: the busybox rootfs runs under plain runc, and the cleanup
removes a container, monitor, mount and cgroup that a test leaked."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest
from helpers.cleanup import cleanup, mounts_under
from helpers.roots import Roots

pytestmark = pytest.mark.integration


def make_bundle(roots: Roots, name: str, rootfs: Path, args: list[str],
                readonly: bool = True) -> Path:
    """An OCI bundle from `runc spec` whose root is `rootfs` and whose cgroup is where
    pytasks would put this task's (so the cleanup can find it)."""
    bundle = roots.tmp / f"bundle-{name}"
    bundle.mkdir()
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    config = json.loads((bundle / "config.json").read_text())
    config["root"] = {"path": str(rootfs), "readonly": readonly}
    config["process"]["args"] = args
    config["process"]["terminal"] = False
    config["hostname"] = name
    config["linux"]["cgroupsPath"] = roots.layout.cgroup_path(name)
    (bundle / "config.json").write_text(json.dumps(config))
    return bundle


def runc(roots: Roots, *args: str, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(["runc", "--root", str(roots.layout.runtime_root), *args],
                          **kwargs)


def wait_for(condition, seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def alive(pid: int) -> bool:
    """Exists and is not a zombie."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def cgroup_dirs(roots: Roots) -> list[Path]:
    top = f"pytasks-{roots.layout.state_tag}"
    return [p for p in Path("/sys/fs/cgroup").glob(f"*/{top}") if p.exists()]


def test_busybox_rootfs_runs_under_plain_runc(busybox_rootfs: Path, roots: Roots) -> None:
    bundle = make_bundle(roots, "hello", busybox_rootfs,
                         ["sh", "-c", "echo hello from busybox; id -un; hostname; ls /bin/ls"])
    result = runc(roots, "run", "--bundle", str(bundle), "hello", capture_output=True,
                  text=True, stdin=subprocess.DEVNULL, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from busybox\nroot\nhello\n/bin/ls\n"
    # users and the mount point dirs the rootfs is built with
    assert (busybox_rootfs / "etc/passwd").read_text().splitlines()[1].startswith(
        "nobody:x:65534:65534:")
    assert {p.name for p in busybox_rootfs.iterdir()} >= {"bin", "dev", "etc", "proc",
                                                           "root", "sys", "tmp"}


def test_cleanup_removes_leaked_container_mount_monitor_and_cgroup(
        busybox_rootfs: Path, roots: Roots) -> None:
    # An overlay with the shared rootfs as lower dir (which must stay untouched) ...
    upper, work, merged = (roots.tmp / d for d in ("upper", "work", "merged"))
    for d in (upper, work, merged):
        d.mkdir()
    subprocess.run(["mount", "-t", "overlay", "overlay", "-o",
                    f"lowerdir={busybox_rootfs},upperdir={upper},workdir={work}",
                    str(merged)], check=True)
    # ... running a detached container that is never deleted ...
    bundle = make_bundle(roots, "leak", merged,
                         ["sh", "-c", "echo x > /tmp/x && exec sleep 100"], readonly=False)
    runc(roots, "run", "-d", "--bundle", str(bundle), "leak", check=True, timeout=60,
         stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    state = json.loads(runc(roots, "state", "leak", check=True, capture_output=True).stdout)
    pid = state["pid"]
    assert state["status"] == "running"
    wait_for(lambda: (upper / "tmp" / "x").exists())
    assert cgroup_dirs(roots), "runc put the container in no pytasks-<tag> cgroup"
    # ... a stand-in for a monitor (found by the state dir in its environment) ...
    monitor = subprocess.Popen(["sleep", "100"], env=roots.full_env())
    # ... and a bystander whose state dir only shares a prefix: it must survive.
    bystander = subprocess.Popen(["sleep", "100"],
                                 env={**os.environ, "PYTASKS_STATE": f"{roots.state}2"})
    try:
        report = cleanup(roots.state, roots.tmp)
        assert report.leaked
        assert report.containers == [f"leak (running) in {roots.layout.runtime_root}"]
        assert any(entry.startswith(f"{monitor.pid} sleep 100") for entry in report.processes)
        assert any(entry.startswith(f"{pid} ") for entry in report.processes)
        assert report.mounts == [str(merged)]
        assert any(path.endswith("/test/leak") for path in report.cgroups)
        assert not report.errors

        assert monitor.wait(timeout=5) == -9
        assert bystander.poll() is None
        wait_for(lambda: not alive(pid))
        listed = runc(roots, "list", "-q", check=True, capture_output=True, text=True).stdout
        assert listed == ""
        assert mounts_under(roots.tmp) == []
        assert cgroup_dirs(roots) == []
        assert not (busybox_rootfs / "tmp" / "x").exists()
        # A second pass finds nothing.
        assert not cleanup(roots.state, roots.tmp).leaked
    finally:
        for proc in (monitor, bystander):
            proc.kill()
            proc.wait()


CHILD_TEST = textwrap.dedent("""
    import subprocess
    import pytest

    children = []

    def leak(roots):
        roots.state.mkdir(parents=True)
        children.append(subprocess.Popen(["sleep", "100"], env=roots.full_env()))

    def test_leaks(roots):
        leak(roots)

    @pytest.mark.allow_leaks
    def test_may_leak(roots):
        leak(roots)

    def test_fails_and_leaks(roots):
        leak(roots)
        assert False, "the test's own failure"

    def test_clean(roots):
        assert roots.pytasks("--version").stdout.startswith("pytasks ")
""")


def test_a_leak_fails_the_test_unless_allowed(pytester: pytest.Pytester) -> None:
    tests = Path(__file__).parents[1]
    pytester.makeconftest((tests / "conftest.py").read_text())
    shutil.copytree(tests / "helpers", pytester.path / "helpers")
    pytester.makepyfile(test_child=CHILD_TEST)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1, errors=1, warnings=1)
    result.stdout.fnmatch_lines(["*ERROR at teardown of test_leaks*",
                                 "*left things behind*", "*processes killed:*",
                                 "*sleep 100 (environ names the state dir)*"])
    assert "test_may_leak" not in "".join(line for line in result.outlines
                                           if "ERROR" in line)
