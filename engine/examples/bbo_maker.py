# SPDX-License-Identifier: Apache-2.0
"""Example: a best-bid/offer monitor that keeps one small passive bid a few ticks under the best
bid, re-quoting when the market moves away and cancelling when the book stops being live.

    python -m venuelink.examples.bbo_maker          # against the built-in simulator

Everything here is the venue-agnostic API: only the venue id and symbol name a venue.
"""
from __future__ import annotations

import asyncio
import logging

from venuelink import BookState, BookView, Engine, Order, OrderRequest, OrderType, Side, Trade, VenueId

log = logging.getLogger("bbo_maker")


class BboMaker:
    def __init__(self, eng: Engine, venue: str, symbol: str, *, qty: str = "0.001", ticks_behind: int = 5,
                 requote_ticks: int = 10) -> None:
        self.eng, self.venue, self.symbol = eng, venue, symbol
        self.qty, self.ticks_behind, self.requote_ticks = qty, ticks_behind, requote_ticks
        self.best_bid: int | None = None
        self.order: Order | None = None
        self.fills = 0
        self.pulls = 0
        eng.subscribe_book(venue, symbol, self.on_book)
        eng.subscribe_book_state(venue, symbol, self.on_book_state)
        eng.subscribe_trades(venue, symbol, self.on_trade)
        eng.subscribe_orders(venue, on_fill=self.on_fill)

    def on_book(self, book: BookView) -> None:          # called only for live books
        bb = book.best_bid()
        self.best_bid = bb[0] if bb else None

    def on_book_state(self, symbol: str, state: BookState) -> None:
        if state != BookState.LIVE:                      # gap, stale feed, reconnect: stop quoting
            self.best_bid = None
            if self.order is not None and not self.order.state.is_final:
                self.pulls += 1
                asyncio.ensure_future(self.eng.cancel(self.venue, self.order.client_order_id))

    def on_trade(self, trade: Trade) -> None:
        pass

    def on_fill(self, order: Order, fill) -> None:
        self.fills += 1
        log.info("filled %s @ %s", fill.qty, fill.price)

    async def run(self) -> None:
        inst = self.eng.runtime(self.venue).adapter.instrument(self.symbol)
        try:
            while True:
                await asyncio.sleep(0.5)
                if self.best_bid is None:
                    continue
                target = self.best_bid - self.ticks_behind * inst.tick
                live = self.order is not None and not self.order.state.is_final
                if live and abs(inst.px(self.order.price) - target) < self.requote_ticks * inst.tick:
                    continue
                if live:
                    await self.eng.cancel(self.venue, self.order.client_order_id)
                self.order = await self.eng.place(OrderRequest(VenueId.parse(self.venue), self.symbol, Side.BUY,
                                                               OrderType.LIMIT, self.qty, inst.px_str(target)))
        finally:
            if self.order is not None and not self.order.state.is_final:
                await self.eng.cancel(self.venue, self.order.client_order_id)


async def _main() -> None:
    import contextlib
    from venuelink.tools.simconfig import sim_config
    with contextlib.ExitStack() as stack:
        cfg = sim_config(["binance"], 50, stack)
        cfg.metrics_port = 0
        async with Engine(cfg) as eng:
            maker = BboMaker(eng, "binance", "BTC/USDT")
            await eng.start()
            task = asyncio.ensure_future(maker.run())
            await asyncio.sleep(10)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
            print(f"orders placed: {len(eng.runtime('binance').orders.orders)}, fills: {maker.fills}")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    asyncio.run(_main())
