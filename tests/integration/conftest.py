"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.roots import Roots
from running import TASK, remove, run_detached


@pytest.fixture
def task(roots: Roots, busybox_rootfs: Path) -> Iterator[str]:
    """A running task (`sleep 1000`) to exec into; removed however the test ends."""
    run_detached(roots, TASK, busybox_rootfs, "sleep", "1000")
    yield TASK
    remove(roots, TASK)
