"""pytasks delete: the Delete RPC (with --force: Kill SIGKILL + Wait + Delete, as ctr)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from pytasks.cli.batch import for_each

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App


def delete(app: App, force: bool, output_format: str, containers: Sequence[str]) -> int:
    from pytasks.cli.output import describe_exit, render_table

    results, code = for_each(containers, lambda c: app.engine.delete(c, force=force))
    if output_format == "json":
        import json

        from pytasks.cli.output import message_to_json
        from pytasks.service import delete_response

        # One object, as every --format json prints (docs/architecture.md §6).
        sys.stdout.write(json.dumps({"deleted": [json.loads(message_to_json(
            delete_response(c, r))) for c, r in results]}, indent=2) + "\n")
    elif results:
        render_table(["TASK", "EXIT STATUS", "EXITED AT"],
                     [[c, *describe_exit(r)] for c, r in results])
    return code


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_deletable
    from pytasks.cli.options import format_option

    @click.command("delete")
    @click.option("-f", "--force", is_flag=True,
                  help="Kill a running or paused task with SIGKILL, wait for it, then delete.")
    @format_option
    @click.argument("containers", nargs=-1, required=True, metavar="CONTAINER...",
                    shell_complete=complete_deletable)
    @click.pass_obj
    def delete_command(app: App, force: bool, output_format: str,
                       containers: tuple[str, ...]) -> int:
        """Delete stopped (or, with -f, any) tasks and print each exit status.

        \b
        Examples:
          pytasks delete web
          pytasks delete -f web db
        """
        return delete(app, force, output_format, containers)

    return delete_command
