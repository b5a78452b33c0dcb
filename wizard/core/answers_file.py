"""The --answers file: TOML with any of the answers the steps ask for, checked like the screens check them.

It cannot answer the typed confirmation before a card is written: that one is always asked.
"""

from __future__ import annotations

from pathlib import Path

from wizard.core.answers import Answers
from wizard.core.errors import WizardError
from wizard.core.profile import Profile
from wizard.core.tomlio import load_toml

EXAMPLE = '''\
# wrnv-wizard answers file: use with `wrnv-wizard --plain --answers FILE`.
# Every key is optional; what is missing is asked (or takes the default shown).
# The typed confirmation before writing a card is always asked: no answer can skip it.

# Wind River source: "lts" (subscribers, the tutorial's) or "base" (public on GitHub)
source = "{source}"
# Jetson machine (only jetson-nano-qspi-sd makes an SD-card image)
machine = "{machine}"
# "wrlinux" or "wrlinux-graphics" (adds X11)
distro = "{distro}"
# "wrlinux-image-glibc-std" (the tutorial's) or "wrlinux-image-std"
image = "{image}"
# Optional NVIDIA packages: {all_packages}
packages = [{packages}]
# Where the project lives, and where SDK Manager downloaded JetPack
project_dir = "{project_dir}"
downloads_dir = "{downloads_dir}"
# Company mirrors (empty: the profile's URLs) and another tested meta-tegra commit
wrlinux_url = ""
meta_tegra_url = ""
meta_tegra_commit = ""
# Team settings: a shared download mirror and a shared sstate mirror (optional)
source_mirror_url = ""
sstate_mirror_url = ""
# Jetson Nano carrier board revision for dosdcard.sh: {fabs} (the mapping is unverified)
fab = ""
# Prerequisites the wizard cannot detect that you confirm ahead ("account", "sdkmanager", "downloads"), as
# ticking them on the checklist would
confirmed_prereqs = []
# The booted board
board_host = ""
board_user = "root"
board_port = 22
board_identity = ""
# Write the card: each card its own board ({{n}} is the card's number; the numbers skip host names that boards
# of the project already have), an SSH public key for root, and with a key, no password-less root login over SSH
card_hostname_pattern = ""
card_ssh_key = ""
card_no_empty_password_ssh = false
'''


def example(profile: Profile) -> str:
    d = Answers.defaults(profile)
    return EXAMPLE.format(
        source=d.source, machine=d.machine, distro=d.distro, image=d.image,
        all_packages=", ".join(p.id for p in profile.packages),
        packages=", ".join(f'"{p}"' for p in d.packages), project_dir=d.project_dir,
        downloads_dir=d.downloads_dir, fabs=" or ".join(f'"{f.id}"' for f in profile.fabs))


def load_answers(path, profile: Profile, base: Answers) -> Answers:
    """Read, overlay on `base`, validate. Any problem: one line naming the file, the key and what is allowed."""
    path = Path(path)
    try:
        data = load_toml(path)
    except WizardError as e:
        raise WizardError(f"answers file {e}") from None
    answers = Answers.from_dict(data, base=base, origin=str(path))
    return answers.validate(profile, origin=str(path))
