"""pytasks list: the List RPC.

Table and -q output render from the Engine's list (the RPC without protobuf, which costs
more to import than the rest of a light call); --format json prints the ListTasksResponse.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App
    from pytasks.task import TaskView


def list_tasks(app: App, filter_text: str, quiet: bool, output_format: str) -> int:
    """Every healthy task is printed; a task whose records are corrupt is named on stderr
    and makes the exit code DataLoss's (1), so a script notices without losing the rest
    (docs/architecture.md §6)."""
    from pytasks.cli.output import print_ids, render_table, report_broken
    from pytasks.cli.usage import check_quiet

    check_quiet("list", quiet, output_format)
    listing = app.engine.list_tasks(filter_text)
    views = listing.views
    if output_format == "json":
        from pytasks.cli.output import print_message_json
        from pytasks.service import list_response

        print_message_json(list_response(views))
    elif quiet:
        print_ids(v.task_id for v in views)
    else:
        render_table(["TASK", "PID", "STATUS", "EXIT STATUS"],
                     [[v.task_id, str(v.pid), v.status.name, _exit_cell(v)] for v in views])
    return report_broken(listing.broken, "pytasks delete -f")


def _exit_cell(view: TaskView) -> str:
    """A stopped task's exit status ("unknown" when none was recorded); "-" otherwise."""
    from pytasks.lifecycle import Status

    if view.status is not Status.STOPPED:
        return "-"
    return str(view.exit_status) if view.exit_status_known else "unknown"


def command() -> click.Command:
    import click

    from pytasks.cli.options import format_option, quiet_option

    @click.command("list")
    @click.option("--filter", "filter_text", default="", metavar="EXPR",
                  help="containerd filter, e.g. 'status==running,id~=^web' or "
                       "'labels.tier==front' (',' = and).")
    @quiet_option
    @format_option
    @click.pass_obj
    def list_command(app: App, filter_text: str, quiet: bool, output_format: str) -> int:
        """List the tasks of the namespace: TASK PID STATUS EXIT STATUS (a stopped task's
        exit status; "-" while it has not exited).

        \b
        Examples:
          pytasks list --filter status==stopped
          pytasks list -q --filter 'id~=^web'
        """
        return list_tasks(app, filter_text, quiet, output_format)

    return list_command
