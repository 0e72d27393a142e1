"""pytasks stop: signal, wait up to a timeout, then SIGKILL (podman/docker stop; a local
addition built from Kill and Wait)."""

from __future__ import annotations

from collections.abc import Sequence

from pytasks.cli.batch import for_each

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App

DEFAULT_TIMEOUT = 10.0  # podman's and docker's


def stop(app: App, timeout: float, signal_name: str, output_format: str,
         containers: Sequence[str]) -> int:
    from pytasks import signals
    from pytasks.cli.output import describe_exit, render_table

    signum = signals.parse(signal_name)
    results, code = for_each(containers, lambda c: app.engine.stop(c, signum, timeout))
    if output_format == "json":
        import json

        from pytasks.cli.output import message_to_json, print_json
        from pytasks.service import wait_response

        print_json({"stopped": [{"container_id": c,
                                 **json.loads(message_to_json(wait_response(r)))}
                                for c, r in results]})
    elif results:
        render_table(["TASK", "EXIT STATUS", "EXITED AT"],
                     [[c, *describe_exit(r)] for c, r in results])
    return code


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_signals, tasks_in
    from pytasks.cli.options import format_option
    from pytasks.lifecycle import Status

    @click.command("stop")
    @click.option("-t", "--timeout", type=click.FloatRange(min=0), default=DEFAULT_TIMEOUT,
                  show_default=True, metavar="SECONDS",
                  help="How long the task has to exit after the signal, before SIGKILL.")
    @click.option("-s", "--signal", "signal_name", default="SIGTERM", show_default=True,
                  metavar="SIGNAL", shell_complete=complete_signals,
                  help="The first signal (name or number).")
    @format_option
    @click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                    shell_complete=tasks_in(Status.RUNNING))
    @click.pass_obj
    def stop_command(app: App, timeout: float, signal_name: str, output_format: str,
                     containers: tuple[str, ...]) -> int:
        """Stop tasks: send SIGNAL to the init, wait up to --timeout seconds for it to exit,
        then SIGKILL every process of the task; print each exit status.

        Works on an init that ignores SIGTERM (a `sleep` as pid 1 has no handler, and the
        kernel drops the signal): the SIGKILL ends it. A stopped task is left as it is.

        \b
        Examples:
          pytasks stop web
          pytasks stop -t 2 -s INT web worker
        """
        return stop(app, timeout, signal_name, output_format, containers)

    return stop_command
