"""Identifier rules (containerd's): checked before anything touches the disk.

Also the one rendering of a value the user typed inside an error message (quote): ids
and other arguments may hold anything argv can, and a message must stay one printable
line whatever they hold.
"""

from __future__ import annotations

import re

from pytasks.errors import InvalidArgumentError

MAX_LENGTH = 76
_PATTERN = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")
QUOTE_LIMIT = 40  # characters of a value shown in a message; the rest is elided


def validate(value: str, what: str = "identifier") -> str:
    """Return value if it is a valid identifier, else raise InvalidArgumentError."""
    if not value:
        raise InvalidArgumentError(f"{what} must not be empty")
    if len(value) > MAX_LENGTH:
        raise InvalidArgumentError(
            f"{what} {quote(value, 20)} is {len(value)} characters long; "
            f"at most {MAX_LENGTH} allowed"
        )
    if not _PATTERN.fullmatch(value):
        raise InvalidArgumentError(
            f"{what} {quote(value)} is invalid: must match [A-Za-z0-9]+([._-][A-Za-z0-9]+)*"
        )
    return value


def is_valid(value: str) -> bool:
    return 0 < len(value) <= MAX_LENGTH and _PATTERN.fullmatch(value) is not None


def quote(value: str, limit: int = QUOTE_LIMIT) -> str:
    """value in single quotes as repr() writes it, safe to print on any terminal: control
    characters escaped, a byte that was not UTF-8 (argv's surrogate escape) shown as the
    \\xNN the user typed, and a long value cut after `limit` characters ('...' follows)."""
    shown = value[:limit]
    out = []
    for ch in shown:
        code = ord(ch)
        if 0xDC80 <= code <= 0xDCFF:  # os.fsdecode's stand-in for the undecodable byte
            out.append(f"\\x{code - 0xDC00:02x}")
        elif ch == "'" or ch == "\\":
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        else:
            out.append(repr(ch)[1:-1])  # \n, \x00, \u200b, \udc00 ...: repr's escapes
    return "'" + "".join(out) + "'" + ("..." if len(value) > limit else "")
