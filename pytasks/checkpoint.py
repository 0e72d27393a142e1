"""Checkpoints in the content store (docs/architecture.md §9): what one is made of, how its
CRIU image goes in and comes out, and the options CRIU takes.

A checkpoint is one OCI index blob (INDEX_TYPE) whose manifests are the CRIU image as a
tar (CRIU_TAR_TYPE) and the container's spec (CONFIG_TYPE), annotated with the container
id, the time, the CRIU and runtime versions and the options used. Its name is the ref
`checkpoint.<name>` on each of the three blobs, so `content rm` refuses any of them while
the checkpoint exists. The image tar is produced while it streams into the store (the
store hashes as it writes): the image directory CRIU wrote is the only other copy, and it
is removed once the blob is committed.
"""

from __future__ import annotations

import json
import os
import stat

from pytasks import errors, ids
from pytasks.plain import Plain, field
from pytasks.state import layout
from pytasks.state.content import ALGORITHM, CHUNK, Blob, ContentStore

# Not typing.TYPE_CHECKING: a checkpoint takes the hot path, which never imports typing
# (docs/architecture.md §8); nor re or tarfile, which only some functions here need.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator
    from typing import Any, BinaryIO

INDEX_TYPE = "application/vnd.oci.image.index.v1+json"
CRIU_TAR_TYPE = "application/vnd.containerd.container.criu.checkpoint.criu.tar"
CONFIG_TYPE = "application/vnd.containerd.container.checkpoint.config.v1+json"

REF_PREFIX = layout.CHECKPOINT_REF_PREFIX
# Index annotations (the OCI convention: reverse-DNS keys).
A_NAME = "org.opencontainers.image.ref.name"
A_CONTAINER = "io.pytasks.checkpoint.container"
A_CREATED = "io.pytasks.checkpoint.created"
A_CRIU = "io.pytasks.checkpoint.criu.version"
A_RUNTIME = "io.pytasks.checkpoint.runtime"
A_RUNTIME_VERSION = "io.pytasks.checkpoint.runtime.version"
A_OPTIONS = "io.pytasks.checkpoint.options"  # JSON object: the options of the dump
A_TERMINAL = "io.pytasks.checkpoint.terminal"

# Checkpoint options (CheckpointTaskRequest.options): key -> the runtime flag. Boolean
# options take true/false; manage-cgroups-mode takes one of MANAGE_CGROUPS_MODES. The
# same flags go to the restore (CRIU needs tcp-established on both sides).
EXIT = "exit"
BOOLEAN_OPTIONS = {
    "tcp-established": "--tcp-established",
    "file-locks": "--file-locks",
    "ext-unix-sk": "--ext-unix-sk",
    "shell-job": "--shell-job",
}
MANAGE_CGROUPS = "manage-cgroups-mode"
MANAGE_CGROUPS_MODES = ("soft", "full", "strict")
_TRUE = ("true", "1", "yes")
_FALSE = ("false", "0", "no")

NAME_MAX = 128
_NAME = r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*"
_CRIU_TIME = r"^\(\s*[0-9.]+\)\s*(?:[0-9]+:\s*)?"  # "(00.0897)  1: "
# Errors CRIU logs on every run here and that change nothing (no CAP_SYS_RESOURCE).
_HARMLESS = ("Can't setup RLIMIT_NOFILE",)


class Options(Plain, frozen=True):
    exit: bool = False
    flags: tuple[str, ...] = ()       # runtime flags for dump and restore alike
    given: dict[str, str] = field(default_factory=dict)  # as recorded in the index


