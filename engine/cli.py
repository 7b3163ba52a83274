# SPDX-License-Identifier: Apache-2.0
"""venuelink command line."""
from __future__ import annotations

import argparse
import sys


def _cmd_normalize(args: argparse.Namespace) -> int:
    from engine.normalize import normalize
    with (open(args.file, "rb") if args.file != "-" else sys.stdin.buffer) as f:
        stats = normalize(args.venue, f, sys.stdout, with_book=args.book, reference=args.reference)
    sys.stdout.flush()
    print(f"{stats.lines} lines: {stats.frames} frames, {stats.rest} REST answers, {stats.events} events, "
          f"{stats.bad_lines} bad lines", file=sys.stderr)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="venuelink", description="Low-latency connectivity to crypto venues.")
    sub = p.add_subparsers(dest="cmd", required=True)

    n = sub.add_parser("normalize", help="replay a recorded venue conversation and print normalized events",
                       description="Replay a recorded conversation (raw WebSocket frames, and REST answers as "
                                   '{"rest": "<path?query>", "body": <json>} lines) through the live adapter '
                                   "code; print normalized events as JSON lines. Bad lines go to stderr with "
                                   "their line number.")
    n.add_argument("venue", help="venue id (CCXT exchange id), e.g. binance")
    n.add_argument("file", help="recorded conversation, one frame or REST answer per line ('-' for stdin)")
    n.add_argument("--book", action="store_true", help="after each applied book event print the top 5 levels")
    n.add_argument("--reference", action="store_true",
                   help="decode with the venue's pure-Python reference parser instead of the C one (slow; "
                        "for checking a frame the two might read differently)")
    n.set_defaults(func=_cmd_normalize)

    from engine import run as run_mod
    run_mod.add_parsers(sub)
    from engine import soak as soak_mod
    soak_mod.add_parser(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
