#!/usr/bin/env python3
"""Benchmark pytasks against runc, crun, ctr (private containerd) and podman.

Stdlib only. Run through `bench/run` (which installs the Debian packages first), as root.
Every operation is measured interleaved: round 1 runs pytasks, runc, crun, ctr, podman
(and the Python floor where it applies) once each, round 2 again, and so on, so that
drift on the machine hits every peer alike. Each timed call is `subprocess.run` with its
output piped, timed with `time.perf_counter`.

Everything the harness starts lives under one temporary directory (`/tmp/ptbench-*`) and a
unique tag (`ptb<pid>`: containerd namespace, pytasks namespace, cgroup parents). Cleanup
finds what is left by pid (runtime state, our cgroups, command lines naming our temporary
directory or socket), never by process name, and runs on normal exit, on failure, on
Ctrl-C and on SIGTERM/SIGHUP.
"""

from __future__ import annotations

import argparse
import atexit
import datetime as dt
import hashlib
import io
import json
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
VENV_PY = REPO / ".venv" / "bin" / "python"
PYTASKS = REPO / ".venv" / "bin" / "pytasks"
RESULTS = HERE / "results" / "latest.json"
SYS_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
IMAGE = "localhost/busybox:latest"
SLEEP = ["sleep", "1000"]
CMD_TIMEOUT = 180.0
CGROUP_FS = Path("/sys/fs/cgroup")
PEER_ORDER = ["pytasks", "runc", "crun", "ctr", "podman"]
FLOOR = "py+click"
MIB = 1024.0 * 1024.0
# checkpoint/restore workloads: (key, label, command, resident bytes to wait for)
CKPT_WORKLOADS = [
    ("counter", "busybox counter",
     ["sh", "-c", "i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done"], 0),
    ("256m", "256 MiB touched",
     ["awk", 'BEGIN { s = sprintf("%268435456s", "x"); system("sleep 100000") }'], 256 << 20),
]
# podman 4.3 and containerd 1.6's runc shim both run the `criu` on their PATH: Debian 12's
# 3.17 here, which cannot run on this kernel (`criu check`: vdso symtable). The harness does
# not rewire their PATH, so they cannot use the CRIU pytasks and bare runc use.
OTHER_CRIU = ("unavailable (runs the criu on its PATH, Debian 12's 3.17, which cannot run "
              "on this kernel; not the CRIU pytasks and runc use)")

# Host paths a peer may create outside its private roots: removed at the end only if they
# did not exist before the run.
HOST_PATHS = [
    "/run/containerd", "/opt/containerd", "/var/lib/containers", "/var/lib/containers/cache",
    "/etc/cni/net.d/cni.lock", "/run/runc", "/run/crun", "/run/libpod", "/run/containers",
    "/var/lib/cni", "/etc/containers/networks",
]
# Top-level entries watched for anything new a peer leaves behind (reported, not removed).
WATCHED_DIRS = ["/run", "/var/lib", "/opt", "/etc/cni/net.d", "/var/tmp"]

T0 = time.monotonic()


def log(msg: str) -> None:
    print(f"[bench {time.monotonic() - T0:7.1f}s] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# processes


class Unavailable(Exception):
    """A peer cannot do this operation (missing verb, refused by the host, no equivalent)."""


class PreFailed(Exception):
    """The untimed preparation of one trial failed (counted as an error of that trial)."""


def child_env(tmp: Path | None) -> dict[str, str]:
    # PYTASKS_MONITOR is kept: it selects the monitor for a run ("python", or a binary's
    # path; unset: the compiled one installed in pytasks/monitor/).
    env = {k: v for k, v in os.environ.items()
           if (k == "PYTASKS_MONITOR" or not k.startswith("PYTASKS_")) and k not in (
               "PYTHONDONTWRITEBYTECODE", "PYTHONUNBUFFERED", "PYTHONPATH", "PYTHONHOME",
               "PYTHONSTARTUP", "PYTHONPYCACHEPREFIX", "VIRTUAL_ENV", "CONTAINER_HOST",
               "CONTAINERD_ADDRESS", "CONTAINERD_NAMESPACE", "XDG_RUNTIME_DIR")}
    env["PATH"] = SYS_PATH
    env["LC_ALL"] = "C.UTF-8"
    if tmp is not None:
        # Bytecode is cached as in any normal install, but under our temp dir, so nothing is
        # written into the checkout.
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
    return env


ENV: dict[str, str] = child_env(None)


def sh(argv: list[str], *, timeout: float = CMD_TIMEOUT, devnull: bool = False,
       new_session: bool = False, check: bool = False, errfile=None) -> subprocess.CompletedProcess:
    """Run one command, output piped, stdin from /dev/null. devnull: stdout to /dev/null and
    stderr to errfile (for commands that leave a process holding their stdio)."""
    out = subprocess.DEVNULL if devnull else subprocess.PIPE
    err = (errfile if errfile is not None else subprocess.DEVNULL) if devnull else subprocess.PIPE
    try:
        cp = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                            env=ENV, timeout=timeout, start_new_session=new_session)
    except subprocess.TimeoutExpired:
        cp = subprocess.CompletedProcess(argv, 124, b"", f"timed out after {timeout}s".encode())
    except OSError as e:
        cp = subprocess.CompletedProcess(argv, 127, b"", str(e).encode())
    if cp.stdout is None:
        cp.stdout = b""
    if cp.stderr is None:
        cp.stderr = b""
    if check and cp.returncode != 0:
        raise RuntimeError(describe_failure(cp))
    return cp


def describe_failure(cp: subprocess.CompletedProcess) -> str:
    text = (cp.stderr or b"").decode(errors="replace").strip() or \
        (cp.stdout or b"").decode(errors="replace").strip()
    last = text.splitlines()[-1] if text else ""
    argv = " ".join(str(a) for a in cp.args)
    for long, short in SHORTEN:
        argv = argv.replace(long, short)
    if len(argv) > 160:
        argv = argv[:157] + "..."
    return f"`{argv}` exit {cp.returncode}: {last[:300]}"


SHORTEN: list[tuple[str, str]] = [(str(REPO) + "/", "")]


