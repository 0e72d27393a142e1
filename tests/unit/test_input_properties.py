"""Property tests of bad input (issue 10): whatever argv holds, pytasks answers with one
documented exit code and `pytasks: ` lines, never a traceback or an internal error, and
writes nothing outside the roots it was given.

Lines are built from the click command tree itself (every verb, its options and their
types), with values drawn from what breaks parsers: huge and negative numbers, NaN, NUL
bytes, surrogate-escaped bytes (argv's stand-in for non-UTF-8), very long strings and deeply
nested parentheses. They run in-process through pytasks.cli.execute, so both doors (the fast
path and click) are exercised. No container runs: the roots start empty and the runtime is
a path that does not exist, so `run` stops before any monitor is spawned.

Derandomized and database-less: the same examples on every run; hypothesis prints the
failing one.
"""

from __future__ import annotations

import io
import os
import shutil
import sys
import tempfile
from collections.abc import Iterator
from typing import Any

import click
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from pytasks import filters, ids, signals
from pytasks.cli import checks, execute
from pytasks.cli.root import cli
from pytasks.cli.verbs.update import parse_size
from pytasks.errors import ExitCode, InvalidArgumentError
from pytasks.resources import MAX_MEMORY

# docs/architecture.md §6: pytasks' own codes. With no task running, no attached verb can
# pass a process's status through, so nothing else may appear.
DOCUMENTED = {int(code) for code in ExitCode}
NO_RUNTIME = "/nonexistent/pytasks-test-runtime"
# Verb options that wait for a human: --watch refreshes until Ctrl-C, and so does events
# --follow (until Ctrl-C or an --until that may lie far ahead).
ENDLESS = {("stats", "watch"), ("events", "follow")}

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# --- values --------------------------------------------------------------------------------

NASTY_TEXT = st.sampled_from([
    "", " ", "-", "--", "\0", "a\0b", "\udcff", "x\udc80y", "é", "\u200b", "\n", "'\"\\",
    "(" * 1000, "(" * 300 + ")" * 300, "a" * 77, "a" * 5000, "/", "..", "../x", "%s%n",
    "9" * 30, "-1", "0", "nan", "inf", "-inf", "1e400", "²", "٣", "1_0", "0x10",
    "SIGKILL", "TERM", "64", "65", "status==running", "id~=(", "type=bind,src=/,dst=/x",
    "A=\0", "\0=1", "k=" + "v" * 5000,
])
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([0, 1, -1, 2**31 - 1, 2**31, 2**32, 2**63 - 1, 2**63, 2**64, 65535,
                     65536, 10**30]),
).map(str)
FLOATS = st.one_of(st.floats(allow_nan=True, allow_infinity=True).map(repr),
                   st.sampled_from(["nan", "inf", "-inf", "1e400", "0.001", "1.5", "-0"]))
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=40)
SURROGATES = st.text(st.characters(min_codepoint=0xDC80, max_codepoint=0xDCFF), min_size=1,
                     max_size=4)
VALUES = st.one_of(NASTY_TEXT, NUMBERS, FLOATS, ANY_TEXT, SURROGATES,
                   st.sampled_from(["web", "a.b-c", "x1"]))


def _value_for(param: click.Parameter) -> st.SearchStrategy[str]:
    kind = param.type
    if isinstance(kind, click.Choice):
        return st.one_of(st.sampled_from([str(c) for c in kind.choices]), VALUES)
    if isinstance(kind, click.types.FloatParamType):
        return st.one_of(FLOATS, VALUES)
    if isinstance(kind, click.types.IntParamType):
        return st.one_of(NUMBERS, VALUES)
    return VALUES


# --- lines from the click command tree ----------------------------------------------------

def _commands() -> Iterator[tuple[tuple[str, ...], click.Command]]:
    ctx = click.Context(cli)
    for name in cli.list_commands(ctx):
        command = cli.get_command(ctx, name)
        assert command is not None
        if isinstance(command, click.Group):
            sub = click.Context(command, parent=ctx)
            for sub_name in command.list_commands(sub):
                sub_command = command.get_command(sub, sub_name)
                assert sub_command is not None
                yield (name, sub_name), sub_command
        else:
            yield (name,), command


