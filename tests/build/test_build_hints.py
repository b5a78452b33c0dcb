"""Known failure causes -> hints, from real bitbake wording."""

from __future__ import annotations

import pytest

from wizard.build.bitbake_log import parse_text
from wizard.build.hints import failure_detail, find_hint, hint_for_summary

CASES = [
    ("disk-full", "ERROR: glibc-2.30-r0 do_compile: write error: No space left on device"),
    ("disk-full", 'WARNING: The free space of /p/build/tmp-glibc (/dev/sda1) is running low (0.900GB left)\n'
                  'ERROR: No new tasks can be executed since the disk space monitor action is "STOPTASKS"!'),
    ("root", "ERROR:  OE-core's config sanity checker detected a potential misconfiguration.\n"
             "    Do not use Bitbake as root."),
    ("locale", "Please use a locale setting which supports UTF-8 (such as LANG=en_US.UTF-8)."),
    ("locale", "    Your system needs to support the en_US.UTF-8 locale."),
    ("python-too-new", "ImportError: cannot import name 'MutableMapping' from 'collections' "
                       "(/usr/lib/python3.10/collections/__init__.py)"),
    ("python-too-new", "ModuleNotFoundError: No module named 'imp'"),
    ("cuda-gcc", "/usr/local/cuda-10.0/include/crt/host_config.h:129:2: error: #error -- unsupported GNU version! "
                 "gcc versions later than 7 are not supported!"),
    ("nvidia-download", "ERROR: cudnn-7.6.3.28-1-r0 do_fetch: Fetcher failure: Unable to find file "
                        "file:///home/u/Downloads/nvidia/sdkm_downloads/libcudnn7_7.6.3.28-1+cuda10.0_arm64.deb "
                        "anywhere."),
    ("memory", "aarch64-wrs-linux-g++: fatal error: Killed signal terminated program cc1plus"),
    ("another-bitbake", "ERROR: Only one copy of bitbake should be run against a build directory"),
    ("nothing-provides", "ERROR: Nothing PROVIDES 'libvisionworks-foo'"),
    ("fetch", "ERROR: tini-0.18.0-r0 do_fetch: Fetcher failure for URL: 'git://github.com/krallin/tini.git'."),
]


@pytest.mark.parametrize("hid,text", CASES)
def test_known_causes(hid, text):
    hint = find_hint(text.splitlines())
    assert hint is not None and hint.id == hid, (hid, hint)
    assert hint.text and hint.title


def test_unknown_failure_has_no_hint():
    assert find_hint(["ERROR: foo-1.0-r0 do_compile: oe_runmake failed", "src.c:1: error: expected ';'"]) is None
    assert find_hint([]) is None


def test_hint_from_a_task_log_tail_and_the_detail_line():
    s = parse_text("NOTE: recipe cuda-samples-10.0-r0: task do_compile: Failed\n"
                   "ERROR: Task (/l/cuda-samples_10.0.bb:do_compile) failed with exit code '1'\n", exit_code=1)
    assert hint_for_summary(s) is None
    tail = ["#error -- unsupported GNU version! gcc versions later than 7 are not supported!"]
    h = hint_for_summary(s, tail)
    assert h.id == "cuda-gcc" and h.step == "localconf"
    assert failure_detail(s) == "cuda-samples-10.0-r0 do_compile failed"
    assert failure_detail(parse_text("Keyboard Interrupt, closing down...\n", exit_code=1)) == "stopped before the end"
    assert failure_detail(parse_text("Please use a locale setting which supports UTF-8\n", exit_code=1)) == \
        "No UTF-8 locale"


def test_hint_figures_come_from_the_profile():
    from wizard.core.profile import load_profile

    profile = load_profile()
    text = find_hint(["No space left on device"], profile).text
    assert f"about {profile.host['recommended_disk_gb']} GB" in text
    py = find_hint(["ModuleNotFoundError: No module named 'imp'"], profile).text
    assert f"older than {profile.host['bitbake_python_max_exclusive']}" in py
