"""pytasks help [VERB...]: the same text as `pytasks [VERB...] --help` (git's `help`)."""

from __future__ import annotations

# Not typing.TYPE_CHECKING: the hot path never imports typing (docs/architecture.md §8).
TYPE_CHECKING = False
if TYPE_CHECKING:
    import click


def command() -> click.Command:
    import click

    @click.command("help")
    @click.argument("words", nargs=-1, metavar="[VERB [SUBVERB]]")
    @click.pass_context
    def help_command(ctx: click.Context, words: tuple[str, ...]) -> int:
        """Show the help of pytasks, of a verb, or of a subverb.

        \b
        Examples:
          pytasks help
          pytasks help containers create
        """
        root = ctx.find_root()
        command: click.Command = root.command
        context = root
        for word in words:
            if not isinstance(command, click.Group):
                raise click.UsageError(f"{context.command_path} has no subverb {word!r}", root)
            found = command.get_command(context, word)
            if found is None:
                import difflib

                near = difflib.get_close_matches(word, command.list_commands(context), n=1,
                                                 cutoff=0.6)
                hint = f" Did you mean {near[0]!r}?" if near else ""
                raise click.UsageError(f"No such command {word!r}.{hint}", root)
            context = click.Context(found, info_name=found.name, parent=context)
            command = found
        click.echo(command.get_help(context))
        return 0

    return help_command
