"""pytasks.spec: runc's defaults, overrides, --mount parsing, bundles, host-tools root."""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from pytasks import spec
from pytasks.errors import FailedPreconditionError, InvalidArgumentError


@pytest.mark.skipif(shutil.which("runc") is None, reason="runc not installed")
def test_default_spec_equals_runc_spec_except_deliberate_differences(tmp_path: Path) -> None:
    subprocess.run(["runc", "spec", "--bundle", str(tmp_path)], check=True)
    expected = json.loads((tmp_path / "config.json").read_text())
    # The deliberate differences (see default_spec's docstring).
    expected["process"]["terminal"] = False
    expected["root"]["readonly"] = False
    assert spec.default_spec(["sh"]) == expected


def test_default_spec_takes_args_and_is_fresh() -> None:
    one = spec.default_spec(["echo", "hi"])
    assert one["process"]["args"] == ["echo", "hi"]
    one["mounts"].clear()
    one["process"]["capabilities"]["bounding"].append("CAP_SYS_ADMIN")
    two = spec.default_spec(["sh"])
    assert len(two["mounts"]) == 7
    assert two["process"]["capabilities"]["bounding"] == spec.DEFAULT_CAPS
    assert "CAP_SYS_ADMIN" not in spec.DEFAULT_CAPS


def test_apply_overrides_does_not_mutate_input() -> None:
    base = spec.default_spec(["sh"])
    before = json.dumps(base, sort_keys=True)
    spec.apply_overrides(base, args=["x"], env=["A=1"], hostname="h", readonly=True,
                         net_host=True, terminal=True)
    assert json.dumps(base, sort_keys=True) == before


def test_env_replaces_same_named_keys() -> None:
    out = spec.apply_overrides(spec.default_spec(["sh"]),
                               env=["TERM=dumb", "FOO=a=b", "FOO=c", "EMPTY="])
    assert out["process"]["env"] == [spec.DEFAULT_PATH, "TERM=dumb", "FOO=c", "EMPTY="]


@pytest.mark.parametrize("item", ["NOVALUE", "=x", ""])
def test_env_rejects_malformed(item: str) -> None:
    with pytest.raises(InvalidArgumentError, match="expected KEY=VALUE"):
        spec.apply_overrides(spec.default_spec(["sh"]), env=[item])


def test_overrides_fields() -> None:
    out = spec.apply_overrides(
        spec.default_spec(["sh"]), args=["top"], cwd="/srv", user="1000:100",
        hostname="box", readonly=True, net_host=True, terminal=True)
    assert out["process"]["args"] == ["top"]
    assert out["process"]["cwd"] == "/srv"
    assert out["process"]["user"] == {"uid": 1000, "gid": 100}
    assert out["process"]["terminal"] is True
    assert out["hostname"] == "box"
    assert out["root"]["readonly"] is True
    types = [ns["type"] for ns in out["linux"]["namespaces"]]
    assert types == ["pid", "ipc", "uts", "mount"]
    assert any(m["type"] == "sysfs" for m in out["mounts"])  # sysfs stays with --net-host


def test_overrides_keep_fields_when_not_given() -> None:
    base = spec.default_spec(["a", "b"])
    base["root"]["readonly"] = True
    base["process"]["terminal"] = True
    out = spec.apply_overrides(base)
    assert out["process"]["args"] == ["a", "b"]
    assert out["root"]["readonly"] is True  # readonly=None leaves it
    assert out["process"]["terminal"] is False  # terminal is always decided by the caller


def test_user_without_gid_defaults_to_group_0() -> None:
    out = spec.apply_overrides(spec.default_spec(["sh"]), user="65534")
    assert out["process"]["user"] == {"uid": 65534, "gid": 0}


@pytest.mark.parametrize("user", ["1000:", ":1", "-1", "1:2:3", "4294967295", "1.5", "a b",
                                  "root:", "9x"])
def test_user_rejects_bad_syntax_or_out_of_range(user: str) -> None:
    with pytest.raises(InvalidArgumentError, match="invalid --user"):
        spec.apply_overrides(spec.default_spec(["sh"]), user=user, user_root="/nonexistent")


