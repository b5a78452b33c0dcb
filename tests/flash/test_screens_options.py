"""Pilot tests at 80x24: each card its own board from the Write the card step. Real loop devices as cards, a
real GPT image with an ext4 APP partition (cardimage.py); what each card got is read back from the card with
`debugfs -R cat` at the partition's offset, not from what the screen says."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from cardimage import debugfs, fsck_clean, make_card_image
from flashkit import MiB, fill
from wrnvtest import wait_until

from screens.app import WizardApp
from screens.flash import FlashScreen
from screens.flash_confirm import TypedConfirmScreen
from screens.flash_confirm_many import ManyConfirmScreen
from screens.flash_options import PerCard
from screens.flash_options_dialog import CardOptionsScreen
from wizard.core.steps import Status

SIZE = (80, 24)


@pytest.fixture
def writable_loops(monkeypatch):
    monkeypatch.setattr(FlashScreen, "ALLOW_NON_REMOVABLE", True)


@pytest.fixture
def pubkey(tmp_path):
    """A real key pair made by ssh-keygen; the test gives the .pub file."""
    key = tmp_path / "keys" / "id_ed25519"
    key.parent.mkdir()
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "desk@test", "-f", str(key)], check=True)
    return Path(f"{key}.pub")


def _image(tmp_path) -> Path:
    return make_card_image(tmp_path / "jetson.sdcard", tmp_path)


def _cards(tmp_path, loops, n: int, prefix: str = "card") -> list:
    return [loops.attach(fill(tmp_path / f"{prefix}{i}", 16 * MiB)) for i in range(n)]


def _name(dev: str) -> str:
    return dev.rsplit("/", 1)[-1]


def _untouched(dev: str) -> bool:
    with open(dev, "rb") as f:
        return f.read(MiB) == b"\xa5" * MiB


async def _mark(pilot, table, dev):
    table.move_cursor(row=table.get_row_index(dev))
    await pilot.press("space")
    await pilot.pause()


async def _set_options(pilot, app, pattern: str, key: Path | None, no_empty: bool = False):
    """Through the dialog, with the keyboard: ctrl+o, type the pattern, Tab, type the key's path, Enter."""
    await pilot.press("ctrl+o")
    await wait_until(pilot, lambda: isinstance(app.screen, CardOptionsScreen))
    dialog = app.screen
    assert dialog.focused.id == "opt-pattern"
    await pilot.press(*pattern, "tab")
    if key is not None:
        await pilot.press(*str(key))
        await pilot.pause()
        assert dialog.query_one("#opt-no-empty").display      # offered once a key is given
        if no_empty:
            dialog.query_one("#opt-no-empty").value = True
    await pilot.pause()
    return dialog


