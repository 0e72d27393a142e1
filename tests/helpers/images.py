"""Test images written for real with tarfile: OCI image layout archives and docker
archives (docker save's format), from the busybox rootfs and layers given as entries.

A layer is a list of `Entry`s (or a directory); `Image` holds its layers (uncompressed
tars), each with the compression it is stored with, and its config.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import tarfile
from pathlib import Path
from typing import Any

import zstandard

OCI_LAYOUT = b'{"imageLayoutVersion": "1.0.0"}'
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
INDEX = "application/vnd.oci.image.index.v1+json"
CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER = "application/vnd.oci.image.layer.v1.tar"


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Entry:
    """One tar member: kind is file, dir, symlink, hardlink, char, fifo."""

    def __init__(self, name: str, kind: str = "file", data: bytes = b"", *,
                 mode: int | None = None, uid: int = 0, gid: int = 0, link: str = "",
                 xattrs: dict[str, str] | None = None, dev: tuple[int, int] = (0, 0)):
        self.name, self.kind, self.data, self.link = name, kind, data, link
        self.mode = mode if mode is not None else (0o755 if kind == "dir" else 0o644)
        self.uid, self.gid, self.xattrs, self.dev = uid, gid, xattrs or {}, dev

    def info(self) -> tarfile.TarInfo:
        info = tarfile.TarInfo(self.name)
        info.mode, info.uid, info.gid, info.mtime = self.mode, self.uid, self.gid, 1_700_000_000
        info.type = {"file": tarfile.REGTYPE, "dir": tarfile.DIRTYPE,
                     "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                     "char": tarfile.CHRTYPE, "fifo": tarfile.FIFOTYPE}[self.kind]
        info.linkname = self.link
        info.devmajor, info.devminor = self.dev
        if self.kind == "file":
            info.size = len(self.data)
        if self.xattrs:
            info.pax_headers = {f"SCHILY.xattr.{k}": v for k, v in self.xattrs.items()}
        return info


def layer_tar(entries: list[Entry]) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in entries:
            tar.addfile(entry.info(), io.BytesIO(entry.data) if entry.kind == "file" else None)
    return out.getvalue()


def directory_tar(root: Path) -> bytes:
    """A layer of a whole directory tree (the busybox rootfs), names relative to it."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(root.rglob("*")):
            tar.add(path, arcname=str(path.relative_to(root)), recursive=False)
    return out.getvalue()


def compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, compresslevel=1, mtime=0)
    if how == "zstd":
        return zstandard.ZstdCompressor(level=1).compress(data)
    return data


class Image:
    def __init__(self, layers: list[tuple[bytes, str]], *, name: str = "test:latest",
                 entrypoint: list[str] | None = None, cmd: list[str] | None = None,
                 env: list[str] | None = None, workdir: str = "", user: str = "",
                 architecture: str = "amd64") -> None:
        self.name, self.architecture = name, architecture
        self.layers = [(compress(tar, how), tar, how) for tar, how in layers]
        config: dict[str, Any] = {"Env": env or ["PATH=/bin:/usr/bin"]}
        if entrypoint is not None:
            config["Entrypoint"] = entrypoint
        if cmd is not None:
            config["Cmd"] = cmd
        if workdir:
            config["WorkingDir"] = workdir
        if user:
            config["User"] = user
        self.config = json.dumps({
            "architecture": architecture, "os": "linux", "created": "2026-01-01T00:00:00Z",
            "config": config,
            "rootfs": {"type": "layers", "diff_ids": [digest(tar) for _, tar, _ in self.layers]},
        }).encode()

    def layer_type(self, how: str) -> str:
        return LAYER + ({"gzip": "+gzip", "zstd": "+zstd"}.get(how, ""))

    def manifest(self) -> bytes:
        return json.dumps({
            "schemaVersion": 2, "mediaType": MANIFEST,
            "config": {"mediaType": CONFIG, "digest": digest(self.config),
                       "size": len(self.config)},
            "layers": [{"mediaType": self.layer_type(how), "digest": digest(blob),
                        "size": len(blob)} for blob, _, how in self.layers],
        }).encode()


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 1_700_000_000
    tar.addfile(info, io.BytesIO(data))


