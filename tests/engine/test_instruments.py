"""Instruments as each venue's instruments endpoint states them: trading status and the minimum
order value, both used before an order leaves the host, and rows an adapter cannot read logged
with their count rather than dropped without a word."""
import logging
from decimal import Decimal

import pytest

from venuelink.adapters.binance.symbols import parse_exchange_info
from venuelink.adapters.okx.symbols import parse_instruments as parse_okx
from venuelink.ccxt_tier.worker import instrument_of
from venuelink.errors import Rejected
from venuelink.model import Instrument, InstrumentStatus, MarketKind, Order, OrderType, Side, TimeInForce, VenueId
from venuelink.order_checks import checked_units
from venuelink.venue import min_mantissa


def _binance_symbol(sym, status="TRADING", extra=()):
    return {"symbol": sym, "status": status, "baseAsset": sym[:-4], "quoteAsset": "USDT",
            "filters": [{"filterType": "PRICE_FILTER", "minPrice": "0.01000000", "maxPrice": "1000000.00000000",
                         "tickSize": "0.01000000"},
                        {"filterType": "LOT_SIZE", "minQty": "0.00001000", "maxQty": "9000.00000000",
                         "stepSize": "0.00001000"}, *extra]}


NOTIONAL = {"filterType": "NOTIONAL", "minNotional": "5.00000000", "applyMinToMarket": True,
            "maxNotional": "9000000.00000000", "applyMaxToMarket": False, "avgPriceMins": 5}
LEGACY = {"filterType": "MIN_NOTIONAL", "minNotional": "10.00000000", "applyToMarket": True, "avgPriceMins": 5}


def test_binance_status_and_minimum_order_value():
    insts = parse_exchange_info({"symbols": [
        _binance_symbol("BTCUSDT", extra=[NOTIONAL]), _binance_symbol("ETHUSDT", "BREAK", [LEGACY]),
        _binance_symbol("SOLUSDT", "PRE_TRADING"), _binance_symbol("XRPUSDT", "SOMETHING_NEW")]})
    got = {i.venue_symbol: (i.status, i.active, i.notional_str(i.min_notional)) for i in insts}
    assert got == {"BTCUSDT": (InstrumentStatus.TRADING, True, "5"),
                   "ETHUSDT": (InstrumentStatus.HALTED, False, "10"),
                   "SOLUSDT": (InstrumentStatus.PREOPEN, False, "0"),
                   "XRPUSDT": (InstrumentStatus.HALTED, False, "0")}      # unknown text: never presumed open


def test_okx_states():
    rows = [{"instType": "SPOT", "instId": f"{b}-USDT", "baseCcy": b, "quoteCcy": "USDT", "tickSz": "0.1",
             "lotSz": "0.0001", "minSz": "0.001", "state": st}
            for b, st in (("BTC", "live"), ("ETH", "suspend"), ("SOL", "preopen"), ("TST", "test"), ("NEW", "x"))]
    insts = parse_okx({"code": "0", "data": rows})
    assert [i.status for i in insts] == [InstrumentStatus.TRADING, InstrumentStatus.HALTED,
                                         InstrumentStatus.PREOPEN, InstrumentStatus.HALTED, InstrumentStatus.HALTED]
    assert all(i.min_notional == 0 for i in insts)      # OKX states a minimum size only


def test_unreadable_rows_are_logged_with_their_count(caplog):
    bad_b = _binance_symbol("ETHUSDT")
    bad_b["filters"] = bad_b["filters"][1:]                        # no PRICE_FILTER
    with caplog.at_level(logging.WARNING):
        assert [i.venue_symbol for i in parse_exchange_info({"symbols": [_binance_symbol("BTCUSDT"), bad_b]})] \
            == ["BTCUSDT"]
        insts = parse_okx({"code": "0", "data": [
            {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "settleCcy": "USDT", "ctVal": "0", "ctValCcy": "BTC",
             "tickSz": "0.1", "lotSz": "0.01", "minSz": "0.01", "state": "live"},
            {"instType": "SPOT", "instId": "ETH-USDT", "baseCcy": "ETH", "quoteCcy": "USDT", "tickSz": "0.01",
             "lotSz": "0.0001", "minSz": "0.001", "state": "live"}]})
    assert [i.venue_symbol for i in insts] == ["ETH-USDT"]
    msgs = [r.getMessage() for r in caplog.records]
    assert any("binance instruments: 1 row(s) skipped" in m and "ETHUSDT: KeyError" in m for m in msgs), msgs
    assert any("okx instruments: 1 row(s) skipped" in m and "BTC-USDT-SWAP: ValueError" in m for m in msgs), msgs


