"""`pytasks --version` says which monitor new tasks get (monitor.client.monitor_choice)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from pytasks.cli import cli
from pytasks.monitor import client


def test_each_choice_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PYTASKS_MONITOR", "python")
    assert client.monitor_choice().startswith("python (reference")
    binary = tmp_path / "monitor"
    binary.write_text("#!/bin/sh\n")
    os.chmod(binary, 0o755)
    monkeypatch.setenv("PYTASKS_MONITOR", str(binary))
    assert client.monitor_choice() == f"{binary} (PYTASKS_MONITOR)"
    monkeypatch.setenv("PYTASKS_MONITOR", str(tmp_path / "absent"))
    assert client.monitor_choice().startswith("none: PYTASKS_MONITOR=")
    monkeypatch.delenv("PYTASKS_MONITOR")
    monkeypatch.setattr(client, "COMPILED_MONITOR", binary)
    assert client.monitor_choice() == f"compiled ({binary})"
    monkeypatch.setattr(client, "COMPILED_MONITOR", tmp_path / "absent")
    assert client.monitor_choice().startswith("python (fallback: no compiled monitor at ")


def test_version_names_the_monitor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PYTASKS_MONITOR", "python")
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    first, second = result.output.splitlines()[:2]  # the third names CRIU
    assert first.startswith("pytasks ") and second.startswith("monitor: python (reference")
