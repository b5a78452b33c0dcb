"""The list of SDK Manager files a build needs: load the manifest, pick what one board and package set needs,
and cross-check it against the meta-tegra layer's own recipes.

The manifest ships with the profile (release facts live in assets/, not code). Once the layer is cloned its
recipes are the source of truth: `cross_check` re-reads their `${NVIDIA_DEVNET_MIRROR}/...` SRC_URI entries and
`SRC_URI[...]` sums and returns a corrected manifest plus the differences, so a manifest that drifted from the
layer can never make a wrong file look right.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Iterable, Optional

from wizard.core.errors import ProfileError, UsageError
from wizard.core.tomlio import load_toml

# needed_for keywords (anything else must be a package id of the profile).
ALWAYS = ("always", "cuda")          # the Multimedia API and CUDA: every image of this release reads them
RECOMMENDED = "cuda-host-tools"      # conditional: the host CUDA deb (see the manifest's [notes])
NEVER = ("cboot-source",)            # only for non-default builds; listed so the layer cross-check knows them
SUBDIR_STAGED = ("NoDLA", "DLA")     # TensorRT sub-folders: the same names as the top-level debs

_HEX = {"sha256": 64, "md5": 32}


@dataclass(frozen=True)
class FileEntry:
    name: str
    subdir: str
    sha256: str
    md5: str
    needed_for: tuple
    soc: tuple
    size: Optional[int] = None
    cuda_binaries_native: str = ""
    recipe_path: str = ""
    verified: bool = False

    @property
    def rel(self) -> str:
        """Path relative to the downloads folder, as the recipe builds it."""
        return f"{self.subdir}/{self.name}" if self.subdir else self.name

    @property
    def staged(self) -> bool:
        """A TensorRT file the user (or --stage-nodla) puts in a sub-folder from the top-level download."""
        return self.subdir in SUBDIR_STAGED


@dataclass(frozen=True)
class Manifest:
    path: Path
    files: tuple
    aliases: dict = field(default_factory=dict)
    notes: dict = field(default_factory=dict)
    source: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Needed:
    """One file one build needs: `level` is "required" (build fails without it) or "recommended"."""

    entry: FileEntry
    level: str
    why: str

    @property
    def required(self) -> bool:
        return self.level == "required"


# -- loading -----------------------------------------------------------------------------------

def load_manifest(path) -> Manifest:
    """Parse and validate a manifest; every problem is a ProfileError naming the file and the key."""
    path = Path(path)
    data = load_toml(path)
    schema = data.get("schema", 1)
    if schema != 1:
        raise ProfileError(path, "schema", f"version {schema!r} is not supported (expects 1)")
    raw_files = data.get("files")
    if raw_files is None:
        raise ProfileError(path, "files", "missing: add one [[files]] table per file")
    if not isinstance(raw_files, list) or not raw_files:
        raise ProfileError(path, "files", "must be one or more [[files]] tables")
    files = []
    seen: dict = {}
    for i, f in enumerate(raw_files):
        where = f"files[{i}]"
        if not isinstance(f, dict):
            raise ProfileError(path, where, "must be a table ([[files]])")
        entry = _entry(path, where, f)
        for soc in entry.soc or ("*",):
            key = (entry.rel, soc)
            if key in seen:
                raise ProfileError(path, where, f"{entry.rel} for {soc} is listed twice (also {seen[key]})")
            seen[key] = where
        files.append(entry)
    aliases = data.get("aliases", {})
    if not isinstance(aliases, dict) or not all(
            isinstance(v, list) and v and all(isinstance(x, str) for x in v) for v in aliases.values()):
        raise ProfileError(path, "aliases", "must be a table of name = [package ids]")
    notes = data.get("notes", {})
    if not isinstance(notes, dict):
        raise ProfileError(path, "notes", "must be a table")
    source = data.get("source", {})
    if not isinstance(source, dict):
        raise ProfileError(path, "source", "must be a table")
    return Manifest(path=path, files=tuple(files), aliases=dict(aliases), notes=dict(notes), source=dict(source))


def _entry(path: Path, where: str, f: dict) -> FileEntry:
    def text(key: str, default=None, allow_empty=False) -> str:
        if key not in f:
            if default is None:
                raise ProfileError(path, f"{where}.{key}", "missing")
            return default
        v = f[key]
        if not isinstance(v, str):
            raise ProfileError(path, f"{where}.{key}", f"must be a string, not {type(v).__name__}")
        if not v and not allow_empty:
            raise ProfileError(path, f"{where}.{key}", "must not be empty")
        return v

    def strings(key: str, default=None) -> tuple:
        if key not in f:
            if default is None:
                raise ProfileError(path, f"{where}.{key}", "missing")
            return default
        v = f[key]
        if not isinstance(v, list) or not all(isinstance(x, str) and x for x in v):
            raise ProfileError(path, f"{where}.{key}", "must be a list of non-empty strings")
        return tuple(v)

    name = text("name")
    if "/" in name or name in (".", ".."):
        raise ProfileError(path, f"{where}.name", f"{name!r} must be a plain file name (put folders in subdir)")
    subdir = text("subdir", "", allow_empty=True).strip("/")
    if ".." in subdir.split("/"):
        raise ProfileError(path, f"{where}.subdir", "must stay inside the downloads folder")
    sums = {}
    for algo, n in _HEX.items():
        v = text(algo, "", allow_empty=True).lower()
        if v and (len(v) != n or any(c not in "0123456789abcdef" for c in v)):
            raise ProfileError(path, f"{where}.{algo}", f"must be {n} hex digits, not {v!r}")
        sums[algo] = v
    if not sums["sha256"] and not sums["md5"]:
        raise ProfileError(path, f"{where}.sha256", f"missing: {name} needs a sha256 (or md5) checksum")
    size = f.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise ProfileError(path, f"{where}.size", "must be a whole number of bytes")
    verified = f.get("verified", False)
    if not isinstance(verified, bool):
        raise ProfileError(path, f"{where}.verified", "must be true or false")
    return FileEntry(name=name, subdir=subdir, sha256=sums["sha256"], md5=sums["md5"],
                     needed_for=strings("needed_for", ("always",)), soc=strings("soc", ()), size=size,
                     cuda_binaries_native=text("cuda_binaries_native", "", allow_empty=True),
                     recipe_path=text("recipe_path", "", allow_empty=True), verified=verified)


# -- choosing ----------------------------------------------------------------------------------

def parse_packages(text: str, profile, manifest: Optional[Manifest] = None) -> list:
    """`cudnn,tensorrt,visionworks` -> profile package ids (aliases expanded). Unknown names: UsageError."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    return expand_packages(names, profile, manifest)


