"""pytasks wait: the Wait RPC of the pytasks extension service."""

from __future__ import annotations

import sys

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App


def wait(app: App, pid: int | None, output_format: str, container: str,
         timeout: float | None = None) -> int:
    if output_format == "json":
        from pytasks.cli.output import print_message_json
        from pytasks.service import wait_response

        # The WaitResponse as the RPC builds it (the request has no timeout field).
        resp = wait_response(app.engine.wait(container, pid or 0, timeout=timeout))
        print_message_json(resp)
        status, known = resp.exit_status, resp.exit_status_known
    else:
        result = app.engine.wait(container, pid or 0, timeout=timeout)
        sys.stdout.write(f"{result.status}\n")
        status, known = result.status, result.known
    if not known:
        sys.stderr.write(f"pytasks: exit status of {container} is unknown "
                         "(its monitor was lost before recording an exit)\n")
    return status


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_tasks
    from pytasks.cli.options import format_option, pid_type

    @click.command("wait")
    @click.option("--pid", type=pid_type(1), default=None,
                  help="Wait for this process of the task instead of its init.")
    @click.option("--timeout", type=click.FloatRange(min=0), default=None, metavar="SECONDS",
                  help="Give up after SECONDS (exit 6); the process is left running.")
    @format_option
    @click.argument("container", shell_complete=complete_tasks)
    @click.pass_obj
    def wait_command(app: App, pid: int | None, timeout: float | None, output_format: str,
                     container: str) -> int:
        """Wait until the task exits; print its exit status and exit with it.

        Returns at once for a stopped task. If the monitor was lost and no exit was recorded,
        prints 255, says so on stderr, and exits 255. --format json prints the WaitResponse
        (exit_status, exited_at, exit_status_known) instead of the bare status.

        \b
        Examples:
          pytasks wait web
          pytasks wait --timeout 10 --pid 4242 web
        """
        return wait(app, pid, output_format, container, timeout)

    return wait_command
