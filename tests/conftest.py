"""Fixtures shared by the whole suite.

- `busybox_rootfs` (session): a busybox-static rootfs; treat it as read-only (use it as an
  overlay lower dir, `--readonly`, or take `writable_rootfs`).
- `writable_rootfs`: a private copy of it for this test.
- `roots`: this test's own --root/--state/-n and `roots.pytasks(...)` to run the installed
  CLI. Teardown removes every container, monitor, mount and cgroup the test left behind and
  FAILS the test if there was any (a leak is a bug); `@pytest.mark.allow_leaks` opts out.

Tests under tests/integration are marked `integration`; they are skipped without root or
runc, except in CI (CI=true), where they must run.
"""

from __future__ import annotations

import os
import shutil
import sys
import warnings
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import helpers` from any test

from helpers.rootfs import build_busybox_rootfs, copy_rootfs
from helpers.roots import Roots

pytest_plugins = ("pytester",)  # for tests of these fixtures

INTEGRATION_DIR = Path(__file__).resolve().parent / "integration"
_reports = pytest.StashKey[dict]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "integration: needs root, runc and a busybox rootfs")
    config.addinivalue_line(
        "markers", "allow_leaks: do not fail the test when its teardown had to clean up "
        "containers, monitors, mounts or cgroups")


def _integration_unavailable() -> str | None:
    if os.geteuid() != 0:
        return "integration test: needs root"
    if shutil.which("runc") is None:
        return "integration test: runc is not installed (./scripts/setup installs it)"
    return None


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    reason = _integration_unavailable()
    for item in items:
        if Path(str(item.path)).resolve().is_relative_to(INTEGRATION_DIR):
            item.add_marker(pytest.mark.integration)
        if reason and not _in_ci() and item.get_closest_marker("integration"):
            item.add_marker(pytest.mark.skip(reason=reason))


def pytest_runtest_setup(item: pytest.Item) -> None:
    # In CI a skipped integration suite would pass silently: fail instead.
    reason = _integration_unavailable()
    if reason and _in_ci() and item.get_closest_marker("integration"):
        pytest.fail(f"{reason} (CI must run the integration tests)", pytrace=False)


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    report = yield
    item.stash.setdefault(_reports, {})[report.when] = report
    return report


@pytest.fixture(scope="session")
def busybox_rootfs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return build_busybox_rootfs(tmp_path_factory.mktemp("busybox") / "rootfs")
    except (OSError, RuntimeError) as exc:
        pytest.fail(str(exc), pytrace=False)


@pytest.fixture
def writable_rootfs(busybox_rootfs: Path, tmp_path: Path) -> Path:
    return copy_rootfs(busybox_rootfs, tmp_path / "rootfs")


@pytest.fixture
def roots(request: pytest.FixtureRequest, tmp_path: Path):
    r = Roots.under(tmp_path)
    yield r
    report = r.cleanup()
    if not report.leaked or request.node.get_closest_marker("allow_leaks"):
        return
    message = (f"{request.node.nodeid} left things behind (cleaned up now; a leak is a bug, "
               f"mark the test allow_leaks if intended):\n{report}")
    call = request.node.stash.get(_reports, {}).get("call")
    if call is not None and call.failed:
        # The test already failed; leftovers are expected then, the failure says why.
        warnings.warn(pytest.PytestWarning(message), stacklevel=1)
    else:
        pytest.fail(message, pytrace=False)
