"""`pytasks containers`: create, list, inspect and delete container records (ctr containers)."""

from __future__ import annotations

from collections.abc import Sequence

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    import click

    from pytasks.cli.app import App

ALIASES = {"ls": "list", "rm": "delete", "del": "delete", "get": "info"}


def create(app: App, container_id: str, args: Sequence[str], **opts: Any) -> int:
    from pytasks.cli.container_spec import build_container

    build_container(app, container_id, args, **opts)
    return 0


def list_containers(app: App, quiet: bool, fmt: str) -> int:
    from pytasks.cli import output
    from pytasks.cli.usage import check_quiet

    check_quiet("containers list", quiet, fmt)
    records, broken = app.containers.list()
    if quiet:
        output.print_ids(r["id"] for r in records)
    elif fmt == "json":
        output.print_json({"containers": records})
    else:
        rows = [[r["id"], r.get("runtime", {}).get("name", ""), _rootfs_column(r),
                 _short_time(r.get("created_at", ""))] for r in records]
        output.render_table(["CONTAINER", "RUNTIME", "ROOTFS", "CREATED"], rows)
    return output.report_broken(broken, "pytasks containers delete -f")


def _rootfs_column(record: dict[str, Any]) -> str:
    rootfs = record.get("rootfs") or {}
    return rootfs.get("path") or rootfs.get("kind", "")


def _short_time(stamp: str) -> str:
    """'2026-11-28T17:33:42.123456789Z' -> '2026-11-28T17:33:42Z' (the table needs no ns)."""
    head, dot, _ = stamp.partition(".")
    return f"{head}Z" if dot else stamp


def info(app: App, container_id: str) -> int:
    from pytasks.cli import output

    output.print_json(app.containers.get(container_id))
    return 0


def delete(app: App, force: bool, container_ids: Sequence[str]) -> int:
    """Every id is tried; the exit code is the worst one seen. With force, a container's
    task goes first (Kill SIGKILL, Wait, Delete), as podman's `rm -f`: one call frees the
    id whatever state it was in."""
    from pytasks import errors
    from pytasks.cli.batch import remove_each

    def delete_one(container_id: str) -> None:
        if force:
            try:
                app.engine.delete(container_id, force=True)
            except errors.NotFoundError:
                pass  # no task: only the record to remove
        app.engine.delete_container(container_id)

    return remove_each(container_ids, delete_one)


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_containers
    from pytasks.cli.container_options import CONTEXT_SETTINGS, container_options
    from pytasks.cli.groups import alias_group
    from pytasks.cli.options import list_format_option

    AliasGroup = alias_group(ALIASES)

    @click.group("containers", cls=AliasGroup)
    def containers_command() -> None:
        """Manage containers: the spec, rootfs and runtime a task is created from.

        A container is only a record; `pytasks create`/`start` (or `run`) make a task of it.
        Aliases: list = ls, delete = rm/del, info = get.

        \b
        Examples:
          pytasks containers create --rootfs /srv/busybox web -- httpd -f
          pytasks containers ls -q
        """

    @containers_command.command("create", context_settings=CONTEXT_SETTINGS,
                                short_help="Create a container record.")
    @click.argument("container_id", metavar="ID")
    @click.argument("args", nargs=-1, metavar="[CMD [ARG]...]")
    @container_options
    @click.pass_obj
    def create_command(app: App, container_id: str, args: tuple[str, ...], **opts: Any
                       ) -> int:
        """Create container ID that runs CMD (default: sh, or a bundle's own args).

        \b
        Examples:
          pytasks containers create --rootfs /srv/busybox web -- sh -c 'sleep 600'
          pytasks containers create --image busybox --entrypoint '' web sleep 600
          pytasks containers create --bundle /srv/bundles/db --label tier=back db
        """
        return create(app, container_id, args, **opts)

    @containers_command.command("list")
    @click.option("-q", "--quiet", is_flag=True, help="Print only the container IDs.")
    @list_format_option
    @click.pass_obj
    def list_command(app: App, quiet: bool, fmt: str) -> int:
        """List containers (alias: ls).

        \b
        Examples:
          pytasks containers list
          pytasks containers list --format json
        """
        return list_containers(app, quiet, fmt)

    @containers_command.command("info")
    @click.argument("container_id", metavar="ID", shell_complete=complete_containers)
    @click.pass_obj
    def info_command(app: App, container_id: str) -> int:
        """Print the record of container ID as JSON (alias: get).

        \b
        Examples:
          pytasks containers info web
          pytasks containers info web | jq .spec.process.args
        """
        return info(app, container_id)

    @containers_command.command("delete")
    @click.option("-f", "--force", is_flag=True,
                  help="First delete the container's task in any state (SIGKILL, wait, "
                       "delete).")
    @click.argument("container_ids", nargs=-1, required=True, metavar="ID...",
                    shell_complete=complete_containers)
    @click.pass_obj
    def delete_command(app: App, force: bool, container_ids: tuple[str, ...]) -> int:
        """Delete containers that have no task (aliases: rm, del); with -f, their tasks too.

        Every ID is tried; the exit code is the worst one seen. `containers delete -f ID` is
        the one-call teardown of `run -d` (ctr needs `task rm -f` and `container rm`).

        \b
        Examples:
          pytasks containers delete web db
          pytasks containers delete -f web
        """
        return delete(app, force, container_ids)

    return containers_command
