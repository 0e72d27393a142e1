"""pytasks.cli.output: tables (piped and TTY), JSON, -q ids, shared click options."""

from __future__ import annotations

import json
import re
import subprocess
import sys

import click
import pytest
from click.testing import CliRunner
from helpers.startup import CLICK_PATH, loaded

from pytasks.cli import options, output

ANSI = re.compile(r"\x1b\[[0-9;]*m")
LONG_ID = "a-very-long-task-identifier-that-must-never-be-cut-or-folded-0123456789"


def as_tty(monkeypatch: pytest.MonkeyPatch, columns: int = 80) -> None:
    # rich asks the same file, so it too believes it writes to a terminal.
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("FORCE_COLOR", raising=False)
    monkeypatch.delenv("TERM", raising=False)


# --- piped: ctr's tabwriter layout ----------------------------------------------------------

def test_piped_table_exact(capsys: pytest.CaptureFixture[str]) -> None:
    output.render_table(["TASK", "PID", "STATUS"],
                        [["redis", "4242", "RUNNING"], ["web-1", "0", "CREATED"]])
    assert capsys.readouterr().out == (
        "TASK     PID     STATUS\n"
        "redis    4242    RUNNING\n"
        "web-1    0       CREATED\n"
    )


def test_piped_table_no_trailing_spaces(capsys: pytest.CaptureFixture[str]) -> None:
    output.render_table(["ID", "NOTE"], [["x", ""], [LONG_ID, "long"]])
    out = capsys.readouterr().out
    assert out == (
        f"ID{' ' * (len(LONG_ID) + 2)}NOTE\n"
        "x\n"
        f"{LONG_ID}    long\n"
    )
    assert all(line == line.rstrip() for line in out.splitlines())


def test_piped_table_headers_only(capsys: pytest.CaptureFixture[str]) -> None:
    output.render_table(["TASK", "PID", "STATUS"], [])
    assert capsys.readouterr().out == "TASK    PID    STATUS\n"


def test_piped_table_keeps_markup_literal(capsys: pytest.CaptureFixture[str]) -> None:
    output.render_table(["A"], [["[bold]x[/bold]"]])
    assert capsys.readouterr().out == "A\n[bold]x[/bold]\n"


def test_row_width_mismatch_is_a_bug() -> None:
    with pytest.raises(ValueError, match="row has 2 cells, table has 3 columns"):
        output.render_table(["A", "B", "C"], [["1", "2"]])


# --- TTY: rich ------------------------------------------------------------------------------