async def test_three_cards_get_their_own_names_and_the_key(session, tmp_path, loops, writable_loops, pubkey):
    img = _image(tmp_path)
    cards = _cards(tmp_path, loops, 3)
    spare = loops.attach(fill(tmp_path / "spare", 16 * MiB))
    order = [cards[2], cards[0], cards[1]]          # picked in this order: lab-01 is cards[2]
    names = [_name(d) for d in order]
    session.mark("image", Status.DONE, "made", path=str(img))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        table = screen.query_one("#flash-disks")
        await wait_until(pilot, lambda: all(d in table._rows for d in cards + [spare]))
        table.focus()
        for dev in order:
            await _mark(pilot, table, dev)
        dialog = await _set_options(pilot, app, "lab-{n:02}", pubkey, no_empty=True)
        preview = str(dialog.query_one("#opt-preview").render())
        assert preview == "Names: " + ", ".join(f"{n} → lab-{i:02}" for i, n in enumerate(names, 1)), preview
        assert "1 public key(s) (ssh-ed25519)" in str(dialog.query_one("#opt-key-status").render())
        await pilot.press("enter")                   # Enter in the key box: use these
        await wait_until(pilot, lambda: not isinstance(app.screen, CardOptionsScreen))
        assert screen.per_card == PerCard("lab-{n:02}", str(pubkey), True)
        line = screen.query_one("#flash-options").text()
        assert line.startswith(f"{names[0]}→lab-01, {names[1]}→lab-02"), line

        table.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, ManyConfirmScreen))
        modal = app.screen
        shown = [str(s.render()) for s in modal.query(".many-card")]
        for i, n in enumerate(names, 1):             # each card's host name next to its device name
            assert any(s.startswith(f"{n} → lab-{i:02}: ") for s in shown), shown
        assert "your SSH key for root, no password-less root login over SSH" in str(
            modal.query_one("#many-also").render())
        await pilot.press(*f"3 {' '.join(names)}", "enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, ManyConfirmScreen))
        await wait_until(pilot, lambda: not screen.busy, timeout=240)
        lines = screen.query_one("#flash-cards")
        result = str(screen.query_one("#flash-result").render())
        assert "3 of 3 cards written and verified" in result, (result, [lines.text(d) for d in order])
        for i, dev in enumerate(order, 1):
            text = lines.text(dev)
            assert text.startswith(f"{_name(dev)} → lab-{i:02}: written and verified"), text
            assert "host name, key and SSH login setting written and read back" in text, text
        # where the report is, said in the step; and it is there
        reports = sorted(Path(session.project).glob("flash-report-*.json"))
        assert len(reports) == 1 and str(reports[0]) in result, (reports, result)
        # the table, each card's line and the next action stay on screen at 80x24
        for widget in (table, lines, screen.query_one("#flash-result"), screen.query_one("#nav-next")):
            assert widget.region.height > 0 and widget.region.bottom <= SIZE[1], (widget, widget.region)
        assert table.region.height >= 5

    key = pubkey.read_text().split()[:2]
    for i, dev in enumerate(order, 1):
        assert debugfs(dev, "cat /etc/hostname") == f"lab-{i:02}\n"
        assert f"127.0.1.1\tlab-{i:02}" in debugfs(dev, "cat /etc/hosts")
        assert debugfs(dev, "cat /root/.ssh/authorized_keys").split()[:2] == key
        assert "\nPermitEmptyPasswords no\n" in debugfs(dev, "cat /etc/ssh/sshd_config")
        assert fsck_clean(dev)
    assert _untouched(spare)
    data = json.loads(reports[0].read_text())
    assert [(c["device"], c["hostname"], c["verified"]) for c in data["cards"]] == \
        [(d, f"lab-{i:02}", True) for i, d in enumerate(order, 1)]
    assert data["totals"]["ok"] == 3
    # the engine recorded the step with every card's host name, and the Summary lists them
    from wizard.core.summary import build_summary

    rec = session.step_state("flash")
    assert rec.status is Status.DONE
    card = dict(build_summary(session).card)
    for i, dev in enumerate(order, 1):
        assert f"host name lab-{i:02}" in card[f"Card {i} ({dev})"], card


async def test_bad_pattern_or_key_is_one_line_and_nothing_is_written(session, tmp_path, loops, writable_loops,
                                                                    pubkey):
    img = _image(tmp_path)
    cards = _cards(tmp_path, loops, 2)
    session.mark("image", Status.DONE, "made", path=str(img))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        table = screen.query_one("#flash-disks")
        await wait_until(pilot, lambda: all(d in table._rows for d in cards))
        table.focus()
        for dev in cards:
            await _mark(pilot, table, dev)
        # In the dialog: a pattern that gives both cards one name, then a private key: one line each, and
        # "Use these" stays disabled.
        dialog = await _set_options(pilot, app, "lab", None)
        preview = str(dialog.query_one("#opt-preview").render())
        assert "gives every card the same name" in preview and "\n" not in preview.strip(), preview
        assert dialog.query_one("#opt-ok").disabled
        private = pubkey.with_suffix("")
        dialog.query_one("#opt-key").value = str(private)
        await pilot.pause()
        status = str(dialog.query_one("#opt-key-status").render())
        assert "is a private key; give the public key instead" in status, status
        assert "OPENSSH" not in status and not dialog.query_one("#opt-no-empty").display
        await pilot.press("enter")                  # Enter with bad values: still here
        await pilot.pause()
        assert app.screen is dialog
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, CardOptionsScreen))
        assert screen.per_card.empty               # cancelled: nothing chosen

        # Chosen earlier and wrong by the time the cards are picked (the key file was removed): one line in the
        # step, no confirmation, nothing written.
        gone = tmp_path / "gone.pub"
        gone.write_text(pubkey.read_text())
        screen.per_card = PerCard("lab-{n}", str(gone))
        gone.unlink()
        table.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: screen.query_one("#step-note").display)
        note = str(screen.query_one("#step-note").render())
        assert f"cannot read the SSH key {gone}" in note and "nothing was written" in note, note
        assert note.count("\n") == 0 and not isinstance(app.screen, ManyConfirmScreen)
        # a pattern that does not number the cards, set directly: refused the same way
        screen.per_card = PerCard("lab-{x}")
        table.focus()
        await pilot.press("enter")
        await wait_until(pilot, lambda: "is not valid" in str(screen.query_one("#step-note").render()))
        assert not isinstance(app.screen, ManyConfirmScreen)
    assert session.status("flash") is Status.PENDING
    assert all(_untouched(d) for d in cards)