def parse_options(options: dict[str, str]) -> Options:
    """The request's options map -> Options; an unknown key or a bad value is
    InvalidArgument naming it and what is accepted."""
    flags: list[str] = []
    exit_ = False
    given: dict[str, str] = {}
    for key in sorted(options):
        value = str(options[key]).strip().lower()
        if key == MANAGE_CGROUPS:
            if value not in MANAGE_CGROUPS_MODES:
                raise errors.InvalidArgumentError(
                    f"checkpoint option {MANAGE_CGROUPS}={ids.quote(options[key])}: want one "
                    f"of {', '.join(MANAGE_CGROUPS_MODES)}")
            flags += ["--manage-cgroups-mode", value]
            given[key] = value
            continue
        if key != EXIT and key not in BOOLEAN_OPTIONS:
            known = ", ".join([EXIT, *BOOLEAN_OPTIONS, MANAGE_CGROUPS])
            raise errors.InvalidArgumentError(
                f"unknown checkpoint option {ids.quote(key)} (known: {known})")
        if value not in _TRUE + _FALSE:
            raise errors.InvalidArgumentError(
                f"checkpoint option {key}={ids.quote(options[key])}: want true or false")
        on = value in _TRUE
        if key == EXIT:
            exit_ = on
        elif on:
            flags.append(BOOLEAN_OPTIONS[key])
            given[key] = "true"
    return Options(exit=exit_, flags=tuple(flags), given=given)


def restore_flags(given: dict[str, str]) -> list[str]:
    """The runtime flags of a restore from the options its dump recorded."""
    flags: list[str] = []
    for key, value in sorted(given.items()):
        if key in BOOLEAN_OPTIONS and value == "true":
            flags.append(BOOLEAN_OPTIONS[key])
        elif key == MANAGE_CGROUPS and value in MANAGE_CGROUPS_MODES:
            flags += ["--manage-cgroups-mode", value]
    return flags


# A restored network namespace comes back empty (the runtime dumps it as such): `lo` is
# down and a 127.0.0.1 connection restored with tcp-established has nowhere to go. The
# runtime runs createRuntime hooks with the restored init's pid (its state on stdin) before
# CRIU restores the sockets; this one sets `lo` up in that namespace.
LOOPBACK_HOOK_NAME = "pytasks-restore-loopback"
_LOOPBACK_SCRIPT = ('state=$(cat); pid=${state#*\\"pid\\":}; pid=${pid%%%%[!0-9]*}; '
                    '[ -n "$pid" ] && exec %s -t "$pid" -n %s link set lo up')


def loopback_hook(search_path: str = "/usr/sbin:/usr/bin:/sbin:/bin") -> dict[str, object]:
    """The createRuntime hook that sets `lo` up in a restored task's network namespace;
    FailedPrecondition when nsenter or ip is missing."""
    tools = []
    for tool, package in (("nsenter", "util-linux"), ("ip", "iproute2")):
        found = next((path for path in (os.path.join(d, tool) for d in search_path.split(":"))
                      if os.access(path, os.X_OK) and not os.path.isdir(path)), None)
        if found is None:
            raise errors.FailedPreconditionError(
                f"restoring a task with its own network namespace needs {tool} (install "
                f"{package}) to set its loopback up")
        tools.append(found)
    return {"path": "/bin/sh", "args": ["sh", "-c", _LOOPBACK_SCRIPT % tuple(tools),
                                        LOOPBACK_HOOK_NAME], "timeout": 10}


def with_loopback_hook(spec: dict[str, Any]) -> None:
    """Add loopback_hook to a spec whose task has its own network namespace (once: a
    restored task's spec, checkpointed again, has it already)."""
    linux = spec.get("linux") or {}
    if not any(ns.get("type") == "network" and not ns.get("path")
               for ns in linux.get("namespaces") or []):
        return
    hooks = spec.setdefault("hooks", {}).setdefault("createRuntime", [])
    if not any(LOOPBACK_HOOK_NAME in (hook.get("args") or []) for hook in hooks):
        hooks.append(loopback_hook())


def check_name(name: str) -> str:
    import re

    if not name or len(name) > NAME_MAX or not re.fullmatch(_NAME, name):
        raise errors.InvalidArgumentError(
            f"checkpoint name {ids.quote(name)} is invalid: must match "
            f"[A-Za-z0-9]+([._-][A-Za-z0-9]+)*, at most {NAME_MAX} characters")
    return name


def default_name(container_id: str, now_ns: int) -> str:
    """`<container>-<UTC time to the second>`, as ctr names its checkpoint images."""
    import time

    return f"{container_id}-{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime(now_ns // 10**9))}"


