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
    from pytasks.resources import MAX_MEMORY

    value = text.strip().lower()
    if value in ("-1", "max", "unlimited"):
        return -1
    for tail in ("ib", "b"):
        if value.endswith(tail) and len(value) > len(tail) and value[-len(tail) - 1].isalpha():
            value = value[:-len(tail)]  # "64mib"/"64mb" -> "64m"; a bare "64b" stays
            break
    number, suffix = (value[:-1], value[-1]) if value and value[-1].isalpha() else (value, "")
    if suffix not in _SUFFIXES:
        raise ValueError(f"unknown size suffix in {_shown(text)} (use k, m, g or t)")
    # Plain decimals only: float() would also take "nan", "inf", "1e400" and "1_0", and
    # loses the exact figure of a byte count above 2**53.
    whole, _, fraction = number.partition(".")
    if not (whole or fraction) or not all(p.isascii() and p.isdigit() for p in
                                          (whole or "0", fraction or "0")):
        raise ValueError(f"{_shown(text)} is not a size (e.g. 64m, 1g, 1048576)")
    if len(whole.lstrip("0")) > len(str(MAX_MEMORY)) or len(fraction) > 30:
        # int() of thousands of digits is refused (or slow) before any comparison.
        raise ValueError(f"size {_shown(text)} is too large: at most {MAX_MEMORY} bytes")
    scale = _SUFFIXES[suffix]
    amount = int(whole or "0") * scale + int(fraction or "0") * scale // 10 ** len(fraction)
    if amount <= 0:
        raise ValueError(f"size {_shown(text)} must be positive (or -1 for unlimited)")
    if amount > MAX_MEMORY:
        raise ValueError(f"size {_shown(text)} is too large: at most {MAX_MEMORY} bytes")
    return amount


def _shown(text: str) -> str:
    from pytasks.ids import quote

    return quote(text)


def command() -> click.Command:
    import click

    from pytasks.cli.complete import complete_tasks
    from pytasks.cli.options import finite_float
    from pytasks.resources import MAX_CPUS, MAX_PIDS

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
    @click.option("--cpus", type=finite_float(0, MAX_CPUS), default=None, metavar="N",
                  help="CPU quota as a number of CPUs (1.5 = one and a half); 0 = unlimited.")
    @click.option("--pids-limit", type=click.IntRange(-1, MAX_PIDS), default=None,
                  metavar="N", help="Maximum number of processes; 0 or -1 = unlimited.")
    @click.argument("container", shell_complete=complete_tasks)
    @click.pass_obj
    def update_command(app: App, memory: int | None, cpus: float | None,
                       pids_limit: int | None, container: str) -> int:
        """Change the resource limits of a created, running or paused task.

        The kernel enforces the new limits at once: a task above its new memory limit is
        OOM-killed (exit status 137). `pytasks stats` shows the limits in effect.

        \b
        Examples:
          pytasks update --memory 64m web
          pytasks update --cpus 1.5 --pids-limit 100 web
        """
        return update(app, memory, cpus, pids_limit, container)

    return update_command
