"""Signal names and wait statuses."""

from __future__ import annotations

import os
import signal

from pytasks.errors import InvalidArgumentError


def parse(text: str) -> int:
    """'TERM', 'SIGTERM', 'sigterm', '15' -> 15. Raises InvalidArgumentError otherwise."""
    raw = text.strip()
    if raw.isdigit():
        num = int(raw)
        if 1 <= num < signal.NSIG:
            return num
        raise InvalidArgumentError(f"invalid signal number {raw}: must be 1..{signal.NSIG - 1}")
    name = raw.upper()
    if not name.startswith("SIG"):
        name = "SIG" + name
    sig = getattr(signal.Signals, name, None) if name.isidentifier() else None
    if not isinstance(sig, signal.Signals):
        raise InvalidArgumentError(f"unknown signal {text!r}")
    return int(sig)


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