# --- CRIU's own files -------------------------------------------------------------------
def first_error(log_path: str) -> str:
    """CRIU's first error line in its log (without the time stamp), skipping the noise it
    logs on every run here; "" when there is none or no log."""
    import re

    try:
        with open(log_path, errors="replace") as fh:
            for line in fh:
                text = re.sub(_CRIU_TIME, "", line.strip())
                if text.startswith("Error") and not any(h in text for h in _HARMLESS):
                    return text
    except OSError:
        pass
    return ""


def logged_version(log_path: str) -> str:
    """The version CRIU names near the top of its log ("Version: 4.2.1 (gitid 0)"): the
    CRIU that really ran; "" when the log says none."""
    try:
        with open(log_path, errors="replace") as fh:
            for count, line in enumerate(fh):
                if count == 20:  # it is among the first lines
                    break
                _, sep, rest = line.partition(") Version: ")
                if sep:
                    return rest.split()[0] if rest.split() else ""
    except OSError:
        pass
    return ""


# stats-dump: the service image magic, the stats magic, then one length-prefixed StatsEntry
# whose field 1 is DumpStatsEntry (criu/images/stats.proto).
_DUMP_STATS = {1: "freezing_time", 2: "frozen_time", 3: "memdump_time", 4: "memwrite_time",
               5: "pages_scanned", 6: "pages_skipped_parent", 7: "pages_written",
               8: "irmap_resolve", 9: "pages_lazy", 10: "page_pipes", 11: "page_pipe_bufs",
               12: "shpages_scanned", 13: "shpages_skipped_parent", 14: "shpages_written"}


