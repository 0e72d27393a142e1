"""Images: archives imported into the content store, layers into snapshots, records last
(docs/architecture.md §9).

An import reads the archive once, as a stream (a file or stdin): every blob member goes
straight into the content store, verified against the digest its name gives while it
streams (`blobs/sha256/<hex>`, a docker config `<hex>.json`); a docker layer named
`<id>/layer.tar` is checked against its config's diff id once the config is known. Each
blob it writes gets an `import.<pid>-<tag>` ref at once, so a concurrent import or `rm`
never removes it under us. Then the index (OCI `index.json`, else docker's
`manifest.json`) picks one manifest per image name for the platform (the host's unless
--platform), every layer is unpacked into its snapshot (pytasks/snapshots.py), and only
then each image gets its refs (`image.<ns>.<name>`) and its record. On any failure the
import's refs go and every blob it brought that nobody else uses is removed: nothing
half-imported remains.
"""

from __future__ import annotations

import json
import os
import stat
import tarfile

from pytasks import errors
from pytasks.snapshots import Snapshots, chain_ids
from pytasks.state.container_record import now_rfc3339
from pytasks.state.content import ContentStore, parse_digest
from pytasks.state.image_record import ImageStore, check_name, content_ref
from pytasks.state.layout import IMAGE_REF_PREFIX, Layout
from pytasks.state.lock import TaskLock

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, BinaryIO

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
NAME_ANNOTATIONS = ("io.containerd.image.name", "org.opencontainers.image.ref.name")
JSON_MAX = 4 << 20  # index, manifest and config files are small; a huge one is hostile
CHUNK = 1 << 20
IMPORT_REF_PREFIX = "import."
# platform.machine() -> the OCI architecture (and variant).
ARCHITECTURES = {"x86_64": ("amd64", ""), "aarch64": ("arm64", ""), "armv7l": ("arm", "v7"),
                 "armv6l": ("arm", "v6"), "i686": ("386", ""), "i386": ("386", ""),
                 "ppc64le": ("ppc64le", ""), "s390x": ("s390x", ""),
                 "riscv64": ("riscv64", "")}


def host_platform() -> str:
    import platform

    arch, variant = ARCHITECTURES.get(platform.machine(), (platform.machine(), ""))
    return f"linux/{arch}" + (f"/{variant}" if variant else "")


def parse_platform(text: str) -> tuple[str, str, str]:
    if not text.isprintable() or not text.isascii():
        raise errors.InvalidArgumentError(f"bad platform {text!r}: want OS/ARCH[/VARIANT]")
    parts = text.split("/")
    if len(parts) not in (2, 3) or not all(parts):
        raise errors.InvalidArgumentError(f"bad platform {text!r}: want OS/ARCH[/VARIANT]")
    return parts[0], parts[1], parts[2] if len(parts) == 3 else ""


def _platform_of(value: dict[str, Any]) -> str:
    os_name, arch = value.get("os", ""), value.get("architecture", "")
    variant = value.get("variant", "")
    if not isinstance(os_name, str) or not isinstance(arch, str) or not os_name or not arch:
        return ""
    return f"{os_name}/{arch}" + (f"/{variant}" if isinstance(variant, str) and variant
                                  else "")


def _matches(found: str, wanted: str) -> bool:
    """A platform without a variant accepts any variant (arm64 is arm64/v8)."""
    if not found:
        return False
    f, w = parse_platform(found), parse_platform(wanted)
    return f[:2] == w[:2] and (not w[2] or not f[2] or f[2] == w[2])


