"""Adopt a project made elsewhere: a folder set up by hand with the tutorial's commands (git clone wrlinux-x,
setup.sh, meta-tegra at the commit, bitbake-layers add-layer, lines appended to local.conf), or one that kas
laid out from a project file (each repository cloned at its commit under the work folder, build/conf/bblayers.conf
and build/conf/local.conf written by kas from the file's layers and local_conf_header).

Nothing here changes the project. What is already there is recognised (the answers it was made with: the
wrlinux-x mirror and distro from its clone and setup.sh's own commit, MACHINE, the downloads folder and the
packages from local.conf), then checked and recorded through the same engine calls the steps use, so the
wizard opens at the first step that is really missing. A part that does not match what the wizard would do
(another meta-tegra commit, layers not added yet) is left to its step, which says what it will change.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from wizard.core.errors import WizardError
from wizard.core.state import State
from wizard.core.steps import STEP_IDS
from wizard.project import gitops
from wizard.project import localconf as lc
from wizard.project.buildenv import build_dir
from wizard.project.checks import bblayers_paths, is_set_up

# Where adoption may open: the steps it can recognise, in order; the earlier ones are questions and checks of
# the host, which the user can still visit.
FIRST_ADOPTABLE = "project"


@dataclass
class Adoption:
    recorded: list = field(default_factory=list)    # step ids recorded as done from what was found
    start_at: str = FIRST_ADOPTABLE                 # the first step really missing
    notes: list = field(default_factory=list)       # one line each: what was found or why a step is left


def made_elsewhere(project: Path, profile) -> bool:
    """A folder with a wrlinux-x clone or setup.sh's layout, but no wizard state: set up by hand or by kas."""
    project = Path(project)
    if not project.is_dir() or State.file_for(project).exists():
        return False
    return (gitops.is_repo_root(project / profile.wrlinux.clone_dir) or is_set_up(project, profile)
            or kas_made(project, profile))


# The lines kas itself appends to the local.conf it writes (after the local_conf_header sections): nothing else
# writes all three, so they tell a kas-made build folder from one made by oe-init-build-env or setup.sh.
_KAS_SIGNATURE = (re.compile(r'^MACHINE \?\?= "', re.M), re.compile(r'^DISTRO \?\?= "', re.M),
                  re.compile(r'^BBMULTICONFIG \?= "', re.M))


def kas_made(project: Path, profile) -> bool:
    """build/conf written by kas (its local.conf's own closing lines, and a bblayers.conf) and no setup.sh run."""
    conf = build_dir(profile, project) / "conf"
    if is_set_up(project, profile) or not (conf / "bblayers.conf").is_file():
        return False
    try:
        text = lc.read_text(conf / "local.conf")
    except OSError:
        return False
    return all(p.search(text) for p in _KAS_SIGNATURE)


