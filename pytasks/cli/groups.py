"""A click group whose subverbs have aliases (`containers ls`, `content rm`)."""

from __future__ import annotations

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click


def alias_group(aliases: dict[str, str]) -> type[click.Group]:
    """A click.Group class resolving aliases to subverbs, and reporting the subverb's own
    name (e.g. in usage errors), not the alias typed."""
    import click

    class AliasGroup(click.Group):
        def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
            return super().get_command(ctx, aliases.get(cmd_name, cmd_name))

        def resolve_command(
            self, ctx: click.Context, args: list[str]
        ) -> tuple[str | None, click.Command | None, list[str]]:
            _, cmd, rest = super().resolve_command(ctx, args)
            return (cmd.name if cmd else None), cmd, rest

    return AliasGroup
