"""pytasks.filters: containerd's filter syntax for ListTasksRequest.filter."""

from __future__ import annotations

import pytest

from pytasks import filters
from pytasks.errors import ExitCode, InvalidArgumentError

RUNNING = {"id": "web", "container_id": "web-ctr", "pid": "42", "status": "RUNNING"}
CREATED = {"id": "a,b", "container_id": "c1", "pid": "0", "status": "CREATED"}
NO_PID = {"id": "job.1", "container_id": "c2", "pid": "", "status": "STOPPED"}
PARTIAL = {"id": "x"}  # a mapping without the other keys: absent reads as ""


# (filter, task fields, expected match)
MATCH_CASES = [
    # empty filter matches everything
    ("", RUNNING, True),
    ("   ", PARTIAL, True),
    # equality and inequality
    ("id==web", RUNNING, True),
    ("id==web", CREATED, False),
    ("id!=web", RUNNING, False),
    ("id!=web", CREATED, True),
    ("container_id==web-ctr", RUNNING, True),
    # status is case-insensitive on both sides, for ==, != and ~=
    ("status==running", RUNNING, True),
    ("status==RUNNING", RUNNING, True),
    ("status==Running", {"status": "running"}, True),
    ("status==created", RUNNING, False),
    ("status!=running", RUNNING, False),
    ("status!=running", CREATED, True),
    ("status~=^run", RUNNING, True),
    ("status~=/^(created|paused)$/", CREATED, True),
    ("status~=/^(created|paused)$/", RUNNING, False),
    # pid is compared as a string, not a number
    ("pid==42", RUNNING, True),
    ("pid==042", RUNNING, False),
    ("pid!=0", CREATED, False),
    # bare field: present and non-empty
    ("pid", RUNNING, True),
    ("pid", CREATED, True),  # "0" is non-empty
    ("pid", NO_PID, False),
    ("status", PARTIAL, False),
    # absent fields: == never matches, != and ~= see ""
    ("pid!=42", PARTIAL, True),
    ('pid==""', PARTIAL, False),
    ('pid==""', NO_PID, True),
    ('pid!=""', PARTIAL, False),
    ('pid!=""', NO_PID, False),
    ('pid!=""', RUNNING, True),
    ("pid~=^$", PARTIAL, True),
    # AND of selectors, whitespace around tokens ignored
    ("id==web,status==running", RUNNING, True),
    ("id==web,status==stopped", RUNNING, False),
    ("  id ==  web ,  pid , status != stopped  ", RUNNING, True),
    # quoted values: commas, spaces and escapes are kept
    ('id=="a,b"', CREATED, True),
    ('id=="a,b",pid==0', CREATED, True),
    ('id=="a\\x2cb"', CREATED, True),
    ('id=="\\u0061,b"', CREATED, True),
    ('id=="\\141,b"', CREATED, True),
    ('id=="a \\"b\\""', {"id": 'a "b"'}, True),
    ('id=="tab\\there"', {"id": "tab\there"}, True),
    ('"id"==web', RUNNING, True),  # quoted field names, as containerd allows
    # bare values may contain punctuation except "," and "|"
    ("id==job.1", NO_PID, True),
    ("id==a=b", {"id": "a=b"}, True),
    # regexes: re.search (unanchored), /slash/ and |pipe| quoting, escapes reach re
    ("id~=eb", RUNNING, True),
    ("id~=^eb", RUNNING, False),
    ("container_id~=/^c\\d+$/", CREATED, True),
    ("container_id~=/^c\\d+$/", RUNNING, False),
    ("id~=/^job\\.1$/", NO_PID, True),
    ("id~=/^job\\.1$/", {"id": "jobx1"}, False),
    ("id~=/a\\/b/", {"id": "xa/by"}, True),
    ("id~=|^(web\\|db)$|", RUNNING, True),  # inside |...|, \| is a literal "|"
    ("id~=|^(web\\|db)$|", CREATED, False),
    ('id~="^(a,b|web)$"', CREATED, True),
    ("id~=/^(a,b|zzz)$/", CREATED, True),
    ("id==/web/", RUNNING, True),  # slash quoting is allowed for any value
]


@pytest.mark.parametrize(("text", "fields", "expected"), MATCH_CASES)
def test_match(text: str, fields: dict[str, str], expected: bool) -> None:
    assert filters.parse(text).match(fields) is expected


