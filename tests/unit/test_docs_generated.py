"""Generated docs: man/ and completions/ are up to date with their
generators, every verb has a page, every help and page ends with examples that parse, and
shell completion of task/container ids (by state where a verb wants one), signals,
namespaces and runtimes works and stays cheap (directory listings and small records only:
no protobuf, no lock, no rich).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import click
import pytest
from click.shell_completion import ShellComplete
from click.testing import CliRunner
from helpers.startup import CLICK_PATH, loaded

from pytasks import cli as cli_module
from pytasks.cli import cli
from pytasks.cli.examples import split as split_examples
from pytasks.cli.verbs import ALIASES, COMMANDS

ROOT = Path(__file__).resolve().parents[2]
MAN = ROOT / "man"
COMPLETIONS = ROOT / "completions"
ENV_VARS = ("PYTASKS_ROOT", "PYTASKS_STATE", "PYTASKS_NAMESPACE", "PYTASKS_RUNTIME",
            "PYTASKS_DEBUG")


# --- freshness ---------------------------------------------------------------------------


@pytest.mark.parametrize("generator", ["completions/generate", "man/generate"])
def test_generated_files_are_up_to_date(generator: str) -> None:
    proc = subprocess.run([sys.executable, str(ROOT / generator), "--check"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, (
        f"{generator} --check failed (run: .venv/bin/python {generator}):\n"
        f"{proc.stdout}{proc.stderr}")


def test_check_detects_a_stale_file(tmp_path: Path) -> None:
    # Run a copy of the generator next to a doctored page: --check must fail, not rewrite.
    out = tmp_path / "man"
    shutil.copytree(MAN, out)
    page = out / "pytasks-kill.1"
    page.write_text(page.read_text().replace("SIGTERM", "SIGHUP"))
    (out / "pytasks-nosuchverb.1").write_text(".TH X 1\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, str(out / "generate"), "--check"], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert "man/pytasks-kill.1: differs" in proc.stderr
    assert "man/pytasks-nosuchverb.1: not produced" in proc.stderr
    assert "SIGHUP" in page.read_text()


# --- man pages ---------------------------------------------------------------------------


def _containers_subcommands() -> list[str]:
    ctx = click.Context(cli, info_name="pytasks")
    group = cli.get_command(ctx, "containers")
    assert isinstance(group, click.Group)
    return group.list_commands(click.Context(group, info_name="containers", parent=ctx))


@pytest.mark.parametrize("name", sorted({*COMMANDS, *ALIASES}))
def test_every_verb_and_alias_has_a_man_page(name: str) -> None:
    page = MAN / f"pytasks-{name}.1"
    assert page.is_file(), f"no man page for `pytasks {name}` (run man/generate)"
    text = page.read_text()
    assert f"\n.B pytasks {name}\n" in text  # SYNOPSIS names what the user types
    if name in ALIASES:
        assert f"pytasks-{ALIASES[name]}\\fR(1)" in text


@pytest.mark.parametrize("sub", _containers_subcommands())
def test_every_containers_subcommand_has_a_man_page(sub: str) -> None:
    assert (MAN / f"pytasks-containers-{sub}.1").is_file()


def test_root_page_sections() -> None:
    from pytasks.errors import ExitCode

    text = (MAN / "pytasks.1").read_text()
    for section in ("NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "EXIT STATUS",
                    "ENVIRONMENT", "FILES", "SEE ALSO"):
        assert f"\n.SH {section}\n" in text
    for var in ENV_VARS:
        assert f"\\fB{var}\\fR" in text
    for verb in COMMANDS:
        assert f"\\fBpytasks-{verb}\\fR(1)" in text
    exit_block = text.split(".SH EXIT STATUS\n")[1].split(".SH ")[0]
    codes = [int(row.split("\\fB")[1].split("\\fR")[0])
             for row in exit_block.splitlines() if row.startswith("\\fB")]
    assert codes, "EXIT STATUS lists no codes"
    assert set(codes) <= {int(code) for code in ExitCode}, "docstring codes not in ExitCode"
    assert {0, 1, 2, 3, 130} <= set(codes)


def test_pages_are_machine_independent() -> None:
    leaks = [str(ROOT)]
    home = os.path.expanduser("~")
    if home not in ("/", "/root"):
        leaks.append(home)
    for page in sorted(MAN.glob("*.1")):
        text = page.read_text()
        assert not [leak for leak in leaks if leak in text], page.name
        assert '.TH ' in text and "pytasks " in text.split(".TH ", 1)[1].splitlines()[0]


@pytest.mark.skipif(shutil.which("man") is None, reason="man (man-db) is not installed")
@pytest.mark.parametrize("page", sorted(p.name for p in MAN.glob("*.1")))
def test_man_renders_without_warnings(page: str) -> None:
    proc = subprocess.run(["man", "-l", str(MAN / page)], capture_output=True, text=True,
                          env={**os.environ, "MANPAGER": "cat", "PAGER": "cat",
                               "MANWIDTH": "80"},
                          timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert "troff" not in proc.stderr and "warning" not in proc.stderr.lower(), proc.stderr
    assert "SYNOPSIS" in proc.stdout


# --- completion --------------------------------------------------------------------------


# The fake tasks' states: records as the CLI and the monitor write them, the monitor being
# this test process (alive, so the cached status stands), and an exit record for a stopped
# one. The real states, made by runc, are tests/integration/test_completion.py's.
FAKE_TASKS = {"web1": "running", "web2": "running", "db": "stopped", "new": "created",
              "nap": "paused"}
ALL_FAKE = sorted(FAKE_TASKS)


def write_fake_task(task_dir: Path, status: str) -> None:
    from pytasks.monitor import protocol

    task_dir.mkdir(parents=True)
    me = os.getpid()
    record = {"id": task_dir.name, "container_id": task_dir.name, "pid": me,
              "status": "running" if status == "stopped" else status, "runtime": "runc",
              "monitor": {"pid": me, "start_time": protocol.process_start_time(me)}}
    (task_dir / "task.json").write_text(json.dumps(record))
    if status == "stopped":
        (task_dir / "init.exit").write_text(json.dumps(protocol.exit_record(me, 0, 1)))


@pytest.fixture
def fake(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Roots with tasks FAKE_TASKS and containers web1, web9, db in namespace ns."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    state, root = tmp_path / "state", tmp_path / "root"
    for task, status in FAKE_TASKS.items():
        write_fake_task(state / "ns" / task, status)
    (state / "ns" / ".locks").mkdir()
    (state / "ns" / "webfile").write_text("")  # not a task dir
    (state / "ns" / "weblink").symlink_to(state / "ns" / "web1")  # never followed
    containers = root / "ns" / "containers"
    containers.mkdir(parents=True)
    for cid in ("web1", "web9", "db", ".web-hidden"):
        (containers / f"{cid}.json").write_text("{}")
    (containers / "webnotes.txt").write_text("")
    (containers / "webdir.json").mkdir()
    return {"state": state, "root": root}


def complete(args: list[str], incomplete: str) -> list[str]:
    shell = ShellComplete(cli, {}, "pytasks", "_PYTASKS_COMPLETE")
    return [item.value for item in shell.get_completions(args, incomplete)]


def test_verb_completion() -> None:
    assert complete([], "ki") == ["kill"]
    assert complete(["containers"], "in") == ["info"]


@pytest.mark.parametrize("verb", ["get", "wait", "exec", "attach", "logs", "resize-pty",
                                  "close-io", "delete-process", "ps", "stats", "update",
                                  "delete -f", "rm --force", "delete --format json -f"])
def test_task_ids_complete(verb: str, fake: dict[str, Path]) -> None:
    args = ["--state", str(fake["state"]), "-n", "ns", *verb.split()]
    assert complete(args, "we") == ["web1", "web2"]
    assert complete(args, "") == ALL_FAKE


# verb -> the fake tasks it offers (complete.py says why these states).
BY_STATE = {"start": ["new"], "pause": ["web1", "web2"], "kill": ["web1", "web2"],
            "stop": ["web1", "web2"], "resume": ["nap"], "delete": ["db"], "rm": ["db"],
            "del": ["db"]}


@pytest.mark.parametrize("verb", sorted(BY_STATE))
def test_task_ids_filtered_by_state(verb: str, fake: dict[str, Path]) -> None:
    args = ["--state", str(fake["state"]), "-n", "ns", verb]
    assert complete(args, "") == BY_STATE[verb]


def test_states_are_read_from_facts(fake: dict[str, Path]) -> None:
    """A dead monitor with no exit record is no longer running (UNKNOWN: offered by
    delete -f only); a record that is not one offers nothing, and breaks nothing."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)
    record_file = fake["state"] / "ns" / "web2" / "task.json"
    record = json.loads(record_file.read_text())
    record["monitor"] = {"pid": int(dead.stdout), "start_time": 1}
    record_file.write_text(json.dumps(record))
    (fake["state"] / "ns" / "nap" / "task.json").write_text("{not json")
    base = ["--state", str(fake["state"]), "-n", "ns"]
    assert complete([*base, "kill"], "") == ["web1"]
    assert complete([*base, "resume"], "") == []
    assert complete([*base, "delete"], "") == ["db"]
    assert complete([*base, "delete", "-f"], "") == ALL_FAKE


