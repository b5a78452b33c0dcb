"""A stand-in for `bitbake <target>` (demo and tests only): prints knotty's non-interactive console output for a
believable Jetson image build, at a chosen pace, and behaves like bitbake 1.44 where the wizard depends on it:
the failure sequence and its task log file, Ctrl-C handling, refusing root, and the deployed tegraflash zip.

Run it from the build folder: `python -m wizard.demo.fake_bitbake [target]`.
Environment:
  WRNV_FAKE_BITBAKE_SPEED        pace multiplier (1: about 20 seconds for the whole build)
  WRNV_FAKE_BITBAKE_FAIL         `recipe:task` (e.g. `tini:do_compile`) to fail that task
  WRNV_FAKE_BITBAKE_ALLOW_ROOT   `1` lets it run as root (bitbake itself never does)
  WRNV_FAKE_BITBAKE_THREADS      parallel tasks (default 4)
Stdlib only: it must start fast and run wherever the real bitbake would.
"""

from __future__ import annotations

import heapq
import os
import re
import signal
import sys
import time
import zipfile
from pathlib import Path

LAYERS_DIR = "layers"
TMPDIR = "tmp-glibc"
TARGET_SYS = "aarch64-wrs-linux"

# (recipe name, version, layer/recipe folder, native?) -- real recipes of a WRLinux + meta-tegra image build.
RECIPES = [
    ("quilt", "0.66", "oe-core/meta/recipes-devtools/quilt", True),
    ("m4", "1.4.18", "oe-core/meta/recipes-devtools/m4", True),
    ("autoconf", "2.69", "oe-core/meta/recipes-devtools/autoconf", True),
    ("automake", "1.16.1", "oe-core/meta/recipes-devtools/automake", True),
    ("libtool", "2.4.6", "oe-core/meta/recipes-devtools/libtool", True),
    ("pkgconfig", "0.29.2", "oe-core/meta/recipes-devtools/pkgconfig", True),
    ("openssl", "1.1.1d", "oe-core/meta/recipes-connectivity/openssl", True),
    ("binutils-cross-aarch64", "2.32.0", "oe-core/meta/recipes-devtools/binutils", False),
    ("gcc-cross-aarch64", "7.3.0", "meta-tegra/contrib/recipes-devtools/gcc", False),
    ("linux-libc-headers", "5.2", "oe-core/meta/recipes-kernel/linux-libc-headers", False),
    ("glibc", "2.30", "oe-core/meta/recipes-core/glibc", False),
    ("gcc-runtime", "7.3.0", "meta-tegra/contrib/recipes-devtools/gcc", False),
    ("zlib", "1.2.11", "oe-core/meta/recipes-core/zlib", False),
    ("busybox", "1.31.0", "oe-core/meta/recipes-core/busybox", False),
    ("systemd", "243", "oe-core/meta/recipes-core/systemd", False),
    ("util-linux", "2.34", "oe-core/meta/recipes-core/util-linux", False),
    ("python3", "3.7.6", "oe-core/meta/recipes-devtools/python", False),
    ("openssh", "8.0p1", "oe-core/meta/recipes-connectivity/openssh", False),
    ("linux-tegra", "4.9", "meta-tegra/recipes-kernel/linux", False),
    ("u-boot-tegra", "2016.07", "meta-tegra/recipes-bsp/u-boot", False),
    ("tegra-binaries", "32.3.1", "meta-tegra/recipes-bsp/tegra-binaries", False),
    ("tegra-libraries", "32.3.1", "meta-tegra/recipes-bsp/tegra-binaries", False),
    ("tegra-firmware", "32.3.1", "meta-tegra/recipes-bsp/tegra-binaries", False),
    ("cuda-binaries", "10.0.326-1", "meta-tegra/recipes-devtools/cuda", False),
    ("cuda-toolkit", "10.0.326-1", "meta-tegra/recipes-devtools/cuda", False),
    ("cudnn", "7.6.3.28-1", "meta-tegra/recipes-devtools/cudnn", False),
    ("tensorrt", "6.0.1.10-1", "meta-tegra/recipes-devtools/tensorrt", False),
    ("libvisionworks", "1.6.0.500n", "meta-tegra/recipes-devtools/libvisionworks", False),
    ("libnvidia-container-tools", "0.9.0", "meta-tegra/recipes-containers/libnvidia-container-tools", False),
    ("nvidia-container-runtime", "3.1.0", "meta-tegra/recipes-containers/nvidia-container-runtime", False),
    ("nvidia-container-toolkit", "1.0.5", "meta-tegra/recipes-containers/nvidia-container-toolkit", False),
    ("nvidia-docker", "2.2.0", "meta-tegra/recipes-containers/nvidia-docker", False),
    ("go-cross-aarch64", "1.12.9", "oe-core/meta/recipes-devtools/go", False),
    ("containerd-opencontainers", "v1.2.7", "meta-virtualization/recipes-containers/containerd", False),
    ("runc-docker", "1.0.0-rc8", "meta-virtualization/recipes-containers/runc", False),
    ("tini", "0.18.0", "meta-virtualization/recipes-containers/tini", False),
    ("docker-ce", "19.03.2", "meta-virtualization/recipes-containers/docker", False),
    ("python3-docker-compose", "1.24.1", "meta-virtualization/recipes-containers/docker-compose", False),
    ("tegra-nvpmodel", "32.3.1", "meta-tegra/recipes-bsp/tegra-binaries", False),
    ("packagegroup-core-boot", "1.0", "oe-core/meta/recipes-core/packagegroups", False),
]
NATIVE_TASKS = ["do_fetch", "do_unpack", "do_patch", "do_prepare_recipe_sysroot", "do_configure", "do_compile",
                "do_install", "do_populate_sysroot"]
