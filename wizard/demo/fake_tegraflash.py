"""A small but real tegraflash-like package for the demo and the tests.

It holds what the SD-card step touches in the real one: `<image>.ext4` (a real ext4 made by mkfs.ext4 with a
few files in it), `flash.xml.in`, `bsp_version`, `<machine>.cfg` and a `dosdcard.sh` that behaves like
meta-tegra's at the tested commit from the outside: it needs BOARDID+FAB in its environment or a Jetson in
recovery mode on USB, it calls bare `sgdisk` and a bare `python` that must run an ElementTree
`getiterator` call (as NVIDIA's R32.3.1 tegraflash.py does: Python 2.7/3.5-3.8, or 3.9+ with a shim), and it writes a sparse `<image>.sdcard` with
a GPT whose APP partition gets the ext4 copied in by `dd conv=notrunc` (fully allocated, as the real one does).
None of NVIDIA's tools are involved; nothing touches a real disk.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import zipfile
from pathlib import Path

SDCARD_MIB = 128          # the real one is 15,840,000,000 bytes; the demo's is small
EXT4_MIB = 96

_FLASH_XML = """<?xml version="1.0"?>
<!-- Stand-in flash layout (demo): the real one comes from the L4T BSP. -->
<partition_layout version="01.00.0000">
  <device type="sdcard" instance="0">
    <partition name="TBC" type="data"><size>1048576</size></partition>
    <partition name="RP1" type="data"><size>1048576</size></partition>
    <partition name="EBT" type="data"><size>1048576</size></partition>
    <partition name="DTB" type="data"><size>1048576</size></partition>
    <partition name="APP" type="data"><filename>APPFILE</filename><size>FILL</size></partition>
  </device>
</partition_layout>
"""

# Stand-in for NVIDIA's tegraflash.py --cmd sign: the same ElementTree call the real R32.3.1 script makes, so it
# fails the same way on Python >= 3.9 (AttributeError: 'ElementTree' object has no attribute 'getiterator') and
# runs on 2.7 and 3.5-3.8 (or with the wizard's shim).
_TEGRAFLASH = r"""# Stand-in for NVIDIA's tegraflash.py (wrnv-wizard demo): signs nothing, parses the layout as the real one does.
from __future__ import print_function
import sys
from xml.etree import ElementTree

cfg = sys.argv[sys.argv.index("--cfg") + 1]
with open(cfg) as f:
    tree = ElementTree.parse(f)
