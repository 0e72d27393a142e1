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


def quiet_option(f: Any) -> Any:
    import click

    return click.option("-q", "--quiet", is_flag=True,
                        help="Print only the ids, one per line.")(f)
