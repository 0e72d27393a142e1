"""Shell completion of ids, signals, namespaces, runtimes and checkpoint names
(docs/architecture.md §8).

Completion runs on every <TAB>, so it reads directory names and small records only: no
protobuf, no lock, no rich, no runtime call, no monitor connection. The roots come from the
command line being completed (the root group's --root/--state/-n, which click has parsed by
then, env vars included), falling back to the PYTASKS_* variables and the default roots.
Any error yields no candidates: a broken state dir must never break the user's shell.

Verbs that act on tasks in one state offer only those (task.glance: the records and the
monitor's liveness): start created tasks; pause, kill and stop running ones; resume paused
ones; delete stopped ones, or every task once -f is on the line. kill follows podman, whose
kill completes running containers only (as its --all signals no paused one): a paused
task's processes are frozen and act on a signal only once resumed, SIGKILL aside, so the
everyday target is a running task; a paused id can still be typed.
"""

from __future__ import annotations

import os

import click

from pytasks.state.layout import CHECKPOINT_REF_PREFIX as CHECKPOINT_REF
from pytasks.state.layout import RECORD_SUFFIX

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

    from click.shell_completion import CompletionItem

    from pytasks.lifecycle import Status

    Completer = Callable[[click.Context, click.Parameter, str], list[str]]

RUNTIMES = ("runc", "crun")  # the runtimes pytasks knows by name (--runtime runc|crun|PATH)


def complete_tasks(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    """Task ids: the directories under <state>/<ns>/ (dot-entries such as .locks skipped)."""
    return _matches(ctx, param, incomplete, _task_ids(ctx))


def tasks_in(*wanted: Status) -> Completer:
    """A completer of the ids of the tasks in one of these states."""

    def complete(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
        return _matches(ctx, param, incomplete, _task_ids(ctx, wanted))

    return complete


def complete_deletable(ctx: click.Context, param: click.Parameter,
                       incomplete: str) -> list[str]:
    """delete: stopped tasks; every task when -f/--force was typed (delete -f kills first)."""
    if ctx.params.get("force"):
        return complete_tasks(ctx, param, incomplete)
    from pytasks.lifecycle import Status

    return tasks_in(Status.STOPPED)(ctx, param, incomplete)


def complete_containers(ctx: click.Context, param: click.Parameter,
                        incomplete: str) -> list[str]:
    """Container ids: the record file stems under <root>/<ns>/containers/."""
    namespace = _namespace(ctx)
    if namespace is None:
        return []
    from pytasks.state.layout import Layout

    base = Layout(_root_option(ctx, "root", "PYTASKS_ROOT", 0), "", namespace).containers_dir
    return _matches(ctx, param, incomplete,
                    _names(base, want_dirs=False, suffix=RECORD_SUFFIX))


def complete_signals(ctx: click.Context, param: click.Parameter,
                     incomplete: str) -> list[str]:
    """Signal names as they were begun: TERM, or SIGTERM after a typed SIG (any case)."""
    from pytasks.signals import names

    typed = incomplete.upper()
    prefix = "SIG" if typed.startswith("SIG") else ""
    return [prefix + n for n in names() if (prefix + n).startswith(typed)]


def complete_namespaces(ctx: click.Context, param: click.Parameter,
                        incomplete: str) -> list[str]:
    """The namespaces under this line's --root and --state (layout.namespaces)."""
    from pytasks.state.layout import namespaces

    found = namespaces(_root_option(ctx, "root", "PYTASKS_ROOT", 0),
                       _root_option(ctx, "state", "PYTASKS_STATE", 1))
    return [n for n in found if n.startswith(incomplete)]


def complete_runtimes(ctx: click.Context, param: click.Parameter,
                      incomplete: str) -> list[CompletionItem] | list[str]:
    """runc and crun where PATH has them; a path once a / is typed (the shell's own file
    completion)."""
    if "/" in incomplete:
        from click.shell_completion import CompletionItem

        return [CompletionItem(incomplete, type="file")]
    path = os.environ.get("PATH", "").split(os.pathsep)
    return [name for name in RUNTIMES if name.startswith(incomplete)
            and any(os.access(os.path.join(d, name), os.X_OK) for d in path if d)]


def complete_checkpoints(ctx: click.Context, param: click.Parameter,
                         incomplete: str) -> list[str]:
    """Checkpoint names: the `checkpoint.<name>` refs of the content store (shared by every
    namespace), read as directory entries only."""
    from pytasks.state.layout import Layout

    refs = os.path.dirname(Layout(_root_option(ctx, "root", "PYTASKS_ROOT", 0), "",
                                  "default").blob_refs_dir("x"))
    found: set[str] = set()
    for digest in _names(refs, want_dirs=True, suffix=""):
        for user in _names(os.path.join(refs, digest), want_dirs=False, suffix=""):
            if user.startswith(CHECKPOINT_REF):
                found.add(user[len(CHECKPOINT_REF):])
    return _matches(ctx, param, incomplete, sorted(found))


def complete_images(ctx: click.Context, param: click.Parameter,
                    incomplete: str) -> list[str]:
    """Image names of the namespace: the `name` of each small image record (a record's
    file is named by the name's hash, so the records are read)."""
    namespace = _namespace(ctx)
    if namespace is None:
        return []
    from pytasks.state.atomic import read_json_object
    from pytasks.state.layout import Layout

    directory = Layout(_root_option(ctx, "root", "PYTASKS_ROOT", 0), "", namespace).images_dir
    found = []
    for entry in _names(directory, want_dirs=False, suffix=".json"):
        record = read_json_object(os.path.join(directory, f"{entry}.json"))
        if record is not None and isinstance(record.get("name"), str):
            found.append(record["name"])
    return _matches(ctx, param, incomplete, sorted(found))


def _task_ids(ctx: click.Context, wanted: tuple[Status, ...] = ()) -> list[str]:
    namespace = _namespace(ctx)
    if namespace is None:
        return []
    state = _root_option(ctx, "state", "PYTASKS_STATE", 1)
    ids = _names(os.path.join(state, namespace), want_dirs=True, suffix="")
    if not wanted:
        return ids
    from pytasks.state.layout import Layout
    from pytasks.task import glance

    # Only the state root is read (task.json, init.exit); the persistent root is unused.
    layout = Layout(_root_option(ctx, "root", "PYTASKS_ROOT", 0), state, namespace)
    return [i for i in ids if glance(layout, i) in wanted]


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
