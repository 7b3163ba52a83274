"""Amending a resting order in place, through the engine, against each venue's own simulator:
the new terms reach the venue (its own query answers them), the order keeps its ids, the order
manager reports the change once, a lost answer is resolved by a query, and what cannot be
amended is refused with a clear error before anything is sent. Venues without an amend say so."""
import asyncio
import time
from decimal import Decimal

import pytest

from engine import registry
from engine.config import Config
from engine.drill import venue_config_for
from engine.engine import Engine
from engine.errors import Rejected, UnknownOrder
from engine.model import OrderRequest, OrderState, OrderType, Side, VenueId
from engine.sim.server import running_simulator
from tests.engine.conftest import admin
from tests.waiting import wait_for

# far below the market, lot-aligned: rests without filling
RESTING = {"binance": ("0.001", "1000"), "okx": ("0.001", "1000")}




@pytest.mark.parametrize("venue", registry.available())
async def test_amend_price_and_size_in_place(venue):
    qty, price = RESTING[venue]
    with running_simulator(venue, rate=20) as sim:
        eng = Engine(Config(venues={venue: venue_config_for(venue, sim, ["BTC/USDT"])}, metrics_port=0))
        try:
            await eng.start(market_data=False)
            rt = eng.runtime(venue)
            ex = rt.execution
            seen = []
            eng.subscribe_orders(venue, lambda o: seen.append((o.state, o.qty, o.price)))
            o = await eng.place(OrderRequest(VenueId.parse(venue), "BTC/USDT", Side.BUY, OrderType.LIMIT, qty, price))
            assert o.state is OrderState.NEW
            if not hasattr(ex, "amend"):
                with pytest.raises(NotImplementedError, match="amend"):
                    await eng.amend(venue, o.client_order_id, price="1001")
                return
            assert await wait_for(lambda: ex.stream_connected)
            ids = (o.client_order_id, o.venue_order_id)
            n = len(seen)
            before_ws = ex.ws_orders
            o = await eng.amend(venue, o.client_order_id, qty="0.003", price="1000.5")
            assert (o.client_order_id, o.venue_order_id) == ids and o.state is OrderState.NEW
            assert Decimal(o.qty) == Decimal("0.003") and Decimal(o.price) == Decimal("1000.5")
            assert ex.ws_orders == before_ws + 1                    # the fast path: the private socket
            assert seen[n:].count((OrderState.NEW, o.qty, o.price)) == 1
            u = await ex.query(o)                                   # the venue's own word
            assert Decimal(u.qty) == Decimal("0.003") and Decimal(u.price) == Decimal("1000.5")
            # the orders channel's push of the amendment does not undo or repeat anything
            await asyncio.sleep(0.3)
            assert Decimal(o.qty) == Decimal("0.003") and seen[-1] == (OrderState.NEW, o.qty, o.price)

            # refused before sending: nothing to change, not above the filled part, not a number
            with pytest.raises(ValueError, match="qty or a new price"):
                await eng.amend(venue, o.client_order_id)
            with pytest.raises(ValueError, match="positive"):
                await eng.amend(venue, o.client_order_id, qty="0")
            with pytest.raises(ValueError, match="decimal"):
                await eng.amend(venue, o.client_order_id, price="cheap")
            with pytest.raises(Rejected, match="tick"):                # off the price grid
                await eng.amend(venue, o.client_order_id, price="1000.55")
            assert Decimal(o.price) == Decimal("1000.5")

            # the answer is lost after the venue executed it: a query settles the terms
            await admin(sim, "POST", "/fault", {"type": "order", "mode": "unknown", "count": 1})
            o = await eng.amend(venue, o.client_order_id, price="1000.2")
            assert Decimal(o.price) == Decimal("1000.2") and o.state is OrderState.NEW

            # over REST while the private socket is down
            before_rest = ex.rest_orders
            await admin(sim, "POST", "/fault", {"type": "disconnect", "scope": "user"})
            assert await wait_for(lambda: not ex.stream_connected, 3.0)
            o = await eng.amend(venue, o.client_order_id, qty="0.002")
            assert Decimal(o.qty) == Decimal("0.002") and ex.rest_orders == before_rest + 1
            assert Decimal((await ex.query(o)).qty) == Decimal("0.002")

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
    qty, price = RESTING[venue]
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