async def test_one_card_with_a_host_name_goes_through_the_same_path(session, tmp_path, loops, writable_loops):
    img = _image(tmp_path)
    (dev,) = _cards(tmp_path, loops, 1)
    session.mark("image", Status.DONE, "made", path=str(img))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        table = screen.query_one("#flash-disks")
        await wait_until(pilot, lambda: dev in table._rows)
        dialog = await _set_options(pilot, app, "jetson-{n:02}", None)
        assert str(dialog.query_one("#opt-preview").render()).startswith(
            "Cards, in the order you pick them: jetson-01, jetson-02")
        await pilot.press("tab", "enter")           # Enter in the (empty) key box: use these
        await wait_until(pilot, lambda: not isinstance(app.screen, CardOptionsScreen))
        table.focus()
        table.move_cursor(row=table.get_row_index(dev))
        await pilot.press("enter")
        await wait_until(pilot, lambda: isinstance(app.screen, TypedConfirmScreen))
        assert str(app.screen.query_one("#typed-becomes").render()) == "It becomes: host name jetson-01"
        await pilot.press(*_name(dev), "enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, TypedConfirmScreen))
        await wait_until(pilot, lambda: not screen.busy, timeout=120)
        text = screen.query_one("#flash-cards").text(dev)
        assert text.startswith(f"{_name(dev)} → jetson-01: written and verified"), text
        assert "host name written and read back" in text, text
        assert "Report: " in str(screen.query_one("#flash-result").render())
    assert debugfs(dev, "cat /etc/hostname") == "jetson-01\n"
    rec = session.step_state("flash")
    assert rec.status is Status.DONE and rec.data["cards"][0]["hostname"] == "jetson-01"


async def test_session_numbers_the_cards_as_they_are_inserted(session, tmp_path, loops, writable_loops, pubkey):
    """"Write every card I insert" with a pattern: the first card confirmed is n=1, the next n=2; a card left
    untouched uses no number; the session's report holds every card written, saved as each one finishes."""
    from test_screens_many import _asked_for

    img = _image(tmp_path)
    session.mark("image", Status.DONE, "made", path=str(img))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.pause(0.5)
        # a session needs a pattern that numbers the cards
        screen.per_card = PerCard("desk")
        screen.query_one("#flash-session").value = True
        await wait_until(pilot, lambda: "same name" in str(screen.query_one("#step-note").render()))
        assert not screen.busy and not screen.query_one("#flash-session").value
        screen.per_card = PerCard("desk-{n}", str(pubkey))
        screen.query_one("#flash-session").value = True
        await wait_until(pilot, lambda: screen.busy.startswith("writing every card"))
        assert "desk-1, desk-2, desk-3…" in screen.query_one("#flash-options").text()
        lines = screen.query_one("#flash-cards")

        first = loops.attach(fill(tmp_path / "first", 16 * MiB))
        asked = await _asked_for(pilot, app, first)
        assert "host name desk-1" in str(asked.query_one("#inserted-becomes").render())
        await pilot.press("w")
        await wait_until(pilot, lambda: "safe to remove" in lines.text(first) or "FAILED" in lines.text(first),
                         timeout=120)
        assert lines.text(first).startswith(f"{_name(first)} → desk-1: written and verified"), lines.text(first)

        skipped = loops.attach(fill(tmp_path / "skipped", 16 * MiB))
        asked = await _asked_for(pilot, app, skipped)
        assert "host name desk-2" in str(asked.query_one("#inserted-becomes").render())
        await pilot.press("n")
        await wait_until(pilot, lambda: "untouched" in lines.text(skipped))

        second = loops.attach(fill(tmp_path / "second", 16 * MiB))
        asked = await _asked_for(pilot, app, second)
        assert "host name desk-2" in str(asked.query_one("#inserted-becomes").render())
        await pilot.press("w")
        await wait_until(pilot, lambda: "safe to remove" in lines.text(second) or "FAILED" in lines.text(second),
                         timeout=120)
        assert lines.text(second).startswith(f"{_name(second)} → desk-2: written and verified"), lines.text(second)
        reports = sorted(Path(session.project).glob("flash-report-*.json"))
        assert len(reports) == 1                    # one report for the session, saved after each card
        mid = json.loads(reports[0].read_text())
        assert [c["hostname"] for c in mid["cards"]] == ["desk-1", "desk-2"]

        screen.query_one("#flash-session").value = False
        await wait_until(pilot, lambda: not screen.busy)
        result = str(screen.query_one("#flash-result").render())
        assert "2 card(s) written and verified, 0 failed" in result and str(reports[0]) in result, result
    rec = session.step_state("flash")               # the step keeps every card of the session, not the last
    assert rec.status is Status.DONE, (rec.status, rec.detail)
    assert [(c["device"], c["hostname"]) for c in rec.data["cards"]] == [(first, "desk-1"), (second, "desk-2")]
    assert debugfs(first, "cat /etc/hostname") == "desk-1\n"
    assert debugfs(second, "cat /etc/hostname") == "desk-2\n"
    assert debugfs(second, "cat /root/.ssh/authorized_keys").split()[:2] == pubkey.read_text().split()[:2]
    assert _untouched(skipped)


async def _write_marked(pilot, app, screen, table, devs) -> None:
    """Mark `devs`, Enter, type the count and names, and wait for the write to end."""
    table.focus()
    for dev in devs:
        await _mark(pilot, table, dev)
    await pilot.press("enter")
    await wait_until(pilot, lambda: isinstance(app.screen, ManyConfirmScreen))
    await pilot.press(*f"{len(devs)} {' '.join(_name(d) for d in devs)}", "enter")
    await wait_until(pilot, lambda: not isinstance(app.screen, ManyConfirmScreen))
    await wait_until(pilot, lambda: not screen.busy, timeout=240)


async def test_a_desk_session_in_batches_never_gives_a_name_twice(session, tmp_path, loops, writable_loops):
    """Two cards, then two more with the same pattern: the second batch goes on at desk-03 (not desk-01 again),
    the step keeps all four boards (Boot & check looks each up), and the dialog says which names are taken.
    A failed card's name is free again: the next card gets it."""
    from wizard.board.cards import card_boards

    img = _image(tmp_path)
    first, second = _cards(tmp_path, loops, 2, "a"), _cards(tmp_path, loops, 2, "b")
    session.mark("image", Status.DONE, "made", path=str(img))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        table = screen.query_one("#flash-disks")
        await wait_until(pilot, lambda: all(d in table._rows for d in first + second))
        await _set_options(pilot, app, "desk-{n:02}", None)
        await pilot.press("tab", "enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, CardOptionsScreen))
        await _write_marked(pilot, app, screen, table, first)
        assert "2 of 2 cards written and verified" in str(screen.query_one("#flash-result").render())

        table.focus()
        for dev in second:
            await _mark(pilot, table, dev)
        line = screen.query_one("#flash-options").text()
        assert line.startswith(f"{_name(second[0])}→desk-03, {_name(second[1])}→desk-04"), line
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, CardOptionsScreen))
        preview = str(app.screen.query_one("#opt-preview").render())
        assert preview.endswith("(already boards in this project: desk-01, desk-02)"), preview
        await pilot.press("escape")
        await wait_until(pilot, lambda: not isinstance(app.screen, CardOptionsScreen))
        for dev in second:                          # unmark: _write_marked marks them again
            await _mark(pilot, table, dev)
        await _write_marked(pilot, app, screen, table, second)
        lines = screen.query_one("#flash-cards")
        for n, dev in enumerate(second, 3):
            assert lines.text(dev).startswith(f"{_name(dev)} → desk-{n:02}: written and verified"), lines.text(dev)
    for n, dev in enumerate(first + second, 1):
        assert debugfs(dev, "cat /etc/hostname") == f"desk-{n:02}\n"
    rec = session.step_state("flash")
    assert [c["hostname"] for c in rec.data["cards"]] == ["desk-01", "desk-02", "desk-03", "desk-04"]
    assert rec.status is Status.DONE and rec.detail == ("2 cards written and verified (2 more written earlier: "
                                                        "desk-01, desk-02)"), rec.detail
    assert [b.hostname for b in card_boards(session)] == ["desk-01", "desk-02", "desk-03", "desk-04"]

    # desk-02's card failed when written again: it is no board now, so the next card gets its name.
    from wizard.card.fanout import CardJob, CardOutcome, record_step
    from wizard.card.writer import WriteOptions, check_image

    bad = CardOutcome(CardJob(target=first[1], name=_name(first[1]), identity={}, route="in-process",
                              options=WriteOptions(), card_options=PerCard("desk-02").options(1)[0]),
                      error="I/O error")
    with session.step_run("flash", "writing 1 card") as step:
        record_step(step, check_image(img), [bad], False)
    assert [b.hostname for b in card_boards(session)] == ["desk-01", "desk-03", "desk-04"]
    assert PerCard("desk-{n:02}").names(2, frozenset(b.hostname for b in card_boards(session))) == \
        ["desk-02", "desk-05"]


