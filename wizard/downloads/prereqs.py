"""The NVIDIA prerequisites: account, SDK Manager, JetPack downloads. What can be detected is detected;
what cannot (the account) is confirmed by the user, and the confirmation is saved with the step."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from wizard.core import hostinfo
from wizard.core.profile import Profile

ACCOUNT, SDKMANAGER, DOWNLOADS = "account", "sdkmanager", "downloads"


@dataclass
class Item:
    id: str
    title: str
    detected: Optional[bool]      # None: cannot be detected, the user confirms it
    detail: str
    help: str = ""


def find_sdkmanager(profile: Profile, env: Optional[dict] = None) -> Optional[str]:
    for p in profile.downloads.get("sdkmanager_paths", []):
        if os.access(p, os.X_OK):
            return p
    path = (env or os.environ).get("PATH", os.defpath)
    return shutil.which(profile.downloads.get("sdkmanager_command", "sdkmanager"), path=path)


def count_downloads(folder: Path) -> tuple:
    """(number of .deb files, total bytes) in the folder and its NoDLA/DLA subfolders; no hashing."""
    n = size = 0
    for sub in ("", "NoDLA", "DLA"):
        d = folder / sub if sub else folder
        try:
            with os.scandir(d) as it:
                for e in it:
                    if e.name.endswith(".deb") and e.is_file():
                        n += 1
                        size += e.stat().st_size
        except OSError:
            continue
    return n, size


def detect(profile: Profile, downloads_dir: Path, env: Optional[dict] = None, machine: Optional[str] = None,
           packages: Optional[list] = None) -> list:
    import humanize

    account_url = profile.downloads.get("account_url", "")
    items = [Item(ACCOUNT, "NVIDIA developer account", None,
                  "Needed to download JetPack with SDK Manager; it cannot be checked from here.",
                  f"Create or sign in at {account_url}")]
    sdkm = find_sdkmanager(profile, env)
    hosts = profile.downloads.get("sdkmanager_hosts", [])
    distro = hostinfo.read_os_release()
    host_note = ""
    if hosts and distro.key.replace("-", "") not in hosts:
        host_note = (f" SDK Manager for JetPack {profile.jetpack} supports {', '.join(hosts)} hosts only; "
                     f"this is {distro.pretty}: use such a machine, VM or NVIDIA's SDK Manager container.")
    if sdkm:
        items.append(Item(SDKMANAGER, "SDK Manager installed", True, f"found {sdkm}.{host_note}"))
    else:
        items.append(Item(SDKMANAGER, "SDK Manager installed", False,
                          f"not found (looked for {', '.join(profile.downloads.get('sdkmanager_paths', []))} "
                          f"and sdkmanager on PATH). Confirm if you downloaded on another machine.{host_note}",
                          f"Install it from {account_url}"))
    folder = Path(downloads_dir).expanduser()
    if folder.is_dir():
        from wizard.downloads.verify import count_present

        n, size = count_downloads(folder)
        present, needed = count_present(folder, profile, machine,
                                        profile.default_packages if packages is None else packages)
        ok = present == needed
        detail = (f"{folder}: {present} of the {needed} files this build needs are there "
                  f"({n} .deb files, {humanize.naturalsize(size)}); the next steps check their contents")
        items.append(Item(DOWNLOADS, f"JetPack {profile.jetpack} downloaded", ok, detail,
                          "In SDK Manager pick your Jetson, JetPack " + profile.jetpack
                          + ", and 'Download now. Install later.'"))
    else:
        items.append(Item(DOWNLOADS, f"JetPack {profile.jetpack} downloaded", False,
                          f"{folder} does not exist: choose the folder SDK Manager downloaded to",
                          "SDK Manager's default is ~/Downloads/nvidia/sdkm_downloads"))
    return items


def satisfied(items: list, confirmed: set) -> bool:
    return all(i.detected or i.id in confirmed for i in items)


def record(session, items: list, confirmed: set) -> bool:
    """The prerequisites step: keep what the user confirmed; done once everything is detected or confirmed,
    to do again when a confirmation is taken back. Returns whether it is satisfied."""
    from wizard.core.steps import Status

    ok = satisfied(items, confirmed)
    status = session.status("prereqs")
    if ok and status is not Status.DONE:
        session.complete("prereqs", "all prerequisites detected or confirmed", confirmed=sorted(confirmed))
    elif not ok and status is Status.DONE:
        session.reopen("prereqs", "", confirmed=sorted(confirmed))
    else:
        session.step_state("prereqs").data["confirmed"] = sorted(confirmed)
        session.save()
    return ok
