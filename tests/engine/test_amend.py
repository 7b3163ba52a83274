"""Amending a resting order in place, through the engine, against each venue's own simulator:
the new terms reach the venue (its own query answers them), the order keeps its ids, the order
manager reports the change once, a lost answer is resolved by a query, and what cannot be
amended is refused with a clear error before anything is sent. Venues without an amend say so."""
import asyncio
import time
from decimal import Decimal

import pytest

from venuelink import registry
from venuelink.config import Config
from venuelink.tools.simconfig import venue_config_for
from venuelink.engine import Engine
from venuelink.errors import Rejected, UnknownOrder
from venuelink.model import OrderRequest, OrderState, OrderType, Side, VenueId
from venuelink.sim.server import running_simulator
from tests.engine.conftest import admin
from tests.waiting import wait_for
from tests.venue_cases import btc, case, resting


@pytest.mark.parametrize("venue", registry.trading())
async def test_amend_price_and_size_in_place(venue):
    qty, price = resting(venue)
    sym = btc(venue)
    new_qty, rest_qty = case(venue, "amend_sizes")
    with running_simulator(venue, rate=20) as sim:
        eng = Engine(Config(venues={venue: venue_config_for(venue, sim, [sym])}, metrics_port=0))
        try:
            await eng.start(market_data=False)
            rt = eng.runtime(venue)
            ex = rt.execution
            seen = []
            eng.subscribe_orders(venue, lambda o: seen.append((o.state, o.qty, o.price)))
            o = await eng.place(OrderRequest(VenueId.parse(venue), sym, Side.BUY, OrderType.LIMIT, qty, price))
            assert o.state is OrderState.NEW
            if not hasattr(ex, "amend"):
                with pytest.raises(NotImplementedError, match="amend"):
                    await eng.amend(venue, o.client_order_id, price="1001")
                return
            # the private stream, and the order socket where orders have one of their own
            assert await wait_for(lambda: ex.stream_connected and getattr(ex, "orders_connected", True))
            ids = (o.client_order_id, o.venue_order_id)
            n = len(seen)
            ws = hasattr(ex, "ws_orders")                         # orders over the private socket
            before_ws = ex.ws_orders if ws else 0
            o = await eng.amend(venue, o.client_order_id, qty=new_qty, price="1000.5")
            assert (o.client_order_id, o.venue_order_id) == ids and o.state is OrderState.NEW
            assert Decimal(o.qty) == Decimal(new_qty) and Decimal(o.price) == Decimal("1000.5")
            if ws:
                assert ex.ws_orders == before_ws + 1                # the fast path: the private socket
            assert seen[n:].count((OrderState.NEW, o.qty, o.price)) == 1
            u = await ex.query(o)                                   # the venue's own word
            assert Decimal(u.qty) == Decimal(new_qty) and Decimal(u.price) == Decimal("1000.5")
            # the stream's push of the amendment does not undo or repeat anything
            await asyncio.sleep(0.3)
            assert Decimal(o.qty) == Decimal(new_qty) and seen[-1] == (OrderState.NEW, o.qty, o.price)

            # refused before sending: nothing to change, not above the filled part, not a number
            with pytest.raises(ValueError, match="qty or a new price"):
                await eng.amend(venue, o.client_order_id)
            with pytest.raises(ValueError, match="positive"):
                await eng.amend(venue, o.client_order_id, qty="0")
            with pytest.raises(ValueError, match="decimal"):
                await eng.amend(venue, o.client_order_id, price="cheap")
            with pytest.raises(Rejected, match="tick"):                # off the price grid
                await eng.amend(venue, o.client_order_id, price=case(venue, "off_tick_price"))
            assert Decimal(o.price) == Decimal("1000.5")

            # the answer is lost after the venue executed it: a query settles the terms
            await admin(sim, "POST", "/fault", {"type": "order", "mode": "unknown", "count": 1})
            o = await eng.amend(venue, o.client_order_id, price="1000.2")
            assert Decimal(o.price) == Decimal("1000.2") and o.state is OrderState.NEW

            # over REST while the private socket is down
            before_rest = getattr(ex, "rest_orders", 0)
            await admin(sim, "POST", "/fault", {"type": "disconnect", "scope": "user"})
            assert await wait_for(lambda: not ex.stream_connected, 3.0)
            o = await eng.amend(venue, o.client_order_id, qty=rest_qty)
            assert Decimal(o.qty) == Decimal(rest_qty)
            if ws:
                assert ex.rest_orders == before_rest + 1
            assert Decimal((await ex.query(o)).qty) == Decimal(rest_qty)

            # a canceled order has nothing to amend: the engine knows without asking
            o = await eng.cancel(venue, o.client_order_id)
            assert await wait_for(lambda: o.state is OrderState.CANCELED)
            with pytest.raises(UnknownOrder, match="CANCELED"):
                await eng.amend(venue, o.client_order_id, price="1000.1")
        finally:
            await eng.close()


@pytest.mark.parametrize("venue", [v for v in registry.available() if v == "okx"])
async def test_amend_of_an_order_the_venue_no_longer_has_learns_what_it_became(venue):
    """The venue refuses the amend (the order filled or was canceled meanwhile, its events lost):
    UnknownOrder, and the order shows the venue's final state."""
    qty, price = resting(venue)
    with running_simulator(venue, rate=20) as sim:
        eng = Engine(Config(venues={venue: venue_config_for(venue, sim, ["BTC/USDT"])}, metrics_port=0))
        try:
            await eng.start(market_data=False)
            ex = eng.runtime(venue).execution
            o = await eng.place(OrderRequest(VenueId.parse(venue), "BTC/USDT", Side.BUY, OrderType.LIMIT, qty, price))
            # the private stream stops; the order is canceled behind the engine's back
            await ex.private_ws.close()
            await ex.cancel(o)
            assert o.state is OrderState.NEW                       # the engine has not heard yet
            with pytest.raises(UnknownOrder):
                await eng.amend(venue, o.client_order_id, price="1000.5")
            assert o.state is OrderState.CANCELED and Decimal(o.price) == Decimal(price)
        finally:
            await eng.close()
