"""Signal names and wait statuses."""

from __future__ import annotations

import os
import signal

from pytasks.errors import InvalidArgumentError

# Not typing.TYPE_CHECKING: the monitor imports this module (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

_SHOWN = 20  # characters of a bad signal shown in a message (repr keeps them printable)


def parse(text: str) -> int:
    """'TERM', 'SIGTERM', 'sigterm', '15' -> 15. Raises InvalidArgumentError otherwise."""
    raw = text.strip()
    # ASCII digits only: str.isdigit() is true of '²' and '٣' too, which int() refuses or
    # reads as some other number.
    if raw.isascii() and raw.isdigit():
        # int() refuses thousands of digits outright; no signal number has more than two.
        num = int(raw) if len(raw) <= 10 else signal.NSIG
        if 1 <= num < signal.NSIG:
            return num
        raise InvalidArgumentError(f"invalid signal number {_shown(raw, str)}: "
                                   f"must be 1..{signal.NSIG - 1}")
    name = raw.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    sig = getattr(signal.Signals, name, None) if name.isascii() and name.isidentifier() \
        else None
    if not isinstance(sig, signal.Signals):
        raise InvalidArgumentError(f"unknown signal {_shown(text, repr)} (names: "
                                   f"{', '.join(names())}, or a number 1..{signal.NSIG - 1})")
    return int(sig)


def names() -> list[str]:
    """The standard signals' names without SIG, in number order: what parse() takes by
    name (SIGRTMIN+n are asked for by number). Error messages and completion list these."""
    aliases = {"SIGIOT": "SIGABRT", "SIGPOLL": "SIGIO", "SIGCLD": "SIGCHLD"}
    found = [aliases.get(s.name, s.name)[3:] for s in sorted(signal.Signals, key=int)
             if s.name.startswith("SIG") and not s.name.startswith("SIGRT")]
    return list(dict.fromkeys(found))  # an alias may share its number with its name


def _shown(text: str, render: Callable[[str], str]) -> str:
    return render(text[:_SHOWN]) + ("..." if len(text) > _SHOWN else "")


def name(num: int) -> str:
    try:
        return signal.Signals(num).name
    except ValueError:
        return str(num)


def exit_status(wait_status: int) -> int:
    """waitpid status -> exit status: the exit code, or 128+signal."""
    if os.WIFSIGNALED(wait_status):
        return 128 + os.WTERMSIG(wait_status)
    if os.WIFEXITED(wait_status):
        return os.WEXITSTATUS(wait_status)
    return 255
