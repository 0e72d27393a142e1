"""pytasks kill: the Kill RPC."""

from __future__ import annotations

from collections.abc import Sequence

from pytasks.cli.batch import for_each

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App


def kill(app: App, signal_name: str, all_processes: bool, pid: int | None,
         containers: Sequence[str]) -> int:
    from pytasks import signals

    if all_processes and pid is not None:
        from pytasks.cli.usage import usage_error

        raise usage_error("kill", "--all and --pid are mutually exclusive")
    signum = signals.parse(signal_name)
    results, code = for_each(containers, lambda c: app.engine.kill(
        c, signum, all=all_processes, pid=pid or 0))
    for container, ignored in results:
        if ignored:
            import sys

            sys.stderr.write(
                f"pytasks: {container}: its init is pid 1 of its namespace and has no handler "
                f"for {signals.name(signum)}, so the kernel ignores it; use 'pytasks stop "
                f"{container}' (TERM, then KILL after a timeout) or -s KILL\n")
    return code


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_signals, tasks_in
    from pytasks.cli.options import pid_type
    from pytasks.lifecycle import Status

    @click.command("kill")
    @click.option("-s", "--signal", "signal_name", default="SIGTERM", show_default=True,
                  metavar="SIGNAL", shell_complete=complete_signals,
                  help="Signal name (TERM, SIGTERM) or number.")
    @click.option("-a", "--all", "all_processes", is_flag=True,
                  help="Signal every process of the task, not only its init.")
    @click.option("--pid", type=pid_type(1), default=None,
                  help="Signal this process of the task (the init or an exec'd process).")
    @click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                    shell_complete=tasks_in(Status.RUNNING))
    @click.pass_obj
    def kill_command(app: App, signal_name: str, all_processes: bool, pid: int | None,
                     containers: tuple[str, ...]) -> int:
        """Send a signal to tasks. Killing a finished process fails with exit code 3.

        \b
        Examples:
          pytasks kill -s HUP web
          pytasks kill -s KILL --all web worker
        """
        return kill(app, signal_name, all_processes, pid, containers)

    return kill_command
