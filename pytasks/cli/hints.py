"""The next step, added to an error line where the CLI knows one (issue: an error should
say what to do, not only what is wrong). The Engine's messages stay free of CLI advice,
since gRPC clients read them too; this table is the one place that adds it."""

from __future__ import annotations

# (how the message starts, the advice that follows it in parentheses)
HINTS: tuple[tuple[str, str], ...] = (
    ("cannot delete task in running state", "use 'pytasks delete -f' to kill it first"),
    ("cannot delete task in paused state", "use 'pytasks delete -f' to kill it first"),
    ("cannot start task in stopped state",
     "delete it, then create or run it again"),
    ("cannot start task in running state", "it is running already"),
    ("cannot pause task in stopped state", "it has exited; see 'pytasks wait'"),
    ("cannot resume task in running state", "it is not paused"),
    ("cannot resume task in stopped state", "it has exited; see 'pytasks wait'"),
    ("cannot exec task in stopped state", "it has exited; start a new task to run more"),
)


def with_hint(message: str) -> str:
    for start, advice in HINTS:
        if message.startswith(start) and "(" not in message[len(start):]:
            return f"{message} ({advice})"
    return message