def write_oci_archive(path: Path, images: list[Image], *, platform_index: bool = False,
                      tamper: dict[str, bytes] | None = None) -> Path:
    """An OCI image layout as a tar (oci-layout, index.json, blobs/sha256/*). With
    platform_index, the images share one name behind a nested index with platforms (a
    multi-platform image). tamper replaces a member's bytes (a corrupt blob)."""
    blobs: dict[str, bytes] = {}
    descriptors = []
    for image in images:
        manifest = image.manifest()
        blobs[digest(manifest)] = manifest
        blobs[digest(image.config)] = image.config
        for blob, _, _ in image.layers:
            blobs[digest(blob)] = blob
        desc: dict[str, Any] = {"mediaType": MANIFEST, "digest": digest(manifest),
                                "size": len(manifest)}
        if platform_index:
            desc["platform"] = {"os": "linux", "architecture": image.architecture}
        else:
            desc["annotations"] = {"org.opencontainers.image.ref.name": image.name}
        descriptors.append(desc)
    if platform_index:
        inner = json.dumps({"schemaVersion": 2, "mediaType": INDEX,
                            "manifests": descriptors}).encode()
        blobs[digest(inner)] = inner
        descriptors = [{"mediaType": INDEX, "digest": digest(inner), "size": len(inner),
                        "annotations": {"org.opencontainers.image.ref.name": images[0].name}}]
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX,
                        "manifests": descriptors}).encode()
    members = {"oci-layout": OCI_LAYOUT, "index.json": index}
    members.update({f"blobs/sha256/{d.removeprefix('sha256:')}": b for d, b in blobs.items()})
    members.update(tamper or {})
    with tarfile.open(path, "w") as tar:
        for name, data in members.items():
            _add(tar, name, data)
    return path


def write_docker_archive(path: Path, images: list[Image]) -> Path:
    """docker save's format: <config hex>.json, <layer id>/layer.tar (uncompressed, as
    docker writes them; a layer shared with an earlier image is a symlink to it),
    manifest.json with RepoTags."""
    entries = []
    written: dict[str, str] = {}
    with tarfile.open(path, "w") as tar:
        for image in images:
            config_name = digest(image.config).removeprefix("sha256:") + ".json"
            _add(tar, config_name, image.config)
            layer_paths = []
            for _, raw, _ in image.layers:
                layer_id = digest(raw).removeprefix("sha256:")
                if layer_id in written:
                    # docker's v1 layer ids differ per image: a shared layer is a symlink
                    layer_path = f"{layer_id[:32]}{len(entries)}/layer.tar"
                    link = tarfile.TarInfo(layer_path)
                    link.type, link.linkname = tarfile.SYMTYPE, f"../{written[layer_id]}"
                    tar.addfile(link)
                else:
                    layer_path = f"{layer_id}/layer.tar"
                    _add(tar, layer_path, raw)
                    written[layer_id] = layer_path
                layer_paths.append(layer_path)
            entries.append({"Config": config_name, "RepoTags": [image.name],
                            "Layers": layer_paths})
        _add(tar, "manifest.json", json.dumps(entries).encode())
    return path


def busybox_image(rootfs: Path, *, name: str = "busybox-test:latest",
                  architecture: str = "amd64") -> Image:
    """Three layers: the busybox rootfs plus files to hide (gzip); a layer that deletes one
    (whiteout), replaces a directory (opaque) and adds a hard link (zstd); a user and a
    greeting (plain tar). The entrypoint prints through the image's own /bin/greet."""
    base = directory_tar(rootfs) + b""  # the rootfs tree as it is
    extra = layer_tar([
        Entry("etc/gone", data=b"deleted by the next layer\n"),
        Entry("data", "dir"),
        Entry("data/old", data=b"hidden by an opaque dir\n"),
    ])
    # One layer of the busybox tree and the extras: concatenated tars would end early.
    with tarfile.open(fileobj=io.BytesIO(base)) as a, tarfile.open(fileobj=io.BytesIO(extra)) as b:
        out = io.BytesIO()
        with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as tar:
            for src in (a, b):
                for member in src.getmembers():
                    tar.addfile(member, src.extractfile(member) if member.isreg() else None)
        first = out.getvalue()
    second = layer_tar([
        Entry("etc/.wh.gone"),
        Entry("data", "dir", mode=0o775),
        Entry("data/.wh..wh..opq"),
        Entry("data/new", data=b"new data\n", mode=0o604, uid=1000, gid=1000,
              xattrs={"user.origin": "layer2"}),
        Entry("data/new-link", "hardlink", link="data/new"),
        Entry("data/sym", "symlink", link="/etc/motd"),
        Entry("data/pipe", "fifo", mode=0o600),
    ])
    passwd = (rootfs / "etc" / "passwd").read_bytes() + b"app:x:1000:1000:app:/data:/bin/sh\n"
    third = layer_tar([
        Entry("etc/passwd", data=passwd),
        Entry("etc/motd", data=b"motd of the top layer\n"),
        Entry("bin/greet", data=b'#!/bin/sh\necho "greet: $GREETING $* as $(id -u) in $(pwd)"\n',
              mode=0o755),
    ])
    return Image([(first, "gzip"), (second, "zstd"), (third, "none")], name=name,
                 entrypoint=["/bin/greet"], cmd=["world"],
                 env=["PATH=/bin", "GREETING=hello"], workdir="/data", user="app",
                 architecture=architecture)
