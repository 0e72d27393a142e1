"""Image records: what an import leaves once every blob and snapshot is in place
(docs/architecture.md §9). One JSON file per image name under <root>/<ns>/images/, named by
the sha256 of the name (names have `/` and `:`); the record holds the name itself.

    {"name": "busybox:latest", "target": {manifest descriptor}, "index": "sha256:..." | "",
     "config": {descriptor}, "layers": [{descriptor}...], "diff_ids": [...],
     "chain_ids": [...], "platform": "linux/amd64", "created": "...", "imported_at": "..."}

A record is written last by an import and removed first by `images rm`: a record under a
name always has its blobs and snapshots. Stdlib only.
"""

from __future__ import annotations

import hashlib
import os

from pytasks.errors import DataLossError, InvalidArgumentError, NotFoundError, permission_denied
from pytasks.state import atomic, schema
from pytasks.state.layout import IMAGE_REF_PREFIX, ensure_dir

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pytasks.state.layout import Layout

NAME_MAX = 255
MIN_PREFIX = 4
_DESCRIPTOR = schema.Schema("descriptor", {"digest": schema.STR, "size": schema.INT},
                            {"media_type": schema.STR})
IMAGE = schema.Schema("image record", {
    "name": schema.STR, "target": schema.OBJECT, "config": schema.OBJECT,
    "layers": schema.LIST, "diff_ids": schema.LIST, "chain_ids": schema.LIST,
}, {
    "index": schema.STR, "platform": schema.STR, "created": schema.STR,
    "imported_at": schema.STR,
}, {
    "target": _DESCRIPTOR, "config": _DESCRIPTOR,
})


def _utf8(text: str) -> bytes:
    try:
        return text.encode()
    except UnicodeEncodeError:
        raise InvalidArgumentError(f"bad image reference {text!r}: not valid UTF-8") from None


def check_name(name: str) -> str:
    """An image name: printable, no spaces, at most NAME_MAX bytes (docker's references
    are narrower; archives carry whatever their writer chose)."""
    if not name or len(_utf8(name)) > NAME_MAX or not name.isprintable() \
            or any(c.isspace() for c in name) or name.startswith(("-", ".")):
        raise InvalidArgumentError(f"bad image name {name!r}: want printable text without "
                                   f"spaces, at most {NAME_MAX} bytes")
    return name


def name_hex(name: str) -> str:
    return hashlib.sha256(_utf8(name)).hexdigest()


def content_ref(namespace: str, name: str) -> str:
    """The content store's ref an image record holds on each of its blobs."""
    quoted = name.replace("%", "%25").replace("/", "%2F")
    ref = f"{IMAGE_REF_PREFIX}{namespace}.{quoted}"
    return ref if len(ref) <= NAME_MAX else f"{IMAGE_REF_PREFIX}{namespace}.{name_hex(name)}"


class ImageStore:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def put(self, record: dict[str, Any]) -> None:
        """Write (or replace) the record of record["name"], durably."""
        IMAGE.check(record, "image record")
        ensure_dir(self.layout.images_dir)
        atomic.write_json(self.layout.image_file(name_hex(check_name(record["name"]))),
                          record, fsync=True)
        atomic.fsync_dir(self.layout.images_dir)

    def get(self, name: str) -> dict[str, Any]:
        path = self.layout.image_file(name_hex(name))
        try:
            record = atomic.read_json(path)
        except FileNotFoundError:
            raise NotFoundError(f"image {name}: not found") from None
        except PermissionError as exc:
            raise permission_denied(exc) from None
        except (OSError, ValueError) as exc:
            raise DataLossError(f"image record {path}: unreadable: {exc}") from None
        IMAGE.check(record, path)
        if record["name"] != name:
            raise DataLossError(f"image record {path} is corrupt: it names {record['name']!r}")
        return record

    def list(self) -> list[dict[str, Any]]:
        """Every readable record, sorted by name (a record removed meanwhile is skipped)."""
        try:
            names = os.listdir(self.layout.images_dir)
        except FileNotFoundError:
            return []
        records = []
        for entry in sorted(names):
            if entry.startswith(".") or not entry.endswith(".json"):
                continue
            path = os.path.join(self.layout.images_dir, entry)
            try:
                record = atomic.read_json(path)
                IMAGE.check(record, path)
            except FileNotFoundError:
                continue
            except (OSError, ValueError, DataLossError):
                continue  # `images info NAME` names the damage; a listing goes on
            records.append(record)
        return sorted(records, key=lambda r: r["name"])

    def find(self, ref: str) -> dict[str, Any]:
        """An image by name, by NAME:latest, or by its manifest digest or a unique prefix
        of its hex (as a short image id)."""
        if not ref or "\0" in ref or len(_utf8(ref)) > NAME_MAX:
            raise InvalidArgumentError(f"bad image reference {ref!r}")
        for name in (ref, f"{ref}:latest"):
            if os.path.lexists(self.layout.image_file(name_hex(name))):
                return self.get(name)
        text = ref.removeprefix("sha256:")
        if len(text) >= MIN_PREFIX and all(c in "0123456789abcdef" for c in text):
            found = [r for r in self.list()
                     if r["target"]["digest"].removeprefix("sha256:").startswith(text)]
            if len({r["target"]["digest"] for r in found}) > 1:
                raise InvalidArgumentError(f"image {ref}: prefix matches {len(found)} images")
            if found:
                return found[0]
        raise NotFoundError(f"image {ref}: not found")

    def remove(self, name: str) -> None:
        try:
            os.unlink(self.layout.image_file(name_hex(name)))
        except FileNotFoundError:
            raise NotFoundError(f"image {name}: not found") from None
        atomic.fsync_dir(self.layout.images_dir)
