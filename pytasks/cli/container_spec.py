"""What the container-creating verbs (run, containers create) build from their options:
the container record. Free of click: the fast path uses it too."""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from pytasks.cli.app import App


LABEL_MAX = 4096  # bytes of a label's key and value together (containerd's labels.Validate)
HOSTNAME_MAX = 64  # bytes: the kernel's HOST_NAME_MAX, what sethostname(2) takes


def parse_labels(items: Iterable[str]) -> dict[str, str]:
    from pytasks.errors import InvalidArgumentError
    from pytasks.ids import quote

    labels: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise InvalidArgumentError(f"invalid --label {quote(item)}: expected KEY=VALUE")
        if len(key.encode()) + len(value.encode()) > LABEL_MAX:
            raise InvalidArgumentError(f"invalid --label {quote(item)}: key and value are "
                                       f"longer than {LABEL_MAX} bytes together")
        labels[key] = value
    return labels


def check_options(command: Sequence[str], *, image: str | None, entrypoint: str | None,
                  rootfs: str | None, bundle: str | None,
                  env: Sequence[str], cwd: str | None, user: str | None,
                  hostname: str | None, mount: Sequence[str], label: Sequence[str]) -> None:
    """The text of every container option, before any of it is used (pytasks.cli.checks)."""
    from pytasks.cli import checks
    from pytasks.errors import InvalidArgumentError
    from pytasks.ids import quote

    checks.texts(command, "argument")
    for option, value in (("--rootfs", rootfs), ("--bundle", bundle)):
        if value is not None:
            checks.path(value, option)
    for option, value in (("--cwd", cwd), ("--user", user), ("--hostname", hostname),
                          ("--image", image), ("--entrypoint", entrypoint)):
        if value is not None:
            checks.text(value, option)
    if hostname is not None and len(hostname.encode()) > HOSTNAME_MAX:
        raise InvalidArgumentError(f"invalid --hostname {quote(hostname)}: longer than "
                                   f"{HOSTNAME_MAX} bytes")
    for option, values in (("--env", env), ("--mount", mount), ("--label", label)):
        checks.texts(values, option)


def build_container(
    app: App,
    container_id: str,
    command: Sequence[str],
    *,
    image: str | None = None,
    entrypoint: str | None = None,
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
    from pytasks import spec
    from pytasks.errors import InvalidArgumentError

    # The id is checked by the container store, before anything is written.
    check_options(command, image=image, entrypoint=entrypoint, rootfs=rootfs,
                  bundle=bundle, env=env, cwd=cwd, user=user,
                  hostname=hostname, mount=mount, label=label)
    if rootfs is not None and bundle is not None:
        raise InvalidArgumentError("--rootfs and --bundle are mutually exclusive")
    if image is not None and (rootfs is not None or bundle is not None):
        raise InvalidArgumentError("--image cannot be used with --rootfs or --bundle")
    labels = parse_labels(label)
    args = list(command)
    if args[:1] == ["--"]:  # `ID -- CMD...`: options already stopped at ID, so click kept it
        args = args[1:]
    if entrypoint is not None and image is None:
        raise InvalidArgumentError("--entrypoint needs --image")
    if image is not None:
        return _image_container(app, container_id, image, args, entrypoint, env=env,
                                cwd=cwd, user=user, hostname=hostname, mount=mount,
                                readonly=readonly, net_host=net_host, labels=labels,
                                terminal=terminal)
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
    # Names in --user are looked up in the root the container gets; the host-tools root
    # is the host's own /etc, read-only.
    user_root = base["root"]["path"] if record_rootfs["kind"] != "host-tools" else "/"
    final = spec.apply_overrides(
        base, args=args, env=env, cwd=cwd, user=user, user_root=user_root,
        hostname=hostname, mounts=mount,
        # a bundle keeps its own root.readonly unless --readonly is given
        readonly=True if readonly else (None if bundle is not None else False),
        net_host=net_host, terminal=terminal,
    )
    if not final.get("process", {}).get("args"):
        raise InvalidArgumentError(f"container {container_id}: no command (give CMD)")
    return app.containers.create(container_id, spec=final, rootfs=record_rootfs,
                                 runtime=app.runtime, labels=labels)


def _entrypoint(text: str) -> list[str]:
    """podman's --entrypoint: a JSON array of strings, else one command ('' clears)."""
    import json

    from pytasks.errors import InvalidArgumentError

    if text.startswith("["):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise InvalidArgumentError(f"invalid --entrypoint {text!r}: not a JSON array "
                                       "of strings")
        return value
    return [text] if text else []


def _image_container(app: App, container_id: str, ref: str, args: list[str],
                     entrypoint: str | None, *,
                     env: Sequence[str], cwd: str | None, user: str | None,
                     hostname: str | None, mount: Sequence[str], readonly: bool,
                     net_host: bool, labels: dict[str, str], terminal: bool
                     ) -> dict[str, Any]:
    """A container of an image, as podman makes one: Entrypoint + (CMD or the image's
    Cmd), the image's Env under --env, WorkingDir unless --cwd, User unless --user (names
    from the image's own /etc/passwd and /etc/group). Its root is the overlay of the
    image's snapshots that Create mounts (docs/architecture.md §9)."""
    import tempfile

    from pytasks import ids, spec
    from pytasks.errors import InvalidArgumentError
    from pytasks.images import ImageProcess, Images, account_files

    ids.validate(container_id, "container id")
    images = Images(app.layout)
    record = images.get(ref)
    process = ImageProcess(images.config(record))
    if entrypoint is not None:
        from pytasks.cli import checks

        checks.text(entrypoint, "--entrypoint")
        process.entrypoint = _entrypoint(entrypoint)
    base = spec.default_spec(process.args(args) or ["sh"])
    if process.env:
        base["process"]["env"] = list(process.env)
    base["process"]["cwd"] = process.cwd
    chosen_user = user if user is not None else (process.user or None)
    with tempfile.TemporaryDirectory(prefix="pytasks-accounts-") as view:
        if chosen_user is not None:
            from pytasks import accounts

            if accounts.needs_root(chosen_user):
                account_files(app.layout, record["chain_ids"], view)
        final = spec.apply_overrides(
            base, args=None, env=env, cwd=cwd, user=chosen_user, user_root=view,
            hostname=hostname if hostname is not None else container_id, mounts=mount,
            readonly=readonly, net_host=net_host, terminal=terminal)
    if not final.get("process", {}).get("args"):
        raise InvalidArgumentError(f"container {container_id}: image {record['name']} has "
                                   "no Entrypoint or Cmd (give CMD)")
    final["root"]["path"] = "rootfs"  # the task's own mount point, set at Create
    rootfs = {"kind": "image", "path": app.layout.upper_dir(container_id),
              "snapshots": list(record["chain_ids"])}
    return app.containers.create(container_id, spec=final, rootfs=rootfs,
                                 runtime=app.runtime, labels=labels, image=record["name"])
