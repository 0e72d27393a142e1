"""pytasks get: the Get RPC."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from pytasks.cli.complete import complete_tasks
from pytasks.cli.options import format_option

if TYPE_CHECKING:
    from pytasks.cli.app import App


@click.command("get")
@format_option
@click.argument("container", shell_complete=complete_tasks)
@click.pass_obj
def command(app: App, output_format: str, container: str) -> int:
    """Show one task: pid, status and stdio (JSON adds the OCI spec)."""
    from pytasks.cli import actions

    return actions.get(app, output_format, container)