def quiet(argv: list[str], timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Untimed housekeeping call, in its own session so Ctrl-C does not cut it short."""
    return sh(argv, timeout=timeout, new_session=True)


class Step:
    """One timed command. devnull: the command leaves a process holding its stdio (runc run -d)."""

    __slots__ = ("argv", "devnull", "retry")

    def __init__(self, argv: list[str], devnull: bool = False, retry: bool = False) -> None:
        self.argv = [str(a) for a in argv]
        self.devnull = devnull
        # retry: repeat at once on failure for up to 2 s, timed (`runc delete` right after
        # `runc kill KILL` can find the init not yet dead: "cannot delete ... not stopped")
        self.retry = retry


def timed(steps: list[Step]) -> tuple[float, str | None, list[subprocess.CompletedProcess]]:
    """Run steps in sequence; (ms summed over the steps, error or None, results)."""
    total = 0.0
    results = []
    for step in steps:
        errfile = tempfile.TemporaryFile() if step.devnull else None  # noqa: SIM115
        t = time.perf_counter()
        cp = sh(step.argv, devnull=step.devnull, errfile=errfile)
        if step.retry and cp.returncode != 0:
            deadline = t + 2.0
            while cp.returncode != 0 and time.perf_counter() < deadline:
                cp = sh(step.argv, devnull=step.devnull, errfile=errfile)
        total += time.perf_counter() - t
        if errfile is not None:
            errfile.seek(0)
            cp.stderr = errfile.read(65536)
            errfile.close()
        results.append(cp)
        if cp.returncode != 0:
            if cp.returncode == 2 and b"No such command" in cp.stderr:
                raise Unavailable(f"unavailable (no `{step.argv[step.argv.index('-n') + 2]}`"
                                  " verb yet)" if "-n" in step.argv else "unavailable")
            return total * 1000.0, describe_failure(cp), results
    return total * 1000.0, None, results


def read_cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return [a.decode(errors="replace") for a in raw.split(b"\0") if a]


def all_pids() -> list[int]:
    return [int(p) for p in os.listdir("/proc") if p.isdigit()]


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def kill_pids(pids: list[int], why: str) -> None:
    pids = [p for p in set(pids) if p > 1 and p != os.getpid() and pid_alive(p)]
    if not pids:
        return
    log(f"cleanup: SIGKILL {len(pids)} leftover process(es) ({why}): {sorted(pids)[:20]}")
    for p in pids:
        try:
            os.kill(p, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and any(pid_alive(p) for p in pids):
        time.sleep(0.05)


def smaps_rollup(pid: int) -> dict[str, int] | None:
    try:
        text = Path(f"/proc/{pid}/smaps_rollup").read_text()
    except OSError:
        return None
    vals: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[0].endswith(":") and parts[-1] == "kB":
            vals[parts[0][:-1]] = int(parts[1]) * 1024
    return {"rss": vals.get("Rss", 0), "pss": vals.get("Pss", 0),
            "private": vals.get("Private_Clean", 0) + vals.get("Private_Dirty", 0)}


def mounts_under(prefix: Path) -> list[str]:
    out = []
    p = str(prefix).rstrip("/") + "/"
    try:
        lines = Path("/proc/self/mountinfo").read_text().splitlines()
    except OSError:
        return out
    for line in lines:
        mp = line.split()[4].encode().decode("unicode_escape")
        if mp.startswith(p) or mp == p.rstrip("/"):
            out.append(mp)
    return out


def unmount_under(prefix: Path) -> None:
    for _ in range(3):
        mps = sorted(set(mounts_under(prefix)), key=len, reverse=True)
        if not mps:
            return
        for mp in mps:
            if quiet(["umount", mp]).returncode != 0:
                quiet(["umount", "-l", mp])


# --------------------------------------------------------------------------------------------
# busybox rootfs and OCI image, built locally from busybox-static


def build_rootfs(root: Path) -> None:
    busybox = Path("/bin/busybox")
    if not busybox.exists():
        raise RuntimeError("/bin/busybox missing (install busybox-static)")
    for d in ("bin", "dev", "proc", "sys", "tmp", "etc", "root"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    shutil.copy2(busybox, root / "bin" / "busybox")
    applets = sh([str(busybox), "--list"], check=True).stdout.decode().split()
    for a in applets:
        if a != "busybox" and not (root / "bin" / a).exists():
            os.symlink("busybox", root / "bin" / a)
    (root / "etc" / "passwd").write_text("root:x:0:0:root:/root:/bin/sh\n")
    (root / "etc" / "group").write_text("root:x:0:\n")


def build_oci_archive(rootfs: Path, out: Path) -> None:
    """One-layer OCI image archive (oci-layout, index.json, blobs) for ctr import/podman load."""
    def owner(ti: tarfile.TarInfo) -> tarfile.TarInfo:
        ti.uid = ti.gid = 0
        ti.uname = ti.gname = "root"
        ti.mtime = 0
        return ti

    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as t:
        for dirpath, dirnames, filenames in os.walk(rootfs):
            dirnames.sort()
            rel = os.path.relpath(dirpath, rootfs)
            if rel != ".":
                t.add(dirpath, arcname=rel, recursive=False, filter=owner)
            for f in sorted(filenames):
                full = os.path.join(dirpath, f)
                t.add(full, arcname=os.path.normpath(os.path.join(rel, f)), recursive=False,
                      filter=owner)
    layer = buf.getvalue()

    def digest(b: bytes) -> str:
        return "sha256:" + hashlib.sha256(b).hexdigest()

    config = json.dumps({
        "architecture": "amd64", "os": "linux", "created": "1970-01-01T00:00:00Z",
        "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [digest(layer)]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "pytasks bench"}],
    }, sort_keys=True).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(layer), "size": len(layer)}],
    }, sort_keys=True).encode()
    index = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json",
                       "digest": digest(manifest), "size": len(manifest),
                       "annotations": {"org.opencontainers.image.ref.name": "latest",
                                       "io.containerd.image.name": IMAGE}}],
    }, sort_keys=True).encode()
    with tarfile.open(out, "w") as t:
        def add(name: str, data: bytes | None) -> None:
            ti = tarfile.TarInfo(name)
            if data is None:
                ti.type, ti.mode = tarfile.DIRTYPE, 0o755
                t.addfile(ti)
            else:
                ti.size, ti.mode = len(data), 0o644
                t.addfile(ti, io.BytesIO(data))
        add("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
        add("index.json", index)
        add("blobs", None)
        add("blobs/sha256", None)
        for blob in (layer, config, manifest):
            add("blobs/sha256/" + digest(blob)[7:], blob)


# --------------------------------------------------------------------------------------------
# peers


class Peer:
    name = "?"
    has_monitor = False

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.status = "ok"          # or "unavailable (...)"
        self.live: list[str] = []   # ids started by the harness and not torn down

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def setup(self) -> None:
        pass

    def prepare(self, cid: str) -> None:
        """Untimed work before a start (runc: write the bundle)."""

    def started(self, cid: str, results: list[subprocess.CompletedProcess]) -> None:
        self.live.append(cid)

    def stopped(self, cid: str) -> None:
        if cid in self.live:
            self.live.remove(cid)

    def start(self, cid: str) -> list[Step]:
        raise NotImplementedError

    def teardown(self, cid: str) -> list[Step]:
        raise NotImplementedError

    def teardown_many(self, cids: list[str]) -> list[Step]:
        return [s for c in cids for s in self.teardown(c)]

    def exec(self, cid: str) -> list[Step]:
        raise Unavailable("n/a")

    def pause_resume(self, cid: str) -> list[Step]:
        raise Unavailable("n/a")

    def ps(self, cid: str) -> list[Step]:
        raise Unavailable("n/a")

    def get(self, cid: str) -> list[Step]:
        raise Unavailable("n/a")

    def list(self) -> list[Step]:
        raise Unavailable("n/a")

    def monitor_pid(self, cid: str) -> int | None:
        return None

    # checkpoint / restore (pytasks and bare runc with one CRIU; others say why not)
    def ckpt_start(self, cid: str, argv: list[str]) -> str | None:
        raise Unavailable(OTHER_CRIU)

    def init_pid(self, cid: str) -> int | None:
        return None

    def checkpoint(self, cid: str, name: str) -> list[Step]:
        raise Unavailable(OTHER_CRIU)

    def drop_checkpoint(self, name: str) -> None:
        pass

    def restore(self, name: str, cid: str) -> list[Step]:
        raise Unavailable(OTHER_CRIU)

    def leftover_ids(self) -> list[str]:
        return list(self.live)

    def cleanup(self) -> None:
        pass

    # untimed helpers
    def start_quiet(self, cid: str) -> str | None:
        self.prepare(cid)
        _ms, err, res = timed(self.start(cid))
        if err is None:
            self.started(cid, res)
        return err

    def teardown_quiet(self, cids: list[str]) -> str | None:
        if not cids:
            return None
        try:
            _ms, err, _ = timed(self.teardown_many(cids))
        except Unavailable as e:
            err = str(e)
        for c in cids:
            self.stopped(c)
        if err:
            log(f"  {self.name}: untimed teardown of {len(cids)} task(s) failed: {err}")
        return err


class PytasksPeer(Peer):
    name = "pytasks"
    has_monitor = True

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.root = ctx.tmp / "pytasks" / "root"
        self.state = ctx.tmp / "pytasks" / "state"
        self.ns = ctx.tag
        self.base = [str(PYTASKS), "--root", str(self.root), "--state", str(self.state),
                     "-n", self.ns]
        self.verbs: dict[str, bool] = {}
        self.cgroup_tops: set[str] = set()

    def setup(self) -> None:
        if not PYTASKS.exists():
            self.status = f"unavailable ({PYTASKS} missing: run ./scripts/setup)"
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.state.mkdir(parents=True, exist_ok=True)

    def verb(self, *words: str) -> list[str]:
        """argv for a verb; raises Unavailable if this pytasks has no such verb (yet)."""
        v = words[0]
        if v not in self.verbs:
            cp = sh([*self.base, v, "--help"])
            self.verbs[v] = not (cp.returncode == 2 and b"No such command" in cp.stderr)
        if not self.verbs[v]:
            raise Unavailable(f"unavailable (no `{v}` verb yet)")
        return self.base + list(words)

    def start(self, cid):
        return [Step(self.verb("run", "-d", "--rootfs", str(self.ctx.rootfs), cid, *SLEEP))]

    def teardown(self, cid):
        # `containers delete -f`: kill, wait and delete the task, then the container record
        # (podman's `rm -f`), so the id is free again: what ctr does with `task rm -f` and
        # `container rm`, in one call.
        return [Step(self.verb("containers", "delete", "-f", cid))]

    def teardown_many(self, cids):
        return [Step(self.verb("containers", "delete", "-f", *cids))]

    def exec(self, cid):
        return [Step(self.verb("exec", cid, "true"))]

    def pause_resume(self, cid):
        return [Step(self.verb("pause", cid)), Step(self.verb("resume", cid))]

    def ps(self, cid):
        return [Step(self.verb("ps", cid))]

    def get(self, cid):
        return [Step(self.verb("get", cid))]

    def list(self):
        return [Step(self.verb("list"))]

    def ckpt_start(self, cid, argv):
        cp = sh([*self.verb("run", "-d", "--rootfs", str(self.ctx.rootfs), "--readonly", cid,
                            *argv)])
        if cp.returncode != 0:
            return describe_failure(cp)
        self.live.append(cid)
        return None

    def init_pid(self, cid):
        rec = self.task_record(cid)
        return int(rec["pid"]) if rec and isinstance(rec.get("pid"), int) else None

    def checkpoint(self, cid, name):
        return [Step(self.verb("checkpoint", "--name", name, cid))]

    def drop_checkpoint(self, name):
        quiet([*self.base, "checkpoints", "rm", name])

    def restore(self, name, cid):
        return [Step(self.verb("run", "-d", "--rootfs", str(self.ctx.rootfs), "--readonly",
                               "--checkpoint", name, cid))]

    def task_record(self, cid: str) -> dict | None:
        try:
            rec = json.loads((self.state / self.ns / cid / "task.json").read_text())
        except (OSError, ValueError):
            return None
        cg = rec.get("cgroup")
        if isinstance(cg, str) and cg.startswith("/") and cg.strip("/"):
            self.cgroup_tops.add(cg.strip("/").split("/")[0])
        return rec

    def monitor_pid(self, cid):
        rec = self.task_record(cid)
        try:
            return int(rec["monitor"]["pid"]) if rec else None
        except (KeyError, TypeError, ValueError):
            return None

    def leftover_ids(self):
        ids = set(self.live)
        nsdir = self.state / self.ns
        if nsdir.is_dir():
            ids.update(p.name for p in nsdir.iterdir() if p.is_dir() and not p.name.startswith("."))
        cdir = self.root / self.ns / "containers"
        if cdir.is_dir():
            ids.update(p.stem for p in cdir.glob("*.json"))
        return sorted(ids)

    def teardown_quiet(self, cids):
        """Untimed: delete -f, then the container records, each whatever the other did."""
        if not cids:
            return None
        a = quiet([*self.base, "delete", "-f", *cids], timeout=300)
        b = quiet([*self.base, "containers", "delete", *cids], timeout=120)
        for c in cids:
            self.stopped(c)
        left = set(self.leftover_ids()) & set(cids)
        if left:
            err = describe_failure(a if a.returncode else b)
            log(f"  pytasks: untimed teardown left {sorted(left)[:5]}: {err}")
            return err
        return None

    def cleanup(self):
        ids = self.leftover_ids()
        monitors = [p for p in (self.monitor_pid(c) for c in ids) if p]
        if ids:
            log(f"cleanup: pytasks delete -f {len(ids)} task(s)")
            for i in range(0, len(ids), 100):
                chunk = ids[i:i + 100]
                quiet([*self.base, "delete", "-f", *chunk], timeout=300)
                quiet([*self.base, "containers", "delete", *chunk], timeout=120)
        # monitors by recorded pid, if their command line names our state dir
        kill_pids([p for p in monitors if str(self.state) in " ".join(read_cmdline(p))],
                  "pytasks monitors")
        runtime_root = self.state / "runtime" / self.ns
        if runtime_root.is_dir():
            runc_sweep("runc", runtime_root, "pytasks runtime root")


def runc_sweep(binary: str, root: Path, why: str, bundle_prefix: Path | None = None) -> None:
    """Kill and delete the containers in a runc/crun --root (by the pids the runtime records);
    with bundle_prefix, only those whose bundle lies under it (a shared root)."""
    if not root.is_dir():
        return
    cp = quiet([binary, "--root", str(root), "list", "--format", "json"])
    if cp.returncode != 0:
        return
    try:
        items = json.loads(cp.stdout or b"null") or []
    except ValueError:
        items = []
    if bundle_prefix is not None:
        pre = str(bundle_prefix).rstrip("/") + "/"
        items = [it for it in items if str(it.get("bundle", "")).startswith(pre)]
    if not items:
        return
    log(f"cleanup: {len(items)} container(s) left in {binary} --root {root} ({why}): "
        + ", ".join(f"{it.get('id')}={it.get('status')}" for it in items[:10]))
    pids = []
    for it in items:
        cid = it.get("id")
        if it.get("pid"):
            pids.append(int(it["pid"]))
        quiet([binary, "--root", str(root), "kill", cid, "KILL"])
        quiet([binary, "--root", str(root), "delete", "-f", cid])
    kill_pids(pids, f"{why} inits")


class RuncPeer(Peer):
    has_monitor = False

    def __init__(self, ctx: Context, binary: str) -> None:
        super().__init__(ctx)
        self.name = binary
        self.binary = binary
        self.root = ctx.tmp / binary / "root"
        self.bundles = ctx.tmp / binary / "bundles"
        self.cgparent = f"{ctx.tag}-{binary}"
        self.template: dict = {}

    def setup(self) -> None:
        if shutil.which(self.binary, path=SYS_PATH) is None:
            self.status = f"unavailable ({self.binary} not installed)"
            return
        self.root.mkdir(parents=True, exist_ok=True)
        self.bundles.mkdir(parents=True, exist_ok=True)
        spec_dir = self.ctx.tmp / self.binary / "spec"
        spec_dir.mkdir(parents=True, exist_ok=True)
        cp = quiet(["runc", "spec", "-b", str(spec_dir)])
        if cp.returncode != 0:
            self.status = f"unavailable (runc spec failed: {describe_failure(cp)})"
            return
        spec = json.loads((spec_dir / "config.json").read_text())
        spec["process"]["terminal"] = False
        spec["process"]["args"] = SLEEP
        spec["root"] = {"path": str(self.ctx.rootfs), "readonly": True}
        spec["hostname"] = "bench"
        self.template = spec
        # probe: crun 1.8 refuses the hybrid cgroup layout of this kind of host
        probe = f"{self.ctx.tag}-probe"
        err = self.start_quiet(probe)
        if err is not None:
            if "hybrid mode not supported" in err:
                self.status = "unavailable (hybrid cgroups)"
            else:
                self.status = f"unavailable ({err})"
            quiet([self.binary, "--root", str(self.root), "delete", "-f", probe])
            self.live.clear()
            return
        self.teardown_quiet([probe])

    def prepare(self, cid):
        bundle = self.bundles / cid
        bundle.mkdir(parents=True, exist_ok=True)
        spec = dict(self.template)
        spec["linux"] = dict(spec["linux"], cgroupsPath=f"/{self.cgparent}/{cid}")
        (bundle / "config.json").write_text(json.dumps(spec))

    def r(self, *args: str) -> list[str]:
        return [self.binary, "--root", str(self.root), *args]

    def criu(self) -> str:
        if self.binary != "runc":
            raise Unavailable("n/a")
        if not self.ctx.criu:
            raise Unavailable(f"unavailable ({self.ctx.criu_why})")
        return self.ctx.criu

    def ckpt_start(self, cid, argv):
        self.criu()
        self.prepare(cid)
        spec = json.loads((self.bundles / cid / "config.json").read_text())
        spec["process"] = dict(spec["process"], args=argv)
        (self.bundles / cid / "config.json").write_text(json.dumps(spec))
        # All three stdio /dev/null: CRIU cannot dump a host regular file as stdio.
        cp = sh(self.r("run", "-d", "-b", str(self.bundles / cid), cid), devnull=True)
        if cp.returncode != 0:
            return describe_failure(cp)
        self.live.append(cid)
        return None

    def init_pid(self, cid):
        cp = sh(self.r("state", cid))
        try:
            return int(json.loads(cp.stdout)["pid"])
        except (ValueError, KeyError, TypeError):
            return None

    def image_dir(self, name: str) -> Path:
        return self.ctx.tmp / self.binary / "checkpoints" / name

    def checkpoint(self, cid, name):
        image = self.image_dir(name)
        shutil.rmtree(image, ignore_errors=True)
        (image / "image").mkdir(parents=True)
        (image / "work").mkdir()
        return [Step([self.binary, "--root", str(self.root), "--criu", self.criu(),
                      "checkpoint", "--image-path", str(image / "image"), "--work-path",
                      str(image / "work"), "--leave-running", cid])]

    def drop_checkpoint(self, name):
        shutil.rmtree(self.image_dir(name), ignore_errors=True)

    def restore(self, name, cid):
        image = self.image_dir(name)
        work = image / f"work-{cid}"
        work.mkdir(parents=True, exist_ok=True)
        self.prepare(cid)
        return [Step([self.binary, "--root", str(self.root), "--criu", self.criu(), "restore",
                      "--detach", "--image-path", str(image / "image"), "--work-path",
                      str(work), "-b", str(self.bundles / cid), cid], devnull=True)]

    def start(self, cid):
        # A detached runc/crun container keeps the caller's stdio: /dev/null, not a pipe.
        return [Step(self.r("run", "-d", "-b", str(self.bundles / cid), cid), devnull=True)]

    def teardown(self, cid):
        return [Step(self.r("kill", cid, "KILL")), Step(self.r("delete", cid), retry=True)]

    def stopped(self, cid):
        super().stopped(cid)
        shutil.rmtree(self.bundles / cid, ignore_errors=True)

    def exec(self, cid):
        return [Step(self.r("exec", cid, "true"))]

    def pause_resume(self, cid):
        return [Step(self.r("pause", cid)), Step(self.r("resume", cid))]

    def ps(self, cid):
        return [Step(self.r("ps", cid))]

    def get(self, cid):
        return [Step(self.r("state", cid))]

    def list(self):
        return [Step(self.r("list"))]

    def cleanup(self):
        if self.root.is_dir():
            runc_sweep(self.binary, self.root, self.binary)


class CtrPeer(Peer):
    name = "ctr"
    has_monitor = True

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.dir = ctx.tmp / "containerd"
        self.sock = self.dir / "containerd.sock"
        self.ns = ctx.tag
        self.base = ["ctr", "-a", str(self.sock), "-n", self.ns]
        self.proc: subprocess.Popen | None = None
        self.exec_n = 0

    def setup(self) -> None:
        for b in ("containerd", "ctr", "containerd-shim-runc-v2"):
            if shutil.which(b, path=SYS_PATH) is None:
                self.status = f"unavailable ({b} not installed)"
                return
        self.dir.mkdir(parents=True, exist_ok=True)
        # containerd 1.6 hard-codes shim sockets under /run/containerd/s
        self.ctx.ensure_dir("/run/containerd")
        cfg = self.dir / "config.toml"
        cfg.write_text(f"""version = 2
root = "{self.dir / 'root'}"
state = "{self.dir / 'state'}"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "{self.sock}"

[ttrpc]
  address = "{self.sock}.ttrpc"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "{self.dir / 'opt'}"
""")
        logf = open(self.dir / "containerd.log", "wb")  # noqa: SIM115 (handed to Popen)
        self.proc = subprocess.Popen(["containerd", "--config", str(cfg)],
                                     stdin=subprocess.DEVNULL, stdout=logf, stderr=logf,
                                     env=ENV, start_new_session=True)
        logf.close()
        self.ctx.record_pid(self.proc.pid, "containerd")
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                self.status = f"unavailable (containerd exited {self.proc.returncode}, " \
                              f"see {self.dir / 'containerd.log'})"
                return
            if quiet([*self.base, "version"], timeout=5).returncode == 0:
                break
            if time.monotonic() > deadline:
                self.status = "unavailable (containerd did not answer in 30 s)"
                return
            time.sleep(0.1)
        cp = quiet([*self.base, "images", "import", "--base-name", "localhost/busybox",
                    str(self.ctx.archive)], timeout=120)
        if cp.returncode != 0:
            self.status = f"unavailable (image import failed: {describe_failure(cp)})"
            return
        probe = f"{self.ctx.tag}-probe"
        err = self.start_quiet(probe)
        if err is not None:
            self.status = f"unavailable ({err})"
            return
        self.teardown_quiet([probe])

    def start(self, cid):
        return [Step([*self.base, "run", "-d", IMAGE, cid, *SLEEP])]

    def teardown(self, cid):
        # task rm -f = kill SIGKILL, wait for the exit, delete (no kill/delete race)
        return [Step([*self.base, "task", "rm", "-f", cid]),
                Step([*self.base, "container", "rm", cid])]

    def teardown_many(self, cids):
        return [Step([*self.base, "task", "rm", "-f", *cids]),
                Step([*self.base, "container", "rm", *cids])]

    def exec(self, cid):
        self.exec_n += 1
        return [Step([*self.base, "task", "exec", "--exec-id", f"e{self.exec_n}", cid, "true"])]

    def pause_resume(self, cid):
        return [Step([*self.base, "task", "pause", cid]), Step([*self.base, "task", "resume", cid])]

    def ps(self, cid):
        return [Step([*self.base, "task", "ps", cid])]

    def get(self, cid):
        raise Unavailable("n/a (ctr has no single-task get)")

    def list(self):
        return [Step([*self.base, "task", "ls"])]

    def shim_pids(self) -> dict[str, int]:
        """containerd-shim-runc-v2 of our namespace, by `-namespace NS -id ID` in cmdline."""
        out = {}
        for pid in all_pids():
            argv = read_cmdline(pid)
            if len(argv) < 5 or not argv[0].endswith("containerd-shim-runc-v2"):
                continue
            try:
                ns = argv[argv.index("-namespace") + 1]
                cid = argv[argv.index("-id") + 1]
            except (ValueError, IndexError):
                continue
            if ns == self.ns and str(self.sock) in argv:
                out[cid] = pid
        return out

    def monitor_pid(self, cid):
        return self.shim_pids().get(cid)

    def cleanup(self):
        if self.proc is not None and self.proc.poll() is None:
            tasks = quiet([*self.base, "task", "ls", "-q"]).stdout.decode().split()
            if tasks:
                log(f"cleanup: ctr task rm -f {len(tasks)} task(s)")
                for i in range(0, len(tasks), 100):
                    quiet([*self.base, "task", "rm", "-f", *tasks[i:i + 100]], timeout=300)
            conts = quiet([*self.base, "container", "ls", "-q"]).stdout.decode().split()
            for i in range(0, len(conts), 100):
                quiet([*self.base, "container", "rm", *conts[i:i + 100]], timeout=120)
        shims = list(self.shim_pids().values())
        if self.proc is not None:
            if self.proc.poll() is None:
                log(f"cleanup: stopping containerd (pid {self.proc.pid})")
                self.proc.terminate()
                try:
                    self.proc.wait(10)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait(5)
            self.proc = None
        # shims by pid: those naming our socket
        shims += [p for p in all_pids() if str(self.sock) in read_cmdline(p)]
        kill_pids(shims, "containerd shims")
        runc_root = Path("/run/containerd/runc") / self.ns
        if runc_root.is_dir():
            runc_sweep("runc", runc_root, "containerd shim runc root")
            shutil.rmtree(runc_root, ignore_errors=True)


class PodmanPeer(Peer):
    name = "podman"
    has_monitor = True

    def __init__(self, ctx: Context) -> None:
        super().__init__(ctx)
        self.dir = ctx.tmp / "podman"
        # runc keeps podman's container state in its default root (/run/runc): podman's
        # exit command (`podman container cleanup`, run by conmon) does not pass
        # --runtime-flag, so a private runc root would leave stale state behind. The cleanup
        # sweeps /run/runc for bundles under our podman root only.
        self.runc_root = Path("/run/runc")
        self.base = ["podman", "--root", str(self.dir / "root"),
                     "--runroot", str(self.dir / "runroot"), "--tmpdir", str(self.dir / "tmp"),
                     "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                     "--runtime", "runc", "--network-config-dir", str(self.dir / "networks")]
        self.full_ids: dict[str, str] = {}

    def setup(self) -> None:
        for b in ("podman", "conmon", "runc"):
            if shutil.which(b, path=SYS_PATH) is None:
                self.status = f"unavailable ({b} not installed)"
                return
        for d in ("root", "runroot", "tmp", "networks"):
            (self.dir / d).mkdir(parents=True, exist_ok=True)
        cp = quiet([*self.base, "load", "-i", str(self.ctx.archive)], timeout=180)
        if cp.returncode != 0:
            self.status = f"unavailable (podman load failed: {describe_failure(cp)})"
            return
        probe = f"{self.ctx.tag}-probe"
        err = self.start_quiet(probe)
        if err is not None:
            self.status = f"unavailable ({err})"
            return
        self.teardown_quiet([probe])

    def start(self, cid):
        # crun (podman's default) refuses the hybrid cgroup layout: --runtime runc (in base)
        return [Step([*self.base, "run", "-d", "--network", "none",
                      "--ulimit", "nofile=20000:20000", "--ulimit", "nproc=32768:32768",
                      "--name", cid, IMAGE, *SLEEP])]

    def started(self, cid, results):
        super().started(cid, results)
        full = results[-1].stdout.decode().strip().splitlines()
        if full:
            self.full_ids[cid] = full[-1].strip()

    def teardown(self, cid):
        return [Step([*self.base, "rm", "-f", "-t", "0", cid])]

    def teardown_many(self, cids):
        return [Step([*self.base, "rm", "-f", "-t", "0", *cids])]

    def exec(self, cid):
        return [Step([*self.base, "exec", cid, "true"])]

    def pause_resume(self, cid):
        return [Step([*self.base, "pause", cid]), Step([*self.base, "unpause", cid])]

    def ps(self, cid):
        return [Step([*self.base, "top", cid])]

    def get(self, cid):
        return [Step([*self.base, "container", "inspect", cid])]

    def list(self):
        return [Step([*self.base, "ps"])]

    def monitor_pid(self, cid):
        full = self.full_ids.get(cid)
        if not full:
            return None
        for pid in all_pids():
            argv = read_cmdline(pid)
            if argv and argv[0].endswith("conmon") and "-c" in argv:
                i = argv.index("-c")
                if i + 1 < len(argv) and argv[i + 1] == full:
                    return pid
        return None

    def cleanup(self):
        if not (self.dir / "root").is_dir():
            return
        names = quiet([*self.base, "ps", "-a", "--format", "{{.ID}}"]).stdout.decode().split()
        if names:
            log(f"cleanup: podman rm -f {len(names)} container(s)")
            for i in range(0, len(names), 100):
                quiet([*self.base, "rm", "-f", "-t", "0", *names[i:i + 100]], timeout=300)
        # conmon (and anything else) naming our podman dirs, by pid
        kill_pids([p for p in all_pids() if str(self.dir) in " ".join(read_cmdline(p))],
                  "podman conmon")
        runc_sweep("runc", self.runc_root, "podman containers in runc's default root",
                   bundle_prefix=self.dir)


class Context:
    def __init__(self, tmp: Path, tag: str) -> None:
        self.tmp = tmp
        self.tag = tag
        self.rootfs = tmp / "busybox" / "rootfs"
        self.archive = tmp / "busybox-oci.tar"
        self.pids: list[tuple[int, str]] = []
        self.criu = ""       # the CRIU pytasks finds (`pytasks --version`), for bare runc
        self.criu_why = "no CRIU found by pytasks"
        self.host_before = {p: os.path.lexists(p) for p in HOST_PATHS}
        self.watched_before = {d: set(os.listdir(d)) if os.path.isdir(d) else set()
                               for d in WATCHED_DIRS}
        self.cgroup_before = {h: set(os.listdir(CGROUP_FS / h)) for h in cgroup_hierarchies()}

    def ensure_dir(self, path: str) -> None:
        os.makedirs(path, exist_ok=True)

    def record_pid(self, pid: int, what: str) -> None:
        self.pids.append((pid, what))


def cgroup_hierarchies() -> list[str]:
    try:
        return sorted(h for h in os.listdir(CGROUP_FS) if (CGROUP_FS / h).is_dir()
                      and not os.path.islink(CGROUP_FS / h))
    except OSError:
        return []


# --------------------------------------------------------------------------------------------
# measurement


class Result:
    def __init__(self, peer: str) -> None:
        self.peer = peer
        self.samples: list[float] = []
        self.errors: list[str] = []
        self.status = "ok"   # ok | unavailable (...) | n/a ... | failed: ...
        self.consecutive_errors = 0

    @property
    def active(self) -> bool:
        return self.status == "ok"

    def summary(self) -> dict:
        d: dict = {"status": self.status}
        if self.samples:
            d.update(median=round(statistics.median(self.samples), 2),
                     min=round(min(self.samples), 2), max=round(max(self.samples), 2),
                     n=len(self.samples), samples=[round(s, 2) for s in self.samples])
            if self.status != "ok":
                d["status"] = "ok"
                d["note"] = self.status
        elif self.status == "ok" and self.errors:
            d["status"] = f"failed: {self.errors[0]}"
        if self.errors:
            d["errors"] = self.errors[:5]
            d["error_count"] = len(self.errors)
        return d


class Trial:
    """One peer's turn in a round: untimed pre, timed steps, untimed post(ok)."""

    def __init__(self, steps: list[Step], pre: Callable[[], None] | None = None,
                 post: Callable[[bool, list], None] | None = None) -> None:
        self.steps, self.pre, self.post = steps, pre, post


class Bench:
    def __init__(self, args: argparse.Namespace, ctx: Context, peers: dict[str, Peer]) -> None:
        self.args = args
        self.ctx = ctx
        self.peers = peers
        self.rows: list[dict] = []
        self.memory: list[dict] = []
        self.startup: dict | None = None
        self.api: dict | None = None
        self.counter = 0

    def new_id(self, peer: str, what: str) -> str:
        self.counter += 1
        return f"{peer[:2]}-{what}-{self.counter}"

    def interleave(self, key: str, label: str, makers: dict[str, Callable[[], Trial]],
                   rounds: int, warmup: int, floor_calls: int = 0, light: bool = False) -> dict:
        results = {name: Result(name) for name in makers}
        for name in makers:
            peer = self.peers.get(name)
            if peer is not None and not peer.ok:
                results[name].status = peer.status
        log(f"{label}: {rounds} round(s) (+{warmup} warm-up), peers: "
            + ", ".join(n for n in makers if results[n].active))
        for rnd in range(-warmup, rounds):
            for name, make in makers.items():
                res = results[name]
                if not res.active:
                    continue
                try:
                    trial = make()
                    if trial.pre:
                        trial.pre()
                    ms, err, out = timed(trial.steps)
                except Unavailable as e:
                    res.status = str(e)
                    continue
                except PreFailed as e:
                    ms, err, out = 0.0, str(e), []
                    trial.post = None
                if trial.post:
                    try:
                        trial.post(err is None, out)
                    except Unavailable:
                        pass
                if err is None:
                    res.consecutive_errors = 0
                    if rnd >= 0:
                        res.samples.append(ms)
                else:
                    res.errors.append(err)
                    res.consecutive_errors += 1
                    log(f"  {name}: {err}")
                    if res.consecutive_errors >= 4:
                        res.status = f"failed: {err}"
        row = {"op": key, "label": label, "unit": "ms", "light": light,
               "floor_calls": floor_calls,
               "peers": {n: r.summary() for n, r in results.items()}}
        self.add_ratios(row)
        self.rows.append(row)
        self.print_row(row)
        return row

    @staticmethod
    def add_ratios(row: dict) -> None:
        peers = row["peers"]
        mine = peers.get("pytasks", {}).get("median")
        ratios = {}
        for n, d in peers.items():
            if n in ("pytasks", FLOOR) or mine is None or not d.get("median"):
                continue
            ratios[n] = round(mine / d["median"], 2)
        row["ratios"] = ratios
        floor = peers.get(FLOOR, {}).get("median")
        if mine is not None and floor is not None:
            row["pytasks_minus_floor_ms"] = round(mine - floor, 2)

    def print_row(self, row: dict) -> None:
        parts = []
        for n, d in row["peers"].items():
            if "median" in d:
                parts.append(f"{n} {d['median']:.1f}")
            else:
                parts.append(f"{n} {d['status']}")
        log(f"  => {row['label']}: " + "; ".join(parts)
            + ("; ratios " + ", ".join(f"pytasks/{k} {v}" for k, v in row["ratios"].items())
               if row["ratios"] else ""))

    def usable(self) -> list[Peer]:
        return [self.peers[n] for n in PEER_ORDER if n in self.peers]

    def floor_maker(self, calls: int) -> Callable[[], Trial]:
        steps = [Step([str(VENV_PY), "-c", "import click"]) for _ in range(calls)]
        return lambda: Trial(steps)

    # ---- operations ------------------------------------------------------------------------

    def op_startup(self) -> None:
        base = [str(PYTASKS), "--root", str(self.peers["pytasks"].root),
                "--state", str(self.peers["pytasks"].state), "-n", self.ctx.tag]
        cmds = {
            "pytasks --help": [str(PYTASKS), "--help"],
            "pytasks list -q": [*base, "list", "-q"],
            "python -c pass": [str(VENV_PY), "-c", "pass"],
            "python -c 'import click'": [str(VENV_PY), "-c", "import click"],
        }
        makers = {k: (lambda v=v: Trial([Step(v)])) for k, v in cmds.items()}
        row = self.interleave("startup", "CLI start-up", makers, self.args.rounds,
                              self.args.warmup)
        self.rows.remove(row)
        self.startup = row

    def op_run_d(self) -> None:
        def maker(peer: Peer) -> Callable[[], Trial]:
            def make() -> Trial:
                cid = self.new_id(peer.name, "run")
                steps = peer.start(cid)

                def post(ok: bool, out: list) -> None:
                    if ok:
                        peer.started(cid, out)
                    peer.teardown_quiet([cid])
                return Trial(steps, pre=lambda: peer.prepare(cid), post=post)
            return make
        self.interleave("run-d", "run -d (sleep)",
                        {p.name: maker(p) for p in self.usable()},
                        self.args.rounds, self.args.warmup)

    def op_teardown(self) -> None:
        def maker(peer: Peer) -> Callable[[], Trial]:
            def make() -> Trial:
                cid = self.new_id(peer.name, "td")
                steps = peer.teardown(cid)

                def pre() -> None:
                    err = peer.start_quiet(cid)
                    if err:
                        raise PreFailed(f"untimed start failed: {err}")

                def post(ok: bool, out: list) -> None:
                    if ok:
                        peer.stopped(cid)
                return Trial(steps, pre=pre, post=post)
            return make
        self.interleave("teardown", "teardown (kill + delete)",
                        {p.name: maker(p) for p in self.usable()},
                        self.args.rounds, self.args.warmup)

    def ensure_targets(self) -> dict[str, str]:
        if getattr(self, "_targets", None) is None:
            self._targets = {}
            for p in self.usable():
                if not p.ok:
                    continue
                cid = f"{p.name[:2]}-target"
                err = p.start_quiet(cid)
                if err:
                    log(f"  {p.name}: could not start the target task: {err}")
                else:
                    self._targets[p.name] = cid
        return self._targets

    def drop_targets(self) -> None:
        for name, cid in (getattr(self, "_targets", None) or {}).items():
            err = self.peers[name].teardown_quiet([cid])
            if err:
                log(f"  {name}: target teardown failed: {err}")
        self._targets = None

    def light_op(self, key: str, label: str, fn: str, calls: int) -> None:
        targets = self.ensure_targets()
        makers: dict[str, Callable[[], Trial]] = {}
        for p in self.usable():
            cid = targets.get(p.name)
            if cid is None:
                makers[p.name] = self._unavailable_maker(
                    p.status if not p.ok else "failed: no target task")
            else:
                makers[p.name] = (lambda p=p, cid=cid: Trial(getattr(p, fn)(cid)))
        makers[FLOOR] = self.floor_maker(calls)
        self.interleave(key, label, makers, self.args.rounds, self.args.warmup,
                        floor_calls=calls, light=fn != "exec")

    @staticmethod
    def _unavailable_maker(reason: str) -> Callable[[], Trial]:
        def make() -> Trial:
            raise Unavailable(reason)
        return make

    def op_exec(self) -> None:
        self.light_op("exec", "exec true (attached)", "exec", 1)

    def op_pause(self) -> None:
        self.light_op("pause-resume", "pause + resume", "pause_resume", 2)

    def op_ps(self) -> None:
        self.light_op("ps", "ps", "ps", 1)

    def op_get(self) -> None:
        self.light_op("get", "get (one task)", "get", 1)

    def op_api(self) -> None:
        """The light operations through the Python API (TasksService in-process)."""
        targets = self.ensure_targets()
        peer = self.peers["pytasks"]
        cid = targets.get("pytasks")
        if cid is None:
            self.api = {"status": "unavailable (no pytasks target task)"}
            return
        rounds = max(self.args.rounds, 20)
        cp = sh([str(VENV_PY), "-c", API_PROBE, str(peer.root), str(peer.state), peer.ns, cid,
                 str(rounds)], timeout=300)
        try:
            data = json.loads(cp.stdout.decode().strip().splitlines()[-1])
        except (ValueError, IndexError):
            self.api = {"status": f"failed: {describe_failure(cp)}"}
            log(f"api: {self.api['status']}")
            return
        out = {"status": "ok", "rounds": rounds, "calls": {}}
        for name, samples in data.items():
            if isinstance(samples, str):
                out["calls"][name] = {"status": samples}
            else:
                out["calls"][name] = {"status": "ok",
                                      "median": round(statistics.median(samples), 3),
                                      "min": round(min(samples), 3),
                                      "max": round(max(samples), 3), "n": len(samples)}
        self.api = out
        log("api: " + "; ".join(f"{k} {v.get('median', v['status'])}"
                                for k, v in out["calls"].items()))

    def op_population(self, list_levels: list[int], mem_levels: list[int]) -> None:
        """list with N running tasks, and monitor memory with N tasks (shared population)."""
        self.drop_targets()
        peers = [p for p in self.usable() if p.ok]
        for p in peers:   # start from an empty namespace
            left = p.leftover_ids()
            if left:
                log(f"  {p.name}: removing {len(left)} leftover task(s) before list")
                p.teardown_quiet(left)
        pop: dict[str, list[str]] = {p.name: [] for p in peers}
        failed: dict[str, str] = {}
        for level in sorted(set(list_levels) | set(mem_levels)):
            for p in peers:
                if p.name in failed:
                    continue
                t = time.monotonic()
                errors = 0
                while len(pop[p.name]) < level:
                    cid = self.new_id(p.name, "pop")
                    err = p.start_quiet(cid)
                    if err:
                        errors += 1
                        log(f"  {p.name}: start failed while populating: {err}")
                        if errors >= 3:
                            failed[p.name] = f"failed: could not start {level} tasks: {err}"
                            break
                    else:
                        pop[p.name].append(cid)
                if len(pop[p.name]) >= level and level:
                    log(f"  {p.name}: {level} tasks running "
                        f"(+{time.monotonic() - t:.1f}s to populate)")
            if level in list_levels:
                makers = {}
                for p in self.usable():
                    if not p.ok or p.name in failed:
                        makers[p.name] = self._unavailable_maker(
                            p.status if not p.ok else failed[p.name])
                    else:
                        makers[p.name] = (lambda p=p: Trial(p.list()))
                makers[FLOOR] = self.floor_maker(1)
                self.interleave(f"list-{level}", f"list ({level} tasks)", makers,
                                self.args.rounds, self.args.warmup, floor_calls=1, light=True)
            if level in mem_levels:
                self.measure_memory(level, pop, failed)
        # tear the population down, timing it (one call per CLI where it takes several ids)
        n = max(len(v) for v in pop.values()) if pop else 0
        row = {"op": f"teardown-all-{n}",
               "label": f"teardown of {n} tasks, batched (1 sample)",
               "unit": "ms", "light": False, "floor_calls": 0, "peers": {}, "single": True}
        for p in self.usable():
            ids = pop.get(p.name)
            if not p.ok:
                row["peers"][p.name] = {"status": p.status}
                continue
            if not ids:
                row["peers"][p.name] = {"status": failed.get(p.name, "n/a")}
                continue
            try:
                ms, err, _ = timed(p.teardown_many(ids))
            except Unavailable as e:
                row["peers"][p.name] = {"status": str(e)}
                p.teardown_quiet(ids)
                continue
            for c in ids:
                p.stopped(c)
            if err:
                row["peers"][p.name] = {"status": f"failed: {err}"}
                left = p.leftover_ids()
                if left:
                    p.teardown_quiet(left)
            else:
                row["peers"][p.name] = {"status": "ok", "median": round(ms, 2),
                                        "min": round(ms, 2), "max": round(ms, 2), "n": 1,
                                        "samples": [round(ms, 2)]}
            log(f"  {p.name}: teardown of {len(ids)} tasks: "
                + (f"{ms:.0f} ms" if not err else str(err)))
        if n:
            self.add_ratios(row)
            self.rows.append(row)

    def measure_memory(self, level: int, pop: dict[str, list[str]],
                       failed: dict[str, str]) -> None:
        names = {"pytasks": "pytasks monitor", "ctr": "containerd-shim-runc-v2",
                 "podman": "conmon"}
        for p in self.usable():
            if not p.has_monitor:
                continue
            entry = {"monitor": names.get(p.name, p.name), "peer": p.name, "tasks": level}
            if not p.ok or p.name in failed:
                entry["status"] = p.status if not p.ok else failed[p.name]
                self.memory.append(entry)
                continue
            vals = []
            missing = 0
            for cid in pop[p.name][:level]:
                pid = p.monitor_pid(cid)
                m = smaps_rollup(pid) if pid else None
                if m is None:
                    missing += 1
                else:
                    vals.append(m)
            if not vals:
                entry["status"] = "failed: no monitor process found"
            else:
                k = len(vals)
                entry.update(
                    status="ok", found=k, missing=missing,
                    rss_mib=round(sum(v["rss"] for v in vals) / k / MIB, 2),
                    pss_mib=round(sum(v["pss"] for v in vals) / k / MIB, 2),
                    private_mib=round(sum(v["private"] for v in vals) / k / MIB, 2),
                    total_pss_mib=round(sum(v["pss"] for v in vals) / MIB, 2))
            self.memory.append(entry)
            log(f"  memory {entry['monitor']} x{level}: "
                + (f"RSS {entry['rss_mib']} PSS {entry['pss_mib']} private "
                   f"{entry['private_mib']} MiB/task" if entry["status"] == "ok"
                   else entry["status"]))

    def op_start50(self, count: int, rounds: int) -> None:
        starts = {p.name: Result(p.name) for p in self.usable()}
        downs = {p.name: Result(p.name) for p in self.usable()}
        for p in self.usable():
            if not p.ok:
                starts[p.name].status = downs[p.name].status = p.status
        log(f"{count} sequential starts + teardowns: {rounds} round(s)")
        for _ in range(rounds):
            for p in self.usable():
                rs, rd = starts[p.name], downs[p.name]
                if not rs.active:
                    continue
                ids, total, errs = [], 0.0, []
                for _i in range(count):
                    cid = self.new_id(p.name, "s50")
                    p.prepare(cid)
                    try:
                        ms, err, out = timed(p.start(cid))
                    except Unavailable as e:
                        rs.status = rd.status = str(e)
                        break
                    total += ms
                    if err:
                        errs.append(err)
                    else:
                        p.started(cid, out)
                        ids.append(cid)
                if not rs.active:
                    continue
                if errs:
                    rs.errors.extend(errs)
                    log(f"  {p.name}: {len(errs)} start error(s): {errs[0]}")
                else:
                    rs.samples.append(total)
                total, derrs = 0.0, []
                for cid in ids:
                    ms, err, _ = timed(p.teardown(cid))
                    total += ms
                    if err:
                        derrs.append(err)
                    p.stopped(cid)
                if derrs:
                    rd.errors.extend(derrs)
                    log(f"  {p.name}: {len(derrs)} teardown error(s): {derrs[0]}")
                    p.teardown_quiet(p.leftover_ids())
                elif ids:
                    rd.samples.append(total)
                start_ms = f"{rs.samples[-1]:.0f} ms" if rs.samples and not errs else "errors"
                log(f"  {p.name}: {len(ids)} starts {start_ms}, teardowns {total:.0f} ms")
        for key, label, res in (
                ("start50", f"{count} sequential run -d (total, {rounds} rounds)", starts),
                ("teardown50", f"{count} sequential teardowns (total, {rounds} rounds)", downs)):
            row = {"op": key, "label": label, "unit": "ms", "light": False, "floor_calls": 0,
                   "peers": {n: r.summary() for n, r in res.items()}}
            self.add_ratios(row)
            self.rows.append(row)
            self.print_row(row)


    # ---- checkpoint and restore ----------------------------------------------------------

    def ckpt_targets(self, workload: str, argv: list[str], resident: int) -> dict[str, str]:
        """One running task per peer for the workload, ready (counting, or holding its
        memory); peers that cannot are left out (their rows say why)."""
        targets: dict[str, str] = {}
        self.ckpt_why: dict[str, str] = {}
        for p in self.usable():
            if type(p).ckpt_start is Peer.ckpt_start:  # no way to the same CRIU
                self.ckpt_why[p.name] = OTHER_CRIU
                continue
            if not p.ok:
                self.ckpt_why[p.name] = p.status
                continue
            cid = f"{p.name[:2]}-ck-{workload}"
            try:
                err = p.ckpt_start(cid, argv)
            except Unavailable as e:
                self.ckpt_why[p.name] = str(e)
                continue
            if err:
                log(f"  {p.name}: could not start the {workload} task: {err}")
                self.ckpt_why[p.name] = f"failed: no task to checkpoint: {err}"
                continue
            targets[p.name] = cid
        deadline = time.monotonic() + 60
        for name, cid in targets.items():
            pid = self.peers[name].init_pid(cid)
            while resident and pid and time.monotonic() < deadline:
                try:
                    status = Path(f"/proc/{pid}/status").read_text()
                except OSError:
                    break
                rss = next((int(line.split()[1]) * 1024 for line in status.splitlines()
                            if line.startswith("VmRSS:")), 0)
                if rss >= resident:
                    break
                time.sleep(0.1)
        time.sleep(0.5)  # the counter has counted
        return targets

    def ckpt_makers(self, targets: dict[str, str], fn: str, workload: str
                    ) -> dict[str, Callable[[], Trial]]:
        makers: dict[str, Callable[[], Trial]] = {}
        for p in self.usable():
            cid = targets.get(p.name)
            if cid is None:
                makers[p.name] = self._unavailable_maker(
                    self.ckpt_why.get(p.name, "failed: no task to checkpoint"))
            elif fn == "checkpoint":
                def make(p: Peer = p, cid: str = cid) -> Trial:
                    name = self.new_id(p.name, f"ck-{workload}")
                    return Trial(p.checkpoint(cid, name),
                                 post=lambda ok, out, name=name: p.drop_checkpoint(name))
                makers[p.name] = make
            else:
                def make_restore(p: Peer = p, source: str = cid) -> Trial:
                    new = self.new_id(p.name, f"rs-{workload}")

                    def post(ok: bool, out: list) -> None:
                        if ok:
                            p.started(new, out)
                        p.teardown_quiet([new])
                    return Trial(p.restore(f"src-{workload}", new), post=post)
                makers[p.name] = make_restore
        return makers

    def ckpt_row(self, key: str, label: str, targets: dict[str, str], fn: str,
                 workload: str) -> None:
        self.interleave(key, label, self.ckpt_makers(targets, fn, workload),
                        self.args.rounds, self.args.warmup)
        # A peer that cannot use the same CRIU says so, installed or not.
        for name, why in self.ckpt_why.items():
            if why == OTHER_CRIU:
                self.rows[-1]["peers"][name] = {"status": why}

    def op_checkpoint_restore(self, ops: list[str]) -> None:
        """checkpoint (leaving the task running) and restore (into a new container) of each
        workload, pytasks against bare runc with the same CRIU."""
        self.drop_targets()
        for workload, label, argv, resident in CKPT_WORKLOADS:
            targets = self.ckpt_targets(workload, argv, resident)
            try:
                if "checkpoint" in ops:
                    self.ckpt_row(f"checkpoint-{workload}", f"checkpoint ({label})", targets,
                                  "checkpoint", workload)
                if "restore" in ops:
                    for name, cid in list(targets.items()):
                        p = self.peers[name]
                        _ms, err, _ = timed(p.checkpoint(cid, f"src-{workload}"))
                        if err:
                            log(f"  {name}: untimed checkpoint for restore failed: {err}")
                            self.ckpt_why[name] = f"failed: checkpoint to restore: {err}"
                            del targets[name]
                    self.ckpt_row(f"restore-{workload}", f"restore ({label})", targets,
                                  "restore", workload)
                    for name in targets:
                        self.peers[name].drop_checkpoint(f"src-{workload}")
            finally:
                for name, cid in targets.items():
                    self.peers[name].teardown_quiet([cid])


API_PROBE = r"""
import json, sys, time
root, state, ns, cid, rounds = sys.argv[1:6]
rounds = int(rounds)
from pytasks.state.layout import Layout
from pytasks.service import TasksService
from pytasks.api.containerd.services.tasks.v1 import tasks_pb2 as t
svc = TasksService(Layout.of(root, state, ns))
def method(*names):
    for n in names:
        m = getattr(svc, n, None)
        if m is not None:
            return m
    return None
calls = {
  "list": [(("list",), lambda: t.ListTasksRequest())],
  "get": [(("get",), lambda: t.GetTaskRequest(container_id=cid))],
  "ps": [(("list_processes", "list_pids", "listpids", "ps"),
          lambda: t.ListProcessesRequest(container_id=cid))],
  "pause+resume": [(("pause", "pause_task"), lambda: t.PauseTaskRequest(container_id=cid)),
                   (("resume", "resume_task"), lambda: t.ResumeTaskRequest(container_id=cid))],
}
out = {}
for name, seq in calls.items():
    fns = [(method(*names), req) for names, req in seq]
    if any(f is None for f, _ in fns):
        out[name] = "unavailable (no service method yet)"
        continue
    samples = []
    try:
        for i in range(rounds + 1):
            t0 = time.perf_counter()
            for f, req in fns:
                f(req())
            ms = (time.perf_counter() - t0) * 1000.0
            if i:
                samples.append(ms)
        out[name] = samples
    except Exception as e:
        msg = f"{type(e).__name__}: {e}"
        out[name] = ("unavailable (" if "nimplemented" in msg else "failed: (") + msg[:200] + ")"
print(json.dumps(out))
"""


# --------------------------------------------------------------------------------------------
# reporting


def fmt_cell(d: dict) -> str:
    if "median" in d:
        s = f"{d['median']:.1f} ({d['min']:.1f}-{d['max']:.1f})"
        if d.get("n") == 1:
            s = f"{d['median']:.1f}"
        if d.get("error_count"):
            s += f" [{d['error_count']} err]"
        return s
    st = d.get("status", "")
    if st.startswith("unavailable"):
        return "unavailable"
    if st.startswith("n/a"):
        return "n/a"
    if st.startswith("failed"):
        return "failed"
    return st or "—"


def render(data: dict) -> str:
    lines = []
    rows = data["rows"]
    peers_all = [p for p in PEER_ORDER if any(p in r["peers"] for r in rows)]
    # drop a peer column that has no number anywhere (e.g. crun refused by the host)
    shown = [p for p in peers_all
             if p == "pytasks" or any("median" in r["peers"].get(p, {}) for r in rows)]
    hidden = [p for p in peers_all if p not in shown]
    ratio_cols = [p for p in shown if p != "pytasks"]
    lines.append(f"Medians in ms, (min-max) over {data['meta']['rounds']} interleaved rounds "
                 "unless the row says otherwise; ratio = pytasks median / peer median; floor = "
                 "`python -c 'import click'` on pytasks' interpreter, once per pytasks call.")
    lines.append("")
    head = ["operation"] + shown + ["floor"] + [f"pytasks/{p}" for p in ratio_cols] + \
        ["pytasks over floor"]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|")
    notes: list[str] = []
    for r in rows:
        cells = [r["label"]]
        for p in shown:
            d = r["peers"].get(p)
            cells.append(fmt_cell(d) if d else "—")
            if d and p == "pytasks" and "median" not in d and d.get("status"):
                notes.append(f"{r['label']}: pytasks: {d['status']}")
            elif d and "median" not in d and d.get("status", "").startswith("failed"):
                notes.append(f"{r['label']}: {p}: {d['status']}")
            elif d and d.get("error_count"):
                notes.append(f"{r['label']}: {p}: {d['error_count']} failed call(s), e.g. "
                             f"{d['errors'][0]}")
        fd = r["peers"].get(FLOOR)
        cells.append(f"{fd['median']:.1f}" if fd and "median" in fd else "—")
        for p in ratio_cols:
            v = r["ratios"].get(p)
            cells.append(f"{v:.2f}" if v is not None else "—")
        dm = r.get("pytasks_minus_floor_ms")
        cells.append(f"{dm:+.1f}" if dm is not None else "—")
        lines.append("| " + " | ".join(cells) + " |")
    for p in hidden:
        sts = {r["peers"][p].get("status") for r in rows if p in r["peers"]}
        notes.insert(0, f"{p}: " + "; ".join(sorted(s for s in sts if s)))
    if data.get("startup"):
        s = data["startup"]["peers"]
        lines += ["", "CLI start-up (ms, median (min-max)):", "",
                  "| command | median (min-max) | over `python -c pass` | over `import click` |",
                  "|---|---:|---:|---:|"]
        base = s.get("python -c pass", {}).get("median")
        clk = s.get("python -c 'import click'", {}).get("median")
        for name, d in s.items():
            m = d.get("median")
            lines.append(f"| `{name}` | {fmt_cell(d)} | "
                         + (f"{m - base:+.1f}" if m is not None and base is not None else "—")
                         + " | "
                         + (f"{m - clk:+.1f}" if m is not None and clk is not None else "—")
                         + " |")
    if data.get("memory"):
        lines += ["", "Per-task monitor memory (MiB per task, mean over the tasks; "
                  "from /proc/PID/smaps_rollup):", "",
                  "| monitor | tasks | RSS | PSS | private | PSS total |",
                  "|---|---:|---:|---:|---:|---:|"]
        for m in data["memory"]:
            if m.get("status") == "ok":
                lines.append(f"| {m['monitor']} | {m['tasks']} | {m['rss_mib']:.2f} | "
                             f"{m['pss_mib']:.2f} | {m['private_mib']:.2f} | "
                             f"{m['total_pss_mib']:.1f} |")
            else:
                lines.append(f"| {m['monitor']} | {m['tasks']} | {m.get('status')} | | | |")
    api = data.get("api")
    if api:
        lines += ["", "Python API (TasksService in-process; ms per call, median (min-max)) "
                  "against the ctr CLI:", ""]
        if api.get("status") != "ok":
            lines.append(f"API: {api.get('status')}")
        else:
            lines += ["| call | pytasks API | ctr CLI | API/ctr |", "|---|---:|---:|---:|"]
            ctr_for = {"list": "list-0", "get": "get", "ps": "ps", "pause+resume": "pause-resume"}
            by_op = {r["op"]: r for r in rows}
            for name, d in api["calls"].items():
                ctr = None
                if name == "list":
                    # the list row at the smallest measured level
                    cands = [r for r in rows if r["op"].startswith("list-")]
                    if cands:
                        ctr = cands[0]["peers"].get("ctr", {}).get("median")
                else:
                    ctr = by_op.get(ctr_for[name], {}).get("peers", {}).get("ctr", {}) \
                        .get("median")
                if "median" in d:
                    cell = f"{d['median']:.2f} ({d['min']:.2f}-{d['max']:.2f})"
                    ratio = f"{d['median'] / ctr:.2f}" if ctr else "—"
                else:
                    cell, ratio = d["status"], "—"
                lines.append(f"| {name} | {cell} | {f'{ctr:.1f}' if ctr else '—'} | {ratio} |")
    if notes:
        lines += ["", "Notes:"] + [f"- {n}" for n in notes]
    return "\n".join(lines)


def versions() -> dict:
    def first(argv: list[str]) -> str:
        cp = sh(argv, timeout=20)
        text = (cp.stdout or cp.stderr).decode(errors="replace").strip().splitlines()
        return text[0].strip() if text else f"? (exit {cp.returncode})"
    return {
        "pytasks": first([str(PYTASKS), "--version"]),
        "python": first([str(VENV_PY), "-VV"]),
        "runc": first(["runc", "--version"]),
        "crun": first(["crun", "--version"]),
        "containerd": first(["containerd", "--version"]),
        "podman": first(["podman", "--version"]),
        "conmon": first(["conmon", "--version"]),
    }


def find_criu(ctx: Context) -> None:
    """The CRIU pytasks uses (third line of `pytasks --version`: `criu: 4.2.1 (PATH,
    source)`), so that bare runc checkpoints and restores with the very same one."""
    cp = sh([str(PYTASKS), "--version"], timeout=60)
    for line in cp.stdout.decode(errors="replace").splitlines():
        if line.startswith("criu: "):
            text = line[len("criu: "):]
            if text.startswith("none"):
                ctx.criu_why = f"pytasks finds no CRIU: {text}"
            elif "(" in text:
                ctx.criu = text.split("(", 1)[1].split(",", 1)[0].strip()
    log(f"CRIU for pytasks and runc: {ctx.criu or ctx.criu_why}")


def monitor_in_use() -> str:
    """The monitor the measured pytasks starts: "compiled" (the installed default),
    "python" (PYTASKS_MONITOR=python, or no compiled monitor installed), or the binary
    PYTASKS_MONITOR names. Asked of pytasks' own selection (monitor_argv), in the venv."""
    code = ("import sys; from pytasks.monitor import client as c; "
            "a = c.monitor_argv(0, '.')[0]; "
            "print('python' if a == sys.executable else "
            "'compiled' if a == str(c.COMPILED_MONITOR) else a)")
    cp = sh([str(VENV_PY), "-c", code], timeout=60)
    lines = cp.stdout.decode(errors="replace").strip().splitlines()
    if cp.returncode != 0 or not lines:
        return os.environ.get("PYTASKS_MONITOR") or "?"
    return lines[-1]


def commit() -> str:
    """The checkout's commit (read-only git), with '+dirty' when pytasks/ has local edits."""
    head = sh(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], timeout=20)
    if head.returncode != 0:
        return "?"
    dirty = sh(["git", "-C", str(REPO), "status", "--porcelain", "--", "pytasks"], timeout=20)
    return head.stdout.decode().strip() + ("+dirty" if dirty.stdout.strip() else "")


