"""Project creation: clone wrlinux-x, run setup.sh, clone meta-tegra, check out the tested commit, add its layers.

Each sub-step first looks at what is already there: done and right -> it says "already done" and moves on;
missing -> it does the work; there but different or unexpected -> it stops and says what it found, never
deleting or overwriting anything. So the step can be re-run at any time, also after a crash halfway.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

from wizard.core import procrun
from wizard.core.errors import WizardError
from wizard.core.progress import Cancelled
from wizard.project import gitops
from wizard.project.buildenv import build_dir, build_env_argv, build_env_vars
from wizard.project.checks import (
    bblayers_paths,
    check_location,
    describe,
    is_set_up,
    missing_markers,
    refuse_unexpected,
)

STEP_ID = "project"
SUBSTEPS = (
    ("clone-wrlinux", "Clone wrlinux-x"),
    ("setup", "Run setup.sh"),
    ("clone-meta-tegra", "Clone meta-tegra"),
    ("checkout-commit", "Check out the tested meta-tegra commit"),
    ("add-layers", "Add the meta-tegra layers"),
)
SUBSTEP_IDS = tuple(s for s, _ in SUBSTEPS)

# on_step(substep_id, state, message); state is one of these.
RUNNING, DONE, ALREADY, FAILED = "running", "done", "already", "failed"
StepFn = Callable[[str, str, str], None]


@dataclass(frozen=True)
class Credentials:
    """A Wind River (windshare) login for the subscriber LTS source. The password never appears in repr, logs
    or the screen."""

    user: str
    password: str = field(repr=False)

    @classmethod
    def from_env(cls) -> Optional[Credentials]:
        user = os.environ.get("WRNV_WINDSHARE_USER", "")
        password = os.environ.get("WRNV_WINDSHARE_PASSWORD", "")
        return cls(user, password) if user and password else None


class CommitMissing(WizardError):
    """The tested meta-tegra commit is not in the clone. Offers the branch tip, which is untested."""

    def __init__(self, commit: str, branch: str, tip: Optional[str], url: str):
        self.commit, self.branch, self.tip, self.url = commit, branch, tip, url
        offer = (f"to use the branch tip instead (untested: it behaves differently), run again with "
                 f"--meta-tegra-commit {tip}" if tip else "check the meta-tegra URL and commit (meta_tegra_url, meta_tegra_commit: Board & distro's "
                 "Advanced in the full-screen wizard, the answers file or --meta-tegra-commit otherwise)")
        super().__init__(f"the tested meta-tegra commit {commit} is not on branch {branch} of {url}; {offer}")


@dataclass
class Outcome:
    step: str
    state: str          # DONE or ALREADY
    message: str


class ProjectCreator:
    """Runs the sub-steps for one session. Screens call it from a worker thread; the CLI calls it directly."""

    def __init__(self, session, *, on_line: Optional[procrun.LineFn] = None, on_step: Optional[StepFn] = None,
                 cancel: Optional[procrun.CancelToken] = None, credentials: Optional[Credentials] = None,
                 use_branch_tip: bool = False):
        self.session = session
        self.on_line = on_line
        self.on_step = on_step
        self.cancel = cancel or procrun.CancelToken()
        self.credentials = credentials
        self.use_branch_tip = use_branch_tip
        self.warnings: list = []

    # -- facts ---------------------------------------------------------------------------------------------
    @property
    def profile(self):
        return self.session.profile

    @property
    def answers(self):
        return self.session.answers

    @property
    def project(self) -> Path:
        return Path(self.session.project).expanduser().absolute()

    @property
    def source(self):
        return self.profile.source(self.answers.source)

    @property
    def wrlinux_dir(self) -> Path:
        return self.project / self.profile.wrlinux.clone_dir

    @property
    def meta_tegra_dir(self) -> Path:
        return self.project / self.profile.meta_tegra.clone_dir

    def setup_args(self) -> list:
        """setup.sh's options without the login (shown, saved and compared across runs)."""
        wr = self.profile.wrlinux
        args = list(wr.setup_args)
        if self.answers.distro and self.answers.distro != self.profile.default_distro:
            args += [wr.distro_option, self.answers.distro]
        return args

    def commands(self) -> dict:
        """What each sub-step runs, for the screen and --help texts (secrets masked)."""
        mt, src = self.profile.meta_tegra, self.source
        return {
            "clone-wrlinux": f"git clone --branch {src.branch} -- {src.url} {self.profile.wrlinux.clone_dir}",
            "setup": procrun.display([f"./{self.profile.wrlinux.setup_script}", *self.setup_args()]),
            "clone-meta-tegra": f"git clone --branch {mt.branch} -- {mt.url} {mt.clone_dir}",
            "checkout-commit": f"git -C {mt.clone_dir} checkout {mt.commit}",
            "add-layers": "; ".join(f"bitbake-layers add-layer {p}" for p in mt.layers),
        }

    # -- running -------------------------------------------------------------------------------------------
    def run_all(self) -> list:
        """Run every sub-step in order; marks the session's "project" step running/done/failed."""
        with self.session.step_run(STEP_ID, "creating the project") as run:
            run.cancelled_detail = "cancelled; run it again to go on where it stopped"
            outcomes = []
            check_location(self.project, self.profile)
            for sid in SUBSTEP_IDS:
                outcomes.append(self.run_step(sid))
            already = all(o.state == ALREADY for o in outcomes)
            run.done("already set up; nothing to do" if already else "project created",
                     meta_tegra_head=gitops.head(self.meta_tegra_dir), setup_args=self.setup_args())
        return outcomes

    def run_step(self, sid: str) -> Outcome:
        if sid not in SUBSTEP_IDS:
            raise WizardError(f"unknown sub-step {sid!r}; use one of: {', '.join(SUBSTEP_IDS)}")
        self.cancel.check()
        fn = getattr(self, "_" + sid.replace("-", "_"))
        self._step(sid, RUNNING, dict(SUBSTEPS)[sid])
        try:
            outcome = fn()
        except (WizardError, Cancelled) as e:
            self._step(sid, FAILED, str(e))
            raise
        self._record(sid)
        self._step(sid, outcome.state, outcome.message)
        return outcome

    def _step(self, sid: str, state: str, message: str) -> None:
        if self.on_step is not None:
            self.on_step(sid, state, message)

    def _record(self, sid: str) -> None:
        st = self.session.step_state(STEP_ID)
        done = list(st.data.get("substeps_done", []))
        if sid not in done:
            done.append(sid)
            st.data["substeps_done"] = done
            self.session.save()

    def _run(self, sid: str, argv: list, cwd: Path, env: Optional[dict] = None, title: str = "") -> None:
        secrets = [self.credentials.password] if self.credentials else []
        if self.on_line is not None:
            self.on_line(f"$ {procrun.display(argv, secrets)}")
        procrun.run(argv, step=f"{STEP_ID}-{sid}", project=self.project, on_line=self.on_line, cwd=cwd,
                    env=env, secrets=secrets, cancel=self.cancel, title=title or sid)

    def _say(self, text: str) -> None:
        if self.on_line is not None:
            self.on_line(text)

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        self._say(f"warning: {text}")

    # -- the sub-steps -------------------------------------------------------------------------------------
    def _clone_wrlinux(self) -> Outcome:
        src, dest = self.source, self.wrlinux_dir
        if self._usable_existing(dest):
            url = gitops.origin_url(dest)
            if not gitops.same_url(url, src.url):
                raise WizardError(f"{dest} is a clone of {url}, not of {src.url}: move it aside, or set the "
                                  f"wrlinux-x URL back to {url}")
            branch = gitops.current_branch(dest)
            if branch != src.branch:
                raise WizardError(f"{dest} has branch {branch or '(detached)'} checked out, not {src.branch}: "
                                  f"run git -C {dest} checkout {src.branch}, or move it aside")
            return Outcome("clone-wrlinux", ALREADY, f"wrlinux-x already cloned ({src.branch} at "
                                                     f"{gitops.short(gitops.head(dest))})")
        check_location(self.project, self.profile)
        refuse_unexpected(self.project, self.profile)
        self.project.mkdir(parents=True, exist_ok=True)
        argv = ["git", "clone", "--branch", src.branch, "--", src.url, str(dest)]
        if src.needs_credentials and self.credentials:
            with gitops.askpass_env(self.credentials.user, self.credentials.password) as extra:
                self._run("clone-wrlinux", argv, self.project, env=gitops.git_env(extra), title="git clone wrlinux-x")
        else:
            self._run("clone-wrlinux", argv, self.project, env=gitops.git_env(), title="git clone wrlinux-x")
        return Outcome("clone-wrlinux", DONE, f"wrlinux-x cloned ({src.branch} at "
                                              f"{gitops.short(gitops.head(dest))})")

    def _setup(self) -> Outcome:
        args = self.setup_args()
        script = self.project / self.profile.wrlinux.setup_script
        if is_set_up(self.project, self.profile):
            previous = self._previous_setup_args()
            if previous is None or previous == args:
                return Outcome("setup", ALREADY, "setup.sh already ran (" + " ".join(args) + ")")
            self._say(f"setup.sh ran before with {' '.join(previous)}; running it again with {' '.join(args)}")
        else:
            refuse_unexpected(self.project, self.profile)
        if not script.is_file():
            raise WizardError(f"{script} is missing: run the clone-wrlinux sub-step first")
        argv = [str(script), *args]
        if self.source.needs_credentials and self.credentials:
            argv += ["--user", self.credentials.user, "--password", self.credentials.password]
        self._run("setup", argv, self.project, env=build_env_vars(gitops.git_env()), title="setup.sh")
        missing = missing_markers(self.project, self.profile)
        if missing:
            raise WizardError(f"setup.sh finished but {', '.join(missing)} is missing in {self.project}: see the "
                              f"log {procrun.log_path_for(self.project, STEP_ID + '-setup')}")
        self.session.step_state(STEP_ID).data["setup_args"] = args
        self.session.save()
        return Outcome("setup", DONE, "setup.sh done (" + " ".join(args) + ")")

    def _previous_setup_args(self) -> Optional[list]:
        saved = self.session.step_state(STEP_ID).data.get("setup_args")
        if isinstance(saved, list):
            return [str(a) for a in saved]
        # No record (state lost): setup.sh's own commit says how it was run.
        subject = gitops.query(self.project, "log", "-1", "--format=%s", "--grep=^Configuration change")
        if subject and subject.startswith("Configuration change - "):
            words = subject[len("Configuration change - "):].split()
            # The tutorial's --distro is argparse's abbreviation of --distros.
            words = [self.profile.wrlinux.distro_option if w.startswith("--distro") else w for w in words]
            out, skip = [], False
            for w in words:  # drop the login from the comparison
                if skip:
                    skip = False
                    continue
                if w in ("--user", "--password"):
                    skip = True
                    continue
                out.append(w)
            return out
        return None

    def _clone_meta_tegra(self) -> Outcome:
        mt, dest = self.profile.meta_tegra, self.meta_tegra_dir
        if self._usable_existing(dest):
            url = gitops.origin_url(dest)
            if not gitops.same_url(url, mt.url):
                raise WizardError(f"{dest} is a clone of {url}, not of {mt.url}: move it aside, or set the "
                                  f"meta-tegra URL back to {url}")
            return Outcome("clone-meta-tegra", ALREADY, f"meta-tegra already cloned (at "
                                                        f"{gitops.short(gitops.head(dest))})")
        if not is_set_up(self.project, self.profile):
            raise WizardError(f"{self.project} is not set up yet: run the setup sub-step first")
        argv = ["git", "clone", "--branch", mt.branch, "--", mt.url, str(dest)]
        self._run("clone-meta-tegra", argv, self.project, env=gitops.git_env(), title="git clone meta-tegra")
        return Outcome("clone-meta-tegra", DONE, f"meta-tegra cloned ({mt.branch})")

    def _checkout_commit(self) -> Outcome:
        mt, dest = self.profile.meta_tegra, self.meta_tegra_dir
        if not gitops.is_repo_root(dest):
            raise WizardError(f"{dest} is not a git clone: run the clone-meta-tegra sub-step first")
        want = mt.commit
        if gitops.head(dest) == want:
            return Outcome("checkout-commit", ALREADY, f"meta-tegra already at {self._which_commit(want)}")
        changed = gitops.changed_files(dest)
        if changed:
            raise WizardError(f"{dest} has local changes ({', '.join(changed[:3])}"
                              f"{', ...' if len(changed) > 3 else ''}): commit or stash them "
                              f"(git -C {dest} stash), then run this step again")
        tip = gitops.remote_branch_tip(dest, mt.branch)
        if not gitops.has_commit(dest, want):
            if not self.use_branch_tip:
                raise CommitMissing(want, mt.branch, tip, mt.url)
            if not tip:
                raise WizardError(f"{dest} has neither the tested commit {want} nor branch {mt.branch}: check the "
                                  f"meta-tegra URL")
            self._warn(f"the tested commit {gitops.short(want)} is missing; using the tip of {mt.branch} "
                       f"({gitops.short(tip)}), which is untested and behaves differently")
            want = tip
        elif tip and not gitops.is_ancestor(dest, want, tip):
            self._warn(f"commit {gitops.short(want)} is not on branch {mt.branch}")
        self._run("checkout-commit", ["git", "-C", str(dest), "checkout", "-q", "--detach", want], self.project,
                  env=gitops.git_env(), title="git checkout")
        got = gitops.head(dest)
        if got != want:
            raise WizardError(f"after the checkout {dest} is at {got}, not {want}: see the log "
                              f"{procrun.log_path_for(self.project, STEP_ID + '-checkout-commit')}")
        self.session.step_state(STEP_ID).data["meta_tegra_head"] = got
        return Outcome("checkout-commit", DONE, f"meta-tegra at {self._which_commit(got)}")

    def _which_commit(self, sha: str) -> str:
        """Words for a commit: the profile's tested one, the one the user chose, or another."""
        if sha == self.session.base_profile.meta_tegra.commit:
            return f"the tested commit {gitops.short(sha)}"
        if sha == self.profile.meta_tegra.commit:
            return f"the chosen commit {gitops.short(sha)}"
        return f"{gitops.short(sha)} (not the tested commit)"

    def _add_layers(self) -> Outcome:
        conf = build_dir(self.profile, self.project) / "conf" / "bblayers.conf"
        wanted = [Path(os.path.normpath(self.project / p)) for p in self.profile.meta_tegra.layers]
        for layer in wanted:
            if not (layer / "conf" / "layer.conf").is_file():
                raise WizardError(f"{layer} is not a layer (no conf/layer.conf): check the meta-tegra clone")
        present = {Path(os.path.realpath(p)) for p in bblayers_paths(conf)}
        missing = [p for p in wanted if Path(os.path.realpath(p)) not in present]
        if not missing:
            return Outcome("add-layers", ALREADY, "meta-tegra layers already in bblayers.conf")
        for layer in missing:
            argv = build_env_argv(self.profile, self.project, ["bitbake-layers", "add-layer", str(layer)])
            if self.on_line is not None:
                self.on_line(f"$ bitbake-layers add-layer {layer}")
            procrun.run(argv, step=f"{STEP_ID}-add-layers", project=self.project, on_line=self.on_line,
                        cwd=self.project, env=build_env_vars(), cancel=self.cancel, title="bitbake-layers add-layer")
        present = {Path(os.path.realpath(p)) for p in bblayers_paths(conf)}
        still = [str(p) for p in wanted if Path(os.path.realpath(p)) not in present]
        if still:
            raise WizardError(f"bitbake-layers finished but {', '.join(still)} is not in {conf}: see the log "
                              f"{procrun.log_path_for(self.project, STEP_ID + '-add-layers')}")
        return Outcome("add-layers", DONE, f"added {', '.join(p.name for p in missing)} to bblayers.conf")

    def _usable_existing(self, dest: Path) -> bool:
        """True: `dest` is a git clone to verify. False: absent or empty, to create. Otherwise a WizardError
        that says what is there (nothing is ever deleted)."""
        if not os.path.lexists(dest):
            return False
        if dest.is_dir() and not any(dest.iterdir()):
            return False
        if gitops.is_repo_root(dest):
            return True
        raise WizardError(f"{dest} already exists and holds {describe(dest)}, not a git clone: move it aside "
                          f"(nothing was changed)")


def substep_status(session) -> dict:
    """sub-step id -> True for the ones recorded as done (for the screen's checklist on re-entry)."""
    done = set(session.step_state(STEP_ID).data.get("substeps_done", []))
    return {sid: sid in done for sid in SUBSTEP_IDS}
