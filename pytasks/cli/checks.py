"""Checks of the values a user types, made where they enter and shared by both doors.

Numbers get click ranges built from the bounds below (the fast path's table copies them);
strings that end up in a JSON record, an OCI spec or a system call go through text() or
path(): a NUL byte cannot pass a system call, and a byte that is not UTF-8 (argv keeps it
as a surrogate escape) cannot be written into JSON that runc or the compiled monitor
reads without being silently replaced. Both are InvalidArgument, named, before anything is
touched. Click-free: the fast path uses it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from pytasks.errors import InvalidArgumentError
from pytasks.ids import quote

PID_MAX = 2**31 - 1    # pid_t is a signed 32-bit int (the API's uint32 pid holds every one)
TERMINAL_MAX = 65535   # struct winsize's fields are unsigned short (TIOCSWINSZ)
COUNT_MAX = 2**63 - 1  # line counts and such: what a 64-bit signed integer holds
PATH_MAX = 4095        # bytes of a path, the kernel's PATH_MAX less the NUL
NAME_MAX = 255         # bytes of one path component


def text(value: str, what: str) -> str:
    """value when it has no NUL byte and is valid UTF-8, else InvalidArgumentError."""
    if "\0" in value:
        raise InvalidArgumentError(f"invalid {what} {quote(value)}: contains a NUL byte")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidArgumentError(f"invalid {what} {quote(value)}: not valid UTF-8") \
            from None
    return value


def texts(values: Iterable[str], what: str) -> None:
    for value in values:
        text(value, what)


def path(value: str, what: str) -> str:
    """text() plus the kernel's length limits, which would otherwise surface as
    ENAMETOOLONG wherever the path is first used."""
    text(value, what)
    size = len(value.encode())
    if size > PATH_MAX:
        raise InvalidArgumentError(f"invalid {what} {quote(value)}: {size} bytes long; "
                                   f"at most {PATH_MAX} allowed")
    for part in value.split("/"):
        if len(part.encode()) > NAME_MAX:
            raise InvalidArgumentError(f"invalid {what} {quote(value)}: a component is "
                                       f"longer than {NAME_MAX} bytes")
    return value


def directory(value: str, what: str) -> str:
    """path() of a directory that may not exist yet: whatever part of it exists must be a
    directory (a root under a file would fail with ENOTDIR at its first use)."""
    path(value, what)
    probe = os.path.abspath(value)
    while not os.path.lexists(probe):
        probe = os.path.dirname(probe)
    if not os.path.isdir(probe):
        shown = "it" if probe == os.path.abspath(value) else quote(probe)
        raise InvalidArgumentError(f"invalid {what} {quote(value)}: {shown} is not a "
                                   "directory")
    return value
