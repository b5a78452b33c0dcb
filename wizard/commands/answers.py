"""`wrnv-wizard answers`: print a commented example answers file, or check one."""

from __future__ import annotations

HELP = "print a commented example answers file (--example) or check one (--check FILE)"


def add_arguments(parser) -> None:
    g = parser.add_mutually_exclusive_group(required=True)
    g.add_argument("--example", action="store_true", help="print a commented example to start from")
    g.add_argument("--check", metavar="FILE", help="validate FILE and print the answers it gives")


def run(args) -> int:
    from wizard.core.answers import Answers
    from wizard.core.answers_file import example, load_answers
    from wizard.core.profile import load_profile

    profile = load_profile(args.profile)
    if args.example:
        print(example(profile), end="")
        return 0
    answers = load_answers(args.check, profile, Answers.defaults(profile))
    for key, value in answers.to_dict().items():
        # TOML's spelling (true/false): what is printed can be pasted back into an answers file.
        print(f"{key} = {str(value).lower() if isinstance(value, bool) else repr(value)}")
    return 0
