"""Check the SDK Manager downloads folder: every needed file present, readable, the right size and checksum.

bitbake reads these files only an hour into a build and (with a file:// mirror) does not check their sums, so
a partial download surfaces late and cryptically. Here it takes seconds: stat first (missing, wrong type, empty
and size problems need no reading), then hash the rest in parallel threads (hashlib releases the GIL on large
updates), largest file first so the workers finish together, with a stat-keyed cache so unchanged files are
never read twice.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Optional

from wizard.core.errors import WizardError
from wizard.core.progress import Cancelled, Progress, ProgressFn, Throttle
from wizard.downloads.hashcache import HashCache
from wizard.downloads.manifest import Needed, load_manifest, select

STATUSES = ("ok", "missing", "size-mismatch", "checksum-mismatch", "unreadable")
CHUNK = 1 << 20          # 1 MiB reads: few system calls, still fine-grained progress and cancel
ALGO = "sha256"          # every file declares it; md5 is used only for an entry that declares nothing else

ResultFn = Callable[["FileResult"], None]


def show(path) -> str:
    """A path as printable text: undecodable bytes in names appear as \\x.. escapes, never as a crash."""
    text = os.fsdecode(path) if isinstance(path, bytes) else str(path)
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


@dataclass
class FileResult:
    needed: Needed
    status: str = "pending"     # pending / checking while running, then one of STATUSES
    detail: str = ""
    hint: str = ""              # what to do about it, one short sentence
    size: Optional[int] = None
    from_cache: bool = False

    @property
    def name(self) -> str:
        return self.needed.entry.name

    @property
    def subdir(self) -> str:
        return self.needed.entry.subdir

    @property
    def rel(self) -> str:
        return self.needed.entry.rel

    @property
    def level(self) -> str:
        return self.needed.level

    @property
    def good(self) -> bool:
        return self.status == "ok"

    def to_json(self) -> dict:
        return {"name": self.name, "subdir": self.subdir, "status": self.status, "detail": self.detail,
                "needed": self.level, "hint": self.hint}


@dataclass
class Report:
    folder: Path
    results: list
    algo: str = ALGO
    elapsed: float = 0.0
    bytes_hashed: int = 0
    notes: list = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every required file is good (recommended ones only warn)."""
        return all(r.good for r in self.results if r.needed.required)

    @property
    def bad(self) -> list:
        return [r for r in self.results if not r.good and r.needed.required]

    @property
    def warnings(self) -> list:
        return [r for r in self.results if not r.good and not r.needed.required]

    @property
    def can_stage(self) -> list:
        """Sub-folder (NoDLA/DLA) files that are missing there but present at the top level."""
        return [r for r in self.results if r.status == "missing" and r.needed.entry.staged
                and os.path.isfile(self.folder / r.name)]

    def to_json(self) -> dict:
        return {"ok": self.ok, "folder": show(self.folder), "algorithm": self.algo,
                "files": [r.to_json() for r in self.results], "notes": list(self.notes)}

    def advice(self) -> list:
        """What to do, one line per action, most useful first."""
        out = []
        stage = self.can_stage
        if stage:
            subs = sorted({r.subdir for r in stage})
            out.append(f"Run 'wrnv-wizard verify-downloads --stage-nodla' (or press 'Stage TensorRT') to put "
                       f"{len(stage)} TensorRT file(s) into {', '.join(s + '/' for s in subs)}.")
        missing = [r for r in self.bad if r.status == "missing" and r not in stage]
        if missing:
            out.append(f"Download with SDK Manager (JetPack for your board) into {show(self.folder)}: "
                       + _names(missing) + ".")
        damaged = [r for r in self.bad if r.status in ("size-mismatch", "checksum-mismatch")]
        if damaged:
            out.append("Delete and re-download in SDK Manager (incomplete or damaged): " + _names(damaged) + ".")
        for r in self.bad:
            if r.status == "unreadable":
                out.append(f"{r.rel}: {r.hint}")
        for r in self.warnings:
            out.append(f"Recommended: {r.rel} is {r.status} ({r.needed.why}).")
        return out

    def summary(self) -> str:
        req = [r for r in self.results if r.needed.required]
        good = sum(1 for r in req if r.good)
        if self.ok:
            text = f"All {len(req)} needed files are present and intact."
            if self.warnings:
                text += f" {len(self.warnings)} recommended file(s) need attention."
            return text
        return f"{len(req) - good} of {len(req)} needed files need attention; the build would fail."


