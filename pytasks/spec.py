"""OCI runtime specs: runc's defaults, user overrides, bundles and the host-tools root.

Stdlib only: the task layer and tests import it without the CLI.
"""

from __future__ import annotations

import copy
import json
import os
import posixpath
from collections.abc import Iterable, Sequence

from pytasks.errors import FailedPreconditionError, InvalidArgumentError

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

OCI_VERSION = "1.0.2-dev"  # what runc 1.1.5 writes
DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
DEFAULT_CAPS = ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
ROOTFS = "rootfs"  # root.path relative to the bundle (the task dir) when not given absolutely

# Aliases accepted in --mount (ctr's spelling plus docker's "target").
_MOUNT_KEYS = {
    "type": "type",
    "src": "source",
    "source": "source",
    "dst": "destination",
    "destination": "destination",
    "target": "destination",
    "options": "options",
}

# The host-tools root: an empty skeleton plus read-only binds of the host's /usr and /etc.
_SKELETON_DIRS = ("usr", "etc", "tmp", "proc", "dev", "sys", "run", "root", "home", "var")
_MERGED_USR = ("bin", "sbin", "lib", "lib64")
_OPTIONAL_LINKS = ("lib64",)  # only when the host has /usr/<name>


def default_spec(args: Sequence[str]) -> dict[str, Any]:
    """The spec `runc spec` (runc 1.1.5) writes, with args replaced and two deliberate changes:
    process.terminal is False (a detached task has no pty unless asked for) and
    root.readonly is False (ctr's default; --readonly sets it)."""
    caps = list(DEFAULT_CAPS)
    return {
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": False,  # runc spec: true
            "user": {"uid": 0, "gid": 0},
            "args": list(args),
            "env": [DEFAULT_PATH, "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": list(caps),
                "effective": list(caps),
                "permitted": list(caps),
                "ambient": list(caps),
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": True,
        },
        "root": {"path": ROOTFS, "readonly": False},  # runc spec: readonly true
        "hostname": "runc",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620",
                         "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": False, "access": "rwm"}]},
            # runc 1.1.5's spec has no cgroup namespace; neither do we.
            "namespaces": [{"type": t} for t in ("pid", "network", "ipc", "uts", "mount")],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys",
                "/proc/latency_stats", "/proc/timer_list", "/proc/timer_stats",
                "/proc/sched_debug", "/sys/firmware", "/proc/scsi",
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
            ],
        },
    }


def apply_overrides(
    spec: dict[str, Any],
    *,
    args: Sequence[str] | None = None,
    env: Iterable[str] = (),
    cwd: str | None = None,
    user: str | None = None,
    user_root: str | None = None,
    hostname: str | None = None,
    mounts: Iterable[str] = (),
    readonly: bool | None = None,
    net_host: bool = False,
    terminal: bool = False,
) -> dict[str, Any]:
    """Return a copy of spec with the CLI's overrides applied. None/empty leaves a field alone,
    except terminal, which is always set: it describes how this task's stdio is wired.
    A user given by name is looked up in user_root's /etc/passwd and /etc/group."""
    out = copy.deepcopy(spec)
    process = out.setdefault("process", {})
    if args:
        process["args"] = list(args)
    process["terminal"] = bool(terminal)
    for item in env:
        process["env"] = _set_env(process.get("env") or [], item)
    if cwd is not None:
        if not cwd.startswith("/"):
            raise InvalidArgumentError(f"invalid --cwd {cwd!r}: must be an absolute path")
        process["cwd"] = cwd
    if user is not None:
        from pytasks import accounts

        found = accounts.resolve(user, user_root)
        entry = process.setdefault("user", {})
        entry.update({"uid": found.uid, "gid": found.gid})
        entry.pop("additionalGids", None)  # the image's user's groups are not the new one's
        if found.additional_gids:
            entry["additionalGids"] = list(found.additional_gids)
    if hostname is not None:
        out["hostname"] = hostname
    for text in mounts:
        add_mount(out, parse_mount(text))
    if readonly is not None:
        out.setdefault("root", {})["readonly"] = bool(readonly)
    if net_host:
        linux = out.setdefault("linux", {})
        linux["namespaces"] = [
            ns for ns in linux.get("namespaces") or [] if ns.get("type") != "network"
        ]
    return out


def _set_env(env: list[str], item: str) -> list[str]:
    key, sep, _ = item.partition("=")
    if not sep or not key:
        raise InvalidArgumentError(f"invalid --env {item!r}: expected KEY=VALUE")
    return [e for e in env if e.partition("=")[0] != key] + [item]


def parse_mount(text: str) -> dict[str, Any]:
    """Parse ctr's --mount 'type=T,src=S,dst=D,options=a:b' into an OCI mount."""

    def bad(why: str) -> InvalidArgumentError:
        return InvalidArgumentError(f"invalid --mount {text!r}: {why}")

    try:
        import csv

        fields = next(csv.reader([text]), [])  # csv like ctr, so a value may be "quoted,"
    except csv.Error as exc:
        raise bad(str(exc)) from None
    seen: dict[str, str] = {}
    for field in fields:
        key, sep, value = field.partition("=")
        name = _MOUNT_KEYS.get(key.strip().lower())
        if not sep:
            raise bad(f"expected key=value, got {field!r}")
        if name is None:
            raise bad(f"unknown key {key!r} (type, src, dst, options)")
        if name in seen:
            raise bad(f"{key!r} given twice")
        if not value:
            raise bad(f"empty value for {key!r}")
        seen[name] = value
    dst = seen.get("destination")
    if dst is None:
        raise bad("missing dst")
    if not dst.startswith("/"):
        raise bad(f"dst {dst!r} must be an absolute path")
    kind = seen.get("type", "bind")
    options = _split_options(seen["options"], bad) if "options" in seen else []
    source = seen.get("source", kind)
    if kind == "bind":
        if "source" not in seen:
            raise bad("missing src for a bind mount")
        source = os.path.abspath(source)  # relative means the caller's cwd, not the bundle
        if not os.path.exists(source):
            raise bad(f"src {source!r} does not exist")
        if "bind" not in options and "rbind" not in options:
            options.insert(0, "rbind")
    return {"destination": posixpath.normpath(dst), "type": kind, "source": source,
            "options": options}


