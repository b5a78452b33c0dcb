"""A project driven by the real BitBake 1.44 (vendored under ../shared/vendor) and a tiny layer written here.

The project looks like a Wind River one to the runner: `environment-setup-x86_64-wrlinuxsdk-linux` puts the
vendored `bin/` and a Python 3.7 first on PATH (as Wind River's buildtools bring their own Python), and
`oe-init-build-env` enters the build folder. The layer is small but real: a bitbake.conf, a layer.conf, a
base.bbclass with shell and python tasks, and recipes that succeed, fail in do_compile with a real gcc error,
raise in a python task, sleep (for Ctrl-C), or depend on something nobody provides.

Tests run as root; bitbake itself does not refuse root (OE-core's sanity class does, and this layer has none),
so the wizard's own root check is lifted with the runner's `allow_root` (the test-profile route the other
build tests use).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"
BITBAKE = SHARED / "vendor" / "bitbake-1.44"
PYTHON37 = Path("/root/.pyenv/versions/3.7.16/bin/python3")
MACHINE = "jetson-nano-qspi-sd"


def skip_reason() -> str:
    if not (BITBAKE / "bin" / "bitbake").is_file():
        return f"real BitBake 1.44 is not here ({BITBAKE}): ../shared is absent (a clone of the project alone)"
    if not PYTHON37.is_file():
        return f"no Python 3.5-3.9 for BitBake 1.44 ({PYTHON37} is missing)"
    return ""


needs_real_bitbake = pytest.mark.skipif(bool(skip_reason()), reason=skip_reason() or "ok")

BITBAKE_CONF = r'''
TMPDIR = "${TOPDIR}/tmp"
PERSISTENT_DIR = "${TOPDIR}/cache"
CACHE = "${TMPDIR}/cache"
PN = "${@bb.parse.vars_from_file(d.getVar('FILE', False),d)[0] or 'defaultpkgname'}"
PV = "${@bb.parse.vars_from_file(d.getVar('FILE', False),d)[1] or '1.0'}"
PR = "r0"
PF = "${PN}-${PV}-${PR}"
P = "${PN}-${PV}"
WORKDIR = "${TMPDIR}/work/${PF}"
S = "${WORKDIR}/${P}"
B = "${S}"
T = "${WORKDIR}/temp"
STAMP = "${TMPDIR}/stamps/${PF}"
DL_DIR = "${TOPDIR}/downloads"
SSTATE_DIR = "${TOPDIR}/sstate-cache"
DEPLOY_DIR = "${TMPDIR}/deploy"
MACHINE ??= "qemux86-64"
TINY_SLEEP ??= "0"
BB_SIGNATURE_HANDLER ?= "basichash"
BB_HASHBASE_WHITELIST ?= "TMPDIR FILE PATH PWD BB_TASKHASH HOME LOGNAME SHELL TERM USER FILESPATH \
    TOPDIR WORKDIR T STAMP SSTATE_DIR DL_DIR DEPLOY_DIR PERSISTENT_DIR CACHE BB_HASHSERVE"
include conf/local.conf
include conf/tiny-extra.conf
'''

LAYER_CONF = r'''
BBPATH .= ":${LAYERDIR}"
BBFILES += "${LAYERDIR}/recipes/*.bb"
BBFILE_COLLECTIONS += "tiny"
BBFILE_PATTERN_tiny = "^${LAYERDIR}/"
BBFILE_PRIORITY_tiny = "5"
LAYERSERIES_CORENAMES = "zeus"
LAYERSERIES_COMPAT_tiny = "zeus"
'''

# do_compile is a real task with stamps and logs; do_deploy is a setscene-able task so that a second build
# with the same shared state restores it ("Running setscene task X of Y").
BASE_BBCLASS = r'''
def tiny_equiv(d):
    """The Yocto layers' hash-equivalence signature handler (OEEquivHash) lives in OE-core, not in bitbake;
    this layer registers bitbake's own equivalent under that name, so local.conf reads as in a real project."""
    import bb.siggen
    class SignatureGeneratorOEEquivHash(bb.siggen.SignatureGeneratorUniHashMixIn,
                                        bb.siggen.SignatureGeneratorBasicHash):
        name = "OEEquivHash"
        def init_rundepcheck(self, data):
            super().init_rundepcheck(data)
            self.server = data.getVar('BB_HASHSERVE')
            self.method = "tiny.outhash"
    bb.siggen.SignatureGeneratorOEEquivHash = SignatureGeneratorOEEquivHash
    return ""
TINY_EQUIV := "${@tiny_equiv(d)}"

bbnote() {
    echo "NOTE: $*"
}
bbwarn() {
    echo "WARNING: $*"
}
bbfatal() {
    echo "ERROR: $*"
    exit 1
}

do_fetch[dirs] = "${S}"
do_fetch() {
    :
}
addtask fetch

do_configure[dirs] = "${B}"
do_configure[deptask] = "do_deploy"
do_configure() {
    :
}
addtask configure after do_fetch

do_compile[dirs] = "${B}"
do_compile() {
    sleep ${TINY_SLEEP}
    echo "compiling ${PN}"
}
addtask compile after do_configure

do_install() {
    mkdir -p ${WORKDIR}/image
    echo "${PN}" > ${WORKDIR}/image/${PN}.txt
}
addtask install after do_compile

SSTATETASKS += "do_deploy"
do_deploy[dirs] = "${WORKDIR}/deploy-out"
do_deploy[sstate-outputdirs] = "${DEPLOY_DIR}"
do_deploy() {
    cp ${WORKDIR}/image/${PN}.txt ${WORKDIR}/deploy-out/
    mkdir -p ${DEPLOY_DIR}
    cp ${WORKDIR}/image/${PN}.txt ${DEPLOY_DIR}/
}
addtask deploy after do_install

