"""Versions of the programs pytasks runs (CRIU, the runtime), remembered in the state root.

Asking a program for its version starts a process on every checkpoint. The answer is kept
in `<state>/versions.json` under the program's path, with the identity of the file at that
path (device, inode, size, change and modification times): a reinstalled or replaced
program has another identity, so its version is asked again. The state root is volatile,
so the cache starts empty after a reboot. A missing, unreadable or foreign cache is an
empty one; concurrent writers each replace it whole (the last one wins, both are right).
Stdlib only.
"""

from __future__ import annotations

import os

from pytasks.state import atomic

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from pytasks.state.layout import Layout

FILE = "versions.json"


def identity(path: str) -> list[int] | None:
    """What changes when the file at path (followed through symlinks) is replaced."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return [st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns]


def _read(layout: Layout) -> dict[str, object]:
    record = atomic.read_json_object(os.path.join(layout.state, FILE))
    return record if record is not None else {}


def get(layout: Layout, path: str) -> str | None:
    """The version remembered for the program at path, if its file is still the same."""
    entry = _read(layout).get(path)
    if not isinstance(entry, dict) or not isinstance(entry.get("version"), str):
        return None
    same = entry.get("identity") == identity(path)
    return str(entry["version"]) if same else None


def put(layout: Layout, path: str, version: str) -> None:
    """Remember version for the program at path; a cache that cannot be written is no
    cache (the next call asks again)."""
    found = identity(path)
    if found is None:
        return
    record = _read(layout)
    record[path] = {"identity": found, "version": version}
    try:
        os.makedirs(layout.state, mode=0o711, exist_ok=True)
        atomic.write_json(os.path.join(layout.state, FILE), record)
    except OSError:
        pass


def cached(layout: Layout, path: str, ask: Callable[[], str]) -> str:
    """The version of the program at path: remembered, else ask() (remembered when it
    says something)."""
    version = get(layout, path)
    if version is None:
        version = ask()
        if version:
            put(layout, path, version)
    return version