COMMANDS = sorted(_commands(), key=lambda item: item[0])


def _option_tokens(param: click.Option) -> st.SearchStrategy[list[str]]:
    spelling = st.sampled_from(param.opts)
    if param.is_flag:
        return spelling.map(lambda s: [s])
    return st.tuples(spelling, _value_for(param)).map(list)


@st.composite
def lines(draw: st.DrawFn) -> list[str]:
    path, command = draw(st.sampled_from(COMMANDS))
    options = [p for p in command.params if isinstance(p, click.Option)
               and (path[0], p.name) not in ENDLESS and "--help" not in p.opts]
    tokens: list[str] = []
    for _ in range(draw(st.integers(0, 4))):
        if options:
            tokens += draw(_option_tokens(draw(st.sampled_from(options))))
    for param in command.params:
        if isinstance(param, click.Argument):
            count = 1 if param.nargs == 1 else draw(st.integers(0, 3))
            tokens += [draw(_value_for(param)) for _ in range(count)]
    if draw(st.booleans()):
        tokens.insert(draw(st.integers(0, len(tokens))), draw(VALUES))  # a stray token
    return [*path, *tokens]


# The roots and runtime are fixed by run_line; a namespace may be anything. (--debug prints
# tracebacks on purpose, so it is left out.)
GLOBALS = st.one_of(st.just([]), VALUES.map(lambda v: ["-n", v]))


# --- running a line in a sandbox ----------------------------------------------------------

@pytest.fixture(scope="module")
def sandbox() -> Iterator[str]:
    directory = tempfile.mkdtemp(prefix="pytasks-input-")
    saved = {k: v for k, v in os.environ.items() if k.startswith("PYTASKS_")}
    for name in saved:
        del os.environ[name]
    try:
        yield directory
    finally:
        os.environ.update(saved)
        shutil.rmtree(directory, ignore_errors=True)


def run_line(sandbox: str, argv: list[str]) -> tuple[int, str]:
    """(exit code, stderr) of argv under fresh roots in sandbox; stdout and stderr are strict
    UTF-8, as a pipe to a UTF-8 reader is, so an unprintable message cannot hide."""
    root, state, cwd = (os.path.join(sandbox, n) for n in ("root", "state", "cwd"))
    for directory in (root, state, cwd):
        shutil.rmtree(directory, ignore_errors=True)
    os.mkdir(cwd)
    out = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", write_through=True)
    saved = sys.stdin, sys.stdout, sys.stderr, os.getcwd()
    # An empty stdin with a byte layer under it, as a real one has (content ingest reads it).
    stdin = io.TextIOWrapper(io.BytesIO(), encoding="utf-8")
    sys.stdin, sys.stdout, sys.stderr = stdin, out, err
    os.chdir(cwd)
    try:
        code = execute(["--root", root, "--state", state, "--runtime", NO_RUNTIME, *argv])
    finally:
        sys.stdin, sys.stdout, sys.stderr = saved[:3]
        os.chdir(saved[3])
    return code, err.buffer.getvalue().decode("utf-8")


def check_outcome(sandbox: str, argv: list[str], code: int, stderr: str) -> None:
    note(f"argv={argv!r} code={code} stderr={stderr!r}")
    assert code in DOCUMENTED, (argv, code, stderr)
    assert "Traceback" not in stderr
    assert "internal error" not in stderr
    for line in stderr.splitlines():
        assert line.startswith("pytasks: "), line
    assert set(os.listdir(sandbox)) <= {"cwd", "root", "state"}, "created beside the roots"
    assert os.listdir(os.path.join(sandbox, "cwd")) == [], "created in the working directory"


@SETTINGS
@given(line=lines(), globals_=GLOBALS)
def test_every_verb_answers_bad_input_with_a_documented_code(
        sandbox: str, line: list[str], globals_: list[str]) -> None:
    argv = [*globals_, *line]
    code, stderr = run_line(sandbox, argv)
    check_outcome(sandbox, argv, code, stderr)


@settings(SETTINGS, max_examples=60)
@given(option=st.sampled_from(["--root", "--state", "--runtime"]),
       bad=st.one_of(st.text(max_size=10).map(lambda t: t + "\0"), SURROGATES))
