#!/usr/bin/env bash
# The one test command (README: "bash tests/run.sh"). It prepares a fresh Debian machine itself:
# the apt packages the tests need (when root and missing), a virtualenv with `.[test]`, then ruff and pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

# tool:package pairs the tests use (tmux: real terminal; umockdev: disk fixtures; sshd: board checks; ...)
APT_NEEDS="tmux:tmux umockdev-run:umockdev /usr/sbin/sshd:openssh-server ssh:openssh-client sgdisk:gdisk
mkfs.ext4:e2fsprogs losetup:mount git:git ip:iproute2 zip:zip unzip:unzip sudo:sudo
dbus-daemon:dbus /lib/systemd/systemd-udevd:udev /usr/lib/polkit-1/polkitd:polkitd pkexec:pkexec
/usr/libexec/udisks2/udisksd:udisks2 busctl:systemd bmaptool:bmap-tools"
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    missing=""
    for pair in $APT_NEEDS; do
        tool=${pair%%:*} pkg=${pair##*:}
        command -v "$tool" >/dev/null 2>&1 || [ -x "$tool" ] || missing="$missing $pkg"
    done
    python3 -c 'import ensurepip, venv' 2>/dev/null || missing="$missing python3-venv"
    if [ -n "$missing" ]; then
        echo "tests/run.sh: installing$missing"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        # shellcheck disable=SC2086
        apt-get install -y -qq $missing >/dev/null
    fi
fi

VENV=${WRNV_TEST_VENV:-.venv}
# The distribution's Python where it is recent enough: a Python under /root (pyenv) cannot be run by the
# temporary user of the sudo tests, which then skip.
PY=python3
if /usr/bin/python3 -c 'import sys, ensurepip, venv; sys.exit(sys.version_info < (3, 9))' 2>/dev/null; then
    PY=/usr/bin/python3
fi
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip >/dev/null
# A real (non-editable) install: the tests run the installed package and its shipped assets.
"$VENV/bin/python" -m pip install -q ".[test]" >/dev/null
"$VENV/bin/python" -m pip install -q --force-reinstall --no-deps . >/dev/null

"$VENV/bin/ruff" check wizard screens tests
set +e
"$VENV/bin/pytest" -q -p no:randomly "$@"
rc=$?
set -e
if [ "$rc" = 5 ]; then
    echo "tests/run.sh: pytest collected no tests: that is a failure" >&2
    exit 1
fi
exit "$rc"
