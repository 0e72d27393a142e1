"""pytasks checkpoint: the Checkpoint RPC (CRIU through the runtime, into the content
store; docs/architecture.md §9)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App

# CRIU's dump statistics in the order podman prints them, with their units.
STATS = (("freezing_time", "us"), ("frozen_time", "us"), ("memdump_time", "us"),
         ("memwrite_time", "us"), ("pages_scanned", "pages"), ("pages_written", "pages"),
         ("pages_skipped_parent", "pages"))


def parse_option(text: str) -> tuple[str, str]:
    """K=V, or K alone for K=true."""
    key, sep, value = text.partition("=")
    return key.strip(), value if sep else "true"


def checkpoint(app: App, container: str, exit_: bool, options: Sequence[str],
               print_stats: bool, output_format: str, name: str | None,
               criu_path: str | None) -> int:
    from pytasks import ids

    ids.validate(container, "container id")
    parsed = dict(parse_option(o) for o in options)
    if exit_:
        parsed["exit"] = "true"
    if output_format == "json":
        from pytasks.api.containerd.services.tasks.v1 import tasks_pb2
        from pytasks.cli.output import message_to_json

        response = app.service.checkpoint(
            tasks_pb2.CheckpointTaskRequest(container_id=container, options=parsed),
            name=name, criu_path=criu_path)
        sys.stdout.write(message_to_json(response) + "\n")
        return 0
    result = app.engine.checkpoint(container, parsed, name=name, criu_path=criu_path)
    sys.stdout.write(f"{result.name}\n")
    if print_stats:
        for key, unit in STATS:
            if key in result.stats:
                sys.stdout.write(f"{key.replace('_', ' ')}: {result.stats[key]} {unit}\n")
    return 0


def command() -> click.Command:
    import click

    from pytasks.cli.complete import tasks_in
    from pytasks.cli.options import format_option
    from pytasks.lifecycle import Status

    @click.command("checkpoint")
    @click.option("--exit", "exit_", is_flag=True,
                  help="Stop the task after the checkpoint (option exit=true); by default "
                       "it keeps running.")
    @click.option("--option", "options", multiple=True, metavar="K=V",
                  help="CRIU option: tcp-established, file-locks, ext-unix-sk, shell-job "
                       "(=true/false) or manage-cgroups-mode=soft|full|strict "
                       "(repeatable; K alone means K=true).")
    @click.option("--name", default=None, metavar="NAME",
                  help="Name of the checkpoint (default CONTAINER-<UTC time>).")
    @click.option("--print-stats", is_flag=True,
                  help="Also print CRIU's dump statistics (freezing and frozen time, "
                       "pages written).")
    @click.option("--criu", "criu_path", default=None, metavar="PATH",
                  help="The CRIU to use (default: PYTASKS_CRIU, the one scripts/setup "
                       "installed, else criu on PATH).")
    @format_option
    @click.argument("container", shell_complete=tasks_in(Status.RUNNING, Status.PAUSED))
    @click.pass_obj
    def checkpoint_command(app: App, exit_: bool, options: tuple[str, ...],
                           name: str | None, print_stats: bool, criu_path: str | None,
                           output_format: str, container: str) -> int:
        """Checkpoint a running or paused task with CRIU and print the checkpoint's name.

        The CRIU image and the container's spec go into the content store, grouped under
        one OCI index: the checkpoint, which `create --checkpoint` and `run --checkpoint`
        restore (by name, digest or unique digest prefix). A paused task stays paused; a
        created or stopped one cannot be checkpointed (exit 5). A failed checkpoint leaves
        the task as it was and stores nothing. JSON prints the response: the index, CRIU
        image and config descriptors.

        \b
        Examples:
          pytasks checkpoint web
          pytasks checkpoint --exit --name web-before-upgrade web
          pytasks checkpoint --option tcp-established --print-stats web
        """
        return checkpoint(app, container, exit_, options, print_stats, output_format,
                          name, criu_path)

    return checkpoint_command
