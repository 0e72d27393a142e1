"""The fast path (pytasks/cli/fast.py) parses a line exactly as click would, or not at all.

Every line the fast path takes is parsed by the click group too, and the values must be the
same: the root group's parameters and the verb's. Lines come from a fixed list (the forms
scripts use) and from a seeded generator mixing each verb's options with awkward tokens.
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import json
import random
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import click
import pytest
from helpers.startup import FAST_PATH, loaded

from pytasks.cli import fast
from pytasks.cli.root import cli

ENV_VARS = ("PYTASKS_ROOT", "PYTASKS_STATE", "PYTASKS_NAMESPACE", "PYTASKS_RUNTIME",
            "PYTASKS_DEBUG")


def click_parse(argv: list[str]) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """(root params, verb params) as click parses argv, or None when click rejects it."""
    try:
        ctx = cli.make_context("pytasks", list(argv), resilient_parsing=False)
        rest = [*getattr(ctx, "_protected_args", []), *ctx.args]
        name, cmd, rest = cli.resolve_command(ctx, rest)
        assert cmd is not None and name is not None
        sub = cmd.make_context(name, rest, parent=ctx)
        if isinstance(cmd, click.Group):
            rest = [*getattr(sub, "_protected_args", []), *sub.args]
            name, cmd, rest = cmd.resolve_command(sub, rest)
            assert cmd is not None and name is not None
            sub = cmd.make_context(name, rest, parent=sub)
        return dict(ctx.params), dict(sub.params)
    except (click.UsageError, click.BadParameter):
        return None
    except click.exceptions.Exit:
        return None  # --help and friends


def fast_parse(argv: list[str], environ: dict[str, str]
               ) -> tuple[dict[str, Any], str, dict[str, Any]] | None:
    try:
        return fast.parse_line(argv, environ)
    except fast._NotMine:
        return None


def check_line(argv: list[str], environ: dict[str, str],
               monkeypatch: pytest.MonkeyPatch) -> bool:
    """Assert agreement; True when the fast path took the line."""
    for var in ENV_VARS:
        monkeypatch.delenv(var, raising=False)
    for var, value in environ.items():
        monkeypatch.setenv(var, value)
    mine = fast_parse(argv, environ)
    if mine is None:
        return False
    theirs = click_parse(argv)
    assert theirs is not None, f"fast path took a line click rejects: {argv} {environ}"
    app_options, _name, params = mine
    assert app_options == theirs[0], argv
    assert params == theirs[1], argv
    return True


TAKEN = [
    ["list"], ["list", "-q"], ["ls", "--quiet"], ["list", "--format", "json"],
    ["list", "--format=JSON", "--filter", "status==running"],
    ["get", "a"], ["info", "a", "--format", "json"],
    ["ps", "a"], ["ps", "--env", "a"], ["ps", "a", "--format=json"],
    ["pause", "a"], ["pause", "a", "b", "c"], ["resume", "a", "b"], ["start", "a"],
    ["kill", "a"], ["kill", "-s", "KILL", "a", "b"], ["kill", "--signal=9", "-a", "a"],
    ["kill", "--pid", "42", "a"], ["wait", "a"], ["wait", "--pid", "7", "a"],
    ["wait", "--timeout", "2.5", "a"], ["wait", "--timeout=0", "a"],
    ["delete", "a"], ["delete", "-f", "a", "b"], ["rm", "--force", "a"],
    ["del", "a", "--format", "json"],
    ["containers", "delete", "a"], ["c", "rm", "a", "b"], ["container", "del", "a"],
    ["containers", "delete", "-f", "a"], ["c", "rm", "--force", "a", "b"],
    ["run", "-d", "a", "sleep", "1"], ["run", "--detach", "--rootfs", "/tmp", "a", "sh",
                                       "-c", "echo -n x"],
    ["run", "-d", "--env", "A=1", "--env", "B=2", "--mount", "src=/x,dst=/y", "--label",
     "k=v", "--cwd", "/", "--user", "1:1", "--hostname", "h", "--readonly", "--net-host",
     "--stdout", "/tmp/o", "--stderr", "/tmp/e", "--stdin", "/dev/null", "a"],
    ["run", "-d", "a", "--", "ls", "-l"], ["run", "-d", "--", "a", "ls"],
    ["exec", "a", "true"], ["exec", "a", "sh", "-c", "exit 3"], ["exec", "-d", "a", "top"],
    ["exec", "--cwd", "/tmp", "--env", "X=1", "--user", "0", "a", "--", "ls", "-la"],
    ["--root", "/r", "--state=/s", "-n", "ns", "--runtime", "crun", "--debug", "list"],
    ["-n", "x", "pause", "a"],
]

NOT_TAKEN = [
    [], ["--help"], ["list", "--help"], ["-h"], ["--version"], ["list", "extra"],
    ["run", "a", "sh"], ["run", "-d", "-t", "a", "sh"], ["run", "-dt", "a"],
    ["run", "-d", "--rm", "a"], ["exec", "-t", "a", "sh"], ["exec", "-i", "a", "sh"],
    ["exec", "a"], ["kill", "-sKILL", "a"], ["kill", "--pid", "0", "a"],
    ["kill", "--pid", "x", "a"], ["list", "--format", "yaml"], ["get"], ["get", "a", "b"],
    ["pause"], ["nosuch"], ["containers", "list"], ["containers"], ["stats", "a"],
    ["--root"], ["-n", "-x", "list"], ["kill", "-s", "-9", "a"],
    ["wait", "--timeout", "-1", "a"], ["wait", "--timeout", "nan", "a"],
    ["wait", "--timeout", "x", "a"],
]


@pytest.mark.parametrize("argv", TAKEN, ids=" ".join)
def test_everyday_lines_take_the_fast_path_and_agree_with_click(
        argv: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_line(argv, {}, monkeypatch), f"fast path declined {argv}"


@pytest.mark.parametrize("argv", NOT_TAKEN, ids=lambda a: " ".join(a) or "(empty)")
def test_other_lines_go_to_click(argv: list[str]) -> None:
    assert fast_parse(argv, {}) is None


@pytest.mark.parametrize("environ", [
    {"PYTASKS_DEBUG": "1"}, {"PYTASKS_DEBUG": "0"}, {"PYTASKS_DEBUG": ""},
    {"PYTASKS_DEBUG": "true"}, {"PYTASKS_DEBUG": "False"}, {"PYTASKS_NAMESPACE": ""},
    {"PYTASKS_NAMESPACE": "other", "PYTASKS_ROOT": "/r", "PYTASKS_STATE": "/s"},
    {"PYTASKS_ROOT": "", "PYTASKS_RUNTIME": ""}, {"PYTASKS_RUNTIME": "/usr/bin/runc"},
])
def test_environment_defaults_agree_with_click(environ: dict[str, str],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert check_line(["list"], environ, monkeypatch)
    assert check_line(["-n", "given", "--debug", "pause", "a"], environ, monkeypatch)


def test_unsure_debug_words_go_to_click() -> None:
    assert fast_parse(["list"], {"PYTASKS_DEBUG": "maybe"}) is None


def test_a_file_given_as_rootfs_goes_to_click(tmp_path: Path) -> None:
    f = tmp_path / "file"
    f.write_text("")
    assert fast_parse(["run", "-d", "--rootfs", str(f), "a", "sh"], {}) is None
    assert click_parse(["run", "-d", "--rootfs", str(f), "a", "sh"]) is None


def _generated_lines(tmp_path: Path, count: int) -> list[list[str]]:
    rng = random.Random(20261128)
    a_file = tmp_path / "f"
    a_file.write_text("")
    tokens = ["a", "b", "-", "--", "-x", "--nosuch", "k=v", "--format=JSON", "json", "table",
              "", " 5", "0", "7", "-1", "abc", str(tmp_path), str(a_file), "-h", "--help",
              "-d", "-dt", "-q", "--env", "-s", "KILL"]
    lines: list[list[str]] = []
    for _ in range(count):
        key = rng.choice(sorted(fast.VERBS))
        verb = fast.VERBS[key]
        spellings = [*verb["flags"], *verb["values"], *verb["multi"]]
        line: list[str] = []
        if rng.random() < 0.3:
            line += rng.choice([["-n", "ns"], ["--root=/r"], ["--debug"], ["--state", "/s"]])
        line += key.split()
        for _ in range(rng.randint(0, 6)):
            roll = rng.random()
            if roll < 0.45 and spellings:
                spelling = rng.choice(spellings)
                line.append(spelling)
                if spelling not in verb["flags"] and rng.random() < 0.9:
                    line.append(rng.choice(tokens))
            elif roll < 0.8:
                line.append(rng.choice(["a", "b", "c", "sh", "x y"]))
            else:
                line.append(rng.choice(tokens))
        lines.append(line)
    return lines


def test_generated_lines_agree_with_click(tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    lines = _generated_lines(tmp_path, 3000)
    taken = sum(check_line(line, {}, monkeypatch) for line in lines)
    # Not vacuous: a good share of the lines are the fast path's, a good share are not.
    assert 0.2 * len(lines) < taken < 0.9 * len(lines), taken


def test_fast_path_lines_do_not_import_click(tmp_path: Path) -> None:
    code = ("import json, sys\nfrom pytasks.cli import execute\n"
            "code = execute(sys.argv[1:])\n"
            "print(code, json.dumps(sorted(sys.modules)))")
    env = {"PATH": "/usr/bin:/bin", "PYTASKS_ROOT": str(tmp_path / "r"),
           "PYTASKS_STATE": str(tmp_path / "s")}
    for argv in (["list"], ["list", "-q"], ["get", "nosuch"], ["ps", "nosuch"],
                 ["pause", "nosuch"], ["kill", "nosuch"], ["delete", "-f", "nosuch"]):
        out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True,
                             text=True, env=env, check=True, timeout=60).stdout
        status, _, modules = out.strip().splitlines()[-1].partition(" ")
        assert loaded(json.loads(modules), FAST_PATH) == [], (argv, out)
        assert status == ("0" if argv[0] == "list" else "3"), (argv, out)


FAST_PROBE = """\
import json, sys
from pytasks.cli import execute
code = execute(sys.argv[1:])
print(json.dumps({"code": code,
                  "reached": [m for m in ("pytasks.engine", "pytasks.task",
                                          "pytasks.state.container_record") if m in sys.modules],
                  "modules": sorted(sys.modules)}))
