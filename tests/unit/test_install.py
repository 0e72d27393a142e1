"""`pip install .` and `pip install -e .` build the compiled monitor, or fail saying what is
missing; PYTASKS_BUILD_MONITOR=0 installs without it (docs/architecture.md §4, setup.py).

Each test installs a copy of this checkout into a fresh venv, network-free: --no-index,
--no-deps and --no-build-isolation, with this environment's setuptools, pip and pytasks'
dependencies reached through a .pth file (not its site-packages' own .pth files, so the
checkout's editable pytasks is not among them). Needs gcc and libcjson-dev (skipped without
them, except in CI, where scripts/setup installs them).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
HINT = "set PYTASKS_BUILD_MONITOR=0 to install without the compiled monitor"


def _in_ci() -> bool:
    return os.environ.get("CI", "").lower() not in ("", "0", "false")


def _toolchain_missing() -> str | None:
    if shutil.which("gcc") is None:
        return "gcc is not installed"
    if not any(Path(d, "cjson", "cJSON.h").exists() for d in ("/usr/include",
                                                              "/usr/local/include")):
        return "libcjson-dev is not installed"
    return None


pytestmark = pytest.mark.skipif(
    _toolchain_missing() is not None and not _in_ci(),
    reason=f"install test: {_toolchain_missing()} (./scripts/setup installs it)")


def _checkout_copy(dest: Path) -> Path:
    """The checkout's files as git sees them (tracked or not ignored): no build products."""
    listing = subprocess.run(
        ["git", "-C", str(REPO), "ls-files", "-z", "--cached", "--others",
         "--exclude-standard"], capture_output=True, check=True, timeout=60).stdout
    for name in filter(None, listing.decode().split("\0")):
        source = REPO / name
        if source.is_file():
            (dest / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name)
    return dest


class Venv:
    def __init__(self, root: Path) -> None:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True,
                       timeout=60)
        self.root = root
        self.python = root / "bin" / "python"
        self.site = Path(subprocess.run(
            [str(self.python), "-c", "import sysconfig; print(sysconfig.get_path('platlib'))"],
            capture_output=True, text=True, check=True, timeout=60).stdout.strip())
        # pip, setuptools, click, ... from the environment running the tests.
        (self.site / "_test_deps.pth").write_text(sysconfig.get_path("purelib") + "\n")

    def pip_install(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        environ = {k: v for k, v in os.environ.items()
                   if not k.startswith(("PYTASKS_", "PIP_")) and k not in ("CC", "CFLAGS")}
        environ.update(env, PIP_NO_INPUT="1", PIP_DISABLE_PIP_VERSION_CHECK="1")
        return subprocess.run(
            [str(self.python), "-m", "pip", "install", "--no-index", "--no-deps",
             "--no-build-isolation", "--force-reinstall", "--no-cache-dir", *args],
            capture_output=True, text=True, env=environ, timeout=180)

    def version(self) -> str:
        environ = {k: v for k, v in os.environ.items() if not k.startswith("PYTASKS_")}
        result = subprocess.run([str(self.root / "bin" / "pytasks"), "--version"],
                                capture_output=True, text=True, env=environ, timeout=60)
        assert result.returncode == 0, result.stderr
        return result.stdout

    @property
    def monitor(self) -> Path:
        return self.site / "pytasks" / "monitor" / "pytasks-monitor"


def _assert_elf_executable(binary: Path) -> None:
    assert binary.read_bytes()[:4] == b"\x7fELF"
    assert os.access(binary, os.X_OK)
    result = subprocess.run([str(binary)], capture_output=True, text=True, timeout=10)
    assert result.returncode == 2  # it runs: the usage error of a missing command line
    assert "usage: pytasks-monitor --sync-fd N TASK_DIR" in result.stderr


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return _checkout_copy(tmp_path / "checkout")


@pytest.fixture
def venv(tmp_path: Path) -> Venv:
    return Venv(tmp_path / "venv")


def test_pip_install_builds_and_installs_the_compiled_monitor(
        checkout: Path, venv: Venv) -> None:
    result = venv.pip_install(str(checkout))
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_elf_executable(venv.monitor)
    assert f"monitor: compiled ({venv.monitor})" in venv.version()
    # The binary is the package's platlib file, and pip recorded it (uninstall removes it).
    record = next(venv.site.glob("pytasks-*.dist-info")) / "RECORD"
    assert "pytasks/monitor/pytasks-monitor," in record.read_text()
    assert "Root-Is-Purelib: false" in (record.parent / "WHEEL").read_text()
    assert not (checkout / "pytasks" / "monitor" / "pytasks-monitor").exists()


@pytest.mark.parametrize(("env", "missing"), [
    ({"CC": "/bin/false"}, "the C compiler '/bin/false' cannot build a program"),
    ({"CC": "no-such-cc"}, "no C compiler: 'no-such-cc' not found (install gcc, or set CC)"),
    ({"CC": "gcc -nostdinc"}, "the cJSON headers and library (<cjson/cJSON.h>, -lcjson) "
                              "were not found (install libcjson-dev)"),
])
def test_without_the_toolchain_the_build_fails_saying_what_is_missing(
        checkout: Path, venv: Venv, env: dict[str, str], missing: str) -> None:
    result = venv.pip_install(str(checkout), **env)
    assert result.returncode != 0
    output = result.stdout + result.stderr
    assert f"error: cannot build the compiled monitor: {missing}; {HINT}" in output, output
    assert not (venv.site / "pytasks").exists()


def test_a_path_without_gcc_fails_the_build(checkout: Path, venv: Venv) -> None:
    result = venv.pip_install(str(checkout), PATH="/nonexistent")
    assert result.returncode != 0
    assert "no C compiler: 'gcc' not found" in result.stdout + result.stderr


def test_pytasks_build_monitor_0_installs_the_python_monitor_only(
        checkout: Path, venv: Venv) -> None:
    # A compiled build first, so its build dir holds a binary the opt-out must not ship.
    assert venv.pip_install(str(checkout)).returncode == 0
    result = venv.pip_install(str(checkout), CC="/bin/false", PYTASKS_BUILD_MONITOR="0")
    assert result.returncode == 0, result.stdout + result.stderr
    assert not venv.monitor.exists()
    assert "monitor: python (fallback: no compiled monitor at " in venv.version()
    assert "Root-Is-Purelib: true" in next(venv.site.glob("pytasks-*.dist-info")).joinpath(
        "WHEEL").read_text()


def test_an_editable_install_builds_the_monitor_into_the_checkout(
        checkout: Path, venv: Venv) -> None:
    result = venv.pip_install("--config-settings", "editable_mode=compat", "-e",
                              str(checkout))
    assert result.returncode == 0, result.stdout + result.stderr
    binary = checkout / "pytasks" / "monitor" / "pytasks-monitor"
    _assert_elf_executable(binary)
    assert f"monitor: compiled ({binary})" in venv.version()
    failed = venv.pip_install("--config-settings", "editable_mode=compat", "-e",
                              str(checkout), CC="/bin/false")
    assert failed.returncode != 0
    assert HINT in failed.stdout + failed.stderr
