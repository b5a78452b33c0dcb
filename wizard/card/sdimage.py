"""The SD-card image: from the build's tegraflash package to a sparse `<image>.sdcard`.

Why this is more than `unzip && sudo ./dosdcard.sh`:
- zip loses sparseness: a plain unzip turns the 14 GiB (mostly empty) rootfs into 14 GiB of real disk, so
  files are unpacked sparse (runs of zeros become holes), keeping their modes (dosdcard.sh must stay
  executable).
- dosdcard.sh needs the board's identity: either a Jetson Nano in USB recovery mode (it reads the EEPROM,
  which needs root) or BOARDID/FAB in its environment (no USB, no root). The revision -> FAB mapping comes
  from third parties and is unverified; the user is told so.
- dosdcard.sh copies the rootfs with dd, so its .sdcard is almost fully allocated; it is made sparse again
  and its real data size reported (and the writer then skips the zeros).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import threading
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import humanize

from wizard.card.sparse import Usage, resparsify, sparse_copy, usage
from wizard.core.atomic import atomic_write
from wizard.core.errors import WizardError
from wizard.core.paths import logs_dir, wizard_dir
from wizard.core.profile import Profile
from wizard.core.progress import Cancelled, Progress, ProgressFn, Throttle
from wizard.core.tegraflash_python import choose as choose_python
from wizard.core.tegraflash_python import missing_message, prepare, with_sbin

LineFn = Callable[[str], None]
CancelFn = Callable[[], bool]

UNVERIFIED_FAB = ("The carrier-board revision -> FAB numbers come from third-party notes and are unverified; "
                  "if the board does not boot, make the image again with the board in recovery mode.")


@dataclass
class SdImage:
    """What the step produced, for the summary and the flash step."""
    path: Path
    package: Path
    apparent: int
    allocated: int
    expected_size: Optional[int] = None
    notes: list = field(default_factory=list)

    def describe(self) -> str:
        n = humanize.naturalsize
        return (f"{self.path.name}: {n(self.apparent)} image, {n(self.allocated)} of it data "
                f"({100 * self.allocated / max(self.apparent, 1):.0f} %)")

    def to_json(self) -> dict:
        return {"path": str(self.path), "package": str(self.package), "apparent": self.apparent,
                "allocated": self.allocated, "notes": list(self.notes)}


# -- finding the package ---------------------------------------------------------------------------

def deploy_dir(profile: Profile, project, machine: str) -> Path:
    rel = profile.sdcard.get("deploy_dir", "{tmpdir}/deploy/images/{machine}").format(
        tmpdir=profile.wrlinux.tmpdir, machine=machine)
    return Path(project) / profile.wrlinux.build_dir / rel


def find_package(profile: Profile, project, machine: str, image: str) -> Path:
    """The newest `*.tegraflash.zip` for this machine and image (symlinks resolved: the build leaves a
    stable-named link beside the timestamped file). Looked for in the profile's TMPDIR first (tmp-glibc for
    WRLinux), then in any other `tmp*` folder of the build (a changed TMPDIR)."""
    m = profile.machine(machine)
    if not m.sdcard:
        raise WizardError(f"{machine} does not boot from an SD card (it is flashed over USB with doflash.sh); "
                          "the SD-card image is only for jetson-nano-qspi-sd")
    folder = deploy_dir(profile, project, machine)
    build = Path(project) / profile.wrlinux.build_dir
    folders = [f for f in [folder, *sorted(build.glob(f"tmp*/deploy/images/{machine}"))] if f.is_dir()]
    if not folders:
        raise WizardError(f"no build output in {folder}: run the build step first (`wrnv-wizard build`)")
    pattern = profile.sdcard.get("tegraflash_glob", "{image}-{machine}*.tegraflash.zip").format(
        image=image, machine=machine)
    for glob in (pattern, "*.tegraflash.zip"):
        found = {p.resolve() for f in folders for p in f.glob(glob) if p.exists()}
        if found:
            return max(found, key=lambda p: (p.stat().st_mtime, p.name))
    raise WizardError(f"no {pattern} in {folders[0]}: the build did not make the tegraflash package "
                      "(is IMAGE_FSTYPES = \"tegraflash\" in local.conf?)")


# -- unpacking ---------------------------------------------------------------------------------------

STAMP = ".wrnv-unpacked.json"
REUSE_MIN = 16 << 20    # files this big are kept between runs when untouched (the rootfs: minutes to inflate)


def _zip_identity(zip_path: Path) -> dict:
    st = zip_path.stat()
    return {"path": str(zip_path.resolve()), "size": st.st_size, "mtime_ns": st.st_mtime_ns, "ino": st.st_ino}


def _reusable(zip_path: Path, dest: Path, infos: list) -> set:
    """Names of big files a previous complete unpack of this very zip left untouched (same size and mtime
    as when written: dosdcard.sh only reads the rootfs). Everything else is unpacked again."""
    try:
        stamp = json.loads((dest / STAMP).read_text())
    except (OSError, ValueError):
        return set()
    if not isinstance(stamp, dict) or stamp.get("zip") != _zip_identity(zip_path):
        return set()
    files = stamp.get("files") or {}
    keep = set()
    for info in infos:
        was = files.get(info.filename)
        if info.is_dir() or info.file_size < REUSE_MIN or not was:
            continue
        try:
            st = (dest / info.filename).lstat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode) and [st.st_size, st.st_mtime_ns] == was and st.st_size == info.file_size:
            keep.add(info.filename)
    return keep


def _clear_except(dest: Path, keep: set) -> None:
    """Empty `dest` (outputs of earlier runs, half-unpacked files) but for the kept files."""
    for root, dirs, files in os.walk(dest, topdown=False):
        for name in files:
            path = Path(root, name)
            if str(path.relative_to(dest)) not in keep:
                path.unlink()
        for name in dirs:
            path = Path(root, name)
            if path.is_symlink():
                path.unlink()
            elif not any(path.iterdir()):
                path.rmdir()


def unpack(zip_path, dest, progress: Optional[ProgressFn] = None, cancel: Optional[CancelFn] = None) -> Path:
    """Unpack sparse, keeping modes, into a folder holding exactly the zip's files. Big files a previous
    complete unpack of the same zip left untouched are kept (inflating a 14 GiB rootfs takes minutes);
    the stamp saying so is removed first and written last, so a half-unpacked folder is never trusted."""
    zip_path, dest = Path(zip_path), Path(dest)
    try:
        zf = zipfile.ZipFile(zip_path)
    except (zipfile.BadZipFile, OSError) as e:
        raise WizardError(f"{zip_path} is not a readable zip ({e}): build the image again") from None
    with zf:
        infos = zf.infolist()
        keep = _reusable(zip_path, dest, infos) if dest.is_dir() else set()
        if dest.exists():
            (dest / STAMP).unlink(missing_ok=True)
            if keep:
                _clear_except(dest, keep)
            else:
                shutil.rmtree(dest)
        dest.mkdir(parents=True, exist_ok=True)
        label = f"Unpacking {zip_path.name}" + (f" (keeping {len(keep)} unchanged big file(s))" if keep else "")
        total = sum(i.file_size for i in infos if i.filename not in keep)   # kept bytes would fake the rate
        prog = Progress(0, total, label=label)
        tick = Throttle(progress, 0.2)
        base = 0
        for info in infos:
            target = (dest / info.filename).resolve()
            if dest.resolve() not in target.parents and target != dest.resolve():
                raise WizardError(f"{zip_path} has an unsafe path {info.filename!r}: refusing to unpack it")
            mode = (info.external_attr >> 16) & 0o177777
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            if info.filename in keep:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            if stat.S_ISLNK(mode):
                target.symlink_to(zf.read(info).decode())
                continue

            def sub(p: Progress, base=base) -> None:
                prog.done = base + p.done
                tick(prog)

            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            try:
                with zf.open(info) as src:
                    sparse_copy(src, fd, info.file_size, progress=sub, cancel=cancel)
            except OSError as e:
                raise WizardError(f"unpacking {info.filename} failed: {e.strerror}"
                                  + (" (disk full: free some space)" if e.errno == 28 else "")) from None
            finally:
                os.close(fd)
            os.chmod(target, (mode & 0o7777) or 0o644)
            base += info.file_size
        prog.done = total
        tick(prog, final=True)
        _write_stamp(zip_path, dest, infos)
    return dest


def _write_stamp(zip_path: Path, dest: Path, infos: list) -> None:
    files = {}
    for info in infos:
        try:
            st = (dest / info.filename).lstat()
        except OSError:
            continue
        if stat.S_ISREG(st.st_mode):
            files[info.filename] = [st.st_size, st.st_mtime_ns]
    try:
        atomic_write(dest / STAMP, json.dumps({"zip": _zip_identity(zip_path), "files": files}))
    except OSError:
        pass    # no stamp: the next run unpacks everything again, nothing worse


# -- dosdcard.sh -------------------------------------------------------------------------------------

def missing_tools(profile: Profile) -> list:
    """dosdcard.sh needs sgdisk (found in /usr/sbin or /sbin too: they are put on the script's PATH). Its
    `python` is chosen separately (wizard.core.tegraflash_python), so no `python` command is required."""
    wanted = [t for t in profile.host.get("sdcard_tools", ["sgdisk"]) if not t.startswith("python")]
    return [t for t in wanted if shutil.which(t, path=with_sbin(os.environ.get("PATH", os.defpath))) is None]


def check_tools(profile: Profile) -> None:
    missing = missing_tools(profile)
    if missing:
        pkgs = profile.host.get("packages_debian", {})
        names = " ".join(sorted({pkgs.get(t, t) for t in missing}))
        raise WizardError(f"dosdcard.sh needs {', '.join(missing)}, not found: install them "
                          f"(Debian/Ubuntu: sudo apt install {names}) and run this step again")


def board_env(profile: Profile, fab_id: str) -> dict:
    """BOARDID/FAB for a chosen carrier-board revision (profile sdcard.fabs)."""
    for f in profile.fabs:
        if f.id == fab_id:
            return {"BOARDID": str(profile.sdcard.get("boardid", "3448")), "FAB": f.fab}
    known = ", ".join(f.id for f in profile.fabs)
    raise WizardError(f"unknown board revision {fab_id!r}: choose one of {known}")


def fab_unverified(profile: Profile, fab_id: str) -> bool:
    return any(f.id == fab_id and not f.verified for f in profile.fabs)


def run_logged(argv: list, cwd, env: dict, on_line: Optional[LineFn], log_path: Optional[Path],
               cancel: Optional[CancelFn] = None, *, step: str = "dosdcard",
               stopped: str = "dosdcard.sh was stopped; no SD-card image was made") -> int:
    """Run a command through wizard.core.procrun (live lines, the log file, process-group cancel) and return its
    exit code; a cancel raises Cancelled saying `stopped` (what the stop left behind)."""
    from wizard.core import procrun

    token = procrun.CancelToken()
    stop = threading.Event()

    def bridge() -> None:
        while not stop.wait(0.2):
            if cancel is not None and cancel():
                token.cancel()
                return

    t = threading.Thread(target=bridge, daemon=True)
    t.start()
    try:
        procrun.run(argv, step=step, cwd=cwd, env=env, on_line=on_line, cancel=token,
                    title=Path(argv[0]).name, log_path=log_path)
        return 0
    except procrun.CommandFailed as e:
        return e.returncode
    except Cancelled:
        raise Cancelled(stopped) from None
    finally:
        stop.set()


def dosdcard_env(board: Optional[dict]) -> dict:
    env = dict(os.environ)
    env.pop("BOARDID", None)
    env.pop("FAB", None)
    env.update(board or {})
    env.setdefault("LANG", "C.UTF-8")
    return env


def find_sdcard(workdir: Path, image: str) -> Path:
    wanted = workdir / f"{image}.sdcard"
    if wanted.is_file():
        return wanted
    others = sorted(workdir.glob("*.sdcard"), key=lambda p: p.stat().st_mtime)
    if others:
        return others[-1]
    raise WizardError(f"dosdcard.sh finished but made no {wanted.name} in {workdir}: see its log")


def make_sdcard_image(profile: Profile, project, machine: str, image: str, fab: str = "",
                      recovery_board: bool = False, progress: Optional[ProgressFn] = None,
                      on_line: Optional[LineFn] = None, cancel: Optional[CancelFn] = None,
                      runner: Optional[Callable] = None) -> SdImage:
    """The whole step. `fab` (a profile sdcard.fabs id) sets BOARDID/FAB; otherwise `recovery_board`
    must say a Jetson is plugged in in recovery mode. `runner(argv, cwd, env, on_line, log, cancel) -> rc`
    runs dosdcard.sh (the elevated helper's runner when the board is read over USB)."""
    project = Path(project)
    progress = _after_warmup(progress)
    notes: list = []
    if fab:
        board = board_env(profile, fab)
        if fab_unverified(profile, fab):
            notes.append(UNVERIFIED_FAB)
    elif recovery_board:
        board = None
    else:
        revs = ", ".join(f"{f.id} ({f.title})" for f in profile.fabs)
        raise WizardError("dosdcard.sh needs the board's identity: plug the Jetson Nano in over USB in recovery "
                          f"mode, or choose the carrier board revision (--fab: {revs}; unverified mapping)")
    check_tools(profile)
    interp = choose_python()
    if interp is None:
        raise WizardError(missing_message())
    package = find_package(profile, project, machine, image)
    work = wizard_dir(project) / "sdcard" / package.name.replace(".tegraflash.zip", "")
    work.parent.mkdir(parents=True, exist_ok=True)
    unpack(package, work, progress=progress, cancel=cancel)
    script = work / profile.sdcard.get("dosdcard", "dosdcard.sh")
    if not script.is_file():
        raise WizardError(f"{package.name} has no {script.name}: only SD-card machines get one "
                          "(is MACHINE jetson-nano-qspi-sd?)")
    log_path = logs_dir(project) / "dosdcard.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(f"# dosdcard.sh in {work} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                        f"# python for NVIDIA's scripts: {interp.describe()}\n")
    notes.append(f"NVIDIA's flashing scripts ran on {interp.describe()}")
    run = runner or run_logged
    rc = run([str(script)], work, prepare(work, dosdcard_env(board), interp), on_line, log_path, cancel)
    if rc != 0:
        raise WizardError(failure_message("dosdcard.sh", rc, log_path))
    sdcard = find_sdcard(work, image)
    expected = profile.sdcard.get("image_size_bytes")
    size = sdcard.stat().st_size
    if size % 512:
        raise WizardError(f"{sdcard} is not a whole number of sectors ({size} bytes): dosdcard.sh went wrong; "
                          f"see {log_path}")
    if expected and size != expected:
        notes.append(f"{sdcard.name} is {humanize.naturalsize(size)} (a real build for the Nano makes "
                     f"{humanize.naturalsize(expected)})")
    used: Usage = resparsify(sdcard, progress=progress, cancel=cancel, label="Making the image sparse")
    return SdImage(path=sdcard, package=package, apparent=used.apparent, allocated=used.allocated,
                   expected_size=expected, notes=notes)


def _after_warmup(fn: Optional[ProgressFn], delay: float = 0.5) -> Optional[ProgressFn]:
    """Drop updates during the first moments of a phase: a rate from a few milliseconds makes a wild ETA."""
    if fn is None:
        return None
    first: dict = {}

    def wrapped(p: Progress) -> None:
        t0 = first.setdefault(p.label, time.monotonic())
        if time.monotonic() - t0 >= delay or (p.total is not None and p.done >= p.total):
            fn(p)

    return wrapped


TAIL_LINES = 20


def log_tail(log_path: Path, n: int = TAIL_LINES) -> list:
    """The last `n` lines the script printed (the log's own `#` headers and procrun's footer left out): NVIDIA's
    scripts say what went wrong in lines that rarely contain the word "error" (`ERR: ...`, a Python traceback)."""
    try:
        lines = [ln.rstrip()[:200] for ln in log_path.read_text(errors="replace").splitlines()
                 if ln.strip() and not ln.startswith(("#", "=== "))]
    except OSError:
        return []
    return lines[-n:]


def failure_message(what: str, rc: int, log_path: Path) -> str:
    tail = log_tail(log_path)
    body = "".join(f"\n  | {ln}" for ln in tail)
    return (f"{what} failed (exit {rc}); its last {len(tail)} lines:{body}\nfull log: {log_path}" if tail
            else f"{what} failed (exit {rc}) and printed nothing; full log: {log_path}")


def existing_sdcard(project, image: str) -> Optional[Path]:
    """The newest .sdcard made earlier, for `flash` without an image argument."""
    root = wizard_dir(Path(project)) / "sdcard"
    found = sorted(root.glob(f"*/{image}.sdcard"), key=lambda p: p.stat().st_mtime) if root.is_dir() else []
    return found[-1] if found else None


def usage_of(path) -> Usage:
    return usage(path)


def make_image_for(session, fab: str = "", recovery_board: bool = False, machine: str = "", image: str = "",
                   **kwargs) -> SdImage:
    """The SD-card image step for a session: make the image and record it (screen and `image` alike)."""
    with session.step_run("image", "making the SD-card image") as run:
        res = make_sdcard_image(session.profile, session.project, machine or session.answers.machine,
                                image or session.answers.image, fab=fab, recovery_board=recovery_board, **kwargs)
        run.done(res.describe(), **res.to_json())
    return res
