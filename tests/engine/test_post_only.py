"""Post-only orders on every venue, through the engine against its own simulator: one that would
rest is placed and rests as a maker order, one that would take liquidity is refused by the venue
(REJECTED with the venue's reason, nothing filled), and a post-only market order is refused
before anything is sent."""
import pytest

from venuelink import registry
from venuelink.config import Config
from venuelink.tools.simconfig import venue_config_for
from venuelink.engine import Engine
from venuelink.model import OrderRequest, OrderState, OrderType, Side, TimeInForce, VenueId
from venuelink.sim.server import running_simulator
from tests.venue_cases import btc, resting, small
from tests.waiting import wait_for


@pytest.mark.parametrize("venue", registry.trading())
async def test_post_only_rests_or_is_refused_never_takes(venue):
    with running_simulator(venue, rate=20) as sim:
        sym, (qty, price) = btc(venue), resting(venue)
        eng = Engine(Config(venues={venue: venue_config_for(venue, sim, [sym])}, metrics_port=0))
        try:
            await eng.start(market_data=False)
            vid = VenueId.parse(venue)
            ex = eng.runtime(venue).execution
            o = await eng.place(OrderRequest(vid, sym, Side.BUY, OrderType.LIMIT, qty, price,
                                             TimeInForce.POST_ONLY))
            assert o.state is OrderState.NEW and o.tif is TimeInForce.POST_ONLY
            assert (await ex.query(o)).state is OrderState.NEW                 # resting on the venue
            # far above the market: it would take, so the venue refuses it
            x = await eng.place(OrderRequest(vid, sym, Side.BUY, OrderType.LIMIT, small(venue), "100000",
                                             TimeInForce.POST_ONLY))
            # refused in the answer (most venues), or accepted and then refused on the private
            # stream (Bybit: Cancelled with EC_PostOnlyWillTakeLiquidity)
            assert await wait_for(lambda: x.state.is_final, 10), x
            assert x.state is OrderState.REJECTED and x.filled_qty == "0" and x.error, x
            m = await eng.place(OrderRequest(vid, sym, Side.BUY, OrderType.MARKET, small(venue), None,
                                             TimeInForce.POST_ONLY))
            assert m.state is OrderState.REJECTED and "post-only" in m.error
            await eng.cancel(venue, o.client_order_id)
        finally:
            await eng.close()
