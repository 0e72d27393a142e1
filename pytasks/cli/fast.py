"""The fast path: the everyday forms of the everyday verbs, parsed without importing click.

Importing click costs more than a whole `runc pause` (bench/README.md); scripts call these verbs
in loops. This parser takes only what it is sure of: known options spelled out (`--opt V`,
`--opt=V`, `-x V`, flags), positionals by click's rules (options stop at `--`, and at the
first positional where the verb says so), click's defaults and environment variables.
Anything else - help, clustered or attached short options, an unknown option, a value
that looks like an option, a type or count click would reject - returns None, and the
click group parses the line instead, with its own messages. What it knows of each verb is
fast_table.py, generated from the click commands by scripts/gen-fast-table (whose FORMS list
the forms taken here); tests/unit/test_fast.py checks that the table is current and that every
line this parser takes is parsed by click into the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from pytasks.cli.fast_table import (
    CALLS,
    CONTAINERS_DELETE_NAMES,
    CONTAINERS_NAMES,
    DEBUG_ENV,
    GLOBAL_ENV,
    GLOBAL_FLAGS,
    GLOBAL_VALUES,
    VERB_ALIASES,
    VERBS,
)

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FORMATS = ("table", "json")


# click's boolean words for a flag's environment variable; others go to click.
_DEBUG_WORDS = {"": False, "0": False, "false": False, "1": True, "true": True}


class _NotMine(Exception):
    """This line is for click."""


def parse(argv: list[str], environ: Mapping[str, str]) -> Callable[[], int] | None:
    """A call running the verb, or None when click must parse this line."""
    if "_PYTASKS_COMPLETE" in environ:
        return None  # a shell completion request: click's
    try:
        app_options, name, params = parse_line(argv, environ)
    except _NotMine:
        return None
    run = CALLS[name]

    def call() -> int:
        from pytasks.cli.app import App

        return run(App(**app_options), params)

    return call


def parse_line(argv: list[str], environ: Mapping[str, str]
               ) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(root group's parameters, verb key in VERBS, verb's parameters) or _NotMine."""
    app_options: dict[str, Any] = {}
    debug = _DEBUG_WORDS.get(environ.get(DEBUG_ENV, "").lower())
    if debug is None:
        raise _NotMine
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        option, value, i = _option(argv, i, GLOBAL_VALUES, GLOBAL_FLAGS)
        if option == "debug":
            debug = True
        else:
            app_options[option] = value
    for param, (env, default) in GLOBAL_ENV.items():
        if param not in app_options:
            app_options[param] = environ.get(env) or default
    app_options["debug"] = debug
    if i >= len(argv):
        raise _NotMine
    name = VERB_ALIASES.get(argv[i], argv[i])
    i += 1
    if name in CONTAINERS_NAMES:
        if i >= len(argv) or argv[i] not in CONTAINERS_DELETE_NAMES:
            raise _NotMine
        name, i = "containers delete", i + 1
    verb = VERBS.get(name)
    if verb is None:
        raise _NotMine
    return app_options, name, _verb_params(verb, argv[i:])


def _verb_params(verb: dict[str, Any], argv: list[str]) -> dict[str, Any]:
    flags: dict[str, str] = verb["flags"]
    params: dict[str, Any] = dict(verb["defaults"])
    multi: dict[str, list[str]] = {p: [] for p in verb["multi"].values()}
    positionals: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positionals.extend(argv[i + 1:])
            break
        if arg.startswith("-") and arg != "-":
            option, value, i = _option(argv, i, {**verb["values"], **verb["multi"]}, flags)
            if option in multi and value is not None:
                multi[option].append(value)
            else:
                params[option] = True if value is None else value
            continue
        if not verb["interspersed"]:
            positionals.extend(argv[i:])
            break
        positionals.append(arg)
        i += 1
    params.update({p: tuple(v) for p, v in multi.items()})
    for param, kind in verb["types"].items():
        params[param] = _convert(kind, params[param])
    for param, value in verb["required"].items():
        if params.get(param) != value:
            raise _NotMine
    params.update(_positionals(verb["args"], positionals))
    return params


def _option(argv: list[str], i: int, values: Mapping[str, str], flags: Mapping[str, str]
            ) -> tuple[str, str | None, int]:
    """(parameter, value or None for a flag, next index) for the option at argv[i]."""
    arg = argv[i]
    if arg in flags:
        return flags[arg], None, i + 1
    spelling, eq, inline = arg.partition("=")
    if eq and spelling.startswith("--") and spelling in values:
        return values[spelling], inline, i + 1
    if arg in values and i + 1 < len(argv) and not argv[i + 1].startswith("-"):
        return values[arg], argv[i + 1], i + 2
    raise _NotMine  # help, unknown, clustered, attached short value, or a missing value


def _convert(kind: str | tuple[str, int, int | None], value: Any) -> Any:
    if value is None:
        return None
    if isinstance(kind, tuple):  # ("int", minimum, maximum or None): a click.IntRange
        _, minimum, maximum = kind
        try:
            number = int(value)
        except ValueError:
            raise _NotMine from None
        if number < minimum or (maximum is not None and number > maximum):
            raise _NotMine  # click names the range
        return number
    if kind == "float>=0":
        try:
            seconds = float(value)
        except ValueError:
            raise _NotMine from None
        if not 0 <= seconds < float("inf"):  # NaN, inf and negatives: click's to judge
            raise _NotMine
        return seconds
    if kind == "format":
        if value.lower() not in FORMATS:
            raise _NotMine
        return value.lower()
    if kind == "dir":
        import os

        from pytasks.cli.checks import path
        from pytasks.errors import InvalidArgumentError

        try:
            path(value, "path")
        except InvalidArgumentError:
            raise _NotMine from None  # click's Directory type says why
        if os.path.exists(value) and not os.path.isdir(value):
            raise _NotMine  # click.Path(file_okay=False) says why
        return value
    raise AssertionError(kind)


def _positionals(spec: tuple[tuple[str, str], ...], values: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    rest = list(values)
    for n, (name, nargs) in enumerate(spec):
        if nargs == "1":
            if not rest:
                raise _NotMine
            out[name] = rest.pop(0)
        else:
            # Only the last positional may take many (true of every verb above).
            assert n == len(spec) - 1
            if nargs == "+" and not rest:
                raise _NotMine
            out[name], rest = tuple(rest), []
    if rest:
        raise _NotMine  # more than the verb takes: click says so
    return out