class Images:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout
        self.store = ContentStore(layout)
        self.records = ImageStore(layout)
        self.snapshots = Snapshots(layout, self.store)

    def lock(self) -> TaskLock:
        from pytasks.state.layout import ensure_dir

        path = self.layout.image_lock_file()
        ensure_dir(os.path.dirname(path))
        return TaskLock(path, f"the images of namespace {self.layout.namespace}")

    # --- import ----------------------------------------------------------------------------
    def import_archive(self, stream: BinaryIO, source: str, *, platform: str | None = None,
                       name: str | None = None,
                       progress: Callable[[str], None] | None = None) -> list[dict[str, Any]]:
        """Import every image of the archive (one manifest per name, for the platform);
        their records."""
        wanted = platform or host_platform()
        parse_platform(wanted)
        if name is not None:
            check_name(name)
        self.drop_dead_imports()
        import_ref = f"{IMPORT_REF_PREFIX}{os.getpid()}-{os.urandom(4).hex()}"
        written: set[str] = set()
        try:
            archive = _Archive(self.store, import_ref, written, source)
            archive.read(stream, progress)
            chosen = archive.images(wanted, name)
            for image in chosen:
                for layer, diff_id, chain_id in zip(image["layers"], image["diff_ids"],
                                                    image["chain_ids"], strict=True):
                    if progress is not None and not self.snapshots.exists(chain_id):
                        progress(f"unpacking {layer['digest']}")
                    self.snapshots.unpack(layer["digest"], diff_id, chain_id)
            with self.lock():
                for image in chosen:
                    self._commit(image)
            # An `images rm` of another image (of another namespace, under another lock)
            # may have taken a shared snapshot before our record named it: now that the
            # record does, none goes again, and our import ref still holds the blobs.
            for image in chosen:
                for layer, diff_id, chain_id in zip(image["layers"], image["diff_ids"],
                                                    image["chain_ids"], strict=True):
                    self.snapshots.unpack(layer["digest"], diff_id, chain_id)
        finally:
            self._drop_import(import_ref, written)
        return chosen

    def _commit(self, image: dict[str, Any]) -> None:
        """Refs first, the record last; an older record of the name lets go of its blobs."""
        try:
            old = self.records.get(image["name"])
        except errors.NotFoundError:
            old = None
        ref = content_ref(self.layout.namespace, image["name"])
        types = {image["target"]["digest"]: image["target"]["media_type"],
                 image["config"]["digest"]: image["config"]["media_type"],
                 **{layer["digest"]: layer["media_type"] for layer in image["layers"]}}
        if image.get("index"):
            types[image["index"]] = OCI_INDEX
        for digest in _blobs_of(image):
            self.store.add_ref(digest, ref)
            if types.get(digest):
                self.store.set_media_type(digest, types[digest])
        image["imported_at"] = now_rfc3339()
        self.records.put(image)
        if old is not None:
            self._release(old, keep=set(_blobs_of(image)))

    def drop_dead_imports(self) -> list[str]:
        """The refs of imports whose process is gone (killed before their cleanup), and the
        blobs only they held; the refs dropped. A reused pid keeps its blobs a while
        longer, never fewer."""
        refs_root = os.path.dirname(self.layout.blob_refs_dir("x"))
        try:
            hexes = os.listdir(refs_root)
        except FileNotFoundError:
            return []
        dropped = []
        for hex_digest in hexes:
            for user in self.store.users(hex_digest):
                if not user.startswith(IMPORT_REF_PREFIX):
                    continue
                pid = user[len(IMPORT_REF_PREFIX):].partition("-")[0]
                if pid.isdigit() and not os.path.exists(f"/proc/{pid}"):
                    self._drop_import(user, {hex_digest})
                    dropped.append(user)
        return dropped

    def _drop_import(self, import_ref: str, written: set[str]) -> None:
        for hex_digest in written:
            try:
                self.store.remove_ref(hex_digest, import_ref)
                if not self.store.users(hex_digest):
                    self.store.remove(hex_digest)
            except (errors.NotFoundError, errors.FailedPreconditionError):
                pass  # gone already, or another import registered meanwhile: it stays

    # --- reading ---------------------------------------------------------------------------
    def list(self) -> list[dict[str, Any]]:
        return self.records.list()

    def get(self, ref: str) -> dict[str, Any]:
        return self.records.find(ref)

    def config(self, record: dict[str, Any]) -> dict[str, Any]:
        """The image's config blob, read (and verified) from the store."""
        data = b"".join(self.store.read(record["config"]["digest"]))
        value = _json(data, f"config {record['config']['digest']}", errors.DataLossError)
        return value

    # --- removal ---------------------------------------------------------------------------
    def remove(self, ref: str, *, force: bool = False) -> str:
        """Remove an image record, then its refs, then blobs and snapshots nobody else
        uses. FailedPrecondition while a container of this namespace uses it, unless
        forced (its snapshots then stay while any container names them)."""
        with self.lock():
            record = self.records.find(ref)
            from pytasks.state.container_record import ContainerStore

            users = [c["id"] for c in ContainerStore(self.layout).list()[0]
                     if c.get("image") == record["name"]]
            if users and not force:
                raise errors.FailedPreconditionError(
                    f"image {record['name']} is used by container {', '.join(users)}: "
                    "delete it first, or force")
            self.records.remove(record["name"])
            self._release(record, keep=set())
        return record["name"]

    def _release(self, record: dict[str, Any], keep: set[str]) -> None:
        ref = content_ref(self.layout.namespace, record["name"])
        for digest in _blobs_of(record):
            if digest in keep:
                continue
            try:
                self.store.remove_ref(digest, ref)
                if not self.store.users(parse_digest(digest)):
                    self.store.remove(digest)
            except (errors.NotFoundError, errors.FailedPreconditionError):
                pass  # gone already, or a new user registered meanwhile: it stays
        used = snapshot_users(self.layout)
        for chain_id in record["chain_ids"]:
            if chain_id not in used:
                self.snapshots.remove(chain_id)


