"""Misuse that parsing cannot see (exit 2, as click's usage errors)."""

from __future__ import annotations

from pytasks import errors


def usage_error(verb: str, message: str) -> errors.InvalidArgumentError:
    return errors.InvalidArgumentError(f"{message} (see 'pytasks {verb} --help')")