def kas_file(project: Path) -> Optional[Path]:
    """The kas project file kept in the project folder (the one kas ran with), if there is exactly one."""
    import yaml

    found = []
    for p in sorted([*Path(project).glob("*.yml"), *Path(project).glob("*.yaml")]):
        try:
            doc = yaml.safe_load(p.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        if isinstance(doc, dict) and isinstance(doc.get("header"), dict) and "version" in doc["header"]:
            found.append(p)
    return found[0] if len(found) == 1 else None


def _kas_doc(project: Path) -> dict:
    import yaml

    path = kas_file(project)
    if path is None:
        return {}
    doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    return doc if isinstance(doc, dict) else {}


def adopt(session) -> Optional[Adoption]:
    """Recognise, check and record what a hand-made project already holds. None when it is not one."""
    profile = session.base_profile
    if not made_elsewhere(session.project, profile):
        return None
    out = Adoption()
    kas = kas_made(session.project, profile)
    doc = _kas_doc(session.project) if kas else {}
    if kas:
        where = kas_file(session.project)
        out.notes.append("laid out by kas" + (f" from {where.name}" if where else " (no kas file in the folder)"))
    session.update_answers(**_answers_found(session, out, doc))
    session.complete("welcome")
    a = session.answers
    session.complete("board", f"{a.machine}, {a.distro}, {a.image} (found in the project)")
    out.recorded += ["welcome", "board"]
    if (_adopt_kas_project(session, out, doc) if kas else _adopt_project(session, out)):
        _adopt_localconf(session, out, "from the kas file's local_conf_header" if kas else "written by hand")
        if "localconf" in out.recorded:
            _adopt_build(session, out)
    out.start_at = next((s for s in STEP_IDS[STEP_IDS.index(FIRST_ADOPTABLE):]
                         if not session.status(s).finished), STEP_IDS[-1])
    return out


def describe(a: Adoption) -> list:
    """Lines for the user: what was recorded from the project, where the wizard goes on, and the notes."""
    from wizard.core.steps import step

    done = ", ".join(step(s).title for s in a.recorded if s not in ("welcome", "board"))
    head = (f"Project made outside the wizard: {done or 'nothing'} found done; going on at "
            f"{step(a.start_at).title}.")
    return [head, *a.notes]


# -- what the project says about the answers ------------------------------------------------------------------

def _answers_found(session, out: Adoption, doc: dict) -> dict:
    profile, project = session.base_profile, session.project
    found: dict = {}
    if doc.get("target") and isinstance(doc["target"], str):
        found["image"] = doc["target"]
    wr = project / profile.wrlinux.clone_dir
    url = gitops.origin_url(wr) if gitops.is_repo_root(wr) else None
    if url:
        match = next((s for s in profile.wrlinux.sources if gitops.same_url(url, s.url)), None)
        if match is not None:
            found["source"] = match.id
        else:
            found["wrlinux_url"] = url
            branch = gitops.current_branch(wr)
            found["source"] = next((s.id for s in profile.wrlinux.sources if s.branch == branch),
                                   session.answers.source)
    mt = _meta_tegra_repo(session) or project / profile.meta_tegra.clone_dir
    mt_url = gitops.origin_url(mt) if gitops.is_repo_root(mt) else None
    if mt_url and not gitops.same_url(mt_url, profile.meta_tegra.url):
        found["meta_tegra_url"] = mt_url
    distro = _setup_distro(project, profile) or _kas_value(session, "DISTRO")
    if distro:
        found["distro"] = distro
    conf = lc.local_conf_path(profile, project)
    try:
        text = lc.read_text(conf)
    except OSError:
        text = ""
    values = _assignments(text)
    machine = values.get("MACHINE") or _kas_value(session, "MACHINE")
    if machine and machine in [m.name for m in profile.machines]:
        found["machine"] = machine
    mirror = values.get("NVIDIA_DEVNET_MIRROR", "")
    if mirror.startswith("file://"):
        found["downloads_dir"] = mirror[len("file://"):]
    packages = _packages_from(text, profile)
    if packages is not None:
        found["packages"] = packages
    for key in ("SOURCE_MIRROR_URL",):
        if values.get(key):
            found["source_mirror_url"] = values[key]
    if found:
        out.notes.append("found in the project: " + ", ".join(f"{k} {v}" for k, v in found.items()
                                                                 if k != "packages"))
    # Answers found in the files are checked like typed ones: a bad one is left at its default, and said so.
    good = {}
    for k, v in found.items():
        try:
            type(session.answers).from_dict({k: v}, base=session.answers).validate(profile)
            good[k] = v
        except WizardError as e:
            out.notes.append(f"not taken from the project: {e}")
    return good


def _setup_distro(project: Path, profile) -> str:
    """The --distros setup.sh ran with, from its own commit in the project ("Configuration change - ...")."""
    subject = gitops.query(project, "log", "-1", "--format=%s", "--grep=^Configuration change") or ""
    words = subject.split()
    for i, w in enumerate(words):
        if w.startswith("--distro") and i + 1 < len(words):
            return words[i + 1]
        if w.startswith("--distros="):
            return w.split("=", 1)[1]
    return ""


_LINE = re.compile(r"^\s*([A-Za-z0-9_${}/.+:-]+?)\s*(\?\?=|\?=|:=|\+=|=\+|\.=|=\.|=)\s*(['\"])(.*)\3\s*$")


def _kas_value(session, var: str) -> str:
    """`VAR ??= "v"` as kas writes MACHINE and DISTRO at the end of its local.conf (weakest default)."""
    try:
        text = lc.read_text(lc.local_conf_path(session.base_profile, session.project))
    except OSError:
        return ""
    m = re.search(rf'^{var} \?\?= "([^"]*)"\s*$', text, re.M)
    return m.group(1) if m else ""


def _assignments(text: str) -> dict:
    """Last plain `A = "v"` of each variable (what bitbake ends with for these simple lines)."""
    out = {}
    for line in text.splitlines():
        m = _LINE.match(line)
        if m and m.group(2) in ("=", ":="):
            out[m.group(1)] = m.group(4)
    return out


def _packages_from(text: str, profile) -> Optional[list]:
    """The package choice whose IMAGE_INSTALL line is in local.conf (the tutorial's line, or ours)."""
    lines = {ln.strip() for ln in text.splitlines()}
    ids = [p.id for p in profile.packages]
    for n in range(len(ids), -1, -1):
        for combo in itertools.combinations(ids, n):
            line = f'IMAGE_INSTALL:append = " {lc.image_install(profile, list(combo))}"'
            if lc.to_syntax(line, profile.override_syntax) in lines:
                return list(combo)
    return None


# -- checking and recording ------------------------------------------------------------------------------------

def _adopt_project(session, out: Adoption) -> bool:
    """Record Create project through its own engine call, but only when that call would find every part done
    (it then verifies and changes nothing); otherwise say what the step will do."""
    from wizard.project.create import ProjectCreator

    creator = ProjectCreator(session)
    profile, project = session.profile, session.project
    missing = []
    if not gitops.is_repo_root(creator.wrlinux_dir):
        missing.append("wrlinux-x is not cloned")
    if not is_set_up(project, profile):
        missing.append("setup.sh has not run")
    elif creator._previous_setup_args() not in (None, creator.setup_args()):
        missing.append(f"setup.sh ran with other options than {' '.join(creator.setup_args())}")
    if not gitops.is_repo_root(creator.meta_tegra_dir):
        missing.append("meta-tegra is not cloned")
    elif gitops.head(creator.meta_tegra_dir) != profile.meta_tegra.commit:
        head = gitops.head(creator.meta_tegra_dir) or "?"
        missing.append(f"meta-tegra is at {gitops.short(head)}, not the tested commit "
                       f"{gitops.short(profile.meta_tegra.commit)} (Create project checks it out)")
    conf = build_dir(profile, project) / "conf" / "bblayers.conf"
    present = {Path(p).resolve() for p in bblayers_paths(conf)} if conf.is_file() else set()
    if any((project / p).resolve() not in present for p in profile.meta_tegra.layers):
        missing.append("the meta-tegra layers are not in bblayers.conf")
    if missing:
        out.notes.append("Create project is still to do: " + "; ".join(missing))
        return False
    try:
        creator.run_all()
    except WizardError as e:
        out.notes.append(f"Create project is still to do: {e}")
        return False
    out.recorded.append("project")
    return True


def _meta_tegra_repo(session) -> Optional[Path]:
    """The git repository holding the meta-tegra layer that bblayers.conf uses (kas may put it anywhere)."""
    profile = session.base_profile
    conf = build_dir(profile, session.project) / "conf" / "bblayers.conf"
    name = Path(profile.meta_tegra.clone_dir).name
    for layer in bblayers_paths(conf):
        top = gitops.query(layer, "rev-parse", "--show-toplevel") if layer.is_dir() else None
        if top and Path(top).name == name:
            return Path(top)
    return None


def _adopt_kas_project(session, out: Adoption, doc: dict) -> bool:
    """Create project for a kas-made folder: every repository the kas file names is at its commit, every
    layer it lists is in bblayers.conf, and meta-tegra is at the tested commit with its layers in. Recorded
    through the step's engine record (Session.step_run) with what was checked; nothing is changed."""
    profile, project = session.profile, session.project
    conf = build_dir(profile, project) / "conf" / "bblayers.conf"
    present = {p.resolve() for p in bblayers_paths(conf)}
    missing, repos = [], {}
    missing += [f"{p} is in bblayers.conf but is not a layer" for p in sorted(present)
                if not (p / "conf" / "layer.conf").is_file()]
    work = kas_file(project).parent if kas_file(project) else project
    for key, entry in (doc.get("repos") or {}).items():
        entry = entry if isinstance(entry, dict) else {}
        if not entry.get("url"):
            continue                                  # the folder itself or a local path: nothing to check out
        path = (work / entry.get("path", key)).resolve()
        head = gitops.head(path) if gitops.is_repo_root(path) else None
        want = entry.get("commit") or entry.get("refspec")
        if head is None:
            missing.append(f"{key} is not cloned at {path}")
            continue
        if want and len(str(want)) == 40 and head != want:
            missing.append(f"{key} is at {gitops.short(head)}, not {gitops.short(str(want))} as the kas file says")
        layers = entry.get("layers") or {".": None}
        for layer in layers:
            if layers[layer] in ("excluded", "disabled"):
                continue
            if (path / layer).resolve() not in present:
                missing.append(f"layer {key}/{layer} is not in bblayers.conf")
        repos[key] = {"path": str(path), "commit": head}
    mt = _meta_tegra_repo(session)
    mt_head = gitops.head(mt) if mt else None
    if mt is None:
        missing.append("no meta-tegra layer is in bblayers.conf")
    else:
        if mt_head != profile.meta_tegra.commit:
            missing.append(f"meta-tegra is at {gitops.short(mt_head or '?')}, not the tested commit "
                           f"{gitops.short(profile.meta_tegra.commit)}")
        clone = Path(profile.meta_tegra.clone_dir)
        for layer in profile.meta_tegra.layers:
            rel = Path(layer).relative_to(clone) if Path(layer).is_relative_to(clone) else Path(".")
            if (mt / rel).resolve() not in present:
                missing.append(f"the meta-tegra layer {layer} is not in bblayers.conf")
    if missing:
        out.notes.append("Create project is still to do (the project was laid out by kas: change the kas file "
                         "and run kas again, or let the wizard make a project of its own): " + "; ".join(missing))
        return False
    with session.step_run("project") as run:
        run.done(f"laid out by kas: {len(repos) or len(present)} repositories checked, meta-tegra at "
                 f"{gitops.short(mt_head)}", meta_tegra_head=mt_head, made_by="kas", repos=repos,
                 kas_file=str(kas_file(project) or ""))
    out.recorded.append("project")
    return True


def _adopt_localconf(session, out: Adoption, how: str = "written by hand") -> None:
    profile, project = session.profile, session.project
    path = lc.local_conf_path(profile, project)
    try:
        plan = lc.plan(path, lc.block_for(session))
    except WizardError as e:
        out.notes.append(f"local.conf is still to do: {e}")
        return
    if lc.note_up_to_date(session, plan):
        out.recorded.append("localconf")
        return
    # The tutorial's own lines, appended by hand: every line our block holds is there, outside any block.
    have = {ln.strip() for ln in lc.outside_block(plan.old).splitlines()}
    wanted = [ln.strip() for ln in lc.block_body(plan.block)]
    absent = [ln for ln in wanted if ln not in have]
    if not absent:
        session.complete("localconf", f"the tutorial's lines are in local.conf ({how})")
        out.recorded.append("localconf")
    else:
        out.notes.append(f"local.conf is still to do: {len(absent)} of the tutorial's lines are not there "
                         f"(first: {absent[0]})")


def _adopt_build(session, out: Adoption) -> None:
    """A finished build's tegraflash package: the image can be made from it without building again. (The
    SD-card step looks for it the same way, in the build's tmp* folders.)"""
    a = session.answers
    deploy = [d / "deploy" / "images" / a.machine for d in sorted(build_dir(session.profile, session.project)
                                                                  .glob("tmp*"))]
    found = sorted((p for d in deploy if d.is_dir() for p in d.glob(f"{a.image}-{a.machine}*.tegraflash.*")
                    if p.is_file()), key=lambda p: p.stat().st_mtime)
    if not found:
        return
    package = found[-1].resolve()
    session.complete("build", f"built outside the wizard: {package.name}", package=str(package))
    out.recorded.append("build")
