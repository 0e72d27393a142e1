"""Rendering helpers shared by the verbs: tables, JSON, bare ids.

Only the stdlib is imported at module top (the fast path has no click); rich and protobuf
are imported inside the functions that need them (docs/architecture.md §8).

Output is written to sys.stdout looked up at call time, so capsys/CliRunner capture it.

JSON decisions:
- print_message_json uses protobuf's canonical JSON mapping with proto field names
  (container_id, exit_status, as in the .proto), keys in .proto field order at every level,
  and always_print_fields_with_no_presence=True: scalar, enum, repeated and map fields
  appear even at their default, so scripts always see "pid": 0, "status": "UNKNOWN",
  "processes": []. Unset message fields (e.g. an exited_at Timestamp never set) and unset
  oneof members stay absent: absent means "not set", which is information. Enums are
  names, 64-bit integers are JSON numbers (the one departure from the proto3 mapping, which
  writes strings that jq compares as text), and output is ASCII-only
  (non-ASCII escaped) so it survives any locale.
- print_json (plain dicts) matches: indent 2, keys in insertion order, ASCII-only.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Sequence

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from google.protobuf.message import Message

    from pytasks import errors
    from pytasks.engine import Exit

FORMATS: tuple[str, ...] = ("table", "json")
# Well-known types whose JSON object is not "field name -> value": left as protobuf made it.
_FREE_FORM_JSON = frozenset(
    {"google.protobuf.Any", "google.protobuf.Struct", "google.protobuf.Value"})
# ctr prints through tabwriter.NewWriter(w, 4, 8, 4, ' ', 0): every column but the last is
# padded to its widest cell plus 4 spaces (minwidth 4 never binds once padding is 4).
COLUMN_GAP = 4

def reader_gone() -> int:
    """The reader of our stdout went away (`pytasks list | head`, `events -f | head -1`):
    not an error. What is still buffered goes nowhere, so the flush at exit stays quiet;
    exit 0."""
    try:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
    except OSError:
        pass
    return 0


def render_table(headers: list[str], rows: list[list[str]]) -> None:
    """Print a table: rich (bold header) on a terminal, ctr-style aligned text when piped.

    Cells are never wrapped, folded or truncated in either mode: ids must stay copyable,
    so on a narrow terminal the line is left to the terminal's own soft wrap.
    """
    for row in rows:
        if len(row) != len(headers):
            raise ValueError(f"row has {len(row)} cells, table has {len(headers)} columns")
    if not headers:
        return
    if sys.stdout.isatty():
        _render_rich(headers, rows)
    else:
        sys.stdout.write(format_plain_table(headers, rows))


def format_plain_table(headers: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """The piped form: left-aligned columns, gap of COLUMN_GAP, no trailing spaces."""
    lines = [list(headers), *(list(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    out = []
    for line in lines:
        text = "".join(cell.ljust(w + COLUMN_GAP) for cell, w in zip(line, widths, strict=True))
        out.append(text.rstrip(" ") + "\n")
    return "".join(out)


def _render_rich(headers: list[str], rows: list[list[str]]) -> None:
    from rich.cells import cell_len
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # Console reads NO_COLOR, FORCE_COLOR and TERM=dumb itself; highlight=False stops it
    # colouring digits in pids, and Text cells are never parsed as [markup].
    console = Console(file=sys.stdout, highlight=False)
    # NO_COLOR means no styling at all (no-color.org asks for colour; users of it expect
    # plain text, bold included).
    bold = "" if os.environ.get("NO_COLOR") else "bold"
    table = Table(box=None, header_style=bold, show_edge=False, pad_edge=False,
                  padding=(0, COLUMN_GAP, 0, 0))
    for header in headers:
        table.add_column(header, no_wrap=True)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    # Rich shrinks columns to the console width; widen the console instead so no cell is
    # cut (print(width=) cannot, it is capped at console.width).
    natural = sum(max(cell_len(c) for c in col) for col in zip(headers, *rows, strict=True))
    natural += COLUMN_GAP * (len(headers) - 1)
    if natural > console.width:
        console.width = natural
    console.print(table, crop=False)


def print_json(obj: Any) -> None:
    """Plain JSON for dicts/lists built by the CLI (not protobuf messages)."""
    sys.stdout.write(json.dumps(obj, indent=2, sort_keys=False) + "\n")


def message_to_json(message: Message) -> str:
    """The protobuf JSON mapping of message with stable keys (see the module docstring)."""
    from google.protobuf import json_format

    data = json_format.MessageToDict(
        message,
        preserving_proto_field_name=True,
        # protobuf >= 5.26 (pyproject requires >= 5.28); replaced including_default_value_fields.
        always_print_fields_with_no_presence=True,
    )
    # Same text as MessageToJson(..., indent=2), which is json.dumps of this dict, but with
    # keys in .proto order: protobuf puts set fields first and defaults after them, so key
    # order would otherwise change with the values (task to task in one list).
    return json.dumps(_proto_order(message.DESCRIPTOR, data), indent=2)


# int64/uint64/sint64/fixed64/sfixed64 (FieldDescriptor.TYPE_*): the protobuf JSON mapping
# writes them as strings; pytasks writes numbers, so `jq '.x > 5'` compares numbers. The one
# departure from the mapping (docs/architecture.md §6); JSON readers in Python, jq and Go
# hold 64-bit integers exactly.
_INT64_TYPES = frozenset({3, 4, 6, 16, 18})
# A Struct holds every number as a double; the records inside one (inspect's container
# record) hold integers, which print as integers again ("uid": 0, not 0.0), with keys sorted.
_STRUCT_TYPES = frozenset({"google.protobuf.Struct", "google.protobuf.Value"})
_EXACT_DOUBLE = 2**53


def _whole_numbers(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer() and abs(value) <= _EXACT_DOUBLE:
        return int(value)
    if isinstance(value, dict):
        # sorted: a Struct is a map, whose order protobuf does not keep
        return {k: _whole_numbers(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def _proto_order(descriptor: Any, value: Any) -> Any:
    if descriptor.full_name in _STRUCT_TYPES:
        return _whole_numbers(value)
    if not isinstance(value, dict) or descriptor.full_name in _FREE_FORM_JSON:
        return value
    out: dict[str, Any] = {}
    for field in descriptor.fields:
        if field.name not in value:
            continue
        item, sub = value[field.name], field.message_type
        if sub is not None and sub.GetOptions().map_entry:
            value_field = sub.fields_by_name["value"]
            sub = value_field.message_type
            if sub is not None:
                item = {k: _proto_order(sub, v) for k, v in item.items()}
            elif value_field.type in _INT64_TYPES:
                item = {k: int(v) for k, v in item.items()}
        elif field.type in _INT64_TYPES:
            item = [int(v) for v in item] if isinstance(item, list) else int(item)
        elif sub is not None and isinstance(item, list):
            item = [_proto_order(sub, v) for v in item]
        elif sub is not None:
            item = _proto_order(sub, item)
        out[field.name] = item
    for key, item in value.items():  # anything else (e.g. extensions) keeps its place last
        out.setdefault(key, item)
    return out


def print_message_json(message: Message) -> None:
    sys.stdout.write(message_to_json(message) + "\n")


def print_ids(ids: Iterable[str]) -> None:
    """-q output: one id per line, nothing else, so `xargs` and `while read` work."""
    sys.stdout.write("".join(f"{i}\n" for i in ids))


def task_json(task: object, *, oom_killed: bool = False) -> str:
    """GetTaskResponse as JSON. The spec Any carries OCI JSON, not a protobuf message, so
    the canonical mapping cannot expand it: it is shown as {"@type", "value": <spec>}, the
    shape the canonical mapping gives a well-known type (ps's runtime_data Struct), so every
    Any prints one way.
    The task gains "oom_killed", which containerd's Task message has no field for."""
    from pytasks.api.containerd.services.tasks.v1 import tasks_pb2

    copy = tasks_pb2.GetTaskResponse()
    copy.task.CopyFrom(task)
    spec = copy.task.spec
    type_url, value = spec.type_url, spec.value
    copy.task.ClearField("spec")
    data = json.loads(message_to_json(copy))
    if type_url:
        data["task"]["spec"] = {"@type": type_url, "value": json.loads(value)}
    data["task"]["oom_killed"] = oom_killed
    return json.dumps(data, indent=2)


def describe_exit(result: Exit) -> list[str]:
    """EXIT STATUS and EXITED AT cells of an exit fact ("unknown" and "-" when none)."""
    if result.exited_at_ns is None:
        return ["unknown" if result.status == 255 else str(result.status), "-"]
    return [str(result.status), json_time(result.exited_at_ns)]


def json_time(ns: int) -> str:
    """A time as protobuf's Timestamp JSON: RFC 3339 UTC with 0, 3, 6 or 9 decimals."""
    import time

    secs, nanos = divmod(ns, 1_000_000_000)
    text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(secs))
    if nanos % 1_000_000 == 0:
        frac = f".{nanos // 1_000_000:03d}" if nanos else ""
    elif nanos % 1000 == 0:
        frac = f".{nanos // 1000:06d}"
    else:
        frac = f".{nanos:09d}"
    return f"{text}{frac}Z"


def report_broken(broken: list[errors.DataLossError], remedy: str) -> int:
    """Name each broken entry of a listing on stderr; DataLoss's exit code when there is
    one (docs/architecture.md §6): the healthy rows are printed all the same."""
    for exc in broken:
        sys.stderr.write(f"pytasks: {exc} ('{remedy}' removes it)\n")
    return int(broken[0].exit_code) if broken else 0