def test_bad_global_paths_are_invalid_argument_and_touch_nothing(
        sandbox: str, option: str, bad: str) -> None:
    code, stderr = run_line(sandbox, [option, bad, "containers", "create", "c1"])
    check_outcome(sandbox, [option, bad], code, stderr)
    assert code == ExitCode.INVALID_ARGUMENT, stderr
    assert not os.path.exists(os.path.join(sandbox, "root")), "a record was written"


@settings(SETTINGS, max_examples=60)
@given(verb=st.sampled_from(["start", "pause", "resume", "kill", "delete", "get", "ps",
                             "wait", "logs", "stats", "attach", "create", "update",
                             "get --format json", "ps --format json", "wait --format json",
                             "delete --format json", "stats --format json",
                             "containers info", "containers delete", "run -d",
                             "containers create"]),
       bad=st.one_of(SURROGATES, st.sampled_from(["\0", "a b", "../x", "\n", "a" * 77])))
def test_a_bad_id_is_invalid_argument_on_every_verb(sandbox: str, verb: str, bad: str) -> None:
    argv = verb.split() + (["--memory", "1g"] if verb == "update" else []) + [bad]
    code, stderr = run_line(sandbox, argv)
    check_outcome(sandbox, argv, code, stderr)
    assert code == ExitCode.INVALID_ARGUMENT, stderr
    assert "container id " in stderr
    assert not os.path.exists(os.path.join(sandbox, "root"))


# --- the pure checkers --------------------------------------------------------------------

def _one_printable_line(message: str) -> None:
    assert "\n" not in message and "\r" not in message
    message.encode("utf-8")  # no surrogate left in it


@SETTINGS
@given(value=st.one_of(ANY_TEXT, VALUES, st.from_regex(ids._PATTERN, fullmatch=True)))
def test_ids_validate_accepts_exactly_the_valid_ones(value: str) -> None:
    try:
        assert ids.validate(value, "container id") == value
    except InvalidArgumentError as exc:
        assert not ids.is_valid(value)
        _one_printable_line(str(exc))
        assert len(str(exc)) < 200
    else:
        assert ids.is_valid(value)


@SETTINGS
@given(value=st.one_of(ANY_TEXT, VALUES))
def test_quote_is_printable_and_bounded(value: str) -> None:
    shown = ids.quote(value)
    _one_printable_line(shown)
    assert all(ch.isprintable() for ch in shown)
    assert len(shown) <= ids.QUOTE_LIMIT * len("\\U0001f600") + len("''...")


@SETTINGS
@given(value=st.one_of(ANY_TEXT, VALUES, SURROGATES))
def test_checks_text_refuses_nul_and_non_utf8_only(value: str) -> None:
    bad = "\0" in value or any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    try:
        checks.text(value, "--env")
    except InvalidArgumentError as exc:
        assert bad
        _one_printable_line(str(exc))
    else:
        assert not bad


def _nested(depth: int) -> str:
    return "id~=" + "(" * depth + "a" + ")" * depth


@SETTINGS
@given(text=st.one_of(
    ANY_TEXT, VALUES,
    st.integers(0, 2000).map(_nested),
    st.lists(st.sampled_from(["id", "pid", "status", "==", "!=", "~=", ",", "|", '"', "/",
                              "(", ")", "[", "]", "\\", "running", "a", " ", "{9999999999}",
                              "*", "+", "?"]), max_size=30).map("".join),
))
def test_filters_parse_raises_only_invalid_argument(text: str) -> None:
    try:
        parsed = filters.parse(text)
    except InvalidArgumentError as exc:
        _one_printable_line(str(exc))
        assert len(str(exc)) < 600
    else:
        assert parsed.match({"id": "a", "container_id": "a", "pid": "1", "status": "running"}) \
            in (True, False)


@SETTINGS
@given(depth=st.integers(0, filters.MAX_REGEX_DEPTH))
def test_filters_nesting_up_to_the_bound_compiles(depth: int) -> None:
    assert filters.parse(_nested(depth)).match({"id": "a"})


