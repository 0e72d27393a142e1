"""A test's own pytasks roots, and the way to run the installed CLI against them."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from pytasks.state.layout import Layout

from .cleanup import CleanupReport, cleanup

REPO = Path(__file__).resolve().parents[2]
CONSOLE_SCRIPT = REPO / ".venv" / "bin" / "pytasks"


def pytasks_argv() -> list[str]:
    """The installed console script (what users run), else `python -m pytasks`."""
    if CONSOLE_SCRIPT.exists():
        return [str(CONSOLE_SCRIPT)]
    return [sys.executable, "-m", "pytasks"]


class PytasksFailed(subprocess.CalledProcessError):
    """A `check=True` call failed; the message carries its output."""

    def __str__(self) -> str:
        return (f"{super().__str__()}\n--- stdout ---\n{self.stdout}"
                f"--- stderr ---\n{self.stderr}")


@dataclass
class Roots:
    """--root/--state/-n for one test (all under its tmp dir) and how to call pytasks."""

    root: Path
    state: Path
    tmp: Path
    namespace: str = "test"
    spawned: list[subprocess.Popen] = field(default_factory=list, repr=False)

    @classmethod
    def under(cls, tmp: Path, namespace: str = "test") -> Roots:
        return cls(root=tmp / "root", state=tmp / "state", tmp=tmp, namespace=namespace)

    @property
    def env(self) -> dict[str, str]:
        return {"PYTASKS_ROOT": str(self.root), "PYTASKS_STATE": str(self.state),
                "PYTASKS_NAMESPACE": self.namespace}

    @property
    def layout(self) -> Layout:
        return Layout.of(self.root, self.state, self.namespace)

    def argv(self, *args: object) -> list[str]:
        return [*pytasks_argv(), *(str(a) for a in args)]

    def full_env(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        return {**os.environ, **self.env, **(extra or {})}

    def pytasks(self, *args: object, input: str | None = None, timeout: float = 60,
                check: bool = False, env: dict[str, str] | None = None
                ) -> subprocess.CompletedProcess[str]:
        """Run `pytasks ARGS...` with this test's roots; stdout/stderr captured as text.
        stdin is /dev/null unless `input` is given. `env` adds/overrides variables."""
        result = subprocess.run(
            self.argv(*args), input=input, timeout=timeout, capture_output=True, text=True,
            env=self.full_env(env), stdin=None if input is not None else subprocess.DEVNULL)
        if check and result.returncode != 0:
            raise PytasksFailed(result.returncode, result.args, result.stdout, result.stderr)
        return result

    def spawn(self, *args: object, env: dict[str, str] | None = None,
              **popen_kwargs: object) -> subprocess.Popen[str]:
        """Start `pytasks ARGS...` in the background (e.g. an attached `run` to signal).
        Defaults: stdin /dev/null, stdout/stderr pipes, text. Killed at teardown if still
        running (and reported as a leak)."""
        kwargs: dict = {"stdin": subprocess.DEVNULL, "stdout": subprocess.PIPE,
                        "stderr": subprocess.PIPE, "text": True, **popen_kwargs}
        proc = subprocess.Popen(self.argv(*args), env=self.full_env(env), **kwargs)
        self.spawned.append(proc)
        return proc

    def cleanup(self) -> CleanupReport:
        """Kill what `spawn` left running, then clean the state dir (see helpers.cleanup)."""
        stray = []
        for proc in self.spawned:
            if proc.poll() is None:
                proc.kill()
                stray.append(f"{proc.pid} {' '.join(map(str, proc.args))} (spawned, running)")
            proc.wait()
            for stream in (proc.stdin, proc.stdout, proc.stderr):
                if stream is not None:
                    stream.close()
        report = cleanup(self.state, self.tmp)
        report.processes[:0] = stray
        return report