def expand_packages(names: Iterable[str], profile, manifest: Optional[Manifest] = None) -> list:
    """Package ids with aliases expanded and each package's requirements added (tensorrt needs cudnn)."""
    known = [p.id for p in profile.packages]
    aliases = manifest.aliases if manifest else {}
    out: list = []

    def add(pid: str) -> None:
        if pid in out:
            return
        out.append(pid)
        for req in profile.package(pid).requires:
            add(req)

    for n in names:
        if n in known:
            add(n)
        elif n in aliases:
            for pid in aliases[n]:
                if pid not in known:
                    raise ProfileError(manifest.path, f"aliases.{n}", f"{pid!r} is not a package of the profile")
                add(pid)
        else:
            choices = ", ".join(known + sorted(aliases))
            raise UsageError(f"unknown package {n!r}; choose from: {choices}")
    return [p for p in known if p in out]


def select(manifest: Manifest, profile, machine: Optional[str], packages: Iterable[str]) -> list:
    """The files this machine and package set need, in manifest order, each with why it is needed."""
    soc = profile.machine(machine).soc
    chosen = set(expand_packages(packages, profile, manifest))
    known = {p.id for p in profile.packages}
    native = str(profile.localconf.get("cuda_binaries_native", ""))
    out = []
    for i, e in enumerate(manifest.files):
        if e.soc and soc not in e.soc:
            continue
        for token in e.needed_for:
            if token not in known and token not in ALWAYS + NEVER + (RECOMMENDED,):
                raise ProfileError(manifest.path, f"files[{i}].needed_for",
                                   f"{token!r} is neither a package of the profile nor always/cuda/"
                                   f"{RECOMMENDED}/{'/'.join(NEVER)}")
        tokens = set(e.needed_for)
        if tokens & set(ALWAYS):
            out.append(Needed(e, "required", "every build of this release reads it"))
        elif tokens & chosen:
            pkgs = ", ".join(sorted(tokens & chosen))
            out.append(Needed(e, "required", f"needed for {pkgs}"))
        elif RECOMMENDED in tokens and e.cuda_binaries_native == native:
            why = manifest.notes.get(RECOMMENDED, "needed only when host-side CUDA tools are built")
            out.append(Needed(e, "recommended", f"CUDA_BINARIES_NATIVE = {native}: {why}"))
    return out


