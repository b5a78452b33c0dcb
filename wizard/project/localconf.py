"""The tutorial's local.conf settings as one managed block between marker comments.

By hand, the tutorial's `echo ... >> conf/local.conf` lines double up on every re-run. Here the lines come from
the profile, are rendered in the override syntax of that Yocto release, and live between two markers: applying
again replaces the block (byte-identical when nothing changed), the rest of the file is never touched, the
write is atomic, and the first original is kept as `local.conf.wrnv-orig`.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from wizard.core.atomic import atomic_write
from wizard.core.errors import WizardError
from wizard.core.profile import Profile

BEGIN = "# >>> wrnv-wizard managed block: changes here are replaced; put your own settings outside it >>>"
END = "# <<< wrnv-wizard managed block <<<"
BACKUP_SUFFIX = ".wrnv-orig"
_ENCODING = ("utf-8", "surrogateescape")   # keep any bytes a user put in local.conf exactly as they were

# name, operator, value: the first token is the variable (with overrides), then a bitbake assignment operator.
_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z0-9_${}/.+:-]+?)(\[[^\]]*\])?\s*(\?\?=|\?=|:=|\+=|=\+|\.=|=\.|=)\s*(.*)$")
_OVERRIDE_OPS = ("append", "prepend", "remove")


@dataclass
class TeamSettings:
    """Optional shared caches (Yocto's own mechanisms): a download mirror and an sstate mirror."""

    source_mirror_url: str = ""
    sstate_mirror_url: str = ""
    hash_server: str = ""              # host:port of a team's bitbake-hashserv (BB_HASHSERVE)
    hash_signature_handler: str = "OEEquivHash"


@dataclass
class Conflict:
    line_no: int       # 1-based, in the file as it is now
    line: str
    variable: str
    ours: str
    after_block: bool

    def describe(self) -> str:
        who = ("it comes after the managed block, so it wins and ours is ignored" if self.after_block
               else "the managed block comes later and wins")
        return f"line {self.line_no}: {self.line.strip()} contradicts {self.variable} = {self.ours} ({who})"


@dataclass
class Plan:
    """What applying would do: the new text, a unified diff, and user settings that contradict ours."""

    path: Path
    old: str
    new: str
    block: str
    conflicts: list = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.old != self.new

    def diff(self) -> str:
        return "".join(difflib.unified_diff(self.old.splitlines(True), self.new.splitlines(True),
                                            fromfile=f"{self.path} (now)", tofile=f"{self.path} (after)"))


@dataclass
class Applied:
    path: Path
    changed: bool
    backup: Optional[Path]
    conflicts: list


# -- rendering --------------------------------------------------------------------------------------------

def to_syntax(line: str, syntax: str) -> str:
    """Profile lines are written in colon syntax (`A:append`); Zeus and older need `A_append`, `A_pn-x`.
    Only the variable name changes; the value (e.g. a file:// URL) is left alone."""
    if syntax == "colon":
        return line
    m = _ASSIGN.match(line)
    if not m:
        return line
    name = m.group(1)
    return line[:m.start(1)] + name.replace(":", "_") + line[m.end(1):]


def image_install(profile: Profile, packages: list) -> str:
    """base packages, then each chosen package's recipes in profile order, then base csv, then the csv ones:
    the tutorial's order, so the default choice reproduces its line exactly."""
    chosen = [p for p in profile.packages if p.id in set(packages)]
    lc = profile.localconf
    words = [*lc["base_packages"]]
    for p in chosen:
        words += list(p.image_install)
    words += list(lc.get("base_csv", []))
    for p in chosen:
        words += list(p.csv)
    return " ".join(words)


def downloads_url(folder) -> str:
    # As the tutorial writes it: file:// + the plain path (bitbake does not undo %-escapes in file:// URLs).
    url = "file://" + str(Path(folder).expanduser().absolute())
    bad = next((c for c in url if c.isspace() or c == ";"), None)
    if bad is not None:
        # bitbake splits SRC_URI at white space and reads ";" as the start of URL parameters.
        raise WizardError(f"downloads_dir {str(folder)!r}: bitbake reads it as a file:// URL, which cannot hold "
                          f"{'white space' if bad.isspace() else 'a ;'}; move the downloads to a folder without it")
    return url


def conf_safe(key: str, value: str) -> str:
    """Refuse what would let an answer change local.conf beyond its own value: a line break (a new line, even
    the managed block's end marker), other control characters, `${` (bitbake expands it; `${@...}` runs Python)
    and a backslash (line continuation)."""
    for c in value:
        if ord(c) < 32 or ord(c) == 127:
            raise WizardError(f"{key}: control characters (line breaks, tabs, ...) are not allowed in a value "
                              "written to local.conf; give it on one line")
    if "${" in value:
        raise WizardError(f"{key}: '${{' is not allowed (bitbake would expand it, and '${{@' runs Python); give "
                          "the plain value")
    if "\\" in value:
        raise WizardError(f"{key}: a backslash is not allowed in a value written to local.conf; remove it")
    return value


_QUOTED = re.compile(r"^(?P<head>[^'\"]*?=\s*)(?P<q>['\"])(?P<value>.*)(?P=q)$")


def requote(line: str, key: str = "local.conf") -> str:
    """Make `A = "v"` parse as exactly v in bitbake, which has no escape inside quotes: a value holding the
    quote character is written with the other one; a value holding both cannot be written."""
    m = _QUOTED.match(line)
    if not m or m.group("q") not in m.group("value"):
        return line
    other = "'" if m.group("q") == '"' else '"'
    if other in m.group("value"):
        raise WizardError(f"{key}: a value holding both ' and \" cannot be written to local.conf; remove one of them")
    return f"{m.group('head')}{other}{m.group('value')}{other}"


def team_lines(team: Optional[TeamSettings]) -> list:
    if team is None:
        return []
    out = []
    if team.source_mirror_url:
        url = conf_safe("source_mirror_url", team.source_mirror_url)
        out += [requote(f'SOURCE_MIRROR_URL = "{url}"', "source_mirror_url"), 'INHERIT += "own-mirrors"']
    if team.sstate_mirror_url:
        url = conf_safe("sstate_mirror_url", team.sstate_mirror_url).rstrip("/")
        suffix = "" if url.startswith("file://") else ";downloadfilename=PATH"
        out.append(requote(f'SSTATE_MIRRORS = "file://.* {url}/PATH{suffix}"', "sstate_mirror_url"))
    if team.hash_server:
        if not re.fullmatch(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9][A-Za-z0-9.-]*):\d{1,5}", team.hash_server):
            raise WizardError(f"hash-equivalence server {team.hash_server!r}: give it as host:port "
                              f"(e.g. buildfarm.example.com:8686 or [::1]:8686)")
        out += [f'BB_HASHSERVE = "{team.hash_server}"', f'BB_SIGNATURE_HANDLER = "{team.hash_signature_handler}"']
    return out


