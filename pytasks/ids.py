"""Identifier rules (containerd's): checked before anything touches the disk."""

from __future__ import annotations

import re

from pytasks.errors import InvalidArgumentError

MAX_LENGTH = 76
_PATTERN = re.compile(r"[A-Za-z0-9]+(?:[._-][A-Za-z0-9]+)*")


def validate(value: str, what: str = "identifier") -> str:
    """Return value if it is a valid identifier, else raise InvalidArgumentError."""
    if not value:
        raise InvalidArgumentError(f"{what} must not be empty")
    if len(value) > MAX_LENGTH:
        raise InvalidArgumentError(
            f"{what} {value[:20]!r}... is {len(value)} characters long; "
            f"at most {MAX_LENGTH} allowed"
        )
    if not _PATTERN.fullmatch(value):
        raise InvalidArgumentError(
            f"{what} {value!r} is invalid: must match [A-Za-z0-9]+([._-][A-Za-z0-9]+)*"
        )
    return value
