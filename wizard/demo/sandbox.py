"""The demo sandbox: a folder holding stand-ins for the outside world, so the real steps run end to end.

- `downloads/`: small stand-in files named like SDK Manager's, and `profile/demo.manifest.toml` computed
  from them (verification, a checksum failure on demand and NoDLA staging all really run);
- `server/`: real git repositories standing in for wrlinux-x (and the layers its setup.sh clones) and
  meta-tegra, cloned through file:// URLs by the real project step;
- `profile/`: the release profile with the demo manifest, and a stand-in bitbake that refuses nothing;
- `card.img` (or a loop device over it when root): the virtual SD card the real writer writes and verifies;
- `bin/`: a stand-in `docker` that answers like the Jetson image, for the board check on this machine.
"""

from __future__ import annotations

import hashlib
import os
import random
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from wizard.core.paths import asset, profiles_dir
from wizard.core.profile import DEFAULT_PROFILE
from wizard.core.tomlio import load_toml
from wizard.demo import fake_repos
from wizard.demo.board import DemoBoard, board_paths, lay_out_root
from wizard.downloads.manifest import load_manifest

CARD_BYTES = 512 * 1024 * 1024
# The stand-in docker of the demo board: answers like docker 19.03 on the tutorial's Jetson image.
# `run -i ... python3 -` really runs the piped program (the GPU probe) with this machine's Python; with
# --runtime nvidia, and only then (the NVIDIA runtime mounts libcuda only then), the Jetson's CUDA driver is
# the stand-in wizard/demo/standin_cuda/sitecustomize.py.
_DOCKER = '''#!{python}
"""Stand-in docker of wrnv-wizard's demo board (see wizard/demo/sandbox.py)."""
import os
import sys

STANDIN_CUDA = {standin!r}
PYTHON = {python!r}
VERSION = "19.03.2"


def fail(msg, code):
    sys.stderr.write(msg + "\\n")
    return code


def run(args):
    runtime, interactive = "runc", False
    while args and args[0].startswith("-"):
        a = args.pop(0)
        if a == "--runtime":
            runtime = args.pop(0) if args else ""
        elif a.startswith("--runtime="):
            runtime = a.split("=", 1)[1]
        elif a in ("-i", "--interactive", "-it", "-ti"):
            interactive = True
    if not args:
        return fail('"docker run" requires at least 1 argument.', 125)
    if runtime not in ("nvidia", "runc"):
        return fail("docker: Error response from daemon: unknown or invalid runtime name: %s." % runtime, 125)
    image, rest = args[0], args[1:]
    if rest[:2] != ["python3", "-"] or not interactive:
        return fail("Unable to find image '%s:latest' locally\\ndocker: the demo's stand-in board has no images "
                    "and no internet; it runs only the GPU probe (docker run -i ... python3 -)." % image, 125)
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env.pop("LD_LIBRARY_PATH", None)
    if runtime == "nvidia":
        env["PYTHONPATH"] = STANDIN_CUDA
    os.execve(PYTHON, [PYTHON, "-"] + rest[2:], env)


def main(argv):
    cmd, args = (argv[0], argv[1:]) if argv else ("", [])
    if cmd == "version":
        if "--format" in args:
            print("client %s, daemon %s" % (VERSION, VERSION))
        else:
            print("Client: Docker Engine - Community\\n Version: %s (wrnv demo stand-in)\\n\\n"
                  "Server: Docker Engine - Community\\n Engine:\\n  Version: %s" % (VERSION, VERSION))
        return 0
    if cmd == "info":
        print("Client:\\n Debug Mode: false\\n\\nServer:\\n Containers: 0\\n Images: 0\\n Server Version: %s\\n"
              " Storage Driver: overlay2\\n Cgroup Driver: cgroupfs\\n Runtimes: nvidia runc\\n"
              " Default Runtime: runc\\n Kernel Version: 4.9.140-l4t-r32.3.1 (wrnv demo stand-in)\\n"
              " Operating System: Wind River Linux LTS 19\\n Architecture: aarch64\\n CPUs: 4\\n"
              " Total Memory: 3.871GiB" % VERSION)
        return 0
    if cmd == "run":
        return run(args)
    return fail("docker: '%s' is not a docker command (wrnv demo stand-in)." % cmd, 1)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
'''


