"""``cat-follow``: parse the command line, run the command, turn errors into exit codes.

The commands live in ``cat_follow.cli`` (``parser.py`` lists them); the robot service's
wiring in ``cat_follow.service``.
"""

from __future__ import annotations

import sys

from cat_follow.cli.parser import build_parser
from cat_follow.errors import CatFollowError
from cat_follow.threads.supervised import ThreadFailed


def main(argv: list[str] | None = None) -> int:
    """Exit status: the command's own (0, or 1 for a failed check), 2 for a user error, 3 for
    a thread that failed, 130 for Ctrl-C."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except CatFollowError as exc:
        print(f"cat-follow: error: {exc}", file=sys.stderr)
        return 2
    except ThreadFailed as exc:
        print(f"cat-follow: error: {exc} (traceback in the log above)", file=sys.stderr)
        return 3
    except KeyboardInterrupt:  # Ctrl-C is a normal stop: one line, no traceback; motors were stopped on the way out
        print("cat-follow: interrupted (Ctrl-C); stopped", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
