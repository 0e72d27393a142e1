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

from pytasks import errors
from pytasks.plain import Plain
from pytasks.state import layout

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from pytasks.state.layout import Layout

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


def probe(path: str, source: str, cache: Layout | None = None) -> Criu:
    """The CRIU at path, or UnavailableError saying what is wrong with it. With cache,
    the version remembered in that layout's state root for this very file is taken
    instead of asking CRIU again (pytasks/state/version_cache.py)."""
    if not os.path.exists(path):
        raise errors.UnavailableError(f"{path} ({source}) does not exist")
    if not os.access(path, os.X_OK) or os.path.isdir(path):
        raise errors.UnavailableError(f"{path} ({source}) is not executable")
    if cache is not None:
        from pytasks.state import version_cache

        remembered = version_cache.get(cache, path)
        version = parse_version(f"Version: {remembered}") if remembered else None
        if version is not None and version[:2] >= MINIMUM:
            return Criu(path, version, source)
        found = probe(path, source)
        version_cache.put(cache, path, found.version_text)
        return found
    import subprocess

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


def find(explicit: str | None = None, environ: dict[str, str] | None = None, *,
         cache: Layout | None = None) -> Criu:
    """The CRIU checkpoint and restore use, or UnavailableError naming every candidate
    tried, what was wrong with each, and how to install one. With cache, versions are
    remembered in that layout's state root (probe)."""
    env = os.environ if environ is None else environ
    if explicit:
        candidates = [(explicit, "--criu")]
    elif env.get(ENV):
        candidates = [(env[ENV], ENV)]
    else:
        candidates = [(layout.criu_wrapper(), "install prefix"), ("", "PATH")]
    problems = []
    for path, source in candidates:
        if source == "PATH" and not path:
            import shutil

            path = shutil.which("criu", path=env.get("PATH", os.defpath)) or ""
            if not path:
                problems.append("no criu on PATH")
                continue
        try:
            return probe(path, source, cache)
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