def machine() -> dict:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) // 1024} MiB"
    except OSError:
        pass
    osname = "?"
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                osname = line.split("=", 1)[1].strip('"')
    except OSError:
        pass
    hybrid = (CGROUP_FS / "unified").is_dir()
    return {"hostname": socket.gethostname(), "os": osname, "kernel": platform.release(),
            "cpus": os.cpu_count(), "cpu": cpu, "memory": mem,
            "cgroups": "v1 hybrid (cgroup2 at /sys/fs/cgroup/unified)" if hybrid else
            ("v2" if (CGROUP_FS / "cgroup.controllers").exists() else "v1")}


# --------------------------------------------------------------------------------------------
# cleanup


class Cleaner:
    def __init__(self) -> None:
        self.done = False
        self.ctx: Context | None = None
        self.peers: dict[str, Peer] = {}

    def __call__(self) -> None:
        if self.done:
            return
        self.done = True
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, lambda *_: log("cleanup in progress; signal ignored"))
        ctx = self.ctx
        if ctx is None:
            return
        log("cleanup: start")
        order = ["pytasks", "ctr", "podman", "runc", "crun"]
        for name in order:
            p = self.peers.get(name)
            if p is None:
                continue
            try:
                p.cleanup()
            except Exception as e:  # keep going: the sweeps below catch what is left
                log(f"cleanup: {name}: {type(e).__name__}: {e}")
        try:
            self.sweep(ctx)
        except Exception as e:
            log(f"cleanup: sweep: {type(e).__name__}: {e}")
        log("cleanup: done")

    def sweep(self, ctx: Context) -> None:
        tmp = str(ctx.tmp)
        # 1. processes we started directly (containerd), by recorded pid
        kill_pids([p for p, _ in ctx.pids if tmp in " ".join(read_cmdline(p))], "recorded")
        # 2. any process whose command line names our temp dir (monitors, shims, conmon)
        kill_pids([p for p in all_pids() if tmp in " ".join(read_cmdline(p))], "naming " + tmp)
        # 3. processes in our cgroups (container inits), by pid
        tops = self.cgroup_tops(ctx)
        pids = []
        for h in cgroup_hierarchies():
            for top in tops:
                d = CGROUP_FS / h / top
                if d.is_dir():
                    for procs in d.rglob("cgroup.procs"):
                        try:
                            pids += [int(x) for x in procs.read_text().split()]
                        except (OSError, ValueError):
                            pass
        kill_pids(pids, "in our cgroups")
        # 4. mounts under our temp dir, then the temp dir itself (never through a mount)
        unmount_under(ctx.tmp)
        left = mounts_under(ctx.tmp)
        if left:
            log(f"cleanup: NOT removing {tmp}: still mounted: {left[:5]}")
        elif ctx.tmp.exists():
            shutil.rmtree(ctx.tmp, ignore_errors=True)
        # 5. empty cgroup directories we created
        for h in cgroup_hierarchies():
            for top in tops:
                d = CGROUP_FS / h / top
                if d.is_dir() and top not in ctx.cgroup_before.get(h, set()):
                    for sub in sorted((x for x in d.rglob("*") if x.is_dir()),
                                      key=lambda x: len(str(x)), reverse=True):
                        try:
                            sub.rmdir()
                        except OSError:
                            pass
                    try:
                        d.rmdir()
                    except OSError as e:
                        log(f"cleanup: cgroup {d} left: {e}")
        # 6. host paths a peer created (only if absent before the run)
        for path in sorted(HOST_PATHS, key=len, reverse=True):
            if ctx.host_before.get(path) or not os.path.lexists(path):
                continue
            if mounts_under(Path(path)):
                log(f"cleanup: NOT removing {path}: still has mounts")
                continue
            if os.path.isdir(path) and not os.path.islink(path):
                shutil.rmtree(path, ignore_errors=True)
            else:
                try:
                    os.unlink(path)
                except OSError:
                    pass
            log(f"cleanup: removed {path} (created during the run)")
        # 7. report anything else new in the watched dirs (not removed: may not be ours)
        for d, before in ctx.watched_before.items():
            now = set(os.listdir(d)) if os.path.isdir(d) else set()
            new = sorted(now - before)
            if new:
                log(f"cleanup: note: new in {d} since the start (not ours to remove?): {new}")
        # 8. reap our zombies
        try:
            while os.waitpid(-1, os.WNOHANG)[0] > 0:
                pass
        except ChildProcessError:
            pass

    def cgroup_tops(self, ctx: Context) -> set[str]:
        tops = {f"{ctx.tag}-runc", f"{ctx.tag}-crun", ctx.tag}
        if "libpod_parent" not in set().union(*ctx.cgroup_before.values()):
            tops.add("libpod_parent")
        p = self.peers.get("pytasks")
        if isinstance(p, PytasksPeer):
            tops |= p.cgroup_tops
        return tops