def render_lines(profile: Profile, machine: str, downloads_dir, packages: list,
                 team: Optional[TeamSettings] = None) -> list:
    # Each value an answer gives is checked before it is placed, and each line is re-quoted after: no answer
    # can end its line, start another or reach bitbake's inline Python.
    values = {"machine": conf_safe("machine", machine),
              "downloads_url": conf_safe("downloads_dir", downloads_url(downloads_dir)),
              "cuda_binaries_native": profile.localconf["cuda_binaries_native"],
              "image_install": conf_safe("packages", image_install(profile, packages))}
    lines = []
    for i, template in enumerate(profile.localconf["lines"]):
        try:
            text = template.format(**values)
        except (KeyError, IndexError, ValueError) as e:
            raise WizardError(f"{profile.path}: localconf.lines[{i}]: cannot fill in {e}; fix the profile") from None
        key = next((k for k in ("downloads_url", "machine", "image_install") if "{" + k + "}" in template), "")
        key = {"downloads_url": "downloads_dir", "image_install": "packages"}.get(key, key or "local.conf")
        lines.append(to_syntax(requote(text, key), profile.override_syntax))
    return lines + [to_syntax(t, profile.override_syntax) for t in team_lines(team)]


def render_block(profile: Profile, machine: str, downloads_dir, packages: list,
                 team: Optional[TeamSettings] = None) -> str:
    """The whole block, markers included, ending with a newline."""
    body = render_lines(profile, machine, downloads_dir, packages, team)
    return "\n".join([BEGIN, *body, END]) + "\n"


def block_for(session) -> str:
    a = session.answers
    conf = session.profile.localconf
    # the answer (when the answers hold one) wins over the profile's team default
    hash_server = getattr(a, "hash_server", "") or conf.get("hash_server", "")
    return render_block(session.profile, a.machine, a.downloads_dir, a.packages,
                        TeamSettings(a.source_mirror_url, a.sstate_mirror_url, hash_server,
                                     conf.get("hash_signature_handler", "OEEquivHash")))


# -- the file ---------------------------------------------------------------------------------------------

def _lines(text: str) -> list:
    """Lines with their endings, split on \\n only (str.splitlines also splits on \\f, \\x1c, ...)."""
    return re.findall(r"[^\n]*\n|[^\n]+", text)


def find_block(text: str, origin: str = "local.conf") -> Optional[tuple]:
    """(start, end) character offsets of the managed block (end after the END line), or None."""
    starts, ends, pos = [], [], 0
    for line in _lines(text):
        stripped = line.strip()
        if stripped == BEGIN:
            starts.append(pos)
        elif stripped == END:
            ends.append(pos + len(line))
        pos += len(line)
    if not starts and not ends:
        return None
    if len(starts) != 1 or len(ends) != 1 or ends[0] <= starts[0]:
        raise WizardError(f"{origin}: the wrnv-wizard markers are damaged ({len(starts)} start and {len(ends)} end "
                          f"markers): remove the block's lines by hand (keep a copy), then apply again")
    return starts[0], ends[0]


