"""pytasks update: the Update RPC of the extension service (runtime update of limits)."""

from __future__ import annotations

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click

    from pytasks.cli.app import App

_SUFFIXES = {"": 1, "b": 1, "k": 1024, "m": 1024**2, "g": 1024**3, "t": 1024**4}


def update(app: App, memory: int | None, cpus: float | None, pids_limit: int | None,
           container: str) -> int:
    from pytasks.resources import Limits

    if memory is None and cpus is None and pids_limit is None:
        from pytasks.cli.usage import usage_error

        raise usage_error("update", "nothing to update: give --memory, --cpus or --pids-limit")
    app.engine.update(container, Limits(memory_limit=memory, cpus=cpus,
                                        pids_limit=pids_limit))
    return 0


def parse_size(text: str) -> int:
    """`67108864`, `64m`, `64MiB`, `1g`, `512k` -> bytes (binary units, as docker);
    `-1`, `max` or `unlimited` -> -1."""
    value = text.strip().lower()
    if value in ("-1", "max", "unlimited"):
        return -1
    for tail in ("ib", "b"):
        if value.endswith(tail) and len(value) > len(tail) and value[-len(tail) - 1].isalpha():
            value = value[:-len(tail)]  # "64mib"/"64mb" -> "64m"; a bare "64b" stays
            break
    number, suffix = (value[:-1], value[-1]) if value and value[-1].isalpha() else (value, "")
    if suffix not in _SUFFIXES:
        raise ValueError(f"unknown size suffix in {text!r} (use k, m, g or t)")
    try:
        amount = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a size (e.g. 64m, 1g, 1048576)") from None
    if amount <= 0:
        raise ValueError(f"size {text!r} must be positive (or -1 for unlimited)")
    return int(amount * _SUFFIXES[suffix])


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_tasks

    class SizeType(click.ParamType):
        name = "BYTES"

        def convert(self, value: object, param: click.Parameter | None,
                    ctx: click.Context | None) -> int:
            if isinstance(value, int):
                return value
            try:
                return parse_size(str(value))
            except ValueError as exc:
                self.fail(str(exc), param, ctx)

    @click.command("update")
    @click.option("--memory", type=SizeType(), default=None,
                  help="Memory limit: bytes or with a k/m/g/t suffix (64m, 1g); -1 = "
                       "unlimited. Swap counts against it too, where the kernel accounts "
                       "swap.")
    @click.option("--cpus", type=click.FloatRange(min=0), default=None, metavar="N",
                  help="CPU quota as a number of CPUs (1.5 = one and a half); 0 = unlimited.")
    @click.option("--pids-limit", type=click.IntRange(min=-1), default=None, metavar="N",
                  help="Maximum number of processes; 0 or -1 = unlimited.")
    @click.argument("container", shell_complete=complete_tasks)
    @click.pass_obj
    def update_command(app: App, memory: int | None, cpus: float | None,
                       pids_limit: int | None, container: str) -> int:
        """Change the resource limits of a created, running or paused task.

        The kernel enforces the new limits at once: a task above its new memory limit is
        OOM-killed (exit status 137). `pytasks stats` shows the limits in effect.
        """
        return update(app, memory, cpus, pids_limit, container)

    return update_command