def _inst(**kw):
    base = dict(venue=VenueId.binance, venue_symbol="BTCUSDT", symbol="BTC/USDT", base="BTC", quote="USDT",
                px_scale=2, qty_scale=5, tick=1, lot=1, min_qty=1, min_notional=min_mantissa("5", 7))
    return Instrument(**{**base, **kw})


def _order(qty, price, type_=OrderType.LIMIT):
    return Order(venue=VenueId.binance, symbol="BTC/USDT", client_order_id="c1", side=Side.BUY, type=type_,
                 qty=qty, price=price, tif=TimeInForce.GTC if type_ == OrderType.LIMIT else TimeInForce.IOC)


def test_orders_below_the_minimum_value_or_on_a_halted_instrument_never_leave():
    inst = _inst()
    assert checked_units(inst, _order("0.00008", "62500.00"), "binance") == (8, 6250000)      # exactly 5
    with pytest.raises(Rejected, match=r"price x size 4.99995 is below the venue's minimum order value 5"):
        checked_units(inst, _order("0.00001", "499995.00"), "binance")
    # a market order has no price here: the venue judges its value
    assert checked_units(inst, _order("0.00001", None, OrderType.MARKET), "binance") == (1, None)
    # contract sizes: the value needs the contract size, which is left to the venue
    swap = _inst(kind=MarketKind.SWAP, contract_size=1, contract_scale=2, contract_ccy="BTC")
    assert checked_units(swap, _order("0.00001", "1.00"), "binance") == (1, 100)
    for st in (InstrumentStatus.HALTED, InstrumentStatus.PREOPEN, InstrumentStatus.DELISTED):
        with pytest.raises(Rejected, match=f"not trading at the venue now \\({st.name}\\)"):
            checked_units(_inst(status=st), _order("1", "62500.00"), "binance")


def test_minimum_finer_than_the_scale_rounds_up():
    assert min_mantissa("0.000001", 3) == 1 and min_mantissa("5.00000000", 3) == 5000 and min_mantissa("", 2) == 0
    with pytest.raises(ValueError):
        min_mantissa("-1", 2)


def test_ccxt_markets_carry_their_cost_limit_for_spot_only():
    m = {"symbol": "BTC/USDT", "id": "BTCUSDT", "type": "spot", "base": "BTC", "quote": "USDT",
         "precision": {"price": 0.01, "amount": 1e-05}, "limits": {"amount": {"min": 1e-05}, "cost": {"min": 5.0}},
         "active": True}
    assert instrument_of(m, False)["min_notional"] == "5.0"
    swap = {**m, "symbol": "BTC/USDT:USDT", "type": "swap", "contract": True, "contractSize": 0.01}
    assert instrument_of(swap, False)["min_notional"] == ""
    assert Decimal(instrument_of({**m, "active": False}, False)["tick"]) == Decimal("0.01")


def test_prices_in_significant_digits():
    """Bitfinex: 5 significant digits on a 1e-8 grid, on the way in (the tier's grid check of
    every value) and on the way out (an order price with more digits never leaves)."""
    from venuelink.ccxt_tier.grid import Grid, OffGrid
    g = Grid("0.00000001", "0.00000001", 5)
    assert g.price(64000.0) == "64000.00000000" and g.price(0.00012345) == "0.00012345" and g.price(63999.0)
    for bad in (64000.5, 123456.0, 0.000123456):
        with pytest.raises(OffGrid, match="significant digits|off the grid"):
            g.price(bad)
    m = {"symbol": "BTC/USD", "id": "tBTCUSD", "type": "spot", "base": "BTC", "quote": "USD",
         "precision": {"price": 5, "amount": 8}, "limits": {"price": {"min": 1e-08}, "amount": {"min": 6e-05}}}
    got = instrument_of(m, False, significant=True)
    assert (Decimal(got["tick"]), Decimal(got["lot"]), got["px_sig"]) == (Decimal("1e-8"), Decimal("1e-8"), 5)
    inst = _inst(px_scale=8, qty_scale=8, tick=1, lot=1, min_qty=1, min_notional=0, px_sig_digits=5)
    assert checked_units(inst, _order("0.001", "63999"), "binance")[1] == 6399900000000
    with pytest.raises(Rejected, match="more than the venue's 5 significant digits"):
        checked_units(inst, _order("0.001", "64000.5"), "binance")
