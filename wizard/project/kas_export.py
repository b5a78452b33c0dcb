"""Freeze the project as it stands into a kas project file (YAML).

Teams that outgrow one desk use kas to rebuild a Yocto setup anywhere (CI, a colleague's machine). The export
takes what is really there -- every layer repository that bblayers.conf uses, with its URL and exact commit,
and the managed local.conf block -- so the file describes this build, not the profile's intentions.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from wizard.core.errors import WizardError
from wizard.project import gitops
from wizard.project.checks import bblayers_paths
from wizard.project.localconf import block_body, local_conf_path, read_text

KAS_FORMAT_VERSION = 14     # kas 4.0: `commit` and `branch` as separate keys
HEADER_KEY = "wrnv-wizard"


@dataclass
class LayerRepo:
    key: str
    path: str                 # relative to the project folder
    url: Optional[str]
    commit: Optional[str]
    branch: Optional[str]
    layers: list = field(default_factory=list)  # relative to the repo; "." for the repo itself
    dirty: bool = False


def _repo_key(rel: str) -> str:
    name = Path(rel).name if rel not in ("", ".") else "project"
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name) or "repo"


def lrel_of(layer: Path, root: Path) -> str:
    return os.path.relpath(layer, root)


def layer_repos(project: Path, conf: Path) -> tuple:
    """(repos, notes): the git repositories holding each layer in `conf`, grouped, in bblayers order."""
    project = Path(project).absolute()
    repos: dict = {}
    notes: list = []
    for layer in bblayers_paths(conf):
        if not (layer / "conf" / "layer.conf").is_file():
            notes.append(f"{layer} is listed in bblayers.conf but is not a layer (no conf/layer.conf)")
        top = gitops.query(layer, "rev-parse", "--show-toplevel") if layer.is_dir() else None
        root = Path(top) if top else layer
        try:
            rel = os.path.relpath(root, project)
        except ValueError:
            rel = str(root)
        if rel.startswith(".."):
            rel = str(root)
        if rel not in repos:
            url = gitops.origin_url(root) if top else None
            key = _repo_key(rel)
            while any(r.key == key for r in repos.values()):
                key += "-2"
            repos[rel] = LayerRepo(key=key, path=rel, url=url, commit=gitops.head(root) if top else None,
                                   branch=None, dirty=bool(top and gitops.changed_files(root)))
            if top is None:
                notes.append(f"{layer} is not in a git repository: kas cannot fetch it")
            elif not url:
                where = "the project folder" if rel == "." else rel
                notes.append(f"{where} has no remote URL ({', '.join(repos[rel].layers or [lrel_of(layer, root)])} "
                             f"lives there): kas will use the folder as it is")
            if repos[rel].dirty:
                notes.append(f"{rel} has uncommitted changes that this file does not capture")
        lrel = os.path.relpath(layer, root)
        if lrel not in repos[rel].layers:
            repos[rel].layers.append(lrel)
    return list(repos.values()), notes


def build_document(profile, project: Path, machine: str, distro: str, target: str) -> tuple:
    """(document dict, notes)."""
    project = Path(project).absolute()
    conf = project / profile.wrlinux.build_dir / "conf" / "bblayers.conf"
    if not conf.is_file():
        raise WizardError(f"{conf} does not exist: create the project first (wrnv-wizard setup)")
    repos, notes = layer_repos(project, conf)
    lc = local_conf_path(profile, project)
    body = block_body(read_text(lc)) if lc.is_file() else []
    if not body:
        notes.append("local.conf has no managed block yet (run wrnv-wizard localconf --apply first)")
    block_machine = _value(body, "MACHINE")
    doc: dict = {"header": {"version": KAS_FORMAT_VERSION}, "machine": block_machine or machine,
                 "distro": distro, "target": target, "repos": {}}
    for r in repos:
        entry: dict = {"path": r.path}
        if r.url:
            entry["url"] = r.url
            if r.commit:
                entry["commit"] = r.commit
        entry["layers"] = {layer: None for layer in r.layers}
        doc["repos"][r.key] = entry
    if body:
        doc["local_conf_header"] = {HEADER_KEY: "\n".join(body) + "\n"}
    return doc, notes


def _value(lines: list, var: str) -> str:
    for line in lines:
        m = re.match(rf"^\s*{re.escape(var)}\s*=\s*(['\"])(.*)\1\s*$", line)
        if m:
            return m.group(2)
    return ""


def to_yaml(doc: dict, notes: list, profile_id: str) -> str:
    import yaml

    head = [f"# kas project file exported by wrnv-wizard ({profile_id}).",
            "# It freezes every layer at the commit the project uses now. Wind River's setup.sh also writes",
            "# settings of its own (templates, buildtools) that kas does not reproduce.",
            *[f"# note: {n}" for n in notes]]
    class Dumper(yaml.SafeDumper):
        pass

    def text(dumper, value: str):
        # The local.conf block reads as it appears in local.conf: a literal block, not a quoted string.
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, text)
    body = yaml.dump(doc, Dumper=Dumper, sort_keys=False, default_flow_style=False, width=1000)
    return "\n".join(head) + "\n" + body


def export(session) -> tuple:
    """(YAML text, notes) for the session's project."""
    a = session.answers
    doc, notes = build_document(session.profile, session.project, a.machine, a.distro, a.image)
    return to_yaml(doc, notes, session.profile.id), notes


def kas_schema_path() -> Path:
    """The JSON schema the installed `kas` package validates project files with."""
    try:
        import kas
    except ImportError:
        raise WizardError("the kas package is not installed: pip install kas") from None
    path = Path(kas.__file__).parent / "schema-kas.json"
    if not path.is_file():
        raise WizardError(f"the installed kas has no schema at {path}: upgrade kas (pip install -U kas)")
    return path


def validate(text: str) -> None:
    """Validate YAML text against kas's schema; WizardError naming the first problem."""
    import json

    import yaml
    try:
        import jsonschema
    except ImportError:
        raise WizardError("jsonschema is not installed, so the file cannot be checked: pip install jsonschema") \
            from None

    schema = json.loads(kas_schema_path().read_text())
    try:
        jsonschema.validate(yaml.safe_load(text), schema)
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "(top)"
        raise WizardError(f"the kas file does not validate at {where}: {e.message}") from None
