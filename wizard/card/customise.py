"""Make each written card its own board: host name, SSH key, no password-less SSH login for root.

The card's root file system is never mounted and never parsed on the card: mounting needs a partition device
(the kernel may not have re-read the new table yet), would let the desktop auto-open the card, and would run
the kernel's ext4 driver on an untrusted image as root. Instead the changes are worked out on the image, in the
user's own process (ImagePlanner: e2image's metadata-only copy of the root partition, changed with e2fsprogs'
`debugfs -w`), and what reaches the card is the handful of blocks that differ (wizard.card.cardpatch), written
through the same descriptor as the image itself: the wizard's, the one udisks2 handed over, or the elevated
helper's. One way for every route, and root never runs debugfs on a card.

Everything is read and checked first (partition, file system, current files); only then is anything written,
so bad input changes nothing. Verify: every changed file is read back from the planned copy with a fresh
debugfs, and every written block is read back from the card and compared.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import os
import re
import shutil
import string
import struct
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterable

from wizard.card import cardpatch
from wizard.card.gpt import GptError, Partition, find_partition
from wizard.card.sparse import data_extents
from wizard.core.errors import UsageError, WizardError
from wizard.core.validate import hostname_problem

SSHD_CONFIGS = ("/etc/ssh/sshd_config", "/etc/ssh/sshd_config_readonly")
_KEY_TYPES = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384", "ecdsa-sha2-nistp521",
              "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "ssh-dss")
_SPEC = re.compile(r"^0?[1-9]?d?$")
_EXT_MAGIC = 0xEF53
_INCOMPAT_RECOVER = 0x4
_INCOMPAT_64BIT = 0x80


class CustomiseError(WizardError):
    """A card that cannot be customised (exit 1); nothing was changed."""


class CardOptionError(CustomiseError, UsageError):
    """A bad host-name pattern or key file: the command line is wrong (exit 2), found before any card is touched."""


# ---------------------------------------------------------------- options

def check_hostname(name: str) -> str:
    """A card's host name must be an RFC 1123 host name (wizard.core.validate says why not)."""
    problem = hostname_problem(name)
    if problem:
        raise CardOptionError(f"host name {name[:40]!r} is not valid: {problem} (e.g. jetson-01)")
    return name


def expand_hostnames(pattern: str, count: int, start: int = 1, taken: Iterable[str] = ()) -> list:
    """`jetson-{n:02}` -> jetson-01, jetson-02, ... one per card in target order. Only `{n}` is a field, so a
    pattern cannot reach attributes or other values; names must be distinct when there are several cards.
    `taken`: names boards already have (cards written earlier in the project): a numbered pattern skips them,
    so a second batch of a desk session goes on at jetson-05, not at jetson-01 again."""
    fields = []
    taken = set(taken)
    try:
        for _lit, fname, spec, conv in string.Formatter().parse(pattern):
            if fname is None:
                continue
            if fname != "n" or conv or not _SPEC.match(spec or ""):
                raise ValueError(fname)
            fields.append(fname)
        names, n = [], start
        while len(names) < count:
            name = pattern.format(n=n)
            if not fields or name not in taken:
                names.append(name)
            n += 1
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
    route: str  # "patch": blocks planned on a copy of the image's metadata, written through the card's descriptor
    hostname: str | None
    keys_added: int
    sshd_files: tuple  # sshd configuration files changed to PermitEmptyPasswords no
    sshd_before: tuple  # (path, the effective PermitEmptyPasswords line before, or "" when unset)
    empty_root_password: bool  # /etc/shadow has root:: (console login stays password-less)
    files: tuple = field(default_factory=tuple)  # the changed files, checked with debugfs on the planned copy
    blocks: int = 0  # file-system blocks written to the card
    patch_bytes: int = 0
    card_read_back: bool = False  # every written block read back from the card equal to the plan
    card_problem: str = ""

    @property
    def verified(self) -> bool:
        return bool(self.files) and all(f.ok for f in self.files) and self.card_read_back

    @property
    def what(self) -> str:
        paths = {f.path for f in self.files}
        parts = [w for w, on in (("host name", "/etc/hostname" in paths),
                                 ("key", "/root/.ssh/authorized_keys" in paths),
                                 ("SSH login setting", bool(self.sshd_files))) if on]
        return ", ".join(parts[:-1]) + (" and " if len(parts) > 1 else "") + (parts[-1] if parts else "")

    @property
    def how(self) -> str:
        """One line for the session report."""
        bad = [f"{f.path}: {f.problem}" for f in self.files if not f.ok]
        if self.card_problem:
            bad.insert(0, self.card_problem)
        elif not self.card_read_back:
            bad.insert(0, "not read back from the card")
        blocks = f"{self.blocks} block{'s' if self.blocks != 1 else ''}"
        if bad:
            return f"{self.what or 'changes'} ({blocks}) NOT verified: " + "; ".join(bad)
        return (f"{self.what or 'nothing'} written ({blocks}), read back from the card; files checked with debugfs: "
                + ", ".join(f.path for f in self.files))

    @property
    def brief(self) -> str:
        """The same in a few words, for a card's line on a small screen (the report keeps `how`)."""
        if self.verified:
            return f"{self.what or 'nothing'} written and read back"
        return self.how


