"""Options shared by verbs that create tasks (create, run): stdio and rootfs mounts."""

from __future__ import annotations

import os

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


def stdio_options(f: Any) -> Any:
    import click

    for option in reversed([
        click.option("--stdin", metavar="PATH", default=None,
                     help="Stdin: a FIFO or file path ('' = /dev/null, the default)."),
        click.option("--stdout", metavar="PATH", default=None,
                     help="Stdout: a FIFO, or a file to append to ('' = /dev/null)."),
        click.option("--stderr", metavar="PATH", default=None,
                     help="Stderr: a FIFO, or a file to append to ('' = /dev/null)."),
    ]):
        f = option(f)
    return f


def stdio_paths(stdin: str | None, stdout: str | None, stderr: str | None
                ) -> tuple[str | None, str | None, str | None]:
    """--stdin/--stdout/--stderr as Engine.create takes them: paths relative to the caller's
    directory made absolute; None stays None (no flag at all: the Engine picks the task's
    log; with some flag given, an unset stream is /dev/null)."""

    from pytasks.cli.checks import path

    for option, value in (("--stdin", stdin), ("--stdout", stdout), ("--stderr", stderr)):
        if value:
            path(value, option)

    def absolute(value: str | None) -> str | None:
        if not value:
            return value
        if value.startswith("file://"):
            return "file://" + os.path.abspath(value[len("file://"):])
        return os.path.abspath(value)

    return absolute(stdin), absolute(stdout), absolute(stderr)


def parse_rootfs_mount(text: str) -> dict[str, Any]:
    """`type=overlay,src=overlay,options=lowerdir=/l:upperdir=/u:workdir=/w` -> a Mount's
    fields (type, source, options), as Engine.create takes them.
    Same syntax as --mount of containers; dst is not needed (the target is the rootfs)."""
    from pytasks import spec
    from pytasks.cli.checks import text as check_text

    check_text(text, "--mount")
    parsed = spec.parse_mount(text if "dst=" in text else f"{text},dst=/")
    return {"type": parsed["type"], "source": parsed["source"],
            "options": [o for o in parsed["options"] if o != "rbind"]
            if parsed["type"] != "bind" else list(parsed["options"])}