def _names(results: list, most: int = 4) -> str:
    names = [r.rel for r in results]
    if len(names) <= most:
        return ", ".join(names)
    return ", ".join(names[:most]) + f" and {len(names) - most} more (see the list)"


# -- the folder itself -------------------------------------------------------------------------

def check_folder(folder) -> Path:
    """The downloads folder, or a one-line WizardError saying what is wrong with it and what to do."""
    folder = Path(os.path.expanduser(folder))
    try:
        st = os.stat(folder)
    except FileNotFoundError:
        raise WizardError(f"the downloads folder {show(folder)} does not exist; run SDK Manager to download "
                          "JetPack there, or give the folder it used") from None
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise WizardError(f"the downloads folder {show(folder)} is a symlink loop; point it at the real "
                              "folder") from None
        raise WizardError(f"cannot open the downloads folder {show(folder)} ({e.strerror}); check its "
                          "permissions") from None
    if not stat.S_ISDIR(st.st_mode):
        raise WizardError(f"{show(folder)} is a file, not a folder; give the folder SDK Manager downloaded into "
                          "(usually ~/Downloads/nvidia/sdkm_downloads)")
    if not os.access(folder, os.R_OK | os.X_OK):
        raise WizardError(f"cannot read the downloads folder {show(folder)}; check its permissions")
    return folder


# -- checking one file -------------------------------------------------------------------------

class _Shared:
    """State the workers share: progress bytes, cancellation, the cache."""

    def __init__(self, total: int, progress: Optional[ProgressFn], cancel, cache: HashCache):
        self.lock = threading.Lock()
        self.progress = Progress(0, total, label="Checking")
        self.throttle = Throttle(progress, 0.1)
        self.cancel = cancel
        self.cache = cache
        self.stop = threading.Event()

    def add(self, n: int) -> None:
        with self.lock:
            self.progress.done += n
            self.throttle(self.progress)

    def cancelled(self) -> bool:
        if self.stop.is_set():
            return True
        if self.cancel is not None and self.cancel.is_set():
            self.stop.set()
            return True
        return False


def _stat_problem(folder: Path, r: FileResult) -> Optional[os.stat_result]:
    """Fill in r for everything a stat can tell; return the stat when the file needs hashing."""
    e = r.needed.entry
    path = folder / e.rel
    try:
        st = os.stat(path)
    except FileNotFoundError:
        r.status = "missing"
        if os.path.islink(path):
            r.detail = f"a broken link to {show(os.readlink(path))}"
            r.hint = "remove the link and put the real file there"
        elif e.staged and os.path.isfile(folder / e.name):
            r.detail = f"not in {e.subdir}/ (it is in the top folder)"
            r.hint = "stage it: run with --stage-nodla"
        else:
            near = _near_names(folder, e.name)
            r.detail = f"not found; found {near} instead" if near else "not found"
            r.hint = "download it with SDK Manager"
        return None
    except NotADirectoryError:
        r.status, r.detail = "unreadable", f"{e.subdir} is a file, not a folder"
        r.hint = f"move {e.subdir} aside and run with --stage-nodla"
        return None
    except OSError as ex:
        r.status = "unreadable"
        if ex.errno == errno.ELOOP:
            r.detail, r.hint = "a symlink loop", "remove the link and put the real file there"
        else:
            r.detail, r.hint = f"cannot look at it ({ex.strerror})", "check the folder's permissions"
        return None
    r.size = st.st_size
    if stat.S_ISDIR(st.st_mode):
        r.status, r.detail = "unreadable", "a folder with the file's name"
        r.hint = "remove that folder and download the file again"
        return None
    if not stat.S_ISREG(st.st_mode):
        kind = "a FIFO" if stat.S_ISFIFO(st.st_mode) else "a socket" if stat.S_ISSOCK(st.st_mode) \
            else "a device" if stat.S_ISBLK(st.st_mode) or stat.S_ISCHR(st.st_mode) else "not a regular file"
        r.status, r.detail = "unreadable", f"{kind}, not a regular file"
        r.hint = "remove it and download the file again"
        return None
    if st.st_size == 0:
        r.status, r.detail, r.hint = "size-mismatch", "empty (0 bytes)", "delete it and download it again"
        return None
    if e.size is not None and st.st_size != e.size:
        what = "incomplete download" if st.st_size < e.size else "larger than expected"
        r.status = "size-mismatch"
        r.detail = f"{st.st_size:,} bytes, expected {e.size:,} ({what})"
        r.hint = "delete it and download it again"
        return None
    return st