names = [p.get("name") for p in tree.getiterator("partition")]
print("[   0.0100 ] Signing %d partitions with zero key (stand-in)" % len(names))
"""

# bash, like the real script: sgdisk for the GPT, dd conv=notrunc for every partition.
_DOSDCARD = r"""#!/bin/bash
# Stand-in for meta-tegra's dosdcard.sh (wrnv-wizard demo). Same inputs and outputs, no NVIDIA tools.
set -e
IMAGE_BASENAME="@IMAGE@"
MACHINE="@MACHINE@"
SDCARD_MIB=@SDCARD_MIB@
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "$BOARDID" ] && [ -z "$FAB" ]; then
    echo "Board ID and FAB not set; querying the board over USB (recovery mode)..."
    found=""
    for d in /sys/bus/usb/devices/*; do
        if [ -f "$d/idVendor" ] && [ "$(cat "$d/idVendor")" = "0955" ]; then found="$d"; fi
    done
    if [ -z "$found" ]; then
        echo "ERROR: could not find a Jetson in recovery mode on USB (tegrarcm --uid failed)" >&2
        echo "ERROR: set BOARDID and FAB, or connect the board in recovery mode" >&2
        exit 1
    fi
    BOARDID=3448
    FAB=300
    echo "Board ID ($BOARDID) FAB ($FAB) read from EEPROM"
fi
if [ "$FAB" -lt 300 ] 2>/dev/null; then dtbrev=a02; else dtbrev=b00; fi
echo "Board ID($BOARDID) version($FAB) sku(0000) revision($dtbrev)"
sed -e "s,APPFILE,${IMAGE_BASENAME}.ext4," "$here/flash.xml.in" > "$here/flash.xml"
# As the real helper: a bare `python` runs the signing script (which uses ElementTree.getiterator).
python "$here/tegraflash.py" --chip 0x21 --cfg flash.xml --cmd sign || exit 1
printf 'NV3\n# R32 , REVISION: 3.1\nBOARDID=%s BOARDSKU=0000 FAB=%s\n%s\n' "$BOARDID" "$FAB" "$(date -u)" \
    > "$here/${MACHINE}_bootblob_ver.txt"
out="${1:-${IMAGE_BASENAME}.sdcard}"
echo "Creating ${out} (${SDCARD_MIB} MiB, sparse)"
rm -f "$out"
dd if=/dev/zero of="$out" bs=1M count=0 seek="$SDCARD_MIB" status=none
# As the real make-sdcard: bare sgdisk, its failure said in its own words.
if ! sgdisk "$out" --clear --mbrtogpt >/dev/null 2>&1; then
    echo "ERR: could not initialize GPT on $out" >&2
    exit 1
fi
sgdisk \
       -n 1:2048:4095 -c 1:TBC -t 1:8300 \
       -n 2:4096:6143 -c 2:RP1 -t 2:8300 \
       -n 3:6144:8191 -c 3:EBT -t 3:8300 \
       -n 4:8192:10239 -c 4:DTB -t 4:8300 \
       --largest-new=5 -c 5:APP -t 5:8300 "$out" >/dev/null
echo "Writing partition TBC"; dd if="$here/cboot.bin" of="$out" bs=512 seek=2048 conv=notrunc status=none
echo "Writing partition RP1"; dd if="$here/${MACHINE}_bootblob_ver.txt" of="$out" bs=512 seek=4096 conv=notrunc status=none
echo "Writing partition EBT"; dd if="$here/cboot.bin" of="$out" bs=512 seek=6144 conv=notrunc status=none
echo "Writing partition DTB"; dd if="$here/tegra210-p3448-0000-p3449-0000-${dtbrev}.dtb" of="$out" bs=512 seek=8192 conv=notrunc status=none
echo "Writing partition APP"; dd if="$here/${IMAGE_BASENAME}.ext4" of="$out" bs=1M seek=5 conv=notrunc status=none
sgdisk --verify "$out" >/dev/null
echo "Init SD card image ${out}... done"
"""


# Stand-in for doflash.sh (tegra210-flash-helper.sh without --sdcard): reads the board over USB unless BOARDID/FAB
# are set (as the real one; no board: the real tegrarcm finds no chip), runs `python tegraflash.py` with the
# "flash;reboot" command, prints NVIDIA's phase lines, and records what it "wrote" in qspi-written.txt (the demo
# writes no real flash). @FAIL@ set to a partition name makes it fail there, as tegradevflash does when the
# board goes away mid-write.
_DOFLASH = r"""#!/bin/bash
# Stand-in for meta-tegra's doflash.sh (wrnv-wizard demo). Same inputs, no NVIDIA tools, no real flash written.
IMAGE_BASENAME="@IMAGE@"
MACHINE="@MACHINE@"
FAIL_AT="@FAIL@"
here="$(cd "$(dirname "$0")" && pwd)"
if [ -z "$BOARDID" ] && [ -z "$FAB" ]; then
    chipid=""
    for d in /sys/bus/usb/devices/*; do
        if [ -f "$d/idVendor" ] && [ "$(cat "$d/idVendor")" = "0955" ]; then chipid="0x21"; fi
    done
    if [ "$chipid" != "0x21" ]; then
        echo "ERR: chip does not identify as tegra210 ($chipid)" >&2
        exit 1
    fi
    echo "[   0.0010 ] Retrieving EEPROM data"
    BOARDID=3448; FAB=300
fi
if [ "$FAB" -lt 300 ] 2>/dev/null; then dtbrev=a02; else dtbrev=b00; fi
echo "Board ID($BOARDID) version($FAB) SKU(0000) revision($dtbrev)"
echo "$here/mksparse -b 4096 -v --fillpattern=0 ${IMAGE_BASENAME}.ext4 ${IMAGE_BASENAME}.img"
sed -e "s,APPFILE,${IMAGE_BASENAME}.img," "$here/flash.xml.in" > "$here/flash.xml"
python "$here/tegraflash.py" --chip 0x21 --cfg flash.xml --cmd "flash;reboot" || exit 1
for step in "Generating RCM messages" "Parsing partition layout" "Creating list of images to be signed" \
            "Generating signatures" "Boot Rom communication" "Sending BCTs" \
            "Sending bootloader and pre-requisite binaries" "Flashing the device"; do
    echo "[   0.1000 ] $step"
done
: > "$here/qspi-written.txt"
for part in TBC RP1 EBT DTB APP; do
    if [ "$part" = "$FAIL_AT" ]; then
        echo "[   1.0000 ] Writing partition $part with $part.bin"
        echo "[   1.0100 ] Error: Return value 8" >&2
        echo "Command tegradevflash --write $part $part.bin" >&2
        exit 1
    fi
    echo "[   1.0000 ] Writing partition $part with $part.bin"
    echo "$part" >> "$here/qspi-written.txt"
done
echo "[   2.0000 ] Flashing completed"
echo "[   2.0100 ] Coldbooting the device"
"""


def _rootfs_tree(root: Path, machine: str, image: str) -> None:
    """A few files, some of real size, so the ext4 has data blocks among its zeros."""
    (root / "etc" / "nvidia-container-runtime" / "host-files-for-container.d").mkdir(parents=True)
    (root / "usr" / "bin").mkdir(parents=True)
    (root / "etc" / "hostname").write_text(f"{machine}\n")
    (root / "etc" / "os-release").write_text(
        'NAME="Wind River Linux (demo image)"\nVERSION_ID="10.19"\n'
        f'IMAGE="{image}"\n')
    (root / "etc" / "nvidia-container-runtime" / "host-files-for-container.d" / "l4t.csv").write_text(
        "dev, /dev/nvhost-ctrl\ndev, /dev/nvmap\n")
    rnd = random_bytes(3 << 20)
    (root / "usr" / "bin" / "dockerd").write_bytes(rnd)
    os.chmod(root / "usr" / "bin" / "dockerd", 0o755)


def random_bytes(n: int) -> bytes:
    return os.urandom(n)


def make_ext4(path: Path, tree: Path, mib: int = EXT4_MIB) -> None:
    """A real ext4 filesystem image holding `tree` (mkfs.ext4 -d, from e2fsprogs)."""
    mkfs = shutil.which("mkfs.ext4") or "/sbin/mkfs.ext4"
    with open(path, "wb") as f:
        f.truncate(mib << 20)
    subprocess.run([mkfs, "-q", "-F", "-L", "rootfs", "-d", str(tree), str(path)], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def make_tegraflash_zip(zip_path, machine: str, image: str, sdcard_mib: int = SDCARD_MIB,
                        ext4_mib: int = EXT4_MIB, doflash_fails_at: str = "") -> Path:
    """Build the stand-in package at `zip_path` and return its path (`doflash_fails_at`: a partition name at
    which the stand-in doflash.sh stops with tegradevflash's error)."""
    zip_path = Path(zip_path)
    zip_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="fake-tegraflash-") as tmp:
        t = Path(tmp)
        tree = t / "rootfs"
        _rootfs_tree(tree, machine, image)
        stage = t / "pkg"
        stage.mkdir()
        make_ext4(stage / f"{image}.ext4", tree, ext4_mib)
        (stage / "flash.xml.in").write_text(_FLASH_XML)
        (stage / "bsp_version").write_text("BSP_BRANCH=32\nBSP_MAJOR=3\nBSP_MINOR=1\n")
        (stage / f"{machine}.cfg").write_text("# BCT (stand-in)\n")
        (stage / "cboot.bin").write_bytes(random_bytes(200 << 10))
        for rev in ("a02", "b00"):
            (stage / f"tegra210-p3448-0000-p3449-0000-{rev}.dtb").write_bytes(random_bytes(150 << 10))
        script = (_DOSDCARD.replace("@IMAGE@", image).replace("@MACHINE@", machine)
                  .replace("@SDCARD_MIB@", str(sdcard_mib)))
        (stage / "dosdcard.sh").write_text(script)
        (stage / "tegraflash.py").write_text(_TEGRAFLASH)
        (stage / "doflash.sh").write_text(_DOFLASH.replace("@IMAGE@", image).replace("@MACHINE@", machine)
                                          .replace("@FAIL@", doflash_fails_at))
        os.chmod(stage / "doflash.sh", 0o755)
        os.chmod(stage / "dosdcard.sh", 0o755)
        tmp_zip = zip_path.with_name(zip_path.name + ".part")
        with zipfile.ZipFile(tmp_zip, "w", compression=zipfile.ZIP_DEFLATED) as z:
            for f in sorted(stage.iterdir()):
                z.write(f, f.name)      # keeps the unix mode in external_attr, as `zip -r` does
        os.replace(tmp_zip, zip_path)
    return zip_path
