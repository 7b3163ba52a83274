"""A strategy program as it runs in production (venuelink-strategy@example.service): the engine
lives inside it, configured by the file given as the first argument; logs go to stderr (the
journal); SIGTERM stops it cleanly. This one only watches: it logs every book state change, the
spread once a minute, and its venues' order updates and fills. Put the decisions in on_book.

    .venv/bin/python deploy/strategy_example.py /etc/venuelink/venuelink.toml [--report-s 60]
"""
import argparse
import asyncio
import contextlib
import logging
import signal
import time

from venuelink import BookState, BookView, ConfigError, Engine, EngineError, Fill, Order, load_config

log = logging.getLogger("strategy")


class Watcher:
    def __init__(self, report_s: float) -> None:
        self.report_s = report_s
        self.books: dict[tuple[str, str], BookView] = {}
        self.last_report = time.monotonic()

    def on_book(self, book: BookView) -> None:          # called for LIVE books only, on every update
        self.books[(book.venue.name, book.symbol)] = book
        now = time.monotonic()
        if now - self.last_report >= self.report_s:
            self.last_report = now
            for (venue, symbol), b in sorted(self.books.items()):
                if b.state != BookState.LIVE:
                    continue
                (bid, _), (ask, _) = b.best_bid(), b.best_ask()
                log.info("%s %s bid %s ask %s spread %s", venue, symbol, b.instrument.px_str(bid),
                         b.instrument.px_str(ask), b.instrument.px_str(ask - bid))

    def on_state(self, venue: str):
        def cb(symbol: str, state: BookState) -> None:  # pull quotes here when a book stops being LIVE
            log.info("%s %s book %s", venue, symbol, state)
        return cb

    @staticmethod
    def on_order(o: Order) -> None:
        log.info("order %s %s %s filled %s", o.venue, o.client_order_id, o.state, o.filled_qty)

    @staticmethod
    def on_fill(o: Order, f: Fill) -> None:
        log.info("fill %s %s %s @ %s", o.venue, o.client_order_id, f.qty, f.price)


async def main(config_path: str, report_s: float) -> int:
    cfg = load_config(config_path)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    w = Watcher(report_s)
    async with Engine(cfg) as eng:
        for venue, vc in cfg.venues.items():
            for symbol in vc.symbols:
                eng.subscribe_book(venue, symbol, w.on_book)
                eng.subscribe_book_state(venue, symbol, w.on_state(venue))
            if vc.credentials() is not None:
                eng.subscribe_orders(venue, w.on_order, w.on_fill)
        await eng.start()
        log.info("started: %s", ", ".join(f"{v} {' '.join(c.symbols)}" for v, c in cfg.venues.items()))
        await stop.wait()
        log.info("stopping")
    log.info("stopped")
    return 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("config")
    p.add_argument("--report-s", type=float, default=60.0, help="seconds between spread lines (default 60)")
    a = p.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("venuelink").setLevel(logging.WARNING)
    try:
        raise SystemExit(asyncio.run(main(a.config, a.report_s)))
    except (ConfigError, EngineError) as e:
        with contextlib.suppress(Exception):
            log.error("%s", e)
        raise SystemExit(2)