@dataclass
class Sandbox:
    root: Path
    profile_path: Path
    downloads: Path
    project: Path
    wrlinux_url: str
    meta_tegra_url: str
    meta_tegra_commit: str
    card: Path
    card_device: str = ""            # /dev/loopN when root, else ""
    bin_dir: Path = Path()
    env: dict = field(default_factory=dict)
    corrupted: str = ""
    board: Optional[DemoBoard] = None   # the stand-in board step 11 checks over ssh
    resumed: bool = False               # an earlier demo's sandbox, picked up where it was left

    @property
    def card_target(self) -> str:
        return self.card_device or str(self.card)

    def answers(self) -> dict:
        board = self.board.answers() if self.board is not None else {"board_host": "127.0.0.1"}
        return {"source": "base", "wrlinux_url": self.wrlinux_url, "meta_tegra_url": self.meta_tegra_url,
                "meta_tegra_commit": self.meta_tegra_commit, "downloads_dir": str(self.downloads),
                "project_dir": str(self.project), "fab": "b01", **board}

    def banner(self) -> str:
        # The deciding words first: a narrow terminal wraps the rest, and the paths come last.
        text = ("DEMO: no real disk is touched. Stand-in downloads, repositories, bitbake, board and a virtual card "
                f"({self.card_target}); sandbox {self.root}.")
        if self.resumed:
            text += " Resumed where the last demo stopped; start over with wrnv-wizard --demo --new."
        if self.board is not None and self.board.reason:
            text += f" Note: {self.board.reason}"
        return text

    def close(self) -> None:
        """Stop the stand-in board's sshd and detach the loop device the sandbox attached (the files stay
        for a look afterwards)."""
        if self.board is not None:
            self.board.stop()
        if self.card_device:
            subprocess.run(["losetup", "-d", self.card_device], capture_output=True)
            self.card_device = ""


def _demo_bytes(name: str, size: int) -> bytes:
    rnd = random.Random(name)
    return rnd.randbytes(size) if hasattr(rnd, "randbytes") else bytes(rnd.getrandbits(8) for _ in range(size))


def make_downloads(root: Path, manifest_path: Path, corrupt: bool = False) -> tuple:
    """Stand-in SDK Manager folder + a manifest whose sums match it. TensorRT files are left flat (as SDK
    Manager saves them) so that staging into NoDLA runs for real. Returns (folder, manifest, corrupted)."""
    downloads = root / "downloads"
    downloads.mkdir(parents=True, exist_ok=True)
    text = manifest_path.read_text(encoding="utf-8")
    real = load_manifest(manifest_path)
    corrupted = ""
    for entry in real.files:
        # One stand-in per file name: the NoDLA and DLA TensorRT variants share names (and here, contents).
        size = 32 * 1024 + int(hashlib.md5(entry.name.encode()).hexdigest()[:6], 16) % (256 * 1024)
        data = _demo_bytes(entry.name, size)
        target = downloads / entry.name
        if not target.exists():
            target.write_bytes(data)
        text = text.replace(entry.sha256, hashlib.sha256(data).hexdigest()).replace(
            entry.md5, hashlib.md5(data).hexdigest())
    if corrupt:
        victim = next(e for e in real.files if "cudnn" in e.name and "dev" not in e.name and "doc" not in e.name)
        with open(downloads / victim.name, "ab") as f:
            f.write(b"\0")
        corrupted = victim.name
    out = root / "profile" / "demo.manifest.toml"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("# Demo manifest: the real one with sums of the sandbox's stand-in files.\n" + text)
    return downloads, out, corrupted


# What the sandbox's stand-ins need from the host, instead of what the real setup.sh and bitbake need.
DEMO_HOST = {
    "python2_min": "",
    "required_tools": ["bash", "git", "python3", "sed", "dd"],
    "sdcard_tools": ["sgdisk", "mkfs.ext4"],
    "min_disk_gb": 1,
    "recommended_disk_gb": 2,
    "min_ram_gb": 1,
    "locale": "",
    "bitbake_refuses_root": False,
    "disk_basis": "the demo sandbox needs about 1 GB",
}


