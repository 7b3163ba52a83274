"""Order entry through the CCXT tier: CCXT's own `binance` client in the venue's worker process,
against the Binance simulator on loopback (every other host of the exchange goes to a closed
local port), driven by the engine's unchanged OrderManager."""
import contextlib
import os
import textwrap
import time
from decimal import Decimal

import ccxt
import pytest

from venuelink.ccxt_tier.errors import engine_error, error_chain
from venuelink.ccxt_tier.execution import CcxtExecution
from venuelink.config import load_config
from venuelink.engine import Engine
from venuelink.errors import (AuthError, CircuitOpen, ExecutionUnknown, IpBanned, RateLimited, Rejected, TimestampError,
                           UnknownOrder, VenueError)
from venuelink.model import Order, OrderRequest, OrderState, OrderType, Side, TimeInForce, VenueId
from venuelink.sim.server import running_simulator
from tests.engine.conftest import admin, count_reconciles
from tests.waiting import wait_for

BTC = "BTC/USDT"


# ---------------------------------------------------------------------------- the exception table
def _mapped(exc, *, write, status=0, retry=0.0):
    err = {"chain": error_chain(exc), "msg": str(exc), "http_status": status, "retry_after_s": retry}
    return engine_error(err, write=write, venue="x")


@pytest.mark.parametrize("cls, on_read, on_write", [
    (ccxt.OnMaintenance, CircuitOpen, CircuitOpen),
    (ccxt.ExchangeNotAvailable, CircuitOpen, ExecutionUnknown),      # a 5xx may have executed
    (ccxt.RateLimitExceeded, RateLimited, RateLimited),
    (ccxt.DDoSProtection, RateLimited, RateLimited),
    (ccxt.RequestTimeout, ExecutionUnknown, ExecutionUnknown),
    (ccxt.NetworkError, ExecutionUnknown, ExecutionUnknown),
    (ccxt.InvalidNonce, TimestampError, TimestampError),
    (ccxt.AuthenticationError, AuthError, AuthError),
    (ccxt.PermissionDenied, AuthError, AuthError),
    (ccxt.AccountSuspended, AuthError, AuthError),
    (ccxt.InsufficientFunds, Rejected, Rejected),
    (ccxt.InvalidOrder, Rejected, Rejected),
    (ccxt.BadSymbol, Rejected, Rejected),
    (ccxt.OrderNotFound, UnknownOrder, UnknownOrder),
    (ccxt.DuplicateOrderId, ExecutionUnknown, ExecutionUnknown),
    (ccxt.ExchangeError, VenueError, VenueError),
])
def test_each_ccxt_exception_class_maps_to_one_engine_error(cls, on_read, on_write):
    for write, want in ((False, on_read), (True, on_write)):
        got = _mapped(cls("binance something went wrong"), write=write)
        assert type(got) is want, (cls.__name__, write, type(got).__name__)


def test_throttled_banned_duplicate_and_foreign_errors():
    e = _mapped(ccxt.DDoSProtection("binance 429 Too Many Requests"), write=True, status=429, retry=3)
    assert type(e) is RateLimited and e.retry_after_s == 3.0 and e.http_status == 429
    assert type(_mapped(ccxt.DDoSProtection("binance 418 I'm a teapot"), write=False, status=418)) is IpBanned
    assert type(_mapped(ccxt.RateLimitExceeded("IP banned until 1700000000"), write=True)) is IpBanned
    # Binance -2010 "Duplicate order sent." is InvalidOrder in CCXT: an order with our id exists
    dup = ccxt.InvalidOrder('binance {"code":-2010,"msg":"Duplicate order sent."}')
    assert type(_mapped(dup, write=True)) is ExecutionUnknown
    assert type(_mapped(ccxt.InvalidOrder("binance Filter failure: LOT_SIZE"), write=True)) is Rejected
    # not CCXT's at all (a bug in a CCXT method): unknown on a write, a plain venue error on a read
    assert type(_mapped(TypeError("boom"), write=True)) is ExecutionUnknown
    assert type(_mapped(TypeError("boom"), write=False)) is VenueError
    assert error_chain(ccxt.OrderNotFound("x"))[:3] == ["OrderNotFound", "InvalidOrder", "ExchangeError"]
    # the classes the tier counts its error answers by (venuelink_adapter_events order_error_<class>)
    from venuelink.ccxt_tier.errors import outcome_class
    assert [outcome_class(error_chain(e)) for e in (ccxt.OnMaintenance("x"), ccxt.DDoSProtection("x"),
            ccxt.RequestTimeout("x"), ccxt.InvalidOrder("x"), ccxt.OrderNotFound("x"), TypeError("x"))] == \
        ["down", "throttled", "ours", "refused", "missing", "unclassified"]


