"""`pytasks containers …`: exact exit codes and messages, through the same path as main()."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

import pytasks.task
from pytasks.cli import cli
from pytasks.cli import execute as run
from pytasks.lifecycle import Status
from pytasks.state.layout import Layout

Result = tuple[int, str, str]


@pytest.fixture
def roots(tmp_path: Path) -> list[str]:
    return ["--root", str(tmp_path / "root"), "--state", str(tmp_path / "state")]


@pytest.fixture
def layout(tmp_path: Path) -> Layout:
    return Layout.of(tmp_path / "root", tmp_path / "state", "default")


@pytest.fixture
def pt(roots: list[str], capsys: pytest.CaptureFixture[str]) -> Callable[..., Result]:
    """Run `pytasks --root … --state … containers ARGS` → (exit code, stdout, stderr)."""

    def call(*args: str) -> Result:
        capsys.readouterr()
        code = run([*roots, "containers", *args])
        out, err = capsys.readouterr()
        return code, out, err

    return call


@pytest.fixture
def task_status(monkeypatch: pytest.MonkeyPatch) -> Callable[[dict[str, Status]], None]:
    """Stand in for pytasks.task.task_status: container id -> task status."""

    def install(statuses: dict[str, Status]) -> None:
        monkeypatch.setattr(pytasks.task, "task_status", lambda layout, cid: statuses.get(cid))

    install({})
    return install


def _record(layout: Layout, container_id: str) -> dict:
    return json.loads(Path(layout.container_file(container_id)).read_text())


def test_help_lists_verbs(roots: list[str]) -> None:
    result = CliRunner().invoke(cli, [*roots, "containers", "--help"])
    assert result.exit_code == 0
    for verb in ("create", "list", "info", "delete"):
        assert verb in result.output


def test_create_defaults_to_host_tools_and_sh(pt: Callable[..., Result], layout: Layout) -> None:
    assert pt("create", "web") == (0, "", "")
    record = _record(layout, "web")
    assert record["rootfs"] == {"kind": "host-tools", "path": ""}
    assert record["runtime"] == {"name": "runc"}
    process = record["spec"]["process"]
    assert process["args"] == ["sh"]
    assert process["terminal"] is False
    assert record["spec"]["hostname"] == "web"
    assert record["spec"]["root"] == {"path": "rootfs", "readonly": False}
    dests = [m["destination"] for m in record["spec"]["mounts"]]
    assert dests[-3:] == ["/usr", "/etc", "/tmp"]


def test_create_command_args_after_id(pt: Callable[..., Result], layout: Layout) -> None:
    assert pt("create", "--env", "A=1", "a", "sh", "-c", "echo hi")[0] == 0
    assert _record(layout, "a")["spec"]["process"]["args"] == ["sh", "-c", "echo hi"]
    assert pt("create", "b", "--", "ls", "--env")[0] == 0
    assert _record(layout, "b")["spec"]["process"]["args"] == ["ls", "--env"]
    assert pt("create", "--", "c", "true")[0] == 0
    assert _record(layout, "c")["spec"]["process"]["args"] == ["true"]


def test_create_with_options(pt: Callable[..., Result], layout: Layout, tmp_path: Path) -> None:
    rootfs = tmp_path / "rfs"
    rootfs.mkdir()
    code, _, err = pt(
        "create", "--rootfs", str(rootfs), "--env", "TERM=dumb", "--cwd", "/srv",
        "--user", "1000:1000", "--hostname", "h", "--mount",
        f"src={tmp_path},dst=/data,options=ro", "--readonly", "--net-host",
        "--label", "tier=web", "--label", "empty=", "x1", "top")
    assert (code, err) == (0, "")
    record = _record(layout, "x1")
    spec = record["spec"]
    assert record["rootfs"] == {"kind": "dir", "path": str(rootfs)}
    assert record["labels"] == {"tier": "web", "empty": ""}
    assert spec["root"] == {"path": str(rootfs), "readonly": True}
    assert spec["process"]["args"] == ["top"]
    assert spec["process"]["env"][-1] == "TERM=dumb"
    assert spec["process"]["cwd"] == "/srv"
    assert spec["process"]["user"] == {"uid": 1000, "gid": 1000}
    assert spec["hostname"] == "h"
    assert spec["mounts"][-1] == {"destination": "/data", "type": "bind",
                                  "source": str(tmp_path), "options": ["rbind", "ro"]}
    assert "network" not in [ns["type"] for ns in spec["linux"]["namespaces"]]
    assert "/usr" not in [m["destination"] for m in spec["mounts"]]


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc not installed")
def test_create_from_bundle(pt: Callable[..., Result], layout: Layout, tmp_path: Path) -> None:
    bundle = tmp_path / "bundle"
    (bundle / "rootfs").mkdir(parents=True)
    subprocess.run(["runc", "spec", "--bundle", str(bundle)], check=True)
    assert pt("create", "--bundle", str(bundle), "b1")[0] == 0
    record = _record(layout, "b1")
    assert record["rootfs"] == {"kind": "bundle", "path": str(bundle / "rootfs")}
    spec = record["spec"]
    assert spec["process"]["args"] == ["sh"]  # the bundle's own
    assert spec["process"]["terminal"] is False  # the task decides, not the bundle
    assert spec["root"] == {"path": str(bundle / "rootfs"), "readonly": True}  # bundle's
    assert spec["hostname"] == "runc"  # the bundle's
    assert pt("create", "--bundle", str(bundle), "b2", "echo", "x")[0] == 0
    assert _record(layout, "b2")["spec"]["process"]["args"] == ["echo", "x"]


def test_create_bad_bundle(pt: Callable[..., Result], tmp_path: Path) -> None:
    code, out, err = pt("create", "--bundle", str(tmp_path), "b")
    assert (code, out) == (2, "")
    assert err == f"pytasks: bundle {tmp_path}: config.json not found\n"


def test_create_invalid_id_touches_nothing(pt: Callable[..., Result], tmp_path: Path) -> None:
    code, out, err = pt("create", "../x")
    assert (code, out) == (2, "")
    assert err == ("pytasks: container id '../x' is invalid: must match "
                   "[A-Za-z0-9]+([._-][A-Za-z0-9]+)*\n")
    assert not (tmp_path / "root").exists()
    assert not (tmp_path / "state").exists()


def test_create_too_long_id(pt: Callable[..., Result], tmp_path: Path) -> None:
    assert pt("create", "a" * 76)[0] == 0
    code, _, err = pt("create", "a" * 77)
    assert code == 2
    assert "is 77 characters long; at most 76 allowed" in err
    assert err.startswith("pytasks: container id ")
    assert err.count("\n") == 1


def test_create_duplicate(pt: Callable[..., Result]) -> None:
    assert pt("create", "dup")[0] == 0
    assert pt("create", "dup", "true") == (4, "", "pytasks: container dup: already exists\n")


def test_create_rootfs_and_bundle_conflict(pt: Callable[..., Result], tmp_path: Path) -> None:
    code, _, err = pt("create", "--rootfs", str(tmp_path), "--bundle", str(tmp_path), "c")
    assert code == 2
    assert err.startswith("pytasks: --rootfs and --bundle are mutually exclusive")
    assert not (tmp_path / "root").exists()


@pytest.mark.parametrize(("args", "message"), [
    (["--mount", "type=tmpfs"], "pytasks: invalid --mount 'type=tmpfs': missing dst\n"),
    (["--env", "NOPE"], "pytasks: invalid --env 'NOPE': expected KEY=VALUE\n"),
    (["--user", "1.5"], "pytasks: invalid --user '1.5': expected USER[:GROUP], each a name or a "
     "number\n"),
    (["--label", "x"], "pytasks: invalid --label 'x': expected KEY=VALUE\n"),
    (["--cwd", "rel"], "pytasks: invalid --cwd 'rel': must be an absolute path\n"),
])
def test_create_bad_options(pt: Callable[..., Result], tmp_path: Path, args: list[str],
                            message: str) -> None:
    assert pt("create", *args, "c") == (2, "", message)
    assert not (tmp_path / "root").exists()


def test_create_rootfs_must_exist(pt: Callable[..., Result], tmp_path: Path) -> None:
    code, _, err = pt("create", "--rootfs", str(tmp_path / "missing"), "c")
    assert code == 2
    assert err == f"pytasks: --rootfs {tmp_path / 'missing'}: not a directory\n"


def test_list_formats(pt: Callable[..., Result], tmp_path: Path) -> None:
    assert pt("list") == (0, "CONTAINER    RUNTIME    ROOTFS    CREATED\n", "")
    rootfs = tmp_path / "rfs"
    rootfs.mkdir()
    assert pt("create", "b")[0] == 0
    assert pt("create", "--rootfs", str(rootfs), "a")[0] == 0
    assert pt("ls", "-q") == (0, "a\nb\n", "")
    code, out, _ = pt("list")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["CONTAINER", "RUNTIME", "ROOTFS", "CREATED"]
    assert lines[1].split()[:3] == ["a", "runc", str(rootfs)]
    assert lines[2].split()[:3] == ["b", "runc", "host-tools"]
    created = lines[1].split()[3]
    assert len(created) == len("2026-11-28T17:33:42Z") and created.endswith("Z")
    code, out, _ = pt("list", "--format", "json")
    assert code == 0
    assert [r["id"] for r in json.loads(out)["containers"]] == ["a", "b"]


def test_info(pt: Callable[..., Result], layout: Layout) -> None:
    assert pt("create", "--label", "k=v", "i1")[0] == 0
    code, out, err = pt("info", "i1")
    assert (code, err) == (0, "")
    assert json.loads(out) == _record(layout, "i1")
    assert out.startswith("{\n  ")  # pretty


def test_info_unknown(pt: Callable[..., Result]) -> None:
    assert pt("info", "nope") == (3, "", "pytasks: container nope not found\n")
    assert pt("info", "../x")[0] == 2


def test_delete_each_id_worst_code(pt: Callable[..., Result], layout: Layout,
                                   task_status: Callable) -> None:
    for cid in ("a", "b", "busy", "done"):
        assert pt("create", cid)[0] == 0
    task_status({"busy": Status.RUNNING, "done": Status.STOPPED})
    code, out, err = pt("rm", "a", "nope", "busy", "../x", "done", "b")
    assert (code, out) == (5, "")
    assert err.splitlines() == [
        "pytasks: container nope not found",
        "pytasks: cannot delete container busy: task is running",
        "pytasks: container id '../x' is invalid: must match [A-Za-z0-9]+([._-][A-Za-z0-9]+)*",
        "pytasks: cannot delete container done: task exists; "
        "delete it first with 'pytasks delete done'",
    ]
    assert sorted(p.stem for p in Path(layout.containers_dir).iterdir()) == ["busy", "done"]


def test_delete_not_found_code(pt: Callable[..., Result], task_status: Callable) -> None:
    assert pt("create", "x")[0] == 0
    assert pt("delete", "x") == (0, "", "")
    assert pt("delete", "x") == (3, "", "pytasks: container x not found\n")


def test_delete_needs_an_id(pt: Callable[..., Result]) -> None:
    code, _, err = pt("delete")
    assert code == 2
    assert "Missing argument 'ID...'" in err
