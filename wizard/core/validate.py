"""Checks for answers that reach a file or a command line: URLs, paths, host and login names.

Each check returns the value or raises a WizardError that names the key and says what to give instead, so
the TUI, the plain mode, the CLI flags and an answers file refuse a bad value with the same line.
"""

from __future__ import annotations

import ipaddress
import re
from urllib.parse import urlsplit

from wizard.core.errors import WizardError

# What each kind of URL may use. git also takes scp-like `user@host:path` and plain absolute paths.
GIT_SCHEMES = ("https", "http", "git", "ssh", "file")
MIRROR_SCHEMES = ("https", "http", "file", "ftp")
_SCP_LIKE = re.compile(r"^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^:].*$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")
_LOGIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*\$?$")


def _one_line(key: str, value: str, what: str) -> None:
    if any(ord(c) < 32 or ord(c) == 127 for c in value):
        raise WizardError(f"{key}: control characters (line breaks, tabs, ...) are not allowed in {what}; give it "
                          "on one line")


def url(key: str, value: str, schemes: tuple = GIT_SCHEMES, paths: bool = True) -> str:
    """A clone or mirror URL: one of `schemes`, no spaces or quotes, never starting with '-' (a command
    would read it as an option)."""
    if not value:
        return value
    _one_line(key, value, "a URL")
    if value.startswith("-"):
        raise WizardError(f"{key}: {value!r} starts with '-'; give a URL like https://host/path")
    bad = next((c for c in value if c.isspace() or c in "\"'\\`<>{}|^"), None)
    if bad is not None:
        shown = "white space" if bad.isspace() else repr(bad)
        raise WizardError(f"{key}: {shown} is not allowed in a URL; write it %-encoded (e.g. %20 for a space)")
    if paths and value.startswith("/"):
        return value
    if paths and "git" in schemes and _SCP_LIKE.match(value) and "://" not in value:
        return value
    parts = urlsplit(value)
    if parts.scheme not in schemes:
        raise WizardError(f"{key}: {value!r} is not a URL the wizard can use; give one starting with "
                          f"{', '.join(s + '://' for s in schemes)}")
    if parts.scheme != "file" and not parts.netloc:
        raise WizardError(f"{key}: {value!r} has no host; give one like {parts.scheme}://host/path")
    return value


def path(key: str, value: str) -> str:
    """A folder or file path: one line, never starting with '-' (a command would read it as an option)."""
    if not value:
        return value
    _one_line(key, value, "a path")
    if value.startswith("-"):
        raise WizardError(f"{key}: {value!r} starts with '-'; give an absolute path like /home/you/folder")
    return value


def pattern(key: str, value: str) -> str:
    """A host-name pattern such as jetson-{n:02}: one line here; the names it gives are checked where cards
    are named (wizard.card.customise.expand_hostnames), with the same words for every way in."""
    if value:
        _one_line(key, value, "a host-name pattern")
    return value


def host(key: str, value: str) -> str:
    """A host name (RFC 1123 labels of 1-63 characters, 253 in all) or an IPv4/IPv6 address."""
    if not value:
        return value
    _one_line(key, value, "a host name")
    try:
        ipaddress.ip_address(value.strip("[]"))
        return value
    except ValueError:
        pass
    name = value[:-1] if value.endswith(".") else value
    problem = hostname_problem(name)
    if problem:
        raise WizardError(f"{key}: {value[:40]!r} is not a host name or IP address ({problem}); give one like "
                          "192.168.1.42 or jetson.local")
    return value


def hostname_problem(name: str) -> str:
    """Why `name` is not an RFC 1123 host name (dot-separated labels of 1-63 letters, digits and inner hyphens,
    253 characters in all), or "" when it is one. The board's address and each card's host name use it."""
    if not name or len(name) > 253:
        return "a host name has 1 to 253 characters"
    for label in name.split("."):
        if len(label) > 63:
            return f"the part {label[:20]!r}... is {len(label)} characters; parts are at most 63"
        if not _LABEL.fullmatch(label):
            return "use letters, digits and hyphens, not at the start or end of a part"
    return ""


def login(key: str, value: str) -> str:
    """A login name as useradd takes it: never an ssh option, never with '@' or spaces."""
    if value and (not _LOGIN.fullmatch(value) or len(value) > 32):
        raise WizardError(f"{key}: {value!r} is not a login name; give one like root (letters, digits, _ . -)")
    return value