def test_signal_names_complete(fake: dict[str, Path]) -> None:
    from pytasks import signals

    for verb in ("kill", "stop"):
        assert complete([verb, "-s"], "") == signals.names()
        assert complete([verb, "--signal"], "K") == ["KILL"]
        assert complete([verb, "-s"], "sigu") == ["SIGUSR1", "SIGUSR2", "SIGURG"]
    assert "TERM" in signals.names() and "SIGTERM" not in signals.names()
    assert all(signals.parse(name) > 0 for name in signals.names())


def test_namespaces_complete(fake: dict[str, Path], tmp_path: Path) -> None:
    state, root = fake["state"], fake["root"]
    (state / "runtime" / "ns").mkdir(parents=True)  # the runtime's root: not a namespace
    (state / "fifo").mkdir()
    (state / ".hidden").mkdir()
    (state / "journal-only" / ".events").mkdir(parents=True)
    (root / "content" / "blobs").mkdir(parents=True)  # the content store: not one either
    (root / "records" / "containers").mkdir(parents=True)
    (root / "locks-only" / ".locks").mkdir(parents=True)  # no containers dir: not one
    base = ["--state", str(state), "--root", str(root)]
    assert complete([*base, "-n"], "") == ["journal-only", "ns", "records"]
    assert complete([*base, "--namespace"], "r") == ["records"]
    assert complete(["--state", str(tmp_path / "missing"), "--root", str(root), "-n"],
                    "") == ["ns", "records"]


