"""pytasks ps: the ListProcesses RPC."""

from __future__ import annotations

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App
    from pytasks.processes import ProcessEntry


def ps(app: App, show_env: bool, output_format: str, container: str) -> int:
    if output_format == "json":
        from pytasks import ids

        # Before it goes into a request message (protobuf refuses text that is not UTF-8);
        # the table path leaves it to the Engine, which checks every id on its way in.
        ids.validate(container, "container id")
        from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
        from pytasks.cli.output import print_message_json

        resp = app.service.list_processes(
            tasks_pb2.ListProcessesRequest(container_id=container))
        if not show_env:
            for proc in resp.processes:
                del proc.env[:]  # never print secrets unasked, not even in JSON
        print_message_json(resp)
        return 0
    from pytasks.cli.output import render_table

    entries = app.engine.list_processes(container)
    headers = ["PID", "TYPE", "USER", "STATUS", "CMD", *(["ENV"] if show_env else [])]
    render_table(headers, [process_row(e, show_env) for e in entries])
    return 0


def process_row(entry: ProcessEntry, show_env: bool = False) -> list[str]:
    import shlex

    status = entry.status
    if status == "STOPPED":
        status += f" ({entry.exit_status})"
    row = [str(entry.pid), entry.kind or "-", entry.user_name or str(entry.uid), status,
           shlex.join(entry.args) if entry.args else "-"]
    if show_env:
        row.append(shlex.join(entry.env) if entry.env else "-")
    return row


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_tasks
    from pytasks.cli.options import format_option

    @click.command("ps")
    @click.option("--env", "show_env", is_flag=True,
                  help="Also show each process's environment (it may hold secrets).")
    @format_option
    @click.argument("container", shell_complete=complete_tasks)
    @click.pass_obj
    def ps_command(app: App, show_env: bool, output_format: str, container: str) -> int:
        """List the processes of a task: its init, exec'd processes and their children.

        Pids are host pids. TYPE is init, exec (started by `pytasks exec`) or child (forked
        by one of those). Exec processes that exited stay listed as STOPPED with their exit
        status until `delete-process` (or the task's delete) removes their record.

        \b
        Examples:
          pytasks ps web
          pytasks ps --format json web
        """
        return ps(app, show_env, output_format, container)

    return ps_command
