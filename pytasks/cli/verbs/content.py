"""`pytasks content`: the blobs of the content store (ctr content; docs/architecture.md §9).

Every verb first removes the ingest files of dead writers, so a write killed half-way
leaves nothing behind once anything looks at the store again.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App
    from pytasks.state.content import ContentStore

ALIASES = {"list": "ls", "delete": "rm", "del": "rm"}


def _store(app: App) -> ContentStore:
    from pytasks.state.content import ContentStore

    store = ContentStore(app.layout)
    for path in store.clean_ingests():
        sys.stderr.write(f"pytasks: removed {path}, the ingest file of a dead writer\n")
    return store


def human_size(size: int) -> str:
    """ctr's units: 1024-based, one decimal above a KiB."""
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{size} B" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} TiB"


def list_content(app: App, quiet: bool, fmt: str) -> int:
    from pytasks.cli import output
    from pytasks.state.content import describe

    blobs = _store(app).blobs()
    if fmt == "json":
        output.print_json([describe(blob) for blob in blobs])
    elif quiet:
        output.print_ids(blob.digest for blob in blobs)
    else:
        output.render_table(
            ["DIGEST", "SIZE", "MEDIA TYPE", "USED BY"],
            [[blob.digest, human_size(blob.size), blob.media_type or "-",
              ",".join(blob.used_by) or "-"] for blob in blobs])
    return 0


def info(app: App, digest: str) -> int:
    from pytasks.cli import output
    from pytasks.state.content import describe

    output.print_json(describe(_store(app).info(digest)))
    return 0


def get(app: App, digest: str) -> int:
    """The bytes to stdout; a corrupt blob ends in DataLoss after its last chunk."""
    out = sys.stdout.buffer
    for chunk in _store(app).read(digest):
        out.write(chunk)
    out.flush()
    return 0


def ingest(app: App, expected_digest: str, expected_size: int, media_type: str,
           labels: Sequence[str]) -> int:
    from pytasks.cli.container_spec import parse_labels

    parsed = parse_labels(labels)
    stdin = getattr(sys.stdin, "buffer", None)
    if stdin is None:  # replaced by a text stream (an embedding caller): no bytes to read
        from pytasks import errors

        raise errors.InvalidArgumentError("content ingest needs a byte stream on stdin")
    blob = _store(app).write_file(stdin, expected_digest=expected_digest,
                                  expected_size=expected_size, media_type=media_type,
                                  labels=parsed)
    sys.stdout.write(f"{blob.digest}\n")
    return 0


def remove(app: App, force: bool, digests: Sequence[str]) -> int:
    """Every digest is tried; the exit code is the worst one seen."""
    from pytasks.cli.batch import remove_each

    store = _store(app)
    return remove_each(digests, lambda digest: store.remove(digest, force=force))


def command() -> click.Command:
    import click

    from pytasks.cli.groups import alias_group
    from pytasks.cli.options import list_format_option

    AliasGroup = alias_group(ALIASES)

    @click.group("content", cls=AliasGroup)
    def content_command() -> None:
        """Manage the content store: blobs by sha256 digest under the persistent root
        (checkpoint images and their configs).

        A blob a checkpoint uses cannot be removed without --force. Aliases: ls = list,
        rm = delete/del.

        \b
        Examples:
          pytasks content ls
          pytasks content info 3f2a
        """

    @content_command.command("ls")
    @click.option("-q", "--quiet", is_flag=True, help="Print only the digests.")
    @list_format_option
    @click.pass_obj
    def ls_command(app: App, quiet: bool, fmt: str) -> int:
        """List blobs: digest, size, media type and what uses each (alias: list).

        \b
        Examples:
          pytasks content ls
          pytasks content ls -q
        """
        return list_content(app, quiet, fmt)

    @content_command.command("info")
    @click.argument("digest", metavar="DIGEST")
    @click.pass_obj
    def info_command(app: App, digest: str) -> int:
        """Print a blob's facts as JSON after checking its bytes against its digest.

        DIGEST is sha256:<hex> or a unique prefix of the hex. A blob whose bytes no longer
        match is DataLoss (exit 1), naming its file.

        \b
        Examples:
          pytasks content info 3f2a
          pytasks content info 3f2a | jq .size
        """
        return info(app, digest)

    @content_command.command("get")
    @click.argument("digest", metavar="DIGEST")
    @click.pass_obj
    def get_command(app: App, digest: str) -> int:
        """Write a blob's bytes to stdout, checked against its digest as they stream.

        \b
        Examples:
          pytasks content get 3f2a > blob.tar
        """
        return get(app, digest)

    @content_command.command("ingest")
    @click.option("--expected-digest", default="", metavar="DIGEST",
                  help="Refuse (DataLoss) content with another digest.")
    @click.option("--expected-size", default=-1, type=click.IntRange(min=-1),
                  metavar="BYTES", help="Refuse (DataLoss) content of another size.")
    @click.option("--media-type", default="", metavar="TYPE", help="Media type to record.")
    @click.option("--label", "labels", multiple=True, metavar="KEY=VALUE",
                  help="Label to record (repeatable).")
    @click.pass_obj
    def ingest_command(app: App, expected_digest: str, expected_size: int, media_type: str,
                       labels: tuple[str, ...]) -> int:
        """Store stdin as a blob and print its digest.

        \b
        Examples:
          pytasks content ingest < image.tar
          pytasks content ingest --media-type application/json --label k=v < config.json
        """
        return ingest(app, expected_digest, expected_size, media_type, labels)

    @content_command.command("rm")
    @click.option("-f", "--force", is_flag=True,
                  help="Remove even a blob a checkpoint uses.")
    @click.argument("digests", nargs=-1, required=True, metavar="DIGEST...")
    @click.pass_obj
    def rm_command(app: App, force: bool, digests: tuple[str, ...]) -> int:
        """Remove blobs (aliases: delete, del). Every DIGEST is tried; the exit code is the
        worst one seen.

        \b
        Examples:
          pytasks content rm 3f2a 9b1c
          pytasks content rm -f 3f2a
        """
        return remove(app, force, digests)

    return content_command
