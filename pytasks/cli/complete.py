"""Shell completion of task and container ids (docs/architecture.md §8).

Completion runs on every <TAB>, so it reads directory names only: no protobuf, no lock, no
rich, no records parsed. The roots come from the command line being completed (the root
group's --root/--state/-n, which click has parsed by then, env vars included), falling back
to the PYTASKS_* variables and the default roots. Any error yields no candidates: a broken
state dir must never break the user's shell.
"""

from __future__ import annotations

import os

import click

from pytasks.state.layout import RECORD_SUFFIX


def complete_tasks(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Task ids: the directories under <state>/<ns>/ (dot-entries such as .locks skipped)."""
    namespace = _namespace(ctx)
    if namespace is None:
        return []
    base = os.path.join(_root_option(ctx, "state", "PYTASKS_STATE", 1), namespace)
    return _matches(ctx, param, incomplete, _names(base, want_dirs=True, suffix=""))


def complete_containers(ctx: click.Context, param: click.Parameter,
                        incomplete: str) -> list[str]:
    """Container ids: the record file stems under <root>/<ns>/containers/."""
    namespace = _namespace(ctx)
    if namespace is None:
        return []
    base = os.path.join(_root_option(ctx, "root", "PYTASKS_ROOT", 0), namespace, "containers")
    return _matches(ctx, param, incomplete,
                    _names(base, want_dirs=False, suffix=RECORD_SUFFIX))


def _params(ctx: click.Context) -> dict[str, object]:
    """The root group's parsed options (command line first, then click's envvar lookup)."""
    return ctx.find_root().params


def _namespace(ctx: click.Context) -> str | None:
    value = _params(ctx).get("namespace") or os.environ.get("PYTASKS_NAMESPACE") or "default"
    name = str(value)
    # Never let a half-typed -n walk out of the state dir.
    if name.startswith(".") or "/" in name or "\0" in name:
        return None
    return name


def _root_option(ctx: click.Context, option: str, envvar: str, index: int) -> str:
    value = _params(ctx).get(option) or os.environ.get(envvar)
    if value:
        return os.path.expanduser(str(value))
    from pytasks.state.layout import default_roots  # stdlib only (os)

    return default_roots()[index]


def _names(base: str, *, want_dirs: bool, suffix: str) -> list[str]:
    found: list[str] = []
    try:
        with os.scandir(base) as entries:
            for entry in entries:
                name = entry.name
                if name.startswith("."):
                    continue
                try:
                    if want_dirs:
                        if not entry.is_dir(follow_symlinks=False):
                            continue
                    elif not (name.endswith(suffix) and entry.is_file(follow_symlinks=False)):
                        continue
                except OSError:
                    continue
                found.append(name[: len(name) - len(suffix)] if suffix else name)
    except OSError:
        return []
    return found


def _matches(ctx: click.Context, param: click.Parameter, incomplete: str,
             names: list[str]) -> list[str]:
    # For CONTAINER... arguments, do not offer ids already typed earlier on the line.
    given = ctx.params.get(param.name) if param.name else None
    taken = set(given) if isinstance(given, (tuple, list)) else set()
    return sorted(n for n in names if n.startswith(incomplete) and n not in taken)