class ImageProcess:
    """What an image's config gives a container's process, as podman reads it."""

    def __init__(self, config: dict[str, Any]) -> None:
        inner = config.get("config") if isinstance(config.get("config"), dict) else {}
        assert isinstance(inner, dict)

        def strings(key: str) -> list[str]:
            value = inner.get(key)
            if isinstance(value, str):  # Cmd as a shell string (old docker configs)
                return ["/bin/sh", "-c", value]
            return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []

        self.entrypoint, self.cmd, self.env = strings("Entrypoint"), strings("Cmd"), []
        env = inner.get("Env")
        if isinstance(env, list):
            self.env = [e for e in env if isinstance(e, str) and "=" in e]
        workdir, user = inner.get("WorkingDir"), inner.get("User")
        self.cwd = workdir if isinstance(workdir, str) and workdir.startswith("/") else "/"
        self.user = user if isinstance(user, str) else ""

    def args(self, command: list[str]) -> list[str]:
        """Entrypoint + the given command, else Entrypoint + Cmd."""
        return [*self.entrypoint, *(command or self.cmd)]


def overlay_mount(layout: Layout, chain_ids_: list[str], container_id: str
                  ) -> dict[str, Any]:
    """The one rootfs mount of an image's container: its snapshots as lowerdirs (the top
    layer first), its own upper and work dirs, made here when missing."""
    from pytasks.state.layout import ensure_dir

    lowers = []
    for chain_id in reversed(chain_ids_):
        fs = layout.snapshot_fs_dir(parse_digest(chain_id))
        if not os.path.isdir(fs):
            raise errors.FailedPreconditionError(
                f"container {container_id}: snapshot {chain_id} of its image is missing "
                "(import the image again)")
        lowers.append(fs)
    upper_root = layout.upper_dir(container_id)
    upper, work = os.path.join(upper_root, "upper"), os.path.join(upper_root, "work")
    for path in (*lowers, upper, work):
        if any(c in path for c in ",:"):
            raise errors.InvalidArgumentError(
                f"{path}: an overlay mount cannot name a path with ',' or ':' (use another "
                "--root)")
    ensure_dir(upper)
    os.chmod(upper, 0o755)  # the container's / when the image's top layer has no ./ entry
    ensure_dir(work)
    return {"type": "overlay", "source": "overlay",
            "options": [f"lowerdir={':'.join(lowers)}", f"upperdir={upper}",
                        f"workdir={work}"]}


def account_files(layout: Layout, chain_ids_: list[str], view: str) -> None:
    """Copy the image's /etc/passwd and /etc/group as the merged root would show them (the
    top-most layer that has or deletes each) into view/etc, for --user names."""
    from pytasks.accounts import read_in_root

    os.makedirs(os.path.join(view, "etc"), exist_ok=True)
    for name in ("etc/passwd", "etc/group"):
        for chain_id in reversed(chain_ids_):
            fs = layout.snapshot_fs_dir(parse_digest(chain_id))
            try:
                st = os.lstat(os.path.join(fs, name))
            except (FileNotFoundError, NotADirectoryError):
                continue
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                break  # a whiteout: deleted by this layer
            try:
                data = read_in_root(fs, name)
            except OSError:
                break
            with open(os.path.join(view, name), "wb") as out:
                out.write(data)
            break