def test_cwd_must_be_absolute() -> None:
    with pytest.raises(InvalidArgumentError, match="must be an absolute path"):
        spec.apply_overrides(spec.default_spec(["sh"]), cwd="srv")


def test_parse_mount_overlay_options_keep_colon_lists() -> None:
    mount = spec.parse_mount(
        "type=overlay,src=overlay,dst=/merged,options=lowerdir=/a:/b:upperdir=/u:workdir=/w")
    assert mount == {
        "destination": "/merged", "type": "overlay", "source": "overlay",
        "options": ["lowerdir=/a:/b", "upperdir=/u", "workdir=/w"],
    }


def test_parse_mount_bind_defaults(tmp_path: Path) -> None:
    mount = spec.parse_mount(f"src={tmp_path},dst=/data,options=ro")
    assert mount == {"destination": "/data", "type": "bind", "source": str(tmp_path),
                     "options": ["rbind", "ro"]}
    mount = spec.parse_mount(f"type=bind,source={tmp_path},destination=/d,options=bind:ro")
    assert mount["options"] == ["bind", "ro"]


def test_parse_mount_relative_src_is_resolved_against_cwd(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path)
    assert spec.parse_mount("src=sub,dst=/d")["source"] == str(tmp_path / "sub")


def test_parse_mount_tmpfs_source_defaults_to_type() -> None:
    mount = spec.parse_mount("type=tmpfs,dst=/scratch/,options=size=1m:mode=1777")
    assert mount == {"destination": "/scratch", "type": "tmpfs", "source": "tmpfs",
                     "options": ["size=1m", "mode=1777"]}


def test_parse_mount_quoted_value_may_hold_a_comma(tmp_path: Path) -> None:
    odd = tmp_path / "a,b"
    odd.mkdir()
    mount = spec.parse_mount(f'"src={odd}",dst=/x')
    assert mount["source"] == str(odd)


@pytest.mark.parametrize(("text", "why"), [
    ("type=tmpfs", "missing dst"),
    ("type=tmpfs,dst=rel", "dst 'rel' must be an absolute path"),
    ("type=tmpfs,dst=/a,color=red", "unknown key 'color'"),
    ("type=tmpfs,dst=/a,dst=/b", "'dst' given twice"),
    ("type=tmpfs,dst=/a,junk", "expected key=value"),
    ("type=tmpfs,dst=/a,options=", "empty value for 'options'"),
    ("type=tmpfs,dst=/a,options=ro::nosuid", "malformed options"),
    ("type=tmpfs,dst=/a,options=/x", "malformed options"),
    ("type=tmpfs,dst=/a,options=ro:/x", "malformed options"),
    ("dst=/a", "missing src for a bind mount"),
    ("src=/nonexistent/pytasks-test,dst=/a", "does not exist"),
    ("", "missing dst"),
])
def test_parse_mount_rejects_malformed(text: str, why: str) -> None:
    with pytest.raises(InvalidArgumentError) as info:
        spec.parse_mount(text)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"invalid --mount {text!r}: ")
    assert why in message


def test_mounts_are_appended_or_replace_same_destination(tmp_path: Path) -> None:
    out = spec.apply_overrides(spec.default_spec(["sh"]), mounts=[
        "type=tmpfs,dst=/dev/shm,options=size=1g", f"src={tmp_path},dst=/data"])
    dests = [m["destination"] for m in out["mounts"]]
    assert dests.count("/dev/shm") == 1
    assert dests[-2:] == ["/dev/shm", "/data"]
    shm = next(m for m in out["mounts"] if m["destination"] == "/dev/shm")
    assert shm["options"] == ["size=1g"]


def test_host_tools_mounts() -> None:
    mounts = {m["destination"]: m for m in spec.host_tools_mounts()}
    assert mounts["/usr"] == {"destination": "/usr", "type": "bind", "source": "/usr",
                              "options": ["rbind", "ro", "nodev"]}
    assert mounts["/etc"]["options"] == ["rbind", "ro", "nosuid", "nodev"]
    assert mounts["/tmp"]["type"] == "tmpfs"
    assert "mode=1777" in mounts["/tmp"]["options"]


