"""`wrnv-wizard verify IMAGE --target DEV [--full] [--json]`: check a card again, at any time.

Why: a card that was fine when written can fail later (fake capacity, worn flash), and a card written by
another tool is worth checking too. Every data range of the image is read back and compared; the image's
empty ranges must read as zeros: sampled (64 blocks) by default, every byte with --full, which costs a read
of the whole image size at the card's read speed. Nothing is written. The card is opened the same way as for
writing (udisks2, the helper through sudo, or the wizard itself), read-only. Exit 0 when the card holds the
image, 1 when it does not (or cannot be read), 130 when interrupted.
"""

from __future__ import annotations

import argparse
import json
import sys

HELP = "check that a card (or file) still holds the image: read it back and compare"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("image", metavar="IMAGE", help="the .sdcard image the card was written with")
    p.add_argument("--target", metavar="DEV", required=True, help="the card, e.g. /dev/sdb (or a file)")
    p.add_argument("--full", action="store_true",
                   help="also read every empty range of the image (must read as zeros): a read of the whole "
                        "image size at the card's read speed")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--allow-non-removable", action="store_true",
                   help="also allow loop devices and internal disks (never system or mounted ones)")


def run(args) -> int:
    from wizard.card import elevate
    from wizard.card.target import resolve
    from wizard.card.writer import WriteError, check_image, sigint_cancels
    from wizard.core.progress import line_printer

    info = check_image(args.image)
    real, kind = resolve(args.target)
    if kind == "new":
        raise WriteError(f"{args.target} does not exist", "Nothing was changed.")
    if elevate.needs_helper(real):
        elevate.authenticate(real, write=False)     # a verify only reads: ask for no more than that
    if not args.json:                               # said once polkit/sudo agreed, so it is true
        print(f"{args.target}: {elevate.path_words(real)}", file=sys.stderr)
    tty = sys.stderr.isatty() and not args.json
    show = line_printer(tty) if not args.json else None
    try:
        with sigint_cancels() as cancel:
            result = elevate.verify_card(info.path, real, full=args.full,
                                         allow_non_removable=args.allow_non_removable, progress=show,
                                         cancel=cancel)
    except WriteError as e:
        if args.json:
            print(json.dumps({"ok": False, "target": args.target, "problem": e.problem}))
        raise
    finally:
        if tty:
            print(file=sys.stderr)
    if args.json:
        print(json.dumps({"ok": True, **result.to_json()}))
    else:
        print(result.summary())
    return 0
