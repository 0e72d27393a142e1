"""Fixtures of the monitor contract suite (harness: monitor_harness.py): `monitor_kind`
runs a test once per monitor; `task` is that test's task dir, whose processes are all
killed at teardown."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from monitor_harness import MONITORS, Task, select_monitor


@pytest.fixture(params=sorted(MONITORS))
def monitor_kind(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    select_monitor(request.param, monkeypatch)
    return str(request.param)


@pytest.fixture
def task(tmp_path: Path, monitor_kind: str) -> Iterator[Task]:
    t = Task(tmp_path, monitor_kind)
    try:
        yield t
    finally:
        t.kill_everything()
