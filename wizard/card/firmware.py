"""The board's boot firmware (QSPI): why a perfect card may never start, and the route that fixes it.

Why: from L4T R32.5 on, all of the Jetson Nano's boot partitions live in the QSPI flash on the module, and most
Nanos in use have run JetPack 4.5 or later, so their QSPI holds newer firmware than an R32.3.1 card expects.
dosdcard.sh never touches QSPI. The tegraflash package's doflash.sh does: with the board in USB recovery mode it
runs NVIDIA's tegraflash.py "flash;reboot" over USB and writes every partition of the Nano's SPI+SD layout
(QSPI, and the SD card in the board). At this release there is no SPI-only option (it came later), so the card
in the board is written as well. Facts come from the profile's [firmware] table; what could not be tried on a
real board is said as unverified.

The route refuses without a Jetson in recovery mode (detected with pyudev, again right before starting), runs
doflash.sh as root the same way as dosdcard.sh (the privileged helper, or in-process as root), with NVIDIA's
scripts on the interpreter wizard.core.tegraflash_python chose, and reports the phase it reached.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from wizard.card.sdimage import dosdcard_env, failure_message, find_package, unpack
from wizard.core.errors import WizardError
from wizard.core.paths import logs_dir, wizard_dir
from wizard.core.profile import Profile
from wizard.core.progress import Progress, ProgressFn
from wizard.core.tegraflash_python import choose as choose_python
from wizard.core.tegraflash_python import missing_message, prepare

LineFn = Callable[[str], None]
CancelFn = Callable[[], bool]

# What tegraflash.py prints as it goes, in order (NVIDIA's info_print lines; the step names are ours). Used only
# to say which phase the flash reached: the count of phases is the progress bar's total.
PHASES = (
    ("Reading the board", re.compile(r"Board ID\(|Retrieving EEPROM data|tegrarcm --uid")),
    ("Preparing the images", re.compile(r"mksparse|Generating RCM messages|Parsing partition layout")),
    ("Signing", re.compile(r"Creating list of images to be signed|Generating signatures|Signing")),
    ("Sending the boot loader to the board", re.compile(r"Boot Rom communication|Sending BCTs|Sending bootloader")),
    ("Writing the partitions", re.compile(r"Flashing the device|Writing partition")),
    ("Finishing", re.compile(r"Flashing completed|Coldbooting the device")),
)


def settings(profile: Profile) -> dict:
    return dict(profile.raw.get("firmware") or {})


def applies(profile: Profile, machine: str) -> bool:
    return machine in settings(profile).get("machines", [])


def explanation(profile: Profile) -> str:
    """The mismatch in two sentences, from the profile, plus 'unverified' where it was not tried on a board."""
    fw = settings(profile)
    text = str(fw.get("explain", "")).format(**{k: v for k, v in fw.items() if isinstance(v, str)})
    text = " ".join(text.split())
    if not fw.get("outcome_verified", False):
        text += " (Unverified: not tried on a real board here.)"
    return text


def short_notice(profile: Profile, machine: str) -> str:
    """Two lines for the Write-the-card step (the full explanation is on the Image step)."""
    if not applies(profile, machine):
        return ""
    fw = settings(profile)
    return (f"Nano ran {fw.get('qspi_since_short', 'a newer release')}+? Its boot firmware may not start this "
            "card: Image step, Rewrite boot firmware.")


def command_hint(project) -> str:
    return f"wrnv-wizard firmware --project {project}"


@dataclass
class FirmwareResult:
    ok: bool
    phase: str
    log: Path
    notes: list = field(default_factory=list)

    def describe(self) -> str:
        return (f"The boot firmware (QSPI) was rewritten at this release; the board restarts by itself "
                f"(log: {self.log})")


class PhaseTracker:
    """Turns doflash.sh's output into Progress: done = phases reached, label = the latest one."""

    def __init__(self, progress: Optional[ProgressFn]):
        self.progress = progress
        self.reached = 0
        self.label = "Starting doflash.sh"
        self.started = time.monotonic()

    def feed(self, line: str) -> None:
        for i, (label, rx) in enumerate(PHASES[self.reached:], start=self.reached):
            if rx.search(line):
                self.reached, self.label = i + 1, label
        self.emit()

    def emit(self) -> None:
        if self.progress is not None:
            self.progress(Progress(self.reached, len(PHASES), started=self.started, label=self.label))


