from __future__ import annotations

import os

from wizard.core.profile import load_profile
from wizard.demo import sandbox
from wizard.downloads import prereqs


def test_downloads_detected_only_when_every_needed_file_is_there(tmp_path):
    sb = sandbox.build(tmp_path / "sb", use_loop=False, board=False)
    prof = load_profile(str(sb.profile_path))
    items = {i.id: i for i in prereqs.detect(prof, sb.downloads, env={"PATH": ""})}
    assert items["downloads"].detected is True and "files this build needs are there" in items["downloads"].detail
    assert items["account"].detected is None and items["sdkmanager"].detected is False
    assert not prereqs.satisfied(list(items.values()), set())
    assert prereqs.satisfied(list(items.values()), {"account", "sdkmanager"})
    os.unlink(sb.downloads / "libcudnn7_7.6.3.28-1+cuda10.0_arm64.deb")
    items = {i.id: i for i in prereqs.detect(prof, sb.downloads, env={"PATH": ""})}
    assert items["downloads"].detected is False
    # Without cudnn and tensorrt chosen, the cuDNN file is not needed.
    items = {i.id: i for i in prereqs.detect(prof, sb.downloads, env={"PATH": ""}, packages=["libvisionworks"])}
    assert items["downloads"].detected is True


def test_sdkmanager_found_on_path(tmp_path):
    (tmp_path / "sdkmanager").write_text("#!/bin/sh\n")
    (tmp_path / "sdkmanager").chmod(0o755)
    items = {i.id: i for i in prereqs.detect(load_profile(), tmp_path, env={"PATH": str(tmp_path)})}
    assert items["sdkmanager"].detected is True and str(tmp_path / "sdkmanager") in items["sdkmanager"].detail
