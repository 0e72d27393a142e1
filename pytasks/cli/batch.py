"""Running one verb over several ids: every id is tried, errors are reported per id, and
the exit code is the first failure's (ctr's behaviour), so one call can act on many."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import TypeVar

    T = TypeVar("T")


def for_each(ids: Iterable[str], action: Callable[[str], T]) -> tuple[list[tuple[str, T]], int]:
    from pytasks.errors import PytasksError
    from pytasks.ids import is_valid

    results: list[tuple[str, T]] = []
    code = 0
    for item in ids:
        try:
            results.append((item, action(item)))
        except PytasksError as exc:
            # Each line names its id once: a message that names it already ("task web
            # not found") stands alone, as does a bad id's (it quotes the id).
            from pytasks.cli.hints import with_hint

            message = with_hint(str(exc))
            prefix = f"{item}: " if is_valid(item) and not _names(message, item) else ""
            sys.stderr.write(f"pytasks: {prefix}{message}\n")
            code = code or int(exc.exit_code)
    return results, code


def remove_each(items: Iterable[str], action: Callable[[str], str | None]) -> int:
    """The record verbs' removal (containers delete, content/images/checkpoints rm):
    every item is tried, each one done prints what action returned (None: nothing), each
    failure its message, and the exit code is the worst one seen."""
    from pytasks.errors import PytasksError

    worst = 0
    for item in items:
        try:
            done = action(item)
        except PytasksError as exc:
            sys.stderr.write(f"pytasks: {exc}\n")
            worst = max(worst, int(exc.exit_code))
        else:
            if done is not None:
                sys.stdout.write(f"{done}\n")
    return worst


def _names(message: str, item: str) -> bool:
    """The message names the id ("task web", "container web", "monitor of web"), not
    merely holds the word (an id "running" in "task in running state")."""
    import re

    return re.search(rf"\b(?:task|container|of) {re.escape(item)}(?![\w-]|\.\w)",
                     message) is not None
