"""Shell completion in a real bash, through the committed completions/pytasks.bash, of tasks
runc put in each state: ids filtered by state, signal names, namespaces and runtimes, with
the roots and namespace typed on the line (pytasks/cli/complete.py)."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from helpers.roots import REPO, Roots, pytasks_argv
from running import remove, run_detached
from tasktools import Tasks

from pytasks import signals

pytestmark = pytest.mark.integration

OTHER_NAMESPACE = "other"  # holds one container record only


def search_path() -> str:
    """PATH of the completing shell, after the shim's dir: runc's dir and the system's."""
    return f"{os.path.dirname(shutil.which('runc') or '/usr/sbin/runc')}:/usr/bin:/bin"


@pytest.fixture
def states(roots: Roots, busybox_rootfs: Path) -> Iterator[Tasks]:
    """Tasks made (created), live (running), frozen (paused) and gone (stopped), and a
    container in a second namespace; all removed however the test ends."""
    tasks = Tasks(roots)
    made = []
    try:
        tasks.ok("containers", "create", "--rootfs", busybox_rootfs, "--readonly", "made",
                 "sleep", "1000")
        made.append("made")
        tasks.ok("create", "made")
        for task_id, command in (("live", "sleep 1000"), ("frozen", "sleep 1000"),
                                 ("gone", "true")):
            made.append(task_id)
            run_detached(roots, task_id, busybox_rootfs, *command.split())
        tasks.ok("pause", "frozen")
        tasks.ok("wait", "gone")
        tasks.ok("-n", OTHER_NAMESPACE, "containers", "create", "--rootfs", busybox_rootfs,
                 "idle")
        made.append(f"{OTHER_NAMESPACE}/idle")
        assert {task_id: status for task_id, (_, status) in tasks.statuses().items()} == {
            "made": "CREATED", "live": "RUNNING", "frozen": "PAUSED", "gone": "STOPPED"}
        yield tasks
    finally:
        for task_id in made:
            if task_id.startswith(f"{OTHER_NAMESPACE}/"):
                tasks("-n", OTHER_NAMESPACE, "containers", "delete", task_id.split("/")[1])
            else:
                remove(roots, task_id)


def bash_complete(roots: Roots, lines: list[str], *, env: dict[str, str] | None = None
                  ) -> list[list[str]]:
    """What <TAB> offers at the end of each line (a line ending in a space completes a
    new word), asked of the generated script in one bash, as the shell would."""
    bindir = roots.tmp / "bin"
    bindir.mkdir(exist_ok=True)
    shim = bindir / "pytasks"
    shim.write_text("#!/bin/sh\nexec " + " ".join(map(shlex.quote, pytasks_argv()))
                    + ' "$@"\n')
    shim.chmod(0o755)
    script = [f"source {shlex.quote(str(REPO / 'completions' / 'pytasks.bash'))}",
              "complete -p pytasks >/dev/null || exit 3"]
    for text in lines:
        words = shlex.split(text) + ([""] if text.endswith(" ") else [])
        script += [f"COMPREPLY=(); COMP_WORDS=({' '.join(map(shlex.quote, words))}); "
                   f"COMP_CWORD={len(words) - 1}",
                   "_pytasks_completion pytasks",
                   'echo "[${COMPREPLY[*]}]"']
    full_env = {"PATH": f"{bindir}:{search_path()}", "HOME": str(roots.tmp),
                "PYTHONPATH": str(REPO), **(env or {})}
    proc = subprocess.run(["bash", "--norc", "--noprofile", "-c", "\n".join(script)],
                          env=full_env, capture_output=True, text=True, timeout=120,
                          check=False)
    assert proc.returncode == 0, proc.stderr
    replies = proc.stdout.splitlines()
    assert len(replies) == len(lines), proc.stdout + proc.stderr
    return [reply.strip("[]").split() for reply in replies]


