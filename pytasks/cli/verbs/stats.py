"""pytasks stats: the Stats RPC of the extension service, once or live (`--watch`).

CPU % needs two samples (the cgroup only counts cumulative CPU time), so a one-shot table
samples twice SAMPLE_GAP apart, as `docker stats --no-stream` does; `--watch` computes it
per refresh interval. JSON output is the StatsResponse itself (cumulative counters).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import click

    from pytasks.cli.app import App
    from pytasks.resources import TaskFigures

SAMPLE_GAP = 0.5  # seconds between the two samples of a one-shot table
LIVE_GAP = 2      # spaces between columns of the --watch table
MAX_INTERVAL = 86400  # --interval: a day between refreshes is already no watch at all
HEADERS = ["CONTAINER", "CPU %", "THROTTLED", "MEM USAGE / LIMIT", "MEM %", "PIDS",
           "BLOCK I/O"]


def stats(app: App, output_format: str, watch: bool, interval: float,
          containers: Sequence[str]) -> int:
    if watch:
        return watch_stats(app, containers, output_format, interval)
    samples, code = collect(app, containers)
    if output_format == "json":
        from pytasks.cli.output import print_message_json

        print_message_json(stats_response(samples.values()))
        return code
    if samples:
        time.sleep(SAMPLE_GAP)
        later, later_code = collect(app, tuple(samples))
        code = code or later_code
        from pytasks.cli.output import render_table

        render_table(HEADERS, [stats_row(later[c], samples.get(c)) for c in later])
    return code


def stats_response(samples: Any) -> Any:
    """The StatsResponse of these samples: what --format json prints."""
    from pytasks.api.extension.v1 import extension_pb2
    from pytasks.service import stats_message

    return extension_pb2.StatsResponse(stats=[stats_message(s) for s in samples])


def collect(app: App, containers: Sequence[str]) -> tuple[dict[str, TaskFigures], int]:
    """container id -> sample; errors per id on stderr (the first one's code returned)."""
    from pytasks.cli.batch import for_each

    if not containers:
        return {s.task_id: s for s in app.engine.stats()}, 0
    results, code = for_each(containers, lambda c: app.engine.stats([c])[0])
    return dict(results), code


def watch_stats(app: App, containers: Sequence[str], output_format: str,
                interval: float) -> int:
    """Sample every interval until Ctrl-C, which ends the watch normally (exit 0)."""
    previous: dict[str, TaskFigures] = {}
    live = None
    try:
        while True:
            current = _quiet_collect(app, containers)
            if output_format == "json":
                _print_json_line(current)
            else:
                rows = [stats_row(current[c], previous.get(c)) if c in current
                        else [c, *["--"] * (len(HEADERS) - 1)]
                        for c in (containers or tuple(current))]
                live = _show(rows, live)
            previous = current
            time.sleep(interval)
    except KeyboardInterrupt:
        return 0
    finally:
        if live is not None:
            live.stop()


def _quiet_collect(app: App, containers: Sequence[str]) -> dict[str, TaskFigures]:
    """collect() without per-id error lines: a task deleted while watched shows as --."""
    from pytasks import errors

    if not containers:
        return collect(app, containers)[0]
    found: dict[str, TaskFigures] = {}
    for c in containers:
        try:
            found[c] = app.engine.stats([c])[0]
        except errors.NotFoundError:
            continue
    return found


def _print_json_line(current: dict[str, TaskFigures]) -> None:
    import json

    from pytasks.cli.output import message_to_json

    text = message_to_json(stats_response(current.values()))
    sys.stdout.write(json.dumps(json.loads(text), separators=(",", ":")) + "\n")
    sys.stdout.flush()


def _show(rows: list[list[str]], live: Any) -> Any:
    """Redraw in place on a terminal (rich Live); print one table per sample otherwise."""
    if not sys.stdout.isatty():
        from pytasks.cli.output import format_plain_table

        sys.stdout.write(format_plain_table(HEADERS, rows) + "\n")
        sys.stdout.flush()
        return None
    from rich.console import Console
    from rich.live import Live
    from rich.table import Table
    from rich.text import Text

    # Live redraws by moving the cursor up one line per row, so a line must never wrap:
    # narrower gaps than the one-shot table keep it within 80 columns, and only the
    # figures (never the ids) are cut on a narrower terminal.
    table = Table(box=None, header_style="bold", show_edge=False, pad_edge=False,
                  padding=(0, LIVE_GAP, 0, 0))
    id_width = max(len(row[0]) for row in rows) if rows else len(HEADERS[0])
    for i, header in enumerate(HEADERS):
        table.add_column(header, no_wrap=True,
                         min_width=max(id_width, len(header)) if i == 0 else None)
    for row in rows:
        table.add_row(*(Text(cell) for cell in row))
    if live is None:
        live = Live(table, console=Console(file=sys.stdout, highlight=False),
                    auto_refresh=False)
        live.start(refresh=True)
    else:
        live.update(table, refresh=True)
    return live


# --- formatting (pure) ----------------------------------------------------------------------

def cpu_percent(current: TaskFigures, previous: TaskFigures | None) -> float | None:
    """CPU time used per wall time between two samples, in % of one CPU."""
    if previous is None:
        return None
    wall = current.timestamp_ns - previous.timestamp_ns
    used = current.figures["cpu"]["usage_ns"] - previous.figures["cpu"]["usage_ns"]
    if wall <= 0 or used < 0:
        return None  # clock step, or the task was recreated under the same id
    return used / wall * 100.0


def human_binary(n: int) -> str:
    """Memory sizes as docker prints them: 1.539MiB."""
    return _human(n, 1024, ("B", "KiB", "MiB", "GiB", "TiB"), 4)


def human_decimal(n: int) -> str:
    """Byte counts of block I/O as docker prints them: 12.3MB."""
    return _human(n, 1000, ("B", "kB", "MB", "GB", "TB"), 3)


def _human(n: int, base: int, units: tuple[str, ...], digits: int) -> str:
    value = float(n)
    for unit in units[:-1]:
        if value < base:
            return f"{value:.{digits}g}{unit}"
        value /= base
    return f"{value:.{digits}g}{units[-1]}"


def host_memory() -> int:
    """MemTotal in bytes: the limit of a task without one (what `docker stats` shows)."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def stats_row(current: TaskFigures, previous: TaskFigures | None,
              total_memory: int | None = None) -> list[str]:
    percent = cpu_percent(current, previous)
    cpu, memory, pids_figures, blkio = (current.figures.get(k, {}) for k in (
        "cpu", "memory", "pids", "blkio"))
    usage = memory.get("usage", 0)
    limit = memory.get("limit", 0) or (host_memory() if total_memory is None
                                       else total_memory)
    mem_percent = f"{usage / limit * 100:.2f}%" if limit else "--"
    pids = str(pids_figures.get("current", 0))
    if pids_figures.get("limit"):
        pids += f" / {pids_figures['limit']}"
    return [
        current.task_id,
        "--" if percent is None else f"{percent:.2f}%",
        f"{cpu.get('throttled_ns', 0) / 1e9:.2f}s",
        f"{human_binary(usage)} / {human_binary(limit) if limit else '--'}",
        mem_percent,
        pids,
        f"{human_decimal(blkio.get('read_bytes', 0))} / "
        f"{human_decimal(blkio.get('write_bytes', 0))}",
    ]


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_tasks
    from pytasks.cli.options import finite_float, format_option

    @click.command("stats")
    @format_option
    @click.option("-w", "--watch", is_flag=True,
                  help="Refresh in place until Ctrl-C (JSON: one response per line).")
    @click.option("--interval", type=finite_float(0.1, MAX_INTERVAL), default=1.0,
                  show_default=True, metavar="SECONDS", help="Refresh interval of --watch.")
    @click.argument("containers", nargs=-1, metavar="[CONTAINER]...",
                    shell_complete=complete_tasks)
    @click.pass_obj
    def stats_command(app: App, output_format: str, watch: bool, interval: float,
                      containers: tuple[str, ...]) -> int:
        """Show resource usage of tasks (all tasks when no CONTAINER is given).

        CPU % is of one CPU (200% = two CPUs busy) over the sampling interval; THROTTLED is
        the total time the CFS quota held the task back; MEM LIMIT is the host's memory when
        the task has no limit; BLOCK I/O is bytes read / written.

        \b
        Examples:
          pytasks stats
          pytasks stats --watch --interval 2 web
        """
        return stats(app, output_format, watch, interval, containers)

    return stats_command
