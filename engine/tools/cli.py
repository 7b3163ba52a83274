# SPDX-License-Identifier: Apache-2.0
"""venuelink command line."""
from __future__ import annotations

import argparse
import os
import sys

EXIT_USAGE = 2          # a user mistake: one line on stderr says what is wrong and how to fix it
EXIT_PIPE = 141         # stdout closed by the reader (``| head``): 128 + SIGPIPE, as Unix tools end


class UsageError(Exception):
    """A mistake in what the user asked for; its message is the whole report."""


def _version() -> str:
    try:
        from importlib.metadata import version
        return version("venuelink")
    except Exception:                   # not installed as a distribution (a bare checkout)
        return "unknown"


def _check_venue(name: str) -> None:
    from venuelink import registry
    try:
        registry.venue_id(name)
    except ValueError as e:
        raise UsageError(f"{e} (try one of: {', '.join(registry.available())})") from None
    if name not in registry.available():
        raise UsageError(f"venue {name!r} has no adapter yet; available: {', '.join(registry.available())}")


def _open_input(path: str):
    if path == "-":
        return sys.stdin.buffer
    if os.path.isdir(path):
        raise UsageError(f"{path!r} is a directory: give a recorded conversation file, e.g. "
                         f"tests/fixtures/binance/session.jsonl")
    try:
        return open(path, "rb")
    except FileNotFoundError:
        raise UsageError(f"no such file {path!r}: give a recorded conversation file, e.g. "
                         f"tests/fixtures/binance/session.jsonl") from None
    except OSError as e:
        raise UsageError(f"cannot read {path!r}: {e.strerror}") from None


def _cmd_normalize(args: argparse.Namespace) -> int:
    from venuelink.tools.normalize import normalize
    if args.tier == "ccxt":
        return _normalize_ccxt(args)
    if args.symbol or args.ccxt_options:
        raise UsageError("--symbol and --ccxt-options are for --tier ccxt (the native replay takes the symbols "
                         "from the recording)")
    _check_venue(args.venue)
    with _open_input(args.file) as f:
        stats = normalize(args.venue, f, sys.stdout, with_book=args.book, reference=args.reference)
    sys.stdout.flush()
    print(f"{stats.lines} lines: {stats.frames} frames, {stats.rest} REST answers, {stats.events} events, "
          f"{stats.bad_lines} bad lines", file=sys.stderr)
    return _normalize_exit(stats)


def _normalize_exit(stats) -> int:
    """1 when lines were bad and nothing at all was normalized (the wrong venue, the wrong file),
    0 otherwise: bad lines among good ones are reported, not fatal."""
    if stats.bad_lines and not stats.events:
        print("nothing in the input could be normalized", file=sys.stderr)
        return 1
    return 0


def _normalize_ccxt(args: argparse.Namespace) -> int:
    import json

    from venuelink import registry
    from venuelink.ccxt_tier import GONE
    from venuelink.tools.ccxt_replay import normalize_ccxt
    if args.reference:
        raise UsageError("--reference is the native parser's twin; the CCXT tier has CCXT's own handlers")
    if args.venue in GONE:
        raise UsageError(f"{args.venue}: {GONE[args.venue]}")
    try:
        registry.venue_id(args.venue)
        options = json.loads(args.ccxt_options) if args.ccxt_options else {}
        if not isinstance(options, dict):
            raise ValueError("--ccxt-options must be a JSON object")
    except ValueError as e:
        raise UsageError(str(e)) from None
    if not args.symbol:
        raise UsageError("--tier ccxt needs the symbols CCXT should watch: --symbol BTC/USDT (again for more)")
    with _open_input(args.file) as f:
        try:
            stats = normalize_ccxt(args.venue, args.symbol, f, sys.stdout, with_book=args.book, options=options)
        except ValueError as e:
            raise UsageError(str(e)) from None
    sys.stdout.flush()
    print(f"{stats.lines} lines: {stats.frames} frames, {stats.rest} REST answers, {stats.events} events, "
          f"{stats.bad_lines} bad lines (CCXT tier)", file=sys.stderr)
    return _normalize_exit(stats)


