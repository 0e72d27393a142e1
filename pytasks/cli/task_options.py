"""Options shared by verbs that create tasks (create, run): stdio and rootfs mounts."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from pytasks.cli.app import App
    from pytasks.stdio import StdioPaths

STDIO_OPTIONS = [
    click.option("--stdin", metavar="PATH", default=None,
                 help="Stdin: a FIFO or file path ('' = /dev/null, the default)."),
    click.option("--stdout", metavar="PATH", default=None,
                 help="Stdout: a FIFO, or a file to append to ('' = /dev/null)."),
    click.option("--stderr", metavar="PATH", default=None,
                 help="Stderr: a FIFO, or a file to append to ('' = /dev/null)."),
]


def stdio_options(f: Any) -> Any:
    for option in reversed(STDIO_OPTIONS):
        f = option(f)
    return f


def resolve_stdio(app: App, task_id: str, stdin: str | None, stdout: str | None,
                  stderr: str | None) -> StdioPaths:
    """No stdio flag at all: stdout and stderr append to the per-task log (`pytasks logs`).
    Otherwise each unset stream is /dev/null. Relative paths are the caller's."""
    from pytasks.state import layout as names

    if stdin is None and stdout is None and stderr is None:
        log = str(app.layout.task_file(task_id, names.OUTPUT_LOG))
        return {"stdin": "", "stdout": log, "stderr": log}

    def absolute(value: str | None) -> str:
        if not value:
            return ""
        if value.startswith("file://"):
            return "file://" + os.path.abspath(value[len("file://"):])
        return os.path.abspath(value)

    return {"stdin": absolute(stdin), "stdout": absolute(stdout),
            "stderr": absolute(stderr)}


def parse_rootfs_mount(text: str) -> Any:
    """`type=overlay,src=overlay,options=lowerdir=/l:upperdir=/u:workdir=/w` -> Mount.
    Same syntax as --mount of containers; dst is not needed (the target is the rootfs)."""
    from pytasks import spec
    from pytasks.api.containerd.types import mount_pb2

    parsed = spec.parse_mount(text if "dst=" in text else f"{text},dst=/")
    return mount_pb2.Mount(type=parsed["type"], source=parsed["source"],
                           options=[o for o in parsed["options"] if o != "rbind"]
                           if parsed["type"] != "bind" else parsed["options"])