TARGET_TASKS = ["do_fetch", "do_unpack", "do_patch", "do_prepare_recipe_sysroot", "do_configure", "do_compile",
                "do_install", "do_populate_sysroot", "do_package", "do_packagedata", "do_package_qa",
                "do_package_write_rpm"]
NOEXEC = {"do_build", "do_populate_lic_deploy"}
# Relative task weights (do_compile dominates a real build).
WEIGHT = {"do_compile": 5.0, "do_configure": 2.0, "do_install": 1.5, "do_package": 1.5, "do_fetch": 0.7,
          "do_rootfs": 6.0, "do_image_tegraflash": 4.0}
SETSCENE_RECIPES = 12  # the first recipes come from the shared state cache


def out(line: str = "", err: bool = False) -> None:
    stream = sys.stderr if err else sys.stdout
    stream.write(line + "\n")
    stream.flush()


def read_machine(build: Path) -> str:
    machine = "jetson-nano-qspi-sd"
    try:
        text = (build / "conf" / "local.conf").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return machine
    for m in re.finditer(r"^\s*MACHINE\s*\??\??=\s*[\"']([^\"']+)[\"']", text, re.M):
        machine = m.group(1)
    return machine


class FakeBitbake:
    def __init__(self, target: str, build: Path, speed: float, fail: str, threads: int):
        self.target, self.build, self.speed, self.threads = target, build, max(speed, 0.01), max(threads, 1)
        self.fail_recipe, _, self.fail_task = fail.partition(":")
        self.machine = read_machine(build)
        self.project = build.parent
        self.interrupts = 0
        self.warnings = 0
        self.errors = 0
        self.failed: list = []
        self.tasks = self._task_list()

    # -- the task graph ------------------------------------------------------------------------------------
    def _bb(self, name: str, version: str, folder: str) -> str:
        return str(self.project / LAYERS_DIR / folder / f"{name.replace('-aarch64', '')}_{version}.bb")

    def _task_list(self) -> list:
        """[(kind, pn, pf, bbfile-taskstring, task, weight)]; kind: setscene / task / noexec."""
        setscene, normal = [], []
        for i, (name, version, folder, native) in enumerate(RECIPES):
            pn = f"{name}-native" if native else name
            pf = f"{pn}-{version}-r0"
            fn = ("virtual:native:" if native else "") + self._bb(name, version, folder)
            if i < SETSCENE_RECIPES:
                for t in (["do_populate_sysroot"] if native else ["do_populate_sysroot", "do_packagedata",
                                                                  "do_package_write_rpm"]):
                    setscene.append(("setscene", pn, pf, f"{fn}:{t}_setscene", f"{t}_setscene", 0.3))
                continue
            for t in NATIVE_TASKS if native else TARGET_TASKS:
                normal.append(("task", pn, pf, f"{fn}:{t}", t, WEIGHT.get(t, 1.0)))
            normal.append(("noexec", pn, pf, f"{fn}:do_build", "do_build", 0.0))
        img = self.target
        fn = self._bb(img, "1.0", "wrlinux/templates/feature/docker/images")
        pf = f"{img}-1.0-r0"
        for t in ("do_prepare_recipe_sysroot", "do_rootfs", "do_image", "do_image_tegraflash", "do_image_complete",
                  "do_populate_lic_deploy", "do_build"):
            kind = "noexec" if t in NOEXEC else "task"
            normal.append((kind, img, pf, f"{fn}:{t}", t, WEIGHT.get(t, 1.0)))
        return setscene + normal

    # -- output -------------------------------------------------------------------------------------------
    def preamble(self) -> None:
        n_set = sum(1 for t in self.tasks if t[0] == "setscene")
        out("Loading cache...done.")
        out("Loaded 4012 entries from dependency cache.")
        out("Parsing recipes...done.")
        out("Parsing of 2834 .bb files complete (2800 cached, 34 parsed). 4012 targets, 312 skipped, 0 masked, "
            "0 errors.")
        self.warn("Host distribution \"debian-12\" has not been validated with this version of the build system; "
                  "you may possibly experience unexpected failures. It is recommended that you use a tested "
                  "distribution.")
        out("NOTE: Resolving any missing task queue dependencies")
        out()
        out("Build Configuration:")
        for k, v in (("BB_VERSION", "1.44.0"), ("BUILD_SYS", "x86_64-linux"), ("NATIVELSBSTRING", "universal"),
                     ("TARGET_SYS", TARGET_SYS), ("MACHINE", self.machine), ("DISTRO", "wrlinux"),
                     ("DISTRO_VERSION", "10.19.0.0"), ("TUNE_FEATURES", "aarch64 armv8a crc"),
                     ("TARGET_FPU", "")):
            out(f"{k:<20} = \"{v}\"")
        out(f"{'meta':<20} ")
        out(f"{'meta-poky':<20} = \"HEAD:3a2c7b0f5e8d4c1b9a6f2e7d8c3b4a5f6e7d8c9b\"")
        out(f"{'meta-tegra':<20} ")
        out(f"{'contrib':<20} = \"HEAD:11a02d02a7098350638d7bf3a6c1a3946d3432fd\"")
        out(f"{'meta-virtualization':<20} = \"HEAD:c4f156fa93b37b2428e09ae22dbd7f5875606f3e\"")
        out()
        out("Initialising tasks...done.")
        out("Checking sstate mirror object availability...done.")
        wanted = n_set + 96
        out(f"Sstate summary: Wanted {wanted} Found {n_set} Missed {wanted - n_set} Current 0 "
            f"({100 * n_set // wanted}% match, 0% complete)")
        out("NOTE: Executing Tasks")

    def warn(self, text: str) -> None:
        self.warnings += 1
        out(f"WARNING: {text}")

    def error(self, text: str) -> None:
        self.errors += 1
        out(f"ERROR: {text}", err=True)

    # -- running -------------------------------------------------------------------------------------------
    def run(self) -> int:
        self.preamble()
        total_weight = sum(t[5] for t in self.tasks) or 1.0
        unit = 20.0 * self.threads / total_weight / self.speed   # seconds per weight unit: ~20 s at speed 1
        counters = {"setscene": [0, 0, 0], "task": [0, 0, 0]}   # completed, active, failed
        totals = {"setscene": sum(1 for t in self.tasks if t[0] == "setscene")}
        totals["task"] = len(self.tasks) - totals["setscene"]
        queue = list(self.tasks)
        active: list = []           # heap of (end time, seq, task)
        seq = 0
        attempted = skipped = 0
        setscene_done_note = False
        while queue or active:
            now = time.monotonic()
            # start what fits, unless stopping (Ctrl-C or a failure: bitbake without -k starts nothing new)
            while queue and len(active) < self.threads and not self.interrupts and not self.failed:
                i = self._next_ready(queue, active)
                if i is None:
                    break
                kind, pn, pf, taskstring, task, weight = queue[i]
                stage = "setscene" if kind == "setscene" else "task"
                if stage == "task" and not setscene_done_note and totals["setscene"]:
                    out("NOTE: Setscene tasks completed")
                    setscene_done_note = True
                queue.pop(i)
                c = counters[stage]
                x = c[0] + c[1] + c[2] + 1
                if kind == "noexec":
                    out(f"NOTE: Running noexec task {x} of {totals[stage]} ({taskstring})")
                    c[0] += 1
                    continue
                label = "setscene task" if kind == "setscene" else "task"
                out(f"NOTE: Running {label} {x} of {totals[stage]} ({taskstring})")
                out(f"NOTE: recipe {pf}: task {task}: Started")
                c[1] += 1
                seq += 1
                heapq.heappush(active, (now + weight * unit, seq, (kind, pn, pf, taskstring, task)))
            if not active:
                break
            end = active[0][0]
            delay = end - time.monotonic()
            if delay > 0:
                time.sleep(min(delay, 0.2))
                continue
            _, _, (kind, pn, pf, taskstring, task) = heapq.heappop(active)
            stage = "setscene" if kind == "setscene" else "task"
            counters[stage][1] -= 1
            attempted += 1
            if kind == "setscene":
                skipped += 1
            if kind == "task" and self._should_fail(pn, task):
                counters[stage][2] += 1
                self.fail_task_output(pn, pf, taskstring, task)
                continue
            if kind == "task" and task == "do_package_qa" and pn == "tegra-libraries":
                self.warn(f"{pf} do_package_qa: QA Issue: tegra-libraries: ELF binary /usr/lib/libnvcuvid.so.1.0.0 "
                          f"has relocations in .text [textrel]")
            counters[stage][0] += 1
            out(f"NOTE: recipe {pf}: task {task}: Succeeded")
        return self.finish(attempted, skipped)

    def _next_ready(self, queue: list, active: list) -> int | None:
        """The first queued task whose dependencies are met, roughly: setscene tasks first, one task of a
        recipe at a time, and the image's own tasks only once everything else is done."""
        busy = {a[2][1] for a in active}
        setscene_active = any(a[2][0] == "setscene" for a in active)
        for i, (kind, pn, _pf, _ts, _task, _w) in enumerate(queue[:64]):
            if pn in busy:
                continue
            if kind != "setscene" and setscene_active:
                return None
            if pn == self.target and (active or queue[0][1] != self.target):
                return None
            return i
        return None

    def _should_fail(self, pn: str, task: str) -> bool:
        return bool(self.fail_recipe) and task == self.fail_task and pn in (self.fail_recipe,
                                                                              f"{self.fail_recipe}-native")

    def fail_task_output(self, pn: str, pf: str, taskstring: str, task: str) -> None:
        version_rev = pf[len(pn) + 1:]
        workdir = self.build / TMPDIR / "work" / TARGET_SYS / pn / version_rev
        temp = workdir / "temp"
        temp.mkdir(parents=True, exist_ok=True)
        tpid = os.getpid() + 7
        log = temp / f"log.{task}.{tpid}"
        run = temp / f"run.{task}.{tpid}"
        body = [f"DEBUG: Executing shell function {task}",
                f"NOTE: make -j 4 -C {workdir}/build",
                f"make: Entering directory '{workdir}/build'",
                f"{workdir}/{pn}-src/src/{pn}.c:142:5: error: implicit declaration of function 'strlcpy'",
                "make[1]: *** [Makefile:84: src.o] Error 1",
                f"make: Leaving directory '{workdir}/build'",
                "ERROR: oe_runmake failed",
                "WARNING: exit code 1 from a shell command.",
                f"ERROR: Execution of '{run}' failed with exit code 1:"]
        log.write_text("\n".join(body) + "\n", encoding="utf-8")
        run.write_text(f"#!/bin/sh\n# {task} for {pf}\nexit 1\n", encoding="utf-8")
        self.error(f"{pf} {task}: oe_runmake failed")
        # as real 1.44 prints it: the raw output after the Execution line, then the shell's warning and a
        # blank line, all part of that one error (bitbake counts neither as a message of its own)
        self.error(f"{pf} {task}: Execution of '{run}' failed with exit code 1:")
        for line in body[2:6]:
            out(line, err=True)
        out("WARNING: exit code 1 from a shell command.", err=True)
        out("", err=True)
        out(f"ERROR: Logfile of failure stored in: {log}", err=True)
        out("Log data follows:")      # OE-core's BBINCLUDELOGS = "yes"
        for line in body:
            out(f"| {line}")
        out(f"NOTE: recipe {pf}: task {task}: Failed")
        out(f"ERROR: Task ({taskstring.rsplit(':', 1)[0]}:{task}) failed with exit code '1'", err=True)
        self.failed.append(taskstring)

    def finish(self, attempted: int, skipped: int) -> int:
        if self.failed:
            out(f"NOTE: Tasks Summary: Attempted {attempted} tasks of which {skipped} didn't need to be rerun and "
                f"{len(self.failed)} failed.")
        elif not self.interrupts:
            out(f"NOTE: Tasks Summary: Attempted {attempted} tasks of which {skipped} didn't need to be rerun and "
                f"all succeeded.")
            self.deploy()
        out()
        if self.failed:
            out(f"Summary: {len(self.failed)} task{'s' if len(self.failed) > 1 else ''} failed:")
            for t in self.failed:
                out(f"  {t}")
        if self.warnings:
            out(f"Summary: There {'was' if self.warnings == 1 else 'were'} {self.warnings} WARNING "
                f"message{'' if self.warnings == 1 else 's'} shown.")
        if self.errors:
            out(f"Summary: There {'was' if self.errors == 1 else 'were'} {self.errors} ERROR "
                f"message{'' if self.errors == 1 else 's'} shown, returning a non-zero exit code.")
        if self.interrupts:
            out("Execution was interrupted, returning a non-zero exit code.")
            return 1
        return 1 if (self.failed or self.errors) else 0

    def deploy(self) -> None:
        deploy = self.build / TMPDIR / "deploy" / "images" / self.machine
        deploy.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d%H%M%S")
        name = f"{self.target}-{self.machine}-{stamp}.tegraflash.zip"
        zpath = deploy / name
        try:
            from wizard.demo.fake_tegraflash import make_tegraflash_zip
        except ImportError:
            make_tegraflash_zip = None
        if make_tegraflash_zip is not None:
            make_tegraflash_zip(zpath, machine=self.machine, image=self.target)
        else:
            with zipfile.ZipFile(zpath, "w") as z:
                z.writestr("README", f"Stand-in tegraflash package for {self.target} on {self.machine}.\n")
        link = deploy / f"{self.target}-{self.machine}.tegraflash.zip"
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(name)

    # -- Ctrl-C --------------------------------------------------------------------------------------------
    def on_sigint(self, signum, frame) -> None:
        self.interrupts += 1
        if self.interrupts == 1:
            out("Keyboard Interrupt, closing down...")
        else:
            out("Second Keyboard Interrupt, stopping...")
            out("NOTE: Sending SIGTERM to remaining 4 tasks")
            out("Execution was interrupted, returning a non-zero exit code.")
            sys.stdout.flush()
            os._exit(1)


