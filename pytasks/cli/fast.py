"""The fast path: the everyday forms of the everyday verbs, parsed without importing click.

Importing click costs more than a whole `runc pause` (bench/README.md); scripts call these verbs
in loops. This parser takes only what it is sure of: known options spelled out (`--opt V`,
`--opt=V`, `-x V`, flags), positionals by click's rules (options stop at `--`, and at the
first positional where the verb says so), click's defaults and environment variables.
Anything else - help, clustered or attached short options, an unknown option, a value
that looks like an option, a type or count click would reject - returns None, and the
click group parses the line instead, with its own messages. tests/unit/test_fast.py
checks that every line this parser takes is parsed by click into the same values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

FORMATS = ("table", "json")
INT_MIN_1 = "int>=1"
DIRECTORY = "dir"
FORMAT = "format"


class Verb:
    """What the fast path knows of one verb: option spellings -> click parameter names."""

    __slots__ = ("action", "args", "defaults", "flags", "interspersed", "multi", "required",
                 "types", "values")

    def __init__(self, action: str, *, args: tuple[tuple[str, str], ...],
                 flags: Mapping[str, str] | None = None,
                 values: Mapping[str, str] | None = None,
                 multi: Mapping[str, str] | None = None,
                 defaults: Mapping[str, Any] | None = None,
                 types: Mapping[str, str] | None = None,
                 required: Mapping[str, Any] | None = None,
                 interspersed: bool = True) -> None:
        self.action = action            # attribute of pytasks.cli.actions
        self.args = args                # (name, "1" | "+" | "*") in order
        self.flags = dict(flags or {})
        self.values = dict(values or {})
        self.multi = dict(multi or {})
        self.defaults = dict(defaults or {})
        self.types = dict(types or {})
        self.required = dict(required or {})  # params that must have this value (else click)
        self.interspersed = interspersed


_CONTAINERS_PLUS = (("containers", "+"),)
_FORMAT = {"--format": "output_format"}
_FORMAT_DEFAULT = {"output_format": "table"}
_FORMAT_TYPE = {"output_format": FORMAT}

VERBS: dict[str, Verb] = {
    "start": Verb("start", args=_CONTAINERS_PLUS),
    "pause": Verb("pause", args=_CONTAINERS_PLUS),
    "resume": Verb("resume", args=_CONTAINERS_PLUS),
    "kill": Verb("kill", args=_CONTAINERS_PLUS,
                 flags={"-a": "all_processes", "--all": "all_processes"},
                 values={"-s": "signal_name", "--signal": "signal_name", "--pid": "pid"},
                 defaults={"signal_name": "SIGTERM", "pid": None},
                 types={"pid": INT_MIN_1}),
    "delete": Verb("delete", args=_CONTAINERS_PLUS, flags={"-f": "force", "--force": "force"},
                   values=_FORMAT, defaults=_FORMAT_DEFAULT, types=_FORMAT_TYPE),
    "get": Verb("get", args=(("container", "1"),), values=_FORMAT,
                defaults=_FORMAT_DEFAULT, types=_FORMAT_TYPE),
    "list": Verb("list_tasks", args=(), flags={"-q": "quiet", "--quiet": "quiet"},
                 values={**_FORMAT, "--filter": "filter_text"},
                 defaults={**_FORMAT_DEFAULT, "filter_text": ""}, types=_FORMAT_TYPE),
    "ps": Verb("ps", args=(("container", "1"),), flags={"--env": "show_env"},
               values=_FORMAT, defaults=_FORMAT_DEFAULT, types=_FORMAT_TYPE),
    "wait": Verb("wait", args=(("container", "1"),), values={**_FORMAT, "--pid": "pid"},
                 defaults={**_FORMAT_DEFAULT, "pid": None},
                 types={**_FORMAT_TYPE, "pid": INT_MIN_1}),
    # run: detached only (attached runs stream for as long as they like: click's cost is
    # noise there); -t, -i and --rm go to click.
    "run": Verb("run", args=(("container_id", "1"), ("command", "*")), interspersed=False,
                flags={"-d": "detach", "--detach": "detach", "--readonly": "readonly",
                       "--net-host": "net_host"},
                values={"--rootfs": "rootfs", "--bundle": "bundle", "--cwd": "cwd",
                        "--user": "user", "--hostname": "hostname", "--stdin": "stdin",
                        "--stdout": "stdout", "--stderr": "stderr"},
                multi={"--env": "env", "--mount": "mount", "--label": "label"},
                defaults={"remove": False, "terminal": False, "interactive": False},
                types={"rootfs": DIRECTORY, "bundle": DIRECTORY},
                required={"detach": True}),
    # exec: attached without a terminal or stdin, or detached.
    "exec": Verb("exec_", args=(("container", "1"), ("command", "+")), interspersed=False,
                 flags={"-d": "detach", "--detach": "detach"},
                 values={"--cwd": "cwd", "--user": "user"}, multi={"--env": "env"},
                 defaults={"terminal": False, "interactive": False}),
    "containers delete": Verb("containers_delete", args=(("container_ids", "+"),),
                              flags={"-f": "force", "--force": "force"}),
}
VERB_ALIASES = {"rm": "delete", "del": "delete", "info": "get", "ls": "list"}
CONTAINERS_NAMES = ("containers", "container", "c")
CONTAINERS_DELETE_NAMES = ("delete", "rm", "del")

# The root group's options: spelling -> (parameter, environment variable, default).
GLOBAL_VALUES = {"--root": "root", "--state": "state", "-n": "namespace",
                 "--namespace": "namespace", "--runtime": "runtime"}
GLOBAL_ENV = {"root": ("PYTASKS_ROOT", None), "state": ("PYTASKS_STATE", None),
              "namespace": ("PYTASKS_NAMESPACE", "default"),
              "runtime": ("PYTASKS_RUNTIME", "runc")}
# click's boolean words for a flag's environment variable; others go to click.
_DEBUG_ENV = {"": False, "0": False, "false": False, "1": True, "true": True}


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
    verb = VERBS[name]

    def call() -> int:
        from pytasks.cli import actions
        from pytasks.cli.app import App

        app = App(**app_options)
        return int(getattr(actions, verb.action)(app, **params))

    return call


def parse_line(argv: list[str], environ: Mapping[str, str]
               ) -> tuple[dict[str, Any], str, dict[str, Any]]:
    """(root group's parameters, verb key in VERBS, verb's parameters) or _NotMine."""
    app_options: dict[str, Any] = {}
    debug = _DEBUG_ENV.get(environ.get("PYTASKS_DEBUG", "").lower())
    if debug is None:
        raise _NotMine
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        option, value, i = _option(argv, i, GLOBAL_VALUES, {"--debug": "debug"})
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


def _verb_params(verb: Verb, argv: list[str]) -> dict[str, Any]:
    params: dict[str, Any] = {p: False for p in verb.flags.values()}
    params.update({p: None for p in verb.values.values()})
    multi: dict[str, list[str]] = {p: [] for p in verb.multi.values()}
    params.update(verb.defaults)
    positionals: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg == "--":
            positionals.extend(argv[i + 1:])
            break
        if arg.startswith("-") and arg != "-":
            option, value, i = _option(argv, i, {**verb.values, **verb.multi}, verb.flags)
            if option in multi and value is not None:
                multi[option].append(value)
            else:
                params[option] = True if value is None else value
            continue
        if not verb.interspersed:
            positionals.extend(argv[i:])
            break
        positionals.append(arg)
        i += 1
    params.update({p: tuple(v) for p, v in multi.items()})
    for param, kind in verb.types.items():
        params[param] = _convert(kind, params[param])
    for param, value in verb.required.items():
        if params.get(param) != value:
            raise _NotMine
    params.update(_positionals(verb.args, positionals))
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


def _convert(kind: str, value: Any) -> Any:
    if value is None:
        return None
    if kind == FORMAT:
        if value.lower() not in FORMATS:
            raise _NotMine
        return value.lower()
    if kind == INT_MIN_1:
        try:
            number = int(value)
        except ValueError:
            raise _NotMine from None
        if number < 1:
            raise _NotMine
        return number
    if kind == DIRECTORY:
        import os

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
