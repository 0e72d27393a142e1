"""Points in time as operators write them: RFC 3339 (`2026-12-03T10:00:00Z`, an offset, a
date alone) or a duration back from now (`10m`, `1h30m`, `90s`, Go's units as podman's
`--since` takes them), and a Unix time in seconds. One job: times as text to nanoseconds,
and nanoseconds back to RFC 3339 (the one writer of timestamps: records, replies, events)."""

from __future__ import annotations

import re
import time

from pytasks import errors

_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "ms": 1_000_000, "s": 1_000_000_000,
          "m": 60_000_000_000, "h": 3_600_000_000_000}
_DURATION = re.compile(r"(?:(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h))+")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)")


def parse(text: str, option: str, now_ns: int | None = None) -> int:
    """Nanoseconds since the epoch; InvalidArgument naming the option otherwise."""
    value = text.strip()
    now = time.time_ns() if now_ns is None else now_ns
    if _DURATION.fullmatch(value):
        back = sum(float(n) * _UNITS[u] for n, u in _PART.findall(value))
        return now - int(back)
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return int(float(value) * 1_000_000_000)
    try:
        return parse_rfc3339(value)
    except ValueError:
        raise errors.InvalidArgumentError(
            f"invalid {option} {text!r}: expected RFC 3339 (2026-12-03T10:00:00Z), a "
            f"duration (10m, 1h30m) or Unix seconds") from None


def parse_rfc3339(text: str) -> int:
    """RFC 3339 (or a bare date, read as local time as podman does) to nanoseconds,
    exactly: what rfc3339() writes reads back to the same number. ValueError otherwise."""
    import datetime

    # Python's parser takes "Z" and offsets but not nine fraction digits: the fraction is
    # taken off and added back in nanoseconds, so an event's own timestamp selects it.
    fraction = re.search(r"\.(\d+)", text)
    nanos = int(fraction.group(1)[:9].ljust(9, "0")) if fraction else 0
    moment = datetime.datetime.fromisoformat(
        text[:fraction.start()] + text[fraction.end():] if fraction else text)
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return int(moment.timestamp()) * 1_000_000_000 + nanos


def rfc3339(ns: int) -> str:
    """Nanosecond epoch -> RFC 3339 UTC with nanoseconds (as containerd prints times)."""
    secs, frac = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs)) + f".{frac:09d}Z"