def _varints(data: bytes) -> Iterator[tuple[int, int, bytes | int]]:
    """(field number, wire type, value) of a protobuf message: varints and length-delimited
    fields, which are all stats.proto has (fixed-size fields end the walk)."""
    i = 0
    while i < len(data):
        key, i = _varint(data, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(data, i)
            yield number, wire, value
        elif wire == 2:
            size, i = _varint(data, i)
            yield number, wire, data[i:i + size]
            i += size
        else:
            return


def _varint(data: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while i < len(data):
        byte = data[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return value, i
        shift += 7
    raise ValueError("truncated varint")


def dump_stats(path: str) -> dict[str, int]:
    """CRIU's dump statistics (times in microseconds, page counts) from its stats-dump
    file, as podman's --print-stats shows them; {} when there is none."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
        size = int.from_bytes(data[8:12], "little")
        entry = data[12:12 + size]
        stats: dict[str, int] = {}
        for number, wire, value in _varints(entry):
            if number == 1 and wire == 2 and isinstance(value, bytes):
                for inner, inner_wire, figure in _varints(value):
                    if inner_wire == 0 and inner in _DUMP_STATS and isinstance(figure, int):
                        stats[_DUMP_STATS[inner]] = figure
        return stats
    except (OSError, ValueError):
        return {}


# --- the image as a tar -------------------------------------------------------------------
BLOCKSIZE = 512      # tarfile.BLOCKSIZE
RECORDSIZE = 10240   # tarfile.RECORDSIZE: the end-of-archive padding tarfile writes
_USTAR_SIZE_LIMIT = 8 ** 11  # 11 octal digits; larger sizes need a PAX header


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def tar_header(name: str, size: int, mode: int = 0o644, mtime: int = 0) -> bytes:
    """The header tarfile writes for a plain file (TarInfo.tobuf in PAX format), built
    here for the names and sizes a CRIU image has so that a checkpoint need not import
    tarfile; anything else (a long or non-ASCII name, 8 GiB or more) asks tarfile."""
    raw = name.encode("ascii", "replace")
    if len(raw) >= 100 or not name.isascii() or not name.isprintable() \
            or size >= _USTAR_SIZE_LIMIT:
        import tarfile

        info = tarfile.TarInfo(name)
        info.size, info.mode, info.mtime = size, mode, mtime
        return info.tobuf(format=tarfile.PAX_FORMAT)
    header = b"".join([
        raw.ljust(100, b"\0"), _octal(mode & 0o7777, 8), _octal(0, 8), _octal(0, 8),
        _octal(size, 12), _octal(mtime, 12), b" " * 8, b"0", bytes(100),
        b"ustar\x0000", bytes(32), bytes(32), bytes(8), bytes(8), bytes(155)])
    header = header.ljust(BLOCKSIZE, b"\0")
    checksum = b"%06o\0 " % sum(header)
    return header[:148] + checksum + header[156:]


def image_tar(image_dir: str) -> Iterator[bytes]:
    """The files of CRIU's image directory (flat: CRIU writes no subdirectory) as a tar,
    chunk by chunk, each file read once as it streams."""
    for name in sorted(os.listdir(image_dir)):
        path = os.path.join(image_dir, name)
        st = os.stat(path, follow_symlinks=False)
        if not stat.S_ISREG(st.st_mode):
            raise errors.InternalError(f"checkpoint image {path} is not a regular file")
        yield tar_header(name, st.st_size, st.st_mode & 0o777, int(st.st_mtime))
        with open(path, "rb") as fh:
            while chunk := fh.read(CHUNK):
                yield chunk
        if st.st_size % BLOCKSIZE:
            yield bytes(BLOCKSIZE - st.st_size % BLOCKSIZE)
    yield bytes(RECORDSIZE)


class _ChunkReader:
    """A read()-only file over an iterator of chunks (tarfile's stream mode reads it)."""

    def __init__(self, chunks: Iterable[bytes]) -> None:
        self.chunks = iter(chunks)
        self.buf = b""

    def read(self, size: int = -1) -> bytes:
        while size < 0 or len(self.buf) < size:
            chunk = next(self.chunks, None)
            if chunk is None:
                break
            self.buf += chunk
        if size < 0:
            size = len(self.buf)
        out, self.buf = self.buf[:size], self.buf[size:]
        return out

    def drain(self) -> None:
        """Read to the end: the store checks the digest after the last chunk."""
        for _ in self.chunks:
            pass


def extract_image(chunks: Iterable[bytes], image_dir: str) -> None:
    """Unpack an image tar into image_dir (made here). Only plain files with plain names
    are accepted (a tar from an import may hold anything); the whole stream is read, so a
    blob whose bytes do not match its digest raises DataLoss here, never later."""
    import tarfile

    os.mkdir(image_dir, 0o700)
    reader = _ChunkReader(chunks)
    with tarfile.open(fileobj=reader, mode="r|") as tar:  # type: ignore[call-overload]
        for member in tar:
            if not member.isfile() or "/" in member.name or member.name in ("", ".", ".."):
                raise errors.DataLossError(
                    f"checkpoint image has a member {ids.quote(member.name)} that is not a "
                    "plain file")
            source = tar.extractfile(member)
            assert source is not None
            fd = os.open(os.path.join(image_dir, member.name),
                         os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                         0o600)
            with os.fdopen(fd, "wb") as out:
                while chunk := source.read(CHUNK):
                    out.write(chunk)
    reader.drain()


# --- checkpoints in the store -------------------------------------------------------------
class Checkpoint(Plain):
    name: str
    index: Blob
    manifests: list[dict[str, object]]
    annotations: dict[str, str]

    def manifest(self, media_type: str) -> dict[str, object] | None:
        return next((m for m in self.manifests if m.get("mediaType") == media_type), None)

    @property
    def criu_digest(self) -> str:
        found = self.manifest(CRIU_TAR_TYPE)
        if found is None:
            raise errors.DataLossError(f"checkpoint {self.name}: its index "
                                       f"{self.index.digest} has no CRIU image")
        return str(found["digest"])

    @property
    def options(self) -> dict[str, str]:
        try:
            value = json.loads(self.annotations.get(A_OPTIONS, "{}"))
        except ValueError:
            return {}
        return {str(k): str(v) for k, v in value.items()} if isinstance(value, dict) else {}

    @property
    def terminal(self) -> bool:
        return self.annotations.get(A_TERMINAL) == "true"


def descriptor(blob: Blob) -> dict[str, object]:
    return {"mediaType": blob.media_type, "digest": blob.digest, "size": blob.size}


def index_document(manifests: list[dict[str, object]], annotations: dict[str, str]) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": manifests,
                       "annotations": annotations}, indent=2, sort_keys=True).encode()


class Checkpoints:
    """The named checkpoints of a content store."""

    def __init__(self, store: ContentStore) -> None:
        self.store = store

    def _read_index(self, blob: Blob, name: str) -> Checkpoint:
        data = b"".join(self.store.read(blob.digest))
        try:
            document = json.loads(data)
            manifests = [dict(m) for m in document["manifests"]]
            annotations = {str(k): str(v) for k, v in
                           (document.get("annotations") or {}).items()}
        except (ValueError, KeyError, TypeError) as exc:
            raise errors.DataLossError(f"checkpoint index {blob.path}: not an OCI index: "
                                       f"{exc}") from None
        return Checkpoint(name=name, index=blob, manifests=manifests, annotations=annotations)

    def _indexes(self) -> Iterator[tuple[str, Blob]]:
        for blob in self.store.blobs():
            if blob.media_type != INDEX_TYPE:
                continue
            for user in blob.used_by:
                if user.startswith(REF_PREFIX):
                    yield user[len(REF_PREFIX):], blob

    def names(self) -> list[tuple[str, Blob]]:
        return sorted(self._indexes(), key=lambda item: (item[1].created, item[0]))

    def all(self) -> list[Checkpoint]:
        return [self._read_index(blob, name) for name, blob in self.names()]

    def exists(self, name: str) -> bool:
        return any(found == name for found, _ in self._indexes())

    def get(self, ref: str) -> Checkpoint:
        """A checkpoint by name, index digest, CRIU image digest or a unique prefix of
        either; NotFound / InvalidArgument otherwise. The index is verified as read."""
        named = [blob for name, blob in self._indexes() if name == ref]
        if named:
            return self._read_index(named[0], ref)
        try:
            hex_digest = self.store.resolve(ref)
        except errors.InvalidArgumentError:
            raise errors.NotFoundError(f"checkpoint {ids.quote(ref)} not found (not a "
                                       "checkpoint name nor a digest)") from None
        except errors.NotFoundError:
            raise errors.NotFoundError(f"checkpoint {ids.quote(ref)} not found") from None
        digest = f"{ALGORITHM}:{hex_digest}"
        for name, blob in self._indexes():
            if blob.digest == digest:
                return self._read_index(blob, name)
        for name, blob in self._indexes():
            found = self._read_index(blob, name)
            if found.manifest(CRIU_TAR_TYPE) and found.criu_digest == digest:
                return found
        raise errors.NotFoundError(f"{digest} is not a checkpoint nor the CRIU image of one")

    def register(self, name: str, blobs: list[Blob], *, sync_dirs: bool = True) -> None:
        """Name the checkpoint on each blob; sync_dirs=False leaves making the refs
        durable to the caller's ContentStore.sync_dirs."""
        for blob in blobs:
            self.store.add_ref(blob.digest, REF_PREFIX + name, sync_dir=sync_dirs)


# --- removal, export and import -----------------------------------------------------------
def remove(store: ContentStore, found: Checkpoint) -> list[str]:
    """Drop the checkpoint's name from its blobs, and each blob nothing else uses; the
    digests removed."""
    user = REF_PREFIX + found.name
    removed = []
    for digest in [found.index.digest, *(str(m["digest"]) for m in found.manifests)]:
        try:
            store.remove_ref(digest, user)
            if not store.users(store.resolve(digest)):
                removed.append(store.remove(digest))
        except errors.NotFoundError:
            continue  # already gone (removed by force)
    return removed


LAYOUT_FILE = "oci-layout"
LAYOUT_INDEX = "index.json"
BLOBS_PREFIX = f"blobs/{ALGORITHM}/"


def _member(name: str, size: int) -> bytes:
    return tar_header(name, size)


def _padding(size: int) -> bytes:
    return bytes(-size % BLOCKSIZE)


def export_tar(store: ContentStore, found: Checkpoint,
               progress: Callable[[int], None] | None = None) -> Iterator[bytes]:
    """The checkpoint as an OCI image layout tar (`oci-layout`, `index.json` naming it,
    `blobs/sha256/...`), each blob read (and verified) once as it streams."""
    index_json = json.dumps({"schemaVersion": 2, "mediaType": INDEX_TYPE, "manifests": [{
        **descriptor(found.index), "annotations": {A_NAME: found.name}}]},
        sort_keys=True).encode()
    layout_json = b'{"imageLayoutVersion": "1.0.0"}'
    for name, data in ((LAYOUT_FILE, layout_json), (LAYOUT_INDEX, index_json)):
        yield _member(name, len(data)) + data + _padding(len(data))
    for digest in [found.index.digest, *(str(m["digest"]) for m in found.manifests)]:
        blob = store.info(digest, verify=False)
        yield _member(BLOBS_PREFIX + digest.split(":", 1)[1], blob.size)
        for chunk in store.read(digest):
            yield chunk
            if progress is not None:
                progress(len(chunk))
        yield _padding(blob.size)
    yield bytes(RECORDSIZE)


def export_size(store: ContentStore, found: Checkpoint) -> int:
    return sum(store.info(d, verify=False).size for d in
               [found.index.digest, *(str(m["digest"]) for m in found.manifests)])


def import_tar(store: ContentStore, stream: BinaryIO,
               progress: Callable[[int], None] | None = None) -> list[str]:
    """Register the checkpoints of an OCI image layout tar: every blob is written through
    the store with the digest and size its name and header give (DataLoss otherwise, and
    nothing of it is committed); then each named index becomes a checkpoint. Importing
    twice is harmless; a name already used by another checkpoint is AlreadyExists."""
    import tarfile

    index_json: dict[str, Any] | None = None
    written: dict[str, Blob] = {}
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        for member in tar:
            if member.name == LAYOUT_INDEX and member.isfile():
                source = tar.extractfile(member)
                assert source is not None
                try:
                    index_json = json.loads(source.read())
                except ValueError as exc:
                    raise errors.DataLossError(f"{LAYOUT_INDEX}: not JSON: {exc}") from None
                continue
            if not member.name.startswith(BLOBS_PREFIX) or not member.isfile():
                continue
            hex_digest = member.name[len(BLOBS_PREFIX):]
            source = tar.extractfile(member)
            assert source is not None

            def chunks(source: Any = source) -> Iterator[bytes]:
                while chunk := source.read(CHUNK):
                    if progress is not None:
                        progress(len(chunk))
                    yield chunk

            blob = store.write(chunks(), expected_digest=f"{ALGORITHM}:{hex_digest}",
                               expected_size=member.size)
            written[blob.digest] = blob
    if not isinstance(index_json, dict) or not isinstance(index_json.get("manifests"), list):
        raise errors.DataLossError(f"not an OCI image layout: no {LAYOUT_INDEX} with "
                                   "manifests")
    checkpoints = Checkpoints(store)
    names = []
    for entry in index_json["manifests"]:
        name = check_name(str((entry.get("annotations") or {}).get(A_NAME, "")))
        digest = str(entry.get("digest", ""))
        if digest not in written:
            raise errors.DataLossError(f"{LAYOUT_INDEX} names {digest}, which the tar lacks")
        store.set_media_type(digest, INDEX_TYPE)
        found = checkpoints._read_index(store.info(digest, verify=False), name)
        for manifest in found.manifests:
            if str(manifest.get("digest")) not in written:
                raise errors.DataLossError(
                    f"checkpoint {name}: the tar lacks its blob {manifest.get('digest')}")
            store.set_media_type(str(manifest["digest"]), str(manifest.get("mediaType", "")))
        existing = [blob for other, blob in checkpoints.names() if other == name]
        if existing and existing[0].digest != digest:
            raise errors.AlreadyExistsError(f"checkpoint {name} already exists (as "
                                            f"{existing[0].digest})")
        blobs = [store.info(d, verify=False) for d in
                 [digest, *(str(m["digest"]) for m in found.manifests)]]
        checkpoints.register(name, blobs)
        names.append(name)
    return names
