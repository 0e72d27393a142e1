"""Options that describe a container (shared by `containers create` and `run`).

Usage in a verb:

    @click.command(context_settings=CONTEXT_SETTINGS)
    @click.argument("container_id", metavar="ID")
    @click.argument("command", nargs=-1, metavar="[CMD [ARG]...]")
    @container_options
    @click.pass_obj
    def verb(app, container_id, command, **opts):
        record = build_container(app, container_id, command, **opts)
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from pytasks.cli.app import App

F = TypeVar("F", bound=Callable[..., Any])

# Options stop at the first positional argument, so `ID sh -c 'x'` hands -c to the command
# (as ctr and docker do); `--` is accepted too.
CONTEXT_SETTINGS: dict[str, Any] = {"allow_interspersed_args": False}

# The keyword names container_options adds (a verb with more options can pick these out).
OPTION_NAMES = ("rootfs", "bundle", "env", "cwd", "user", "hostname", "mount", "readonly",
                "net_host", "label")

_DIR = click.Path(file_okay=False, dir_okay=True)


def container_options(f: F) -> F:
    """Add the container-describing options to a click command."""
    options = [
        click.option("--rootfs", type=_DIR, metavar="DIR",
                     help="Root filesystem directory (default: the host-tools root: "
                          "the host's /usr and /etc, read-only)."),
        click.option("--bundle", type=_DIR, metavar="DIR",
                     help="Existing OCI bundle (config.json + rootfs); its args are kept "
                          "unless CMD is given."),
        click.option("--env", multiple=True, metavar="K=V", help="Set an environment variable."),
        click.option("--cwd", metavar="DIR", help="Working directory inside the container."),
        click.option("--user", metavar="UID[:GID]", help="Numeric user (and group) to run as."),
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


def parse_labels(items: Iterable[str]) -> dict[str, str]:
    from pytasks.errors import InvalidArgumentError

    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"invalid --label {item!r}: expected KEY=VALUE")
        labels[key] = value
    return labels


def build_container(
    app: App,
    container_id: str,
    command: Sequence[str],
    *,
    rootfs: str | None = None,
    bundle: str | None = None,
    env: Sequence[str] = (),
    cwd: str | None = None,
    user: str | None = None,
    hostname: str | None = None,
    mount: Sequence[str] = (),
    readonly: bool = False,
    net_host: bool = False,
    label: Sequence[str] = (),
    terminal: bool = False,
) -> dict[str, Any]:
    """Validate the options, build the spec and create the container record."""
    from pytasks import ids, spec
    from pytasks.errors import InvalidArgumentError

    ids.validate(container_id, "container id")  # first: nothing touches the disk before this
    if rootfs is not None and bundle is not None:
        raise click.UsageError("--rootfs and --bundle are mutually exclusive")
    labels = parse_labels(label)
    args = list(command)
    if args[:1] == ["--"]:  # `ID -- CMD...`: options already stopped at ID, so click kept it
        args = args[1:]
    if bundle is not None:
        base, root_path = spec.load_bundle(bundle)
        base.setdefault("root", {})["path"] = str(root_path)
        record_rootfs = {"kind": "bundle", "path": str(root_path)}
    else:
        base = spec.default_spec(args or ["sh"])
        if hostname is None:
            hostname = container_id  # docker's choice; runc's "runc" helps nobody
        if rootfs is not None:
            path = os.path.abspath(rootfs)
            if not os.path.isdir(path):
                raise InvalidArgumentError(f"--rootfs {path}: not a directory")
            base["root"]["path"] = path
            record_rootfs = {"kind": "dir", "path": path}
        else:
            # The task layer prepares <task dir>/rootfs (spec.prepare_host_tools_root).
            for m in spec.host_tools_mounts():
                spec.add_mount(base, m)
            record_rootfs = {"kind": "host-tools", "path": ""}
    final = spec.apply_overrides(
        base, args=args, env=env, cwd=cwd, user=user, hostname=hostname, mounts=mount,
        # a bundle keeps its own root.readonly unless --readonly is given
        readonly=True if readonly else (None if bundle is not None else False),
        net_host=net_host, terminal=terminal,
    )
    if not final.get("process", {}).get("args"):
        raise InvalidArgumentError(f"container {container_id}: no command (give CMD)")
    return app.containers.create(container_id, spec=final, rootfs=record_rootfs,
                                 runtime=app.runtime, labels=labels)
