"""The entry point: the verb table, the two doors (fast path, click) and the one exit path.

The everyday forms of the everyday verbs (run -d, exec, delete, kill, pause, resume, ps,
get, list, wait, start, containers delete, checkpoint) are parsed by fast.py without importing
click, which costs more than the rest of such a call; everything else, and every form fast.py is
not sure of, goes to the click group in root.py. Both doors call the same verb bodies
(pytasks/cli/verbs/<verb>.py), so they cannot drift apart. fast.py's table is generated from
the click commands (scripts/gen-fast-table); a test fails when it is stale, and another
checks that both doors parse alike.
"""

from __future__ import annotations

import os
import sys

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

def _debug_requested(argv: list[str]) -> bool:
    return "--debug" in argv or os.environ.get("PYTASKS_DEBUG", "") not in ("", "0", "false")


def main(argv: list[str] | None = None) -> None:
    """Entry point: the only place that turns errors into messages and exit codes."""
    args = list(sys.argv[1:] if argv is None else argv)
    # A closed stdout or stderr (`pytasks list >&-`) discards what would go there, as a
    # reader that went away does; it never turns into an internal error.
    if sys.stdout is None:
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115 - lives until exit
    code = execute(args)
    # Exit without the interpreter's teardown (module and object finalisation,
    # on every call); our output is flushed first, and nothing else needs finalising.
    try:
        sys.stdout.flush()
    except (BrokenPipeError, ValueError):
        pass  # the reader went away (`pytasks list | head`): not an error
    except OSError:
        code = code or 1
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)


def execute(args: list[str]) -> int:
    """Run the CLI on args and return the exit code (tests call this in-process)."""
    from pytasks.cli import fast

    call = fast.parse(args, os.environ)
    return _guarded(args, call if call is not None else lambda: _click(args))


def _click(args: list[str]) -> int:
    import click

    from pytasks.cli.root import cli
    from pytasks.errors import ExitCode

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
    except click.Abort:
        _say("interrupted")
        return ExitCode.INTERRUPTED
    return int(result) if isinstance(result, int) else ExitCode.OK


def _guarded(args: list[str], call: Any) -> int:
    """Errors become one line on stderr and a documented exit code (--debug: traceback)."""
    from pytasks.errors import ExitCode, PytasksError

    try:
        result = call()
    except KeyboardInterrupt:
        _say("interrupted")
        return ExitCode.INTERRUPTED
    except PytasksError as exc:
        if _debug_requested(args):
            import traceback

            traceback.print_exc()
        from pytasks.cli.hints import with_hint

        _say(with_hint(str(exc)))
        return int(exc.exit_code)
    except BrokenPipeError:
        from pytasks.cli.output import reader_gone

        return reader_gone()
    except PermissionError as exc:  # anywhere under the roots: exit 7, never "internal"
        from pytasks.errors import permission_denied

        if _debug_requested(args):
            import traceback

            traceback.print_exc()
        denied = permission_denied(exc)
        _say(str(denied))
        return int(denied.exit_code)
    except Exception as exc:
        if _debug_requested(args):
            import traceback

            traceback.print_exc()
        _say(f"internal error: {type(exc).__name__}: {exc} (rerun with --debug for details)")
        return ExitCode.FAILURE
    return int(result) if isinstance(result, int) else ExitCode.OK


def __getattr__(name: str) -> Any:
    # The click group is built on first use, so the fast path never imports click.
    if name in ("cli", "LazyGroup"):
        from pytasks.cli import root

        return getattr(root, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _say(message: str) -> None:
    if not message.isprintable():
        # click's own messages echo the argument as typed ("Got unexpected extra argument
        # (...)"): a newline or escape sequence in it must not break the one line.
        from pytasks.ids import quote

        message = "".join(c if c.isprintable() else quote(c)[1:-1] for c in message)
    line = f"pytasks: {message}\n"
    try:
        sys.stderr.write(line)
    except UnicodeEncodeError:
        # The last line of defence on the one exit path: a message that slipped past
        # ids.quote still goes out, escaped, instead of raising from the error report.
        encoding = getattr(sys.stderr, "encoding", None) or "utf-8"
        sys.stderr.write(line.encode(encoding, "backslashreplace").decode(encoding))
    sys.stderr.flush()
