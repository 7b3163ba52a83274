"""Positions pushed to the strategy (Engine.subscribe_positions), against the Binance USD-M
simulator: its user stream's ACCOUNT_UPDATE after each fill reaches subscribers as exact
Positions, a closed position as qty "0"; a subscriber that raises does not stop the feed, and a
malformed event is counted, never raised."""
from decimal import Decimal

from venuelink.config import Config
from venuelink.tools.simconfig import venue_config_for
from venuelink.engine import Engine
from venuelink.model import OrderRequest, OrderType, Position, Side, VenueId
from venuelink.sim.server import running_simulator
from tests.waiting import wait_for

VENUE, SYM = "binanceusdm", "BTC/USDT:USDT"
QTY = "0.01"                    # ~600 USDT at ~60000: above USD-M's 100 USDT minimum notional


async def test_positions_pushed_open_and_closed_through_a_raising_subscriber():
    with running_simulator(VENUE, rate=20) as sim:
        eng = Engine(Config(venues={VENUE: venue_config_for(VENUE, sim, [SYM])}, metrics_port=0))
        try:
            raised = []

            def broken(p: Position) -> None:
                raised.append(p)
                raise RuntimeError("strategy bug")
            seen: list[Position] = []
            eng.subscribe_positions(VENUE, broken)           # first: its exception must not stop the next
            eng.subscribe_positions(VENUE, seen.append)
            await eng.start(market_data=False)
            rt = eng.runtime(VENUE)
            ex = rt.execution
            assert await wait_for(lambda: ex.stream_connected)

            await eng.place(OrderRequest(VenueId.binanceusdm, SYM, Side.BUY, OrderType.MARKET, QTY))
            assert await wait_for(lambda: seen, 5.0)
            p = seen[-1]
            assert (p.venue, p.symbol, p.qty, p.settle) == (VenueId.binanceusdm, SYM, "0.01", "USDT")
            (held,) = [h for h in await eng.positions(VENUE) if h.symbol == SYM]
            assert p.entry_price == held.entry_price and Decimal(p.entry_price) > 0   # the venue's own, exact
            Decimal(p.unrealized_pnl)                           # a number, exact text
            assert raised and rt.strategy_errors >= 1

            n = len(seen)
            await eng.place(OrderRequest(VenueId.binanceusdm, SYM, Side.SELL, OrderType.MARKET, QTY))
            assert await wait_for(lambda: len(seen) > n and seen[-1].qty == "0", 5.0)
            assert seen[-1].symbol == SYM and seen[-1].settle == "USDT"
            assert len(raised) == len(seen)                     # the raising subscriber got every one too
            assert rt.strategy_errors == len(raised)
            assert [h for h in await eng.positions(VENUE) if h.symbol == SYM] == []

            # malformed events: counted, dropped, never raised; good entries beside a bad one still go
            bad0, n = ex.bad_events, len(seen)
            good = {"s": "BTCUSDT", "pa": "-0.020", "ep": "60000.10", "bep": "0", "cr": "0", "up": "-1.50000000",
                    "mt": "cross", "iw": "0", "ps": "BOTH"}
            for msg in ({"e": "ACCOUNT_UPDATE"}, {"e": "ACCOUNT_UPDATE", "a": None},
                        {"e": "ACCOUNT_UPDATE", "a": {"P": "x"}},
                        {"e": "ACCOUNT_UPDATE", "a": {"m": "ORDER", "P": [{**good, "pa": "lots"}, {**good, "ep": 1},
                                                                           {"s": "BTCUSDT"}, good]}}):
                ex._on_push(msg)
            assert ex.bad_events == bad0 + 6
            assert seen[n:] == [Position(VenueId.binanceusdm, SYM, "-0.02", "60000.1", "-1.5", "USDT")]
        finally:
            await eng.close()
