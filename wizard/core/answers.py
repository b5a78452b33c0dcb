"""The user's answers: everything the steps ask for, with defaults taken from the profile.

One typed object serves the TUI, the CLI flags, the saved state and the --answers file, so each path
validates answers the same way.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Optional

from wizard.core.errors import WizardError
from wizard.core.paths import default_downloads_dir, default_project_dir
from wizard.core.profile import Profile


@dataclass
class Answers:
    source: str = ""                 # wrlinux source id ("lts" or "base")
    machine: str = ""
    distro: str = ""
    image: str = ""
    packages: list = field(default_factory=list)
    project_dir: str = ""
    downloads_dir: str = ""
    wrlinux_url: str = ""            # empty: the profile's URL for `source`
    meta_tegra_url: str = ""
    meta_tegra_commit: str = ""
    source_mirror_url: str = ""      # team download mirror (SOURCE_MIRROR_URL), optional
    sstate_mirror_url: str = ""      # team sstate mirror (SSTATE_MIRRORS), optional
    fab: str = ""                    # carrier board revision id for dosdcard.sh (profile sdcard.fabs)
    board_host: str = ""
    board_user: str = "root"
    board_port: int = 22
    board_identity: str = ""
    # Write the card's per-card options, as last chosen (a desk session goes on after the wizard is reopened).
    card_hostname_pattern: str = ""
    card_ssh_key: str = ""
    card_no_empty_password_ssh: bool = False
    # Prerequisites the wizard cannot detect, confirmed ahead in an answers file ("account", "sdkmanager"),
    # as a person ticks them on the checklist.
    confirmed_prereqs: list = field(default_factory=list)

    @classmethod
    def defaults(cls, profile: Profile) -> Answers:
        return cls(source=profile.wrlinux.default_source, machine=profile.default_machine.name,
                   distro=profile.default_distro, image=profile.default_image,
                   packages=list(profile.default_packages), project_dir=str(default_project_dir()),
                   downloads_dir=str(default_downloads_dir()), board_user=profile.board.get("user", "root"))

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict, base: Optional[Answers] = None, origin: str = "answers") -> Answers:
        """Overlay `data` on `base`; unknown keys or wrong types are one-line errors naming the key."""
        out = Answers(**asdict(base)) if base else Answers()
        known = {f.name: f for f in fields(cls)}
        for key, value in data.items():
            if key not in known:
                raise WizardError(f"{origin}: unknown key {key!r} (known keys: {', '.join(known)})")
            want = type(getattr(out, key))
            if want is bool:
                if not isinstance(value, bool):
                    raise WizardError(f"{origin}: {key} must be true or false")
            elif want is list:
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise WizardError(f"{origin}: {key} must be a list of strings")
            elif want is int:
                if isinstance(value, bool) or not isinstance(value, int):
                    raise WizardError(f"{origin}: {key} must be a whole number")
            elif not isinstance(value, str):
                raise WizardError(f"{origin}: {key} must be a string")
            setattr(out, key, value)
        return out

    def validate(self, profile: Profile, origin: str = "answers") -> Answers:
        """Check every choice against the profile; the error names the key and the allowed values."""
        def allowed(key: str, value: str, values: list) -> None:
            if value not in values:
                raise WizardError(f"{origin}: {key} = {value!r} is not allowed; use one of: {', '.join(values)}")

        allowed("source", self.source, [s.id for s in profile.wrlinux.sources])
        allowed("machine", self.machine, [m.name for m in profile.machines])
        allowed("distro", self.distro, [d.id for d in profile.distros])
        allowed("image", self.image, [i.id for i in profile.images])
        for p in self.packages:
            allowed("packages", p, [p.id for p in profile.packages])
        for p in self.packages:
            for req in profile.package(p).requires:
                if req not in self.packages:
                    raise WizardError(f"{origin}: packages: {p} needs {req}; add {req!r} to packages")
        if self.fab:
            allowed("fab", self.fab, [f.id for f in profile.fabs])
        for p in self.confirmed_prereqs:
            allowed("confirmed_prereqs", p, ["account", "sdkmanager", "downloads"])
        if not (0 < self.board_port < 65536):
            raise WizardError(f"{origin}: board_port must be between 1 and 65535")
        if self.meta_tegra_commit and (len(self.meta_tegra_commit) != 40
                                       or any(c not in "0123456789abcdef" for c in self.meta_tegra_commit)):
            raise WizardError(f"{origin}: meta_tegra_commit must be a full 40-character commit id")
        self.check_values(origin)
        return self

    def check_values(self, origin: str = "answers") -> Answers:
        """The free-text answers that reach a file or a command line: one line naming the key when one is bad."""
        from wizard.core import validate

        def named(check, key: str, *args) -> None:
            try:
                check(key, getattr(self, key), *args)
            except WizardError as e:
                raise WizardError(f"{origin}: {e}") from None

        for key in ("wrlinux_url", "meta_tegra_url"):
            named(validate.url, key)
        for key in ("source_mirror_url", "sstate_mirror_url"):
            named(validate.url, key, validate.MIRROR_SCHEMES, False)
        for key in ("project_dir", "downloads_dir", "board_identity", "card_ssh_key"):
            named(validate.path, key)
        named(validate.host, "board_host")
        named(validate.pattern, "card_hostname_pattern")
        named(validate.login, "board_user")
        return self

    def effective_profile(self, profile: Profile) -> Profile:
        """The profile with this user's mirror URLs and commit applied."""
        return profile.with_overrides(wrlinux_url=self.wrlinux_url or None, meta_tegra_url=self.meta_tegra_url or None,
                                      meta_tegra_commit=self.meta_tegra_commit or None, source=self.source)

    @property
    def project(self) -> Path:
        return Path(self.project_dir).expanduser()

    @property
    def downloads(self) -> Path:
        return Path(self.downloads_dir).expanduser()
