# SPDX-License-Identifier: Apache-2.0
"""`venuelink run` (engine + live terminal view + /metrics) and `venuelink order ...`."""
from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import json
import logging
import shutil
import signal
import sys
import time

from venuelink.config import Config, load_config
from venuelink.errors import ConfigError, EngineError, UnknownOrder
from venuelink.model import BookState, ConnState, Order, OrderRequest, OrderState, OrderType, Side, TimeInForce, VenueId
from venuelink.tasks import within
from venuelink.tools.simconfig import sim_config

log = logging.getLogger("venuelink")


def _seconds(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not 0 <= v < 10 ** 9:                    # NaN fails too
        raise argparse.ArgumentTypeError(f"{text!r}: give 0 (until Ctrl-C) or a positive number of seconds")
    return v


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r}: a TCP port is 0..65535 (0: any free port)")
    return int(text)


def _rate(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 10_000:
        raise argparse.ArgumentTypeError(f"{text!r}: the simulator's rate is 1..10000 batches per second")
    return int(text)


def add_parsers(sub) -> None:
    r = sub.add_parser("run", help="run the engine (default: against the built-in simulators, no network or keys)",
                       description="Run the engine. Without --config, starts the built-in venue simulators on "
                                   "127.0.0.1 in their own process and connects to them; with --config, connects "
                                   "to the URLs in that file (live or testnet).")
    r.add_argument("--config", help="TOML config file ([venues.<id>] tables); default: built-in simulators")
    r.add_argument("--venues", nargs="+", help="venue ids to run (default: all configured / all simulated)")
    r.add_argument("--duration", type=_seconds, default=0, help="stop after S seconds (default: until Ctrl-C)")
    r.add_argument("--metrics-port", type=_port, default=None, help="port of the /metrics endpoint (default 9464; "
                                                                   "0 picks a free one)")
    r.add_argument("--rate", type=_rate, default=50, help="simulator market rate, batches per second (default 50)")
    r.add_argument("--live", action="store_true", help="confirm that --strategy may trade at the non-local venues "
                                                       "of --config")
    r.add_argument("--strategy", action="store_true", help="also run the example strategy (engine/examples/bbo_maker.py) on the first venue")
    r.add_argument("--cancel-timeout", type=_seconds, default=None,
                   help="--strategy: seconds the exit may spend cancelling the open orders and checking them "
                        "with the venue (default 8); orders it cannot confirm closed are listed, exit status 3")
    r.add_argument("--plain", action="store_true", help="print the status block (a line per venue and per book) every second instead of "
                                                        "redrawing the screen (automatic when not a terminal)")
    r.add_argument("--journal", action="store_true",
                   help="for a service log (systemd journal): a line when a connection or book changes state, "
                        "and a status line per venue every --status-interval seconds, instead of the view")
    r.add_argument("--status-interval", type=_seconds, default=60.0,
                   help="--journal: seconds between status lines when nothing changes (default 60)")
    r.set_defaults(func=_cmd_run)

    o = sub.add_parser("order", help="place, cancel or query one order through the engine's order manager",
                       description="Operator tool: goes through the same order manager, rate budget and "
                                   "reconciliation as the engine, and prints the resulting order as JSON "
                                   "(state, client_order_id, venue_order_id, filled_qty, error).",
                       epilog=ORDER_EXITS, formatter_class=argparse.RawDescriptionHelpFormatter)
    osub = o.add_subparsers(dest="action", required=True)
    for name in ("place", "cancel", "status", "amend"):
        p = osub.add_parser(name, epilog=ORDER_EXITS, formatter_class=argparse.RawDescriptionHelpFormatter)
        p.add_argument("--config", required=True, help="TOML config with the venue's URLs and credentials")
        p.add_argument("--venue", required=True, help="venue id, e.g. binance")
        p.add_argument("--symbol", required=True, help="unified symbol, e.g. BTC/USDT")
        p.add_argument("--client-id", required=(name != "place"), help="client order id")
        if name == "place":
            p.add_argument("--side", required=True, choices=["buy", "sell"])
            p.add_argument("--type", default="limit", choices=["limit", "market"], help="order type (default limit)")
            p.add_argument("--qty", required=True,
                           help="quantity as a decimal string (contracts for contract swaps, e.g. OKX BTC/USDT:USDT)")
            p.add_argument("--price", help="limit price as a decimal string")
            p.add_argument("--tif", default=None, choices=[t.name for t in TimeInForce],
                           help="time in force (default: GTC for a limit order; a market order is IOC)")
            p.add_argument("--reduce-only", action="store_true", help="derivatives: only reduce the position")
        if name == "amend":
            p.add_argument("--qty", help="new total quantity (filled part included), decimal string")
            p.add_argument("--price", help="new limit price, decimal string")
        p.add_argument("--wait", type=_seconds, default=None,
                       help="seconds to follow the order after the venue's answer (default 1: until the answer "
                            "is definite; given, or for a market, IOC or FOK order: until the order is final "
                            "or the time is up)")
        p.set_defaults(func=_cmd_order)
    for name, what in (("open", "list the account's open orders at the venue, whoever placed them"),
                       ("cancel-all", "cancel every open order of the account at the venue and check none is left")):
        p = osub.add_parser(name, help=what, description=what + ". Exit 0 done (cancel-all: none left), 3 some "
                            "possibly still open (their client ids printed), 2 usage error, 4 the venue cannot "
                            "be reached.")
        p.add_argument("--config", required=True, help="TOML config with the venue's URLs and credentials")
        p.add_argument("--venue", required=True, help="venue id, e.g. binance")
        if name == "open":
            p.add_argument("--symbol", help="only this unified symbol")
        else:
            p.add_argument("--timeout", type=_seconds, default=8.0, help="seconds for the cancels and the check")
        p.set_defaults(func=_cmd_order_account)


# ---------------------------------------------------------------------------------------- run
def _cmd_run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    with contextlib.ExitStack() as stack:
        try:
            if args.config:
                cfg = load_config(args.config)
                if args.venues:
                    missing = [v for v in args.venues if v not in cfg.venues]
                    if missing:
                        raise ConfigError(f"--venues {' '.join(missing)}: not in {args.config} "
                                          f"(it has: {', '.join(cfg.venues) or 'no venues'})")
                    cfg.venues = {k: v for k, v in cfg.venues.items() if k in args.venues}
                remote = _remote_venues(cfg)
                if args.strategy and remote and not args.live:
                    raise ConfigError(f"--strategy places and cancels orders at {', '.join(remote)} (not a local "
                                      f"simulator): add --live to confirm")
            else:
                cfg = sim_config(args.venues or [], args.rate, stack)
        except (ConfigError, ValueError) as e:
            print(f"venuelink run: error: {e}", file=sys.stderr)
            return 2
        if args.metrics_port is not None:
            cfg.metrics_port = args.metrics_port
        plain = args.plain or not sys.stdout.isatty()
        journal = args.status_interval if args.journal else 0.0
        cancel_s = SHUTDOWN_CANCEL_S if args.cancel_timeout is None else args.cancel_timeout
        return run_loop(_run(cfg, args.duration, plain, args.strategy, journal, cancel_s))


def _remote_venues(cfg: Config) -> list[str]:
    """Venues of the config whose URLs are not all on this host (so not a local simulator)."""
    from urllib.parse import urlsplit
    out = []
    for name, vc in cfg.venues.items():
        urls = [vc.rest_url, vc.ws_url, vc.ws_api_url, *(vc.endpoints or {}).values()]
        hosts = {urlsplit(u).hostname for u in urls if u}
        if not hosts <= {"127.0.0.1", "localhost", "::1"}:
            out.append(name)
    return out


def run_loop(coro) -> int:
    try:
        import uvloop
        return uvloop.run(coro)
    except ImportError:
        return asyncio.run(coro)


SHUTDOWN_CANCEL_S = 8.0
"""`run --strategy` at exit: how long cancelling the open orders and checking them with the venue
may take (inside systemd's TimeoutStopSec=30 with the close steps' own bounds)"""
EXIT_ORDERS_OPEN = 3
"""`run` exit status when orders may still be open at a venue (their client ids are printed)"""


async def _run(cfg: Config, duration: float, plain: bool, strategy: bool, journal: float = 0.0,
               cancel_s: float = SHUTDOWN_CANCEL_S) -> int:
    """journal > 0: service logging (StatusView.journal) with a status line every `journal` s.
    With the strategy, the exit cancels every open order and checks with the venue, for at most
    `cancel_s`; orders possibly still open are printed with their client ids (exit status 3)."""
    from venuelink.engine import Engine
    eng = Engine(cfg)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    try:
        # a venue that cannot be reached is retried in the background while the others run
        await eng.start(retry_unreachable=True)
        if not eng.started:
            await _wait_for_a_venue(eng, stop)
    except (EngineError, OSError) as e:
        print(f"venuelink: cannot start: {e}", file=sys.stderr)
        await eng.close()
        return 1
    try:
        port = eng.serve_metrics()
    except OSError as e:
        print(f"venuelink: cannot serve /metrics on {cfg.metrics_host}:{cfg.metrics_port}: {e.strerror}; "
              "pick another port with --metrics-port (0 = any free port)", file=sys.stderr)
        await eng.close()
        return 1
    print(f"venuelink: metrics on http://{cfg.metrics_host}:{port}/metrics", flush=True)
    strat_task = None
    if strategy:
        from venuelink.examples.bbo_maker import BboMaker
        v = next(iter(eng.runtimes.values()))
        strat_task = asyncio.ensure_future(BboMaker(eng, v.venue.name, v.config.symbols[0]).run())
    view = StatusView(eng, duration)
    view.metrics_url = f"http://{cfg.metrics_host}:{port}/metrics"
    if journal:
        view.follow_transitions()
    elif not plain:
        view.capture_warnings()             # shown in the view; written to stderr they vanish at the next redraw
    t_end = time.monotonic() + duration if duration else None
    try:
        while not stop.is_set():
            try:
                await within(stop.wait(), 1.0)
            except asyncio.TimeoutError:
                pass
            if stop.is_set():
                break                     # the final view is drawn after the close, as it then is
            if journal:
                out = view.journal(journal)
                if out:
                    print("\n".join(out), flush=True)
            elif plain:
                out = view.render()
                print("\n".join(out), flush=True)
            else:
                out = view.fit(view.render())
                sys.stdout.write("\x1b[H\x1b[2J" + "\n".join(out) + "\n")
                sys.stdout.flush()
            if t_end and time.monotonic() >= t_end:
                break
    finally:
        still_open: dict[str, list[str]] = {}
        if strat_task is not None:
            from venuelink.tasks import cancel_and_wait
            strat_task.cancel()                 # its own exit cancels its quote: a moment for that
            await asyncio.wait({strat_task}, timeout=1.0)
            await cancel_and_wait(strat_task)   # a second cancel ends a cancel stuck on the venue
            if not strat_task.cancelled() and strat_task.done() and strat_task.exception() is not None:
                log.error("strategy failed: %r", strat_task.exception())
            still_open = await eng.cancel_open_orders(cancel_s)
        summary = view.summary()
        await eng.close()
        view.stopped = True
        view.release_warnings()
        with contextlib.suppress(OSError, ValueError):
            if journal:
                print("\n".join(view.journal(0.0, force=True)), flush=True)
            else:
                if not plain:
                    sys.stdout.write("\x1b[H\x1b[2J")
                print("\n".join(view.render()), flush=True)
            print(summary, flush=True)
    if still_open:
        for venue, cids in still_open.items():
            print(f"venuelink: {len(cids)} order(s) possibly still open at {venue} (not confirmed canceled): "
                  f"{' '.join(cids)}; check each at the venue (venuelink order status --venue {venue} "
                  f"--client-id ID ...)", file=sys.stderr, flush=True)
        return EXIT_ORDERS_OPEN
    return 0


START_WAIT_S = 120.0
"""`run` exits 1 when no venue at all has started within this (each failure is logged as it comes)"""


async def _wait_for_a_venue(eng, stop: asyncio.Event) -> None:
    """No venue could start yet: wait for the first (retried in the background) up to
    START_WAIT_S; EngineError when none did, naming why each is down."""
    deadline = time.monotonic() + START_WAIT_S
    while not eng.started and time.monotonic() < deadline and not stop.is_set():
        await asyncio.sleep(0.2)
    if not eng.started and not stop.is_set():
        raise EngineError(f"no venue started within {START_WAIT_S:.0f} s (see the log for each venue's reason)")


class StatusView:
    """Per venue: connection state, msgs/s, best bid/ask, spread, rate-limit utilization,
    p50/p99 latency of frame received -> decoded and decoded -> book applied (since start)."""

    def __init__(self, eng, duration: float = 0.0) -> None:
        self.eng = eng
        self.last: dict = {}
        self.t0 = time.monotonic()
        self.hint = f"(stops after {duration:g} s)" if duration else "(Ctrl-C to stop)"
        self.metrics_url = ""
        self.stopped = False
        self.warnings: list[str] = []               # the latest warnings, newest last (capture_warnings)
        self._capture: logging.Handler | None = None
        self._stderr_handlers: list[logging.Handler] = []
        self.states: dict[tuple, str] = {}              # journal: last state seen per connection, book
        self.journal_last: dict[str, tuple[float, int]] = {}
        self.conn_counts: dict[str, int] = {}           # journal: connects of each connection at the last call
        self.t_status = self.t0

    def summary(self) -> str:
        """One line at exit: how long it ran, and per venue frames, resyncs, orders and fills."""
        parts = []
        for rt in self.eng.runtimes.values():
            frames = sum(p.n_frames for p in rt.parsers)
            resyncs = sum(fs.sync.n_resyncs for fs in rt.feed_symbols())
            orders = list(rt.orders.orders.values()) if rt.orders is not None else []
            fills = sum(len(getattr(o, "fills", ())) for o in orders)
            parts.append(f"{rt.venue.name}: {frames} frames, {resyncs} resyncs, {len(orders)} orders, {fills} fills")
        return f"venuelink: ran {time.monotonic() - self.t0:.1f} s; " + ("; ".join(parts) or "no venues")

    def follow_transitions(self) -> None:
        """Journal: every book state transition is logged as it happens (a book that recovers
        between two journal calls still shows both steps), not a sample of states."""
        self._transitions: list[str] = []
        for rt in self.eng.runtimes.values():
            v = rt.venue.name
            for fs in rt.feed_symbols():
                sym = fs.instrument.symbol
                key = ("book", v, sym)
                self.states[key] = BookState(fs.sync.state).name
                self._transitions.append(f"{v} book {sym}: - -> {self.states[key]} (resyncs {fs.sync.n_resyncs})")

                def changed(symbol: str, state: BookState, v=v, fs=fs, key=key) -> None:
                    old = self.states.get(key, "-")
                    self.states[key] = state.name
                    self._transitions.append(f"{v} book {symbol}: {old} -> {state.name} (resyncs {fs.sync.n_resyncs})")
                self.eng.subscribe_book_state(v, sym, changed)

    def journal(self, interval: float, *, force: bool = False) -> list[str]:
        """Service logging: a line per connection or book state change since the last call (books:
        every transition, with follow_transitions; connections: their state, and every reconnect
        counted even when the connection was back before this call), and a status line per venue
        when `interval` seconds have passed (or force)."""
        now = time.monotonic()
        out = []
        transitions = getattr(self, "_transitions", None)
        if transitions is not None:
            out += transitions
            transitions.clear()
        for rt in self.eng.runtimes.values():
            v = rt.venue.name
            for s in rt.sessions:
                st = ConnState(s.state).name.lower()
                seen = self.conn_counts.get(s.name, s.connects)
                flaps = s.connects - seen - (1 if self.states.get(("conn", s.name)) != st and st == "connected" else 0)
                self.conn_counts[s.name] = s.connects
                if flaps > 0 and ("conn", s.name) in self.states:
                    out.append(f"{v} connection {s.name}: reconnected {flaps} time(s) since the last line"
                               + (f" (last close: {s.close_reason})" if s.close_reason else ""))
                if self.states.get(("conn", s.name), None) != st:
                    if ("conn", s.name) in self.states or st != "connecting":
                        out.append(f"{v} connection {s.name}: {self.states.get(('conn', s.name), '-')} -> {st}"
                                   + (f" ({s.close_reason})" if st != "connected" and s.close_reason else ""))
                    self.states[("conn", s.name)] = st
            if transitions is None:
                for fs in rt.feed_symbols():
                    st = BookState(fs.sync.state).name
                    key = ("book", v, fs.instrument.symbol)
                    if self.states.get(key) != st:
                        out.append(f"{v} book {fs.instrument.symbol}: {self.states.get(key, '-')} -> {st}"
                                   f" (resyncs {fs.sync.n_resyncs})")
                        self.states[key] = st
        if force or now - self.t_status >= interval:
            for rt in self.eng.runtimes.values():
                v = rt.venue.name
                frames = sum(p.n_frames for p in rt.parsers)
                t0, f0 = self.journal_last.get(v, (self.t0, 0))
                rate = (frames - f0) / (now - t0) if now > t0 else 0.0
                self.journal_last[v] = (now, frames)
                books = list(rt.feed_symbols())
                live = sum(1 for fs in books if fs.sync.state == BookState.LIVE)
                util = max(rt.budget.utilization().values(), default=0.0)
                conns = ",".join(ConnState(s.state).name.lower() for s in rt.sessions) or "-"
                out.append(f"{v} status: conn={conns} books live {live}/{len(books)} msgs/s={rate:.1f} "
                           f"ratelimit={util * 100:.1f}% drops={sum(p.n_errors for p in rt.parsers)} "
                           f"resyncs={sum(fs.sync.n_resyncs for fs in books)}"
                           + (f" orders open {len(rt.orders.open_orders())}" if rt.orders is not None else ""))
            self.t_status = now
        return out

    MAX_WARNINGS = 5

    def capture_warnings(self) -> None:
        """Warnings and errors go into the view (its last lines) instead of the terminal, where the
        next redraw would wipe them; release_warnings() gives them back to stderr."""
        view = self

        class _Keep(logging.Handler):
            def emit(self, record: logging.LogRecord) -> None:
                try:
                    msg = f"{time.strftime('%H:%M:%S', time.localtime(record.created))} {record.getMessage()}"
                except Exception:
                    return
                view.warnings = (view.warnings + [msg])[-view.MAX_WARNINGS:]
        root = logging.getLogger()
        self._stderr_handlers = [h for h in root.handlers if isinstance(h, logging.StreamHandler)]
        for h in self._stderr_handlers:
            root.removeHandler(h)
        self._capture = _Keep(level=logging.WARNING)
        root.addHandler(self._capture)

    def release_warnings(self) -> None:
        root = logging.getLogger()
        if self._capture is not None:
            root.removeHandler(self._capture)
            self._capture = None
        for h in self._stderr_handlers:
            root.addHandler(h)
        self._stderr_handlers = []

    def fit(self, lines: list[str]) -> list[str]:
        """The view cut to the terminal: lines no wider than it, and at most its height (the
        header and the warnings kept, venue lines cut from the end of the middle)."""
        size = shutil.get_terminal_size((120, 40))
        width, height = max(size.columns, 20), max(size.lines - 1, 4)
        cut = [ln if len(ln) <= width else ln[:width - 1] + "~" for ln in lines]
        if len(cut) <= height:
            return cut
        tail = [ln for ln in cut if ln.startswith("  ! ")][-max(0, height - 2):] if height > 2 else []
        head = [ln for ln in cut if not ln.startswith("  ! ")]
        keep = max(1, height - len(tail) - 1)
        more = f"  ... {len(head) - keep} more lines (a larger terminal shows them)"
        return head[:keep] + [more if len(more) <= width else more[:width - 1] + "~"] + tail

    def render(self) -> list[str]:
        now = time.monotonic()
        hint = "(stopped)" if self.stopped else self.hint
        lines = [f"venuelink  {time.strftime('%H:%M:%S')}   {hint}"
                 + (f"   metrics {self.metrics_url}" if self.metrics_url else "")]
        for rt in self.eng.runtimes.values():
            v = rt.venue.name
            frames = sum(p.n_frames for p in rt.parsers)
            t0, f0 = self.last.get(v, (now, frames))
            rate = (frames - f0) / (now - t0) if now > t0 else 0.0
            self.last[v] = (now, frames)
            conns = ",".join(ConnState(s.state).name.lower() for s in rt.sessions) or "-"
            rate_s = "      -" if self.stopped else f"{rate:7.1f}"
            util = max(rt.budget.utilization().values(), default=0.0)
            p50_dec = max((p.recv_to_decoded.percentile(50) for p in rt.parsers), default=0)
            p99_dec = max((p.recv_to_decoded.percentile(99) for p in rt.parsers), default=0)
            p50_app = max((p.decoded_to_applied.percentile(50) for p in rt.parsers), default=0)
            p99_app = max((p.decoded_to_applied.percentile(99) for p in rt.parsers), default=0)
            errs = sum(p.n_errors for p in rt.parsers)
            lines.append(f"{v:<10} conn={conns} msgs/s={rate_s} ratelimit={util * 100:5.1f}% "
                         f"recv->decoded p50/p99={p50_dec / 1000:.1f}/{p99_dec / 1000:.1f}us "
                         f"decoded->book p50/p99={p50_app / 1000:.1f}/{p99_app / 1000:.1f}us "
                         f"drops={errs}")
            if not rt.started and rt.start_error:
                lines.append(f"  not started: {rt.start_error} (retrying)")
            for s in rt.sessions:
                if not self.stopped and s.state != ConnState.CONNECTED and s.close_reason:
                    lines.append(f"  {s.name}: {ConnState(s.state).name.lower()}: {s.close_reason}")
            av = rt.availability
            if av is not None and not av.available and av.reason:
                lines.append(f"  orders unavailable: {av.reason}")
            for fs in rt.feed_symbols():
                inst, st = fs.instrument, BookState(fs.sync.state)
                bb, ba = fs.book.best_bid(), fs.book.best_ask()
                if st == BookState.LIVE and bb and ba:
                    spread = inst.px_str(ba[0] - bb[0])
                    lines.append(f"  {inst.symbol:<10} {st.name:<7} bid {inst.px_str(bb[0]):>12} x {inst.qty_str(bb[1]):<10}"
                                 f" ask {inst.px_str(ba[0]):>12} x {inst.qty_str(ba[1]):<10} spread {spread:<8}"
                                 f" seq {fs.book.seq} resyncs {fs.sync.n_resyncs}")
                    t = rt.last_trade.get(inst.symbol)
                    if t is not None:
                        lines.append(f"  {'':<10} last trade {t.side.wire:<4} {inst.qty_str(t.size)} @ "
                                     f"{inst.px_str(t.price)}  ({rt.trade_counts.get(inst.symbol, 0)} trades)")
                else:
                    lines.append(f"  {inst.symbol:<10} {st.name:<7} (not live: no prices shown) resyncs {fs.sync.n_resyncs}")
            if rt.orders is not None:
                open_n = len(rt.orders.open_orders())
                lines.append(f"  orders: {len(rt.orders.orders)} known, {open_n} open")
        lines += [f"  ! {w}" for w in self.warnings]
        return lines


# -------------------------------------------------------------------------------------- order
_UNIFIED = re.compile(r"[A-Z0-9]{1,20}/[A-Z0-9]{1,20}(:[A-Z0-9]{1,20}(-\d{6})?)?")

EXIT_REFUSED = 1        # the venue refused (state rejected, amend refused)
EXIT_UNKNOWN = 3        # the outcome is unknown: the order may exist at the venue
EXIT_NOT_SENT = 4       # the venue could not be reached: nothing was sent
ORDER_WAIT_S = 1.0      # --wait when not given

ORDER_EXITS = """\
exit status:
  0  the venue's answer, printed as the order stands (new, filled, canceled, ...)
  1  refused by the venue (state "rejected", or "amend refused")
  2  a mistake in the command (bad --qty / --price, off the tick or lot, amend with
     nothing to change, ...): nothing was sent, one line on stderr
  3  outcome unknown: the order may exist at the venue ("state": "unknown"); check it
     with `venuelink order status`. `status` of a venue that cannot be reached ends so
  4  the venue cannot be reached ("cannot reach <its REST URL>"): place, cancel or
     amend was not sent ("sent": false; place prints "state": "not_sent")
  130, 143  interrupted (SIGINT, SIGTERM) before anything was sent ("sent": false); interrupted
     after it was sent ends as 3
"""

def _unreached_errors() -> tuple:
    """Failures to get any answer from the venue before a request was sent: it is not reachable"""
    from venuelink.errors import CircuitOpen, ExecutionUnknown
    from venuelink.rest import Unreachable
    return (Unreachable, ExecutionUnknown, CircuitOpen, OSError, asyncio.TimeoutError)


def _decimal_usage(flag: str, text: str | None) -> str | None:
    """What is wrong with a --qty / --price value on its own (no instrument needed), or None."""
    from decimal import Decimal, InvalidOperation
    if text is None:
        return None
    try:
        d = Decimal(text)
    except InvalidOperation:
        return f"{flag} {text!r} is not a decimal number (e.g. 0.001)"
    if not d.is_finite() or d <= 0:
        return f"{flag} {text}: give a positive decimal number"
    return None


def _order_usage(args: argparse.Namespace) -> str | None:
    """What is wrong with the order command's own arguments (nothing sent yet), or None."""
    if not _UNIFIED.fullmatch(args.symbol):
        return (f"--symbol {args.symbol!r} is not a unified symbol: use CCXT notation, e.g. BTC/USDT "
                f"(spot) or BTC/USDT:USDT (USDT-margined perpetual)")
    if args.action == "place":
        if args.type == "market" and args.price is not None:
            return "a market order takes no --price"
        if args.type == "limit" and args.price is None:
            return "a limit order needs --price (or use --type market)"
        if args.type == "market" and args.tif not in (None, "IOC"):
            return f"a market order is immediate-or-cancel: --tif {args.tif} does not apply"
    if args.action == "amend" and args.qty is None and args.price is None:
        return "amend needs something to change: --qty (new total quantity) and/or --price (new limit price)"
    if args.action in ("place", "amend"):
        return _decimal_usage("--qty", args.qty) or _decimal_usage("--price", args.price)
    return None


def _terms_usage(inst, args: argparse.Namespace, order: Order | None) -> str | None:
    """--qty / --price against the instrument (tick, lot, minimum size and value), checked before
    anything is sent: a mistake in the command, not a refusal by the venue. For amend, `order` is
    the order as the venue has it (what is not changed stays)."""
    from types import SimpleNamespace

    from venuelink.errors import Rejected
    from venuelink.order_checks import checked_units
    if not inst.active:
        return None                 # the order manager refuses it, saying the instrument is not trading
    if order is None:
        market = args.type == "market"
        terms = SimpleNamespace(symbol=args.symbol, qty=args.qty, price=args.price, reduce_only=False,
                                type=OrderType.MARKET if market else OrderType.LIMIT,
                                tif=TimeInForce.IOC if market else TimeInForce[args.tif or "GTC"])
    else:
        terms = SimpleNamespace(symbol=args.symbol, qty=args.qty or order.qty, price=args.price or order.price,
                                reduce_only=False, type=order.type, tif=order.tif)
    try:
        checked_units(inst, terms, args.venue)
    except Rejected as e:
        return str(e)
    return None


def _cmd_order(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    why = _order_usage(args)
    try:
        if why is None:
            cfg = load_config(args.config)
            if args.venue not in cfg.venues:
                raise ConfigError(f"venue {args.venue!r} is not in {args.config} "
                                  f"(it has: {', '.join(cfg.venues) or 'no venues'})")
            cfg.venues = {args.venue: cfg.venues[args.venue]}
            if cfg.venues[args.venue].credentials() is None:
                raise ConfigError(f"[venues.{args.venue}] has no credentials (api_key_env/api_secret_env or "
                                  f"secrets_file): orders need the account's API key")
    except (ConfigError, ValueError) as e:
        why = str(e)
    if why is not None:
        # nothing was sent: a usage error, not an order state
        print(f"venuelink order {args.action}: error: {why}", file=sys.stderr)
        return 2
    order = run_loop(_order_bounded(cfg, args))
    if "usage_error" in order:
        print(f"venuelink order {args.action}: error: {order['usage_error']}", file=sys.stderr)
        return 2
    print(json.dumps(order))
    return _order_exit(order, args.venue)


def _cmd_order_account(args: argparse.Namespace) -> int:
    """`order open` / `order cancel-all`: the account's open orders at the venue, or all of them
    canceled and checked."""
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    sym = getattr(args, "symbol", None)
    try:
        if sym is not None and not _UNIFIED.fullmatch(sym):
            raise ConfigError(f"--symbol {sym!r} is not a unified symbol (e.g. BTC/USDT)")
        cfg = load_config(args.config)
        if args.venue not in cfg.venues:
            raise ConfigError(f"venue {args.venue!r} is not in {args.config} (it has: {', '.join(cfg.venues) or 'none'})")
        cfg.venues = {args.venue: cfg.venues[args.venue]}
        cfg.venues[args.venue].status_poll_s = 0
        if cfg.venues[args.venue].credentials() is None:
            raise ConfigError(f"[venues.{args.venue}] has no credentials: the account's orders need its API key")
    except (ConfigError, ValueError) as e:
        print(f"venuelink order {args.action}: error: {e}", file=sys.stderr)
        return 2

    async def go():
        from venuelink.engine import Engine
        eng = Engine(cfg)
        try:
            await eng.start(market_data=False)
            if args.action == "open":
                rows = await eng.open_orders(args.venue, sym)
                return {"open": [{"symbol": u.symbol, "client_order_id": u.client_order_id,
                                  "venue_order_id": u.venue_order_id, "side": u.side.wire if u.side else "",
                                  "qty": u.qty, "price": u.price, "filled_qty": u.filled_qty,
                                  "state": u.state.name.lower()} for u in rows]}
            return {"still_open": await eng.cancel_all(args.venue, args.timeout)}
        finally:
            await eng.close()
    try:
        out = run_loop(go())
    except (EngineError, OSError) as e:
        print(f"venuelink order {args.action}: error: {e}", file=sys.stderr)
        return EXIT_NOT_SENT
    print(json.dumps(out))
    if out.get("still_open"):
        print(f"possibly still open at {args.venue}: {' '.join(out['still_open'])}", file=sys.stderr)
        return EXIT_UNKNOWN
    return 0


def _order_exit(order: dict, venue: str) -> int:
    """0 for a known outcome, 1 for a refusal, 3 when the outcome is unknown: the order may exist
    at the venue, and the operator must be told so, not handed a success; 4 when the venue could
    not be reached and nothing was sent."""
    state = order.get("state")
    if order.get("sent") is False:
        sys.stderr.write(f"{order.get('error')}\n")
        return 128 + order["interrupted"] if order.get("interrupted") else EXIT_NOT_SENT
    if state == "unknown" and order.get("unreachable"):
        sys.stderr.write(f"cannot reach {order['unreachable']}: the order's state is unknown (it may be live "
                         f"at {venue}); ask again when the venue answers\n")
        return EXIT_UNKNOWN
    if state == "unknown" and not order.get("not_found"):
        cid = order.get("client_order_id") or "<client id>"
        sys.stderr.write(f"outcome unknown: the order may exist at {venue}. Check it with\n"
                         f"  venuelink order status --config ... --venue {venue} --symbol ... --client-id {cid}\n")
        return EXIT_UNKNOWN
    if order.get("amend_refused"):
        return EXIT_REFUSED
    if state in ("rejected", "unknown") or (order.get("error") and state not in ("canceled", "filled", "new",
                                                                     "partially_filled", "expired")):
        return EXIT_REFUSED
    return 0


def _unreached(args, ctx: dict, why: str) -> dict:
    """The answer when the venue gave none before anything was sent: `status` cannot tell the
    order's state (unknown: it may well be live), place / cancel / amend were not sent."""
    url = ctx.get("url") or "the venue"
    out = {"state": "unknown", "client_order_id": ctx["client_order_id"], "venue_order_id": "",
           "filled_qty": "0", "unreachable": url}
    if args.action == "status":
        return {**out, "error": f"cannot reach {url} ({why}): the order's state is unknown"}
    return {**out, "state": "not_sent" if args.action == "place" else "unknown", "sent": False,
            "error": f"{args.action} not sent: cannot reach {url} ({why})"}


async def _order_bounded(cfg: Config, args) -> dict:
    """The order command within its time limit. SIGINT / SIGTERM stop it the same way: what is in
    flight is abandoned, the engine closed, and the answer printed is the truth as far as it is
    known: an order (or cancel) that may have reached the venue is `unknown` with its client id
    (exit 3), one that was never sent says so."""
    ctx: dict = {"client_order_id": args.client_id or "", "sent": False, "url": "", "started": False}
    wait = ORDER_WAIT_S if args.wait is None else args.wait
    task = asyncio.ensure_future(_order(cfg, args, ctx))
    loop = asyncio.get_running_loop()
    signals: list[signal.Signals] = []

    def interrupted(sig: signal.Signals) -> None:
        signals.append(sig)
        task.cancel()

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, interrupted, sig)
    try:
        return await asyncio.wait_for(task, wait + 30.0)
    except asyncio.TimeoutError:
        if not ctx["started"]:
            return _unreached(args, ctx, "no answer within the time limit")
        return {"state": "unknown", "client_order_id": ctx["client_order_id"], "venue_order_id": "",
                "filled_qty": "0", "error": "no answer within the time limit: check the order with "
                                            "`venuelink order status`"}
    except asyncio.CancelledError:
        if not signals:
            raise
        name = signals[0].name
        if not ctx["sent"]:
            # nothing left the process: not a refusal by the venue, and no order to wonder about
            return {"state": "not_sent" if args.action == "place" else "unknown", "client_order_id":
                    ctx["client_order_id"], "venue_order_id": "", "filled_qty": "0", "sent": False,
                    "interrupted": int(signals[0]), "error": f"interrupted by {name} before anything was sent"}
        return {"state": "unknown", "client_order_id": ctx["client_order_id"], "venue_order_id": "",
                "filled_qty": "0", "error": f"interrupted by {name} before the venue's answer: the {args.action} "
                                            f"may have reached the venue"}
    finally:
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)


