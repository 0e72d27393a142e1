"""The root command group: global options, a lazy verb table, and the one exit path.

Command modules import only click at top level; everything heavier is imported inside the
callback, so `pytasks --help` and light verbs stay close to interpreter start-up cost.
"""

from __future__ import annotations

import importlib
import os
import sys
from typing import Any

import click

# verb -> "module:attribute". Aliases point at the same command (ctr style).
COMMANDS: dict[str, str] = {
    "containers": "pytasks.cli.containers:command",
    "create": "pytasks.cli.create:command",
    "start": "pytasks.cli.start:command",
    "delete": "pytasks.cli.delete:command",
    "get": "pytasks.cli.get:command",
    "list": "pytasks.cli.list:command",
    "kill": "pytasks.cli.kill:command",
    "wait": "pytasks.cli.wait:command",
    "run": "pytasks.cli.run:command",
    "exec": "pytasks.cli.exec:command",
    "delete-process": "pytasks.cli.delete_process:command",
    "resize-pty": "pytasks.cli.resize_pty:command",
    "close-io": "pytasks.cli.close_io:command",
    "attach": "pytasks.cli.attach:command",
    "logs": "pytasks.cli.logs:command",
    "pause": "pytasks.cli.pause:command",
    "resume": "pytasks.cli.resume:command",
    "ps": "pytasks.cli.ps:command",
    "stats": "pytasks.cli.stats:command",
    "update": "pytasks.cli.update:command",
}
ALIASES: dict[str, str] = {
    "c": "containers",
    "container": "containers",
    "rm": "delete",
    "del": "delete",
    "info": "get",
    "ls": "list",
}


class LazyGroup(click.Group):
    """Imports a verb's module only when that verb runs (click docs, 'Lazily Loading')."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        name = ALIASES.get(cmd_name, cmd_name)
        target = COMMANDS.get(name)
        if target is None:
            return None
        module_name, attr = target.split(":")
        return getattr(importlib.import_module(module_name), attr)

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
                   "$XDG_DATA_HOME/pytasks when not root).")
@click.option("--state", envvar="PYTASKS_STATE", metavar="DIR",
              help="Volatile task state (default /run/pytasks; "
                   "$XDG_RUNTIME_DIR/pytasks when not root).")
@click.option("-n", "--namespace", envvar="PYTASKS_NAMESPACE", default="default",
              show_default=True, help="Namespace separating tenants on this host.")
@click.option("--runtime", envvar="PYTASKS_RUNTIME", default="runc", show_default=True,
              metavar="runc|crun|PATH", help="OCI runtime binary.")
@click.option("--debug", is_flag=True, envvar="PYTASKS_DEBUG",
              help="Show tracebacks and runtime debug output.")
@click.version_option(package_name="pytasks", message="pytasks %(version)s")
@click.pass_context
def cli(ctx: click.Context, root: str | None, state: str | None, namespace: str,
        runtime: str, debug: bool) -> None:
    """pytasks: run and manage container tasks (the containerd Tasks API) without a daemon.

    Each task verb maps to one Tasks RPC. Exit codes: 0 ok, 1 runtime/internal failure,
    2 invalid argument, 3 not found, 4 already exists, 5 failed precondition (wrong state),
    6 unavailable, 7 permission denied, 8 unimplemented, 126 command cannot be executed,
    127 command not found, 130 interrupted. Attached verbs (run, exec, attach, wait) exit
    with the process's own status; 125 means pytasks itself failed.
    """
    from pytasks.cli.app import App

    ctx.obj = App(root=root, state=state, namespace=namespace, runtime=runtime, debug=debug)


def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("PYTASKS_DEBUG", "") not in ("", "0", "false")


def main(argv: list[str] | None = None) -> None:
    """Entry point: the only place that turns errors into messages and exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    sys.exit(execute(args))


def execute(args: list[str]) -> int:
    """Run the CLI on args and return the exit code (tests call this in-process)."""
    from pytasks.errors import ExitCode, PytasksError

    try:
        result: Any = cli.main(args=args, prog_name="pytasks", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except click.UsageError as exc:
        hint = f" (see 'pytasks {exc.ctx.command_path.partition(' ')[2]} --help')".replace(
            "pytasks  --help", "pytasks --help") if exc.ctx else ""
        _say(f"{exc.format_message()}{hint}")
        return ExitCode.INVALID_ARGUMENT
    except click.ClickException as exc:
        _say(exc.format_message())
        return exc.exit_code
    except (click.Abort, KeyboardInterrupt):
        _say("interrupted")
        return ExitCode.INTERRUPTED
    except PytasksError as exc:
        if _debug_requested(args):
            import traceback

            traceback.print_exc()
        _say(str(exc))
        return int(exc.exit_code)
    except BrokenPipeError:
        # The reader of our stdout went away (e.g. `pytasks list | head`): not an error.
        try:
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - silence the flush at exit
        except OSError:
            pass
        return ExitCode.OK
    except Exception as exc:
        if _debug_requested(args):
            import traceback

            traceback.print_exc()
        _say(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)")
        return ExitCode.FAILURE
    return int(result) if isinstance(result, int) else ExitCode.OK


def _say(message: str) -> None:
    sys.stderr.write(f"pytasks: {message}\n")
    sys.stderr.flush()
