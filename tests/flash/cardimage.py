"""A small Jetson-like card image: GPT with a boot partition and an ext4 `APP` root holding /etc as a Yocto
debug-tweaks image has it (sshd_config with PermitEmptyPasswords yes, root:: in /etc/shadow)."""

from __future__ import annotations

import subprocess
from pathlib import Path

SECTOR = 512
APP_START = 4096  # sectors: 2 MiB
APP_SECTORS = 16384  # 8 MiB

# As openssh's sshd_config after oe-core's ssh_allow_empty_password (debug-tweaks) has run.
SSHD_CONFIG = """#	$OpenBSD: sshd_config,v 1.103 2018/04/09 20:41:22 tj Exp $

#Port 22
#AddressFamily any
#ListenAddress 0.0.0.0

PermitRootLogin yes
#StrictModes yes
#MaxAuthTries 6

#PubkeyAuthentication yes
#AuthorizedKeysFile	.ssh/authorized_keys

#PasswordAuthentication yes
PermitEmptyPasswords yes

ChallengeResponseAuthentication no
UsePAM yes

Subsystem	sftp	/usr/libexec/sftp-server

# Example of overriding settings on a per-user basis
#Match User anoncvs
#	X11Forwarding no
"""

HOSTS = """127.0.0.1	localhost.localdomain		localhost

# The following lines are desirable for IPv6 capable hosts
::1     localhost ip6-localhost ip6-loopback
fe00::0 ip6-localnet
"""

SHADOW = """root::18000:0:99999:7:::
daemon:*:18000:0:99999:7:::
"""


def run(*argv, **kw):
    return subprocess.run([str(a) for a in argv], check=True, capture_output=True, **kw)


def make_rootfs(folder: Path, *, sshd: bool = True, root_dir: bool = True) -> Path:
    etc = folder / "etc"
    (etc / "ssh").mkdir(parents=True)
    (etc / "hostname").write_text("jetson-nano-qspi-sd\n")
    (etc / "hosts").write_text(HOSTS)
    if sshd:
        (etc / "ssh" / "sshd_config").write_text(SSHD_CONFIG)
    (etc / "shadow").write_text(SHADOW)
    (etc / "shadow").chmod(0o400)
    if root_dir:
        (folder / "root").mkdir(mode=0o700)
    return folder


def make_card_image(path: Path, work: Path, *, app_fs: str = "ext4", app_name: str = "APP",
                    app_sectors: int = APP_SECTORS, mkfs_args: tuple = (), extra=None, **rootfs) -> Path:
    """Write the image to `path` (a file; dd it onto a loop device for a card). `extra(root)` may add files to
    the root folder before mkfs.ext4 -d copies it; `mkfs_args` go to mkfs.ext4 (its defaults otherwise: on
    e2fsprogs 1.47 metadata_csum, 64bit, flex_bg, and 4 KiB blocks from 512 MiB up)."""
    path, work = Path(path), Path(work)
    APP_SECTORS = app_sectors  # noqa: N806 - the same name as the default, for the lines below
    total = APP_START + APP_SECTORS + 64
    run("truncate", "-s", str(total * SECTOR), path)
    run("sgdisk", "-n", f"1:2048:{APP_START - 1}", "-c", "1:RP1", "-t", "1:8300",
        "-n", f"2:{APP_START}:{APP_START + APP_SECTORS - 1}", "-c", f"2:{app_name}", "-t", "2:8300", path)
    part = work / f"{path.name}.app"
    run("truncate", "-s", str(APP_SECTORS * SECTOR), part)
    if app_fs == "ext4":
        root = make_rootfs(work / f"{path.name}.root", **rootfs)
        if extra is not None:
            extra(root)
        run("mkfs.ext4", "-q", "-F", "-E", "root_owner=0:0", *mkfs_args, "-d", root, part)
    elif app_fs == "swap":  # util-linux, on every Debian: a partition that is clearly not ext4
        run("mkswap", part)
    run("dd", f"if={part}", f"of={path}", "bs=512", f"seek={APP_START}", "conv=notrunc", "status=none")
    part.unlink()
    return path


def app_spec(target) -> str:
    return f"{target}?offset={APP_START * SECTOR}"


def debugfs(target, command: str) -> str:
    return subprocess.run(["debugfs", "-R", command, app_spec(target)], capture_output=True, text=True,
                          check=True).stdout


def stat_of(target, path: str) -> tuple:
    """(type, permission bits, uid, gid) as debugfs reports them."""
    import re
    out = debugfs(target, f"stat {path}")
    m = re.search(r"Type:\s+(\w+)\s+Mode:\s+(\d+)", out)
    u = re.search(r"User:\s+(\d+)\s+Group:\s+(\d+)", out)
    return m.group(1), int(m.group(2), 8), int(u.group(1)), int(u.group(2))


def fsck_clean(target) -> bool:
    return subprocess.run(["e2fsck", "-fn", app_spec(target)], capture_output=True).returncode == 0