# -- the layer is the source of truth ----------------------------------------------------------

@dataclass(frozen=True)
class LayerFile:
    rel: str
    sha256: str
    md5: str
    recipe: str
    soc: str


_ASSIGN = re.compile(r'^(?:export\s+)?([A-Za-z0-9_\-\[\].${}/+]+?)\s*(\?\?=|\?=|:=|\+=|=\+|\.=|=\.|=)\s*"(.*)"\s*$')
_REQUIRE = re.compile(r"^(?:require|include)\s+(\S+)\s*$")
_VAR = re.compile(r"\$\{([A-Za-z0-9_\-]+)\}")
_MIRROR = "${NVIDIA_DEVNET_MIRROR}/"
_INLINE_PY = re.compile(r"\$\{@[^}]*\}")   # ${@python}: never part of a file name here, may hold spaces


def _logical_lines(text: str) -> list:
    """Join backslash continuations, drop comments and blank lines (enough of bitbake's syntax for SRC_URI)."""
    out, cur = [], ""
    for line in text.splitlines():
        if not cur and line.lstrip().startswith("#"):
            continue
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        if cur.strip():
            out.append(cur.strip())
        cur = ""
    if cur.strip():
        out.append(cur.strip())
    return out


def _recipe_vars(recipe: Path, layer: Path, soc: str) -> dict:
    """Variable assignments of a recipe and the files it requires, with overrides for `soc` applied."""
    pn, _, pv = recipe.stem.partition("_")
    values: dict = {"PN": pn, "BPN": pn, "PV": pv or "1.0", "BP": "${BPN}-${PV}", "SOC_FAMILY": soc}
    overrides = {"tegra", "cuda", soc}
    plain: dict = {}
    over: dict = {}

    def read(path: Path, depth: int = 0) -> None:
        if depth > 8:
            return
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return
        for line in _logical_lines(text):
            m = _REQUIRE.match(line)
            if m:
                target = _expand(m.group(1), {**values, **plain})
                for base in (path.parent, layer):
                    if (base / target).is_file():
                        read(base / target, depth + 1)
                        break
                continue
            m = _ASSIGN.match(line)
            if not m:
                continue
            name, op, value = m.groups()
            base_name, _, suffix = name.rpartition("_") if "[" not in name else (name, "", "")
            if base_name and suffix in overrides:
                over[base_name] = value
                continue
            if op in ("+=", ".=", "=+", "=."):
                old = plain.get(name, "")
                plain[name] = {"+=": f"{old} {value}", ".=": old + value, "=+": f"{value} {old}",
                               "=.": value + old}[op]
            elif op in ("?=", "??="):
                plain.setdefault(name, value)
            else:
                plain[name] = value

    read(recipe)
    return {**values, **plain, **over}


def _expand(text: str, vars: dict, depth: int = 0) -> str:
    if depth > 10:
        return text
    new = _VAR.sub(lambda m: vars.get(m.group(1), m.group(0)) if m.group(1) != "NVIDIA_DEVNET_MIRROR"
                   else m.group(0), text)
    return new if new == text else _expand(new, vars, depth + 1)


