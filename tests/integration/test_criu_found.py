"""The real CRIU that scripts/setup installs is found and works (docs/architecture.md §9)."""

from __future__ import annotations

import subprocess

import pytest

from pytasks import criu
from pytasks.state import layout

pytestmark = pytest.mark.integration


def test_setup_installed_criu_is_found_and_passes_its_check() -> None:
    found = criu.find()
    assert found.source == "install prefix", found
    assert found.path == layout.criu_wrapper()
    assert found.version[:2] >= criu.MINIMUM
    check = subprocess.run([found.path, "check"], capture_output=True, text=True, timeout=60,
                           check=False)
    assert check.returncode == 0, check.stderr
    assert "Looks good." in check.stdout + check.stderr
