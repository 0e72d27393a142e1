"""pytasks/criu.py finds CRIU 4.2+ (docs/architecture.md §9). Every criu here is a FAKE: a
shell script answering `--version` as criu does, so no real CRIU is needed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from pytasks import criu, errors
from pytasks.cli import cli
from pytasks.state import layout


def fake_criu(path: Path, said: str, status: int = 0) -> str:
    """A FAKE criu printing `said` for --version and exiting with status."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n# FAKE criu for tests\nprintf '%s\\n' '{said}'\nexit {status}\n")
    os.chmod(path, 0o755)
    return str(path)


@pytest.fixture
def no_prefix(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """The install prefix moved to an empty dir, PATH to an empty one, no PYTASKS_CRIU."""
    prefix = tmp_path / "prefix"
    monkeypatch.setattr(layout, "criu_prefix", lambda: str(prefix))
    monkeypatch.setattr(criu.layout, "criu_wrapper", lambda: str(prefix / "bin" / "criu"))
    (tmp_path / "path").mkdir()
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    monkeypatch.delenv(criu.ENV, raising=False)
    return prefix


@pytest.mark.parametrize(("said", "version"), [
    ("Version: 4.2.1", (4, 2, 1)),
    ("Version: 4.2\nGitID: v4.2-3-gdeadbeef", (4, 2)),
    ("Version: 3.17.1", (3, 17, 1)),
    ("Version: 4.2.1-rc1", (4, 2, 1)),
    ("criu, version unknown", None),
    ("Version: four", None),
])
def test_parse_version(said: str, version: tuple[int, ...] | None) -> None:
    assert criu.parse_version(said) == version


def test_explicit_path_is_used_alone(no_prefix: Path, tmp_path: Path,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fake_criu(no_prefix / "bin" / "criu", "Version: 4.2.1")
    good = fake_criu(tmp_path / "good" / "criu", "Version: 4.3.0")
    found = criu.find(good)
    assert (found.path, found.version, found.source) == (good, (4, 3, 0), "--criu")
    # An old explicit one is refused, even though the prefix holds a good one.
    old = fake_criu(tmp_path / "old" / "criu", "Version: 4.1.1")
    with pytest.raises(errors.UnavailableError) as caught:
        criu.find(old)
    assert f"{old} (--criu) is CRIU 4.1.1, older than 4.2" in caught.value.message
    assert "./scripts/setup" in caught.value.message
    monkeypatch.setenv(criu.ENV, old)
    with pytest.raises(errors.UnavailableError, match="PYTASKS_CRIU"):
        criu.find()
    assert criu.find(good).source == "--criu"  # the explicit path beats the variable


def test_prefix_before_path(no_prefix: Path, tmp_path: Path) -> None:
    on_path = fake_criu(tmp_path / "path" / "criu", "Version: 4.2.0")
    assert criu.find().path == on_path
    assert criu.find().source == "PATH"
    in_prefix = fake_criu(no_prefix / "bin" / "criu", "Version: 4.2.1")
    found = criu.find()
    assert (found.path, found.source, found.version_text) == (in_prefix, "install prefix",
                                                              "4.2.1")


def test_old_or_broken_ones_are_named(no_prefix: Path, tmp_path: Path) -> None:
    with pytest.raises(errors.UnavailableError) as caught:
        criu.find()
    message = caught.value.message
    assert f"{no_prefix}/bin/criu (install prefix) does not exist" in message
    assert "no criu on PATH" in message
    fake_criu(no_prefix / "bin" / "criu", "ld.so: cannot open libc", status=127)
    old = fake_criu(tmp_path / "path" / "criu", "Version: 3.17.1")
    with pytest.raises(errors.UnavailableError) as caught:
        criu.find()
    message = caught.value.message
    assert "(install prefix) does not run: `--version` exited 127: ld.so: cannot open" \
        in message
    assert f"{old} (PATH) is CRIU 3.17.1, older than 4.2" in message
    assert caught.value.exit_code == errors.ExitCode.UNAVAILABLE


def test_not_executable(no_prefix: Path, tmp_path: Path) -> None:
    path = tmp_path / "criu"
    path.write_text("Version: 4.2.1\n")
    with pytest.raises(errors.UnavailableError, match="is not executable"):
        criu.find(str(path))


def test_version_line(no_prefix: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.splitlines()[2].startswith(
        "criu: none: checkpoint and restore need CRIU 4.2 or newer: ")
    good = fake_criu(tmp_path / "criu", "Version: 4.2.1")
    monkeypatch.setenv(criu.ENV, good)
    result = CliRunner().invoke(cli, ["--version"])
    assert result.output.splitlines()[2] == f"criu: 4.2.1 ({good}, PYTASKS_CRIU)"


def test_a_remembered_version_is_used_until_the_file_changes(
        no_prefix: Path, tmp_path: Path) -> None:
    from pytasks.state import version_cache
    from pytasks.state.layout import Layout

    roots = Layout.of(tmp_path / "root", tmp_path / "state", "default")
    ran = tmp_path / "ran"
    path = no_prefix / "bin" / "criu"
    path.parent.mkdir(parents=True)
    path.write_text(f"#!/bin/sh\n# FAKE criu for tests\necho x >> {ran}\n"
                    "echo 'Version: 4.2.1'\n")
    os.chmod(path, 0o755)
    assert criu.find(cache=roots).version == (4, 2, 1)
    assert criu.find(cache=roots).version == (4, 2, 1)
    assert ran.read_text() == "x\n"  # asked once, then remembered
    assert version_cache.get(roots, str(path)) == "4.2.1"
    # Replaced by an old one: another file, asked again, refused.
    path.unlink()
    fake_criu(path, "Version: 4.1.1")
    with pytest.raises(errors.UnavailableError, match=r"is CRIU 4\.1\.1, older than 4\.2"):
        criu.find(cache=roots)
    assert version_cache.get(roots, str(path)) is None
    # A cache that is not JSON is an empty one.
    Path(roots.state, version_cache.FILE).write_text("{not json")
    fake_criu(path, "Version: 4.2.0")
    assert criu.find(cache=roots).version == (4, 2, 0)