def _compatible(pattern: str, soc: str) -> bool:
    """COMPATIBLE_MACHINE is a regex over the machine overrides; a Jetson's include its SoC and `tegra`."""
    if not pattern:
        return True
    try:
        rx = re.compile(pattern)
    except re.error:
        return True
    return any(rx.match(o) for o in (soc, "tegra"))


def read_layer(layer: Path, socs: Iterable[str]) -> list:
    """Every `${NVIDIA_DEVNET_MIRROR}/...` file the layer's recipes fetch, per SoC, with their declared sums."""
    layer = Path(layer)
    recipes = sorted(p for ext in ("*.bb", "*.bbappend") for p in layer.rglob(ext) if p.is_file())
    out: list = []
    for recipe in recipes:
        try:
            if _MIRROR[:-1] not in recipe.read_text(encoding="utf-8", errors="replace") and not any(
                    _MIRROR[:-1] in p.read_text(encoding="utf-8", errors="replace")
                    for p in recipe.parent.glob("*.inc")):
                continue
        except OSError:
            continue
        for soc in socs:
            v = _recipe_vars(recipe, layer, soc)
            if not _compatible(v.get("COMPATIBLE_MACHINE", ""), soc):
                continue
            for item in _INLINE_PY.sub("PY", _expand(v.get("SRC_URI", ""), v)).split():
                if not item.startswith(_MIRROR):
                    continue
                url, *params = item.split(";")
                rel = url[len(_MIRROR):].lstrip("/")
                name = next((p.split("=", 1)[1] for p in params if p.startswith("name=")), "")
                prefix = f"{name}." if name else ""
                sums = {a: _expand(v.get(f"SRC_URI[{prefix}{a}sum]", ""), v).lower() for a in _HEX}
                out.append(LayerFile(rel=rel, sha256=sums["sha256"], md5=sums["md5"],
                                     recipe=str(recipe.relative_to(layer)), soc=soc))
    return out


def cross_check(manifest: Manifest, layer: Path, socs: Iterable[str]) -> tuple:
    """(manifest with the layer's sums, differences as one-line texts). Files only in the manifest for a SoC
    are dropped for that SoC: the layer does not fetch them, so they cannot break the build."""
    socs = list(socs)
    found = read_layer(layer, socs)
    by_key = {(f.rel, f.soc): f for f in found}
    diffs: list = []
    files = []
    for e in manifest.files:
        socs_here = [s for s in socs if not e.soc or s in e.soc]
        if not socs_here:
            files.append(e)
            continue
        kept_socs = []
        layer_sums = None
        for s in socs_here:
            lf = by_key.get((e.rel, s))
            if lf is None:
                diffs.append(f"{e.rel} ({s}): listed in the manifest but the layer does not fetch it; not checked")
                continue
            kept_socs.append(s)
            for algo in _HEX:
                mine, theirs = getattr(e, algo), getattr(lf, algo)
                if mine and theirs and mine != theirs:
                    diffs.append(f"{e.rel} ({s}): {algo} differs ({lf.recipe} says {theirs}, manifest says "
                                 f"{mine}); using the layer's")
            layer_sums = lf
        if not kept_socs:
            continue
        untouched = tuple(x for x in e.soc if x not in socs_here)
        new = replace(e, sha256=layer_sums.sha256 or e.sha256, md5=layer_sums.md5 or e.md5,
                      soc=tuple(kept_socs) + untouched if e.soc else e.soc)
        files.append(new)
    listed = {(e.rel, s) for e in manifest.files for s in (e.soc or socs)}
    for f in found:
        if (f.rel, f.soc) not in listed:
            diffs.append(f"{f.rel} ({f.soc}): {f.recipe} fetches it but the manifest does not list it; not verified")
    return replace(manifest, files=tuple(files)), sorted(set(diffs))


def layer_dir(profile, project: Optional[Path]) -> Optional[Path]:
    """The cloned meta-tegra layer of a project, if the project step has run."""
    if project is None:
        return None
    d = Path(project) / profile.meta_tegra.clone_dir
    return d if (d / "conf" / "layer.conf").is_file() else None