def test_tty_table_has_cells_and_bold_header(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    as_tty(monkeypatch)
    output.render_table(["TASK", "PID", "STATUS"],
                        [["redis", "4242", "RUNNING"], ["[red]web[/red]", "0", "CREATED"]])
    raw = capsys.readouterr().out
    assert "\x1b[1m" in raw  # bold header on a terminal
    lines = [line.rstrip() for line in ANSI.sub("", raw).splitlines()]
    assert lines[0].split() == ["TASK", "PID", "STATUS"]
    assert lines[1].split() == ["redis", "4242", "RUNNING"]
    assert lines[2].split() == ["[red]web[/red]", "0", "CREATED"]  # not parsed as markup
    assert not any(c in raw for c in "│─┃━")  # box=None


def test_tty_table_never_cuts_ids(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    as_tty(monkeypatch, columns=20)
    output.render_table(["TASK", "PID"], [[LONG_ID, "1"]])
    lines = ANSI.sub("", capsys.readouterr().out).splitlines()
    assert lines[1].split() == [LONG_ID, "1"]
    assert "…" not in "".join(lines)


def test_tty_table_respects_no_color(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    as_tty(monkeypatch)
    monkeypatch.setenv("NO_COLOR", "1")
    output.render_table(["TASK"], [["redis"]])
    raw = capsys.readouterr().out
    # NO_COLOR forbids colour (SGR 30-49, 90-107, 38;… 48;…), not bold.
    codes = [int(c) for seq in re.findall(r"\x1b\[([0-9;]*)m", raw)
             for c in seq.split(";") if c]
    assert not [c for c in codes if 30 <= c <= 49 or 90 <= c <= 107]
    assert "redis" in raw


# --- JSON -----------------------------------------------------------------------------------

def test_print_json(capsys: pytest.CaptureFixture[str]) -> None:
    output.print_json({"z": 1, "a": [True, None], "s": "é"})
    assert capsys.readouterr().out == (
        '{\n  "z": 1,\n  "a": [\n    true,\n    null\n  ],\n  "s": "\\u00e9"\n}\n'
    )


def test_print_message_json_prints_defaults_in_proto_order(
        capsys: pytest.CaptureFixture[str]) -> None:
    # google.protobuf.Field is a proto3 message with a string, enums, an int, a bool and a
    # repeated field: the same shapes as containerd.v1.types.Task. json_name (field 10) is
    # set and the earlier fields are not: protobuf alone would print json_name first.
    from google.protobuf import type_pb2

    output.print_message_json(type_pb2.Field(name="pid", json_name="pidX"))
    assert capsys.readouterr().out == """\
{
  "kind": "TYPE_UNKNOWN",
  "cardinality": "CARDINALITY_UNKNOWN",
  "number": 0,
  "name": "pid",
  "type_url": "",
  "oneof_index": 0,
  "packed": false,
  "options": [],
  "json_name": "pidX",
  "default_value": ""
}
"""


def test_print_message_json_orders_nested_messages(capsys: pytest.CaptureFixture[str]) -> None:
    from google.protobuf import api_pb2

    api = api_pb2.Api(version="v1", methods=[api_pb2.Method(response_type_url="t")])
    output.print_message_json(api)
    data = json.loads(capsys.readouterr().out)
    fields = [f.name for f in api_pb2.Api.DESCRIPTOR.fields]  # newer protobufs add fields
    assert list(data) == [name for name in fields if name != "source_context"]
    assert list(data)[:4] == ["name", "methods", "options", "version"]
    assert list(data["methods"][0])[:4] == [
        "name", "request_type_url", "request_streaming", "response_type_url"]


def test_print_message_json_matches_message_to_json() -> None:
    # Apart from key order (and a Struct's whole numbers, which print as integers), the
    # text is exactly protobuf's own MessageToJson.
    from google.protobuf import json_format, struct_pb2, type_pb2

    struct = struct_pb2.Struct()
    struct.update({"fields": {"b": 1, "a": [1.5, "é", None]}})
    for message in (type_pb2.Field(name="x", number=7), struct, type_pb2.Type()):
        expected = json_format.MessageToJson(
            message, preserving_proto_field_name=True, indent=2,
            always_print_fields_with_no_presence=True)
        assert json.loads(output.message_to_json(message)) == json.loads(expected)
    # A Struct's keys come out sorted, whatever order protobuf's own map iteration gives.
    assert output.message_to_json(struct) == json.dumps(json.loads(json_format.MessageToJson(
        struct, indent=2).replace('"b": 1.0', '"b": 1')), indent=2, sort_keys=True)


def test_print_message_json_unset_message_fields_stay_absent(
        capsys: pytest.CaptureFixture[str]) -> None:
    from google.protobuf import api_pb2

    output.print_message_json(api_pb2.Api(name="x"))
    data = json.loads(capsys.readouterr().out)
    assert data["methods"] == [] and data["version"] == ""
    assert "source_context" not in data  # a message field: absent means not set


def test_print_message_json_task(capsys: pytest.CaptureFixture[str]) -> None:
    task_pb2 = pytest.importorskip("pytasks.api.containerd.types.task_pb2")
    output.print_message_json(task_pb2.Task(id="t1"))
    data = json.loads(capsys.readouterr().out)
    assert data["id"] == "t1"
    assert data["pid"] == 0
    assert data["status"] == "UNKNOWN"
    assert data["container_id"] == ""


# --- -q -------------------------------------------------------------------------------------

def test_print_ids(capsys: pytest.CaptureFixture[str]) -> None:
    output.print_ids(iter(["a", "b.c"]))
    output.print_ids([])
    assert capsys.readouterr().out == "a\nb.c\n"


# --- shared options -------------------------------------------------------------------------

@click.command()
@options.format_option
@options.quiet_option
def _verb(output_format: str, quiet: bool) -> None:
    click.echo(f"{output_format} {quiet}")


@pytest.mark.parametrize(("args", "expected"), [
    ([], "table False"),
    (["--format", "json"], "json False"),
    (["--format=JSON", "-q"], "json True"),
    (["--quiet"], "table True"),
])
def test_options(args: list[str], expected: str) -> None:
    result = CliRunner().invoke(_verb, args)
    assert result.exit_code == 0, result.output
    assert result.output == expected + "\n"


def test_bad_format_is_a_usage_error() -> None:
    result = CliRunner().invoke(_verb, ["--format", "yaml"])
    assert result.exit_code == 2
    assert "'yaml' is not one of 'table', 'json'" in result.output


def test_help_shows_choices() -> None:
    result = CliRunner().invoke(_verb, ["--help"])
    assert "--format [table|json]" in result.output
    assert "-q, --quiet" in result.output


# --- start-up budget ------------------------------------------------------------------------

def test_import_is_lazy() -> None:
    code = "import json, sys, pytasks.cli.output; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert loaded(json.loads(out), CLICK_PATH) == []


def test_64_bit_integers_are_json_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    """The one departure from the proto3 mapping: `jq '.memory.usage > 5'` must compare
    numbers, not strings (every uint64 here, exact at the top of the range)."""
    from pytasks.api.extension.v1 import extension_pb2

    stats = extension_pb2.TaskStats(
        memory=extension_pb2.MemoryStats(usage=1609728, limit=2**64 - 1),
        cpu=extension_pb2.CpuStats(usage_ns=5, limit_cpus=1.5))
    output.print_message_json(stats)
    text = capsys.readouterr().out
    data = json.loads(text)
    assert data["memory"]["usage"] == 1609728 and data["memory"]["limit"] == 2**64 - 1
    assert data["memory"]["cache"] == 0 and data["cpu"]["usage_ns"] == 5
    assert '"usage": 1609728' in text and '"limit_cpus": 1.5' in text
