"""pytasks events: the namespace's event journal, past and followed (ctr events, podman
events; the journal is state/event_journal.py, its shape docs/architecture.md §7)."""

from __future__ import annotations

import sys

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Iterable
    from typing import Any

    import click

    from pytasks.cli.app import App

HEADERS = ["TIMESTAMP", "NAMESPACE", "TOPIC", "ID", "EVENT"]
# Streamed lines cannot be measured first: the narrow columns get fixed widths that fit
# every topic and a nanosecond timestamp, as ctr's events output does.
_WIDTHS = (30, 0, 20, 0)


def events(app: App, follow: bool, since: str | None, until: str | None, filters: str,
           output_format: str) -> int:
    from pytasks import instants

    since_ns = instants.parse(since, "--since") if since else None
    until_ns = instants.parse(until, "--until") if until else None
    if since_ns is not None and until_ns is not None and until_ns < since_ns:
        from pytasks import errors

        raise errors.InvalidArgumentError("--until is before --since")
    if not follow:
        found = app.engine.events(filters, since_ns, until_ns)
        _print(found, output_format, header=True)
        return 0
    try:
        _print(app.engine.follow_events(filters, since_ns, until_ns), output_format,
               header=output_format == "table" and sys.stdout.isatty(), flush=True)
    except KeyboardInterrupt:
        pass  # Ctrl-C is how a follow ends
    return 0  # a reader that went away ends it too (cli/root.py: exit 0)


def _print(found: Iterable[dict[str, Any]], output_format: str, *, header: bool,
           flush: bool = False) -> None:
    out = sys.stdout
    if output_format == "json":
        import json

        for event in found:
            out.write(json.dumps(event, separators=(",", ":"), ensure_ascii=True) + "\n")
            if flush:
                out.flush()
        return
    if not flush:
        from pytasks.cli.output import format_plain_table

        rows = [row(e) for e in found]
        if rows or header:
            out.write(format_plain_table(HEADERS, rows))
        return
    if header:
        out.write(_line(HEADERS) + "\n")
    for event in found:
        out.write(_line(row(event)) + "\n")
        out.flush()


def row(event: dict[str, Any]) -> list[str]:
    """A table row: the event's own fields as key=value, in containerd's order."""
    details = event.get("event")
    fields = details.items() if isinstance(details, dict) else ()
    return [str(event.get("timestamp", "")), str(event.get("namespace", "")),
            str(event.get("topic", "")), str(event.get("id", "")),
            " ".join(f"{k}={_value(v)}" for k, v in fields if v is not None)]


def _value(value: object) -> str:
    import json

    if isinstance(value, str):
        return value if value and " " not in value and '"' not in value else json.dumps(value)
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _line(cells: list[str]) -> str:
    return "    ".join(c.ljust(w) for c, w in zip(cells, (*_WIDTHS, 0), strict=False)
                       ).rstrip() if cells else ""


def command() -> click.Command:
    import click

    from pytasks.cli.options import format_option

    @click.command("events")
    @click.option("-f", "--follow", is_flag=True,
                  help="Keep printing events as they happen, until Ctrl-C (or --until).")
    @click.option("--since", metavar="TIME",
                  help="Only events at or after TIME: RFC 3339 (2026-12-03T10:00:00Z), a "
                       "duration back from now (10m, 1h30m) or Unix seconds.")
    @click.option("--until", metavar="TIME",
                  help="Only events at or before TIME (same forms as --since); a follow "
                       "ends when the clock passes it.")
    @click.option("--filter", "filters", default="", metavar="EXPR",
                  help="Only matching events, in list --filter syntax over topic, id and "
                       "namespace (topic==/tasks/exit, id==web, topic~=^/tasks/exec).")
    @format_option
    @click.pass_obj
    def events_command(app: App, follow: bool, since: str | None, until: str | None,
                       filters: str, output_format: str) -> int:
        """Print the namespace's events, oldest first: /tasks/create, /tasks/start,
        /tasks/exit, /tasks/delete, /tasks/exec-added, /tasks/exec-started, /tasks/paused,
        /tasks/resumed, /tasks/checkpointed, /tasks/oom, /containers/create and
        /containers/delete.

        Without --follow, the journal's events (from --since to --until) are printed and
        the command ends; with it, new events are printed as they are written (from
        --since when given, else from now) until Ctrl-C, a closed pipe or --until.
        --format json prints one JSON object per line (JSON lines, the journal's own
        shape: timestamp, namespace, topic, id, event).

        The journal keeps the last 1-2 MiB of events per namespace (it is rotated).

        \b
        Examples:
          pytasks events --since 10m
          pytasks events --follow --filter 'topic==/tasks/exit'
          pytasks events --format json --filter 'id==web' | jq .event.exit_status
        """
        return events(app, follow, since, until, filters, output_format)

    return events_command