def snapshot_users(layout: Layout) -> set[str]:
    """Every chain id an image record or a container record of any namespace names."""
    from pytasks.state import atomic
    from pytasks.state.layout import CONTAINERS_DIR, IMAGES_DIR

    used: set[str] = set()
    try:
        namespaces = os.listdir(layout.root)
    except FileNotFoundError:
        return used
    for namespace in namespaces:
        for kind in (IMAGES_DIR, CONTAINERS_DIR):
            directory = os.path.join(layout.root, namespace, kind)
            try:
                names = os.listdir(directory)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for entry in names:
                record = atomic.read_json_object(os.path.join(directory, entry))
                if record is None:
                    continue
                chains = record.get("chain_ids") if kind == IMAGES_DIR else \
                    (record.get("rootfs") or {}).get("snapshots")
                if isinstance(chains, list):
                    used.update(c for c in chains if isinstance(c, str))
    return used


def _blobs_of(image: dict[str, Any]) -> list[str]:
    digests = [image["target"]["digest"], image["config"]["digest"],
               *(layer["digest"] for layer in image["layers"])]
    if image.get("index"):
        digests.append(image["index"])
    return list(dict.fromkeys(digests))


def _json(data: bytes, what: str, error: type[errors.PytasksError] = errors.InvalidArgumentError
          ) -> dict[str, Any]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError) as exc:
        raise error(f"{what}: not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise error(f"{what}: not a JSON object")
    return value


def _descriptor(value: object, what: str) -> dict[str, Any]:
    if not isinstance(value, dict) or not isinstance(value.get("digest"), str) \
            or not isinstance(value.get("size"), int) or isinstance(value.get("size"), bool):
        raise errors.InvalidArgumentError(f"{what}: not a descriptor (digest, size)")
    try:
        parse_digest(value["digest"])
    except errors.InvalidArgumentError as exc:
        raise errors.InvalidArgumentError(f"{what}: {exc}") from None
    media_type = value.get("mediaType", "")
    return {"digest": value["digest"], "size": value["size"],
            "media_type": media_type if isinstance(media_type, str) else ""}


class _Archive:
    """One pass over the archive: blobs into the store, index files kept in memory."""

    def __init__(self, store: ContentStore, import_ref: str, written: set[str],
                 source: str) -> None:
        self.store, self.import_ref, self.written = store, import_ref, written
        self.source = source
        self.blobs: dict[str, str] = {}      # member path -> blob hex
        self.files: dict[str, bytes] = {}    # index.json, manifest.json, ...
        self.links: dict[str, str] = {}      # member path -> the member path it names
        self.unchecked: set[str] = set()     # blobs whose digest no member name gave

    def read(self, stream: BinaryIO, progress: Callable[[str], None] | None) -> None:
        current = "(the archive's start)"
        try:
            with tarfile.open(fileobj=stream, mode="r|*") as tar:
                for member in tar:
                    current = member.name
                    self._member(tar, member, progress)
        except tarfile.TarError as exc:
            if "unexpected end" in str(exc):
                raise errors.InvalidArgumentError(
                    f"{self.source}: truncated at member {current}: {exc}") from None
            raise errors.InvalidArgumentError(
                f"{self.source}: not a readable tar archive at member {current}: {exc}"
            ) from None
        except EOFError as exc:
            raise errors.InvalidArgumentError(
                f"{self.source}: truncated at member {current}: {exc}") from None

    def _member(self, tar: tarfile.TarFile, member: tarfile.TarInfo,
                progress: Callable[[str], None] | None) -> None:
        name = _clean(member.name)
        if member.issym() or member.islnk():
            target = member.linkname if member.islnk() else \
                os.path.join(os.path.dirname(name), member.linkname)
            self.links[name] = _clean(os.path.normpath(target))
            return
        if not member.isreg():
            return
        expected = ""
        if name.startswith("blobs/"):
            algorithm, _, hex_digest = name[len("blobs/"):].partition("/")
            try:
                expected = parse_digest(f"{algorithm}:{hex_digest}")
            except errors.InvalidArgumentError:
                raise errors.InvalidArgumentError(
                    f"{self.source}: member {name}: not a blob name (blobs/sha256/<hex>)"
                ) from None
        elif "/" not in name and name.endswith(".json") and len(name) == 64 + 5:
            try:
                expected = parse_digest(name[:-5])  # a docker archive's config
            except errors.InvalidArgumentError:
                expected = ""
        if not expected and name in ("index.json", "manifest.json", "oci-layout",
                                     "repositories"):
            if member.size > JSON_MAX:
                raise errors.InvalidArgumentError(
                    f"{self.source}: member {name}: {member.size} bytes, too large")
            source = tar.extractfile(member)
            assert source is not None
            self.files[name] = source.read()
            return
        if not expected and not name.endswith(".tar"):
            return  # docker's per-layer json and VERSION: nothing reads them
        if progress is not None:
            progress(f"reading {name}")
        source = tar.extractfile(member)
        assert source is not None
        try:
            blob = self.store.write(iter(lambda: source.read(CHUNK), b""),
                                    expected_digest=expected, expected_size=member.size,
                                    ref=self.import_ref)
        except errors.DataLossError as exc:
            raise errors.DataLossError(f"{self.source}: member {name}: {exc}") from None
        hex_digest = parse_digest(blob.digest)
        self.written.add(hex_digest)
        self.blobs[name] = hex_digest
        if not expected:
            self.unchecked.add(hex_digest)

    # --- after the pass ----------------------------------------------------------------
    def _path_blob(self, path: str, what: str) -> str:
        seen = set()
        path = _clean(path)
        while path in self.links and path not in seen:
            seen.add(path)
            path = self.links[path]
        if path not in self.blobs:
            raise errors.InvalidArgumentError(
                f"{self.source}: {what} names {path}, which is not in the archive")
        return self.blobs[path]

    def _blob_json(self, digest: str, what: str) -> dict[str, Any]:
        hex_digest = parse_digest(digest)
        if hex_digest not in self.blobs.values():
            raise errors.InvalidArgumentError(
                f"{self.source}: {what} names blob {digest}, which is not in the archive")
        data = b"".join(self.store.read(hex_digest))
        if len(data) > JSON_MAX:
            raise errors.InvalidArgumentError(f"{self.source}: blob {digest} ({what}): "
                                              "too large for JSON")
        return _json(data, f"{self.source}: blob {digest} ({what})")

    def images(self, wanted: str, name: str | None) -> list[dict[str, Any]]:
        if "index.json" in self.files:
            found = self._oci_images(wanted)
        elif "manifest.json" in self.files:
            found = self._docker_images()
        else:
            raise errors.InvalidArgumentError(
                f"{self.source}: neither index.json (an OCI layout) nor manifest.json (a "
                "docker archive) is in the archive")
        if not found:
            raise errors.InvalidArgumentError(f"{self.source}: the archive holds no image")
        if name is not None:
            if len(found) > 1:
                raise errors.InvalidArgumentError(
                    f"{self.source}: --name needs an archive of one image; this one has "
                    f"{len(found)}")
            found[0]["name"] = name
        for image in found:
            if not image["name"]:
                image["name"] = image["target"]["digest"]
            check_name(image["name"])
        return found

    def _oci_images(self, wanted: str) -> list[dict[str, Any]]:
        index = _json(self.files["index.json"], f"{self.source}: member index.json")
        manifests = index.get("manifests")
        if not isinstance(manifests, list):
            raise errors.InvalidArgumentError(
                f"{self.source}: member index.json: no manifests list")
        by_name: dict[str, list[tuple[dict[str, Any], str]]] = {}
        for i, entry in enumerate(manifests):
            what = f"index.json manifests[{i}]"
            desc = _descriptor(entry, f"{self.source}: member {what}")
            annotations = entry.get("annotations") or {}
            image_name = next((annotations[k] for k in NAME_ANNOTATIONS
                               if isinstance(annotations.get(k), str) and annotations[k]), "")
            by_name.setdefault(image_name, []).append(
                ({**desc, "platform": entry.get("platform") or {}}, ""))
        images = []
        for image_name, entries in by_name.items():
            candidates: list[tuple[dict[str, Any], str]] = []
            for desc, _ in entries:
                if desc["media_type"] in INDEX_TYPES:
                    inner = self._blob_json(desc["digest"], "index.json")
                    listed = inner.get("manifests")
                    if not isinstance(listed, list):
                        raise errors.InvalidArgumentError(
                            f"{self.source}: blob {desc['digest']}: an index without "
                            "manifests")
                    for j, item in enumerate(listed):
                        sub = _descriptor(item, f"{self.source}: blob {desc['digest']} "
                                                f"manifests[{j}]")
                        sub["platform"] = item.get("platform") or {}
                        candidates.append((sub, desc["digest"]))
                else:
                    candidates.append((desc, ""))
            pick = self._pick(candidates, wanted, image_name)
            if pick is None:
                continue
            images.append(self._image(image_name, pick[0], pick[1]))
        if not images:
            raise errors.NotFoundError(
                f"{self.source}: no image in the archive is for platform {wanted} "
                "(--platform picks another)")
        return images

    def _pick(self, candidates: list[tuple[dict[str, Any], str]], wanted: str,
              image_name: str) -> tuple[dict[str, Any], str] | None:
        manifests = [(d, i) for d, i in candidates
                     if d["media_type"] in MANIFEST_TYPES or not d["media_type"]]
        if not manifests:
            return None
        if len(manifests) == 1 and not _platform_of(manifests[0][0]["platform"]):
            return manifests[0]
        for desc, parent in manifests:
            if _matches(_platform_of(desc["platform"]), wanted):
                return desc, parent
        # Descriptors without platforms: the manifest's config says it.
        for desc, parent in manifests:
            if not _platform_of(desc["platform"]):
                manifest = self._blob_json(desc["digest"], "index.json")
                config = _descriptor(manifest.get("config"),
                                     f"{self.source}: blob {desc['digest']} config")
                if _matches(_platform_of(self._blob_json(config["digest"], "a manifest")),
                            wanted):
                    return desc, parent
        return None

    def _image(self, image_name: str, desc: dict[str, Any], index: str) -> dict[str, Any]:
        what = f"blob {desc['digest']}"
        manifest = self._blob_json(desc["digest"], "index.json")
        config = _descriptor(manifest.get("config"), f"{self.source}: {what} config")
        layers_in = manifest.get("layers")
        if not isinstance(layers_in, list):
            raise errors.InvalidArgumentError(f"{self.source}: {what}: no layers list")
        layers = [_descriptor(layer, f"{self.source}: {what} layers[{i}]")
                  for i, layer in enumerate(layers_in)]
        for layer in layers:
            if parse_digest(layer["digest"]) not in self.blobs.values():
                raise errors.InvalidArgumentError(
                    f"{self.source}: {what} names layer {layer['digest']}, which is not in "
                    "the archive")
        config_value = self._blob_json(config["digest"], what)
        target = {"digest": desc["digest"], "size": desc["size"],
                  "media_type": desc["media_type"] or OCI_MANIFEST}
        return self._record(image_name, target, index, config, layers, config_value)

    def _record(self, image_name: str, target: dict[str, Any], index: str,
                config: dict[str, Any], layers: list[dict[str, Any]],
                config_value: dict[str, Any]) -> dict[str, Any]:
        rootfs = config_value.get("rootfs")
        diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        where = f"{self.source}: config {config['digest']}"
        if not isinstance(diff_ids, list) or len(diff_ids) != len(layers):
            raise errors.InvalidArgumentError(
                f"{where}: rootfs.diff_ids does not list one diff id per layer "
                f"({len(layers)})")
        for diff_id in diff_ids:
            if not isinstance(diff_id, str):
                raise errors.InvalidArgumentError(f"{where}: a diff id is not a string")
            try:
                parse_digest(diff_id)
            except errors.InvalidArgumentError as exc:
                raise errors.InvalidArgumentError(f"{where}: {exc}") from None
        created = config_value.get("created")
        return {"name": image_name, "target": target, "index": index,
                "config": {**config, "media_type": config["media_type"] or OCI_CONFIG},
                "layers": layers, "diff_ids": list(diff_ids),
                "chain_ids": chain_ids(list(diff_ids)),
                "platform": _platform_of(config_value),
                "created": created if isinstance(created, str) else ""}

    def _docker_images(self) -> list[dict[str, Any]]:
        try:
            entries = json.loads(self.files["manifest.json"])
        except (ValueError, RecursionError) as exc:
            raise errors.InvalidArgumentError(
                f"{self.source}: member manifest.json: not JSON: {exc}") from None
        if not isinstance(entries, list):
            raise errors.InvalidArgumentError(
                f"{self.source}: member manifest.json: not a list of images")
        images = []
        for i, entry in enumerate(entries):
            what = f"manifest.json [{i}]"
            if not isinstance(entry, dict) or not isinstance(entry.get("Config"), str) \
                    or not isinstance(entry.get("Layers"), list) \
                    or not all(isinstance(p, str) for p in entry["Layers"]):
                raise errors.InvalidArgumentError(
                    f"{self.source}: member {what}: want Config and Layers paths")
            config_hex = self._path_blob(entry["Config"], what)
            config_value = self._blob_json(config_hex, what)
            config_size = os.stat(self.store.layout.blob_file(config_hex)).st_size
            config = {"digest": f"sha256:{config_hex}", "size": config_size,
                      "media_type": OCI_CONFIG}
            layers = []
            for path in entry["Layers"]:
                layer_hex = self._path_blob(path, what)
                layers.append({"digest": f"sha256:{layer_hex}",
                               "size": os.stat(self.store.layout.blob_file(layer_hex)).st_size,
                               "media_type": _layer_type(self.store, layer_hex)})
            # The manifest docker archives lack: written here, so an image's target is a
            # blob like any other (and `content get` of it is an OCI manifest).
            manifest = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                        "config": {"mediaType": OCI_CONFIG, "digest": config["digest"],
                                   "size": config["size"]},
                        "layers": [{"mediaType": layer["media_type"],
                                    "digest": layer["digest"], "size": layer["size"]}
                                   for layer in layers]}
            data = json.dumps(manifest, separators=(",", ":")).encode()
            blob = self.store.write([data], media_type=OCI_MANIFEST, ref=self.import_ref)
            self.written.add(parse_digest(blob.digest))
            target = {"digest": blob.digest, "size": blob.size, "media_type": OCI_MANIFEST}
            record = self._record("", target, "", config, layers, config_value)
            for path, layer, diff_id in zip(entry["Layers"], layers, record["diff_ids"],
                                            strict=True):
                if parse_digest(str(layer["digest"])) in self.unchecked \
                        and layer["media_type"] == OCI_LAYER and layer["digest"] != diff_id:
                    raise errors.DataLossError(
                        f"{self.source}: member {path}: its bytes hash to {layer['digest']}, "
                        f"not the diff id {diff_id} its config gives; nothing was imported")
            tags = entry.get("RepoTags") or [""]
            if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
                raise errors.InvalidArgumentError(
                    f"{self.source}: member {what}: RepoTags is not a list of names")
            for tag in tags:
                images.append({**record, "name": tag})
        return images


def _layer_type(store: ContentStore, hex_digest: str) -> str:
    with open(store.layout.blob_file(hex_digest), "rb") as stream:
        head = stream.read(4)
    if head.startswith(b"\x1f\x8b"):
        return f"{OCI_LAYER}+gzip"
    if head == b"\x28\xb5\x2f\xfd":
        return f"{OCI_LAYER}+zstd"
    return OCI_LAYER


def _clean(name: str) -> str:
    while name.startswith("./"):
        name = name[2:]
    return name.lstrip("/")


def describe(record: dict[str, Any]) -> dict[str, Any]:
    """An image as `images info` prints it."""
    size = sum(layer["size"] for layer in record["layers"]) + record["config"]["size"]
    return {**record, "size": size}


__all__ = ["IMAGE_REF_PREFIX", "Images", "describe", "host_platform", "snapshot_users"]
