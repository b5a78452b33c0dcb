"""Release profiles: the facts about one release (sources, branches, machines, local.conf lines, ...).

Profiles are TOML files in assets/profiles/. Loading validates every key the wizard uses, so a broken
profile fails at start-up naming the file, the key and the problem, not halfway through a build.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Optional

from wizard.core.errors import ProfileError
from wizard.core.paths import profiles_dir
from wizard.core.tomlio import load_toml

DEFAULT_PROFILE = "wrlinux-lts19-jetpack-4.3"


@dataclass(frozen=True)
class Source:
    id: str
    title: str
    url: str
    branch: str
    needs_credentials: bool = False


@dataclass(frozen=True)
class Machine:
    name: str
    module: str
    soc: str
    sdcard: bool
    default: bool = False
    boardid: str = ""


@dataclass(frozen=True)
class Choice:
    """A distro or image target: an id, the text shown, whether it is the default."""

    id: str
    title: str
    default: bool = False


@dataclass(frozen=True)
class Package:
    id: str
    title: str
    image_install: tuple
    csv: tuple
    default: bool = False
    requires: tuple = ()


@dataclass(frozen=True)
class WrLinux:
    default_source: str
    clone_dir: str
    setup_script: str
    setup_args: tuple
    distro_option: str
    environment_script: str
    init_build_env: str
    build_dir: str
    tmpdir: str
    sources: tuple


@dataclass(frozen=True)
class MetaTegra:
    url: str
    url_alt: str
    branch: str
    commit: str
    clone_dir: str
    layers: tuple


@dataclass(frozen=True)
class Fab:
    id: str
    title: str
    fab: str
    verified: bool


@dataclass(frozen=True)
class UsbId:
    product: str
    module: str
    verified: bool


@dataclass(frozen=True)
class Profile:
    path: Path
    id: str
    title: str
    yocto_series: str
    override_syntax: str
    jetpack: str
    l4t: str
    wrlinux: WrLinux
    meta_tegra: MetaTegra
    machines: tuple
    distros: tuple
    images: tuple
    packages: tuple
    downloads: dict
    localconf: dict
    host: dict
    sdcard: dict
    fabs: tuple
    usb_recovery: tuple
    board: dict
    raw: dict = field(repr=False, compare=False, default_factory=dict)

    # -- lookups -------------------------------------------------------------------------------
    def source(self, source_id: Optional[str] = None) -> Source:
        sid = source_id or self.wrlinux.default_source
        for s in self.wrlinux.sources:
            if s.id == sid:
                return s
        raise ProfileError(self.path, "wrlinux.sources", f"no source {sid!r} (known: {self.source_ids()})")

    def source_ids(self) -> str:
        return ", ".join(s.id for s in self.wrlinux.sources)

    def machine(self, name: Optional[str] = None) -> Machine:
        if name is None:
            return self.default_machine
        for m in self.machines:
            if m.name == name:
                return m
        raise ProfileError(self.path, "machines", f"no machine {name!r}")

    @property
    def default_machine(self) -> Machine:
        return next(m for m in self.machines if m.default)

    @property
    def default_distro(self) -> str:
        return next(d.id for d in self.distros if d.default)

    @property
    def default_image(self) -> str:
        return next(i.id for i in self.images if i.default)

    @property
    def default_packages(self) -> list:
        return [p.id for p in self.packages if p.default]

    def package(self, pid: str) -> Package:
        for p in self.packages:
            if p.id == pid:
                return p
        raise ProfileError(self.path, "packages", f"no package {pid!r}")

    def manifest_path(self) -> Path:
        return self.path.parent / self.downloads["manifest"]

    def with_overrides(self, wrlinux_url: Optional[str] = None, meta_tegra_url: Optional[str] = None,
                       meta_tegra_commit: Optional[str] = None, source: Optional[str] = None) -> Profile:
        """Company mirrors: the same release from other URLs (or another tested commit)."""
        prof = self
        if wrlinux_url:
            chosen = self.source(source)
            sources = tuple(replace(s, url=wrlinux_url) if s.id == chosen.id else s for s in self.wrlinux.sources)
            prof = replace(prof, wrlinux=replace(prof.wrlinux, sources=sources))
        if meta_tegra_url or meta_tegra_commit:
            mt = prof.meta_tegra
            prof = replace(prof, meta_tegra=replace(mt, url=meta_tegra_url or mt.url,
                                                    commit=meta_tegra_commit or mt.commit))
        return prof


# -- loading -----------------------------------------------------------------------------------

class _Reader:
    """Typed access into the TOML tree that names the file and the dotted key on any problem."""

    def __init__(self, path: Path):
        self.path = path

    def get(self, table: dict, key: str, kind, where: str, default: Any = ..., nonempty: bool = True):
        full = f"{where}.{key}" if where else key
        if key not in table:
            if default is ...:
                raise ProfileError(self.path, full, "missing")
            return default
        value = table[key]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if bool not in kinds and isinstance(value, bool) and (int in kinds):
            raise ProfileError(self.path, full, f"must be {_kind_name(kind)}, not {value!r}")
        if not isinstance(value, kinds):
            raise ProfileError(self.path, full, f"must be {_kind_name(kind)}, not {type(value).__name__}")
        if nonempty and isinstance(value, (str, list)) and not value:
            raise ProfileError(self.path, full, "must not be empty")
        return value

    def strings(self, table: dict, key: str, where: str, default: Any = ..., nonempty: bool = True) -> tuple:
        value = self.get(table, key, list, where, default, nonempty)
        for i, item in enumerate(value):
            if not isinstance(item, str):
                raise ProfileError(self.path, f"{where}.{key}[{i}]", "must be a string")
        return tuple(value)

    def tables(self, table: dict, key: str, where: str) -> list:
        value = self.get(table, key, list, where)
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise ProfileError(self.path, f"{where}.{key}[{i}]" if where else f"{key}[{i}]",
                                   "must be a table")
        return value


def _kind_name(kind) -> str:
    names = {str: "a string", bool: "true or false", int: "a number", list: "a list", dict: "a table"}
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(names.get(k, k.__name__) for k in kinds)


def resolve_profile_path(name_or_path: Optional[str] = None) -> Path:
    """A profile name (file stem in assets/profiles) or a path to a TOML file."""
    name = name_or_path or DEFAULT_PROFILE
    p = Path(name).expanduser()
    if p.suffix == ".toml" or "/" in name:
        return p
    candidate = profiles_dir() / f"{name}.toml"
    if not candidate.exists():
        known = ", ".join(sorted(available_profiles())) or "none"
        raise ProfileError(candidate, "", f"no profile named {name!r} (available: {known})")
    return candidate


def available_profiles() -> list:
    return [p.stem for p in profiles_dir().glob("*.toml") if not p.name.endswith(".manifest.toml")]


def load_profile(name_or_path: Optional[str] = None) -> Profile:
    path = resolve_profile_path(name_or_path)
    data = load_toml(path)
    r = _Reader(path)
    schema = r.get(data, "schema", int, "")
    if schema != 1:
        raise ProfileError(path, "schema", f"version {schema} is not supported by this wrnv-wizard (expects 1)")
    syntax = r.get(data, "override_syntax", str, "")
    if syntax not in ("underscore", "colon"):
        raise ProfileError(path, "override_syntax", f"must be 'underscore' or 'colon', not {syntax!r}")

    wr = r.get(data, "wrlinux", dict, "")
    sources = tuple(
        Source(id=r.get(s, "id", str, f"wrlinux.sources[{i}]"), title=r.get(s, "title", str, f"wrlinux.sources[{i}]"),
               url=r.get(s, "url", str, f"wrlinux.sources[{i}]"), branch=r.get(s, "branch", str, f"wrlinux.sources[{i}]"),
               needs_credentials=r.get(s, "needs_credentials", bool, f"wrlinux.sources[{i}]", False))
        for i, s in enumerate(r.tables(wr, "sources", "wrlinux")))
    wrlinux = WrLinux(
        default_source=r.get(wr, "default_source", str, "wrlinux"),
        clone_dir=r.get(wr, "clone_dir", str, "wrlinux"),
        setup_script=r.get(wr, "setup_script", str, "wrlinux"),
        setup_args=r.strings(wr, "setup_args", "wrlinux"),
        distro_option=r.get(wr, "distro_option", str, "wrlinux"),
        environment_script=r.get(wr, "environment_script", str, "wrlinux"),
        init_build_env=r.get(wr, "init_build_env", str, "wrlinux"),
        build_dir=r.get(wr, "build_dir", str, "wrlinux"),
        tmpdir=r.get(wr, "tmpdir", str, "wrlinux"),
        sources=sources,
    )
    if wrlinux.default_source not in {s.id for s in sources}:
        raise ProfileError(path, "wrlinux.default_source", f"{wrlinux.default_source!r} is not one of the sources")

    mt = r.get(data, "meta_tegra", dict, "")
    commit = r.get(mt, "commit", str, "meta_tegra")
    if len(commit) != 40 or any(c not in "0123456789abcdef" for c in commit):
        raise ProfileError(path, "meta_tegra.commit", f"must be a full 40-character commit id, not {commit!r}")
    meta_tegra = MetaTegra(url=r.get(mt, "url", str, "meta_tegra"), url_alt=r.get(mt, "url_alt", str, "meta_tegra", ""),
                           branch=r.get(mt, "branch", str, "meta_tegra"), commit=commit,
                           clone_dir=r.get(mt, "clone_dir", str, "meta_tegra"),
                           layers=r.strings(mt, "layers", "meta_tegra"))

    machines = tuple(
        Machine(name=r.get(m, "name", str, f"machines[{i}]"), module=r.get(m, "module", str, f"machines[{i}]"),
                soc=r.get(m, "soc", str, f"machines[{i}]"), sdcard=r.get(m, "sdcard", bool, f"machines[{i}]"),
                default=r.get(m, "default", bool, f"machines[{i}]", False),
                boardid=r.get(m, "boardid", str, f"machines[{i}]", ""))
        for i, m in enumerate(r.tables(data, "machines", "")))
    _one_default(path, "machines", [m.default for m in machines])

    def choices(key: str, idkey: str) -> tuple:
        out = tuple(Choice(id=r.get(c, idkey, str, f"{key}[{i}]"), title=r.get(c, "title", str, f"{key}[{i}]"),
                           default=r.get(c, "default", bool, f"{key}[{i}]", False))
                    for i, c in enumerate(r.tables(data, key, "")))
        _one_default(path, key, [c.default for c in out])
        return out

    distros, images = choices("distros", "id"), choices("images", "name")

    packages = tuple(
        Package(id=r.get(p, "id", str, f"packages[{i}]"), title=r.get(p, "title", str, f"packages[{i}]"),
                image_install=r.strings(p, "image_install", f"packages[{i}]"),
                csv=r.strings(p, "csv", f"packages[{i}]", (), nonempty=False),
                default=r.get(p, "default", bool, f"packages[{i}]", False),
                requires=r.strings(p, "requires", f"packages[{i}]", (), nonempty=False))
        for i, p in enumerate(r.tables(data, "packages", "")))
    ids = {p.id for p in packages}
    for i, p in enumerate(packages):
        for req in p.requires:
            if req not in ids:
                raise ProfileError(path, f"packages[{i}].requires", f"{req!r} is not a package of this profile")

    downloads = r.get(data, "downloads", dict, "")
    r.get(downloads, "manifest", str, "downloads")
    r.get(downloads, "default_dir", str, "downloads")
    localconf = r.get(data, "localconf", dict, "")
    r.strings(localconf, "lines", "localconf")
    r.strings(localconf, "base_packages", "localconf")
    r.get(localconf, "cuda_binaries_native", str, "localconf")
    r.strings(localconf, "base_csv", "localconf", (), nonempty=False)
    host = r.get(data, "host", dict, "")
    r.strings(host, "required_tools", "host")
    r.get(host, "min_disk_gb", int, "host")
    sdcard = r.get(data, "sdcard", dict, "")
    r.get(sdcard, "image_size_bytes", int, "sdcard")
    fabs = tuple(Fab(id=r.get(f, "id", str, f"sdcard.fabs[{i}]"), title=r.get(f, "title", str, f"sdcard.fabs[{i}]"),
                     fab=r.get(f, "fab", str, f"sdcard.fabs[{i}]"),
                     verified=r.get(f, "verified", bool, f"sdcard.fabs[{i}]", False))
                 for i, f in enumerate(r.tables(sdcard, "fabs", "sdcard")))
    usb = tuple(UsbId(product=r.get(u, "product", str, f"usb_recovery[{i}]").lower(),
                      module=r.get(u, "module", str, f"usb_recovery[{i}]"),
                      verified=r.get(u, "verified", bool, f"usb_recovery[{i}]", False))
                for i, u in enumerate(r.tables(data, "usb_recovery", "")))
    board = r.get(data, "board", dict, "")

    return Profile(path=path, id=r.get(data, "id", str, ""), title=r.get(data, "title", str, ""),
                   yocto_series=r.get(data, "yocto_series", str, ""), override_syntax=syntax,
                   jetpack=r.get(data, "jetpack", str, ""), l4t=r.get(data, "l4t", str, ""),
                   wrlinux=wrlinux, meta_tegra=meta_tegra, machines=machines, distros=distros, images=images,
                   packages=packages, downloads=downloads, localconf=localconf, host=host, sdcard=sdcard,
                   fabs=fabs, usb_recovery=usb, board=board, raw=data)


def _one_default(path: Path, key: str, flags: list) -> None:
    n = sum(1 for f in flags if f)
    if n != 1:
        raise ProfileError(path, key, f"exactly one entry must have default = true (found {n})")
