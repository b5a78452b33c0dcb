"""Per-card options written into a real GPT + ext4 card image with debugfs, as a file and on loop devices."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import pytest
from cardimage import APP_START, SECTOR, debugfs, fsck_clean, make_card_image, stat_of

from wizard.card import customise as cz
from wizard.card.customise import (
    CardOptions,
    CustomiseError,
    customise_card,
    expand_hostnames,
    load_public_key,
)
from wizard.card.gpt import GptError, find_partition, read_partitions

pytestmark = pytest.mark.skipif(shutil.which("debugfs") is None or shutil.which("sgdisk") is None,
                                reason="needs e2fsprogs and gdisk")


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


@pytest.fixture(scope="module")
def keypair(tmp_path_factory):
    d = tmp_path_factory.mktemp("key")
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "desk@lab", "-f", str(d / "id")],
                   check=True)
    return d / "id", d / "id.pub"


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    d = tmp_path_factory.mktemp("img")
    return make_card_image(d / "card.img", d)


@pytest.fixture
def card(pristine, tmp_path):
    dst = tmp_path / "card.img"
    shutil.copyfile(pristine, dst)
    return dst


# ------------------------------------------------------------------ options

def test_hostname_pattern_numbers_cards_in_order():
    assert expand_hostnames("jetson-{n:02}", 3) == ["jetson-01", "jetson-02", "jetson-03"]
    assert expand_hostnames("lab{n}", 2, start=9) == ["lab9", "lab10"]
    assert expand_hostnames("nano", 1) == ["nano"]
    assert expand_hostnames("nano-{n}.lab", 1) == ["nano-1.lab"]
    # Names boards of the project already have are skipped (a desk session's next batch); a fixed name is
    # what the user asked for, taken or not.
    assert expand_hostnames("jetson-{n:02}", 3, taken={"jetson-01", "jetson-03"}) == \
        ["jetson-02", "jetson-04", "jetson-05"]
    assert expand_hostnames("nano", 1, taken={"nano"}) == ["nano"]


@pytest.mark.parametrize("pattern", [
    "jetson_{n}", "-jetson{n}", "jetson{n}-", "jetson {n}", "{m}", "{}", "{0}", "{n!r}", "{n.real}",
    "{n:>5}", "{n", "a" * 64 + "{n}", "jetson-{n}..lab", "nano",
])
def test_bad_hostname_pattern_is_one_clear_line(pattern):
    with pytest.raises(CustomiseError) as e:
        expand_hostnames(pattern, 2)
    msg = str(e.value)
    assert "\n" not in msg and ("host name" in msg or "host-name pattern" in msg)


def test_public_key_accepted_and_private_key_refused(keypair, tmp_path):
    priv, pub = keypair
    text = load_public_key(pub)
    assert text.startswith("ssh-ed25519 AAAA") and text.endswith("desk@lab\n")
    with pytest.raises(CustomiseError, match="private key") as e:
        load_public_key(priv)
    assert "\n" not in str(e.value) and "BEGIN" not in str(e.value)
    pem = tmp_path / "rsa.pem"
    pem.write_text("-----BEGIN RSA PRIVATE KEY-----\nMIIB\n-----END RSA PRIVATE KEY-----\n")
    with pytest.raises(CustomiseError, match="private key"):
        load_public_key(pem)


@pytest.mark.parametrize("content", [
    "hello world\n", "", "ssh-ed25519 not-base64!!\n", "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIA==\n",
    "ssh-ed25519\n",
])
def test_not_a_public_key_is_refused(tmp_path, content):
    f = tmp_path / "k.pub"
    f.write_text(content)
    with pytest.raises(CustomiseError) as e:
        load_public_key(f)
    assert "\n" not in str(e.value)


def test_missing_key_file_is_one_line(tmp_path):
    with pytest.raises(CustomiseError, match="cannot read the SSH key"):
        load_public_key(tmp_path / "nope.pub")


def test_turning_off_empty_password_login_needs_a_key():
    with pytest.raises(CustomiseError, match="needs an SSH key"):
        CardOptions(no_empty_password_ssh=True)


def test_hosts_line_added_or_replaced_rest_kept():
    base = "127.0.0.1\tlocalhost\n\n::1 localhost\n"
    assert cz.hosts_with(base, "j1") == "127.0.0.1\tlocalhost\n127.0.1.1\tj1\n\n::1 localhost\n"
    old = "127.0.0.1 localhost\n127.0.1.1 old old.lab\n# keep me\n127.0.1.1 again\n"
    assert cz.hosts_with(old, "j2") == "127.0.0.1 localhost\n127.0.1.1\tj2\n# keep me\n"
    assert cz.hosts_with(None, "j3") == "127.0.0.1\tlocalhost\n127.0.1.1\tj3\n"


def test_sshd_setting_turned_off_where_sshd_reads_it():
    assert cz.effective_setting("#PermitEmptyPasswords no\n", "PermitEmptyPasswords") == ""
    out = cz.sshd_without_empty_passwords("Port 22\n#PermitEmptyPasswords no\nMatch User x\n  X11Forwarding no\n")
    assert cz.effective_setting(out, "PermitEmptyPasswords") == "PermitEmptyPasswords no"
    out = cz.sshd_without_empty_passwords("Port 22\nMatch User x\n  PermitEmptyPasswords yes\n")
    assert out == "Port 22\nMatch User x\n  PermitEmptyPasswords no\n"
    assert "PermitEmptyPasswords no" in out.splitlines()[2]
    out = cz.sshd_without_empty_passwords("Port 22\nMatch all\n")
    assert out.splitlines()[1] == "PermitEmptyPasswords no"


# ------------------------------------------------------------------ partition table

def test_gpt_read_matches_sgdisk(card):
    parts = read_partitions(card)
    assert [(p.number, p.name) for p in parts] == [(1, "RP1"), (2, "APP")]
    app = find_partition(card, "APP")
    assert app.offset == APP_START * SECTOR
    out = subprocess.run(["sgdisk", "-i", "2", str(card)], capture_output=True, text=True, check=True).stdout
    assert f"First sector: {APP_START} " in out and "'APP'" in out
    assert f"Last sector: {app.last_lba} " in out


def test_damaged_gpt_is_refused(card):
    with open(card, "r+b") as f:
        f.seek(SECTOR * 2 + 56)  # inside entry 1's name
        f.write(b"X")
    with pytest.raises(GptError, match="damaged"):
        read_partitions(card)


# ------------------------------------------------------------------ customising a real image

def _full_options(pub, name="jetson-01"):
    return CardOptions(hostname=name, ssh_key=load_public_key(pub), no_empty_password_ssh=True)


def test_customise_image_file_and_read_back(card, keypair):
    _priv, pub = keypair
    r = customise_card(card, _full_options(pub), partition_name="APP")
    assert r.verified and r.route == "patch" and r.partition_number == 2 and r.card_read_back
    assert r.keys_added == 1
    assert r.sshd_files == ("/etc/ssh/sshd_config",)
    assert r.sshd_before == (("/etc/ssh/sshd_config", "PermitEmptyPasswords yes"),)
    assert r.empty_root_password is True
    assert debugfs(card, "cat /etc/hostname") == "jetson-01\n"
    hosts = debugfs(card, "cat /etc/hosts")
    assert "127.0.1.1\tjetson-01" in hosts.splitlines()
    assert "::1     localhost ip6-localhost ip6-loopback" in hosts and "fe00::0 ip6-localnet" in hosts
    assert debugfs(card, "cat /root/.ssh/authorized_keys") == pub.read_text()
    assert stat_of(card, "/root/.ssh") == ("directory", 0o700, 0, 0)
    assert stat_of(card, "/root/.ssh/authorized_keys") == ("regular", 0o600, 0, 0)
    assert stat_of(card, "/etc/hostname") == ("regular", 0o644, 0, 0)
    sshd = debugfs(card, "cat /etc/ssh/sshd_config")
    assert "PermitEmptyPasswords no" in sshd.splitlines() and "PermitEmptyPasswords yes" not in sshd
    assert "PermitRootLogin yes" in sshd.splitlines()  # key login for root must keep working
    assert stat_of(card, "/etc/shadow")[1] == 0o400  # untouched
    assert "root::" in debugfs(card, "cat /etc/shadow")
    assert debugfs(card, "ls /etc").count(".wrnv-new") == 0
    assert fsck_clean(card)
    assert "authorized_keys" in r.how and "read back from the card" in r.how
    assert 0 < r.blocks <= 64 and r.patch_bytes == r.blocks * 1024  # this small file system has 1 KiB blocks


def test_customising_twice_does_not_duplicate_the_key(card, keypair):
    _priv, pub = keypair
    customise_card(card, _full_options(pub), partition_name="APP")
    r = customise_card(card, _full_options(pub, "jetson-07"), partition_name="APP")
    assert r.keys_added == 0 and r.verified
    assert debugfs(card, "cat /root/.ssh/authorized_keys").count("ssh-ed25519") == 1
    assert debugfs(card, "cat /etc/hosts").count("127.0.1.1") == 1
    assert debugfs(card, "cat /etc/hostname") == "jetson-07\n"
    assert fsck_clean(card)


def test_missing_root_folder_is_created_root_only(tmp_path, keypair):
    img = make_card_image(tmp_path / "noroot.img", tmp_path, root_dir=False)
    r = customise_card(img, CardOptions(ssh_key=load_public_key(keypair[1])), partition_name="APP")
    assert r.verified
    assert stat_of(img, "/root") == ("directory", 0o700, 0, 0)
    assert stat_of(img, "/root/.ssh/authorized_keys") == ("regular", 0o600, 0, 0)
    assert fsck_clean(img)


def test_three_loop_devices_get_their_own_names(pristine, tmp_path, loops, keypair):
    names = expand_hostnames("jetson-{n:02}", 3)
    devs = []
    for i in range(3):
        backing = tmp_path / f"card{i}.img"
        shutil.copyfile(pristine, backing)
        devs.append(loops.attach(backing))
    results = [customise_card(dev, _full_options(keypair[1], name), partition_name="APP")
               for dev, name in zip(devs, names)]
    for dev, name, r in zip(devs, names, results):
        assert r.target == dev and r.verified and r.hostname == name
        assert debugfs(dev, "cat /etc/hostname") == f"{name}\n"
        assert f"127.0.1.1\t{name}" in debugfs(dev, "cat /etc/hosts").splitlines()
        assert stat_of(dev, "/root/.ssh/authorized_keys") == ("regular", 0o600, 0, 0)
        assert fsck_clean(dev)


# ------------------------------------------------------------------ refusals change nothing

def _refused(target, options, match, **kw):
    before = sha(target)
    with pytest.raises(CustomiseError, match=match) as e:
        customise_card(target, options, partition_name=kw.pop("partition_name", "APP"), **kw)
    assert "\n" not in str(e.value) and "nothing was changed" in str(e.value)
    assert sha(target) == before


def test_missing_app_partition_changes_nothing(tmp_path, keypair):
    img = make_card_image(tmp_path / "root.img", tmp_path, app_name="ROOT")
    _refused(img, _full_options(keypair[1]), "no partition named APP .*RP1, ROOT")


def test_non_ext4_app_changes_nothing(tmp_path, keypair):
    img = make_card_image(tmp_path / "swap.img", tmp_path, app_fs="swap")
    _refused(img, _full_options(keypair[1]), "does not hold an ext4 file system")


def test_no_gpt_changes_nothing(tmp_path):
    img = tmp_path / "blank.img"
    img.write_bytes(bytes(1 << 20))
    _refused(img, CardOptions(hostname="x"), "no GPT partition table")


def test_journal_needing_recovery_changes_nothing(card):
    with open(card, "r+b") as f:  # set EXT4_FEATURE_INCOMPAT_RECOVER, as a card unplugged while mounted has
        f.seek(APP_START * SECTOR + 1024 + 0x60)
        v = int.from_bytes(f.read(4), "little") | 0x4
        f.seek(-4, 1)
        f.write(v.to_bytes(4, "little"))
    _refused(card, CardOptions(hostname="x"), "unfinished journal")


def test_image_without_openssh_refuses_to_turn_off_login(tmp_path, keypair):
    img = make_card_image(tmp_path / "nosshd.img", tmp_path, sshd=False)
    _refused(img, _full_options(keypair[1]), "no /etc/ssh/sshd_config")


def test_hostname_pattern_checked_before_any_card(card):
    before = sha(card)
    with pytest.raises(CustomiseError):
        CardOptions(hostname="bad_name")
    assert sha(card) == before



def test_profile_names_the_root_partition_as_unverified(tmp_path):
    from wizard.core.profile import load_profile
    assert cz.root_partition(load_profile()) == ("APP", False)

    class NoKey:
        sdcard = {"image_size_bytes": 1}
    with pytest.raises(CustomiseError, match="sdcard.root_partition"):
        cz.root_partition(NoKey())


def test_customise_a_card_held_exclusively_changes_only_its_blocks(card, loops):
    """customise_card on a loop device holds it O_EXCL; only the planned blocks differ afterwards, all inside
    the APP partition."""
    before = card.read_bytes()
    dev = loops.attach(card)
    r = customise_card(dev, CardOptions(hostname="held-card"), partition_name="APP")
    assert r.verified and debugfs(dev, "cat /etc/hostname") == "held-card\n"
    subprocess.run(["losetup", "-d", dev], check=True)
    loops.devs.remove(dev)
    after = card.read_bytes()
    diff = [i for i in range(0, len(after), 1024) if after[i:i + 1024] != before[i:i + 1024]]
    assert diff and len(diff) <= r.blocks
    app = find_partition(card, "APP")
    assert all(app.offset <= i < app.offset + app.size for i in diff)


def test_without_debugfs_one_line_and_nothing_changed(card, tmp_path, monkeypatch):
    bare = tmp_path / "bin"
    bare.mkdir()
    monkeypatch.setenv("PATH", str(bare))
    monkeypatch.setattr(cz, "_SBIN", str(bare))     # not in sbin either
    _refused(card, CardOptions(hostname="x"), "install e2fsprogs")


def test_key_text_is_checked_even_when_not_from_a_file():
    with pytest.raises(CustomiseError, match="not a public key"):
        CardOptions(ssh_key="-----BEGIN OPENSSH PRIVATE KEY-----\n")


def test_other_bytes_in_hosts_survive(tmp_path):
    """A hosts file with a Latin-1 comment: our line is added, every other byte stays as it was."""
    img = make_card_image(tmp_path / "latin.img", tmp_path)
    odd = b"127.0.0.1 localhost\n# caf\xe9 printer\n10.0.0.9 printer\n"
    src = tmp_path / "hosts"
    src.write_bytes(odd)
    subprocess.run(["debugfs", "-w", "-R", "rm /etc/hosts", f"{img}?offset={APP_START * SECTOR}"],
                   capture_output=True, check=True)
    subprocess.run(["debugfs", "-w", "-R", f"write {src} /etc/hosts", f"{img}?offset={APP_START * SECTOR}"],
                   capture_output=True, check=True)
    r = customise_card(img, CardOptions(hostname="jetson-05"), partition_name="APP")
    assert r.verified
    got = subprocess.run(["debugfs", "-R", "cat /etc/hosts", f"{img}?offset={APP_START * SECTOR}"],
                         capture_output=True, check=True).stdout
    assert got == b"127.0.0.1 localhost\n127.0.1.1\tjetson-05\n# caf\xe9 printer\n10.0.0.9 printer\n"


def test_card_with_4k_sectors(tmp_path, loops):
    """A reader that reports 4096-byte sectors: the GPT's LBAs count 4 KiB, and the offset must follow."""
    backing = tmp_path / "4k.img"
    subprocess.run(["truncate", "-s", str(16 << 20), str(backing)], check=True)
    out = subprocess.run(["losetup", "-f", "--show", "--sector-size", "4096", str(backing)], capture_output=True,
                         text=True)
    if out.returncode != 0:
        pytest.skip("this losetup cannot make 4096-byte sectors")
    dev = out.stdout.strip()
    loops.devs.append(dev)
    subprocess.run(["sgdisk", "-n", "1:256:511", "-c", "1:RP1", "-n", "2:512:3583", "-c", "2:APP", dev],
                   check=True, capture_output=True)
    app = find_partition(dev, "APP")
    assert (app.sector_size, app.offset) == (4096, 512 * 4096)
    root = tmp_path / "root"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text("old\n")
    part = tmp_path / "app.ext4"
    subprocess.run(["truncate", "-s", str(app.size), str(part)], check=True)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-d", str(root), str(part)], check=True)
    subprocess.run(["dd", f"if={part}", f"of={dev}", "bs=4096", "seek=512", "conv=notrunc,fsync", "status=none"],
                   check=True)
    r = customise_card(dev, CardOptions(hostname="four-k"), partition_name="APP")
    assert r.verified and r.offset == 512 * 4096
    got = subprocess.run(["debugfs", "-R", "cat /etc/hostname", f"{dev}?offset={512 * 4096}"],
                         capture_output=True, text=True, check=True).stdout
    assert got == "four-k\n"


def test_options_for_cards_checked_up_front_with_usage_exit(keypair):
    priv, pub = keypair
    opts = cz.options_for_cards(3, hostname_pattern="jetson-{n:02}", ssh_key_file=pub, no_empty_password_ssh=True)
    assert [o.hostname for o in opts] == ["jetson-01", "jetson-02", "jetson-03"]
    assert all(o.ssh_key == pub.read_text() and o.no_empty_password_ssh for o in opts)
    assert all(o.empty for o in cz.options_for_cards(2))
    for kw in ({"hostname_pattern": "jetson"}, {"ssh_key_file": priv}, {"no_empty_password_ssh": True}):
        with pytest.raises(cz.CardOptionError) as e:
            cz.options_for_cards(2, **kw)
        assert e.value.exit_code == 2  # wrong command line, like argparse


def test_card_problems_exit_1(tmp_path):
    img = tmp_path / "blank.img"
    img.write_bytes(bytes(1 << 20))
    with pytest.raises(CustomiseError) as e:
        customise_card(img, CardOptions(hostname="x"), partition_name="APP")
    assert e.value.exit_code == 1 and not isinstance(e.value, cz.CardOptionError)