def _split_options(value: str, bad: Any) -> list[str]:
    """Split on ':', but a segment starting with '/' continues the previous key=value, so
    'lowerdir=/a:/b:upperdir=/u' keeps the overlay lowerdir list together."""
    out: list[str] = []
    for segment in value.split(":"):
        if segment.startswith("/") and out and "=" in out[-1]:
            out[-1] += ":" + segment
        elif not segment or segment.startswith("/"):
            raise bad(f"malformed options {value!r}")
        else:
            out.append(segment)
    return out


def add_mount(spec: dict[str, Any], mount: dict[str, Any]) -> None:
    """Append mount, replacing an earlier mount on the same destination (e.g. /dev/shm)."""
    mounts = [m for m in spec.get("mounts") or [] if m.get("destination") != mount["destination"]]
    spec["mounts"] = [*mounts, mount]


def host_tools_mounts() -> list[dict[str, Any]]:
    """Mounts that turn the skeleton from prepare_host_tools_root into a usable root."""
    return [
        {"destination": "/usr", "type": "bind", "source": "/usr",
         "options": ["rbind", "ro", "nodev"]},  # keep suid: su/ping/mount live here
        {"destination": "/etc", "type": "bind", "source": "/etc",
         "options": ["rbind", "ro", "nosuid", "nodev"]},
        {"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
         "options": ["nosuid", "nodev", "mode=1777"]},
    ]


def prepare_host_tools_root(directory: str | os.PathLike[str]) -> None:
    """Create the host-tools skeleton in directory (created if missing). The directory must be
    empty or hold exactly this skeleton already (so a retried task create succeeds)."""
    directory = os.fspath(directory)
    _mkdir_exist_ok(directory)
    os.chmod(directory, 0o755)  # processes running as non-root users must traverse "/"
    links = {
        name: f"usr/{name}" for name in _MERGED_USR
        if name not in _OPTIONAL_LINKS or os.path.isdir(f"/usr/{name}")
    }
    expected = set(_SKELETON_DIRS) | set(links)
    unexpected = sorted(set(os.listdir(directory)) - expected)
    if unexpected:
        raise FailedPreconditionError(
            f"host-tools root {directory} is not empty: unexpected {unexpected[0]!r}")
    for name in _SKELETON_DIRS:
        path = os.path.join(directory, name)
        if os.path.islink(path) or (os.path.exists(path) and not os.path.isdir(path)):
            raise FailedPreconditionError(f"host-tools root {directory}: {name} is not a dir")
        _mkdir_exist_ok(path)
        # umask must not decide what the container sees. tmp is 1777 although a tmpfs covers
        # it: runc gives a tmpfs the mode of its mount point, overriding mode=1777.
        os.chmod(path, 0o1777 if name == "tmp" else 0o755)
    for name, target in links.items():
        path = os.path.join(directory, name)
        if os.path.islink(path) and os.readlink(path) == target:
            continue
        if os.path.lexists(path):
            raise FailedPreconditionError(
                f"host-tools root {directory}: {name} is not a link to {target}")
        os.symlink(target, path)


def _mkdir_exist_ok(path: str) -> None:
    """mkdir 0755, fine when a directory is there already (Path.mkdir(exist_ok=True))."""
    try:
        os.mkdir(path, 0o755)
    except OSError:
        if not os.path.isdir(path):
            raise


def load_bundle(directory: str | os.PathLike[str]) -> tuple[dict[str, Any], str]:
    """Read an OCI bundle: (spec, absolute rootfs path). Relative bind sources are resolved
    against the bundle too, because the task will run from a different bundle directory."""
    bundle = os.path.abspath(directory)
    try:
        with open(os.path.join(bundle, "config.json"), "rb") as fh:
            spec = json.loads(fh.read())
    except FileNotFoundError:
        raise InvalidArgumentError(f"bundle {bundle}: config.json not found") from None
    except (OSError, ValueError) as exc:
        raise InvalidArgumentError(f"bundle {bundle}: cannot read config.json: {exc}") from None
    if not isinstance(spec, dict):
        raise InvalidArgumentError(f"bundle {bundle}: config.json is not a JSON object")
    root = spec.get("root")
    path = root.get("path") if isinstance(root, dict) else None
    if not isinstance(path, str) or not path:
        raise InvalidArgumentError(f"bundle {bundle}: config.json has no root.path")
    rootfs = os.path.normpath(os.path.join(bundle, path))  # an absolute path replaces the bundle
    if not os.path.isdir(rootfs):
        raise InvalidArgumentError(f"bundle {bundle}: rootfs {rootfs} is not a directory")
    for mount in spec.get("mounts") or []:
        source = mount.get("source") if isinstance(mount, dict) else None
        if isinstance(source, str) and source and not source.startswith("/") and (
            mount.get("type") == "bind"
            or {"bind", "rbind"} & set(mount.get("options") or [])
        ):
            mount["source"] = os.path.normpath(os.path.join(bundle, source))
    return spec, rootfs