# (filter, exact message after 'invalid filter "<text>": ')
ERROR_CASES = [
    ("statuss==running",
     'unknown field "statuss" (fields: id, container_id, pid, status, labels.KEY)'),
    ("labels.==x",
     'unknown field "labels." (fields: id, container_id, pid, status, labels.KEY)'),
    ('""==x', 'unknown field "" (fields: id, container_id, pid, status, labels.KEY)'),
    ("status==runing",
     'unknown status "runing" (statuses: unknown, created, running, stopped, paused)'),
    ("status!=gone",
     'unknown status "gone" (statuses: unknown, created, running, stopped, paused)'),
    ("id=web", 'unsupported operator "=" at column 3 (operators: ==, != or ~=)'),
    ("id===web", 'unsupported operator "===" at column 3 (operators: ==, != or ~=)'),
    ("id~web", 'unsupported operator "~" at column 3 (operators: ==, != or ~=)'),
    ("id web", 'expected an operator (==, != or ~=), found "w" at column 4'),
    ("id@=x", 'unexpected "@" at column 3 in field name "id@"'),
    ("id==", 'missing value after "==" (use "" for an empty value), found end of input'),
    ("id!=,pid",
     'missing value after "!=" (use "" for an empty value), found "," at column 5'),
    ("id==a,", "expected a field name, found end of input"),
    (",id==a", 'expected a field name, found "," at column 1'),
    ("id==a,,pid", 'expected a field name, found "," at column 7'),
    ("==a", 'expected a field name, found "=" at column 1'),
    ("id==a b", 'expected "," or end of input, found "b" at column 7'),
    ('id=="a"x', 'expected "," or end of input, found "x" at column 8'),
    ('id=="a', "unterminated quoted string starting at column 5"),
    ("id~=/ab", "unterminated quoted string starting at column 5"),
    ('id=="a\\', "unterminated quoted string starting at column 5"),
    ('id=="\\q"', 'invalid escape "\\\\q" in quoted string at column 6'),
    ('id=="\\x4"', 'invalid escape "\\\\x4" in quoted string at column 6'),
    ('id=="\\400"', 'invalid escape "\\\\400" in quoted string at column 6'),
    ('id=="\\ud800"', 'invalid escape "\\\\ud800" in quoted string at column 6'),
]
OR_HINT = ('filters have no OR, all ","-joined selectors must match '
           '(for alternatives use a regex, e.g. id~="^(a|b)$")')
ERROR_CASES += [
    ("id==a|id==b", f'"|" at column 6: {OR_HINT}'),
    ("status==running|paused", f'"|" at column 16: {OR_HINT}'),
    ('id=="a"|id==b', f'"|" at column 8: {OR_HINT}'),
    ("id==|a| | id==b", f'"|" at column 9: {OR_HINT}'),
    ("pid|status", f'"|" at column 4: {OR_HINT}'),
    ("|id==a", f'"|" at column 1: {OR_HINT}'),
]


@pytest.mark.parametrize(("text", "detail"), ERROR_CASES)
def test_errors(text: str, detail: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        filters.parse(text)
    message = str(info.value)
    quoted = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert message == f"invalid filter {quoted}: {detail}"
    assert "\n" not in message
    assert info.value.exit_code == ExitCode.INVALID_ARGUMENT


@pytest.mark.parametrize(("text", "pattern"), [
    ("id~=/[/", "["), ("id~=(", "("), ("status~=*", "*"),
    ("id~=|^(a|b)$|", "^(a"),  # an unescaped "|" ends a |...| regex early
])
def test_invalid_regex(text: str, pattern: str) -> None:
    # The tail is re's own wording, which varies between Python versions.
    with pytest.raises(InvalidArgumentError) as info:
        filters.parse(text)
    prefix = f'invalid filter "{text}": invalid regular expression "{pattern}" for '
    assert str(info.value).startswith(prefix)
    assert "\n" not in str(info.value)


def test_error_message_from_the_brief() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^invalid filter \"statuss==running\": "
                       r"unknown field \"statuss\" \(fields: id, container_id, pid, status, "
                       r"labels\.KEY\)$"):
        filters.parse("statuss==running")


def test_filter_keeps_text_and_selectors() -> None:
    f = filters.parse(' id=="a,b" , pid, status~=/^r/')
    assert str(f) == ' id=="a,b" , pid, status~=/^r/'
    assert [(s.field, s.op, s.value) for s in f.selectors] == [
        ("id", "==", "a,b"), ("pid", filters.PRESENT, ""), ("status", "~=", "^r")]


def test_empty_filter_is_match_all() -> None:
    assert filters.parse("") == filters.MATCH_ALL
    assert filters.parse("").selectors == ()
    assert filters.MATCH_ALL.match({})


def test_labels_key_selects_on_the_containers_labels() -> None:
    chosen = filters.parse("labels.tier==front,status==running")
    assert chosen.wants_labels and not filters.parse("id==a").wants_labels
    assert chosen.match({"status": "RUNNING", "labels.tier": "front"})
    assert not chosen.match({"status": "RUNNING", "labels.tier": "back"})
    assert not chosen.match({"status": "RUNNING"})  # == needs the label present
    assert filters.parse('"labels.app/tier"==web').match({"labels.app/tier": "web"})
    assert filters.parse("labels.tier").match({"labels.tier": "x"})  # bare: present, non-empty