def _origin(url: str) -> str:
    """scheme://host:port of a URL (no path or query)."""
    from urllib.parse import urlsplit
    u = urlsplit(url)
    return f"{u.scheme}://{u.netloc}" if u.netloc else url


async def _order(cfg: Config, args, ctx: dict) -> dict:
    from venuelink.engine import Engine
    eng = Engine(cfg)
    wait = ORDER_WAIT_S if args.wait is None else args.wait
    try:
        rt = eng.runtime(args.venue)
        ctx["url"] = _origin(rt.rest.base_url)
        try:
            await eng.start(market_data=False)
        except _unreached_errors() as e:
            return _unreached(args, ctx, str(e))
        ctx["started"] = True
        om = rt.orders
        if args.symbol not in rt.adapter.instruments:
            known = sorted(rt.adapter.instruments)
            return {"usage_error": f"{args.venue} has no instrument {args.symbol!r}"
                                   + (f" (e.g. {', '.join(known[:5])})" if known else "")}
        inst = rt.adapter.instrument(args.symbol)
        follow = args.wait is not None          # until final (or the time is up), not only until definite
        if args.action == "place":
            why = _terms_usage(inst, args, None)
            if why is not None:
                return {"usage_error": why}
            market = args.type == "market"
            tif = TimeInForce.IOC if market else TimeInForce[args.tif or "GTC"]
            follow = follow or tif in (TimeInForce.IOC, TimeInForce.FOK)
            cid = args.client_id or rt.execution.new_client_order_id()
            ctx["client_order_id"] = cid                # known before the request leaves
            req = OrderRequest(VenueId.parse(args.venue), args.symbol, Side.BUY if args.side == "buy" else Side.SELL,
                               OrderType.MARKET if market else OrderType.LIMIT, args.qty, args.price,
                               tif, cid, reduce_only=args.reduce_only)
            ctx["sent"] = True
            order = await om.place(req)
        else:
            order = await _adopt(rt, args.symbol, args.client_id)
            if order is None:
                return {"state": "unknown", "client_order_id": args.client_id, "venue_order_id": "",
                        "filled_qty": "0", "error": "the venue has no such order", "not_found": True}
            if args.action == "cancel":
                ctx["sent"] = True
                order = await om.cancel(args.client_id)
            elif args.action == "amend":
                why = _terms_usage(inst, args, order)
                if why is not None:
                    return {"usage_error": why}
                ctx["sent"] = True
                try:
                    order = await om.amend(args.client_id, qty=args.qty, price=args.price)
                except (NotImplementedError, ValueError, EngineError) as e:
                    # the order is untouched (or shows what it became): print it with the refusal
                    return {**order.to_json(), "error": f"amend refused: {e}", "amend_refused": True}
        order = await _follow(om, order, wait, follow)
        return order.to_json()
    except (EngineError, OSError, ValueError, KeyError) as e:
        return {"state": "rejected", "client_order_id": getattr(args, "client_id", None) or "", "venue_order_id": "",
                "filled_qty": "0", "error": str(e)}
    finally:
        await eng.close()