# ---------------------------------------------------------------- debugfs

_SBIN = "/usr/local/sbin:/usr/sbin:/sbin"


def _find(name: str) -> str | None:
    """e2fsprogs' tools live in sbin, which an ordinary user's PATH often leaves out (Debian): look there too."""
    return shutil.which(name) or shutil.which(name, path=_SBIN)


def tool(name: str) -> str:
    """The path of an e2fsprogs tool, or its bare name (then running it says it is missing)."""
    return _find(name) or name


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
        argv = [tool("debugfs")] + (["-w"] if write else []) + ["-f", "-", self.spec]
        proc = self._call(argv, "\n".join(commands).encode() + b"\n")
        errors = self._errors(proc)
        if proc.returncode != 0 or errors:
            raise CustomiseError(f"debugfs: {errors[0] if errors else 'exit ' + str(proc.returncode)}")
        return proc.stdout

    def cat(self, path: str) -> bytes | None:
        if self.stat(path) is None:
            return None
        proc = self._call([tool("debugfs"), "-R", f"cat {path}", self.spec])
        errors = self._errors(proc)
        if errors:
            raise CustomiseError(f"debugfs: {errors[0]}")
        return proc.stdout

    def stat(self, path: str):
        """(type, permission bits, uid, gid) or None when `path` does not exist."""
        proc = self._call([tool("debugfs"), "-R", f"stat {path}", self.spec])
        out = proc.stdout.decode(errors="replace")
        if "File not found" in proc.stderr.decode(errors="replace"):
            return None
        m = re.search(r"Type:\s+(\w+)\s+Mode:\s+(\d+)", out)
        u = re.search(r"User:\s+(\d+)\s+Group:\s+(\d+)", out)
        if not (m and u):
            errors = self._errors(proc)
            raise CustomiseError(f"debugfs: {errors[0] if errors else 'no answer'}")
        return m.group(1), int(m.group(2), 8), int(u.group(1)), int(u.group(2))


@dataclass(frozen=True)
class _Ext4:
    block_size: int
    size: int  # bytes the file system spans


def _check_ext4(path, offset: int, name: str, part_size: int | None = None) -> _Ext4:
    """The superblock of the partition at `offset`: ext2/3/4, no journal waiting for recovery, inside its
    partition. Read ourselves, so a problem is named before any e2fsprogs tool runs."""
    try:
        with open(path, "rb") as f:
            f.seek(offset + 1024)
            sb = f.read(1024)
    except OSError as e:
        raise CustomiseError(f"cannot read {path}: {e.strerror}; nothing was changed") from None
    if len(sb) < 1024 or struct.unpack_from("<H", sb, 0x38)[0] != _EXT_MAGIC:
        raise CustomiseError(f"the {name} partition of {path} does not hold an ext4 file system; "
                             "is this the Jetson SD-card image?; nothing was changed")
    incompat = struct.unpack_from("<I", sb, 0x60)[0]
    if incompat & _INCOMPAT_RECOVER:
        raise CustomiseError(f"the {name} partition of {path} has an unfinished journal (was it mounted and not "
                             "cleanly unmounted?); make the image again; nothing was changed")
    log = struct.unpack_from("<I", sb, 0x18)[0]
    if log > 6:
        raise CustomiseError(f"the {name} partition of {path} has a damaged ext4 superblock; nothing was changed")
    block = 1024 << log
    count = struct.unpack_from("<I", sb, 0x04)[0]
    if incompat & _INCOMPAT_64BIT:
        count |= struct.unpack_from("<I", sb, 0x150)[0] << 32
    fs = _Ext4(block, count * block)
    if part_size is not None and fs.size > part_size:
        raise CustomiseError(f"the ext4 file system in the {name} partition of {path} is larger than the partition;"
                             " the image is damaged; nothing was changed")
    return fs


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


# ---------------------------------------------------------------- planning on the image