"""
# The fast path's lines against empty roots, with their exit codes (3: not found; 125: an
# attached exec reports pytasks' own failure as docker does). run -d and exec of a real
# task: tests/integration/test_run.py.
FAST_LINES = {
    "list": 0, "list -q": 0, "get nosuch": 3, "ps nosuch": 3, "pause nosuch": 3,
    "resume nosuch": 3, "kill nosuch": 3, "wait nosuch": 3, "start nosuch": 3,
    "delete -f nosuch": 3, "containers delete -f nosuch": 3, "exec nosuch true": 125,
    "exec -d nosuch true": 3,
}


@pytest.mark.parametrize("line", FAST_LINES)
def test_fast_path_imports_no_heavy_stdlib(line: str, tmp_path: Path) -> None:
    """In a fresh interpreter (nothing preloaded), as `pytasks ...` runs."""
    argv = line.split()
    assert fast_parse(argv, {}) is not None, f"{line} is not a fast-path line"
    env = {"PATH": "/usr/bin:/bin", "PYTASKS_ROOT": str(tmp_path / "r"),
           "PYTASKS_STATE": str(tmp_path / "s")}
    out = subprocess.run([sys.executable, "-c", FAST_PROBE, *argv], capture_output=True,
                         text=True, env=env, check=True, timeout=60).stdout
    report = json.loads(out.strip().splitlines()[-1])
    assert report["code"] == FAST_LINES[line], (argv, out)
    # Proof that the probe got past parsing to the task layer; otherwise it proves nothing.
    needed = ["pytasks.engine", "pytasks.task"]
    assert set(needed) <= set(report["reached"]), (argv, report)
    assert loaded(report["modules"], FAST_PATH) == [], argv


@pytest.mark.parametrize(("argv", "code"), [(["list", "-q"], 0), (["get", "nosuch"], 3),
                                            (["--help"], 0)])
def test_closed_stdout_or_stderr_keeps_the_exit_code(tmp_path: Path, argv: list[str],
                                                     code: int) -> None:
    """`pytasks ... >&-` / `2>&-`: output is discarded, never an internal error (main()
    also leaves with os._exit, so it must not trip over a missing stream)."""
    env = {"PATH": "/usr/bin:/bin", "PYTASKS_ROOT": str(tmp_path / "r"),
           "PYTASKS_STATE": str(tmp_path / "s"), "PY": sys.executable}
    words = " ".join(argv)
    for redirect in (">&-", "2>&-", ">&- 2>&-"):
        result = subprocess.run(["sh", "-c", f'"$PY" -m pytasks {words} {redirect}'],
                                env=env, capture_output=True, text=True, timeout=60)
        assert result.returncode == code, (redirect, result.stderr)
        assert "Traceback" not in result.stderr and "internal error" not in result.stderr


# --- the generated table -------------------------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
GENERATOR = ROOT / "scripts" / "gen-fast-table"


def test_fast_table_is_current() -> None:
    proc = subprocess.run([sys.executable, str(GENERATOR), "--check"], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, (
        f"run: .venv/bin/python scripts/gen-fast-table\n{proc.stdout}{proc.stderr}")


def test_check_fails_on_a_stale_table(tmp_path: Path) -> None:
    stale = tmp_path / "fast_table.py"
    shutil.copy(ROOT / "pytasks" / "cli" / "fast_table.py", stale)
    stale.write_text(stale.read_text().replace('"SIGTERM"', '"SIGHUP"'))
    proc = subprocess.run([sys.executable, str(GENERATOR), "--check", "--target", str(stale)],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 1
    assert "is stale" in proc.stderr
    assert '"SIGHUP"' in stale.read_text()  # --check writes nothing


def _generator() -> Any:
    loader = importlib.machinery.SourceFileLoader("gen_fast_table", str(GENERATOR))
    spec = importlib.util.spec_from_loader("gen_fast_table", loader)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def test_generator_refuses_what_the_fast_parser_cannot_reproduce() -> None:
    gen = _generator()
    with pytest.raises(gen.Unsupported, match="only flags can be left to click"):
        gen._verb("kill", gen.Form(click_only=("signal_name",)))
    with pytest.raises(gen.Unsupported, match="unknown parameters"):
        gen._verb("exec", gen.Form(required={"nosuch": True}))
    with pytest.raises(gen.Unsupported, match="has no nosuch"):
        gen._body("kill", gen.Form(body="nosuch"))
    with pytest.raises(gen.Unsupported, match="takes"):
        gen._body("kill", gen.Form(body="command"))


def test_every_fast_form_has_its_call() -> None:
    from pytasks.cli import fast_table

    assert set(fast_table.CALLS) == set(fast_table.VERBS) == set(_generator().FORMS)
