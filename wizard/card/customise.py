"""Make each written card its own board: host name, SSH key, no password-less SSH login for root.

The card's root file system is changed with e2fsprogs' `debugfs -w`, never mounted: mounting needs a partition
device (the kernel may not have re-read the new table yet), would let the desktop auto-open the card, and runs
the kernel's ext4 driver on an untrusted image as root. debugfs is addressed at the partition inside the whole
disk with the `PATH?offset=BYTES` io option, so the same code works on a card, a loop device, an image file and
an fd handed down by the elevated helper (`/proc/self/fd/N`, see `pass_fds`).

Everything is read and checked first (partition, file system, current files); only then is anything written,
so bad input changes nothing. Every file written is read back through a fresh debugfs as the verify step.
"""

from __future__ import annotations

import base64
import os
import re
import string
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from wizard.card.gpt import GptError, find_partition
from wizard.core.errors import UsageError, WizardError

SSHD_CONFIGS = ("/etc/ssh/sshd_config", "/etc/ssh/sshd_config_readonly")
_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
              "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss")
_LABEL = re.compile(r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")
_SPEC = re.compile(r"^0?[1-9]?d?$")
_EXT_MAGIC = 0xEF53
_INCOMPAT_RECOVER = 0x4


class CustomiseError(WizardError):
    """A card that cannot be customised (exit 1); nothing was changed."""


class CardOptionError(CustomiseError, UsageError):
    """A bad host-name pattern or key file: the command line is wrong (exit 2), found before any card is touched."""


# ---------------------------------------------------------------- options

def check_hostname(name: str) -> str:
    """RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, 1-63 each, 253 in all."""
    if not name or len(name) > 253:
        raise CardOptionError(f"host name {name!r} must be 1 to 253 characters; use letters, digits and hyphens")
    for label in name.split("."):
        if len(label) > 63:
            raise CardOptionError(f"host name {name!r}: the part {label!r} is longer than 63 characters; "
                                 "shorten it")
        if not _LABEL.match(label):
            raise CardOptionError(f"host name {name!r} is not valid: use letters, digits and hyphens "
                                 "(not at the start or end), e.g. jetson-01")
    return name


def expand_hostnames(pattern: str, count: int, start: int = 1) -> list:
    """`jetson-{n:02}` -> jetson-01, jetson-02, ... one per card in target order. Only `{n}` is a field, so a
    pattern cannot reach attributes or other values; names must be distinct when there are several cards."""
    fields = []
    try:
        for _lit, fname, spec, conv in string.Formatter().parse(pattern):
            if fname is None:
                continue
            if fname != "n" or conv or not _SPEC.match(spec or ""):
                raise ValueError(fname)
            fields.append(fname)
        names = [pattern.format(n=i) for i in range(start, start + count)]
    except (ValueError, IndexError, KeyError):
        raise CardOptionError(f"host-name pattern {pattern!r} is not valid: use {{n}} or {{n:02}} for the card "
                             "number, e.g. jetson-{n:02}") from None
    if count > 1 and not fields:
        raise CardOptionError(f"host-name pattern {pattern!r} gives every card the same name; add {{n}}, "
                             "e.g. jetson-{n:02}")
    for name in names:
        check_hostname(name)
    return names


def load_public_key(path) -> str:
    """The public key(s) in `path`, one per line. A private key is refused without echoing any of it."""
    path = Path(path)
    try:
        raw = path.read_bytes()[:65537]
    except OSError as e:
        raise CardOptionError(f"cannot read the SSH key {path}: {e.strerror}; check the path") from None
    if (b"PRIVATE KEY" in raw or b"openssh-key-v1" in raw or b"PuTTY-User-Key-File" in raw):
        raise CardOptionError(f"{path} is a private key; give the public key instead (usually {path.name}.pub)")
    if len(raw) > 65536:
        raise CardOptionError(f"{path} is too big for a public key; give the .pub file")
    try:
        text = raw.decode("ascii")
    except UnicodeDecodeError:
        raise CardOptionError(f"{path} is not an SSH public key; give the .pub file "
                             "(ssh-keygen -y -f KEY prints it)") from None
    keys = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if not _is_public_key_line(line):
            raise CardOptionError(f"{path} is not an SSH public key (expected e.g. 'ssh-ed25519 AAAA... comment'); "
                                 "give the .pub file")
        keys.append(line)
    if not keys:
        raise CardOptionError(f"{path} holds no SSH public key; give the .pub file")
    return "\n".join(keys) + "\n"


def _is_public_key_line(line: str) -> bool:
    parts = line.split(None, 2)
    if len(parts) < 2 or parts[0] not in _KEY_TYPES:
        return False
    try:
        blob = base64.b64decode(parts[1], validate=True)
    except ValueError:
        return False
    if len(blob) < 4:
        return False
    (n,) = struct.unpack(">I", blob[:4])
    return blob[4:4 + n] == parts[0].encode()


@dataclass(frozen=True)
class CardOptions:
    """What to change on one card; built once per card from the session's options."""
    hostname: str | None = None
    ssh_key: str | None = None  # text from load_public_key
    no_empty_password_ssh: bool = False  # only offered together with a key

    def __post_init__(self):
        if self.hostname is not None:
            check_hostname(self.hostname)
        if self.ssh_key is not None and not all(_is_public_key_line(k) for k in self.ssh_key.splitlines()):
            raise CardOptionError("the SSH key is not a public key; give the .pub file")
        if self.no_empty_password_ssh and not self.ssh_key:
            raise CardOptionError("turning off password-less root login needs an SSH key, or nobody could log in "
                                 "over SSH; add --ssh-key FILE")

    @property
    def empty(self) -> bool:
        return self.hostname is None and self.ssh_key is None and not self.no_empty_password_ssh


def options_for_cards(count: int, *, hostname_pattern: str | None = None, ssh_key_file=None,
                      no_empty_password_ssh: bool = False) -> list:
    """One CardOptions per target, in target order, all checked before the first card is written."""
    names = expand_hostnames(hostname_pattern, count) if hostname_pattern else [None] * count
    key = load_public_key(ssh_key_file) if ssh_key_file else None
    return [CardOptions(hostname=n, ssh_key=key, no_empty_password_ssh=no_empty_password_ssh) for n in names]


# ---------------------------------------------------------------- results

@dataclass(frozen=True)
class FileCheck:
    """One file as read back after writing."""
    path: str
    mode: int
    uid: int
    gid: int
    ok: bool
    problem: str = ""


@dataclass(frozen=True)
class CustomiseResult:
    target: str
    partition: str
    partition_number: int
    offset: int
    route: str  # "offset": debugfs on PATH?offset=; "loop": a loop device over the partition
    hostname: str | None
    keys_added: int
    sshd_files: tuple  # sshd configuration files changed to PermitEmptyPasswords no
    sshd_before: tuple  # (path, the effective PermitEmptyPasswords line before, or "" when unset)
    empty_root_password: bool  # /etc/shadow has root:: (console login stays password-less)
    files: tuple = field(default_factory=tuple)

    @property
    def verified(self) -> bool:
        return bool(self.files) and all(f.ok for f in self.files)

    @property
    def how(self) -> str:
        """One line for the session report."""
        bad = [f"{f.path}: {f.problem}" for f in self.files if not f.ok]
        if bad:
            return "read back with debugfs: " + "; ".join(bad)
        return "read back with debugfs: " + ", ".join(f.path for f in self.files)


# ---------------------------------------------------------------- debugfs

class _Debugfs:
    """debugfs on one file-system spec; every error line on stderr becomes a CustomiseError, since debugfs
    itself exits 0 when a command inside it fails."""

    def __init__(self, spec: str, pass_fds=()):
        self.spec, self.pass_fds = spec, tuple(pass_fds)

    def _call(self, argv: list, stdin: bytes | None = None, timeout: int = 120):
        env = dict(os.environ, DEBUGFS_PAGER="__none__", PAGER="__none__", LC_ALL="C")
        try:
            return subprocess.run(argv, input=stdin, capture_output=True, env=env, pass_fds=self.pass_fds,
                                  timeout=timeout)
        except FileNotFoundError:
            raise CustomiseError("debugfs was not found; install e2fsprogs (apt-get install e2fsprogs); "
                                 "nothing was changed") from None
        except subprocess.TimeoutExpired:
            raise CustomiseError(f"debugfs did not answer within {timeout} s; is the card still there? "
                                 "Check it and write it again") from None

    @staticmethod
    def _errors(proc) -> list:
        return [ln for ln in proc.stderr.decode(errors="replace").splitlines()
                if ln.strip() and not ln.startswith("debugfs ")]

    def run(self, commands: list, write: bool = False) -> bytes:
        argv = ["debugfs"] + (["-w"] if write else []) + ["-f", "-", self.spec]
        proc = self._call(argv, "\n".join(commands).encode() + b"\n")
        errors = self._errors(proc)
        if proc.returncode != 0 or errors:
            raise CustomiseError(f"debugfs: {errors[0] if errors else 'exit ' + str(proc.returncode)}")
        return proc.stdout

    def cat(self, path: str) -> bytes | None:
        if self.stat(path) is None:
            return None
        proc = self._call(["debugfs", "-R", f"cat {path}", self.spec])
        errors = self._errors(proc)
        if errors:
            raise CustomiseError(f"debugfs: {errors[0]}")
        return proc.stdout

    def stat(self, path: str):
        """(type, permission bits, uid, gid) or None when `path` does not exist."""
        proc = self._call(["debugfs", "-R", f"stat {path}", self.spec])
        out = proc.stdout.decode(errors="replace")
        if "File not found" in proc.stderr.decode(errors="replace"):
            return None
        m = re.search(r"Type:\s+(\w+)\s+Mode:\s+(\d+)", out)
        u = re.search(r"User:\s+(\d+)\s+Group:\s+(\d+)", out)
        if not (m and u):
            errors = self._errors(proc)
            raise CustomiseError(f"debugfs: {errors[0] if errors else 'no answer'}")
        return m.group(1), int(m.group(2), 8), int(u.group(1)), int(u.group(2))


def _check_ext4(path, offset: int, name: str) -> None:
    try:
        with open(path, "rb") as f:
            f.seek(offset + 1024)
            sb = f.read(1024)
    except OSError as e:
        raise CustomiseError(f"cannot read {path}: {e.strerror}") from None
    if len(sb) < 1024 or struct.unpack_from("<H", sb, 0x38)[0] != _EXT_MAGIC:
        raise CustomiseError(f"the {name} partition on {path} does not hold an ext4 file system; "
                             "write the image to the card again; nothing was changed")
    if struct.unpack_from("<I", sb, 0x60)[0] & _INCOMPAT_RECOVER:
        raise CustomiseError(f"the {name} partition on {path} has an unfinished journal (was it mounted?); "
                             "write the image to the card again; nothing was changed")


# ---------------------------------------------------------------- planning (pure)

def hosts_with(hosts: str | None, hostname: str) -> str:
    """/etc/hosts with one `127.0.1.1 <hostname>` line: the first such line is replaced, later ones dropped,
    the line is added after the 127.0.0.1 line when missing; everything else is kept as it was."""
    line = f"127.0.1.1\t{hostname}"
    if hosts is None:
        return f"127.0.0.1\tlocalhost\n{line}\n"
    out, done = [], False
    for ln in hosts.splitlines():
        if ln.split("#", 1)[0].split()[:1] == ["127.0.1.1"]:
            if not done:
                out.append(line)
                done = True
            continue
        out.append(ln)
    if not done:
        at = next((i + 1 for i, ln in enumerate(out) if ln.split()[:1] == ["127.0.0.1"]), len(out))
        out.insert(at, line)
    return "\n".join(out) + "\n"


def effective_setting(config: str, key: str) -> str:
    """The line sshd would use for `key` in the global section (first uncommented one before any Match)."""
    for ln in config.splitlines():
        words = ln.strip().split()
        if not words or words[0].startswith("#"):
            continue
        if words[0].lower() == "match":
            return ""
        if words[0].lower() == key.lower():
            return ln.strip()
    return ""


def sshd_without_empty_passwords(config: str) -> str:
    """sshd_config with `PermitEmptyPasswords no` as the setting that counts. sshd takes the first value it
    reads, so every active line (Match blocks included) becomes `no`; when none is active, the commented
    default in the global section is turned into the active line, else one is added before the first Match."""
    lines = config.splitlines()
    active = False
    for i, ln in enumerate(lines):
        words = ln.strip().split()
        if words and words[0].lower() == "permitemptypasswords":
            indent = ln[:len(ln) - len(ln.lstrip())]
            lines[i] = f"{indent}PermitEmptyPasswords no"
            active = True
    if not active:
        first_match = next((i for i, ln in enumerate(lines) if ln.strip().lower().startswith("match ")
                            or ln.strip().lower() == "match"), len(lines))
        commented = next((i for i, ln in enumerate(lines[:first_match])
                          if re.match(r"^\s*#\s*PermitEmptyPasswords\b", ln, re.I)), None)
        if commented is not None:
            lines[commented] = "PermitEmptyPasswords no"
        else:
            lines.insert(first_match, "PermitEmptyPasswords no")
    return "\n".join(lines) + "\n"


def keys_merged(existing: str | None, keys: str) -> tuple:
    """(new authorized_keys text, how many keys were added); keys already present are not added twice."""
    have = (existing or "")
    present = {" ".join(ln.split()[:2]) for ln in have.splitlines() if ln.strip()}
    new = [k for k in keys.splitlines() if " ".join(k.split()[:2]) not in present]
    if have and not have.endswith("\n"):
        have += "\n"
    return have + "".join(k + "\n" for k in new), len(new)


# ---------------------------------------------------------------- the whole job

@dataclass
class _Write:
    path: str
    data: bytes
    mode: int
    uid: int
    gid: int
    exists: bool


def customise_card(target, options: CardOptions, *, partition_name: str, pass_fds=(), route: str = "auto",
                   ) -> CustomiseResult:
    """Apply `options` to the root file system of the card or image at `target` and read everything back.

    `target` is a whole disk (block device, loop device) or an image file, or `/proc/self/fd/N` for an fd the
    caller holds (list N in `pass_fds` so debugfs inherits it). `route` "auto" uses debugfs' offset option and
    falls back to a loop device over the partition only when this debugfs ignores it. Callers skip cards whose
    options are `empty` (a result with no files read back is not counted as verified).
    """
    target = str(target)
    try:
        part = find_partition(target, partition_name)
    except GptError as e:
        raise CustomiseError(f"{e}; nothing was changed") from None
    _check_ext4(target, part.offset, partition_name)
    if route not in ("auto", "offset", "loop"):
        raise ValueError(route)
    if route in ("auto", "offset"):
        fs = _Debugfs(f"{target}?offset={part.offset}", pass_fds)
        try:
            fs.stat("/")  # the probe: nothing is written before it answers
            honoured = True
        except CustomiseError as e:
            # Our own superblock read found ext4 at this offset; "bad magic" from debugfs means it read
            # from 0 instead, i.e. this e2fsprogs does not know the offset option.
            if route == "offset" or "magic" not in str(e).lower():
                raise
            honoured = False
        if honoured:
            return _apply(fs, target, part, options, "offset")
    try:
        loop = subprocess.run(["losetup", "--find", "--show", "--offset", str(part.offset), "--sizelimit",
                               str(part.size), target], capture_output=True, text=True, pass_fds=tuple(pass_fds))
    except FileNotFoundError:
        raise CustomiseError("losetup was not found (util-linux) and this debugfs cannot address a partition "
                             "inside a disk; install util-linux; nothing was changed") from None
    if loop.returncode != 0:
        raise CustomiseError(f"cannot open the {partition_name} partition of {target}: "
                             f"{loop.stderr.strip() or 'losetup failed'}; nothing was changed")
    dev = loop.stdout.strip()
    try:
        return _apply(_Debugfs(dev), target, part, options, "loop")
    finally:
        subprocess.run(["losetup", "-d", dev], capture_output=True)


def _apply(fs: _Debugfs, target: str, part, options: CardOptions, route: str) -> CustomiseResult:
    writes: list = []

    def plan(path: str, data: bytes, mode: int, uid: int = 0, gid: int = 0) -> None:
        st = fs.stat(path)
        if st is not None and st[0] != "regular":
            raise CustomiseError(f"{path} on the card is a {st[0]}, not a file; nothing was changed")
        if st is not None:  # keep what the image chose
            mode, uid, gid = st[1] & 0o7777, st[2], st[3]
        writes.append(_Write(path, data, mode, uid, gid, st is not None))

    if options.hostname:
        plan("/etc/hostname", f"{options.hostname}\n".encode(), 0o644)
        hosts = fs.cat("/etc/hosts")
        plan("/etc/hosts", hosts_with(hosts.decode("utf-8", "surrogateescape") if hosts is not None else None,
                                      options.hostname).encode("utf-8", "surrogateescape"), 0o644)
    mkdirs, keys_added = [], 0
    if options.ssh_key:
        for d in ("/root", "/root/.ssh"):
            st = fs.stat(d)
            if st is None:
                mkdirs.append(d)
            elif st[0] != "directory":
                raise CustomiseError(f"{d} on the card is not a folder; nothing was changed")
        old = fs.cat("/root/.ssh/authorized_keys")
        text, keys_added = keys_merged(old.decode("utf-8", "surrogateescape") if old is not None else None, options.ssh_key)
        plan("/root/.ssh/authorized_keys", text.encode("utf-8", "surrogateescape"), 0o600)
        writes[-1].mode, writes[-1].uid, writes[-1].gid = 0o600, 0, 0  # sshd's StrictModes wants exactly this
    sshd_files, sshd_before = [], []
    if options.no_empty_password_ssh:
        for path in SSHD_CONFIGS:
            cfg = fs.cat(path)
            if cfg is None:
                continue
            text = cfg.decode("utf-8", "surrogateescape")
            sshd_before.append((path, effective_setting(text, "PermitEmptyPasswords")))
            plan(path, sshd_without_empty_passwords(text).encode("utf-8", "surrogateescape"), 0o644)
            sshd_files.append(path)
        if not sshd_files:
            raise CustomiseError("the image has no /etc/ssh/sshd_config (is OpenSSH installed?), so password-less "
                                 "root login cannot be turned off this way; nothing was changed")
    shadow = fs.cat("/etc/shadow")
    empty_root = shadow is not None and any(ln.startswith("root::") for ln in shadow.decode(errors="replace")
                                            .splitlines())

    if writes or mkdirs:
        _commit(fs, writes, mkdirs)
    checks = tuple(_read_back(fs, w) for w in writes)
    checks += tuple(_check_dir(fs, d) for d in (("/root/.ssh",) if options.ssh_key else ()))
    return CustomiseResult(target=target, partition=part.name, partition_number=part.number, offset=part.offset,
                           route=route, hostname=options.hostname, keys_added=keys_added,
                           sshd_files=tuple(sshd_files), sshd_before=tuple(sshd_before),
                           empty_root_password=empty_root, files=checks)


def _commit(fs: _Debugfs, writes: list, mkdirs: list) -> None:
    """One debugfs -w run. Each file is written under a temporary name and then linked over the old one, so
    an interrupted run leaves the old file or the new one (debugfs' ln/unlink leave link counts alone, which
    nets out to exactly one link)."""
    with tempfile.TemporaryDirectory(prefix="wrnv-card-") as tmp:
        cmds = []
        for d in mkdirs:
            cmds += [f"mkdir {d}", f"set_inode_field {d} mode 040700", f"set_inode_field {d} uid 0",
                     f"set_inode_field {d} gid 0"]
        if "/root/.ssh" not in mkdirs and any(w.path.startswith("/root/.ssh/") for w in writes):
            cmds += ["set_inode_field /root/.ssh mode 040700", "set_inode_field /root/.ssh uid 0",
                     "set_inode_field /root/.ssh gid 0"]
        for i, w in enumerate(writes):
            src = Path(tmp, f"f{i}")
            src.write_bytes(w.data)
            parent, name = w.path.rsplit("/", 1)
            staged = f"{parent}/.{name}.wrnv-new"
            if fs.stat(staged) is not None:
                cmds.append(f"rm {staged}")
            cmds.append(f"write {src} {staged}")
            if w.exists:
                cmds.append(f"rm {w.path}")
            cmds += [f"ln {staged} {w.path}", f"unlink {staged}",
                     f"set_inode_field {w.path} mode 0{0o100000 | w.mode:o}",
                     f"set_inode_field {w.path} uid {w.uid}", f"set_inode_field {w.path} gid {w.gid}"]
        fs.run(cmds, write=True)


def _read_back(fs: _Debugfs, w: _Write) -> FileCheck:
    st = fs.stat(w.path)
    if st is None:
        return FileCheck(w.path, 0, -1, -1, False, "missing after writing")
    data = fs.cat(w.path)
    problem = ""
    if data != w.data:
        problem = "content differs from what was written"
    elif (st[1] & 0o7777, st[2], st[3]) != (w.mode, w.uid, w.gid):
        problem = f"mode/owner {st[1] & 0o7777:o} {st[2]}:{st[3]}, expected {w.mode:o} {w.uid}:{w.gid}"
    return FileCheck(w.path, st[1] & 0o7777, st[2], st[3], not problem, problem)


def _check_dir(fs: _Debugfs, path: str) -> FileCheck:
    st = fs.stat(path)
    if st is None or st[0] != "directory":
        return FileCheck(path, 0, -1, -1, False, "not a folder after writing")
    ok = (st[1] & 0o7777, st[2], st[3]) == (0o700, 0, 0)
    return FileCheck(path, st[1] & 0o7777, st[2], st[3], ok,
                     "" if ok else f"mode/owner {st[1] & 0o7777:o} {st[2]}:{st[3]}, expected 700 0:0")


def root_partition(profile) -> tuple:
    """(GPT name of the card's root partition, whether that fact is verified) from the release profile."""
    name = profile.sdcard.get("root_partition", "")
    if not isinstance(name, str) or not name:
        raise CustomiseError("the release profile does not name the card's root partition (sdcard.root_partition);"
                             " per-card options cannot be applied with it")
    return name, bool(profile.sdcard.get("root_partition_verified", False))