def _near_names(folder: Path, name: str) -> str:
    """A partial or renamed download next to the missing file (`x.deb.part`, `x (1).deb`), to name it."""
    stem = os.fsencode(name.rsplit(".", 1)[0])
    want = os.fsencode(name)
    try:
        with os.scandir(os.fsencode(folder)) as it:
            for n, d in enumerate(it):
                if n > 200_000:
                    break
                if d.name != want and d.name.startswith(stem):
                    return show(d.name)
    except OSError:
        pass
    return ""


def _algo(r: FileResult) -> tuple:
    e = r.needed.entry
    return ("sha256", e.sha256) if e.sha256 else ("md5", e.md5)


def _hash(folder: Path, r: FileResult, st0: os.stat_result, shared: _Shared, on_result: Optional[ResultFn]) -> None:
    algo, want = _algo(r)
    path = folder / r.needed.entry.rel
    r.status = "checking"
    if on_result:
        on_result(r)
    done = 0
    try:
        # O_NONBLOCK: a FIFO swapped in after the stat must not hang the check.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    except OSError as ex:
        r.status, r.detail = "unreadable", f"cannot open it ({ex.strerror})"
        r.hint = "make it readable (chmod a+r) or download it again"
        return _finish(r, on_result)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            r.status, r.detail, r.hint = "unreadable", "not a regular file", "remove it and download it again"
            return _finish(r, on_result)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_SEQUENTIAL)
        except (AttributeError, OSError):
            pass
        h = hashlib.new(algo)
        buf = bytearray(CHUNK)
        view = memoryview(buf)
        with os.fdopen(fd, "rb", buffering=0, closefd=False) as f:
            while True:
                if shared.cancelled():
                    raise Cancelled()
                n = f.readinto(buf)
                if not n:
                    break
                h.update(view[:n])
                done += n
                shared.add(n)
        digest = h.hexdigest()
    except Cancelled:
        r.status, r.detail = "pending", "not checked (cancelled)"
        raise
    except OSError as ex:
        r.status, r.detail = "unreadable", f"read error after {done:,} bytes ({ex.strerror})"
        r.hint = "the disk or file is damaged; download it again (and check the disk)"
        return _finish(r, on_result)
    finally:
        os.close(fd)
    after = os.stat(path) if os.path.exists(path) else None
    unchanged = after is not None and (after.st_size, after.st_mtime_ns, after.st_ino) == \
        (st.st_size, st.st_mtime_ns, st.st_ino)
    if unchanged:
        shared.cache.put(path, st, algo, digest)
    _judge(r, digest, want, algo)
    if not unchanged:
        r.detail += " (it changed while being checked: check again when SDK Manager has finished)"
    return _finish(r, on_result)


def _judge(r: FileResult, digest: str, want: str, algo: str) -> None:
    if digest == want:
        r.status, r.detail, r.hint = "ok", f"{algo} matches", ""
    else:
        r.status = "checksum-mismatch"
        r.detail = f"{algo} differs ({_size(r.size)}): incomplete or damaged download"
        r.hint = "delete it and download it again"


def _size(n: Optional[int]) -> str:
    import humanize

    return humanize.naturalsize(n or 0)


def _finish(r: FileResult, on_result: Optional[ResultFn]) -> None:
    if on_result:
        on_result(r)


# -- the whole check ---------------------------------------------------------------------------

def default_jobs() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover - not Linux
        return max(1, os.cpu_count() or 1)