def refuse_root() -> int:
    out("ERROR:  OE-core's config sanity checker detected a potential misconfiguration.", err=True)
    out("    Either fix the cause of this error or at your own risk disable the checker (see sanity.conf).",
        err=True)
    out("    Following is the list of potential problems / advisories:", err=True)
    out("", err=True)
    out("    Do not use Bitbake as root.", err=True)
    out()
    out("Summary: There was 1 ERROR message shown, returning a non-zero exit code.")
    return 1


def main(argv: list | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    targets = [a for a in argv if not a.startswith("-")]
    target = targets[0] if targets else "wrlinux-image-glibc-std"
    build = Path.cwd()
    if not (build / "conf").is_dir():
        out("ERROR: Unable to find conf/bblayers.conf or conf/bitbake.conf. BBPATH is unset and/or not in a "
            "build directory?", err=True)
        return 1
    if os.geteuid() == 0 and os.environ.get("WRNV_FAKE_BITBAKE_ALLOW_ROOT") != "1":
        out("Loading cache...done.")
        out("Parsing recipes...done.")
        return refuse_root()
    try:
        speed = float(os.environ.get("WRNV_FAKE_BITBAKE_SPEED", "1") or 1)
        threads = int(os.environ.get("WRNV_FAKE_BITBAKE_THREADS", "4") or 4)
    except ValueError:
        out("ERROR: WRNV_FAKE_BITBAKE_SPEED / _THREADS must be numbers", err=True)
        return 1
    bb = FakeBitbake(target, build, speed, os.environ.get("WRNV_FAKE_BITBAKE_FAIL", ""), threads)
    signal.signal(signal.SIGINT, bb.on_sigint)
    return bb.run()


if __name__ == "__main__":
    sys.exit(main())
