"""pytasks inspect: the Inspect RPC of the extension service (podman inspect's document)."""

from __future__ import annotations

from collections.abc import Sequence

from pytasks.cli.batch import for_each

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App


def inspect(app: App, containers: Sequence[str]) -> int:
    from pytasks.api.extension.v1 import extension_pb2
    from pytasks.cli.output import print_message_json
    from pytasks.service import inspection_message

    # One id at a time through the Engine so every id is tried and a bad one is reported
    # on stderr while the others still print (ctr's rule for many ids, cli/batch.py).
    results, code = for_each(containers, app.engine.inspect)
    print_message_json(extension_pb2.InspectResponse(
        containers=[inspection_message(found) for _, found in results]))
    return code


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_containers

    @click.command("inspect")
    @click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                    shell_complete=complete_containers)
    @click.pass_obj
    def inspect_command(app: App, containers: tuple[str, ...]) -> int:
        """Describe containers and their tasks as one JSON document: the container record
        (spec, runtime, rootfs, labels), the task's status, pid, exit status and time,
        created and started times, monitor, stdio, limits in force and OOM kills.

        The output is always JSON ({"containers": [...]}, in the order asked); an id that
        fails is reported on stderr and the others are still printed.

        \b
        Examples:
          pytasks inspect web
          pytasks inspect web | jq '.containers[0].task.exit_status'
        """
        return inspect(app, containers)

    return inspect_command
