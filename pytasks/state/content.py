"""The content store: blobs by sha256 under <root>/content (docs/architecture.md §9).

    content/blobs/sha256/<hex>        the bytes, read-only, named by their digest
    content/info/sha256/<hex>.json    media type, labels, created (written after the blob)
    content/refs/sha256/<hex>/<ref>   one empty file per user (`checkpoint.<name>`)
    content/ingest/<pid>-<tag>        a write under way, flock(2)ed by its writer

A write streams into an ingest file, hashing as it goes (no second pass), fsyncs it,
checks digest and size against what the caller expected, and renames it into place: a
blob under its name is always complete. Two writers of one blob each rename identical
bytes, so either may win. A writer holds an exclusive flock on its ingest file for its
whole life; the kernel drops it when the writer dies, so an ingest file whose lock can
be taken belongs to a dead writer and is removed by the next write or `content` verb.
Stdlib only.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import os

from pytasks.errors import (
    DataLossError,
    FailedPreconditionError,
    InvalidArgumentError,
    NotFoundError,
    permission_denied,
)
from pytasks.plain import Plain, field
from pytasks.state import atomic
from pytasks.state.container_record import now_rfc3339
from pytasks.state.layout import ensure_dir

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any, BinaryIO

    from pytasks.state.layout import Layout

ALGORITHM = "sha256"
HEX_LENGTH = 64
CHUNK = 1 << 20
# A fault point for tests only (tests/integration/test_checkpoint.py): with this variable
# set to FAULT_KILL_WRITER, a writer kills itself (SIGKILL) once its ingest file holds a
# first chunk, as a kill -9 of the CLI in the middle of a write would leave it.
FAULT_ENV = "PYTASKS_TEST_FAULT"
FAULT_KILL_WRITER = "kill-content-writer"
# A short unique prefix names a blob, as a short container image id does.
MIN_PREFIX = 4
_HEX = frozenset("0123456789abcdef")


class Blob(Plain):
    digest: str
    size: int
    media_type: str = ""
    labels: dict[str, str] = field(default_factory=dict)
    created: str = ""
    used_by: list[str] = field(default_factory=list)
    path: str = ""


def parse_digest(digest: str) -> str:
    """`sha256:<64 hex>` (or the bare hex) -> the hex; InvalidArgument otherwise."""
    algorithm, sep, hex_digest = digest.partition(":")
    if not sep:
        algorithm, hex_digest = ALGORITHM, digest
    if algorithm != ALGORITHM or len(hex_digest) != HEX_LENGTH or not _HEX.issuperset(
            hex_digest):
        raise InvalidArgumentError(f"bad digest {digest!r}: want sha256:<64 lowercase hex>")
    return hex_digest


def _check_ref(ref: str) -> None:
    if not ref or ref.startswith(".") or "/" in ref or "\0" in ref or len(ref) > 255:
        raise InvalidArgumentError(f"bad content reference {ref!r}")


class ContentStore:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    # --- writing -------------------------------------------------------------------------
    def write(self, chunks: Iterable[bytes], *, expected_digest: str = "",
              expected_size: int = -1, media_type: str = "",
              labels: dict[str, str] | None = None, sync_dirs: bool = True,
              ref: str = "") -> Blob:
        """Stream chunks into the store; the committed blob. DataLoss when the bytes do not
        match expected_digest or expected_size (nothing is committed then). The bytes and
        the info record are fsynced; sync_dirs=False leaves the directories' entries to a
        sync_dirs() call after several writes (one fsync per directory, not per blob).
        With ref, the user is registered before the blob is renamed into place, so a
        remover that finds no user never takes a blob that this writer is about to use."""
        want = parse_digest(expected_digest) if expected_digest else ""
        self.clean_ingests()
        fd, ingest = self._open_ingest()
        hex_digest = ""
        try:
            hasher = hashlib.sha256()
            size = 0
            for chunk in chunks:
                size += len(chunk)
                if 0 <= expected_size < size:
                    raise DataLossError(f"content is larger than the expected {expected_size} "
                                        "bytes; nothing was stored")
                hasher.update(chunk)
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                if os.environ.get(FAULT_ENV) == FAULT_KILL_WRITER:
                    os.kill(os.getpid(), 9)
            os.fsync(fd)
            hex_digest = hasher.hexdigest()
            if 0 <= expected_size != size:
                raise DataLossError(f"content is {size} bytes, expected {expected_size}; "
                                    "nothing was stored")
            if want and want != hex_digest:
                raise DataLossError(f"content has digest {ALGORITHM}:{hex_digest}, expected "
                                    f"{ALGORITHM}:{want}; nothing was stored")
            os.fchmod(fd, 0o400)
            if ref:
                self._register(hex_digest, ref, sync_dir=sync_dirs)
            ensure_dir(self.layout.blobs_dir)
            final = self.layout.blob_file(hex_digest)
            os.rename(ingest, final)
            if sync_dirs:
                atomic.fsync_dir(self.layout.blobs_dir)
        except BaseException:
            registered = [os.path.join(self.layout.blob_refs_dir(hex_digest), ref)] \
                if ref and hex_digest else []
            for path in (ingest, *registered):
                try:
                    os.unlink(path)
                except FileNotFoundError:
                    pass
            raise
        finally:
            os.close(fd)  # the lock goes with it, after the rename or the unlink
        self._write_info(hex_digest, size, media_type, labels or {}, sync_dir=sync_dirs)
        return self.info(f"{ALGORITHM}:{hex_digest}", verify=False)

    def sync_dirs(self, blobs: Iterable[Blob]) -> None:
        """Make the entries of blobs written (and referenced) with sync_dirs=False durable:
        one fsync of each directory they are in."""
        atomic.fsync_dir(self.layout.blobs_dir)
        atomic.fsync_dir(self.layout.blob_info_dir)
        for blob in blobs:
            refs = self.layout.blob_refs_dir(parse_digest(blob.digest))
            if os.path.isdir(refs):
                atomic.fsync_dir(refs)

    def write_file(self, stream: BinaryIO, **kwargs: Any) -> Blob:
        return self.write(iter(lambda: stream.read(CHUNK), b""), **kwargs)

    def _open_ingest(self) -> tuple[int, str]:
        """A new ingest file, created and flocked; checked to still be at its path after
        locking, since a cleaner may take the lock of a just-created file first."""
        ensure_dir(self.layout.ingest_dir)
        while True:
            path = self.layout.ingest_file(f"{os.getpid()}-{os.urandom(6).hex()}")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW
                         | os.O_CLOEXEC, 0o600)
            fcntl.flock(fd, fcntl.LOCK_EX)
            try:
                st = os.stat(path, follow_symlinks=False)
            except FileNotFoundError:
                os.close(fd)
                continue
            if os.path.samestat(st, os.fstat(fd)):
                return fd, path
            os.close(fd)

    def _write_info(self, hex_digest: str, size: int, media_type: str,
                    labels: dict[str, str], *, sync_dir: bool = True) -> None:
        """Merged with an earlier writer's record: its labels stay, a new media type wins."""
        old = self._read_info(hex_digest)
        record = {
            "digest": f"{ALGORITHM}:{hex_digest}",
            "size": size,
            "media_type": media_type or old.get("media_type", ""),
            "labels": {**old.get("labels", {}), **labels},
            "created": old.get("created") or now_rfc3339(),
        }
        ensure_dir(self.layout.blob_info_dir)
        atomic.write_json(self.layout.blob_info_file(hex_digest), record, fsync=True)
        if sync_dir:
            atomic.fsync_dir(self.layout.blob_info_dir)

    def set_media_type(self, ref: str, media_type: str) -> None:
        """Record a blob's media type (an import learns it after the bytes)."""
        hex_digest = self.resolve(ref)
        size = os.stat(self.layout.blob_file(hex_digest), follow_symlinks=False).st_size
        self._write_info(hex_digest, size, media_type, {})

    def _read_info(self, hex_digest: str) -> dict[str, Any]:
        path = self.layout.blob_info_file(hex_digest)
        try:
            record = atomic.read_json(path)
        except FileNotFoundError:
            return {}
        except PermissionError as exc:
            raise permission_denied(exc) from None
        except (OSError, ValueError) as exc:
            raise DataLossError(f"content info {path}: unreadable: {exc}") from None
        if not isinstance(record, dict) or not isinstance(record.get("media_type", ""), str) \
                or not isinstance(record.get("labels", {}), dict):
            raise DataLossError(f"content info {path}: not an info record")
        return record

    # --- ingest files of dead writers ----------------------------------------------------
    def clean_ingests(self) -> list[str]:
        """Remove ingest files whose writer is gone (their flock can be taken); the paths
        removed. A live writer's file is locked and left alone."""
        try:
            names = os.listdir(self.layout.ingest_dir)
        except FileNotFoundError:
            return []
        removed = []
        for name in sorted(names):
            path = self.layout.ingest_file(name)
            try:
                fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            except OSError as exc:
                if exc.errno == errno.ELOOP:  # a planted symlink: never followed, removed
                    os.unlink(path)
                    removed.append(path)
                continue
            try:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    continue
                try:
                    same = os.path.samestat(os.stat(path, follow_symlinks=False), os.fstat(fd))
                except FileNotFoundError:
                    continue
                if same:
                    os.unlink(path)
                    removed.append(path)
            finally:
                os.close(fd)
        return removed

    # --- reading -------------------------------------------------------------------------
    def resolve(self, ref: str) -> str:
        """A full digest, or a unique hex prefix (with or without `sha256:`) of a stored
        blob -> its hex. NotFound / InvalidArgument otherwise."""
        text = ref.removeprefix(f"{ALGORITHM}:")
        if len(text) == HEX_LENGTH:
            hex_digest = parse_digest(ref)
            if not os.path.lexists(self.layout.blob_file(hex_digest)):
                raise NotFoundError(f"content {ALGORITHM}:{hex_digest}: not found")
            return hex_digest
        if len(text) < MIN_PREFIX or not _HEX.issuperset(text):
            raise InvalidArgumentError(f"bad digest {ref!r}: want sha256:<64 lowercase hex> "
                                       f"or a unique prefix of at least {MIN_PREFIX}")
        matches = [name for name in self._hexes() if name.startswith(text)]
        if not matches:
            raise NotFoundError(f"content {ref}: not found")
        if len(matches) > 1:
            raise InvalidArgumentError(f"content {ref}: prefix matches {len(matches)} blobs")
        return matches[0]

    def _hexes(self) -> list[str]:
        try:
            names = os.listdir(self.layout.blobs_dir)
        except FileNotFoundError:
            return []
        return sorted(name for name in names
                      if len(name) == HEX_LENGTH and _HEX.issuperset(name))

    def info(self, ref: str, *, verify: bool = True) -> Blob:
        """The blob's facts; with verify, its bytes are hashed and a mismatch is DataLoss
        naming the file."""
        hex_digest = self.resolve(ref)
        path = self.layout.blob_file(hex_digest)
        if verify:
            size = sum(len(chunk) for chunk in self.read(hex_digest))
        else:
            try:
                size = os.stat(path, follow_symlinks=False).st_size
            except FileNotFoundError:
                raise NotFoundError(f"content {ALGORITHM}:{hex_digest}: not found") from None
        record = self._read_info(hex_digest)
        return Blob(digest=f"{ALGORITHM}:{hex_digest}", size=size,
                    media_type=record.get("media_type", ""),
                    labels=dict(record.get("labels", {})),
                    created=record.get("created", ""), used_by=self.users(hex_digest),
                    path=path)

    def read(self, ref: str) -> Iterator[bytes]:
        """The blob's bytes in chunks, hashed as they go: after the last chunk a mismatch
        with the digest raises DataLoss naming the file, so a consumer that commits only
        at the end (a restore, an export) never uses corrupt bytes."""
        hex_digest = self.resolve(ref)
        path = self.layout.blob_file(hex_digest)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        except FileNotFoundError:
            raise NotFoundError(f"content {ALGORITHM}:{hex_digest}: not found") from None
        except PermissionError as exc:
            raise permission_denied(exc) from None
        except OSError as exc:
            raise DataLossError(f"content {path}: unreadable: {exc}") from None
        with os.fdopen(fd, "rb") as stream:
            hasher = hashlib.sha256()
            while chunk := stream.read(CHUNK):
                hasher.update(chunk)
                yield chunk
        if hasher.hexdigest() != hex_digest:
            raise DataLossError(f"content {path}: its bytes no longer match its digest (they "
                                f"hash to {ALGORITHM}:{hasher.hexdigest()}); the blob is "
                                "corrupt and is never used: `pytasks content rm "
                                f"{ALGORITHM}:{hex_digest}` removes it")

    def blobs(self) -> list[Blob]:
        """Every blob, unverified (sizes from stat)."""
        blobs = []
        for hex_digest in self._hexes():
            try:
                blobs.append(self.info(hex_digest, verify=False))
            except NotFoundError:  # removed meanwhile
                continue
        return blobs

    # --- references and removal ----------------------------------------------------------
    def users(self, hex_digest: str) -> list[str]:
        try:
            return sorted(name for name in os.listdir(self.layout.blob_refs_dir(hex_digest))
                          if not name.startswith("."))
        except FileNotFoundError:
            return []

    def add_ref(self, ref: str, user: str, *, sync_dir: bool = True) -> None:
        """Record that `user` (e.g. `checkpoint.<name>`) uses the blob; rm then refuses it.
        The ref is an empty file: its directory's fsync is what makes it durable
        (sync_dir=False: the caller's sync_dirs() does)."""
        _check_ref(user)
        self._register(self.resolve(ref), user, sync_dir=sync_dir)

    def _register(self, hex_digest: str, user: str, *, sync_dir: bool) -> None:
        _check_ref(user)
        directory = ensure_dir(self.layout.blob_refs_dir(hex_digest))
        fd = os.open(os.path.join(directory, user),
                     os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        os.close(fd)
        if sync_dir:
            atomic.fsync_dir(directory)

    def remove_ref(self, ref: str, user: str) -> None:
        _check_ref(user)
        hex_digest = self.resolve(ref)
        try:
            os.unlink(os.path.join(self.layout.blob_refs_dir(hex_digest), user))
        except FileNotFoundError:
            pass

    def remove(self, ref: str, *, force: bool = False) -> str:
        """Remove a blob; FailedPrecondition while something uses it, unless forced. The
        removed digest."""
        hex_digest = self.resolve(ref)
        users = self.users(hex_digest)
        if users and not force:
            raise FailedPreconditionError(
                f"content {ALGORITHM}:{hex_digest} is used by {', '.join(users)}: remove "
                "that first, or force")
        # The blob first: without it, an info record or refs are leftovers nobody reads.
        try:
            os.unlink(self.layout.blob_file(hex_digest))
        except FileNotFoundError:
            raise NotFoundError(f"content {ALGORITHM}:{hex_digest}: not found") from None
        for path in (self.layout.blob_info_file(hex_digest),):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        refs = self.layout.blob_refs_dir(hex_digest)
        for name in self.users(hex_digest):
            os.unlink(os.path.join(refs, name))
        try:
            os.rmdir(refs)
        except FileNotFoundError:
            pass
        return f"{ALGORITHM}:{hex_digest}"


def describe(blob: Blob) -> dict[str, Any]:
    """A blob as ctr's `content info` prints it (JSON)."""
    return {"digest": blob.digest, "size": blob.size, "media_type": blob.media_type,
            "labels": blob.labels, "created": blob.created, "used_by": blob.used_by,
            "path": blob.path}


