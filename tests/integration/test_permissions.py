"""Permission failures for real: a user that is not root (nobody) running pytasks on
root's roots, and on roots of its own. Every verb says "permission denied" with the path
in one line and exits 7; a run as non-root says rootless is not supported yet, before it
writes anything (docs/architecture.md §6)."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.roots import Roots
from running import remove, run_detached
from tasktools import Tasks

pytestmark = pytest.mark.integration

NOBODY = 65534


def as_nobody(roots: Roots, *args: object) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in roots.full_env().items() if not k.startswith("XDG_")}
    env["HOME"] = "/nonexistent"
    return subprocess.run(roots.argv(*args), env=env, user=NOBODY, group=NOBODY,
                          capture_output=True, text=True, timeout=60, cwd="/",
                          stdin=subprocess.DEVNULL, check=False)


@pytest.fixture
def own_roots() -> Iterator[Roots]:
    """Roots nobody owns, outside the root-only test dirs."""
    base = Path(tempfile.mkdtemp(prefix="pytasks-nobody-", dir="/tmp"))
    os.chown(base, NOBODY, NOBODY)
    try:
        yield Roots.under(base)
    finally:
        shutil.rmtree(base)


def test_root_roots_are_permission_denied_to_another_user(roots: Roots,
                                                          busybox_rootfs: Path) -> None:
    run_detached(roots, "web", busybox_rootfs, "sleep", "1000")
    try:
        for args in (["list"], ["get", "web"], ["get", "--format", "json", "web"],
                     ["kill", "web"], ["delete", "-f", "web"], ["events"], ["stats"],
                     ["containers", "list"], ["containers", "create", "x", "true"],
                     ["inspect", "web"], ["ps", "web"], ["logs", "web"]):
            got = as_nobody(roots, *args)
            assert got.returncode == 7, (args, got.stderr)
            assert got.stderr.count("\n") == 1 and "permission denied: /" in got.stderr, args
            assert "internal error" not in got.stderr and "Traceback" not in got.stderr
        assert Tasks(roots).list() != []  # nothing was touched
    finally:
        remove(roots, "web")


def test_a_run_as_non_root_says_rootless_is_not_supported_and_leaves_nothing(
        own_roots: Roots) -> None:
    expected = ("creating tasks needs root; rootless containers are not supported yet "
                "(run pytasks as root, e.g. with sudo)\n")
    for args in (["run", "-d", "a", "true"], ["run", "a", "true"], ["run", "--rm", "a", "true"]):
        got = as_nobody(own_roots, *args)
        assert (got.returncode, got.stderr) == (7, "pytasks: task a: " + expected), args
    assert as_nobody(own_roots, "containers", "list", "-q").stdout == ""
    assert as_nobody(own_roots, "containers", "create", "b", "true").returncode == 0
    got = as_nobody(own_roots, "create", "b")
    assert (got.returncode, got.stderr) == (7, "pytasks: task b: " + expected)
    assert as_nobody(own_roots, "list", "-q").stdout == ""