def test_prepare_host_tools_root(tmp_path: Path) -> None:
    root = tmp_path / "rootfs"
    root.mkdir(mode=0o700)
    old = os.umask(0o077)
    try:
        spec.prepare_host_tools_root(root)
    finally:
        os.umask(old)
    assert stat.S_IMODE(root.stat().st_mode) == 0o755
    for name in ("usr", "etc", "proc", "dev", "sys", "run", "root", "home", "var"):
        path = root / name
        assert path.is_dir() and not path.is_symlink(), name
        assert stat.S_IMODE(path.stat().st_mode) == 0o755, name
    # runc gives a tmpfs the mode of its mount point, so the skeleton's tmp is already 1777.
    assert stat.S_IMODE((root / "tmp").stat().st_mode) == 0o1777
    for name in ("bin", "lib", "sbin"):
        assert os.readlink(root / name) == f"usr/{name}"
    if os.path.isdir("/usr/lib64"):
        assert os.readlink(root / "lib64") == "usr/lib64"
    else:
        assert not os.path.lexists(root / "lib64")
    spec.prepare_host_tools_root(root)  # a retry on the finished skeleton is fine


def test_prepare_host_tools_root_creates_missing_dir(tmp_path: Path) -> None:
    spec.prepare_host_tools_root(tmp_path / "new")
    assert (tmp_path / "new" / "usr").is_dir()


def test_prepare_host_tools_root_refuses_non_empty(tmp_path: Path) -> None:
    (tmp_path / "stray").write_text("x")
    with pytest.raises(FailedPreconditionError, match="not empty: unexpected 'stray'"):
        spec.prepare_host_tools_root(tmp_path)
    other = tmp_path / "other"
    other.mkdir()
    os.symlink("/", other / "bin")
    with pytest.raises(FailedPreconditionError, match="bin is not a link to usr/bin"):
        spec.prepare_host_tools_root(other)


def _bundle(tmp_path: Path, config: object, *, rootfs: bool = True) -> Path:
    bundle = tmp_path / "bundle"
    bundle.mkdir(parents=True)
    if rootfs:
        (bundle / "rootfs").mkdir()
    (bundle / "config.json").write_text(
        config if isinstance(config, str) else json.dumps(config))
    return bundle


def test_load_bundle(tmp_path: Path) -> None:
    config = spec.default_spec(["echo", "bundle"])
    config["mounts"].append({"destination": "/d", "type": "bind", "source": "data",
                             "options": ["rbind"]})
    config["mounts"].append({"destination": "/e", "type": "none", "source": "data2",
                             "options": ["bind"]})
    bundle = _bundle(tmp_path, config)
    loaded, rootfs = spec.load_bundle(bundle)
    assert rootfs == str(bundle / "rootfs")
    assert os.path.isabs(rootfs)
    assert loaded["process"]["args"] == ["echo", "bundle"]
    # relative bind sources mean the bundle dir, which the task will not run from
    assert loaded["mounts"][-2]["source"] == str(bundle / "data")
    assert loaded["mounts"][-1]["source"] == str(bundle / "data2")
    assert loaded["mounts"][0]["source"] == "proc"


def test_load_bundle_absolute_root(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    config = spec.default_spec(["sh"])
    config["root"]["path"] = str(elsewhere)
    _, rootfs = spec.load_bundle(_bundle(tmp_path, config, rootfs=False))
    assert rootfs == str(elsewhere)


def test_load_bundle_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidArgumentError, match=r"config\.json not found"):
        spec.load_bundle(tmp_path)
    with pytest.raises(InvalidArgumentError, match=r"cannot read config\.json"):
        spec.load_bundle(_bundle(tmp_path / "a", "{nope"))
    with pytest.raises(InvalidArgumentError, match="not a JSON object"):
        spec.load_bundle(_bundle(tmp_path / "b", "[1]"))
    with pytest.raises(InvalidArgumentError, match=r"no root\.path"):
        spec.load_bundle(_bundle(tmp_path / "c", {"process": {}}))
    with pytest.raises(InvalidArgumentError, match="is not a directory"):
        spec.load_bundle(_bundle(tmp_path / "d", spec.default_spec(["sh"]), rootfs=False))