def run_in_process(argv: list, cwd, env: dict, on_line: Optional[LineFn], log_path: Optional[Path],
                   cancel: Optional[CancelFn] = None) -> int:
    """As root already: run doflash.sh here, the way dosdcard.sh runs (log file, process-group cancel)."""
    from wizard.card.sdimage import run_logged

    return run_logged(argv, cwd, env, on_line, log_path, cancel, step="doflash",
                      stopped="doflash.sh was stopped: the board's firmware may be half written; put it in "
                              "recovery mode and run the firmware step again")


def require_board(profile: Profile, boards: Optional[list] = None, context=None) -> list:
    """The Jetsons in recovery mode now (pyudev); refuse with what to do when there is none."""
    from wizard.card.usb_recovery import find_recovery

    found = find_recovery(profile, context=context) if boards is None else list(boards)
    if not found:
        raise WizardError("no Jetson in recovery mode on USB: with the power off, jumper FRC to GND (pins 3 and 4 "
                          "from the right, under the module), plug in the micro-USB cable, power on, and try again")
    if len(found) > 1:
        raise WizardError(f"{len(found)} Jetsons in recovery mode are plugged in: unplug all but the one to "
                          "rewrite, so that the right board is written")
    return found


def rewrite_qspi(profile: Profile, project, machine: str, image: str, progress: Optional[ProgressFn] = None,
                 on_line: Optional[LineFn] = None, cancel: Optional[CancelFn] = None,
                 runner: Optional[Callable] = None, context=None) -> FirmwareResult:
    """The whole route: check the machine, a board in recovery mode and an interpreter; unpack the package; run
    doflash.sh (`runner(argv, cwd, env, on_line, log, cancel) -> rc`, elevated); re-check the board right before
    starting it. Raises WizardError (with the script's last lines) or Cancelled."""
    project = Path(project)
    fw = settings(profile)
    if not applies(profile, machine):
        raise WizardError(f"{machine} keeps no boot firmware in QSPI this wizard knows how to rewrite; the "
                          f"firmware step is for {', '.join(fw.get('machines', [])) or 'no machine'}")
    require_board(profile, context=context)
    interp = choose_python()
    if interp is None:
        raise WizardError(missing_message())
    package = find_package(profile, project, machine, image)
    work = wizard_dir(project) / "firmware" / package.name.replace(".tegraflash.zip", "")
    work.parent.mkdir(parents=True, exist_ok=True)
    unpack(package, work, progress=progress, cancel=cancel)
    script = work / fw.get("doflash", "doflash.sh")
    if not script.is_file():
        raise WizardError(f"{package.name} has no {script.name}: build the image again")
    log_path = logs_dir(project) / "doflash.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.write_text(f"# doflash.sh in {work} at {time.strftime('%Y-%m-%d %H:%M:%S')}\n"
                        f"# python for NVIDIA's scripts: {interp.describe()}\n")
    env = prepare(work, dosdcard_env(None), interp)     # no BOARDID/FAB: the script reads the board itself
    tracker = PhaseTracker(progress)

    def line(text: str) -> None:
        tracker.feed(text)
        if on_line is not None:
            on_line(text)

    require_board(profile, context=context)             # again, right before anything is written
    tracker.emit()
    run = runner or run_in_process
    rc = run([str(script), *map(str, fw.get("doflash_args", []))], work, env, line, log_path, cancel)
    if rc != 0:
        raise WizardError(failure_message("doflash.sh", rc, log_path)
                          + f"\n(it stopped while: {tracker.label.lower()})")
    notes = [f"NVIDIA's flashing scripts ran on {interp.describe()}"]
    if fw.get("writes_card_in_board"):
        notes.append("The SD card that was in the board was written too (this release's doflash.sh has no "
                     "SPI-only option).")
    return FirmwareResult(ok=True, phase=tracker.label, log=log_path, notes=notes)


def logging_runner(run_helper_lines: Callable) -> Callable:
    """Wrap a runner that only streams lines (the privileged helper never writes a log) so that the log file
    is written here, by the unprivileged side."""
    def runner(argv, cwd, env, on_line, log_path, cancel):
        fh = open(log_path, "a", encoding="utf-8", errors="replace") if log_path else None

        def line(text: str) -> None:
            if fh is not None:
                fh.write(text + "\n")
                fh.flush()
            if on_line is not None:
                on_line(text)

        try:
            rc = run_helper_lines(argv, cwd, env, line, cancel)
            if fh is not None:
                fh.write(f"=== exit code {rc}\n")
            return rc
        finally:
            if fh is not None:
                fh.close()

    return runner
