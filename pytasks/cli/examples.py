"""The `Examples:` block that ends a verb's help, read back out of the help text (for the
man pages' EXAMPLES section and the test that every verb has one).

The block is a click paragraph kept unwrapped by \\b: a line `Examples:` and one indented
command line per example, last in the docstring.
"""

from __future__ import annotations

import inspect

HEADING = "Examples:"


def split(help_text: str) -> tuple[str, list[str]]:
    """(the help without its Examples block, the example command lines)."""
    text = inspect.cleandoc(help_text.split("\f")[0])
    kept: list[str] = []
    found: list[str] = []
    for para in text.split("\n\n"):
        lines = para.lstrip("\b").strip("\n").splitlines()
        if lines and lines[0].strip() == HEADING:
            found.extend(raw.strip() for raw in lines[1:] if raw.strip())
        else:
            kept.append(para)
    return "\n\n".join(kept), found
