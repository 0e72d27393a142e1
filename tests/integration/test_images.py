"""`pytasks images`: OCI and docker archives written by tests/helpers/images.py imported
for real: blobs verified, layers unpacked into shared snapshots (whiteouts, opaque dirs,
owners, modes, xattrs, hard links), hostile layers refused, nothing half-imported left."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest
from helpers.images import (
    Entry,
    Image,
    busybox_image,
    digest,
    layer_tar,
    write_docker_archive,
    write_oci_archive,
)
from helpers.roots import Roots

from pytasks.images import host_platform

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory, busybox_rootfs: Path) -> Image:
    return busybox_image(busybox_rootfs)


def snapshots(roots: Roots) -> list[str]:
    try:
        return sorted(os.listdir(roots.root / "snapshots"))
    except FileNotFoundError:
        return []


def assert_nothing_imported(roots: Roots) -> None:
    assert roots.pytasks("images", "ls", "-q", check=True).stdout == ""
    assert roots.pytasks("content", "ls", "-q", check=True).stdout == ""
    assert [s for s in snapshots(roots) if s != ".locks"] == []
    ingest = roots.root / "content" / "ingest"
    assert not ingest.exists() or not os.listdir(ingest)


def snapshot_of(roots: Roots, diff_ids: list[str], n: int) -> Path:
    from pytasks.snapshots import chain_ids

    return roots.root / "snapshots" / chain_ids(diff_ids)[n].removeprefix("sha256:") / "fs"


def test_oci_archive_imports_into_shared_snapshots(roots: Roots, image: Image,
                                                   tmp_path: Path) -> None:
    archive = write_oci_archive(tmp_path / "oci.tar", [image])
    result = roots.pytasks("images", "import", archive, check=True)
    manifest = digest(image.manifest())
    assert result.stdout == f"busybox-test:latest\t{manifest}\n"
    info = json.loads(roots.pytasks("images", "info", "busybox-test", check=True).stdout)
    assert info["target"]["digest"] == manifest
    assert info["platform"] == "linux/amd64"
    assert info["image_config"]["config"]["Entrypoint"] == ["/bin/greet"]
    assert [layer["media_type"].rsplit(".", 1)[-1] for layer in info["layers"]] == [
        "tar+gzip", "tar+zstd", "tar"]
    diff_ids = info["diff_ids"]
    assert len([s for s in snapshots(roots) if not s.startswith(".")]) == 3
    first, second, third = (snapshot_of(roots, diff_ids, n) for n in range(3))
    assert (first / "bin" / "busybox").is_file() and (first / "etc" / "gone").is_file()
    assert os.readlink(first / "bin" / "sh") == "busybox"
    # The whiteout is an overlayfs one (a 0:0 char device), the opaque dir has its xattr.
    gone = os.lstat(second / "etc" / "gone")
    assert stat.S_ISCHR(gone.st_mode) and gone.st_rdev == os.makedev(0, 0)
    assert os.getxattr(second / "data", "trusted.overlay.opaque") == b"y"
    assert not (second / "data" / ".wh..wh..opq").exists()
    new = os.lstat(second / "data" / "new")
    assert (new.st_uid, new.st_gid, stat.S_IMODE(new.st_mode), new.st_nlink) == (
        1000, 1000, 0o604, 2)
    assert os.path.samestat(new, os.lstat(second / "data" / "new-link"))
    assert os.getxattr(second / "data" / "new", "user.origin") == b"layer2"
    assert os.readlink(second / "data" / "sym") == "/etc/motd"
    assert stat.S_ISFIFO(os.lstat(second / "data" / "pipe").st_mode)
    assert stat.S_IMODE(os.lstat(second / "data").st_mode) == 0o775
    assert (third / "etc" / "motd").read_text() == "motd of the top layer\n"
    # A second import of the same layers unpacks nothing again: the snapshots are shared.
    before = os.lstat(first).st_ino
    other = busybox_image_named(image, "again:1")
    roots.pytasks("images", "import", write_oci_archive(tmp_path / "again.tar", [other]),
                  check=True)
    assert os.lstat(first).st_ino == before
    assert len([s for s in snapshots(roots) if not s.startswith(".")]) == 3
    used = json.loads(roots.pytasks("content", "info", manifest, check=True).stdout)["used_by"]
    assert used == ["image.test.again:1", "image.test.busybox-test:latest"]
    # rm lets go of what the other image still uses
    assert roots.pytasks("images", "rm", "busybox-test", check=True).stdout == \
        "busybox-test:latest\n"
    assert len([s for s in snapshots(roots) if not s.startswith(".")]) == 3
    roots.pytasks("images", "rm", "again:1", check=True)
    assert_nothing_imported(roots)


def busybox_image_named(image: Image, name: str) -> Image:
    copy = Image.__new__(Image)
    copy.__dict__.update(image.__dict__)
    copy.name = name
    return copy


def test_docker_archive_of_two_images_with_a_shared_layer(roots: Roots, image: Image,
                                                          tmp_path: Path) -> None:
    small = Image([(image.layers[0][1], "none"), (layer_tar([Entry("etc/small")]), "none")],
                  name="small:v1", cmd=["sh"])
    archive = write_docker_archive(tmp_path / "docker.tar", [image, small])
    with tarfile.open(archive) as tar:  # the shared layer really is a symlink member
        assert any(m.issym() for m in tar.getmembers())
    with open(archive, "rb") as stdin:  # from stdin, as `docker save | pytasks ...`
        result = subprocess.run(roots.argv("images", "import", "-"), stdin=stdin,
                                capture_output=True, text=True, env=roots.full_env())
    assert result.returncode == 0, result.stderr
    assert [line.split("\t")[0] for line in result.stdout.splitlines()] == [
        "busybox-test:latest", "small:v1"]
    assert roots.pytasks("images", "ls", "-q", check=True).stdout == \
        "busybox-test:latest\nsmall:v1\n"
    # three layers of one image, one more of the other: the base is unpacked once
    assert len([s for s in snapshots(roots) if not s.startswith(".")]) == 4
    for name in ("busybox-test:latest", "small:v1"):
        roots.pytasks("images", "rm", name, check=True)
    assert_nothing_imported(roots)


def test_an_index_picks_the_host_platform_unless_told(roots: Roots, image: Image,
                                                      tmp_path: Path) -> None:
    host_arch = host_platform().split("/")[1]
    other_arch = "arm64" if host_arch != "arm64" else "amd64"
    mine = Image([(layer_tar([Entry("etc/arch", data=host_arch.encode())]), "gzip")],
                 name="multi:1", architecture=host_arch)
    theirs = Image([(layer_tar([Entry("etc/arch", data=other_arch.encode())]), "gzip")],
                   name="multi:1", architecture=other_arch)
    archive = write_oci_archive(tmp_path / "multi.tar", [theirs, mine], platform_index=True)
    out = roots.pytasks("images", "import", archive, check=True).stdout
    assert out == f"multi:1\t{digest(mine.manifest())}\n"
    out = roots.pytasks("images", "import", "--platform", f"linux/{other_arch}", archive,
                        check=True).stdout
    assert out == f"multi:1\t{digest(theirs.manifest())}\n"
    info = json.loads(roots.pytasks("images", "info", "multi:1", check=True).stdout)
    assert info["platform"] == f"linux/{other_arch}" and info["index"]
    # the replaced record's blobs went; the other platform's manifest is not kept
    blobs = roots.pytasks("content", "ls", "-q", check=True).stdout.split()
    assert digest(mine.manifest()) not in blobs and digest(theirs.manifest()) in blobs
    missing = roots.pytasks("images", "import", "--platform", "linux/s390x", archive)
    assert missing.returncode == 3 and "no image in the archive is for platform" in \
        missing.stderr
    roots.pytasks("images", "rm", "multi:1", check=True)
    assert_nothing_imported(roots)


def test_a_corrupt_blob_is_data_loss_and_leaves_nothing(roots: Roots, image: Image,
                                                        tmp_path: Path) -> None:
    blob = image.layers[1][0]
    name = f"blobs/sha256/{digest(blob).removeprefix('sha256:')}"
    bad = write_oci_archive(tmp_path / "bad.tar", [image],
                            tamper={name: blob[:-1] + bytes([blob[-1] ^ 1])})
    result = roots.pytasks("images", "import", bad)
    assert result.returncode == 1, result.stderr
    assert f"member {name}" in result.stderr and "expected" in result.stderr
    assert_nothing_imported(roots)


def test_a_layer_whose_bytes_do_not_match_its_diff_id(roots: Roots, tmp_path: Path) -> None:
    good = Image([(layer_tar([Entry("etc/x")]), "gzip")], name="lie:1")
    config = json.loads(good.config)
    config["rootfs"]["diff_ids"] = [digest(b"something else")]
    good.config = json.dumps(config).encode()
    result = roots.pytasks("images", "import", write_oci_archive(tmp_path / "l.tar", [good]))
    assert result.returncode == 1 and "diff id" in result.stderr, result.stderr
    assert_nothing_imported(roots)


@pytest.mark.parametrize("case", ["not-tar", "no-index", "bad-blob-name", "missing-blob",
                                  "truncated"])
def test_a_bad_archive_is_invalid_argument_naming_the_member(roots: Roots, image: Image,
                                                             tmp_path: Path, case: str) -> None:
    path = tmp_path / "a.tar"
    if case == "not-tar":
        path.write_bytes(b"this is not a tar archive at all\n" * 100)
        want = "not a readable tar archive"
    elif case == "truncated":
        data = write_oci_archive(tmp_path / "full.tar", [image]).read_bytes()
        path.write_bytes(data[:len(data) // 2])
        want = "truncated at member blobs/sha256/"
    else:
        write_oci_archive(path, [image])
        with tarfile.open(path) as tar:
            members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
        if case == "no-index":
            del members["index.json"]
            want = "neither index.json"
        elif case == "bad-blob-name":
            members["blobs/sha256/xyz"] = b"x"
            want = "member blobs/sha256/xyz: not a blob name"
        else:
            layer = digest(image.layers[2][0]).removeprefix("sha256:")
            del members[f"blobs/sha256/{layer}"]
            want = f"names layer sha256:{layer}, which is not in the archive"
        with tarfile.open(path, "w") as tar:
            for name, data in members.items():
                info = tarfile.TarInfo(name)
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    result = roots.pytasks("images", "import", path)
    assert result.returncode == 2, result.stderr
    assert want in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert_nothing_imported(roots)


HOSTILE = {
    "dotdot": [Entry("../../x-outside", data=b"pwned")],
    "absolute": [Entry("/x-outside", data=b"pwned")],
    "symlink-parent": [Entry("evil", "symlink", link="OUTSIDE"),
                       Entry("evil/x-outside", data=b"pwned")],
    "hardlink-out": [Entry("stolen", "hardlink", link="../../OUTSIDE-FILE")],
    "hardlink-absolute": [Entry("stolen", "hardlink", link="OUTSIDE-FILE")],
    "overlay-xattr": [Entry("d", "dir", xattrs={"trusted.overlay.redirect": "/etc"})],
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_hostile_layers_are_refused(roots: Roots, tmp_path: Path, case: str) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    target = tmp_path / "outside-file"
    target.write_text("secret\n")
    entries = []
    for entry in HOSTILE[case]:
        link = entry.link.replace("OUTSIDE-FILE", str(target)).replace("OUTSIDE", str(outside))
        entries.append(Entry(entry.name, entry.kind, entry.data, link=link,
                             xattrs=entry.xattrs))
    hostile = Image([(layer_tar([Entry("etc", "dir"), *entries]), "gzip")], name="evil:1")
    result = roots.pytasks("images", "import",
                           write_oci_archive(tmp_path / "evil.tar", [hostile]))
    assert result.returncode == 2, result.stderr
    assert "refused" in result.stderr or "not in the layer" in result.stderr, result.stderr
    assert os.listdir(outside) == []
    assert target.read_text() == "secret\n" and os.stat(target).st_nlink == 1
    assert not list(tmp_path.rglob("x-outside"))
    assert_nothing_imported(roots)


def test_two_imports_of_one_image_at_once(roots: Roots, image: Image, tmp_path: Path) -> None:
    archive = write_oci_archive(tmp_path / "oci.tar", [image])
    procs = [subprocess.Popen(roots.argv("images", "import", archive), env=roots.full_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    names = snapshots(roots)
    assert len([s for s in names if not s.startswith(".")]) == 3
    assert [s for s in names if s.startswith(".") and s != ".locks"] == []
    roots.pytasks("images", "rm", "busybox-test:latest", check=True)
    assert_nothing_imported(roots)


def test_a_killed_import_s_blobs_go_with_the_next_import(roots: Roots, tmp_path: Path
                                                         ) -> None:
    from pytasks.state.content import ContentStore

    store = ContentStore(roots.layout)
    orphan = store.write([b"a blob a killed import brought"], ref="import.999999999-dead")
    kept = store.write([b"a blob a live import holds"], ref=f"import.{os.getpid()}-live")
    small = Image([(layer_tar([Entry("etc/x", data=b"x")]), "gzip")], name="small:1")
    roots.pytasks("images", "import", write_oci_archive(tmp_path / "s.tar", [small]),
                  check=True)
    blobs = roots.pytasks("content", "ls", "-q", check=True).stdout.split()
    assert orphan.digest not in blobs and kept.digest in blobs
    store.remove(kept.digest, force=True)
    roots.pytasks("images", "rm", "small:1", check=True)
    assert_nothing_imported(roots)


def test_a_dead_unpack_is_never_taken_as_complete(roots: Roots, tmp_path: Path) -> None:
    layer = layer_tar([Entry("etc/x", data=b"x")])
    small = Image([(layer, "gzip")], name="small:1")
    chain = digest(layer).removeprefix("sha256:")
    dead = roots.root / "snapshots" / f".{chain}.99999-dead.unpacking"
    (dead / "fs").mkdir(parents=True)
    roots.pytasks("images", "import", write_oci_archive(tmp_path / "s.tar", [small]),
                  check=True)
    assert not dead.exists()
    assert (roots.root / "snapshots" / chain / "fs" / "etc" / "x").read_bytes() == b"x"
    roots.pytasks("images", "rm", "small:1", check=True)
    assert_nothing_imported(roots)


@pytest.fixture
def imported(roots: Roots, image: Image, tmp_path: Path) -> str:
    roots.pytasks("images", "import", write_oci_archive(tmp_path / "oci.tar", [image]),
                  check=True)
    return "busybox-test"


def uppers(roots: Roots) -> list[str]:
    try:
        return sorted(os.listdir(roots.root / roots.namespace / "uppers"))
    except FileNotFoundError:
        return []


def test_run_rm_from_an_image_prints_through_its_entrypoint(roots: Roots,
                                                            imported: str) -> None:
    # Entrypoint + Cmd, the image's Env, WorkingDir, and User "app" from its own passwd
    result = roots.pytasks("run", "--rm", "--image", imported, "c")
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout == "greet: hello world as 1000 in /data\n"
    # the given CMD replaces Cmd, not the Entrypoint; --env/--user/--cwd override
    result = roots.pytasks("run", "--rm", "--image", imported, "--env", "GREETING=bye",
                           "--user", "0", "--cwd", "/etc", "c", "you", "two")
    assert result.stdout == "greet: bye you two as 0 in /etc\n", result.stderr
    assert roots.pytasks("containers", "ls", "-q", check=True).stdout == ""
    assert uppers(roots) == []


def test_an_image_container_sees_the_merged_layers_and_writes_its_own(
        roots: Roots, imported: str) -> None:
    script = ("test ! -e /etc/gone && test ! -e /data/old && cat /data/new /etc/motd && "
              "readlink /data/sym && echo written > /data/mine && ls /data")
    roots.pytasks("containers", "create", "--image", imported, "--user", "0",
                  "--entrypoint", "", "c", "sh", "-c", script, check=True)
    container = json.loads(roots.pytasks("containers", "info", "c", check=True).stdout)
    assert container["image"] == "busybox-test:latest"
    assert container["rootfs"]["kind"] == "image"
    result = roots.pytasks("run", "--rm", "--image", imported, "--user", "0",
                           "--entrypoint", '["/bin/sh", "-c"]', "d", script)
    assert (result.returncode, result.stderr) == (0, ""), result.stderr
    assert result.stdout == ("new data\nmotd of the top layer\n/etc/motd\n"
                             "mine\nnew\nnew-link\npipe\nsym\n")
    # the write went to d's own upper layer (gone with d), never to a snapshot
    info = json.loads(roots.pytasks("images", "info", imported, check=True).stdout)
    for n in range(3):
        assert not (snapshot_of(roots, info["diff_ids"], n) / "data" / "mine").exists()
    # an image a container uses is not removed unless forced
    refused = roots.pytasks("images", "rm", imported)
    assert refused.returncode == 5 and "used by container c" in refused.stderr
    assert uppers(roots) == []  # c's upper is made when its task is created
    roots.pytasks("run", "-d", "--image", imported, "--entrypoint", "sleep", "e", "600",
                  check=True)
    assert uppers(roots) == ["e"]
    roots.pytasks("containers", "delete", "-f", "e", check=True)
    roots.pytasks("containers", "delete", "c", check=True)
    assert uppers(roots) == []
    roots.pytasks("images", "rm", imported, check=True)
    assert_nothing_imported(roots)


def test_image_option_errors(roots: Roots, imported: str, busybox_rootfs: Path) -> None:
    missing = roots.pytasks("run", "--rm", "--image", "nope", "c")
    assert missing.returncode == 3 and "image nope: not found" in missing.stderr
    both = roots.pytasks("run", "--rm", "--image", imported, "--rootfs", busybox_rootfs, "c")
    assert both.returncode == 2 and "--image cannot be used with --rootfs" in both.stderr
    nouser = roots.pytasks("run", "--rm", "--image", imported, "--user", "ghost", "c")
    assert nouser.returncode == 2 and "no user 'ghost'" in nouser.stderr
    assert roots.pytasks("containers", "ls", "-q", check=True).stdout == ""
    roots.pytasks("images", "rm", imported, check=True)
