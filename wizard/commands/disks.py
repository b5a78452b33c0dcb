"""`wrnv-wizard disks`: which disks could receive the SD-card image, and why the others could not."""

from __future__ import annotations

import json

HELP = "list the disks that can receive the SD-card image (--all: also the refused ones, with why)"


def add_arguments(parser) -> None:
    parser.add_argument("--json", action="store_true", help='print {"disks": [...]} with every disk and its reasons')
    parser.add_argument("--all", action="store_true", help="also list the disks that are not offered, with why")
    parser.add_argument("--image", metavar="IMG", help="the image to be written (refuses disks too small for it, "
                                                       "and the disk holding it)")
    parser.add_argument("--allow-non-removable", action="store_true",
                        help="also offer loop devices and fixed disks (never ones in use, read-only or too small)")


def run(args) -> int:
    from wizard.card.disks import scan

    disks = scan(image=args.image, allow_non_removable=args.allow_non_removable)
    if args.json:
        print(json.dumps({"disks": [d.to_json() for d in disks]}, indent=2))
        return 0
    print(render(disks, show_all=args.all, image=args.image))
    return 0


def _row(d, width: int) -> str:
    kind = d.kind_text if d.bus in (d.kind, "unknown") else f"{d.kind_text} ({d.bus})"
    serial = f"  serial {d.serial}" if d.serial else ""
    return f"  {d.path:<{width}} {d.size_text:>10}  {kind:<24} {d.title}{serial}"


def render(disks: list, show_all: bool = False, image=None) -> str:
    """The human table: offered disks with identity and partitions; with show_all the refused ones too,
    each with its reasons."""
    offered = [d for d in disks if d.offered]
    refused = [d for d in disks if not d.offered]
    width = max([16] + [len(d.path) for d in disks])
    lines = []
    what = f"the image {image}" if image else "the image"
    if offered:
        lines.append(f"Disks that can receive {what}:")
        for d in offered:
            lines.append(_row(d, width))
            lines.append(f"      partitions: {d.partitions_text()}")
            for note in d.notes:
                lines.append(f"      note: {note}")
    else:
        lines.append(f"No disk can receive {what}. Insert an SD card (in a card reader or the built-in slot) "
                     "or a USB stick; it shows up here.")
    if show_all and refused:
        lines.append("")
        lines.append("Not offered:")
        for d in refused:
            lines.append(_row(d, width))
            for reason in d.reasons:
                lines.append(f"      - {reason}")
    elif refused:
        n = len(refused)
        lines.append(f"({n} other disk{'s' if n != 1 else ''} not offered; --all shows {'them' if n != 1 else 'it'} "
                     "and why)")
    return "\n".join(lines)
