"""`wrnv-wizard install-helper`: a root-owned copy of the helper in a root-owned folder and a sudoers rule
for exactly that program; `--remove` takes both away."""

from __future__ import annotations

import subprocess

import pytest
from wrnvtest import wizard_command

from wizard.card import elevate

pytestmark = [pytest.mark.root]


def test_install_helper_makes_a_root_owned_copy_and_a_rule_for_exactly_it(root, tmp_path):
    if elevate.INSTALL_DIR.exists() or elevate.SUDOERS_FILE.exists():
        pytest.skip("a helper is installed on this host already: not touching it")
    proc = subprocess.run([*wizard_command(), "install-helper", "--group", "root"], capture_output=True, text=True,
                          timeout=120, stdin=subprocess.DEVNULL)
    try:
        assert proc.returncode == 0, proc.stderr
        assert elevate.root_owned_chain(elevate.INSTALLED_HELPER)
        assert elevate.SUDOERS_FILE.read_text().strip().endswith(f"%root ALL=(root) {elevate.INSTALLED_HELPER}")
        run = subprocess.run([str(elevate.INSTALLED_HELPER), "write", "--image", "/nonexistent", "--target",
                              "/etc/passwd", "--identity", '{"devnum": [7, 0]}'], capture_output=True, text=True,
                             timeout=60, cwd="/")
        assert run.returncode == 1 and "does not exist" in run.stdout and "Traceback" not in run.stderr
    finally:
        subprocess.run([*wizard_command(), "install-helper", "--remove"], capture_output=True, timeout=60)
    assert not elevate.INSTALL_DIR.exists() and not elevate.SUDOERS_FILE.exists()
