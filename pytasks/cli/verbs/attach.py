"""pytasks attach: reattach to a running task's (or exec's) stdio through its monitor."""

from __future__ import annotations

import sys

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App


def attach(app: App, pid: int | None, no_stdin: bool, container: str) -> int:
    from pytasks import errors
    from pytasks.stdio import Session, interactive, terminal_size

    stream, reply = app.engine.attach(container, pid or 0,
                                       stdin=not no_stdin and interactive())
    terminal = bool(reply.get("terminal"))

    def forward(signum: int) -> None:
        try:
            app.engine.kill(container, signum, pid=pid or 0)
        except errors.PytasksError:
            pass

    def resize() -> None:
        size = terminal_size()
        if terminal and size is not None:
            try:
                app.engine.resize_pty(container, pid or 0, size[0], size[1])
            except errors.PytasksError:
                pass

    session = Session(stream=stream, forward_stdin=bool(reply.get("stdin")),
                      terminal=terminal, detach_keys=True, on_signal=forward,
                      on_resize=resize)
    try:
        info = session.run()
    finally:
        stream.close()
    if session.detached:
        sys.stderr.write("\r\npytasks: detached (the task keeps running)\r\n")
        return 0
    if info is not None:
        return int(info["exit_status"])
    return app.engine.wait(container, pid or 0).status


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_tasks
    from pytasks.cli.options import pid_type

    @click.command("attach")
    @click.option("--pid", type=pid_type(1), default=None,
                  help="Attach to this exec'd process instead of the task's init.")
    @click.option("--no-stdin", is_flag=True, help="Do not forward our stdin.")
    @click.argument("container", shell_complete=complete_tasks)
    @click.pass_obj
    def attach_command(app: App, pid: int | None, no_stdin: bool, container: str) -> int:
        """Attach to a running task: its output streams here and our stdin goes to it (when
        the task has a stdin or a terminal). Detach with ctrl-p ctrl-q, which leaves the task
        running; otherwise exits with the task's status when it ends. One attached client per
        process: a second one is refused (exit 5).

        \b
        Examples:
          pytasks attach box
          pytasks attach --no-stdin --pid 4242 box
        """
        return attach(app, pid, no_stdin, container)

    return attach_command
