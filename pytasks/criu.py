"""Find CRIU 4.2 or newer for checkpoint and restore (docs/architecture.md §9).

Order: an explicit path (the caller's `--criu PATH`), else `PYTASKS_CRIU`, else the
install prefix that scripts/setup fills (layout.criu_wrapper()), else `criu` on PATH. An
explicit path or the variable is used alone: a user who named a CRIU never silently gets
another one. Each candidate must answer `criu --version` with at least 4.2; Debian 12's
3.17 cannot run on this kernel and 4.1 cannot dump a task with an inet socket on kernels
>= 6.16.
"""

from __future__ import annotations

import os
import shutil
import subprocess

from pytasks import errors
from pytasks.plain import Plain
from pytasks.state import layout

ENV = "PYTASKS_CRIU"
MINIMUM = (4, 2)
INSTALL_HINT = f"install it with ./scripts/setup in pytasks' checkout, or point {ENV} at one"
# criu --version only prints; a CRIU that hangs on it is broken, not slow.
VERSION_TIMEOUT = 10.0


class Criu(Plain, frozen=True):
    path: str
    version: tuple[int, ...]
    source: str  # "--criu", "PYTASKS_CRIU", "install prefix" or "PATH"

    @property
    def version_text(self) -> str:
        return ".".join(str(part) for part in self.version)


def parse_version(text: str) -> tuple[int, ...] | None:
    """`criu --version` prints `Version: 4.2.1` (then `GitID: ...` on git builds)."""
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "Version":
            parts = value.strip().split("-")[0].split(".")
            if parts and all(part.isdigit() for part in parts):
                return tuple(int(part) for part in parts)
            return None
    return None


def probe(path: str, source: str) -> Criu:
    """The CRIU at path, or UnavailableError saying what is wrong with it."""
    if not os.path.exists(path):
        raise errors.UnavailableError(f"{path} ({source}) does not exist")
    if not os.access(path, os.X_OK) or os.path.isdir(path):
        raise errors.UnavailableError(f"{path} ({source}) is not executable")
    try:
        done = subprocess.run([path, "--version"], capture_output=True, text=True,
                              timeout=VERSION_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise errors.UnavailableError(f"{path} ({source}) does not run: {exc}") from exc
    version = parse_version(done.stdout)
    if done.returncode != 0 or version is None:
        said = (done.stderr or done.stdout).strip().splitlines()
        raise errors.UnavailableError(
            f"{path} ({source}) does not run: `--version` exited {done.returncode}"
            + (f": {said[0]}" if said else ""))
    found = Criu(path, version, source)
    if version[:2] < MINIMUM:
        raise errors.UnavailableError(
            f"{path} ({source}) is CRIU {found.version_text}, older than "
            f"{'.'.join(map(str, MINIMUM))}")
    return found


def find(explicit: str | None = None, environ: dict[str, str] | None = None) -> Criu:
    """The CRIU checkpoint and restore use, or UnavailableError naming every candidate
    tried, what was wrong with each, and how to install one."""
    env = os.environ if environ is None else environ
    if explicit:
        candidates = [(explicit, "--criu")]
    elif env.get(ENV):
        candidates = [(env[ENV], ENV)]
    else:
        candidates = [(layout.criu_wrapper(), "install prefix")]
        on_path = shutil.which("criu", path=env.get("PATH", os.defpath))
        candidates.append((on_path, "PATH") if on_path else ("criu", "PATH"))
    problems = []
    for path, source in candidates:
        if source == "PATH" and path == "criu":
            problems.append("no criu on PATH")
            continue
        try:
            return probe(path, source)
        except errors.UnavailableError as exc:
            problems.append(exc.message)
    raise errors.UnavailableError(
        f"checkpoint and restore need CRIU {'.'.join(map(str, MINIMUM))} or newer: "
        f"{'; '.join(problems)}; {INSTALL_HINT}")


def describe(explicit: str | None = None) -> str:
    """One line for `pytasks --version`: the CRIU found, or why there is none."""
    try:
        found = find(explicit)
    except errors.UnavailableError as exc:
        return f"none: {exc.message}"
    return f"{found.version_text} ({found.path}, {found.source})"
