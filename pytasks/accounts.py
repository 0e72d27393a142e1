"""--user NAME[:GROUP]: user and group names resolved through a container's own /etc/passwd
and /etc/group, as runc's libcontainer and podman do; numeric ids are taken as they are.

The files belong to the container, so they are read as the container would see them:
relative to its root, with every symlink resolved inside that root (openat2's
RESOLVE_IN_ROOT). A planted `/etc/passwd -> /etc/shadow` then names the container's own
shadow file, never the host's. Where the kernel has no openat2, a symlink anywhere on the
way is refused instead of followed.
"""

from __future__ import annotations

import ctypes
import errno
import os
import re
import stat

from pytasks.errors import InvalidArgumentError
from pytasks.plain import Plain

ID_MAX = 2**32 - 2  # (uid_t)-1 means "no change" to the kernel
MAX_FILE = 4 << 20  # passwd and group files are small; a huge one is hostile
# shadow-utils' rule, loosened as the distributions do (a dot, upper case, a trailing $).
NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*\$?")

_SYS_OPENAT2 = 437  # the same number on every architecture (added after the syscall unification)
_RESOLVE_NO_MAGICLINKS = 0x02
_RESOLVE_IN_ROOT = 0x10


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64),
                ("resolve", ctypes.c_uint64)]


class User(Plain, frozen=True):
    uid: int
    gid: int
    additional_gids: tuple[int, ...] = ()


def _numeric(text: str) -> int | None:
    if not text.isascii() or not text.isdigit():
        return None
    value = int(text, 10)
    if value > ID_MAX:
        raise InvalidArgumentError(f"invalid --user {text!r}: id out of range")
    return value


def parse(text: str) -> tuple[str, str | None]:
    """Check the syntax of USER[:GROUP] (each a name or a number); nothing is read."""
    user, sep, group = text.partition(":")
    parts = [user] + ([group] if sep else [])
    for part in parts:
        if _numeric(part) is None and not NAME.fullmatch(part):
            raise InvalidArgumentError(
                f"invalid --user {text!r}: expected USER[:GROUP], each a name or a number")
    return user, (group if sep else None)


def needs_root(text: str) -> bool:
    """Whether resolving text reads the container's files (a name is given)."""
    user, group = parse(text)
    return _numeric(user) is None or (group is not None and _numeric(group) is None)


def resolve(text: str, root: str | None) -> User:
    """USER[:GROUP] as ids. Numeric alone: the uid, and the gid given or 0 (nothing read).
    A user name takes its uid, its primary gid unless GROUP is given, and the groups that
    list it as a member (supplementary, as `id NAME` shows them)."""
    user, group = parse(text)
    uid, gid = _numeric(user), None if group is None else _numeric(group)
    if uid is not None and (group is None or gid is not None):
        return User(uid, gid or 0, ())
    if root is None:
        raise InvalidArgumentError(
            f"--user {text}: names need the container's root; give a numeric UID[:GID]")
    additional: tuple[int, ...] = ()
    groups = None
    if uid is None:
        entry = _find(_entries(root, "etc/passwd", text), user, 0)
        if entry is None:
            raise InvalidArgumentError(
                f"--user {text}: no user {user!r} in the container's /etc/passwd")
        uid = _field_id(entry, 2, "etc/passwd", text)
        if group is None:
            gid = _field_id(entry, 3, "etc/passwd", text)
        groups = _entries(root, "etc/group", text, missing_ok=True)
        additional = tuple(sorted({_field_id(g, 2, "etc/group", text) for g in groups
                                   if len(g) > 3 and user in g[3].split(",")}))
    if gid is None:
        assert group is not None
        if groups is None:
            groups = _entries(root, "etc/group", text, missing_ok=True)
        found = _find(groups, group, 0)
        if found is None:
            raise InvalidArgumentError(
                f"--user {text}: no group {group!r} in the container's /etc/group")
        gid = _field_id(found, 2, "etc/group", text)
    return User(uid, gid, tuple(g for g in additional if g != gid))


def _find(entries: list[list[str]], name: str, column: int) -> list[str] | None:
    for entry in entries:
        if len(entry) > column and entry[column] == name:
            return entry
    return None


def _field_id(entry: list[str], column: int, name: str, text: str) -> int:
    value = _numeric(entry[column]) if len(entry) > column else None
    if value is None:
        raise InvalidArgumentError(
            f"--user {text}: the container's /{name} has a bad entry for {entry[0]!r}")
    return value


def _entries(root: str, name: str, text: str, *, missing_ok: bool = False
             ) -> list[list[str]]:
    try:
        data = read_in_root(root, name)
    except FileNotFoundError:
        if missing_ok:
            return []
        raise InvalidArgumentError(f"--user {text}: the container has no /{name}") from None
    except OSError as exc:
        raise InvalidArgumentError(
            f"--user {text}: cannot read the container's /{name}: {exc.strerror}") from None
    lines = data.decode("utf-8", "replace").splitlines()
    return [line.split(":") for line in lines if line and not line.startswith("#")]


def read_in_root(root: str, name: str) -> bytes:
    """The file at the relative path name under root, every symlink resolved inside root."""
    rootfd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = _openat2_in_root(rootfd, name)
        if fd is None:
            fd = _open_no_symlinks(rootfd, name)
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
                raise OSError(errno.EINVAL, "not a regular file")
            data = fh.read(MAX_FILE + 1)
        if len(data) > MAX_FILE:
            raise OSError(errno.EFBIG, os.strerror(errno.EFBIG))
        return data
    finally:
        os.close(rootfd)


def _openat2_in_root(rootfd: int, name: str) -> int | None:
    """openat2(RESOLVE_IN_ROOT), or None when this kernel lacks it."""
    libc = ctypes.CDLL(None, use_errno=True)
    how = _OpenHow(os.O_RDONLY | os.O_CLOEXEC | os.O_NOCTTY | os.O_NONBLOCK, 0,
                   _RESOLVE_IN_ROOT | _RESOLVE_NO_MAGICLINKS)
    fd = libc.syscall(_SYS_OPENAT2, rootfd, os.fsencode(name), ctypes.byref(how),
                      ctypes.sizeof(how))
    if fd >= 0:
        return int(fd)
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EPERM):  # EPERM: a seccomp filter that predates it
        return None
    raise OSError(err, os.strerror(err))


def _open_no_symlinks(rootfd: int, name: str) -> int:
    """Component by component with O_NOFOLLOW: a symlink anywhere is refused (ELOOP)."""
    fd = os.dup(rootfd)
    parts = [p for p in name.split("/") if p not in ("", ".")]
    try:
        for i, part in enumerate(parts):
            if part == "..":
                raise OSError(errno.EXDEV, "path leaves the root")
            last = i == len(parts) - 1
            flags = os.O_NOFOLLOW | os.O_CLOEXEC | (
                os.O_RDONLY | os.O_NONBLOCK if last else os.O_PATH | os.O_DIRECTORY)
            nxt = os.open(part, flags, dir_fd=fd)
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise
