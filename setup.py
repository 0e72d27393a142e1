"""Build step of the compiled monitor (docs/architecture.md §4); the rest is pyproject.toml.

Building pytasks (a wheel, `pip install .`, or `pip install -e .`) compiles
monitor-c/pytasks-monitor.c into pytasks/monitor/pytasks-monitor, where
pytasks.monitor.client.COMPILED_MONITOR looks for it: inside the wheel's build tree, or in
the checkout for an editable install. Without a working C compiler or the cJSON headers the
build fails, saying which is missing; PYTASKS_BUILD_MONITOR=0 builds without the compiled
monitor, and pytasks then uses the Python one (`pytasks --version` says which).

CC and CFLAGS are honoured as by monitor-c/Makefile, whose flags these are.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile

from setuptools import Distribution, setup
from setuptools.command.bdist_wheel import bdist_wheel
from setuptools.command.build_py import build_py
from setuptools.command.editable_wheel import editable_wheel
from setuptools.errors import PlatformError

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE = "monitor-c/pytasks-monitor.c"
PACKAGE_DIR = "pytasks/monitor"
BINARY = "pytasks-monitor"  # pytasks.monitor.client.COMPILED_MONITOR's name
CFLAGS = "-O2 -Wall -Wextra -Werror"  # monitor-c/Makefile's CFLAGS
LDLIBS = ["-lcjson"]  # monitor-c/Makefile's LDLIBS
OPT_OUT = "PYTASKS_BUILD_MONITOR"
OPT_OUT_HINT = (f"set {OPT_OUT}=0 to install without the compiled monitor (pytasks then uses "
                "the Python monitor)")

CJSON_PROBE = "#include <cjson/cJSON.h>\nint main(void) { cJSON_Delete(cJSON_CreateNull()); }\n"


def wanted() -> bool:
    return os.environ.get(OPT_OUT, "1").strip().lower() not in ("0", "no", "false", "off")


def _fail(what: str) -> PlatformError:
    return PlatformError(f"cannot build the compiled monitor: {what}; {OPT_OUT_HINT}")


def _compiles(cc: list[str], text: str, libs: list[str]) -> bool:
    with tempfile.TemporaryDirectory(prefix="pytasks-probe-") as tmp:
        source = os.path.join(tmp, "probe.c")
        with open(source, "w") as fh:
            fh.write(text)
        try:
            result = subprocess.run([*cc, "-o", os.path.join(tmp, "probe"), source, *libs],
                                    capture_output=True, timeout=60)
        except OSError:
            return False
        return result.returncode == 0


def compile_monitor(target: str) -> None:
    """Compile the monitor to target (a new file renamed into place, so monitors running
    an older binary keep it), or raise the one error naming what is missing."""
    cc = shlex.split(os.environ.get("CC") or "gcc")
    if not cc or shutil.which(cc[0]) is None:
        raise _fail(f"no C compiler: {cc[0] if cc else 'CC is empty'!r} not found "
                    "(install gcc, or set CC)")
    if not _compiles(cc, "int main(void) { return 0; }\n", []):
        raise _fail(f"the C compiler {' '.join(cc)!r} cannot build a program")
    if not _compiles(cc, CJSON_PROBE, LDLIBS):
        raise _fail("the cJSON headers and library (<cjson/cJSON.h>, -lcjson) were not "
                    "found (install libcjson-dev)")
    flags = shlex.split(os.environ.get("CFLAGS") or CFLAGS)
    os.makedirs(os.path.dirname(target), exist_ok=True)
    partial = f"{target}.tmp"
    argv = [*cc, *flags, "-o", partial, os.path.join(HERE, SOURCE), *LDLIBS]
    print(" ".join(argv), file=sys.stderr)
    if subprocess.run(argv).returncode != 0:
        raise _fail(f"compiling {SOURCE} failed (the compiler's messages are above)")
    os.chmod(partial, 0o755)
    os.replace(partial, target)


class BuildPy(build_py):
    """build_py, then the compiled monitor into the built package (a wheel's)."""

    def run(self) -> None:
        super().run()
        if self.editable_mode:
            return  # EditableWheel builds it, where an editable install imports pytasks from
        target = os.path.join(self.build_lib, PACKAGE_DIR, BINARY)
        if wanted():
            compile_monitor(target)
        elif os.path.exists(target):
            os.unlink(target)  # left by an earlier build in the same build dir

    def get_outputs(self, include_bytecode: bool = True) -> list[str]:
        outputs = super().get_outputs(include_bytecode)
        if wanted() and not self.editable_mode:
            outputs.append(os.path.join(self.build_lib, PACKAGE_DIR, BINARY))
        return outputs


class EditableWheel(editable_wheel):
    """pip install -e: the compiled monitor goes into the checkout's package, as
    `make -C monitor-c` puts it. Built here, not in build_py: setuptools ignores a failing
    build step of an editable install, and a missing compiler must fail it."""

    def run(self) -> None:
        if wanted():
            compile_monitor(os.path.join(HERE, PACKAGE_DIR, BINARY))
        super().run()


class MonitorDistribution(Distribution):
    """With the compiled monitor, the package holds a machine binary: install it to
    platlib (the wheel's root is not purelib), as for an extension module."""

    def has_ext_modules(self) -> bool:
        return wanted() or super().has_ext_modules()


class BdistWheel(bdist_wheel):
    """A wheel holding the compiled monitor is for one platform but any Python 3 (the
    binary does not link libpython): py3-none-<platform>, never py3-none-any."""

    def get_tag(self) -> tuple[str, str, str]:
        python, abi, plat = super().get_tag()
        if wanted():
            return "py3", "none", plat
        return python, abi, plat


setup(distclass=MonitorDistribution,
      cmdclass={"build_py": BuildPy, "editable_wheel": EditableWheel, "bdist_wheel": BdistWheel})