@SETTINGS
@given(text=st.one_of(ANY_TEXT, VALUES, st.integers(-100, 100).map(str)))
def test_signals_parse_gives_a_signal_number_or_invalid_argument(text: str) -> None:
    try:
        number = signals.parse(text)
    except InvalidArgumentError as exc:
        _one_printable_line(str(exc))
    else:
        assert 1 <= number <= 64


@SETTINGS
@given(text=st.one_of(ANY_TEXT, VALUES, FLOATS,
                      st.tuples(NUMBERS, st.sampled_from(["", "k", "m", "g", "t", "mib"]))
                      .map("".join)))
def test_parse_size_gives_a_bounded_size_or_value_error(text: str) -> None:
    try:
        size = parse_size(text)
    except ValueError as exc:
        _one_printable_line(str(exc))
    else:
        assert size == -1 or 1 <= size <= MAX_MEMORY


def test_values_cover_the_reported_cases() -> None:
    """The reported lines of issue 10, one by one (each was an internal error)."""
    cases: list[Any] = [
        ["list", "--filter", "id~=" + "(" * 1000],
        ["stats", "\udcff"], ["logs", "\udcff"], ["kill", "\udcff"],
        ["close-io", "x", "99999999999999999999"],
        ["resize-pty", "x", "99999999999999999999", "80", "24"],
        ["update", "--memory", "9223372036854775808", "x"],
        ["update", "--cpus", "nan", "x"], ["update", "--cpus", "inf", "x"],
        ["update", "--cpus", "-1", "x"], ["update", "--memory", "1e400", "x"],
        ["update", "--pids-limit", "99999999999", "x"],
        ["kill", "-s", "²", "x"], ["stats", "--interval", "inf", "x"],
    ]
    for argv in cases:
        with tempfile.TemporaryDirectory() as directory:
            code, stderr = run_line(directory, argv)
            assert code == ExitCode.INVALID_ARGUMENT, (argv, stderr)
            assert stderr.count("\n") == 1 and stderr.startswith("pytasks: "), stderr


@pytest.mark.parametrize("argv", [
    ["exec", "--cwd", "relative", "x", "sh"],   # was the attached verb's 125
    ["exec", "--env", "A=\0", "x", "sh"],
    ["exec", "--user", "1:2:3", "x", "sh"],
    ["run", "-d", "--stdout", "out\0", "c"],     # was a record left behind, then 1
    ["run", "-d", "--env", "A=\0", "c"],         # was runc's failure, 1
    ["run", "-d", "--hostname", "h" * 65, "c"],
    ["run", "-d", "--label", "k=" + "v" * 4096, "c"],
    ["run", "-d", "c", "echo", "\udcff"],        # runc would have run U+FFFD instead
    ["containers", "create", "--rootfs", "/\0", "c"],
    ["create", "--mount", "type=tmpfs\0", "x"],
])
def test_misuse_is_invalid_argument_before_anything_is_written(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        code, stderr = run_line(directory, argv)
        assert code == ExitCode.INVALID_ARGUMENT, stderr
        assert stderr.count("\n") == 1 and stderr.startswith("pytasks: "), stderr
        assert not os.path.exists(os.path.join(directory, "root", "default", "containers",
                                               "c.json"))


def test_a_root_under_a_file_is_named() -> None:
    with tempfile.TemporaryDirectory() as directory:
        plain = os.path.join(directory, "file")
        with open(plain, "w"):
            pass
        for option in ("--root", "--state"):
            for value in (plain, os.path.join(plain, "below")):
                code, stderr = run_line(directory, [option, value, "containers", "list"]
                                        if option == "--root" else [option, value, "list"])
                assert code == ExitCode.INVALID_ARGUMENT, stderr
                assert "is not a directory" in stderr, stderr


def test_a_batch_reports_a_bad_id_once_and_goes_on() -> None:
    with tempfile.TemporaryDirectory() as directory:
        code, stderr = run_line(directory, ["kill", "\udcff", "good"])
    assert code == ExitCode.INVALID_ARGUMENT  # the first failure's code, as ctr
    assert stderr.splitlines() == [
        r"pytasks: container id '\xff' is invalid: must match [A-Za-z0-9]+([._-][A-Za-z0-9]+)*",
        "pytasks: task good not found",
    ]
