"""The journey, as data: every step in order. The shell, the CLI and the plain mode all walk this list.

Adding a step means adding a StepSpec here and a screen in screens/registry.py; nothing else changes.
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