async def test_the_options_are_kept_when_the_wizard_is_reopened(session, tmp_path, pubkey):
    """Chosen in the dialog, saved in the project's answers: a reopened wizard goes on with the same pattern,
    key and setting (and, with the boards already written, the next numbers)."""
    from wizard.core.session import Session

    session.mark("image", Status.DONE, "made", path=str(_image(tmp_path)))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        await _set_options(pilot, app, "desk-{n:02}", pubkey, no_empty=True)
        await pilot.press("enter")
        await wait_until(pilot, lambda: not isinstance(app.screen, CardOptionsScreen))
    again = Session.open(session.project)
    a = again.answers
    assert (a.card_hostname_pattern, a.card_ssh_key, a.card_no_empty_password_ssh) == \
        ("desk-{n:02}", str(pubkey), True)
    again.mark("flash", Status.DONE, "2 cards written and verified",
               cards=[{"device": "/dev/x", "hostname": h, "error": None} for h in ("desk-01", "desk-02")])
    app = WizardApp(again, start_at="flash")
    async with app.run_test(size=SIZE) as pilot:
        await pilot.pause()
        screen = app.screen
        assert screen.per_card == PerCard("desk-{n:02}", str(pubkey), True)
        line = screen.query_one("#flash-options").text()
        assert "desk-03, desk-04" in line and "no password-less SSH" in line, line


