"""`pytasks checkpoints`: the named checkpoints of the content store, and moving them
between hosts as OCI image layout tars (docs/architecture.md §9). A noun group, apart from
the `checkpoint` verb, whose argument is a container id."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.checkpoint import Checkpoint, Checkpoints
    from pytasks.cli.app import App

ALIASES = {"list": "ls", "delete": "rm", "del": "rm"}


def _checkpoints(app: App) -> Checkpoints:
    from pytasks.checkpoint import Checkpoints
    from pytasks.cli.verbs.content import _store

    return Checkpoints(_store(app))


def describe(found: Checkpoint) -> dict[str, object]:
    from pytasks import checkpoint as ckpt

    image = found.manifest(ckpt.CRIU_TAR_TYPE) or {}
    return {"name": found.name, "digest": found.index.digest,
            "container": found.annotations.get(ckpt.A_CONTAINER, ""),
            "created": found.annotations.get(ckpt.A_CREATED, ""),
            "image_size": image.get("size", 0), "annotations": found.annotations,
            "manifests": found.manifests}


def list_checkpoints(app: App, quiet: bool, fmt: str) -> int:
    from pytasks.cli import output
    from pytasks.cli.verbs.content import human_size

    found = _checkpoints(app).all()
    if fmt == "json":
        output.print_json({"checkpoints": [describe(c) for c in found]})
    elif quiet:
        output.print_ids(c.name for c in found)
    else:
        rows = []
        for c in found:
            d = describe(c)
            rows.append([c.name, str(d["container"]) or "-", str(d["created"]) or "-",
                         human_size(int(str(d["image_size"]))), c.index.digest])
        output.render_table(["NAME", "CONTAINER", "CREATED", "SIZE", "DIGEST"], rows)
    return 0


def info(app: App, ref: str) -> int:
    from pytasks.cli import output

    output.print_json(describe(_checkpoints(app).get(ref)))
    return 0


def remove(app: App, refs: Sequence[str]) -> int:
    """Every REF is tried; the exit code is the worst one seen."""
    from pytasks import checkpoint as ckpt
    from pytasks.cli.batch import remove_each

    checkpoints = _checkpoints(app)

    def remove_one(ref: str) -> str:
        found = checkpoints.get(ref)
        ckpt.remove(checkpoints.store, found)
        return found.name

    return remove_each(refs, remove_one)


def _progress(total: int, what: str) -> tuple[Callable[[int], None] | None, Callable[[], None]]:
    """A rich progress bar on a terminal (stderr), nothing when piped."""
    if not sys.stderr.isatty():
        return None, lambda: None
    from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn

    bar = Progress(TextColumn(what), BarColumn(), DownloadColumn(), transient=True)
    bar.start()
    task = bar.add_task(what, total=total or None)
    return (lambda n: bar.advance(task, n)), bar.stop


def export(app: App, ref: str, output_path: str) -> int:
    """Written to a file beside the target and renamed: a failed export (a corrupt blob
    is DataLoss) leaves no partial tar under the name."""
    from pytasks import checkpoint as ckpt

    checkpoints = _checkpoints(app)
    found = checkpoints.get(ref)
    target = os.path.abspath(output_path)
    partial = f"{target}.partial-{os.getpid()}"
    advance, stop = _progress(ckpt.export_size(checkpoints.store, found),
                              f"exporting {found.name}")
    try:
        with open(partial, "wb") as fh:
            for chunk in ckpt.export_tar(checkpoints.store, found, advance):
                fh.write(chunk)
            fh.flush()
            os.fsync(fh.fileno())
        os.rename(partial, target)
    except BaseException:
        try:
            os.unlink(partial)
        except FileNotFoundError:
            pass
        raise
    finally:
        stop()
    sys.stdout.write(f"{found.name}\n")
    return 0


def import_(app: App, path: str) -> int:
    from pytasks import checkpoint as ckpt
    from pytasks import errors

    checkpoints = _checkpoints(app)
    try:
        size = os.stat(path).st_size
        stream = open(path, "rb")  # noqa: SIM115
    except OSError as exc:
        raise errors.InvalidArgumentError(f"cannot read {path}: {exc.strerror}") from None
    advance, stop = _progress(size, f"importing {os.path.basename(path)}")
    try:
        with stream:
            names = ckpt.import_tar(checkpoints.store, stream, advance)
    except (EOFError, OSError, ValueError) as exc:
        import tarfile

        if isinstance(exc, tarfile.TarError | EOFError):
            raise errors.DataLossError(f"{path}: not a tar: {exc}") from None
        raise
    finally:
        stop()
    sys.stdout.write("".join(f"{name}\n" for name in names))
    return 0


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_checkpoints
    from pytasks.cli.groups import alias_group
    from pytasks.cli.options import list_format_option

    AliasGroup = alias_group(ALIASES)

    @click.group("checkpoints", cls=AliasGroup)
    def checkpoints_command() -> None:
        """Manage checkpoints: list, inspect, remove, and move them between hosts.

        A checkpoint is made by `pytasks checkpoint CONTAINER` and restored by `create
        --checkpoint REF` or `run --checkpoint REF`; REF is its name, its index or CRIU
        image digest, or a unique prefix. Aliases: ls = list, rm = delete/del.

        \b
        Examples:
          pytasks checkpoints ls
          pytasks checkpoints export web-20261203T100000Z -o web.tar
        """

    @checkpoints_command.command("ls")
    @click.option("-q", "--quiet", is_flag=True, help="Print only the names.")
    @list_format_option
    @click.pass_obj
    def ls_command(app: App, quiet: bool, fmt: str) -> int:
        """List checkpoints: name, container, time, image size, index digest (alias: list).

        \b
        Examples:
          pytasks checkpoints ls
          pytasks checkpoints ls -q
        """
        return list_checkpoints(app, quiet, fmt)

    @checkpoints_command.command("info")
    @click.argument("ref", metavar="REF", shell_complete=complete_checkpoints)
    @click.pass_obj
    def info_command(app: App, ref: str) -> int:
        """Print a checkpoint as JSON: its index's annotations and manifests.

        \b
        Examples:
          pytasks checkpoints info web-20261203T100000Z
        """
        return info(app, ref)

    @checkpoints_command.command("rm")
    @click.argument("refs", nargs=-1, required=True, metavar="REF...",
                    shell_complete=complete_checkpoints)
    @click.pass_obj
    def rm_command(app: App, refs: tuple[str, ...]) -> int:
        """Remove checkpoints and the blobs nothing else uses (aliases: delete, del).

        \b
        Examples:
          pytasks checkpoints rm web-20261203T100000Z
        """
        return remove(app, refs)

    @checkpoints_command.command("export")
    @click.argument("ref", metavar="REF", shell_complete=complete_checkpoints)
    @click.option("-o", "--output", "output_path", required=True, metavar="FILE.tar",
                  help="The OCI image layout tar to write.")
    @click.pass_obj
    def export_command(app: App, ref: str, output_path: str) -> int:
        """Write a checkpoint as an OCI image layout tar (oci-layout, index.json,
        blobs/sha256/...), each blob checked against its digest as it is written.

        \b
        Examples:
          pytasks checkpoints export web-20261203T100000Z -o web.tar
        """
        return export(app, ref, output_path)

    @checkpoints_command.command("import")
    @click.argument("path", metavar="FILE.tar")
    @click.pass_obj
    def import_command(app: App, path: str) -> int:
        """Register the checkpoints of an OCI image layout tar, verifying every blob
        against its digest (importing twice is harmless).

        \b
        Examples:
          pytasks checkpoints import web.tar
        """
        return import_(app, path)

    return checkpoints_command