python do_deploy_setscene() {
    import os
    os.makedirs(d.getVar("DEPLOY_DIR"), exist_ok=True)
}
addtask deploy_setscene

do_build[dirs] = "${TOPDIR}"
do_build[recrdeptask] = "do_deploy"
python do_build() {
    pass
}
addtask build after do_deploy

def tiny_has_sstate(sq_data, d, **kwargs):
    """Which setscene tasks can be restored: those whose deploy output exists (our 'shared state')."""
    import os
    found = set()
    for tid in sq_data['hash']:
        pn = os.path.basename(tid.rsplit(":", 1)[0]).split("_")[0]
        if os.path.exists(os.path.join(d.getVar("DEPLOY_DIR"), pn + ".txt")):
            found.add(tid)
    return found
BB_HASHCHECK_FUNCTION = "tiny_has_sstate"
BB_SETSCENE_DEPVALID = ""

EXPORT_FUNCTIONS do_compile
'''

RECIPES = {
    "tiny-lib_1.0.bb": 'DESCRIPTION = "a library"\n',
    "tiny-app_2.1.bb": 'DESCRIPTION = "an app"\nDEPENDS = "tiny-lib"\n',
    "tiny-tool_0.3.bb": 'DESCRIPTION = "a tool"\n',
    "tiny-image_1.0.bb": 'DESCRIPTION = "the image"\nDEPENDS = "tiny-app tiny-tool"\n',
    # a real compiler error, the one the issue names
    "broken-c_0.18.0.bb": r'''DESCRIPTION = "a C program that does not compile on glibc"
do_compile() {
    cat > main.c <<'EOF'
#include <string.h>
int main(int argc, char **argv) { char b[8]; strlcpy(b, argv[0], sizeof b); return 0; }
EOF
    echo "gcc -Werror=implicit-function-declaration -c main.c"
    gcc -Werror=implicit-function-declaration -c main.c
}
''',
    "broken-image_1.0.bb": 'DESCRIPTION = "an image with a broken part"\nDEPENDS = "tiny-app broken-c tiny-tool"\n',
    "pyfail_1.0.bb": r'''DESCRIPTION = "a python task that raises"
python do_compile() {
    flags = {"cc": "gcc"}
    bb.warn("looking up the compiler")
    flags["cxx"]
}
''',
    "needs-missing_1.0.bb": 'DESCRIPTION = "depends on a name nobody provides"\nDEPENDS = "no-such-lib"\n',
    "slow-image_1.0.bb": 'DESCRIPTION = "slow"\nDEPENDS = "slow-a slow-b"\n',
    "slow-a_1.0.bb": 'TINY_SLEEP = "5"\n',
    "slow-b_1.0.bb": 'TINY_SLEEP = "5"\n',
}


def write_layer(root: Path) -> Path:
    layer = root / "layers" / "meta-tiny"
    (layer / "conf").mkdir(parents=True, exist_ok=True)
    (layer / "classes").mkdir(exist_ok=True)
    (layer / "recipes").mkdir(exist_ok=True)
    (layer / "conf" / "bitbake.conf").write_text(BITBAKE_CONF)
    (layer / "conf" / "layer.conf").write_text(LAYER_CONF)
    (layer / "classes" / "base.bbclass").write_text(BASE_BBCLASS)
    for name, text in RECIPES.items():
        (layer / "recipes" / name).write_text(text)
    return layer


def make_real_project(root: Path, *, python: Path = PYTHON37, extra_local: str = "") -> Path:
    """A project folder whose build environment runs the real bitbake on `python`."""
    from wizard.project.localconf import BEGIN, END

    proj = root / "proj"
    proj.mkdir(parents=True)
    layer = write_layer(proj)
    pybin = proj / "buildtools-bin"       # like Wind River's buildtools: their own python3 first on PATH
    pybin.mkdir()
    (pybin / "python3").symlink_to(python)
    (proj / "environment-setup-x86_64-wrlinuxsdk-linux").write_text(
        f'export PATH="{BITBAKE / "bin"}:{pybin}:$PATH"\nunset PYTHONPATH\n')
    (proj / "oe-init-build-env").write_text('mkdir -p "${1:-build}/conf" && cd "${1:-build}"\n'
                                            'export BBPATH="$PWD"\n')
    conf = proj / "build" / "conf"
    conf.mkdir(parents=True)
    (conf / "bblayers.conf").write_text(f'BBPATH = "${{TOPDIR}}"\nBBLAYERS = "{layer}"\n')
    (conf / "local.conf").write_text(f"# local.conf\n{BEGIN}\nMACHINE = \"{MACHINE}\"\n{extra_local}{END}\n")
    (conf / "tiny-extra.conf").write_text("")
    return proj


def bitbake_env() -> dict:
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    env["LANG"] = "en_US.UTF-8"
    env.pop("LC_ALL", None)
    return env


def cleanup_project(proj: Path) -> None:
    """bitbake's server may linger a moment after the client ends; it exits by itself once the client has
    gone (idle timeout), but the build folder's lock tells us: wait for it, kill what the lock names."""
    import signal
    import time

    lock = proj / "build" / "bitbake.lock"
    end = time.monotonic() + 10
    while lock.exists() and time.monotonic() < end:
        time.sleep(0.2)
    if lock.exists():
        try:
            pid = int(lock.read_text().split()[0])
            os.kill(pid, signal.SIGKILL)
        except (ValueError, IndexError, OSError):
            pass
    shutil.rmtree(proj / "build" / "tmp", ignore_errors=True)
