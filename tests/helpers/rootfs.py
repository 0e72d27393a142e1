"""A minimal container root filesystem made from busybox-static."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

BUSYBOX = Path("/bin/busybox")

PASSWD = """\
root:x:0:0:root:/root:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
"""
GROUP = """\
root:x:0:
nogroup:x:65534:
"""
HOSTS = "127.0.0.1\tlocalhost\n::1\tlocalhost\n"

# Directories a runtime mounts onto (proc, dev, sys, tmp) exist up front, so the tree also
# works read-only, e.g. as the lower dir of an overlay.
DIRS = {"bin": 0o755, "dev": 0o755, "etc": 0o755, "proc": 0o555, "root": 0o700,
        "sys": 0o555, "tmp": 0o1777, "run": 0o755, "var": 0o755}


def is_static_elf(path: Path) -> bool:
    """True when the ELF file has no PT_INTERP program header (needs no dynamic loader)."""
    with path.open("rb") as f:
        ident = f.read(64)
        if ident[:4] != b"\x7fELF" or ident[4] != 2:  # ELF, 64-bit
            return False
        endian = "<" if ident[5] == 1 else ">"
        phoff, = struct.unpack_from(endian + "Q", ident, 0x20)
        phentsize, phnum = struct.unpack_from(endian + "HH", ident, 0x36)
        f.seek(phoff)
        headers = f.read(phentsize * phnum)
    pt_interp = 3
    return all(struct.unpack_from(endian + "I", headers, i * phentsize)[0] != pt_interp
               for i in range(phnum))


def build_busybox_rootfs(dest: Path, busybox: Path = BUSYBOX) -> Path:
    """Create `dest` with bin/busybox, one bin/<applet> symlink per applet, the usual mount
    point directories and etc/{passwd,group,hosts}. Returns `dest`."""
    if not busybox.exists():
        raise FileNotFoundError(f"{busybox} is missing: install busybox-static "
                                "(./scripts/setup does)")
    if not is_static_elf(busybox):
        raise RuntimeError(f"{busybox} is dynamically linked: install busybox-static, "
                           "not busybox")
    dest.mkdir(parents=True)
    for name, mode in DIRS.items():
        (dest / name).mkdir()
        (dest / name).chmod(mode)
    shutil.copy2(busybox, dest / "bin" / "busybox")
    (dest / "bin" / "busybox").chmod(0o755)
    applets = subprocess.run([str(busybox), "--list"], check=True, capture_output=True,
                             text=True).stdout.split()
    for applet in applets:
        if applet != "busybox":
            (dest / "bin" / applet).symlink_to("busybox")
    for name, text in (("passwd", PASSWD), ("group", GROUP), ("hosts", HOSTS)):
        (dest / "etc" / name).write_text(text)
        (dest / "etc" / name).chmod(0o644)
    return dest


def copy_rootfs(src: Path, dest: Path) -> Path:
    """A private, writable copy of a rootfs (symlinks kept as symlinks)."""
    shutil.copytree(src, dest, symlinks=True)
    return dest
