"""`pytasks images`: import OCI and docker archives, list, show and remove images
(ctr images; docs/architecture.md §9)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App
    from pytasks.images import Images

ALIASES = {"list": "ls", "delete": "rm", "del": "rm", "load": "import"}


def _images(app: App) -> Images:
    from pytasks.images import Images

    return Images(app.layout)


def import_images(app: App, source: str, platform: str | None, name: str | None) -> int:
    from pytasks import errors
    from pytasks.cli.checks import path as check_path
    from pytasks.cli.checks import text as check_text

    for option, value in (("--platform", platform), ("--name", name)):
        if value is not None:
            check_text(value, option)
    progress = None
    if sys.stderr.isatty():
        def progress(text: str) -> None:
            sys.stderr.write(f"\r\033[K{text}")
            sys.stderr.flush()
    if source == "-":
        stream = getattr(sys.stdin, "buffer", None)
        if stream is None:
            raise errors.InvalidArgumentError("images import - needs a byte stream on stdin")
        label = "stdin"
        records = _images(app).import_archive(stream, label, platform=platform, name=name,
                                              progress=progress)
    else:
        check_path(source, "FILE")
        try:
            handle = open(source, "rb")  # noqa: SIM115 - closed below, after the import
        except FileNotFoundError:
            raise errors.NotFoundError(f"{source}: no such file") from None
        except IsADirectoryError:
            raise errors.InvalidArgumentError(f"{source}: a directory, not an archive") \
                from None
        except PermissionError as exc:
            raise errors.permission_denied(exc) from None
        with handle:
            records = _images(app).import_archive(handle, source, platform=platform,
                                                  name=name, progress=progress)
    if progress is not None:
        sys.stderr.write("\r\033[K")
    for record in records:
        sys.stdout.write(f"{record['name']}\t{record['target']['digest']}\n")
    return 0


def list_images(app: App, quiet: bool, fmt: str) -> int:
    from pytasks.cli import output
    from pytasks.cli.verbs.content import human_size
    from pytasks.images import describe

    records = [describe(r) for r in _images(app).list()]
    if fmt == "json":
        output.print_json(records)
    elif quiet:
        output.print_ids(r["name"] for r in records)
    else:
        output.render_table(
            ["NAME", "DIGEST", "PLATFORM", "LAYERS", "SIZE"],
            [[r["name"], r["target"]["digest"][:19], r["platform"] or "-",
              str(len(r["layers"])), human_size(r["size"])] for r in records])
    return 0


def info(app: App, ref: str) -> int:
    from pytasks.cli import output
    from pytasks.cli.checks import text as check_text
    from pytasks.images import describe

    images = _images(app)
    record = images.get(check_text(ref, "REF"))
    output.print_json({**describe(record), "image_config": images.config(record)})
    return 0


def remove(app: App, force: bool, refs: Sequence[str]) -> int:
    """Every ref is tried; the exit code is the worst one seen."""
    from pytasks.cli.batch import remove_each
    from pytasks.cli.checks import text as check_text

    images = _images(app)

    def remove_one(ref: str) -> str:
        check_text(ref, "REF")
        return images.remove(ref, force=force)

    return remove_each(refs, remove_one)


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_images
    from pytasks.cli.groups import alias_group
    from pytasks.cli.options import list_format_option

    AliasGroup = alias_group(ALIASES)

    @click.group("images", cls=AliasGroup)
    def images_command() -> None:
        """Manage images: archives imported into the content store, each layer unpacked
        once into a snapshot shared by every container of every image that has it.

        Aliases: ls = list, rm = delete/del, import = load.

        \b
        Examples:
          pytasks images import busybox.tar
          pytasks images ls
          pytasks images info busybox
        """

    @images_command.command("import")
    @click.option("--platform", default=None, metavar="OS/ARCH[/VARIANT]",
                  help="Pick this platform's manifest from an index (default: the host's).")
    @click.option("--name", default=None, metavar="NAME",
                  help="Name the image (an archive of one image only).")
    @click.argument("source", metavar="FILE|-")
    @click.pass_obj
    def import_command(app: App, platform: str | None, name: str | None,
                       source: str) -> int:
        """Import the images of an OCI image layout archive or a docker archive (docker or
        podman save), from FILE or stdin (-); print each image's name and manifest digest.

        Every blob is checked against its digest as it streams into the store, and every
        layer (tar, gzip or zstd) is unpacked into its snapshot before the image's record
        is written: a corrupt blob is DataLoss (exit 1), a bad archive InvalidArgument
        naming the member (exit 2), and neither leaves anything behind.

        \b
        Examples:
          pytasks images import busybox-oci.tar
          pytasks images import --platform linux/arm64 multi.tar
          pytasks images import - < busybox-docker.tar
        """
        return import_images(app, source, platform, name)

    @images_command.command("ls")
    @click.option("-q", "--quiet", is_flag=True, help="Print only the names.")
    @list_format_option
    @click.pass_obj
    def ls_command(app: App, quiet: bool, fmt: str) -> int:
        """List images: name, manifest digest, platform, layers and size (alias: list).

        \b
        Examples:
          pytasks images ls
          pytasks images ls -q
        """
        return list_images(app, quiet, fmt)

    @images_command.command("info")
    @click.argument("ref", metavar="REF", shell_complete=complete_images)
    @click.pass_obj
    def info_command(app: App, ref: str) -> int:
        """Print an image's record and its config as JSON.

        REF is a name (NAME alone means NAME:latest too), the manifest digest or a unique
        prefix of its hex.

        \b
        Examples:
          pytasks images info busybox:latest
          pytasks images info busybox | jq .image_config.config.Cmd
        """
        return info(app, ref)

    @images_command.command("rm")
    @click.option("-f", "--force", is_flag=True,
                  help="Remove even an image a container uses (its snapshots stay while "
                       "a container names them).")
    @click.argument("refs", nargs=-1, required=True, metavar="REF...",
                    shell_complete=complete_images)
    @click.pass_obj
    def rm_command(app: App, force: bool, refs: tuple[str, ...]) -> int:
        """Remove images (aliases: delete, del), then the blobs and snapshots nothing else
        uses. Refused while a container uses the image, unless --force. Every REF is
        tried; the exit code is the worst one seen.

        \b
        Examples:
          pytasks images rm busybox:latest
          pytasks images rm -f 3f2a
        """
        return remove(app, force, refs)

    return images_command
