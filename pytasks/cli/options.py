"""Click options shared by several verbs (--format, -q). Decorators that import click when
applied, so importing this module costs nothing on the fast path."""

from __future__ import annotations

from typing import Any

FORMATS: tuple[str, ...] = ("table", "json")


def format_option(f: Any) -> Any:
    import click

    return click.option(
        "--format", "output_format",
        type=click.Choice(FORMATS, case_sensitive=False), default="table", show_default=True,
        help="Output format: aligned table, or JSON (protobuf JSON mapping of the response).",
    )(f)


def list_format_option(f: Any) -> Any:
    """--format of the verbs that list local records (containers, content, images,
    checkpoints), given to them as `fmt`."""
    import click

    return click.option("--format", "fmt", type=click.Choice(FORMATS, case_sensitive=False),
                        default="table", show_default=True, help="Output format.")(f)


def quiet_option(f: Any) -> Any:
    import click

    return click.option("-q", "--quiet", is_flag=True,
                        help="Print only the ids, one per line.")(f)


def pid_type(minimum: int) -> Any:
    """A pid argument or option: minimum (0 where 0 names the task's init) to PID_MAX."""
    import click

    from pytasks.cli.checks import PID_MAX

    return click.IntRange(minimum, PID_MAX)


def finite_float(minimum: float, maximum: float) -> Any:
    """click.FloatRange refusing NaN too (it compares false with both bounds, so the range
    alone lets it through); infinities are outside any finite range already."""
    import math

    import click

    class FiniteFloatRange(click.FloatRange):
        def convert(self, value: Any, param: click.Parameter | None,
                    ctx: click.Context | None) -> Any:
            number = super().convert(value, param, ctx)
            if math.isnan(number):
                self.fail(f"{value!r} is not a number", param, ctx)
            return number

    return FiniteFloatRange(minimum, maximum)