@dataclass
class _Write:
    path: str
    data: bytes
    mode: int
    uid: int
    gid: int
    exists: bool


@dataclass(frozen=True)
class CardPlan:
    """One card's changes, worked out before the card is written: the blocks to write (disk offsets) and
    what debugfs read back from the planned copy. `result()` adds what the card itself read back."""
    options: CardOptions
    records: tuple  # wizard.card.cardpatch.Record, in disk order
    partition: Partition
    keys_added: int
    sshd_files: tuple
    sshd_before: tuple
    empty_root_password: bool
    files: tuple

    @property
    def digests(self) -> list:
        return cardpatch.digests(list(self.records))

    def result(self, target, card_digests: list | None, problem: str = "") -> CustomiseResult:
        """The CustomiseResult once the patch was written: `card_digests` are the sha256 of each record as
        read back from the card (None: not read back)."""
        ok = card_digests is not None and list(card_digests) == self.digests
        if card_digests is not None and not ok and not problem:
            bad = next((r for r, a, b in zip(self.records, card_digests, self.digests) if a != b), None)
            problem = ("the card reads back differently at byte "
                       f"{bad.offset if bad is not None else '?'} after writing the changes (failing card?)")
        return CustomiseResult(
            target=str(target), partition=self.partition.name, partition_number=self.partition.number,
            offset=self.partition.offset, route="patch", hostname=self.options.hostname,
            keys_added=self.keys_added, sshd_files=self.sshd_files, sshd_before=self.sshd_before,
            empty_root_password=self.empty_root_password, files=self.files, blocks=self._blocks,
            patch_bytes=cardpatch.total_bytes(list(self.records)), card_read_back=ok, card_problem=problem)

    @property
    def _blocks(self) -> int:
        return sum(len(r.data) for r in self.records) // self.block_size if self.records else 0

    block_size: int = 4096


