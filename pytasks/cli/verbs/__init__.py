"""One module per verb: its click-free body and `command()`, which builds its click command.

The body is what both doors call: the fast path (fast.py, through the generated table in
fast_table.py) and the click command; `command()` imports click only when it is called, so
the fast path never pays for it. Parameter names are click's, so one `**params` fits both.
"""

from __future__ import annotations

# verb -> its module (pytasks/cli/verbs/), whose command() builds the click command.
# Aliases point at the same command (ctr style).
COMMANDS: dict[str, str] = {
    "containers": "pytasks.cli.verbs.containers",
    "create": "pytasks.cli.verbs.create",
    "start": "pytasks.cli.verbs.start",
    "delete": "pytasks.cli.verbs.delete",
    "get": "pytasks.cli.verbs.get",
    "list": "pytasks.cli.verbs.list",
    "kill": "pytasks.cli.verbs.kill",
    "wait": "pytasks.cli.verbs.wait",
    "run": "pytasks.cli.verbs.run",
    "exec": "pytasks.cli.verbs.exec",
    "delete-process": "pytasks.cli.verbs.delete_process",
    "resize-pty": "pytasks.cli.verbs.resize_pty",
    "close-io": "pytasks.cli.verbs.close_io",
    "attach": "pytasks.cli.verbs.attach",
    "logs": "pytasks.cli.verbs.logs",
    "pause": "pytasks.cli.verbs.pause",
    "resume": "pytasks.cli.verbs.resume",
    "ps": "pytasks.cli.verbs.ps",
    "stats": "pytasks.cli.verbs.stats",
    "update": "pytasks.cli.verbs.update",
    "gc": "pytasks.cli.verbs.gc",
    "stop": "pytasks.cli.verbs.stop",
    "inspect": "pytasks.cli.verbs.inspect",
    "events": "pytasks.cli.verbs.events",
    "help": "pytasks.cli.verbs.help",
    "content": "pytasks.cli.verbs.content",
    "checkpoint": "pytasks.cli.verbs.checkpoint",
    "checkpoints": "pytasks.cli.verbs.checkpoints",
    "images": "pytasks.cli.verbs.images",
}
ALIASES: dict[str, str] = {
    "c": "containers",
    "container": "containers",
    "rm": "delete",
    "del": "delete",
    "info": "get",
    "ls": "list",
}
