"""Container records: the persistent half of a container (spec, rootfs, runtime, labels).

One JSON file per container under <root>/<ns>/containers/. Stdlib only at import time.
"""

from __future__ import annotations

import os
import time

from pytasks import ids
from pytasks.errors import (
    AlreadyExistsError,
    DataLossError,
    InvalidArgumentError,
    NotFoundError,
    permission_denied,
)
from pytasks.state import atomic, schema
from pytasks.state.layout import ensure_dir

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pytasks.state.layout import Layout

ROOTFS_KINDS = ("dir", "bundle", "host-tools", "image")


def now_rfc3339() -> str:
    """UTC with nanoseconds, as containerd prints timestamps: 2026-11-28T17:33:42.123456789Z."""
    ns = time.time_ns()
    seconds, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{frac:09d}Z"


class ContainerStore:
    def __init__(self, layout: Layout) -> None:
        self.layout = layout

    def create(
        self,
        container_id: str,
        *,
        spec: dict[str, Any],
        rootfs: dict[str, Any],
        runtime: str,
        labels: dict[str, str] | None = None,
        image: str = "",
    ) -> dict[str, Any]:
        """Write a new record; AlreadyExists if the id is taken (also against a racing create)."""
        ids.validate(container_id, "container id")
        if rootfs.get("kind") not in ROOTFS_KINDS:
            raise InvalidArgumentError(f"container {container_id}: bad rootfs kind {rootfs!r}")
        stamp = now_rfc3339()
        record = {
            "id": container_id,
            "labels": dict(labels or {}),
            "image": image,
            "runtime": {"name": runtime},
            "spec": spec,
            "rootfs": {"kind": rootfs["kind"], "path": rootfs.get("path", ""),
                       # an image's container: its snapshots' chain ids (images.py)
                       **({"snapshots": list(rootfs["snapshots"])}
                          if rootfs.get("snapshots") else {})},
            "created_at": stamp,
            "updated_at": stamp,
        }
        final = self.layout.container_file(container_id)
        if os.path.lexists(final):  # cheap early answer; the link below is the real arbiter
            raise AlreadyExistsError(f"container {container_id}: already exists")
        directory, name = os.path.split(final)
        ensure_dir(directory)
        # Write complete content under a private name, then link(2) it into place: link never
        # replaces, so of two racing creates exactly one wins and nobody sees a partial file.
        tmp = os.path.join(directory, f".{name}.new-{os.getpid()}-{os.urandom(4).hex()}")
        # A persistent record: its data is on disk before its name is (a crash never leaves
        # an empty record behind), and the name before we answer.
        atomic.write_json(tmp, record, fsync=True)
        try:
            os.link(tmp, final)
        except FileExistsError:
            raise AlreadyExistsError(f"container {container_id}: already exists") from None
        finally:
            os.unlink(tmp)
        atomic.fsync_dir(directory)
        from pytasks.state.event_journal import publish

        publish(self.layout, "/containers/create", container_id,
                {"id": container_id, "image": image, "runtime": {"name": runtime}})
        return record

    def get(self, container_id: str) -> dict[str, Any]:
        ids.validate(container_id, "container id")
        path = self.layout.container_file(container_id)
        try:
            record = atomic.read_json(path)
        except FileNotFoundError:
            raise NotFoundError(f"container {container_id} not found") from None
        except PermissionError as exc:  # not lost: someone else's (exit 7)
            raise permission_denied(exc) from None
        except (OSError, ValueError) as exc:
            raise DataLossError(f"container {container_id}: unreadable record {path}: {exc}") \
                from None
        schema.CONTAINER.check(record, path)
        if record["id"] != container_id:
            raise DataLossError(f"container record {path} is corrupt: it names "
                                f"{record['id']!r}")
        return record

    def list(self) -> tuple[list[dict[str, Any]], list[DataLossError]]:
        """All healthy records sorted by id, and a DataLoss for each unreadable or corrupt
        one (never hidden, never hiding the others). Records deleted meanwhile are skipped."""
        try:
            names = os.listdir(self.layout.containers_dir)
        except FileNotFoundError:
            return [], []
        records = []
        broken = []
        for name in sorted(names):
            container_id, ext = os.path.splitext(name)
            if ext != ".json" or name.startswith("."):  # temp files of a create in flight
                continue
            try:
                records.append(self.get(container_id))
            except (NotFoundError, InvalidArgumentError):
                continue
            except DataLossError as exc:
                broken.append(exc)
        return sorted(records, key=lambda r: r["id"]), broken

    def set_task_state(self, record: dict[str, Any], state: str | None) -> None:
        """Record which state dir holds the container's task (None: no task), in the
        record the caller just read under the container's claim lock (Engine): this is
        the record's one rewrite, skipped when nothing changes. No fsync: a claim lives no
        longer than the state dir it names, which a reboot empties."""
        if record.get("task_state") == state:
            return
        if state is None:
            del record["task_state"]
        else:
            record["task_state"] = state
        record["updated_at"] = now_rfc3339()
        atomic.write_json(self.layout.container_file(record["id"]), record)

    def remove(self, container_id: str) -> None:
        """Remove a record. Callers hold the task lock and have checked that no task exists
        for it (Engine.delete_container): this module knows records, not tasks."""
        ids.validate(container_id, "container id")
        try:
            os.unlink(self.layout.container_file(container_id))
        except FileNotFoundError:
            raise NotFoundError(f"container {container_id} not found") from None
        from pytasks.state.event_journal import publish

        publish(self.layout, "/containers/delete", container_id, {"id": container_id})