# ---------------------------------------------------------------------------- against the simulator
@pytest.fixture(scope="module")
def sim():
    with running_simulator("binance", rate=50, seed=7) as s:
        yield s


def ccxt_config(tmp_path, sim, *, secret=None, timeout_s=4.0, edge_ms=250):
    os.environ["VL_CCXT_KEY"] = sim["api_key"]
    os.environ["VL_CCXT_SECRET"] = secret if secret is not None else sim["api_secret"]
    p = tmp_path / "c.toml"
    p.write_text(textwrap.dedent(f"""
        [venues.binance]
        tier = "ccxt"
        symbols = ["{BTC}"]
        api_key_env = "VL_CCXT_KEY"
        api_secret_env = "VL_CCXT_SECRET"
        ccxt_timeout_s = {timeout_s}
        order_audit_s = 0
        rate_window_edge_ms = {edge_ms}
        ccxt_isolate = true
        ccxt_hosts = {{ "api.binance.com" = "{sim.rest_url}", "stream.binance.com:9443" = "{sim.ws_url}", "ws-api.binance.com:443" = "{sim.ws_url}" }}
        ccxt_options = {{ fetchMarkets = {{ types = ["spot"] }} }}
    """))
    return load_config(p)


def _cmdline(pid):
    with open(f"/proc/{pid}/cmdline", "rb") as f:
        return f.read().decode(errors="replace")


@contextlib.asynccontextmanager
async def started(tmp_path, sim, **kw):
    """A started ccxt-tier Binance engine with credentials: (engine, its runtime, the fills it reports)."""
    eng = Engine(ccxt_config(tmp_path, sim, **kw))
    fills: list = []
    eng.subscribe_orders("binance", on_fill=lambda order, f: fills.append(f))
    try:
        await eng.start(market_data=False)
        yield eng, eng.runtime("binance"), fills
    finally:
        await eng.close()


async def test_orders_through_the_worker_new_canceled_filled(tmp_path, sim):
    async with started(tmp_path, sim) as (eng, rt, fills):
        assert isinstance(rt.execution, CcxtExecution)
        pid = rt.adapter.worker.pid
        assert sim["api_secret"] not in _cmdline(pid) and sim["api_key"] not in _cmdline(pid)
        assert sim["api_secret"] not in repr(rt.adapter.worker) + repr(rt.execution)

        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1000"))
        assert o.state == OrderState.NEW and o.venue_order_id, o.error
        assert o.client_order_id.startswith("vl")
        ledger = await admin(sim, "GET", "/ledger")
        mine = [x for x in ledger["orders"] if x["clientOrderId"] == o.client_order_id]
        assert len(mine) == 1 and str(mine[0]["orderId"]) == o.venue_order_id and mine[0]["qty"] == "0.001"
        opened = await rt.execution.open_orders(BTC)
        assert [u.client_order_id for u in opened if u.client_order_id == o.client_order_id] == [o.client_order_id]
        o = await eng.cancel("binance", o.client_order_id)
        assert o.state == OrderState.CANCELED

        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.MARKET, "0.0001"))
        assert o.state == OrderState.FILLED and o.filled_qty == "0.0001", o.error
        assert await wait_for(lambda: any(f.client_order_id == o.client_order_id for f in fills), 5)
        mine = [f for f in fills if f.client_order_id == o.client_order_id]
        ledger = await admin(sim, "GET", "/ledger")
        venue_fills = {str(f["tradeId"]): f for f in ledger["fills"] if str(f["orderId"]) == o.venue_order_id}
        assert sorted(f.trade_id for f in mine) == sorted(venue_fills) and venue_fills
        assert all(Decimal(f.price) == Decimal(venue_fills[f.trade_id]["price"])
                   and Decimal(f.qty) == Decimal(venue_fills[f.trade_id]["qty"]) for f in mine)
        assert sum(Decimal(f.qty) for f in mine) == Decimal("0.0001")
        trades = await rt.execution.recent_fills(BTC, 0)
        assert {f.trade_id for f in mine} <= {t.trade_id for t in trades}

        # a query of an order the venue never had: UnknownOrder, through CCXT's OrderNotFound
        ghost = Order(venue=VenueId.binance, symbol=BTC, client_order_id="vlnosuchorder", side=Side.BUY,
                      type=OrderType.LIMIT, qty="0.001", price="1000", tif=TimeInForce.GTC)
        with pytest.raises(UnknownOrder):
            await rt.execution.query(ghost)


async def test_a_wrong_secret_is_the_auth_error(tmp_path, sim):
    eng = Engine(ccxt_config(tmp_path, sim, secret="w" * 64))
    try:
        await eng.start(market_data=False)
        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1000"))
        assert o.state == OrderState.REJECTED and o.error.startswith("AuthError"), o.error
        assert "w" * 64 not in o.error
    finally:
        await eng.close()


