"""The CLI's start-up budget (docs/architecture.md §8) and --help of every verb.

Heavy modules (rich, protobuf, filelock, python-daemon) must not be imported by `--help` or
by light verbs; each check runs in a fresh interpreter so nothing is preloaded.
"""

from __future__ import annotations

import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from helpers.startup import CLICK_PATH, loaded

from pytasks import cli
from pytasks.cli import execute as cli_run
from pytasks.cli import verbs

PROBE = textwrap.dedent("""
    import contextlib, io, json, sys
    from pytasks.cli import execute as run
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = run(sys.argv[1:])
    print(json.dumps({"code": code, "modules": sorted(sys.modules), "out": out.getvalue(),
                      "err": err.getvalue()}))
""")


def probe(args: list[str], tmp_path: Path) -> dict:
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "PYTASKS_ROOT": str(tmp_path / "root"),
           "PYTASKS_STATE": str(tmp_path / "state"), "PYTASKS_NAMESPACE": "startup"}
    result = subprocess.run([sys.executable, "-c", PROBE, *args], capture_output=True,
                            text=True, env=env, timeout=60, check=True)
    report = json.loads(result.stdout)
    report["heavy"] = loaded(report.pop("modules"), CLICK_PATH)
    return report


def test_help_imports_nothing_heavy(tmp_path: Path) -> None:
    report = probe(["--help"], tmp_path)
    assert report["code"] == 0
    assert "Usage: pytasks" in report["out"]
    assert report["heavy"] == []


def test_list_quiet_imports_nothing_heavy(tmp_path: Path) -> None:
    report = probe(["list", "-q"], tmp_path)
    assert (report["code"], report["out"], report["err"]) == (0, "", "")
    assert report["heavy"] == []


def test_list_table_and_get_table_import_nothing_heavy(tmp_path: Path) -> None:
    report = probe(["list"], tmp_path)
    assert (report["code"], report["out"]) == (0, "TASK    PID    STATUS    EXIT STATUS\n")
    assert report["heavy"] == []
    report = probe(["get", "nosuch"], tmp_path)
    assert (report["code"], report["err"]) == (3, "pytasks: task nosuch not found\n")
    assert report["heavy"] == []


def test_list_quiet_works_on_empty_roots(tmp_path: Path) -> None:
    report = probe(["list", "-q"], tmp_path)
    assert (report["code"], report["out"], report["err"]) == (0, "", "")
    assert not (tmp_path / "state").exists(), "a read-only verb created the state dir"


VERBS = sorted({*verbs.COMMANDS, *verbs.ALIASES})


@pytest.mark.parametrize("verb", VERBS)
def test_help_of_every_verb(verb: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run([verb, "--help"]) == 0
    out = capsys.readouterr().out
    canonical = verbs.ALIASES.get(verb, verb)
    assert out.startswith(f"Usage: pytasks {canonical} ") or out.startswith(
        f"Usage: pytasks {verb} ")
    assert len(out.splitlines()) > 3


@pytest.mark.parametrize("sub", ["create", "list", "ls", "info", "get", "delete", "rm", "del"])
def test_help_of_every_containers_verb(sub: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(["containers", sub, "--help"]) == 0
    assert capsys.readouterr().out.startswith("Usage: pytasks containers ")


def test_aliases_point_at_commands() -> None:
    assert set(verbs.ALIASES.values()) <= set(verbs.COMMANDS)
    assert not set(verbs.ALIASES) & set(verbs.COMMANDS)


def test_top_level_help_lists_every_verb(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in verbs.COMMANDS:
        assert f"  {verb} " in out or f"  {verb}\n" in out


def test_unknown_verb_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(["nosuchverb"]) == 2
    assert capsys.readouterr().err.startswith("pytasks: No such command 'nosuchverb'")


def test_entry_function_survives_importing_the_run_verb() -> None:
    importlib.import_module("pytasks.cli.verbs.run")
    assert callable(cli.execute)


@pytest.mark.parametrize(("typed", "meant"), [("lsit", "list"), ("delte", "delete"),
                                              ("contaners", "containers"), ("sotp", "stop")])
def test_a_typo_suggests_the_nearest_verb(typed: str, meant: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run([typed]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"pytasks: No such command '{typed}'. Did you mean '{meant}'?"), err


def test_no_suggestion_for_nonsense(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(["zzzzqqq"]) == 2
    assert "Did you mean" not in capsys.readouterr().err


@pytest.mark.parametrize("words", [[], ["kill"], ["containers", "create"], ["ls"]])
def test_help_verb_prints_what_dash_dash_help_prints(
        words: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run([*words, "--help"]) == 0
    expected = capsys.readouterr().out
    assert cli_run(["help", *words]) == 0
    got = capsys.readouterr().out
    # The usage line names the same command path (aliases resolve to the verb's own name).
    assert got.splitlines()[2:] == expected.splitlines()[2:]


def test_help_of_an_unknown_verb(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(["help", "nosuch"]) == 2
    assert "No such command 'nosuch'" in capsys.readouterr().err


@pytest.mark.parametrize(("words", "near"), [(["kil"], "kill"),
                                             (["containers", "creat"], "create"),
                                             (["content", "ingets"], "ingest")])
def test_help_of_a_typo_suggests_the_nearest(words: list[str], near: str,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert cli_run(["help", *words]) == 2
    assert f"No such command {words[-1]!r}. Did you mean {near!r}?" in capsys.readouterr().err
