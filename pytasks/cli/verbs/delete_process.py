"""pytasks delete-process: the DeleteProcess RPC."""

from __future__ import annotations

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App


def delete_process(app: App, output_format: str, container: str, pid: int) -> int:
    from pytasks.cli.output import describe_exit, render_table

    result = app.engine.delete_process(container, pid)
    if output_format == "json":
        from pytasks.cli.output import print_message_json
        from pytasks.service import delete_response

        print_message_json(delete_response(container, result))
    else:
        render_table(["PID", "EXIT STATUS", "EXITED AT"], [[str(pid), *describe_exit(result)]])
    return 0


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_tasks
    from pytasks.cli.options import format_option, pid_type

    @click.command("delete-process")
    @format_option
    @click.argument("container", shell_complete=complete_tasks)
    @click.argument("pid", type=pid_type(1))
    @click.pass_obj
    def delete_process_command(app: App, output_format: str, container: str, pid: int) -> int:
        """Remove an exited exec process's record and print its exit status and time.
        Refused (exit 5) while it runs, and for the init (use delete).

        \b
        Examples:
          pytasks delete-process web 4242
        """
        return delete_process(app, output_format, container, pid)

    return delete_process_command
