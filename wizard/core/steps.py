"""The journey, as data: every step in order. The shell, the CLI and the plain mode all walk this list.

Adding a step takes, besides its StepSpec here (tests/core/test_steps_complete.py checks the first four):
  1. its engine entry point, in the step's package (wizard/<package>/), which does the work inside
     `Session.step_run(<id>)` -- the one place a step's outcome is recorded; a step that is only a look or a
     choice calls `Session.complete(<id>)` instead;
  2. a screen, named in screens/registry.py, that asks, calls that entry point and draws (it never records);
  3. `PlainRun.step_<id>` in wizard/plain.py: the same questions as lines, then the same entry point (through
     the step's command when it has one);
  4. when it can run headless, `cli` here plus a module in wizard/commands/ listed in COMMANDS;
  5. where its data belongs in the summary, a line in wizard/core/summary.py; and for the unattended demo,
     `Autopilot.act_<id>` in screens/autopilot.py when a person would have to press something.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum


class Status(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"
    SKIPPED = "skipped"

    @property
    def finished(self) -> bool:
        return self in (Status.DONE, Status.SKIPPED)


@dataclass(frozen=True)
class StepSpec:
    id: str
    title: str
    summary: str
    # Whether "continue anyway" is offered when the step failed (only where going on is safe).
    continue_anyway: bool = False
    # Checks whose failure no later step gets round (the build would stop hours later, or never start):
    # with one of them failed, "continue anyway" is not offered.
    blocking: tuple = ()
    # The headless command that runs this step, shown to the user ("wrnv-wizard <cli> ...").
    cli: str = ""


STEPS: tuple = (
    StepSpec("welcome", "Welcome", "What will be built and what you need."),
    StepSpec("prereqs", "NVIDIA prerequisites",
             "An NVIDIA developer account, SDK Manager and the JetPack 4.3 downloads.", continue_anyway=True),
    StepSpec("host", "Host check", "Everything setup.sh, bitbake and dosdcard.sh need, checked up front.",
             continue_anyway=True, cli="doctor",
             blocking=("not root", "python2", "bash", "locale", "required host tools")),
    StepSpec("downloads", "Verify downloads", "Every NVIDIA file the build reads: present and intact.",
             continue_anyway=True, cli="verify-downloads"),
    StepSpec("board", "Board & distro", "Which Jetson, which Wind River source and distro, which packages."),
    StepSpec("project", "Create project", "wrlinux-x, setup.sh, meta-tegra at the tested commit, layers.",
             cli="setup"),
    StepSpec("localconf", "Configure local.conf", "The tutorial's settings, written once, as one managed block.",
             cli="localconf"),
    StepSpec("build", "Build", "bitbake the image: hours, followed live.", cli="build"),
    StepSpec("image", "SD-card image", "Unpack the tegraflash package and run dosdcard.sh.", cli="image"),
    StepSpec("flash", "Write the card", "Pick the SD card safely, write it fast, verify it.", cli="flash"),
    StepSpec("boot", "Boot & check", "Find the board and prove the GPU works inside a container.",
             continue_anyway=True, cli="check-board"),
    StepSpec("summary", "Summary", "What was built, where, and what to do next."),
)

STEP_IDS = tuple(s.id for s in STEPS)


def may_continue_anyway(spec: StepSpec, failed=()) -> bool:
    """Whether a failed step may be passed by: offered by the step, and none of `failed` (the names of the
    checks that failed) is one the rest of the journey cannot do without."""
    return spec.continue_anyway and not set(failed) & set(spec.blocking)


def step(step_id: str) -> StepSpec:
    for s in STEPS:
        if s.id == step_id:
            return s
    raise KeyError(step_id)


def index(step_id: str) -> int:
    return STEP_IDS.index(step_id)
