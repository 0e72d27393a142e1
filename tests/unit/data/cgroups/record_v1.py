"""Re-record the v1 fixture from this host's real cgroup v1 hierarchies (run as root).

    .venv/bin/python tests/unit/data/cgroups/record_v1.py

Creates /pytasks-test-rec/default/t1 (and a sub-cgroup t1/exec, as `runc exec` may nest)
in every v1 controller the fixture covers, sets limits like `pytasks update` would, runs a
small workload in it (CPU, memory, direct disk IO, one sleeping process per cgroup), copies
the files pytasks.cgroups reads into v1/<controller>/..., and removes every cgroup again.
The expected numbers in tests/unit/test_cgroups.py must be updated after a re-recording.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "v1")
REL = "pytasks-test-rec/default/t1"
CONTROLLERS = ("cpu", "cpuacct", "memory", "pids", "freezer", "blkio")
FILES = {
    "cpu": ["cgroup.procs", "cpu.stat", "cpu.cfs_quota_us", "cpu.cfs_period_us",
            "cpu.shares"],
    "cpuacct": ["cgroup.procs", "cpuacct.usage", "cpuacct.stat", "cpuacct.usage_user",
                "cpuacct.usage_sys"],
    "memory": ["cgroup.procs", "memory.usage_in_bytes", "memory.limit_in_bytes",
               "memory.max_usage_in_bytes", "memory.stat", "memory.oom_control",
               "memory.failcnt", "memory.use_hierarchy"],
    "pids": ["cgroup.procs", "pids.current", "pids.max", "pids.events"],
    "freezer": ["cgroup.procs", "freezer.state", "freezer.self_freezing",
                "freezer.parent_freezing"],
    "blkio": ["cgroup.procs", "blkio.throttle.io_service_bytes",
              "blkio.throttle.io_service_bytes_recursive", "blkio.throttle.io_serviced",
              "blkio.throttle.io_serviced_recursive"],
}
SUB_FILES = ["cgroup.procs"]

WORKLOAD = r"""
import mmap, os
buf = bytearray(24 * 1024 * 1024)          # anonymous memory -> rss
for i in range(0, len(buf), 4096):
    buf[i] = 1
x = 0
for i in range(3_000_000):                  # CPU under a 0.5 CPU quota -> throttling
    x += i
path = os.environ["SCRATCH"]
fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_DIRECT, 0o600)
m = mmap.mmap(-1, 1 << 20)                  # O_DIRECT needs an aligned buffer
m.write(b"x" * (1 << 20))
for _ in range(8):
    os.write(fd, m)                         # counted as block IO writes
os.fsync(fd)
os.close(fd)
fd = os.open(path, os.O_RDONLY | os.O_DIRECT)
while os.readv(fd, [m]):                    # and as block IO reads
    pass
os.close(fd)
with open(path + ".cache", "wb") as f:      # page cache -> cache
    f.write(os.urandom(4 << 20))
os.unlink(path)
"""


def mount_points() -> dict[str, str]:
    sys.path.insert(0, os.path.join(HERE, "..", "..", "..", ".."))
    from pytasks.cgroups import detect

    host = detect()
    return {c: host.v1[c] for c in CONTROLLERS}


def enter(pid_dirs: list[str]) -> None:
    pid = str(os.getpid())
    for d in pid_dirs:
        with open(os.path.join(d, "cgroup.procs"), "w") as f:
            f.write(pid)


def main() -> int:
    if os.geteuid() != 0:
        print("run as root", file=sys.stderr)
        return 1
    mounts = mount_points()
    dirs = {c: os.path.join(mounts[c], REL) for c in CONTROLLERS}
    made: list[str] = []
    children: list[subprocess.Popen[bytes]] = []
    try:
        for c in CONTROLLERS:
            parts = REL.split("/")
            for i in range(1, len(parts) + 1):
                d = os.path.join(mounts[c], *parts[:i])
                if not os.path.isdir(d):
                    os.mkdir(d)
                    made.append(d)
            sub = os.path.join(dirs[c], "exec")
            os.mkdir(sub)
            made.append(sub)
        with open(os.path.join(dirs["cpu"], "cpu.cfs_period_us"), "w") as f:
            f.write("100000")
        with open(os.path.join(dirs["cpu"], "cpu.cfs_quota_us"), "w") as f:
            f.write("50000")
        with open(os.path.join(dirs["memory"], "memory.limit_in_bytes"), "w") as f:
            f.write(str(256 << 20))
        with open(os.path.join(dirs["pids"], "pids.max"), "w") as f:
            f.write("64")
        # On current kernels (6.x) v1 blkio.throttle.* count only bios on a queue with a
        # throttle rule; a limit nobody reaches makes the fixture's IO figures non-zero.
        st = os.stat(os.path.dirname(os.path.abspath(HERE)))
        rule = f"{os.major(st.st_dev)}:{os.minor(st.st_dev)} {1 << 40}"
        for name in ("blkio.throttle.read_bps_device", "blkio.throttle.write_bps_device"):
            try:
                with open(os.path.join(dirs["blkio"], name), "w") as f:
                    f.write(rule)
            except OSError as e:
                print(f"no blkio rule ({e}); IO figures stay 0", file=sys.stderr)
        top = list(dirs.values())
        subs = [os.path.join(d, "exec") for d in top]
        scratch = os.path.join(os.path.dirname(os.path.abspath(HERE)), ".rec-scratch")
        env = dict(os.environ, SCRATCH=scratch)
        subprocess.run([sys.executable, "-c", WORKLOAD], env=env, check=True,
                       preexec_fn=lambda: enter(top))
        os.unlink(scratch + ".cache")
        children.append(subprocess.Popen(["sleep", "600"], preexec_fn=lambda: enter(top)))
        children.append(subprocess.Popen(["sleep", "600"], preexec_fn=lambda: enter(subs)))
        time.sleep(0.3)
        shutil.rmtree(OUT, ignore_errors=True)
        # The hybrid layout's empty cgroup2 mount (mountinfo.hybrid points at it).
        os.makedirs(os.path.join(OUT, "unified"))
        with open(os.path.join(OUT, "unified", "cgroup.controllers"), "w"):
            pass
        for c in CONTROLLERS:
            for src_dir, names in ((dirs[c], FILES[c]), (os.path.join(dirs[c], "exec"),
                                                         SUB_FILES)):
                dst_dir = os.path.join(OUT, c, os.path.relpath(src_dir, mounts[c]))
                os.makedirs(dst_dir, exist_ok=True)
                for name in names:
                    try:
                        with open(os.path.join(src_dir, name)) as f:
                            text = f.read()
                    except OSError as e:
                        print(f"skip {c}/{name}: {e}", file=sys.stderr)
                        continue
                    with open(os.path.join(dst_dir, name), "w") as f:
                        f.write(text)
        print("recorded into", OUT)
        return 0
    finally:
        for child in children:
            child.send_signal(signal.SIGKILL)
            child.wait()
        time.sleep(0.1)
        for d in reversed(made):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.05)


if __name__ == "__main__":
    raise SystemExit(main())
