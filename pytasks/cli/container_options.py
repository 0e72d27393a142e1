"""Options that describe a container (shared by `containers create` and `run`).

Usage in a verb:

    @click.command(context_settings=CONTEXT_SETTINGS)
    @click.argument("container_id", metavar="ID")
    @click.argument("command", nargs=-1, metavar="[CMD [ARG]...]")
    @container_options
    @click.pass_obj
    def verb(app, container_id, command, **opts):
        record = build_container(app, container_id, command, **opts)  # container_spec.py
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

# Options stop at the first positional argument, so `ID sh -c 'x'` hands -c to the command
# (as ctr and docker do); `--` is accepted too.
CONTEXT_SETTINGS: dict[str, Any] = {"allow_interspersed_args": False}

# The keyword names container_options adds (a verb with more options can pick these out).
OPTION_NAMES = ("image", "entrypoint", "rootfs", "bundle", "env", "cwd", "user", "hostname",
                "mount", "readonly", "net_host", "label")

def container_options(f: F) -> F:
    """Add the container-describing options to a click command (click is imported here,
    not at module top: the fast path imports this module's constants without click)."""
    import click

    from pytasks.cli.checks import path
    from pytasks.errors import InvalidArgumentError

    class Directory(click.Path):
        """click.Path, which would stat a path with a NUL byte and raise ValueError."""

        def convert(self, value: Any, param: click.Parameter | None,
                    ctx: click.Context | None) -> Any:
            try:
                path(value, "path")
            except InvalidArgumentError as exc:
                self.fail(str(exc).removeprefix("invalid path "), param, ctx)
            return super().convert(value, param, ctx)

    _DIR = Directory(file_okay=False, dir_okay=True)
    options = [
        click.option("--image", metavar="REF",
                     help="Make the root from this image (a name, NAME for NAME:latest, or "
                          "a digest prefix): its layers under the container's own "
                          "writable layer; its config gives the command, env, working "
                          "directory and user unless given."),
        click.option("--entrypoint", metavar="CMD",
                     help="With --image: replace its Entrypoint ('' clears it; a JSON "
                          "array gives arguments too)."),
        click.option("--rootfs", type=_DIR, metavar="DIR",
                     help="Root filesystem directory (default: the host-tools root: "
                          "the host's /usr and /etc, read-only)."),
        click.option("--bundle", type=_DIR, metavar="DIR",
                     help="Existing OCI bundle (config.json + rootfs); its args are kept "
                          "unless CMD is given."),
        click.option("--env", multiple=True, metavar="K=V", help="Set an environment variable."),
        click.option("--cwd", metavar="DIR", help="Working directory inside the container."),
        click.option("--user", metavar="USER[:GROUP]",
                     help="User (and group) to run as: numbers, or names from the "
                          "container's /etc/passwd and /etc/group."),
        click.option("--hostname", metavar="NAME",
                     help="Hostname (default: the container ID; a bundle's own if --bundle)."),
        click.option("--mount", multiple=True, metavar="SPEC",
                     help="Add a mount: type=T,src=S,dst=D,options=a:b (type defaults "
                          "to bind)."),
        click.option("--readonly", is_flag=True, help="Mount the root filesystem read-only."),
        click.option("--net-host", is_flag=True, help="Use the host's network namespace."),
        click.option("--label", multiple=True, metavar="K=V", help="Attach a label."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def pop_container_options(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Remove container_options' values from a verb's kwargs and return them."""
    return {name: kwargs.pop(name) for name in OPTION_NAMES if name in kwargs}