def _cmd_venues(args: argparse.Namespace) -> int:
    import json

    from venuelink.tools.venues import render, venue_table
    rows = venue_table()
    if args.json:
        json.dump(rows, sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        sys.stdout.write(render(rows))
    return 0


def _cmd_instruments(args: argparse.Namespace) -> int:
    """The venue's instruments as its instruments endpoint lists them (the config's URLs, or the
    built-in simulator without --config)."""
    import contextlib
    import json

    from venuelink.config import load_config
    from venuelink.engine import Engine
    from venuelink.errors import ConfigError, EngineError
    from venuelink.tools.run import run_loop
    from venuelink.tools.simconfig import sim_config
    with contextlib.ExitStack() as stack:
        try:
            if args.config:
                cfg = load_config(args.config)
                if args.venue not in cfg.venues:
                    raise ConfigError(f"{args.venue}: not in {args.config} (it has: {', '.join(cfg.venues) or 'none'})")
                cfg.venues = {args.venue: cfg.venues[args.venue]}
            else:
                cfg = sim_config([args.venue], 20, stack)
        except (ConfigError, ValueError) as e:
            print(f"venuelink instruments: error: {e}", file=sys.stderr)
            return 2

        for vc in cfg.venues.values():
            vc.status_poll_s = 0                # a listing: no status watch to start and stop again

        async def load():
            eng = Engine(cfg)
            try:
                await eng.start(market_data=False, execution=False)
                return eng.instruments(args.venue)
            finally:
                await eng.close()
        try:
            insts = run_loop(load())
        except (EngineError, OSError) as e:
            print(f"venuelink instruments: error: {e}", file=sys.stderr)
            return 4
    rows = [i for i in insts if not args.symbol or i.symbol in args.symbol]
    if args.json:
        json.dump([i.to_json() for i in rows], sys.stdout, indent=1)
        sys.stdout.write("\n")
    else:
        for i in rows:
            sys.stdout.write(f"{i.symbol:<24} {i.venue_symbol:<20} {i.kind.name.lower():<6} "
                             f"tick {i.px_str(i.tick):<12} lot {i.qty_str(i.lot):<12} {i.status.name.lower()}\n")
    if args.symbol and len(rows) < len(set(args.symbol)):
        missing = sorted(set(args.symbol) - {i.symbol for i in rows})
        print(f"venuelink instruments: not listed by {args.venue}: {', '.join(missing)}", file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="venuelink", description="Low-latency connectivity to crypto venues.")
    p.add_argument("--version", action="version", version=f"venuelink {_version()}")
    sub = p.add_subparsers(dest="cmd", metavar="COMMAND")

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
    n.add_argument("--tier", choices=("native", "ccxt"), default="native",
                   help="ccxt: through CCXT's own message handlers behind the CCXT tier's checks (any CCXT "
                        "exchange; nothing is connected to: REST from the recording, frames as received)")
    n.add_argument("--symbol", action="append", default=[], metavar="SYMBOL",
                   help="--tier ccxt: a symbol CCXT watches (unified, e.g. BTC/USDT); again for more")
    n.add_argument("--ccxt-options", default="", metavar="JSON",
                   help="--tier ccxt: CCXT's exchange options, e.g. '{\"fetchMarkets\": {\"types\": [\"spot\"]}}'")
    n.set_defaults(func=_cmd_normalize)

    v = sub.add_parser("venues", help="list every venue, its tier (native or ccxt) and what it supports",
                       description="Every venue venuelink knows: native where it has an adapter, else the CCXT "
                                   "tier, or not served (with the reason); what each supports, named as CCXT names "
                                   "it (CCXT's own `has` for the ccxt tier, the adapter's channels and order "
                                   "methods for native venues). Nothing is connected to.")
    v.add_argument("--json", action="store_true", help="a JSON array of {venue, tier, ccxt_id, supports, note}")
    v.set_defaults(func=_cmd_venues)

    i = sub.add_parser("instruments", help="list a venue's instruments (unified symbol, venue symbol, tick, lot, status)",
                       description="Load the venue's instruments from its instruments endpoint, as the engine does "
                                   "at start: the URLs of --config, or the built-in simulator without it. Exit 1 "
                                   "when a --symbol is not listed, 2 for a usage error, 4 when the venue cannot be "
                                   "reached.")
    i.add_argument("venue", help="venue id, e.g. binance")
    i.add_argument("--config", help="config file whose [venues.VENUE] URLs to use (default: the built-in simulator)")
    i.add_argument("--symbol", action="append", default=[], metavar="SYMBOL", help="only these unified symbols")
    i.add_argument("--json", action="store_true", help="JSON array of the instruments' fields")
    i.set_defaults(func=_cmd_instruments)

    from venuelink.tools import run as run_mod
    run_mod.add_parsers(sub)
    from venuelink.tools import soak as soak_mod
    soak_mod.add_parser(sub)
    from venuelink.tools import simcmd
    simcmd.add_parser(sub)
    return p


def _closed_stdout() -> int:
    # the reader went away: send what is left of stdout nowhere, so the interpreter's own flush
    # at exit cannot raise again, and end as a SIGPIPE'd tool does
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return EXIT_PIPE


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "func", None) is None:
        parser.print_help(sys.stderr)
        return EXIT_USAGE
    try:
        rc = int(args.func(args) or 0)
        sys.stdout.flush()
        return rc
    except BrokenPipeError:
        return _closed_stdout()
    except UsageError as e:
        print(f"venuelink {args.cmd}: error: {e}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
