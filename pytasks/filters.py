"""containerd's filter syntax for ListTasksRequest.filter. Stdlib only.

A filter is zero or more selectors joined by "," and all of them must match::

    filter   := selector ("," selector)*          (empty or blank: match everything)
    selector := field [operator value]            (bare field: present and non-empty)
    operator := "==" | "!=" | "~="                (~= is re.search, unanchored like Go's)
    value    := quoted | [^\\s,]+
    quoted   := "..." (Go escapes) | /.../ or |...| (regex literal)
                (a value that starts with "/" but does not end at the closing "/" is
                 bare: topic==/tasks/exit)

Fields are id, container_id, pid, status (`events --filter`: topic, id, namespace).
status compares case-insensitively and its value must be a known status; pid compares as
a string (pid==042 does not match 42).

Where this differs from containerd's parser, it is stricter or friendlier, never looser in
meaning:
- "|" outside a quoted value is refused: one filter string has no OR (containerd ORs
  separate filter strings, and reads "a|b" as the literal value "a|b", matching nothing).
- /.../ and |...| keep backslash escapes other than the closing quote as written, so
  /\\d+/ reaches re as \\d+ (containerd rejects \\d as an illegal Go escape).
- An invalid regex or unknown field/status is an error here, not a silent non-match.
- The one field path is labels.KEY (list only): the label KEY of the task's container, as
  containerd filters containers; a key with characters outside [A-Za-z0-9_.-] is written
  as a quoted field name ("labels.app/tier"==web).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from pytasks.errors import InvalidArgumentError
from pytasks.lifecycle import Status
from pytasks.plain import Plain
from pytasks.plain import field as plain_field

FIELDS: tuple[str, ...] = ("id", "container_id", "pid", "status")
EVENT_FIELDS: tuple[str, ...] = ("topic", "id", "namespace")  # `events --filter`
LABELS = "labels."  # with FIELDS: labels.KEY, a label of the task's container
# Bounds on what a filter may hold: re compiles nested groups recursively, so a deep
# nesting would end in RecursionError, and no task field is near these sizes anyway.
MAX_LENGTH = 4096     # characters of a whole filter
MAX_REGEX_DEPTH = 64  # nesting of groups in one ~= regex
_SHOWN = 80           # characters of the filter quoted in a message (columns say where)
OPERATORS: tuple[str, ...] = ("==", "!=", "~=")
PRESENT = ""  # the operator of a bare-field selector

_STATUSES = ", ".join(s.label for s in Status)
_FIELD_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_.-")
_OPERATOR_CHARS = frozenset("=!~")
_REGEX_QUOTES = frozenset("/|")
_GO_ESCAPES = {"a": "\a", "b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
               "\\": "\\", '"': '"'}
_OR_HINT = ('filters have no OR, all ","-joined selectors must match '
            '(for alternatives use a regex, e.g. id~="^(a|b)$")')


def _q(text: str) -> str:
    """Quote like Go's %q so messages stay one line whatever the input holds; a byte that
    was not UTF-8 (argv's surrogate escape) is shown as the \\xNN typed, since a
    surrogate cannot be written to a UTF-8 terminal."""
    quoted = json.dumps(text, ensure_ascii=False)
    if not quoted.isascii():
        quoted = "".join(c if not 0xD800 <= ord(c) <= 0xDFFF
                         else f"\\x{ord(c) - 0xDC00:02x}" if 0xDC80 <= ord(c) <= 0xDCFF
                         else f"\\u{ord(c):04x}" for c in quoted)
    return quoted


class Selector(Plain, frozen=True):
    field: str
    op: str  # one of OPERATORS, or PRESENT
    value: str = ""
    # Follows from value: not compared or shown.
    regex: re.Pattern[str] | None = plain_field(default=None, compare=False)

    def match(self, fields: Mapping[str, str]) -> bool:
        # As in containerd: == needs the field present; != and ~= read an absent one as "".
        actual = fields.get(self.field)
        if self.op == PRESENT:
            return bool(actual)
        if self.op == "==":
            return actual is not None and self._equal(actual)
        if self.op == "!=":
            return not self._equal(actual or "")
        assert self.regex is not None  # parse() compiles every ~= selector
        return self.regex.search(actual or "") is not None

    def _equal(self, actual: str) -> bool:
        if self.field == "status":
            return actual.upper() == self.value.upper()
        return actual == self.value


class Filter(Plain, frozen=True):
    """A parsed filter; the empty filter (no selectors) matches everything."""

    text: str = ""
    selectors: tuple[Selector, ...] = ()

    def match(self, fields: Mapping[str, str]) -> bool:
        return all(s.match(fields) for s in self.selectors)

    @property
    def wants_labels(self) -> bool:
        """A selector names a label: the caller must supply labels.KEY fields."""
        return any(s.field.startswith(LABELS) for s in self.selectors)

    def __str__(self) -> str:
        return self.text


MATCH_ALL = Filter()


def parse(text: str, fields: tuple[str, ...] = FIELDS) -> Filter:
    """Parse a filter string over fields; raise InvalidArgumentError with a one-line
    message."""
    if not text.strip():
        return MATCH_ALL
    if len(text) > MAX_LENGTH:
        raise InvalidArgumentError(f"invalid filter {_q(text[:_SHOWN])}...: {len(text)} "
                                   f"characters long; at most {MAX_LENGTH} allowed")
    return Filter(text, _Parser(text, fields).selectors())


def regex_depth(pattern: str) -> int:
    """How deeply pattern nests its groups: "(" outside a [...] class and not escaped."""
    depth = deepest = 0
    i, n = 0, len(pattern)
    while i < n:
        ch = pattern[i]
        if ch == "\\":
            i += 2
            continue
        if ch == "[":
            # A class ends at the first "]" not right after "[" or "[^"; escapes skip.
            i += 2 if pattern[i + 1:i + 2] == "^" else 1
            if pattern[i:i + 1] == "]":
                i += 1
            while i < n and pattern[i] != "]":
                i += 2 if pattern[i] == "\\" else 1
        elif ch == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif ch == ")":
            depth = max(depth - 1, 0)
        i += 1
    return deepest


class _Parser:
    """A hand-written scanner/parser over the text; columns in messages are 1-based."""

    def __init__(self, text: str, fields: tuple[str, ...] = FIELDS) -> None:
        self.text = text
        self.pos = 0
        self.fields = fields

    def fail(self, detail: str) -> InvalidArgumentError:
        shown = _q(self.text[:_SHOWN]) + ("..." if len(self.text) > _SHOWN else "")
        return InvalidArgumentError(f"invalid filter {shown}: {detail}")

    def no_or(self) -> InvalidArgumentError:
        return self.fail(f'"|" at column {self.pos + 1}: {_OR_HINT}')

    def found(self) -> str:
        if self.pos >= len(self.text):
            return "end of input"
        return f"{_q(self.text[self.pos])} at column {self.pos + 1}"

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_space(self) -> None:
        while self.pos < len(self.text) and self.text[self.pos].isspace():
            self.pos += 1

    def selectors(self) -> tuple[Selector, ...]:
        out = [self.selector()]
        while True:
            self.skip_space()
            ch = self.peek()
            if not ch:
                return tuple(out)
            if ch == "|":
                raise self.no_or()
            if ch != ",":
                raise self.fail(f'expected "," or end of input, found {self.found()}')
            self.pos += 1
            out.append(self.selector())

    def selector(self) -> Selector:
        name = self.field_name()
        self.skip_space()
        if self.peek() in ("", ",", "|"):
            return Selector(name, PRESENT)
        op = self.operator()
        return self.build(name, op, self.value(op))

    def field_name(self) -> str:
        self.skip_space()
        start = self.pos
        ch = self.peek()
        if ch == '"':  # containerd allows quoted field names
            name = self.quoted()
        else:
            while self.pos < len(self.text) and self.text[self.pos] in _FIELD_CHARS:
                self.pos += 1
            name = self.text[start:self.pos]
            if not name:
                if ch == "|":
                    raise self.no_or()
                raise self.fail(f"expected a field name, found {self.found()}")
            nxt = self.peek()
            if nxt and not nxt.isspace() and nxt not in _OPERATOR_CHARS and nxt not in ",|":
                raise self.fail(f"unexpected {self.found()} in field name {_q(name + nxt)}")
        labelled = self.fields is FIELDS and name.startswith(LABELS) and len(name) > len(LABELS)
        if name not in self.fields and not labelled:
            shown = ", ".join((*self.fields, LABELS + "KEY") if self.fields is FIELDS
                              else self.fields)
            raise self.fail(f"unknown field {_q(name)} (fields: {shown})")
        return name

    def operator(self) -> str:
        start = self.pos
        while self.pos < len(self.text) and self.text[self.pos] in _OPERATOR_CHARS:
            self.pos += 1
        op = self.text[start:self.pos]
        if not op:
            raise self.fail(f'expected an operator (==, != or ~=), found {self.found()}')
        if op not in OPERATORS:
            raise self.fail(f"unsupported operator {_q(op)} at column {start + 1} "
                            "(operators: ==, != or ~=)")
        return op

    def value(self, op: str) -> str:
        self.skip_space()
        ch = self.peek()
        start = self.pos
        if ch == '"' or ch == "|":
            return self.quoted()
        if ch == "/":
            # /.../ quotes a value only when the closing slash ends it; otherwise the
            # slash is the value's own first character (a topic: topic==/tasks/exit).
            quoted = self.quoted()
            if self.pos >= len(self.text) or self.peek() == "," \
                    or self.text[self.pos].isspace():
                return quoted
            self.pos = start
        while self.pos < len(self.text) and not self.text[self.pos].isspace() \
                and self.text[self.pos] != ",":
            if self.text[self.pos] == "|":
                raise self.no_or()
            self.pos += 1
        if start == self.pos:
            raise self.fail(f'missing value after "{op}" (use "" for an empty value), '
                            f"found {self.found()}")
        return self.text[start:self.pos]

    def quoted(self) -> str:
        """Scan a quoted string at self.pos: Go escapes in "...", regex text in /.../ |...|."""
        quote, start = self.text[self.pos], self.pos
        self.pos += 1
        out: list[str] = []
        while True:
            if self.pos >= len(self.text):
                raise self.fail(f"unterminated quoted string starting at column {start + 1}")
            ch = self.text[self.pos]
            self.pos += 1
            if ch == quote:
                return "".join(out)
            if ch != "\\":
                out.append(ch)
            elif self.pos >= len(self.text):
                continue  # a trailing backslash: reported as unterminated above
            elif quote in _REGEX_QUOTES:
                # Only the closing quote is unescaped; the rest is for re to read.
                nxt = self.text[self.pos:self.pos + 1]
                if nxt == quote:
                    out.append(quote)
                    self.pos += 1
                else:
                    out.append("\\")
            else:
                out.append(self.go_escape())

    def go_escape(self) -> str:
        """Decode the Go string escape after a backslash (strconv.Unquote's set)."""
        import string

        at = self.pos - 1
        ch = self.text[self.pos:self.pos + 1]
        if ch in _GO_ESCAPES:
            self.pos += 1
            return _GO_ESCAPES[ch]
        if ch and ch in string.octdigits:  # \ooo: exactly three octal digits, at most 255
            count, digits, skip = 3, string.octdigits, 0
        else:  # \xhh, \uhhhh, \Uhhhhhhhh
            count, digits, skip = {"x": 2, "u": 4, "U": 8}.get(ch, 0), string.hexdigits, 1
        chunk = self.text[self.pos + skip:self.pos + skip + count]
        if count and len(chunk) == count and all(c in digits for c in chunk):
            code = int(chunk, 8 if digits is string.octdigits else 16)
            if code <= (255 if count == 3 else 0x10FFFF) and not 0xD800 <= code <= 0xDFFF:
                self.pos += skip + count
                return chr(code)
        # Show the backslash, the escape letter and the digits that were valid, nothing more.
        end = self.pos + skip
        while end < min(len(self.text), self.pos + skip + count) and self.text[end] in digits:
            end += 1
        shown = self.text[at:end]
        raise self.fail(f"invalid escape {_q(shown)} in quoted string at column {at + 1}")

    def build(self, name: str, op: str, value: str) -> Selector:
        if op == "~=":
            # status is case-insensitive everywhere, so its regexes are too.
            flags = re.IGNORECASE if name == "status" else 0
            if regex_depth(value) > MAX_REGEX_DEPTH:
                raise self.fail(f"regular expression for {name} nests groups more than "
                                f"{MAX_REGEX_DEPTH} deep")
            try:
                regex = re.compile(value, flags)
            except (re.error, OverflowError, RecursionError) as exc:
                # OverflowError: a repeat count beyond re's limit ("a{99999999999}").
                raise self.fail(f"invalid regular expression {_q(value)} for {name}: "
                                f"{exc}") from None
            return Selector(name, op, value, regex)
        if name == "status" and value.upper() not in Status.__members__:
            raise self.fail(f"unknown status {_q(value)} (statuses: {_STATUSES})")
        return Selector(name, op, value)