async def test_a_lost_answer_is_reconciled_by_client_id_and_placed_once(tmp_path, sim):
    eng = Engine(ccxt_config(tmp_path, sim, timeout_s=1.0))
    states = []
    eng.subscribe_orders("binance", on_update=lambda o: states.append(o.state))
    try:
        await eng.start(market_data=False)
        await admin(sim, "POST", "/fault", {"type": "order", "mode": "timeout", "count": 1, "hold_s": 3})
        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1001"))
        # the answer is lost; the private stream's report of the order (or, without it, the
        # reconcile by client id) says what happened
        assert o.state in (OrderState.UNKNOWN, OrderState.NEW)
        assert await wait_for(lambda: o.state == OrderState.NEW, 15), (o.state, o.error)
        ledger = await admin(sim, "GET", "/ledger")
        mine = [x for x in ledger["orders"] if x["clientOrderId"] == o.client_order_id]
        assert len(mine) == 1 and mine[0]["status"] == "NEW" and str(mine[0]["orderId"]) == o.venue_order_id
        assert OrderState.REJECTED not in states
        o = await eng.cancel("binance", o.client_order_id)
        assert o.state == OrderState.CANCELED
    finally:
        await eng.close()


async def test_the_private_stream_pushes_a_resting_orders_fill_and_a_dropped_stream_is_reconciled(tmp_path, sim):
    """CCXT's watch_orders / watch_my_trades through the worker: a resting order filled by the
    market later is FILLED with the venue's fill (no audit, no query: order_audit_s = 0), and a
    dropped user stream is seen, comes back, and the orders are reconciled."""
    async with started(tmp_path, sim) as (eng, rt, fills):
        assert rt.has_private_stream and await wait_for(lambda: rt.execution.stream_connected, 10)
        book = await admin(sim, "GET", "/book?symbol=BTCUSDT&limit=3")
        (bid, bid_qty), (below, _) = book["bids"][0], book["bids"][1]
        # our buy rests at the best bid (hidden from the public book); a market sell through that
        # level trades below it, which fills ours as maker
        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "0.001", bid))
        assert o.state == OrderState.NEW, o.error
        pushed_before = rt.execution.pushed
        taker = await eng.place(OrderRequest(VenueId.binance, BTC, Side.SELL, OrderType.MARKET,
                                             str(Decimal(bid_qty) + Decimal("0.01"))))
        assert taker.state == OrderState.FILLED, taker.error
        assert await wait_for(lambda: o.state == OrderState.FILLED, 10), (o.state, rt.execution.stream_reason)
        assert rt.execution.pushed > pushed_before and rt.execution.unusable == 0
        mine = [f for f in fills if f.client_order_id == o.client_order_id]
        ledger = await admin(sim, "GET", "/ledger")
        venue = {str(f["tradeId"]): f for f in ledger["fills"] if str(f["orderId"]) == o.venue_order_id}
        assert sorted(f.trade_id for f in mine) == sorted(venue) and all(f.is_maker for f in mine)
        assert sum(Decimal(f.qty) for f in mine) == Decimal("0.001") and all(f.price == bid for f in mine)

        # the user stream drops: down, back, and a reconcile follows
        reconciles = count_reconciles(rt)
        ups = rt.execution.stream_ups
        await admin(sim, "POST", "/fault", {"type": "disconnect", "scope": "user"})
        assert await wait_for(lambda: rt.execution.stream_ups > ups and rt.execution.stream_connected, 15)
        assert await wait_for(lambda: reconciles, 10)


async def test_binance_through_ccxt_cancels_all_in_one_request_and_offers_no_amend(tmp_path, sim):
    """CCXT's binance edit_order is Binance's cancelReplace (a new order, new ids): no amend. Its
    cancel_all_orders is DELETE openOrders: shutdown cancels a symbol's orders in one request."""
    eng = Engine(ccxt_config(tmp_path, sim))
    try:
        await eng.start(market_data=False)
        rt = eng.runtime("binance")
        assert getattr(rt.execution, "amend", None) is None and callable(rt.execution.cancel_all)
        orders = [await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "0.001", px))
                  for px in ("1000", "1001")]
        assert all(o.state == OrderState.NEW for o in orders), [o.error for o in orders]
        t0 = time.time()
        left = await eng.cancel_open_orders(timeout_s=8.0)
        assert not any(left.values()), left
        assert all(o.state == OrderState.CANCELED for o in orders), [o.state for o in orders]
        log = [r for r in (await admin(sim, "GET", "/requests"))["requests"] if r[0] >= t0]
        assert [r[1:3] for r in log if r[2] == "/api/v3/openOrders" and r[1] == "DELETE"] == [["DELETE", "/api/v3/openOrders"]]
        assert not [r for r in log if r[2] == "/api/v3/order" and r[1] == "DELETE"]     # not one by one
    finally:
        await eng.close()