class ImagePlanner:
    """Works out each card's changes from the image, in the user's own process, for one flashing session.

    Why this way: after write and verify a card holds exactly the image, so its changes can be computed on the
    image (which the user may read) rather than on the card (which the user may not open, and which root should
    not parse). `e2image -r` makes, once per session, a sparse copy of the root partition's metadata only
    (superblocks, descriptors, bitmaps, used inode tables, directories, extent blocks, journal); per card, a copy
    of that is changed with `debugfs -w` and every block debugfs changed is the card's patch. Old file contents
    (/etc/hosts, authorized_keys, sshd_config, shadow) are read from the image itself, since the metadata copy
    has no file data. Thread-safe: cards of a session are planned concurrently.
    """

    def __init__(self, image, partition_name: str, workdir=None):
        self.image = str(image)
        self.name = partition_name
        missing = [t for t in ("debugfs", "e2image") if _find(t) is None]
        if missing:
            raise CustomiseError(f"{' and '.join(missing)} {'was' if len(missing) == 1 else 'were'} not found; "
                                 "install e2fsprogs (apt-get install e2fsprogs); nothing was changed")
        try:
            self.part = find_partition(self.image, partition_name)
        except GptError as e:
            raise CustomiseError(f"{e}; nothing was changed") from None
        self.fs = _check_ext4(self.image, self.part.offset, partition_name, self.part.size)
        self._source = _Debugfs(f"{self.image}?offset={self.part.offset}")
        try:
            self._source.stat("/")
        except CustomiseError as e:
            if "magic" in str(e).lower():   # our own read found ext4 there: debugfs read from byte 0 instead
                raise CustomiseError(_TOO_OLD) from None
            raise CustomiseError(f"{e}; nothing was changed") from None
        self._workdir = workdir
        self._tmp: tempfile.TemporaryDirectory | None = None
        self._meta: Path | None = None
        self._lock = threading.Lock()
        self._cache: dict = {}
        self._count = 0

    # -- the image, read-only ------------------------------------------------------------------------

    def _stat(self, path: str):
        key = ("stat", path)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = self._source.stat(path)
        with self._lock:
            self._cache[key] = value
        return value

    def _cat(self, path: str):
        key = ("cat", path)
        with self._lock:
            if key in self._cache:
                return self._cache[key]
        value = self._source.cat(path) if self._stat(path) is not None else None
        with self._lock:
            self._cache[key] = value
        return value

    def metadata(self) -> Path:
        """The session's metadata-only copy of the partition, made on first use."""
        with self._lock:
            if self._meta is not None:
                return self._meta
            self._tmp = tempfile.TemporaryDirectory(prefix="wrnv-plan-", dir=self._workdir)
            meta = Path(self._tmp.name, "metadata.e2i")
            try:
                proc = subprocess.run([tool("e2image"), "-r", "-o", str(self.part.offset), self.image, str(meta)],
                                      capture_output=True, text=True, timeout=600,
                                      env=dict(os.environ, LC_ALL="C"))
            except FileNotFoundError:
                raise CustomiseError("e2image was not found; install e2fsprogs (apt-get install e2fsprogs); "
                                     "nothing was changed") from None
            except subprocess.TimeoutExpired:
                raise CustomiseError("e2image did not finish within 10 minutes reading the image; nothing was "
                                     "changed") from None
            err = [ln for ln in proc.stderr.splitlines() if ln.strip() and not ln.startswith("e2image ")]
            if proc.returncode != 0:
                if any("invalid option" in ln or "Usage:" in ln for ln in err):
                    raise CustomiseError(_TOO_OLD)
                raise CustomiseError(f"e2image could not read the {self.name} partition of {self.image}: "
                                     f"{err[0] if err else 'exit ' + str(proc.returncode)}; nothing was changed")
            self._meta = meta
            return meta

    def close(self) -> None:
        with self._lock:
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp, self._meta = None, None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    # -- one card ----------------------------------------------------------------------------------

    def plan(self, options: CardOptions) -> CardPlan:
        """The card's patch and the files as debugfs read them back from the planned copy."""
        meta = self.metadata()
        with self._lock:
            self._count += 1
            scratch = meta.with_name(f"card-{self._count}.e2i")
        try:
            _sparse_copy(meta, scratch, self.fs.size)
            work = _Debugfs(str(scratch))
            writes, mkdirs, info = self._writes(options)
            if writes or mkdirs:
                _commit(work, writes, mkdirs)
            checks = tuple(_read_back(work, w) for w in writes)
            checks += tuple(_check_dir(work, d) for d in (("/root/.ssh",) if options.ssh_key else ()))
            records = _changed_blocks(scratch, meta, self.part.offset, self.fs.block_size)
        finally:
            with contextlib.suppress(OSError):
                scratch.unlink()
        return CardPlan(options=options, records=tuple(records), partition=self.part, files=checks,
                        block_size=self.fs.block_size, **info)

    def _writes(self, options: CardOptions) -> tuple:
        """(files to write, folders to make, the result's facts) from the image's current files."""
        writes: list = []

        def plan(path: str, data: bytes, mode: int, uid: int = 0, gid: int = 0) -> None:
            st = self._stat(path)
            if st is not None and st[0] != "regular":
                raise CustomiseError(f"{path} in the image is a {st[0]}, not a file; nothing was changed")
            if st is not None:  # keep what the image chose
                mode, uid, gid = st[1] & 0o7777, st[2], st[3]
            writes.append(_Write(path, data, mode, uid, gid, st is not None))

        if options.hostname:
            plan("/etc/hostname", f"{options.hostname}\n".encode(), 0o644)
            hosts = self._cat("/etc/hosts")
            plan("/etc/hosts", hosts_with(_text(hosts), options.hostname).encode("utf-8", "surrogateescape"), 0o644)
        mkdirs, keys_added = [], 0
        if options.ssh_key:
            for d in ("/root", "/root/.ssh"):
                st = self._stat(d)
                if st is None:
                    mkdirs.append(d)
                elif st[0] != "directory":
                    raise CustomiseError(f"{d} in the image is not a folder; nothing was changed")
            text, keys_added = keys_merged(_text(self._cat("/root/.ssh/authorized_keys")), options.ssh_key)
            plan("/root/.ssh/authorized_keys", text.encode("utf-8", "surrogateescape"), 0o600)
            writes[-1].mode, writes[-1].uid, writes[-1].gid = 0o600, 0, 0  # sshd's StrictModes wants exactly this
        sshd_files, sshd_before = [], []
        if options.no_empty_password_ssh:
            for path in SSHD_CONFIGS:
                cfg = _text(self._cat(path))
                if cfg is None:
                    continue
                sshd_before.append((path, effective_setting(cfg, "PermitEmptyPasswords")))
                plan(path, sshd_without_empty_passwords(cfg).encode("utf-8", "surrogateescape"), 0o644)
                sshd_files.append(path)
            if not sshd_files:
                raise CustomiseError("the image has no /etc/ssh/sshd_config (is OpenSSH installed?), so "
                                     "password-less root login cannot be turned off this way; nothing was changed")
        shadow = self._cat("/etc/shadow")
        empty_root = shadow is not None and any(ln.startswith("root::") for ln in shadow.decode(errors="replace")
                                                .splitlines())
        return writes, mkdirs, dict(keys_added=keys_added, sshd_files=tuple(sshd_files),
                                    sshd_before=tuple(sshd_before), empty_root_password=empty_root)