def make_profile(root: Path, manifest: Path) -> Path:
    """The release profile with the demo manifest, the stand-ins' host needs and the board's files in the
    stand-in board's root (laid out here from the real [board] paths); the rest is the real release's facts."""
    import tomli_w

    data = load_toml(profiles_dir() / f"{DEFAULT_PROFILE}.toml")
    data["id"] = f"{DEFAULT_PROFILE}-demo"
    data["title"] = data["title"] + " (demo sandbox)"
    data["downloads"]["manifest"] = manifest.name
    data["host"].update(DEMO_HOST)
    lay_out_root(root, data["board"])
    data["board"].update(board_paths(root, data["board"]))
    out = manifest.parent / f"{DEFAULT_PROFILE}-demo.toml"
    out.write_text("# Demo profile, written by wrnv-wizard --demo.\n" + tomli_w.dumps(data))
    return out


def make_card(root: Path, size: int = CARD_BYTES, loop: bool = True) -> tuple:
    """A sparse image file as the virtual card, behind a loop device when we are root (and `loop`)."""
    card = root / "card.img"
    with open(card, "wb") as f:
        f.truncate(size)
    device = ""
    if loop and os.geteuid() == 0 and shutil.which("losetup"):
        # A sandbox folder used again keeps its card's loop device (an earlier run may have been killed).
        same = subprocess.run(["losetup", "-j", str(card)], capture_output=True, text=True).stdout.split(":")[0]
        out = subprocess.run(["losetup", "--find", "--show", str(card)], capture_output=True, text=True) \
            if not same else None
        device = same or (out.stdout.strip() if out is not None and out.returncode == 0 else "")
    return card, device


def make_bin(root: Path) -> Path:
    """`bin/` goes first on PATH, the demo's and the stand-in board's sessions' (sshd's SetEnv)."""
    from wizard.demo.board import standin_cuda_dir

    bin_dir = root / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    docker = bin_dir / "docker"
    docker.write_text(_DOCKER.format(python=sys.executable, standin=str(standin_cuda_dir())))
    docker.chmod(0o755)
    return bin_dir


def is_sandbox(root) -> bool:
    """Whether `root` holds a demo sandbox that can be picked up again (its repositories and project)."""
    root = Path(root)
    return (root / "server" / "meta-tegra.tested").is_file() and (root / "downloads").is_dir()


def build(root: Path, speed: float = 1.0, faults: tuple = (), use_loop: Optional[bool] = None,
          board: bool = True) -> Sandbox:
    """Create (or reuse) a sandbox at `root`. With `board`, its stand-in board's sshd runs (when it can)
    until close(); its trusted host key goes to the sandbox's own config folder, never the user's."""
    root = Path(root).resolve()
    root.mkdir(parents=True, exist_ok=True)
    downloads, manifest, corrupted = make_downloads(root, profiles_dir() / "jetpack-4.3-sdkm.manifest.toml",
                                                    corrupt="checksum" in faults)
    profile_path = make_profile(root, manifest)
    server = root / "server"
    wrx = server / "wrlinux-x"
    if not wrx.exists():
        fake_repos.make_wrlinux_x_repo(wrx)
    mt = server / "meta-tegra"
    if not mt.exists():
        commits = fake_repos.make_meta_tegra_repo(mt)
        (server / "meta-tegra.tested").write_text(commits.tested)
    tested = (server / "meta-tegra.tested").read_text().strip()
    card, device = make_card(root, loop=use_loop is not False)
    env = {"WRNV_FAKE_BITBAKE_SPEED": str(speed), "WRNV_FAKE_BITBAKE_ALLOW_ROOT": "1",
           "WRNV_CONFIG_DIR": str(root / "config")}
    if "build" in faults:
        env["WRNV_FAKE_BITBAKE_FAIL"] = "tini:do_compile"
    bin_dir = make_bin(root)
    sb = Sandbox(root=root, profile_path=profile_path, downloads=downloads, project=root / "project",
                 wrlinux_url=f"file://{wrx}", meta_tegra_url=f"file://{mt}", meta_tegra_commit=tested,
                 card=card, card_device=device, bin_dir=bin_dir, env=env, corrupted=corrupted)
    if board:
        sb.board = DemoBoard(root, bin_dir)
        sb.board.start()
    return sb


def probe_path() -> Path:
    return asset("probe", "gpu_probe.py")
