"""pytasks gc: remove what crashes and kills left behind in the namespace (local addition).

Runtime containers with no task, task dirs without a record, dead creates' dirs, mounts and
cgroups of no task, FIFO sets of clients that are gone, lock files of ids that no longer
exist. Tasks are never touched, dead ones included: they are listed as kept, for `delete`.
"""

from __future__ import annotations

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App


def gc(app: App, dry_run: bool, quiet: bool, output_format: str) -> int:
    from pytasks.cli import output
    from pytasks.cli.usage import check_quiet

    check_quiet("gc", quiet, output_format)
    results = app.engine.gc(dry_run=dry_run)
    if output_format == "json":
        output.print_json({"leftovers": [{"kind": item.kind, "name": item.name,
                                          "outcome": outcome} for item, outcome in results]})
    elif quiet:
        output.print_ids(item.name for item, outcome in results
                         if outcome in ("removed", "would remove"))
    elif results:
        output.render_table(["KIND", "NAME", "OUTCOME"],
                            [[item.kind, item.name, outcome] for item, outcome in results])
    return 0


def command() -> click.Command:
    import click

    from pytasks.cli.options import format_option, quiet_option

    @click.command("gc")
    @click.option("--dry-run", is_flag=True, help="Show what would be removed; remove nothing.")
    @quiet_option
    @format_option
    @click.pass_obj
    def gc_command(app: App, dry_run: bool, quiet: bool, output_format: str) -> int:
        """Remove leftovers of crashed or killed calls: runtime containers with no task,
        task dirs without a record, mounts, cgroups, FIFO sets and lock files of no task.

        Safe at any time, beside any other call: an id in use is skipped. Tasks are never
        removed, dead ones included (they are listed as kept: `pytasks delete` collects
        their exit). -q prints only what was removed.

        \b
        Examples:
          pytasks gc --dry-run
          pytasks gc -q
        """
        return gc(app, dry_run, quiet, output_format)

    return gc_command
