"""pytasks.ids: containerd's identifier rule, checked before anything touches the disk."""

from __future__ import annotations

import pytest

from pytasks import ids
from pytasks.errors import ExitCode, InvalidArgumentError


@pytest.mark.parametrize("value", [
    "a", "A", "0", "web", "web-1", "web_1", "web.1", "a.b-c_d", "Z9", "a" * 76,
    "1" + "-2" * 37 + "3",  # 76 characters of alternating separators
])
def test_valid(value: str) -> None:
    assert len(value) <= 76
    assert ids.validate(value) == value


@pytest.mark.parametrize("value", [
    "../x", "..", ".", "a..b", "a--b", "a._b", "-a", "a-", ".a", "a.", "_a", "a/b", "/a",
    "a b", " a", "a\n", "a\0b", "a:b", "a*", "é", "ünïcode", "a\u200bb", "\uff41",  # fullwidth a
])
def test_invalid(value: str) -> None:
    with pytest.raises(InvalidArgumentError, match=r"invalid: must match") as info:
        ids.validate(value)
    assert info.value.exit_code == ExitCode.INVALID_ARGUMENT


def test_empty() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^container id must not be empty$"):
        ids.validate("", "container id")


def test_76_is_the_limit() -> None:
    assert ids.MAX_LENGTH == 76
    ids.validate("a" * 76)
    with pytest.raises(InvalidArgumentError, match="is 77 characters long; at most 76") as info:
        ids.validate("a" * 77, "container id")
    assert str(info.value).startswith("container id 'aaaa")
    assert len(str(info.value)) < 120  # the message does not echo a huge id


def test_message_names_what_was_checked() -> None:
    with pytest.raises(InvalidArgumentError, match=r"^namespace '\.\./x' is invalid"):
        ids.validate("../x", "namespace")
