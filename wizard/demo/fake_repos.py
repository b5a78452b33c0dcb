"""Real local git repositories that stand in for the outside world: wrlinux-x (with a setup.sh that lays out a
project the way Wind River's does), its layer repositories, and meta-tegra with a tested commit behind the tip.

The tests and the demo clone these through file:// URLs, so the wizard's real code paths (git clone, setup.sh,
sourcing the environment scripts, bitbake-layers editing bblayers.conf) run unchanged; only the programs at the
far end are stand-ins. Layout facts come from shared/reference/wrlinux-jetson-facts.md section 1.3.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import NamedTuple

WRLINUX_BRANCHES = ("WRLINUX_10_19_BASE", "WRLINUX_10_19_LTS")
META_TEGRA_BRANCH = "zeus-l4t-r32.3.1"
BUILDTOOLS_VERSION = "10.19.45.4"
ENV_SCRIPT = "environment-setup-x86_64-wrlinuxsdk-linux"
# Layer repositories setup.sh clones next to the project's wrlinux-x (from the parent of its origin URL).
LAYER_REPOS = ("oe-core", "bitbake", "wrlinux", "meta-virtualization")
DISTROS = ("wrlinux", "wrlinux-graphics", "wrlinux-installer", "wrlinux-std-sato", "wrlinux-tiny")

_IDENTITY = {"GIT_AUTHOR_NAME": "wrnv demo", "GIT_AUTHOR_EMAIL": "demo@wrnv.invalid",
             "GIT_COMMITTER_NAME": "wrnv demo", "GIT_COMMITTER_EMAIL": "demo@wrnv.invalid"}


class MetaTegraCommits(NamedTuple):
    tested: str
    tip: str


def git(cwd, *args: str, date: str = "") -> str:
    """git with a fixed identity (the builders must work on hosts without one); returns stdout."""
    env = {**os.environ, **_IDENTITY}
    if date:
        env["GIT_AUTHOR_DATE"] = env["GIT_COMMITTER_DATE"] = date
    out = subprocess.run(["git", *args], cwd=str(cwd), env=env, check=True, capture_output=True, text=True)
    return out.stdout.strip()


def _write(root: Path, files: dict) -> None:
    for rel, text in files.items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text).lstrip("\n") if text else "")
        if rel.endswith((".sh", "bin/bitbake", "bin/bitbake-layers")):
            p.chmod(0o755)


def _init_repo(path: Path, files: dict, branches: tuple, message: str) -> None:
    path.mkdir(parents=True, exist_ok=True)
    git(path, "init", "-q", "-b", branches[0])
    _write(path, files)
    git(path, "add", "-A")
    git(path, "commit", "-q", "-m", message, date="2020-03-05T12:00:00+00:00")
    for b in branches[1:]:
        git(path, "branch", b)
    # Let clones of any branch work, and pushes never matter: these are read-only "servers".
    git(path, "config", "uploadpack.allowAnySHA1InWant", "true")


def _layer_conf(collection: str, priority: int = 5, depends: str = "") -> str:
    text = f'''\
        # Layer configuration (stand-in written by wrnv-wizard's demo)
        BBPATH .= ":${{LAYERDIR}}"
        BBFILES += "${{LAYERDIR}}/recipes-*/*/*.bb ${{LAYERDIR}}/recipes-*/*/*.bbappend"
        BBFILE_COLLECTIONS += "{collection}"
        BBFILE_PATTERN_{collection} = "^${{LAYERDIR}}/"
        BBFILE_PRIORITY_{collection} = "{priority}"
        LAYERSERIES_COMPAT_{collection} = "zeus"
        '''
    if depends:
        text += f'        LAYERDEPENDS_{collection} = "{depends}"\n'
    return text


# -- wrlinux-x and its layers ------------------------------------------------------------------------------

def make_wrlinux_x_repo(path, branches: tuple = WRLINUX_BRANCHES) -> Path:
    """Create a wrlinux-x repository at `path` (branches `branches`) and, next to it in `path.parent`, the
    layer repositories its setup.sh clones (oe-core, bitbake, wrlinux, meta-virtualization), on the same
    branches. Clone it as `git clone --branch <b> file://<path> wrlinux-x` and run `./wrlinux-x/setup.sh`."""
    path = Path(path)
    branches = tuple(branches)
    parent = path.parent
    _init_repo(parent / "oe-core", {
        "meta/conf/layer.conf": _layer_conf("core", 5),
        "meta/recipes-core/images/core-image-minimal.bb": 'SUMMARY = "A small image"\nLICENSE = "MIT"\n',
        "scripts/.keep": "",
        "oe-init-build-env": _OE_INIT_BUILD_ENV,
    }, branches, "oe-core: zeus (stand-in)")
    _init_repo(parent / "bitbake", {
        "bin/bitbake": _bitbake_wrapper(),
        "bin/bitbake-layers": _bitbake_layers_script(),
        "README": "bitbake 1.44 (stand-in: bitbake-layers edits bblayers.conf; bitbake is the demo's)\n",
    }, branches, "bitbake 1.44 (stand-in)")
    _init_repo(parent / "wrlinux", {
        "conf/layer.conf": _layer_conf("wrlinux", 6, "core"),
        "templates/feature/docker/README": "Enables the kernel features for docker and builds docker.\n",
        "templates/feature/docker/template.conf": 'PREFERRED_VERSION_docker = "18.09.9"\n',
        "templates/feature/docker/image.inc": 'IMAGE_INSTALL += "docker virtual/containerd"\n',
        "recipes-core/images/wrlinux-image-std.bb": 'SUMMARY = "WRLinux std"\nLICENSE = "MIT"\n',
        "recipes-core/images/wrlinux-image-glibc-std.bb": 'require wrlinux-image-std.bb\ninherit deprecate\n',
    }, branches, "wrlinux: LTS 19 (stand-in)")
    _init_repo(parent / "meta-virtualization", {
        "conf/layer.conf": _layer_conf("virtualization-layer", 8, "core"),
        "recipes-containers/docker/docker_18.09.9.bb": 'SUMMARY = "docker"\nLICENSE = "Apache-2.0"\n',
    }, branches, "meta-virtualization: zeus (stand-in)")
    _init_repo(path, {
        "setup.sh": _SETUP_SH,
        "README.md": "wrlinux-x (stand-in for wrnv-wizard's demo and tests). Run ./wrlinux-x/setup.sh from an "
                     "empty project folder.\n",
        "data/samples/README.sample": _README_SAMPLE,
        "data/samples/bblayers.conf.sample": _BBLAYERS_SAMPLE,
        "data/samples/local.conf.sample": _LOCAL_CONF_SAMPLE,
        "data/samples/conf-notes.txt": "\nCommon targets are:\n    wrlinux-image-std\n    wrlinux-image-small\n",
        "data/samples/site.conf.sample": "# site.conf: settings shared by every build on this host\n",
        f"data/buildtools/{ENV_SCRIPT}": _ENV_SETUP,
    }, branches, "wrlinux-x setup tool (stand-in)")
    return path


def _bitbake_wrapper() -> str:
    # The real bitbake is replaced by the demo's simulated build (wizard.demo.fake_bitbake, another module);
    # the interpreter and the import path are the ones that built this repository.
    root = Path(__file__).resolve().parents[2]
    return (f'#!/bin/sh\n# Stand-in bitbake for wrnv-wizard demos/tests: a simulated build.\n'
            f'PYTHONPATH="{root}${{PYTHONPATH:+:$PYTHONPATH}}" exec "{sys.executable}" '
            f'-m wizard.demo.fake_bitbake "$@"\n')


def _bitbake_layers_script() -> str:
    return f"#!{sys.executable}\n" + _BITBAKE_LAYERS_PY


_BITBAKE_LAYERS_PY = r'''"""Stand-in bitbake-layers: add-layer / remove-layer / show-layers on conf/bblayers.conf, for real."""
import os
import re
import sys

USAGE = "usage: bitbake-layers [-h] <subcommand> ...\n"


def die(msg, code=1):
    sys.stderr.write("ERROR: " + msg + "\n")
    sys.exit(code)


def build_dir():
    for cand in (os.environ.get("BUILDDIR"), os.getcwd()):
        if cand and os.path.exists(os.path.join(cand, "conf", "bblayers.conf")):
            return cand
    die("The BBPATH variable is not set and bitbake did not find a conf/bblayers.conf file in the expected "
        "location.\nMaybe you accidentally invoked bitbake from the wrong directory?")


BBLAYERS_RE = re.compile(r'(BBLAYERS\s*\??=\s*")([^"]*)(")', re.S)


def read(conf):
    with open(conf) as f:
        text = f.read()
    m = BBLAYERS_RE.search(text)
    if not m:
        die("conf/bblayers.conf has no BBLAYERS variable")
    layers = [p for p in m.group(2).replace("\\\n", " ").split() if p != "\\"]
    return text, m, layers


def write(conf, text, m, layers):
    body = " \\\n" + "".join("  %s \\\n" % p for p in layers) + "  "
    new = text[:m.start(2)] + body + text[m.end(2):]
    tmp = conf + ".tmp"
    with open(tmp, "w") as f:
        f.write(new)
    os.replace(tmp, conf)


def collection(layer):
    try:
        with open(os.path.join(layer, "conf", "layer.conf")) as f:
            text = f.read()
    except OSError:
        return "?", "?"
    name = re.search(r'BBFILE_COLLECTIONS\s*\+?=\s*"\s*([^"\s]+)', text)
    name = name.group(1) if name else "?"
    prio = re.search(r'BBFILE_PRIORITY_%s\s*=\s*"(\d+)"' % re.escape(name), text)
    return name, prio.group(1) if prio else "0"


def main(argv):
    if not argv or argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return 0 if argv else 2
    cmd, args = argv[0], argv[1:]
    conf = os.path.join(build_dir(), "conf", "bblayers.conf")
    text, m, layers = read(conf)
    if cmd in ("add-layer", "remove-layer"):
        if not args:
            sys.stderr.write(USAGE + "bitbake-layers %s: error: the following arguments are required: layerdir\n" % cmd)
            return 2
        for arg in args:
            path = os.path.realpath(arg)
            if cmd == "add-layer":
                if not os.path.exists(os.path.join(path, "conf", "layer.conf")):
                    die("Specified layer directory %s doesn't contain a conf/layer.conf file" % arg)
                if path in layers:
                    sys.stderr.write("NOTE: Specified layer %s is already in BBLAYERS\n" % path)
                    continue
                layers.append(path)
            else:
                if path not in layers:
                    die("Unable to find layer %s in current bblayers.conf" % arg)
                layers.remove(path)
        write(conf, text, m, layers)
        return 0
    if cmd == "show-layers":
        print("%-20s %-60s %s" % ("layer", "path", "priority"))
        print("=" * 90)
        for p in layers:
            name, prio = collection(p)
            print("%-20s %-60s %s" % (name, p, prio))
        return 0
    sys.stderr.write(USAGE + "bitbake-layers: error: invalid choice: %r\n" % cmd)
    return 2


sys.exit(main(sys.argv[1:]))
'''

_OE_INIT_BUILD_ENV = r'''
# Stand-in for oe-core's oe-init-build-env: source it from the project folder, optionally with a build folder.
if [ -n "$BASH_SOURCE" ]; then THIS_SCRIPT="$BASH_SOURCE"; else THIS_SCRIPT="$(pwd)/oe-init-build-env"; fi
if [ "$0" = "$THIS_SCRIPT" ]; then
    echo "Error: This script needs to be sourced. Please run as '. $THIS_SCRIPT'" >&2
    exit 1
fi
OEROOT="$(cd "$(dirname "$THIS_SCRIPT")" && pwd)"
BDIR="${1:-build}"
case "$BDIR" in /*) BUILDDIR="$BDIR" ;; *) BUILDDIR="$(pwd)/$BDIR" ;; esac
TEMPLATECONF="config"
[ -f "$OEROOT/.templateconf" ] && . "$OEROOT/.templateconf"
case "$TEMPLATECONF" in /*) ;; *) TEMPLATECONF="$OEROOT/$TEMPLATECONF" ;; esac
mkdir -p "$BUILDDIR/conf" || return 1
if [ ! -f "$BUILDDIR/conf/local.conf" ]; then
    cp "$TEMPLATECONF/local.conf.sample" "$BUILDDIR/conf/local.conf"
    echo "You had no conf/local.conf file. This configuration file has therefore been"
    echo "created for you with some default values."
fi
if [ ! -f "$BUILDDIR/conf/bblayers.conf" ]; then
    sed -e "s|##OEROOT##|$OEROOT|g" "$TEMPLATECONF/bblayers.conf.sample" > "$BUILDDIR/conf/bblayers.conf"
    echo "You had no conf/bblayers.conf file. This configuration file has therefore been"
    echo "created for you with some default values."
fi
export BUILDDIR
export PATH="$OEROOT/scripts:$OEROOT/bitbake/bin:$PATH"
unset THIS_SCRIPT BDIR
cd "$BUILDDIR" || return 1
[ -f "$TEMPLATECONF/conf-notes.txt" ] && cat "$TEMPLATECONF/conf-notes.txt"
echo "You can now run 'bitbake <target>'"
'''

_ENV_SETUP = r'''
# Stand-in for the Wind River buildtools environment (the real one brings python3 3.7, git, make, ...).
_wrnv_here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
export OECORE_NATIVE_SYSROOT="$_wrnv_here/sysroots/x86_64-wrlinuxsdk-linux"
export PATH="$OECORE_NATIVE_SYSROOT/usr/bin:$PATH"
export WRNV_BUILDTOOLS="$_wrnv_here"
unset _wrnv_here
'''

_README_SAMPLE = """\
Wind River Linux project (stand-in made by wrnv-wizard's demo wrlinux-x)

Set up with:
    setup.sh @ARGS@

In every new shell:
    . ./environment-setup-x86_64-wrlinuxsdk-linux
    . ./oe-init-build-env [<build>]
"""

_BBLAYERS_SAMPLE = """\
# LAYER_CONF_VERSION is increased each time build/conf/bblayers.conf
# changes incompatibly
LCONF_VERSION = "7"

BBPATH = "${TOPDIR}"
BBFILES ?= ""

BBLAYERS ?= " \\
  ##OEROOT##/layers/oe-core/meta \\
  ##OEROOT##/layers/wrlinux \\
  ##OEROOT##/layers/meta-virtualization \\
  ##OEROOT##/layers/local \\
  "
"""

_LOCAL_CONF_SAMPLE = """\
# local.conf made by setup.sh (stand-in); see config/local.conf.sample in a real project for the full text.
BB_NO_NETWORK ?= '1'
BB_FETCH_PREMIRRORONLY ?= "${BB_NO_NETWORK}"
WRTEMPLATE ?= "@TEMPLATES@"
MACHINE ??= "qemux86-64"
DISTRO ??= "@DISTRO@"
PACKAGE_CLASSES ?= "package_rpm"
# debug-tweaks: ssh root access has a blank password
EXTRA_IMAGE_FEATURES ?= "debug-tweaks"
IMAGE_FSTYPES += "tar.bz2"
DISTRO_FEATURES_append = " systemd"
VIRTUAL-RUNTIME_init_manager = "systemd"
CONF_VERSION = "1"
"""

_SETUP_SH = r'''#!/bin/bash
# Stand-in for Wind River's wrlinux-x/setup.sh (LTS 19), for wrnv-wizard's demo and tests. It checks the
# options the real one defines (argparse rules: unique prefixes accepted, e.g. --distro for --distros) and lays
# the project out the same way: a git repo with README, default.xml, .templateconf, config/, layers/ (cloned
# from the parent of wrlinux-x's origin URL, plus layers/local), bin/buildtools, the environment script and the
# repo linkfiles (oe-init-build-env, meta, scripts, bitbake).
PROG=setup.py
USAGE="usage: $PROG [-h] [--base-url URL] [--base-branch BRANCH] [--user USER] [--password PASSWORD] [--no-anspass] [--accept-eula ACCEPT] [-v] [--distros DISTRO ...] [--machines MACHINE ...] [--layers LAYER ...] [--recipes RECIPE ...] [--all-layers] [--dl-layers] [--templates TEMPLATE ...]"
LONG_OPTS="--base-url --base-branch --user --password --no-anspass --accept-eula --verbose --distros --machines --layers --recipes --all-layers --dl-layers --templates --no-recommend --list-distros --list-machines --list-layers --list-templates --help"
die_usage() { echo "$USAGE" >&2; echo "$PROG: error: $1" >&2; exit 2; }
die() { echo "ERROR: $1" >&2; exit 1; }

[ -n "$BASH_VERSION" ] || { echo "setup.sh must run under bash" >&2; exit 1; }
WRX="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
PROJ="$(pwd -P)"

expand() {  # argparse-style unique prefix match
    local opt="$1" o hits=()
    for o in $LONG_OPTS; do
        [ "$o" = "$opt" ] && { echo "$o"; return; }
        case "$o" in "$opt"*) hits+=("$o") ;; esac
    done
    [ ${#hits[@]} -eq 1 ] && { echo "${hits[0]}"; return; }
    [ ${#hits[@]} -gt 1 ] && die_usage "ambiguous option: $opt could match ${hits[*]}"
    die_usage "unrecognized arguments: $opt"
}

SEL=0; DISTRO=wrlinux; TEMPLATES=""; USER_=""; PASS_=""; SHOWN=()
while [ $# -gt 0 ]; do
    arg="$1"; shift
    case "$arg" in
        -v) opt=--verbose ;;
        -h) opt=--help ;;
        --*=*) val="${arg#*=}"; opt="$(expand "${arg%%=*}")" || exit $?; set -- "$val" "$@" ;;
        --*) opt="$(expand "$arg")" || exit $? ;;
        *) die_usage "unrecognized arguments: $arg" ;;
    esac
    case "$opt" in
        --help) echo "$USAGE"; exit 0 ;;
        --all-layers|--dl-layers|--no-recommend) SEL=1; SHOWN+=("$opt") ;;
        --verbose|--no-anspass) SHOWN+=("$opt") ;;
        --distros|--machines|--layers|--recipes|--templates)
            vals=()
            while [ $# -gt 0 ] && [ "${1#-}" = "$1" ]; do vals+=("${1//,/ }"); shift; done
            [ ${#vals[@]} -gt 0 ] || die_usage "argument $opt: expected at least one argument"
            SEL=1; SHOWN+=("$opt" "${vals[@]}")
            case "$opt" in
                --distros) DISTRO="${vals[0]}" ;;
                --templates) TEMPLATES="${vals[*]}" ;;
            esac ;;
        --base-url|--base-branch|--accept-eula|--user|--password)
            [ $# -gt 0 ] || die_usage "argument $opt: expected one argument"
            val="$1"; shift
            case "$opt" in
                --user) USER_="$val" ;;
                --password) PASS_="$val" ;;
                --base-url) BASEURL="$val" ;;
                --base-branch) BRANCH="$val" ;;
            esac
            SHOWN+=("$opt" "$val") ;;
        --list-*) echo "(stand-in) listing is not available"; exit 0 ;;
    esac
done

# The real tool may print its arguments; the wizard must mask the password whatever a tool prints.
echo "setup.py arguments: ${SHOWN[*]}"
[ "$SEL" = 1 ] || die "You must include at least one Layer Selection argument (--all-layers, --distros, ...)"
case "$PROJ/" in "$WRX/"*) die "The project directory ($PROJ) can not be inside the wrlinux-x directory ($WRX)" ;; esac
d="$(dirname "$PROJ")"
while [ "$d" != "/" ]; do
    [ -d "$d/.repo" ] && die "Found a .repo directory in $d: a project can not be nested inside another repo project"
    d="$(dirname "$d")"
done
case " ${DISTROS_KNOWN:-wrlinux wrlinux-graphics wrlinux-installer wrlinux-std-sato wrlinux-tiny} " in
    *" $DISTRO "*) ;;
    *) die "Unable to find distro '$DISTRO' in the layer index" ;;
esac
WRURL="$(git -C "$WRX" config remote.origin.url)" || die "wrlinux-x is not a git clone"
BASEURL="${BASEURL:-${WRURL%/*}}"
BRANCH="${BRANCH:-$(git -C "$WRX" rev-parse --abbrev-ref HEAD)}"
[ -n "$USER_" ] && echo "Detected Windshare configuration."
echo "Base URL: $BASEURL, base branch: $BRANCH"
echo "Setting distro to \"$DISTRO\""

set -e
[ -d .git ] || git init -q .
mkdir -p layers config bin .repo/manifests
for l in oe-core bitbake wrlinux meta-virtualization; do
    if [ -d "layers/$l/.git" ]; then
        echo "Layer $l: already present"
    else
        echo "Fetching $l from $BASEURL/$l ($BRANCH)"
        git clone -q --branch "$BRANCH" "$BASEURL/$l" "layers/$l"
    fi
done
for t in $TEMPLATES; do
    [ -d "layers/wrlinux/templates/$t" ] || die "Unable to find template $t"
done
mkdir -p layers/local/conf
cat > layers/local/conf/layer.conf <<'EOF'
# A sample local layer: put your own recipes and bbappends here.
BBPATH .= ":${LAYERDIR}"
BBFILES += "${LAYERDIR}/recipes-*/*/*.bb ${LAYERDIR}/recipes-*/*/*.bbappend"
BBFILE_COLLECTIONS += "local"
BBFILE_PATTERN_local = "^${LAYERDIR}/"
BBFILE_PRIORITY_local = "10"
LAYERSERIES_COMPAT_local = "zeus"
EOF
S="$WRX/data/samples"
cp "$S/bblayers.conf.sample" "$S/conf-notes.txt" "$S/site.conf.sample" config/
sed -e "s|@TEMPLATES@|$TEMPLATES|; s|@DISTRO@|$DISTRO|" "$S/local.conf.sample" > config/local.conf.sample
echo "$BRANCH" > config/saved_base_branch
mkdir -p config/log config/index-cache config/mirror-index
ARGS="${SHOWN[*]}"
[ -n "$PASS_" ] && ARGS="${ARGS//$PASS_/********}"
sed -e "s|@ARGS@|$ARGS|" "$S/README.sample" > README
echo 'TEMPLATECONF=${TEMPLATECONF:-config}' > .templateconf
printf 'build/\nwrlinux-x/\n.wrnv-wizard/\nbin/buildtools*\nlayers/*\n!layers/local\n.repo/\n' > .gitignore
printf '[user]\n' > .gitconfig
{
    echo '<?xml version="1.0" encoding="UTF-8"?>'
    echo '<manifest>'
    echo "  <remote name=\"base\" fetch=\"$BASEURL\"/>"
    echo "  <default remote=\"base\" revision=\"$BRANCH\"/>"
    for l in oe-core bitbake wrlinux meta-virtualization; do
        echo "  <project name=\"$l\" path=\"layers/$l\"/>"
    done
    echo '</manifest>'
} > default.xml
cp default.xml .repo/manifests/default.xml
BT="bin/buildtools.10.19.45.4"
mkdir -p "$BT/sysroots/x86_64-wrlinuxsdk-linux/usr/bin"
cp "$WRX/data/buildtools/environment-setup-x86_64-wrlinuxsdk-linux" "$BT/"
ln -sfn "buildtools.10.19.45.4" bin/buildtools
ln -sfn bin/buildtools/environment-setup-x86_64-wrlinuxsdk-linux environment-setup-x86_64-wrlinuxsdk-linux
ln -sfn layers/oe-core/oe-init-build-env oe-init-build-env
ln -sfn layers/oe-core/meta meta
ln -sfn layers/oe-core/scripts scripts
ln -sfn layers/bitbake bitbake
git add -A
git commit -q --allow-empty -m "Configuration change - $ARGS"
echo
echo "Configuration complete. In every new shell, run:"
echo "    . ./environment-setup-x86_64-wrlinuxsdk-linux"
echo "    . ./oe-init-build-env"
'''


# -- meta-tegra ---------------------------------------------------------------------------------------------

def make_meta_tegra_repo(path) -> MetaTegraCommits:
    """Create a meta-tegra repository at `path`: branch master, and branch zeus-l4t-r32.3.1 whose history holds
    a "tested" commit followed by newer ones. Returns the tested commit and the branch tip (40-char ids)."""
    path = Path(path)
    _init_repo(path, {
        "README.md": "meta-tegra (stand-in): the OE/Yocto BSP layer for NVIDIA Jetson.\n",
        "conf/layer.conf": _layer_conf("tegra", 5, "core"),
        "contrib/conf/layer.conf": _layer_conf("tegra-contrib", 4, "tegra"),
        "contrib/conf/include/gcc-compat.conf": ('# CUDA 10 supports up through gcc 7 only.\n'
                                                 'GCCVERSION_tegra ?= "7.%"\n'),
        "conf/machine/jetson-nano-qspi-sd.conf": ('#@NAME: Nvidia Jetson Nano (QSPI + SD card)\n'
                                                  'SOC_FAMILY = "tegra210"\n'),
    }, ("master",), "Initial layer skeleton")
    git(path, "checkout", "-q", "-b", META_TEGRA_BRANCH)
    steps = [
        ("cuda-binaries: 10.0.326 from the SDK Manager downloads", {
            "recipes-devtools/cuda/cuda-binaries_10.0.326-1.bb":
                'SRC_URI = "${NVIDIA_DEVNET_MIRROR}/cuda-repo-l4t-10-0-local-10.0.326_1.0-1_arm64.deb"\n',
            "recipes-devtools/cuda/cuda-binaries-ubuntu1604-native_10.0.326-1.bb":
                'SRC_URI = "${NVIDIA_DEVNET_MIRROR}/cuda-repo-ubuntu1604-10-0-local-10.0.326-410.108_1.0-1_amd64.deb"\n',
        }),
        ("cudnn, tensorrt: JetPack 4.3 packages", {
            "recipes-devtools/cudnn/cudnn_7.6.3.28-1.bb":
                'SRC_URI = "${NVIDIA_DEVNET_MIRROR}/libcudnn7_7.6.3.28-1+cuda10.0_arm64.deb"\n',
            "recipes-devtools/gie/tensorrt_6.0.1-1.bb":
                'SRC_URI = "${NVIDIA_DEVNET_MIRROR}/NoDLA/libnvinfer6_6.0.1-1+cuda10.0_arm64.deb"\n',
        }),
        ("container runtime: nvidia-container-runtime and csv packages", {
            "recipes-containers/nvidia-container-runtime/nvidia-container-runtime_1.0.1.bb":
                'RDEPENDS_${PN} = "docker-ce"\n',
            "classes/container-runtime-csv.bbclass": '# installs <pkg>.csv for the NVIDIA container runtime\n',
        }),
        ("tegra-helper-scripts: newer flashing helpers (after the tested commit)", {
            "recipes-bsp/tegra-binaries/tegra-helper-scripts/find-jetson-usb.sh": "#!/bin/sh\n",
        }),
        ("zeus-l4t-r32.3.1: end of maintenance", {"README.md": "meta-tegra: this branch is no longer maintained.\n"}),
    ]
    ids = []
    for i, (msg, files) in enumerate(steps):
        _write(path, files)
        git(path, "add", "-A")
        git(path, "commit", "-q", "-m", msg, date=f"2020-03-{20 + i:02d}T12:00:00+00:00")
        ids.append(git(path, "rev-parse", "HEAD"))
    git(path, "checkout", "-q", "master")
    return MetaTegraCommits(tested=ids[2], tip=ids[-1])