_TOO_OLD = ("this e2fsprogs is too old to read a partition inside a disk image (e2image -o and debugfs' offset "
            "option need e2fsprogs 1.43 or newer); update e2fsprogs; nothing was changed")


def _text(raw: bytes | None) -> str | None:
    return raw.decode("utf-8", "surrogateescape") if raw is not None else None


def _sparse_copy(src: Path, dst: Path, size: int) -> None:
    """Copy `src` to a new `dst`, data ranges only: the holes (all the file data e2image left out) stay holes."""
    sfd = os.open(src, os.O_RDONLY | os.O_CLOEXEC)
    try:
        dfd = os.open(dst, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            length = max(size, os.fstat(sfd).st_size)
            for start, end in data_extents(sfd, os.fstat(sfd).st_size):
                pos = start
                while pos < end:
                    n = _copy_range(sfd, dfd, pos, min(end - pos, 64 << 20))
                    pos += n
            os.ftruncate(dfd, length)
        finally:
            os.close(dfd)
    finally:
        os.close(sfd)


def _copy_range(sfd: int, dfd: int, pos: int, n: int) -> int:
    try:
        got = os.copy_file_range(sfd, dfd, n, pos, pos)
        if got > 0:
            return got
    except OSError as e:
        if e.errno not in (errno.EXDEV, errno.EINVAL, errno.ENOSYS, errno.EOPNOTSUPP, errno.EPERM):
            raise
    data = os.pread(sfd, min(n, 4 << 20), pos)
    if not data:
        raise OSError(errno.EIO, "short read while copying the metadata")
    os.pwrite(dfd, data, pos)
    return len(data)


def _changed_blocks(scratch: Path, meta: Path, offset: int, block: int) -> list:
    """Every block debugfs changed: where the changed copy differs from the metadata copy, as disk records
    (adjacent blocks merged), holding the changed copy's bytes.

    Why against the metadata copy and not "every data block of the copy that differs from the image": the host's
    file system keeps holes in its own (4 KiB) blocks, so blocks e2image left out (file data, 1 KiB blocks on a
    small ext4) can sit as zeros inside a data range of the copy; they were never written by debugfs and must not
    reach the card. debugfs writes only metadata it read from the copy (equal to the image's bytes there) and
    blocks it allocated and fills, so a block it wrote with the bytes the copy already had needs no change."""
    records: list = []
    sfd = os.open(scratch, os.O_RDONLY | os.O_CLOEXEC)
    mfd = os.open(meta, os.O_RDONLY | os.O_CLOEXEC)
    try:
        for start, end in data_extents(sfd, os.fstat(sfd).st_size):
            pos = start // block * block
            while pos < end:
                n = -(-min(end - pos, 4 << 20) // block) * block
                mine = os.pread(sfd, n, pos)
                before = os.pread(mfd, len(mine), pos)
                for b in range(0, len(mine), block):
                    new = mine[b:b + block]
                    if new == before[b:b + block]:
                        continue
                    at = offset + pos + b
                    last = records[-1] if records else None
                    if last is not None and last.end == at and len(last.data) + len(new) <= cardpatch.MAX_RECORD:
                        records[-1] = cardpatch.Record(last.offset, last.data + new)
                    else:
                        records.append(cardpatch.Record(at, new))
                pos += n
    finally:
        os.close(sfd)
        os.close(mfd)
    return records


# ---------------------------------------------------------------- one card or image, in place

def customise_card(target, options: CardOptions, *, partition_name: str) -> CustomiseResult:
    """Apply `options` to the card or image file at `target`, which holds an image now: plan on it (as the
    image), then write the blocks through one descriptor and read them back. Callers skip cards whose options
    are `empty` (a result with no files read back is not counted as verified)."""
    target = str(target)
    with ImagePlanner(target, partition_name) as planner:
        plan = planner.plan(options)
        flags = os.O_RDWR | os.O_CLOEXEC
        if Path(target).is_block_device():
            flags |= os.O_EXCL
        try:
            fd = os.open(target, flags)
        except OSError as e:
            raise CustomiseError(f"cannot open {target} for writing: {e.strerror}; nothing was changed") from None
        try:
            digests = cardpatch.apply(fd, False, list(plan.records), partition_name, target)
        except cardpatch.PatchError as e:
            raise CustomiseError(f"{e}; nothing was changed") from None
        finally:
            os.close(fd)
    return plan.result(target, digests)


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