CLEANER = Cleaner()


def on_signal(signum, frame):
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


# --------------------------------------------------------------------------------------------
# main

ALL_OPS = ["startup", "run-d", "teardown", "exec", "pause", "ps", "get", "api", "list", "mem",
           "start50", "checkpoint", "restore"]


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        prog="bench/run",
        description="Benchmark pytasks against runc, crun, ctr (private containerd) and "
                    "podman, interleaved. See bench/README.md.")
    ap.add_argument("--rounds", type=int, default=None,
                    help="interleaved rounds per operation (default 15; --quick: 5)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed warm-up rounds (default 1)")
    ap.add_argument("--ops", default=None,
                    help="comma-separated operations (default: all): " + ",".join(ALL_OPS))
    ap.add_argument("--quick", action="store_true",
                    help="5 rounds, list up to 50 tasks, no start50 (about 1-2 minutes)")
    ap.add_argument("--list-levels", default=None,
                    help="task counts for list (default 0,10,50,200; --quick 0,10,50)")
    ap.add_argument("--batch", type=int, default=50, help="tasks in start50 (default 50)")
    ap.add_argument("--batch-rounds", type=int, default=None,
                    help="rounds of start50 (default 2)")
    ap.add_argument("--peers", default=",".join(PEER_ORDER),
                    help="peers to run (default: all): " + ",".join(PEER_ORDER))
    ap.add_argument("--json", default=str(RESULTS), help=f"results file (default {RESULTS})")
    ap.add_argument("--keep-tmp", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args(argv)
    if a.rounds is None:
        a.rounds = 5 if a.quick else 15
    if a.rounds < 1:
        ap.error("--rounds must be >= 1")
    ops = ALL_OPS if a.ops is None else [o.strip() for o in a.ops.split(",") if o.strip()]
    aliases = {"run": "run-d", "pause-resume": "pause", "memory": "mem", "start": "start50",
               "cli": "startup"}
    ops = [aliases.get(o, o) for o in ops]
    bad = [o for o in ops if o not in ALL_OPS]
    if bad:
        ap.error(f"unknown op(s) {bad}; known: {','.join(ALL_OPS)}")
    if a.quick and a.ops is None:
        ops = [o for o in ops if o != "start50"]
    a.op_list = ops
    if a.list_levels is None:
        a.list_levels = "0,10,50" if a.quick else "0,10,50,200"
    a.levels = sorted({int(x) for x in a.list_levels.split(",") if x.strip()})
    if a.batch_rounds is None:
        a.batch_rounds = 1 if a.quick else 2
    a.peer_list = [p.strip() for p in a.peers.split(",") if p.strip()]
    if "pytasks" not in a.peer_list:
        a.peer_list.insert(0, "pytasks")
    return a


def main(argv: list[str]) -> int:
    args = parse_args(argv)
    if os.geteuid() != 0:
        print("bench: must run as root", file=sys.stderr)
        return 1
    global ENV
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    atexit.register(CLEANER)
    tag = f"ptb{os.getpid()}"
    tmp = Path(tempfile.mkdtemp(prefix="ptbench-", dir="/tmp"))
    SHORTEN.append((str(tmp), "$TMP"))
    ctx = Context(tmp, tag)
    CLEANER.ctx = ctx
    ENV = child_env(tmp)
    started = dt.datetime.now(dt.timezone.utc)
    load_start = os.getloadavg()
    pytasks_commit = commit()
    log(f"temp dir {tmp}, tag {tag}, ops {','.join(args.op_list)}, rounds {args.rounds}")
    try:
        build_rootfs(ctx.rootfs)
        build_oci_archive(ctx.rootfs, ctx.archive)
        peers: dict[str, Peer] = {}
        for name in PEER_ORDER:
            if name not in args.peer_list:
                continue
            peers[name] = {"pytasks": PytasksPeer, "ctr": CtrPeer, "podman": PodmanPeer}.get(
                name, lambda c, n=name: RuncPeer(c, n))(ctx)
        CLEANER.peers = peers
        for p in peers.values():
            log(f"setting up {p.name}")
            try:
                p.setup()
            except Exception as e:
                p.status = f"unavailable (setup: {type(e).__name__}: {e})"
            log(f"  {p.name}: {p.status}")
        if not peers["pytasks"].ok:
            log(f"pytasks itself is {peers['pytasks'].status}")
        else:
            find_criu(ctx)
        bench = Bench(args, ctx, peers)
        ops = args.op_list
        for op in ops:
            if op == "startup":
                bench.op_startup()
            elif op == "run-d":
                bench.op_run_d()
            elif op == "teardown":
                bench.op_teardown()
            elif op == "exec":
                bench.op_exec()
            elif op == "pause":
                bench.op_pause()
            elif op == "ps":
                bench.op_ps()
            elif op == "get":
                bench.op_get()
            elif op == "api":
                bench.op_api()
        bench.drop_targets()
        if "list" in ops or "mem" in ops:
            bench.op_population(args.levels if "list" in ops else [],
                                [1, args.batch] if "mem" in ops else [])
        if "start50" in ops:
            bench.op_start50(args.batch, args.batch_rounds)
        if "checkpoint" in ops or "restore" in ops:
            bench.op_checkpoint_restore(ops)
        finished = dt.datetime.now(dt.timezone.utc)
        data = {
            "meta": {
                "date": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "duration_s": round((finished - started).total_seconds(), 1),
                "command": "bench/run " + " ".join(argv),
                "rounds": args.rounds, "warmup": args.warmup, "ops": ops,
                "list_levels": args.levels, "batch": args.batch,
                "batch_rounds": args.batch_rounds,
                "machine": machine(), "versions": versions(), "pytasks_commit": pytasks_commit,
                "pytasks_monitor": monitor_in_use(),
                "loadavg_start": [round(x, 2) for x in load_start],
                "loadavg_end": [round(x, 2) for x in os.getloadavg()],
                "peers": {n: p.status for n, p in peers.items()},
                "python_env": "children run without PYTHONDONTWRITEBYTECODE/PYTHONUNBUFFERED; "
                              "bytecode cached under the temp dir (PYTHONPYCACHEPREFIX)",
            },
            "rows": bench.rows, "startup": bench.startup, "memory": bench.memory,
            "api": bench.api,
        }
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmpf = out.with_suffix(".json.tmp")
        tmpf.write_text(json.dumps(data, indent=1) + "\n")
        os.replace(tmpf, out)
        m = data["meta"]["machine"]
        print()
        print(f"pytasks benchmark, {data['meta']['date']}, {m['os']}, kernel {m['kernel']}, "
              f"{m['cpus']} CPUs ({m['cpu']}), {m['memory']}, cgroups {m['cgroups']}; "
              f"{data['meta']['duration_s']:.0f} s; pytasks {data['meta']['pytasks_commit']}; "
              f"load average {data['meta']['loadavg_start'][0]} at start, "
              f"{data['meta']['loadavg_end'][0]} at end")
        print()
        print(render(data))
        print()
        print(f"results: {out}")
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        CLEANER()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