def test_runtimes_complete(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    monkeypatch.setenv("PATH", str(bindir))
    assert complete(["--runtime"], "") == []
    for name in ("crun", "runc", "youki"):
        (bindir / name).write_text("#!/bin/sh\n")
        (bindir / name).chmod(0o755)
    assert complete(["--runtime"], "") == ["runc", "crun"]
    assert complete(["--runtime"], "c") == ["crun"]
    shell = ShellComplete(cli, {}, "pytasks", "_PYTASKS_COMPLETE")
    [item] = shell.get_completions(["--runtime"], "/usr/sb")
    assert (item.type, item.value) == ("file", "/usr/sb")


def test_ids_already_given_are_not_offered_again(fake: dict[str, Path]) -> None:
    args = ["--state", str(fake["state"]), "-n", "ns", "kill", "-s", "KILL", "web1"]
    assert complete(args, "we") == ["web2"]


def test_container_ids_complete(fake: dict[str, Path]) -> None:
    base = ["--root", str(fake["root"]), "--namespace", "ns"]
    assert complete([*base, "create"], "we") == ["web1", "web9"]
    assert complete([*base, "containers", "info"], "") == ["db", "web1", "web9"]
    assert complete([*base, "c", "rm"], "w") == ["web1", "web9"]
    assert complete([*base, "containers", "delete", "web1"], "w") == ["web9"]


def test_env_vars_and_command_line(fake: dict[str, Path], monkeypatch: pytest.MonkeyPatch,
                                   tmp_path: Path) -> None:
    monkeypatch.setenv("PYTASKS_STATE", str(fake["state"]))
    monkeypatch.setenv("PYTASKS_ROOT", str(fake["root"]))
    monkeypatch.setenv("PYTASKS_NAMESPACE", "ns")
    assert complete(["get"], "") == ALL_FAKE
    assert complete(["kill"], "") == ["web1", "web2"]
    assert complete(["create"], "d") == ["db"]
    # The command line wins over the environment.
    other = tmp_path / "other"
    write_fake_task(other / "ns" / "web7", "running")
    write_fake_task(other / "ns2" / "web8", "running")
    assert complete(["--state", str(other), "kill"], "") == ["web7"]
    assert complete(["--state", str(other), "-n", "ns2", "kill"], "") == ["web8"]
    assert complete(["--state", str(other), "-n"], "") == ["ns", "ns2"]
    assert complete(["-n", "nosuchns", "kill"], "") == []


def test_default_roots_are_the_fallback(fake: dict[str, Path],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    import pytasks.state.layout as layout

    monkeypatch.setattr(layout, "default_roots",
                        lambda: (str(fake["root"]), str(fake["state"])))
    assert complete(["-n", "ns", "wait"], "") == ALL_FAKE
    assert complete(["-n", "ns", "start"], "") == ["new"]
    assert complete(["-n", "ns", "containers", "info"], "") == ["db", "web1", "web9"]


@pytest.mark.parametrize("namespace", ["..", ".", "../ns", "a/b"])
def test_namespace_cannot_escape_the_state_dir(fake: dict[str, Path], namespace: str) -> None:
    assert complete(["--state", str(fake["state"] / "ns"), "-n", namespace, "kill"], "") == []


def test_missing_roots_complete_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "missing"
    assert complete(["--state", str(missing), "--root", str(missing), "kill"], "") == []
    assert complete(["--state", str(missing), "--root", str(missing), "create"], "") == []


def _command_paths() -> dict[str, click.Command]:
    """'kill' -> its command, 'containers info' -> its command, ... (aliases left out)."""
    ctx = click.Context(cli, info_name="pytasks")
    paths: dict[str, click.Command] = {}
    for verb in COMMANDS:
        command = cli.get_command(ctx, verb)
        assert command is not None
        paths[verb] = command
        if isinstance(command, click.Group):
            sub_ctx = click.Context(command, info_name=verb, parent=ctx)
            for name in command.list_commands(sub_ctx):
                sub = command.get_command(sub_ctx, name)
                assert sub is not None
                paths[f"{verb} {name}"] = sub
    return paths


# Arguments that name an existing container record rather than a task.
CONTAINER_ID_ARGUMENTS = {("create", "container"), ("containers info", "container_id"),
                          ("containers delete", "container_ids"),
                          ("inspect", "containers")}


def test_every_container_argument_is_wired(fake: dict[str, Path]) -> None:
    """A CONTAINER argument that is first on its verb completes ids (behaviour, not wiring:
    a new verb with a CONTAINER argument and no shell_complete fails here)."""
    base = ["--state", str(fake["state"]), "--root", str(fake["root"]), "-n", "ns"]
    checked = []
    for path, command in _command_paths().items():
        arguments = [p for p in command.params if isinstance(p, click.Argument)]
        if not arguments:
            continue
        first = arguments[0].name
        if (path, first) in CONTAINER_ID_ARGUMENTS:
            want, incomplete = ["web1", "web9"], "we"
        elif path in BY_STATE:
            want, incomplete = BY_STATE[path], ""
        elif first in ("container", "containers"):
            want, incomplete = ["web1", "web2"], "we"
        else:
            continue
        assert complete([*base, *path.split()], incomplete) == want, f"pytasks {path} {first}"
        checked.append(path)
    assert len(checked) >= 19, checked


COMPLETION_PROBE = textwrap.dedent("""
    import atexit, json, sys
    def report():
        sys.stderr.write("PROBE " + json.dumps(sorted(sys.modules)) + "\\n")
    atexit.register(report)
    import os
    _exit = os._exit
    os._exit = lambda code: (report(), _exit(code))  # main() skips atexit: report first
    from pytasks.cli import main
    main()
""")


def test_completion_is_cheap(fake: dict[str, Path]) -> None:
    """A real completion request (what the shell scripts send) loads click and nothing heavy."""
    env = {"PATH": "/usr/bin:/bin", "_PYTASKS_COMPLETE": "bash_complete",
           "COMP_WORDS": f"pytasks --state {fake['state']} -n ns kill we", "COMP_CWORD": "6"}
    proc = subprocess.run([sys.executable, "-c", COMPLETION_PROBE], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["plain,web1", "plain,web2"]
    modules = json.loads(proc.stderr.split("PROBE ", 1)[1])
    assert "click" in modules  # the probe saw the real thing
    assert loaded(modules, CLICK_PATH) == []


@pytest.mark.skipif(shutil.which("bash") is None, reason="bash is not installed")
def test_bash_script_end_to_end(fake: dict[str, Path], tmp_path: Path) -> None:
    """Source the committed bash script and complete through a `pytasks` on PATH."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "pytasks"
    shim.write_text(f"#!/bin/sh\nexec {sys.executable} -m pytasks \"$@\"\n")
    shim.chmod(0o755)
    script = textwrap.dedent(f"""
        source {COMPLETIONS / "pytasks.bash"}
        COMP_WORDS=(pytasks --state {fake["state"]} -n ns kill we); COMP_CWORD=6
        _pytasks_completion pytasks
        echo "${{COMPREPLY[*]}}"
        COMPREPLY=(); COMP_WORDS=(pytasks ki); COMP_CWORD=1
        _pytasks_completion pytasks
        echo "${{COMPREPLY[*]}}"
    """)
    env = {"PATH": f"{bindir}:/usr/bin:/bin", "HOME": str(tmp_path),
           "PYTHONPATH": str(ROOT)}
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", script], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["web1 web2", "kill"]


def test_cli_module_is_the_completion_root() -> None:
    # The scripts call `pytasks`, whose entry point is pytasks.cli:main with this prog name.
    assert cli_module.main.__module__ == "pytasks.cli"
    for name in ("pytasks.bash", "_pytasks", "pytasks.fish"):
        assert "_PYTASKS_COMPLETE" in (COMPLETIONS / name).read_text()


# --- examples ----------------------------------------------------------------------------

# logs.py is being rewritten elsewhere, with its own examples; until they land its help and
# page may lack them (and only them).
EXAMPLES_PENDING = {"logs"}


def _helps() -> dict[str, str]:
    """'' (the root group), 'kill', 'containers info', ... -> its help text."""
    return {"": cli.help or "", **{path: command.help or ""
                                   for path, command in _command_paths().items()}}


@pytest.mark.parametrize("path", sorted(_helps()))
def test_every_help_ends_with_examples(path: str) -> None:
    """One or two example lines (events, whose module another change owns, has three), in
    the Examples block that closes the help, each a command line of this very verb (so a
    block copied from another verb cannot pass)."""
    help_text = _helps()[path]
    found = split_examples(help_text)[1]
    if not found and path in EXAMPLES_PENDING:
        pytest.skip(f"pytasks {path}: its examples come with its rewrite")
    assert 1 <= len(found) <= 3, f"pytasks {path}: {found}"
    assert help_text.rstrip().splitlines()[-1].strip() == found[-1], "not last in the help"
    for example in found:
        assert example.startswith("pytasks "), example
        if path:
            assert f" {path} " in f"{example} ", f"pytasks {path}: {example!r}"


def parse_example(example: str) -> tuple[str, dict[str, object]]:
    """(the verb path, its parameters) click parses an example's command line into, up to
    a pipe or redirection; nothing runs. A usage error raises."""
    import shlex

    words = shlex.split(example)
    assert words[0] == "pytasks", example
    for stop in ("|", ">", "<"):
        if stop in words:
            words = words[:words.index(stop)]
    ctx = cli.make_context("pytasks", words[1:])
    command: click.Command = cli
    path = []
    while isinstance(command, click.Group):
        # The verb word: in _protected_args since click 8.2, in protected_args before.
        verb = vars(ctx).get("_protected_args", vars(ctx).get("protected_args", []))
        name, found, rest = command.resolve_command(ctx, [*verb, *ctx.args])
        assert name is not None and found is not None, example
        command = found
        path.append(str(found.name))  # an alias's verb
        ctx = command.make_context(name, rest, parent=ctx)
    return " ".join(path), ctx.params


@pytest.mark.parametrize("path", sorted(_helps()))
def test_every_example_parses_as_its_verb(path: str) -> None:
    for example in split_examples(_helps()[path])[1]:
        parsed, _params = parse_example(example)
        assert not path or f"{parsed} ".startswith(f"{path} "), f"{example!r}: pytasks {parsed}"


def test_an_example_that_cannot_parse_is_caught() -> None:
    with pytest.raises(click.UsageError):
        parse_example("pytasks kill --no-such-option web")
    assert parse_example("pytasks c ls -q | wc -l") == ("containers list",
                                                        {"quiet": True, "fmt": "table"})


def test_help_renders_examples_unwrapped() -> None:
    """click's \\b keeps the block as written: one example per line under 'Examples:'."""
    result = CliRunner().invoke(cli, ["help", "kill"], terminal_width=40)
    assert result.exit_code == 0, result.output
    tail = result.output.split("Examples:\n", 1)[1].split("\n\n", 1)[0]
    assert tail.splitlines() == ["    pytasks kill -s HUP web",
                                 "    pytasks kill -s KILL --all web worker"]
    assert "\\b" not in CliRunner().invoke(cli, ["help", "help"]).output


@pytest.mark.parametrize("page", sorted(p.name for p in MAN.glob("*.1")))
def test_every_man_page_has_examples_and_a_release_date(page: str) -> None:
    import pytasks

    text = (MAN / page).read_text()
    th = next(row for row in text.splitlines() if row.startswith(".TH "))
    assert f'1 "{pytasks.RELEASE_DATE}" "pytasks {pytasks.__version__}"' in th
    name = page.removesuffix(".1").removeprefix("pytasks").lstrip("-")
    if name.split("-")[0] in EXAMPLES_PENDING and ".SH EXAMPLES" not in text:
        pytest.skip(f"{page}: its examples come with its verb's rewrite")
    block = text.split("\n.SH EXAMPLES\n", 1)[1].split("\n.SH ", 1)[0]
    examples = [row for row in block.splitlines() if not row.startswith(".")]
    assert 1 <= len(examples) <= 3, page
    if name in ALIASES:  # an alias page shows its verb's examples, spelled with the alias
        assert all(e.startswith(f"pytasks {name} ") for e in examples), examples


def test_release_date_is_a_date() -> None:
    import datetime

    import pytasks

    datetime.date.fromisoformat(pytasks.RELEASE_DATE)
