"""`--demo` picks up the last demo sandbox it made (and says so); `--demo --new` starts over."""

from __future__ import annotations

import argparse
import shutil

from wizard.demo import sandbox
from wizard.demo.launch import _demo_root


def _args(**kw) -> argparse.Namespace:
    return argparse.Namespace(**{"demo_dir": None, "new": False, **kw})


def test_demo_resumes_the_last_sandbox_and_new_starts_over(tmp_path):
    made = []
    try:
        first, resumed = _demo_root(_args())
        made.append(first)
        assert not resumed
        # nothing built there yet (the demo was stopped before the sandbox was made): start a new one
        again, resumed = _demo_root(_args())
        made.append(again)
        assert not resumed and again != first
        sb = sandbox.build(again, use_loop=False, board=False)
        sb.close()
        resumed_root, resumed = _demo_root(_args())
        assert resumed and resumed_root == again
        fresh, resumed = _demo_root(_args(new=True))
        made.append(fresh)
        assert not resumed and fresh != again
        # and --new becomes the one the next --demo resumes once it holds a sandbox
        sandbox.build(fresh, use_loop=False, board=False).close()
        assert _demo_root(_args()) == (fresh, True)
    finally:
        for root in made:
            shutil.rmtree(root, ignore_errors=True)


def test_demo_dir_is_used_as_given(tmp_path):
    root, resumed = _demo_root(_args(demo_dir=str(tmp_path / "mine")))
    assert root == tmp_path / "mine" and not resumed


def test_banner_says_resumed_and_puts_the_deciding_words_first(tmp_path):
    sb = sandbox.build(tmp_path / "sb", use_loop=False, board=False)
    try:
        assert sb.banner().startswith("DEMO: no real disk is touched.")
        assert "Resumed" not in sb.banner()
        sb.resumed = True
        assert "Resumed where the last demo stopped" in sb.banner() and "wrnv-wizard --demo --new" in sb.banner()
    finally:
        sb.close()


async def test_welcome_says_the_demo_was_resumed(session):
    from screens.app import WizardApp

    session.resumed_demo = True
    app = WizardApp(session, start_at="welcome")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()     # Welcome's body comes right after its frame (start-up)
        assert "wrnv-wizard --demo --new" in str(app.screen.query_one("#welcome-resumed").render())
    session.resumed_demo = False
    app = WizardApp(session, start_at="welcome")
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        assert app.screen.query("#welcome-text") and not app.screen.query("#welcome-resumed")
