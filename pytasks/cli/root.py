"""The click side of the CLI: the root group with its global options and the lazy verb
table. Every form the fast path (fast.py) does not take ends up here."""

from __future__ import annotations

import importlib

import click

from pytasks.cli.complete import complete_namespaces, complete_runtimes
from pytasks.cli.verbs import ALIASES, COMMANDS

_BUILT: dict[str, click.Command] = {}  # one click command per verb and process


class LazyGroup(click.Group):
    """Imports a verb's module only when that verb runs (click docs, 'Lazily Loading')."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            # Here, not in cli/__init__'s handler: click would catch it first and exit 1.
            from pytasks.cli.output import reader_gone

            return reader_gone()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = ALIASES.get(cmd_name, cmd_name)
        module = COMMANDS.get(name)
        if module is None:
            return None
        if name not in _BUILT:
            _BUILT[name] = importlib.import_module(module).command()
        return _BUILT[name]

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name = args[0] if args else ""
        if name and not name.startswith("-") and self.get_command(ctx, name) is None \
                and not ctx.resilient_parsing:
            import difflib

            near = difflib.get_close_matches(name, [*COMMANDS, *ALIASES], n=1, cutoff=0.6)
            hint = f" Did you mean {ALIASES.get(near[0], near[0])!r}?" if near else ""
            ctx.fail(f"No such command {name!r}.{hint}")
        return super().resolve_command(ctx, args)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Help lists verbs with their short help without importing every module twice.
        super().format_commands(ctx, formatter)
        inverse: dict[str, list[str]] = {}
        for alias, verb in ALIASES.items():
            inverse.setdefault(verb, []).append(alias)
        with formatter.section("Aliases"):
            formatter.write_dl(sorted((v, ", ".join(sorted(a))) for v, a in inverse.items()))


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--root", envvar="PYTASKS_ROOT", metavar="DIR",
              help="Persistent records (default /var/lib/pytasks; "
                   "$XDG_DATA_HOME/pytasks, else ~/.local/share/pytasks, when not "
                   "root).")
@click.option("--state", envvar="PYTASKS_STATE", metavar="DIR",
              help="Volatile task state (default /run/pytasks; "
                   "$XDG_RUNTIME_DIR/pytasks, else /tmp/pytasks-UID, when not root).")
@click.option("-n", "--namespace", envvar="PYTASKS_NAMESPACE", default="default",
              show_default=True, shell_complete=complete_namespaces,
              help="Namespace separating tenants on this host.")
@click.option("--runtime", envvar="PYTASKS_RUNTIME", default="runc", show_default=True,
              metavar="runc|crun|PATH", shell_complete=complete_runtimes,
              help="OCI runtime binary.")
@click.option("--debug", is_flag=True, envvar="PYTASKS_DEBUG",
              help="Show tracebacks and runtime debug output.")
@click.option("--version", is_flag=True, expose_value=False, is_eager=True,
              callback=lambda ctx, _param, value: _print_version(ctx, value),
              help="Show the version, which monitor new tasks get and which CRIU "
                   "checkpoints use, and exit.")
@click.pass_context
def cli(ctx: click.Context, root: str | None, state: str | None, namespace: str,
        runtime: str, debug: bool) -> None:
    """pytasks: run and manage container tasks (the containerd Tasks API) without a daemon.

    Each task verb maps to one Tasks RPC. Exit codes: 0 ok, 1 runtime/internal failure,
    2 invalid argument, 3 not found, 4 already exists, 5 failed precondition (wrong state),
    6 unavailable, 7 permission denied, 8 unimplemented, 126 command cannot be executed,
    127 command not found, 130 interrupted. Attached verbs (run, exec, attach, wait) exit
    with the process's own status; 125 means pytasks itself failed.

    \b
    Examples:
      pytasks run -d --rootfs /srv/busybox web -- httpd -f
      pytasks -n staging list
    """
    from pytasks.cli.app import App

    ctx.obj = App(root=root, state=state, namespace=namespace, runtime=runtime, debug=debug)


def _print_version(ctx: click.Context, value: bool) -> None:
    if not value or ctx.resilient_parsing:
        return
    from importlib.metadata import version

    from pytasks.criu import describe as criu_found
    from pytasks.monitor.client import monitor_choice

    click.echo(f"pytasks {version('pytasks')}\nmonitor: {monitor_choice()}\n"
               f"criu: {criu_found()}")
    ctx.exit()