def replace_block(text: str, block: str, origin: str = "local.conf") -> str:
    span = find_block(text, origin)
    if span is None:
        sep = "\n" if text and not text.endswith("\n") else ""
        return text + sep + block
    start, end = span
    rest = text[end:]
    if rest and not block.endswith("\n"):
        block += "\n"
    return text[:start] + block + rest


def outside_block(text: str) -> str:
    """The file without the managed block (what the user owns)."""
    span = find_block(text)
    if span is None:
        return text
    return text[:span[0]] + text[span[1]:]


def block_body(text: str) -> list:
    """The lines inside the markers of `text` (without the markers), [] when there is no block."""
    span = find_block(text)
    if span is None:
        return []
    return [ln.rstrip("\n") for ln in _lines(text[span[0]:span[1]])][1:-1]


def _is_override_op(name: str) -> bool:
    """A_append / A:remove / A_pn-x_append accumulate instead of replacing: never a contradiction."""
    return any(re.search(rf"[_:]{op}(?:[_:]|$)", name) for op in _OVERRIDE_OPS)


def _hard_assignment(line: str) -> Optional[tuple]:
    """(variable, value) for `A = v` / `A := v` lines, else None."""
    m = _ASSIGN.match(line.rstrip("\n"))
    if not m or m.group(2) or m.group(3) not in ("=", ":=") or _is_override_op(m.group(1)):
        return None
    return m.group(1), _unquote(m.group(4))


def _assignments(lines: list) -> dict:
    """variable -> value for hard assignments (= and :=) among `lines`."""
    return dict(a for a in (_hard_assignment(line) for line in lines) if a)


def _unquote(value: str) -> str:
    value = value.strip()
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def conflicts(text: str, block: str) -> list:
    """User lines outside the block that set a variable we set (with = or :=) to a different value. Weak
    defaults (?= and ??=, as setup.sh writes them) are what the block is meant to override, so they are fine."""
    ours = _assignments(_lines(block))
    span = find_block(text)
    out, pos = [], 0
    for i, line in enumerate(_lines(text)):
        start, pos = pos, pos + len(line)
        if span and span[0] <= start < span[1]:
            continue
        found = _hard_assignment(line)
        if found and found[0] in ours and found[1] != ours[found[0]]:
            after = span is not None and start >= span[1]
            out.append(Conflict(i + 1, line.rstrip("\n"), found[0], repr(ours[found[0]]), after))
    return out


def read_text(path: Path) -> str:
    return Path(path).read_bytes().decode(*_ENCODING)


def plan(path, block: str) -> Plan:
    path = Path(path)
    try:
        old = read_text(path)
    except (FileNotFoundError, NotADirectoryError):
        raise WizardError(f"{path} does not exist yet: create the project first (wrnv-wizard setup)") from None
    except IsADirectoryError:
        raise WizardError(f"{path} is a folder, not a file: move it aside and create the project again") from None
    except OSError as e:
        raise WizardError(f"cannot read {path} ({e.strerror}); check its permissions") from None
    new = replace_block(old, block, str(path))
    return Plan(path=path, old=old, new=new, block=block, conflicts=conflicts(new, block))


def apply(path, block: str) -> Applied:
    """Write the block into `path` (atomically; the first original kept as <name>.wrnv-orig)."""
    p = plan(path, block)
    if not p.changed:
        return Applied(p.path, False, _backup_path(p.path) if _backup_path(p.path).exists() else None, p.conflicts)
    backup = _backup_path(p.path)
    if not backup.exists():
        atomic_write(backup, p.old.encode(*_ENCODING))
    atomic_write(p.path, p.new.encode(*_ENCODING))
    return Applied(p.path, True, backup, p.conflicts)


def _backup_path(path: Path) -> Path:
    return path.with_name(path.name + BACKUP_SUFFIX)


def local_conf_path(profile: Profile, project) -> Path:
    return Path(project) / profile.wrlinux.build_dir / "conf" / "local.conf"


# -- the step ---------------------------------------------------------------------------------------------

def apply_for(session) -> Applied:
    """The Configure local.conf step: write the block from the session's answers and record it."""
    with session.step_run("localconf", "writing the managed block") as run:
        try:
            done = apply(local_conf_path(session.profile, session.project), block_for(session))
        except OSError as e:
            raise WizardError(f"cannot write local.conf ({e.strerror}); check the project folder's permissions") \
                from None
        run.done("managed block written" if done.changed else "managed block already up to date")
    return done


def note_up_to_date(session, p: Plan) -> bool:
    """A local.conf that already holds exactly our block is a done step (made earlier, by hand or by a kas
    file); returns True when that was newly recorded."""
    if p.changed or session.status("localconf").finished:
        return False
    session.complete("localconf", "managed block already up to date")
    return True