async def test_a_file_target_gets_the_options_too(session, tmp_path, pubkey):
    """A VM's disk image as the target: the same options, read back from the file."""
    img = _image(tmp_path)
    target = tmp_path / "vm-disk.img"
    session.mark("image", Status.DONE, "made", path=str(img))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        screen.per_card = PerCard("vm-{n}", str(pubkey))
        screen.query_one("#flash-file").value = str(target)
        screen.query_one("#flash-to-file").press()
        await wait_until(pilot, lambda: bool(screen.busy))
        await wait_until(pilot, lambda: not screen.busy, timeout=120)
        text = screen.query_one("#flash-cards").text(str(target))
        assert text.startswith("vm-disk.img → vm-1: written and verified"), text
        assert "host name and key written and read back" in text, text
    assert debugfs(target, "cat /etc/hostname") == "vm-1\n"
    assert debugfs(target, "cat /root/.ssh/authorized_keys").split()[:2] == pubkey.read_text().split()[:2]


async def test_the_users_key_is_offered_not_chosen(session, tmp_path, pubkey, monkeypatch):
    """With ~/.ssh/id_ed25519.pub present the dialog offers it (a button); nothing is chosen until pressed."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    (home / ".ssh" / "id_ed25519.pub").write_text(pubkey.read_text())
    monkeypatch.setenv("HOME", str(home))
    app = WizardApp(session, start_at="flash")
    async with app.run_test(size=SIZE) as pilot:
        screen = app.screen
        await pilot.press("ctrl+o")
        await wait_until(pilot, lambda: isinstance(app.screen, CardOptionsScreen))
        dialog = app.screen
        assert dialog.query_one("#opt-key").value == ""
        assert str(dialog.query_one("#opt-suggest").label) == "Use ~/.ssh/id_ed25519.pub"
        dialog.query_one("#opt-suggest").press()
        await pilot.pause()
        assert dialog.query_one("#opt-key").value == "~/.ssh/id_ed25519.pub"
        assert "1 public key(s) (ssh-ed25519)" in str(dialog.query_one("#opt-key-status").render())
        dialog.query_one("#opt-ok").press()
        await wait_until(pilot, lambda: not isinstance(app.screen, CardOptionsScreen))
        assert screen.per_card == PerCard("", "~/.ssh/id_ed25519.pub", False)
        assert screen.query_one("#flash-options").text() == "key id_ed25519.pub"