def test_ids_are_offered_by_state(roots: Roots, states: Tasks) -> None:
    on_line = (f"pytasks --root {roots.root} --state {roots.state} "
               f"-n {roots.namespace} ")
    cases = {
        "start ": ["made"],
        "kill ": ["live"],
        "kill -s KILL ": ["live"],
        "pause ": ["live"],
        "stop -t 1 ": ["live"],
        "resume ": ["frozen"],
        "delete ": ["gone"],
        "rm ": ["gone"],
        "delete -f ": ["frozen", "gone", "live", "made"],
        "delete --force fr": ["frozen"],
        "get ": ["frozen", "gone", "live", "made"],
        "delete -f gone ": ["frozen", "live", "made"],  # not offered twice
    }
    got = bash_complete(roots, [on_line + words for words in cases])
    assert dict(zip(cases, got, strict=True)) == cases


def test_the_environment_names_the_roots_when_the_line_does_not(
        roots: Roots, states: Tasks) -> None:
    got = bash_complete(roots, ["pytasks resume ", "pytasks -n nosuch resume ",
                                f"pytasks -n {OTHER_NAMESPACE} containers info "],
                        env=roots.env)
    assert got == [["frozen"], [], ["idle"]]


def test_signals_namespaces_and_runtimes(roots: Roots, states: Tasks) -> None:
    roots_on_line = f"pytasks --root {roots.root} --state {roots.state} "
    got = bash_complete(roots, ["pytasks kill -s ", "pytasks kill -s SIGU",
                                "pytasks stop --signal IN", roots_on_line + "-n ",
                                roots_on_line + "--namespace o", "pytasks --runtime ",
                                "pytasks --runtime cr"])
    assert got[0] == signals.names()
    assert got[1:3] == [["SIGUSR1", "SIGUSR2", "SIGURG"], ["INT"]]
    # The test's namespace (tasks in the state dir) and the one with a container record.
    assert got[3:5] == [sorted([roots.namespace, OTHER_NAMESPACE]), [OTHER_NAMESPACE]]
    found = [name for name in ("runc", "crun") if shutil.which(name, path=search_path())]
    assert "runc" in found  # the integration tests' runtime
    assert got[5] == found
    assert got[6] == [name for name in found if name.startswith("cr")]


def test_checkpoint_names_where_a_checkpoint_is_taken(roots: Roots, states: Tasks) -> None:
    states.ok("checkpoint", "--name", "snap-1", "live")  # a real one; the task runs on
    states.ok("checkpoint", "--name", "snap-2", "live")
    roots_on_line = f"pytasks --root {roots.root} "
    got = bash_complete(roots, [roots_on_line + "create --checkpoint ",
                                roots_on_line + "run -d --checkpoint snap-2",
                                roots_on_line + "checkpoints info s",
                                roots_on_line + "checkpoints rm snap-1 ",
                                roots_on_line + "checkpoints export "])
    assert got == [["snap-1", "snap-2"], ["snap-2"], ["snap-1", "snap-2"], ["snap-2"],
                   ["snap-1", "snap-2"]]


def test_image_names_for_images_info_and_rm(roots: Roots, tmp_path: Path,
                                            busybox_rootfs: Path) -> None:
    from helpers.images import Entry, Image, layer_tar, write_oci_archive

    for name in ("busybox:1", "busybox:2", "other:1"):
        image = Image([(layer_tar([Entry(f"etc/{name}")]), "gzip")], name=name)
        roots.pytasks("images", "import", write_oci_archive(tmp_path / "a.tar", [image]),
                      check=True)
    on_line = f"pytasks --root {roots.root} -n {roots.namespace} "
    got = bash_complete(roots, [on_line + "images info busy", on_line + "images rm ",
                                on_line + "images rm other:1 ",
                                f"pytasks --root {roots.root} -n elsewhere images info "])
    assert got == [["busybox:1", "busybox:2"], ["busybox:1", "busybox:2", "other:1"],
                   ["busybox:1", "busybox:2"], []]
