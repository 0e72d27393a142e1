"""Snapshots: each image layer unpacked once, keyed by its chain id (docs/architecture.md §9).

    <root>/snapshots/<chain hex>/fs       the layer's tree, an overlay lowerdir
    <root>/snapshots/.<hex>.<tag>.unpacking   an unpack under way (or a dead one's)
    <root>/snapshots/.locks/<hex>.lock    held by whoever unpacks or removes <hex>

A layer is read from the content store (its compressed digest checked as it streams),
decompressed (gzip or zstd, told by its magic bytes, not its media type) and hashed again:
the uncompressed digest must be the config's diff id, checked after the last byte and
before the unpacked tree is renamed into place. A snapshot under its name is always
complete; a crash leaves only a dot-dir, removed by the next unpack of that chain id.

Tar members are created relative to a directory descriptor of the unpack dir, one path
component at a time with O_NOFOLLOW, so nothing in a layer writes outside its snapshot:
an absolute name or a `..` component is refused, and so is a member whose parent is a
symlink (planted earlier in the same layer) or a hard link whose target is outside. OCI
whiteouts become overlayfs ones: `.wh.NAME` a 0:0 character device, `.wh..wh..opq` the
`trusted.overlay.opaque=y` xattr of its directory. Ownership, modes, times, xattrs, hard
links, devices, FIFOs and symlinks are kept (a symlink may point anywhere: it is resolved
inside the container, never here).
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import tarfile

from pytasks import errors
from pytasks.state.layout import ensure_dir
from pytasks.state.lock import TaskLock
from pytasks.state.tree import remove_tree

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterator
    from typing import Any, BinaryIO

    from pytasks.state.content import ContentStore
    from pytasks.state.layout import Layout

CHUNK = 1 << 20
LOCK_TIMEOUT = 600.0  # another import may be unpacking a large layer of ours
WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
OPAQUE_XATTR = "trusted.overlay.opaque"
_GZIP_MAGIC = b"\x1f\x8b"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def chain_ids(diff_ids: list[str]) -> list[str]:
    """The OCI chain ids: ChainID(L0) = DiffID(L0), ChainID(Ln) = sha256(ChainID(Ln-1) +
    " " + DiffID(Ln))."""
    out: list[str] = []
    for diff_id in diff_ids:
        if not out:
            out.append(diff_id)
        else:
            out.append("sha256:" + hashlib.sha256(f"{out[-1]} {diff_id}".encode()).hexdigest())
    return out


class _Chunks:
    """A read()-able stream over an iterator of chunks (the content store's reader)."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks, self.buffer = chunks, b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buffer) < size:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buffer += chunk
        if size < 0:
            data, self.buffer = self.buffer, b""
        else:
            data, self.buffer = self.buffer[:size], self.buffer[size:]
        return data

    def peek(self, size: int) -> bytes:
        while len(self.buffer) < size:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buffer += chunk
        return self.buffer[:size]

    def drain(self) -> None:
        """Read to the end: the store checks the blob's digest after its last chunk."""
        self.buffer = b""
        for _ in self.chunks:
            pass


class _Hashing:
    """The uncompressed stream, hashed as tarfile reads it."""

    def __init__(self, stream: Any) -> None:
        self.stream, self.hasher, self.size = stream, hashlib.sha256(), 0

    def read(self, size: int = -1) -> bytes:
        data: bytes = self.stream.read(size)
        self.hasher.update(data)
        self.size += len(data)
        return data

    def drain(self) -> str:
        while self.read(CHUNK):
            pass
        return "sha256:" + self.hasher.hexdigest()


def uncompressed(raw: _Chunks) -> Any:
    """The layer's tar stream: gunzipped, zstd-decompressed or as it is."""
    head = raw.peek(4)
    if head.startswith(_GZIP_MAGIC):
        import gzip

        return gzip.GzipFile(fileobj=raw, mode="rb")  # type: ignore[call-overload]
    if head == _ZSTD_MAGIC:
        import zstandard

        return zstandard.ZstdDecompressor().stream_reader(
            raw, read_across_frames=True)  # type: ignore[arg-type]
    return raw


class Snapshots:
    def __init__(self, layout: Layout, store: ContentStore) -> None:
        self.layout, self.store = layout, store

    def exists(self, chain_id: str) -> bool:
        return os.path.isdir(self.layout.snapshot_fs_dir(_hex(chain_id)))

    def lock(self, chain_id: str) -> TaskLock:
        ensure_dir(os.path.join(self.layout.snapshots_dir, ".locks"))
        return TaskLock(self.layout.snapshot_lock_file(_hex(chain_id)),
                        f"snapshot {chain_id}", timeout=LOCK_TIMEOUT)

    def unpack(self, layer_digest: str, diff_id: str, chain_id: str) -> bool:
        """Make the snapshot of chain_id from the layer blob unless it exists; True when
        this call unpacked it. DataLoss when the blob or its uncompressed bytes do not
        match their digests, InvalidArgument for a hostile or malformed tar."""
        chain_hex = _hex(chain_id)
        if self.exists(chain_id):
            return False
        with self.lock(chain_id):
            if self.exists(chain_id):  # another import made it while we waited
                return False
            self._remove_dead_unpacks(chain_hex)
            temp = self.layout.snapshot_temp_dir(chain_hex, f"{os.getpid()}-{os.urandom(4).hex()}")
            os.mkdir(temp, 0o700)
            try:
                fs = os.path.join(temp, "fs")
                os.mkdir(fs, 0o755)
                raw = _Chunks(iter(self.store.read(layer_digest)))
                hashed = _Hashing(uncompressed(raw))
                bad_stream = _bad_stream_errors()
                try:
                    extract(hashed, fs, layer_digest)
                    got = hashed.drain()
                except OSError as exc:
                    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                        raise errors.ResourceExhaustedError(
                            f"layer {layer_digest}: no space to unpack it: {exc}") from None
                    if exc.errno is not None:
                        raise
                    raw.drain()  # a corrupt blob is DataLoss first
                    raise errors.DataLossError(
                        f"layer {layer_digest}: its compressed data is corrupt: {exc}") from None
                except bad_stream as exc:
                    raw.drain()
                    if isinstance(exc, tarfile.TarError):
                        raise errors.InvalidArgumentError(
                            f"layer {layer_digest}: not a valid tar: {exc}") from None
                    raise errors.DataLossError(
                        f"layer {layer_digest}: its compressed data is corrupt: {exc}") from None
                raw.drain()
                if got != diff_id:
                    raise errors.DataLossError(
                        f"layer {layer_digest}: its uncompressed bytes hash to {got}, not "
                        f"its diff id {diff_id}; nothing was unpacked")
                _sync_tree(temp)
                os.rename(temp, self.layout.snapshot_dir(chain_hex))
            except BaseException:
                remove_tree(temp)
                raise
        return True

    def remove(self, chain_id: str) -> bool:
        """Remove a snapshot (renamed away first, so a half-removed one is never taken as
        complete); True when there was one."""
        chain_hex = _hex(chain_id)
        final = self.layout.snapshot_dir(chain_hex)
        if not os.path.lexists(final):
            return False
        with self.lock(chain_id):
            doomed = self.layout.snapshot_temp_dir(chain_hex, f"rm-{os.getpid()}")
            try:
                os.rename(final, doomed)
            except FileNotFoundError:
                return False
            remove_tree(doomed)
        return True

    def list(self) -> list[str]:
        try:
            names = os.listdir(self.layout.snapshots_dir)
        except FileNotFoundError:
            return []
        return sorted(f"sha256:{name}" for name in names if not name.startswith("."))

    def _remove_dead_unpacks(self, chain_hex: str) -> None:
        """Under the chain id's lock nobody else unpacks it: every dot-dir of it is dead."""
        prefix = f".{chain_hex}."
        for name in os.listdir(self.layout.snapshots_dir):
            if name.startswith(prefix) and name.endswith(".unpacking"):
                remove_tree(os.path.join(self.layout.snapshots_dir, name))


def _hex(chain_id: str) -> str:
    from pytasks.state.content import parse_digest

    return parse_digest(chain_id)


def _bad_stream_errors() -> tuple[type[Exception], ...]:
    import zlib

    import zstandard

    return (EOFError, tarfile.TarError, zlib.error, zstandard.ZstdError)


def _sync_tree(path: str) -> None:
    """The unpacked tree's data reaches the disk before its name does (a crash after the
    rename must not leave a complete-looking snapshot of empty files): syncfs(2) of the
    snapshots' file system, not sync(2) of every one."""
    import ctypes

    fd = os.open(path, _DIR_FLAGS)
    try:
        if ctypes.CDLL(None, use_errno=True).syncfs(fd) != 0:
            os.sync()
    finally:
        os.close(fd)


# --- extraction ------------------------------------------------------------------------

class _Refused(errors.InvalidArgumentError):
    pass


def _parts(name: str, layer: str, what: str = "member") -> list[str]:
    if name.startswith("/"):
        raise _Refused(f"layer {layer}: {what} {name!r} is an absolute path: refused")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise _Refused(f"layer {layer}: {what} {name!r} has a '..' component: refused")
    if any("\0" in p for p in parts):
        raise _Refused(f"layer {layer}: {what} {name!r} has a NUL byte")
    return parts


def _walk(root_fd: int, parts: list[str], layer: str, name: str, *, create: bool) -> int:
    """A descriptor of the directory parts name, opened one component at a time without
    following any symlink (a symlinked parent is refused); missing ones are made 0755 when
    create (a tar may omit a parent's own entry). The caller closes it."""
    fd = os.dup(root_fd)
    try:
        for part in parts:
            try:
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise _Refused(f"layer {layer}: member {name!r}: {part!r} is not in "
                                   "the layer") from None
                os.mkdir(part, 0o755, dir_fd=fd)
                nxt = os.open(part, _DIR_FLAGS, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise _Refused(f"layer {layer}: member {name!r} goes through {part!r}, "
                                   "which is a symbolic link or not a directory: "
                                   "refused") from None
                raise
            os.close(fd)
            fd = nxt
        return fd
    except BaseException:
        os.close(fd)
        raise


def _clear(parent_fd: int, base: str, keep_dir: bool) -> None:
    """Make room for a member: a later entry of a name replaces an earlier one."""
    try:
        st = os.stat(base, dir_fd=parent_fd, follow_symlinks=False)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode):
        if keep_dir:
            return
        doomed = os.open(base, _DIR_FLAGS, dir_fd=parent_fd)
        try:
            remove_tree(f"/proc/self/fd/{doomed}")
        finally:
            os.close(doomed)
        os.rmdir(base, dir_fd=parent_fd)
    else:
        os.unlink(base, dir_fd=parent_fd)


def _xattrs(member: tarfile.TarInfo, layer: str) -> list[tuple[str, bytes]]:
    out = []
    for key, value in member.pax_headers.items():
        if key.startswith("SCHILY.xattr."):
            name = key[len("SCHILY.xattr."):]
            if name.startswith("trusted.overlay."):
                # overlayfs's own (redirects, metacopy) would steer lookups: never from a
                # layer; opaque directories come from their .wh..wh..opq marker only.
                raise _Refused(f"layer {layer}: member {member.name!r} sets {name}: refused")
            out.append((name, value.encode("utf-8", "surrogateescape")))
    return out


def _owner_mode_times(target: int | str, dir_fd: int | None, member: tarfile.TarInfo,
                      xattrs: list[tuple[str, bytes]], *, symlink: bool = False) -> None:
    """chown before chmod (chown clears set-id bits); times last."""
    if isinstance(target, int):
        os.chown(target, member.uid, member.gid)
        os.chmod(target, member.mode & 0o7777)
        for name, value in xattrs:
            os.setxattr(target, name, value)
        os.utime(target, (member.mtime, member.mtime))
        return
    os.chown(target, member.uid, member.gid, dir_fd=dir_fd, follow_symlinks=False)
    if not symlink:
        os.chmod(target, member.mode & 0o7777, dir_fd=dir_fd)
        for name, value in xattrs:
            os.setxattr(f"/proc/self/fd/{dir_fd}/{target}", name, value,
                        follow_symlinks=False)
    os.utime(target, (member.mtime, member.mtime), dir_fd=dir_fd, follow_symlinks=False)


def extract(stream: BinaryIO | Any, root: str, layer: str) -> None:
    """Unpack the tar stream under root (see the module doc for what is refused)."""
    root_fd = os.open(root, _DIR_FLAGS)
    dirs: list[tuple[list[str], tarfile.TarInfo, list[tuple[str, bytes]]]] = []
    try:
        with tarfile.open(fileobj=stream, mode="r|") as archive:
            for member in archive:
                _one(archive, member, root_fd, layer, dirs)
        # Directories last, deepest first: their modes may forbid writing, their times
        # would be changed by the entries made in them.
        for parts, member, xattrs in sorted(dirs, key=lambda d: -len(d[0])):
            fd = _walk(root_fd, parts, layer, member.name, create=False)
            try:
                _owner_mode_times(fd, None, member, xattrs)
            finally:
                os.close(fd)
    finally:
        os.close(root_fd)


def _one(archive: tarfile.TarFile, member: tarfile.TarInfo, root_fd: int, layer: str,
         dirs: list[tuple[list[str], tarfile.TarInfo, list[tuple[str, bytes]]]]) -> None:
    parts = _parts(member.name, layer)
    xattrs = _xattrs(member, layer)
    if not parts:  # the layer's root itself ("./")
        if member.isdir():
            dirs.append(([], member, xattrs))
        return
    parent = _walk(root_fd, parts[:-1], layer, member.name, create=True)
    base = parts[-1]
    try:
        if base == OPAQUE_MARKER:
            os.setxattr(f"/proc/self/fd/{parent}", OPAQUE_XATTR, b"y")
            return
        if base.startswith(WHITEOUT_PREFIX):
            hidden = base[len(WHITEOUT_PREFIX):]
            if not hidden or hidden in (".", ".."):
                raise _Refused(f"layer {layer}: bad whiteout {member.name!r}")
            _clear(parent, hidden, keep_dir=False)
            os.mknod(hidden, stat.S_IFCHR | 0o000, os.makedev(0, 0), dir_fd=parent)
            return
        _clear(parent, base, keep_dir=member.isdir())
        if member.isdir():
            try:
                os.mkdir(base, 0o700, dir_fd=parent)
            except FileExistsError:
                pass
            dirs.append((parts, member, xattrs))
        elif member.isreg():
            fd = os.open(base, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600, dir_fd=parent)
            try:
                source = archive.extractfile(member)
                assert source is not None
                while chunk := source.read(CHUNK):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
                _owner_mode_times(fd, None, member, xattrs)
            finally:
                os.close(fd)
        elif member.issym():
            os.symlink(member.linkname, base, dir_fd=parent)
            _owner_mode_times(base, parent, member, [], symlink=True)
        elif member.islnk():
            link_parts = _parts(member.linkname, layer, "hard link target")
            if not link_parts:
                raise _Refused(f"layer {layer}: hard link {member.name!r} to the root")
            source_dir = _walk(root_fd, link_parts[:-1], layer, member.linkname,
                               create=False)
            try:
                os.link(link_parts[-1], base, src_dir_fd=source_dir, dst_dir_fd=parent,
                        follow_symlinks=False)
            except FileNotFoundError:
                raise _Refused(f"layer {layer}: hard link {member.name!r} to "
                               f"{member.linkname!r}, which is not in the layer") from None
            finally:
                os.close(source_dir)
        elif member.ischr() or member.isblk():
            kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK
            os.mknod(base, kind | 0o600, os.makedev(member.devmajor, member.devminor),
                     dir_fd=parent)
            _owner_mode_times(base, parent, member, xattrs)
        elif member.isfifo():
            os.mkfifo(base, 0o600, dir_fd=parent)
            _owner_mode_times(base, parent, member, xattrs)
        else:
            raise _Refused(f"layer {layer}: member {member.name!r} has an unsupported "
                           f"type {member.type!r}")
    finally:
        os.close(parent)
