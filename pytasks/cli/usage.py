"""Misuse that parsing cannot see (exit 2, as click's usage errors)."""

from __future__ import annotations

from pytasks import errors


def usage_error(verb: str, message: str) -> errors.InvalidArgumentError:
    return errors.InvalidArgumentError(f"{message} (see 'pytasks {verb} --help')")


def check_quiet(verb: str, quiet: bool, output_format: str) -> None:
    """-q (ids only) and --format json ask for two outputs: a usage error, not a guess."""
    if quiet and output_format == "json":
        raise usage_error(verb, "-q and --format json are mutually exclusive")
