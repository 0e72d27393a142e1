"""--user names through a container root's own /etc/passwd and /etc/group (pytasks.accounts),
on roots made here; symlinks planted in the root never reach the host's files."""

from __future__ import annotations

from pathlib import Path

import pytest

from pytasks import accounts
from pytasks.errors import InvalidArgumentError

PASSWD = ("root:x:0:0:root:/root:/bin/sh\n"
          "# a comment\n"
          "daemon:x:1:1::/:/bin/false\n"
          "web:x:1000:1000:Web:/home/web:/bin/sh\n"
          "broken:x:abc:1::/:/bin/sh\n")
GROUP = "root:x:0:\nwheel:x:10:root,web\nweb:x:1000:\naudio:x:29:daemon,web\n"


@pytest.fixture
def root(tmp_path: Path) -> Path:
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "passwd").write_text(PASSWD)
    (tmp_path / "etc" / "group").write_text(GROUP)
    return tmp_path


def test_numeric_ids_are_taken_as_they_are_and_nothing_is_read() -> None:
    assert accounts.resolve("65534", None) == accounts.User(65534, 0, ())
    assert accounts.resolve("5:7", "/nonexistent") == accounts.User(5, 7, ())
    assert not accounts.needs_root("5:7") and accounts.needs_root("5:web")


def test_a_name_takes_uid_primary_group_and_member_groups(root: Path) -> None:
    assert accounts.resolve("web", str(root)) == accounts.User(1000, 1000, (10, 29))
    assert accounts.resolve("web:wheel", str(root)) == accounts.User(1000, 10, (29,))
    assert accounts.resolve("1000:audio", str(root)) == accounts.User(1000, 29, ())
    assert accounts.resolve("root:0", str(root)) == accounts.User(0, 0, (10,))


def test_unknown_names_and_bad_entries_say_which(root: Path) -> None:
    with pytest.raises(InvalidArgumentError, match="no user 'nobody' in the container's /etc/pass"):
        accounts.resolve("nobody", str(root))
    with pytest.raises(InvalidArgumentError, match="no group 'staff' in the container's /etc/gr"):
        accounts.resolve("web:staff", str(root))
    with pytest.raises(InvalidArgumentError, match="bad entry for 'broken'"):
        accounts.resolve("broken", str(root))
    with pytest.raises(InvalidArgumentError, match="give a numeric UID"):
        accounts.resolve("web", None)
    (root / "etc" / "passwd").unlink()
    with pytest.raises(InvalidArgumentError, match="the container has no /etc/passwd"):
        accounts.resolve("web", str(root))


def test_an_absolute_symlink_is_resolved_inside_the_root(root: Path, tmp_path_factory:
                                                         pytest.TempPathFactory) -> None:
    host = tmp_path_factory.mktemp("host") / "passwd"
    host.write_text("web:x:0:0::/:/bin/sh\n")  # what a planted link would steal
    passwd = root / "etc" / "passwd"
    passwd.unlink()
    passwd.symlink_to(host)  # absolute: inside the root it names root/<host path>
    with pytest.raises(InvalidArgumentError, match="no /etc/passwd"):
        accounts.resolve("web", str(root))
    inside = root / str(host).lstrip("/")
    inside.parent.mkdir(parents=True)
    inside.write_text("web:x:1234:1234::/:/bin/sh\n")
    assert accounts.resolve("web", str(root)).uid == 1234
    passwd.unlink()
    passwd.symlink_to("../../../../../../" + str(host).lstrip("/"))  # .. stops at the root
    assert accounts.resolve("web", str(root)).uid == 1234


def test_without_openat2_a_symlink_is_refused(root: Path, tmp_path_factory:
                                              pytest.TempPathFactory,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(accounts, "_openat2_in_root", lambda rootfd, name: None)
    assert accounts.resolve("web", str(root)).uid == 1000
    host = tmp_path_factory.mktemp("host") / "passwd"
    host.write_text("web:x:0:0::/:/bin/sh\n")
    (root / "etc" / "passwd").unlink()
    (root / "etc" / "passwd").symlink_to(host)
    with pytest.raises(InvalidArgumentError, match="cannot read the container's /etc/passwd"):
        accounts.resolve("web", str(root))


def test_a_file_that_is_not_regular_or_too_big_is_refused(root: Path) -> None:
    import os

    (root / "etc" / "passwd").unlink()
    os.mkfifo(root / "etc" / "passwd")
    with pytest.raises(InvalidArgumentError, match="not a regular file"):
        accounts.resolve("web", str(root))
    (root / "etc" / "passwd").unlink()
    (root / "etc" / "passwd").write_bytes(b"#" * (accounts.MAX_FILE + 1))
    with pytest.raises(InvalidArgumentError, match="cannot read"):
        accounts.resolve("web", str(root))
