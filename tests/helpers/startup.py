"""The start-up rules of docs/architecture.md §8 as data, for every import-guard test.

A module is "loaded" when it or a submodule of it is in sys.modules.
"""

from __future__ import annotations

from collections.abc import Iterable

# Never on the fast path (pytasks/cli/fast.py): click and the rest cost each call more than
# the call itself; protobuf and rich belong to other verbs; python-daemon to the monitor.
FAST_PATH = ("click", "dataclasses", "inspect", "google.protobuf", "rich", "daemon",
             "typing", "pathlib")
# Never on a light verb through click, --help and completion included: rendering (rich),
# messages (protobuf, only for --format json), the old lock library, the monitor's daemon.
CLICK_PATH = ("rich", "google.protobuf", "filelock", "daemon")

def loaded(modules: Iterable[str], rule: tuple[str, ...]) -> list[str]:
    """The modules among `modules` (a probe's sys.modules) that `rule` forbids."""
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in rule))
