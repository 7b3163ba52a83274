"""The account side of the strategy API, the same on every native venue: its instruments, its
balances (free and locked, exact), its open orders whoever placed them, and cancel-all checked with
the venue; against each venue's simulator."""
import os
from decimal import Decimal

import pytest

from venuelink.config import Config, VenueConfig
from venuelink.engine import Engine
from venuelink.errors import EngineError
from venuelink.model import Balance, OrderRequest, OrderState, OrderType, Side, VenueId
from venuelink.sim.server import running_simulator
from tests.engine.conftest import admin
from tests.tiers import case_id, sim_options, sim_symbols, tier_cases, tier_config


def _config(venue: str, sim, tier: str = "native", derivatives: bool = False) -> VenueConfig:
    env = {"VL_ACCT_KEY": sim["api_key"], "VL_ACCT_SECRET": sim["api_secret"]}
    kw = {}
    if "api_passphrase" in sim.info:
        env["VL_ACCT_PHRASE"] = sim["api_passphrase"]
        kw["api_passphrase_env"] = "VL_ACCT_PHRASE"
    os.environ.update(env)
    if tier == "native":
        kw.update(ws_api_url=sim["ws_api_url"])
    kw.update(tier_config(venue, tier, sim, ["BTC/USDT"], **kw))
    if tier == "ccxt" and derivatives:
        kw["ccxt_options"] = {"fetchMarkets": {"types": ["spot", "swap"]}}
    return VenueConfig(name=venue, api_key_env="VL_ACCT_KEY", api_secret_env="VL_ACCT_SECRET", symbols=["BTC/USDT"],
                       request_timeout_s=3.0, **kw)


CASES = [pytest.param(v, t, id=case_id((v, t))) for v, t in tier_cases(["binance", "okx"])]


@pytest.mark.parametrize("venue,tier", CASES)
async def test_instruments_balances_open_orders_and_cancel_all(venue, tier):
    with running_simulator(venue, rate=20, **sim_options(venue, tier)) as sim:
        eng = Engine(Config(venues={venue: _config(venue, sim, tier)}, metrics_port=0))
        try:
            await eng.start(market_data=False)
            insts = eng.instruments(venue)
            assert [i.symbol for i in insts] == sorted(i.symbol for i in insts)
            btc = next(i for i in insts if i.symbol == "BTC/USDT")
            assert btc.px_scale > 0 and btc.qty_scale > 0
            before = {b.asset: b for b in await eng.balances(venue)}
            assert all(isinstance(b, Balance) and Decimal(b.free) >= 0 for b in before.values())
            assert Decimal(before["USDT"].free) > 0 and Decimal(before["USDT"].locked) == 0
            native = sim_symbols(venue, sim)["BTC/USDT"]          # the venue's own name
            book = await admin(sim, "GET", "/book?symbol=" + native + "&limit=1")
            px = str((Decimal(btc.px_str(btc.px(book["bids"][0][0]))) * Decimal("0.8")).quantize(
                Decimal(1).scaleb(-btc.px_scale)))
            o = await eng.place(OrderRequest(VenueId.parse(venue), "BTC/USDT", Side.BUY, OrderType.LIMIT, "0.01", px))
            assert o.state == OrderState.NEW
            held = {b.asset: b for b in await eng.balances(venue)}
            assert Decimal(held["USDT"].locked) == Decimal(px) * Decimal("0.01")
            assert Decimal(held["USDT"].free) == Decimal(before["USDT"].free) - Decimal(held["USDT"].locked)
            opened = await eng.open_orders(venue, "BTC/USDT")
            assert [(u.symbol, u.client_order_id) for u in opened] == [("BTC/USDT", o.client_order_id)]
            with pytest.raises(EngineError, match="no instrument 'BTCUSDT'|no instrument 'BTC-USDT'"):
                await eng.open_orders(venue, native)
        finally:
            await eng.close()                       # the order stays open at the venue
        eng = Engine(Config(venues={venue: _config(venue, sim, tier)}, metrics_port=0))
        try:
            await eng.start(market_data=False)
            assert [u.client_order_id for u in await eng.open_orders(venue)] == [o.client_order_id]
            assert await eng.cancel_all(venue) == []            # an order another process placed, too
            assert await eng.open_orders(venue) == []
            after = {b.asset: b for b in await eng.balances(venue)}
            assert Decimal(after["USDT"].locked) == 0 and after["USDT"].free == before["USDT"].free
        finally:
            await eng.close()


@pytest.mark.parametrize("venue,tier", CASES)
async def test_positions(venue, tier):
    """A swap bought shows as a signed position in contracts with its entry price and contract
    size (OKX); a spot-only venue has none."""
    with running_simulator(venue, rate=20, **sim_options(venue, tier)) as sim:
        eng = Engine(Config(venues={venue: _config(venue, sim, tier, derivatives=venue == "okx")}, metrics_port=0))
        try:
            await eng.start(market_data=False)
            assert await eng.positions(venue) == []
            if venue == "okx":
                o = await eng.place(OrderRequest(VenueId.okx, "BTC/USDT:USDT", Side.SELL, OrderType.MARKET, "2"))
                for _ in range(50):
                    if o.state == OrderState.FILLED:
                        break
                    await eng.status(venue, o.client_order_id)
                assert o.state == OrderState.FILLED
                (p,) = await eng.positions(venue)
                assert (p.symbol, p.qty, p.settle) == ("BTC/USDT:USDT", "-2", "USDT")
                assert Decimal(p.entry_price) > 0 and p.contract_size == next(
                    i for i in eng.instruments(venue) if i.symbol == "BTC/USDT:USDT").contract_size_str()
        finally:
            await eng.close()