def verify(folder, needed: Iterable[Needed], *, jobs: Optional[int] = None, use_cache: bool = True,
           cache: Optional[HashCache] = None, progress: Optional[ProgressFn] = None,
           on_result: Optional[ResultFn] = None, cancel=None) -> Report:
    """Check every needed file in `folder`. `cancel` is a threading.Event; setting it raises Cancelled
    (the cache keeps what was finished). `on_result` is called (from worker threads) as each file changes."""
    started = time.monotonic()
    folder = check_folder(folder)
    results = [FileResult(n) for n in needed]
    cache = cache if cache is not None else HashCache(enabled=use_cache)
    todo = []
    for r in results:
        st = _stat_problem(folder, r)
        if st is None:
            _finish(r, on_result)
            continue
        algo, want = _algo(r)
        cached = cache.get(folder / r.rel, st, algo)
        if cached is not None:
            r.from_cache = True
            _judge(r, cached, want, algo)
            r.detail += " (remembered: unchanged since last check)"
            _finish(r, on_result)
            continue
        todo.append((r, st))
    todo.sort(key=lambda t: t[1].st_size, reverse=True)   # largest first: the workers end together
    total = sum(st.st_size for _, st in todo)
    shared = _Shared(total, progress, cancel, cache)
    shared.throttle(shared.progress, final=True)
    workers = max(1, min(jobs or default_jobs(), len(todo) or 1))
    try:
        if workers == 1:
            for r, st in todo:
                _hash(folder, r, st, shared, on_result)
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="verify") as pool:
                futures = [pool.submit(_hash, folder, r, st, shared, on_result) for r, st in todo]
                try:
                    for f in futures:
                        f.result()
                except BaseException:
                    shared.stop.set()       # the other workers stop at their next chunk
                    raise
    finally:
        cache.save()
    shared.throttle(shared.progress, final=True)
    report = Report(folder=folder, results=results, elapsed=time.monotonic() - started,
                    bytes_hashed=shared.progress.done)
    if cache.problem:
        report.notes.append(cache.problem)
    return report


def count_present(folder, profile, machine: Optional[str], packages: Iterable[str]) -> tuple:
    """(present, needed) for the required files, by looking only (no hashing), for the prerequisites step.
    A TensorRT file still at the top level counts as present: staging it into NoDLA/ is automatic."""
    needed = [n for n in select(load_manifest(profile.manifest_path()), profile, machine, packages) if n.required]
    folder = Path(os.path.expanduser(folder))
    present = 0
    for n in needed:
        e = n.entry
        if os.path.isfile(folder / e.rel) or (e.staged and os.path.isfile(folder / e.name)):
            present += 1
    return present, len(needed)


def needed_for(session) -> tuple:
    """(needed files, notes) for the session's answers: the profile's manifest, corrected by the cloned
    layer when there is one (its recipes are what the build will really read)."""
    from wizard.downloads.manifest import cross_check, layer_dir, load_manifest, select

    profile = session.profile
    manifest = load_manifest(profile.manifest_path())
    notes = []
    machine = session.answers.machine or None
    layer = layer_dir(profile, session.project)
    if layer is not None:
        manifest, diffs = cross_check(manifest, layer, [profile.machine(machine).soc])
        notes = [f"layer differs: {d}" for d in diffs]
    return select(manifest, profile, machine, session.answers.packages), notes


def verify_step(session, needed: Iterable[Needed], *, notes: Optional[list] = None, folder=None,
                stage_first: bool = False, on_staged=None, on_folder_ok=None, **verify_args) -> Report:
    """The Verify downloads step: (stage TensorRT, then) verify, and record the outcome with the bad files
    and the folder, whoever asked (screen, plain mode or `verify-downloads`). A missing or wrong folder fails
    the step before anything else happens; `on_folder_ok` lets a screen draw its rows only after that."""
    folder = session.answers.downloads if folder is None else folder
    needed = list(needed)
    notes = notes if notes is not None else []      # on_staged may still add to the caller's list
    with session.step_run("downloads") as run:
        run.cancelled_detail = "check stopped"
        check_folder(folder)
        if on_folder_ok is not None:
            on_folder_ok()
        if stage_first:
            from wizard.downloads.nodla import stage

            staged = stage(folder, needed, progress=verify_args.get("progress"), cancel=verify_args.get("cancel"))
            if on_staged is not None:
                on_staged(staged)
        report = verify(folder, needed, **verify_args)
        report.notes[:0] = notes
        facts = {"bad_files": [r.rel for r in report.bad], "folder": show(report.folder)}
        if report.ok:
            run.done(report.summary(), **facts)
        else:
            run.fail(report.summary(), **facts)
    return report