_PENDING = (OrderState.PENDING_NEW, OrderState.UNKNOWN, OrderState.CANCEL_PENDING)


async def _follow(om, order: Order, wait: float, follow: bool) -> Order:
    """The order as the venue has it at the end: its pushed updates (the private stream), and its
    REST answer where they do not settle it. Until the answer is definite, up to `wait` seconds;
    with `follow`, until the order is final (a market order filled, an IOC one expired...) or the
    `wait` is up, asking the venue every half second as the stream may not carry it."""
    def settled(o: Order) -> bool:
        return o.state.is_final if follow else o.state not in _PENDING

    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    next_query = loop.time() + 0.5
    while not settled(order) and loop.time() < deadline:
        await asyncio.sleep(0.05)
        if follow and order.state not in _PENDING and loop.time() >= next_query and not settled(order):
            next_query = loop.time() + 0.5
            try:
                order = await om.status(order.client_order_id)
            except (EngineError, OSError, asyncio.TimeoutError) as e:
                log.info("order status query failed: %s", e)
    # the stream did not settle it (or there is none): the venue's REST answer decides what is
    # printed, a few tries apart, never a guess
    for attempt in range(4):
        if order.state not in _PENDING and (attempt or settled(order)):
            break
        if attempt:
            await asyncio.sleep(0.25 * attempt)
        try:
            order = await om.status(order.client_order_id)
        except (EngineError, OSError, asyncio.TimeoutError) as e:
            log.info("order status query failed: %s", e)
    return order


async def _adopt(rt, symbol: str, client_id: str) -> Order | None:
    """Learn an order placed by another process (query it) so the order manager owns it."""
    stub = Order(rt.venue, rt.adapter.instrument(symbol).symbol, client_id, Side.BUY, OrderType.LIMIT, "0", None,
                 TimeInForce.GTC, state=OrderState.UNKNOWN)
    try:
        u = await rt.execution.query(stub)
    except UnknownOrder:
        return None
    rt.orders.on_venue_update(u)
    order = await rt.orders.status(client_id, refresh=False)
    if order.type == OrderType.MARKET or order.price in ("0", ""):
        # the venue's answer names neither type nor time in force (Binance reports a market
        # order's price as 0): a market order, immediate-or-cancel as `place` sends and prints it
        order.type, order.price, order.tif = OrderType.MARKET, None, TimeInForce.IOC
    return order
