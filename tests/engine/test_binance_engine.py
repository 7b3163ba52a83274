"""The engine against the Binance simulator over real loopback sockets."""
import asyncio
import contextlib
import logging
import time
import urllib.request

import pytest

from venuelink.errors import CircuitOpen, RateLimited
from venuelink.model import BookState, OrderRequest, OrderState, OrderType, Side, TimeInForce, VenueId
from tests.engine.conftest import admin, count_reconciles, engine_for
from tests.waiting import wait_for

BTC = "BTC/USDT"




def fs_of(eng, symbol=BTC):
    return next(fs for fs in eng.runtime("binance").feed_symbols() if fs.instrument.symbol == symbol)


async def assert_book_equals_sim(eng, sim):
    await admin(sim, "POST", "/market", {"action": "pause"})
    try:
        ref = await admin(sim, "GET", "/book?symbol=BTCUSDT")
        fs = fs_of(eng)
        assert await wait_for(lambda: fs.book.seq >= ref["seq"] and fs.sync.is_live, 10)
        inst = fs.instrument
        bids = [(inst.px_str(p), inst.qty_str(q)) for p, q in fs.book.levels(1)]
        asks = [(inst.px_str(p), inst.qty_str(q)) for p, q in fs.book.levels(2)]
        canon = lambda lv: [(inst.px_str(inst.px(p)), inst.qty_str(inst.qty(q))) for p, q in lv]
        assert bids == canon(ref["bids"]) and asks == canon(ref["asks"])
        assert len(bids) > 100 and len(asks) > 100
    finally:
        await admin(sim, "POST", "/market", {"action": "resume"})


async def test_book_matches_simulator_after_thousands_of_updates(sim):
    async with engine_for(sim) as eng:
        await eng.start(execution=False)
        fs = fs_of(eng)
        assert await wait_for(lambda: fs.sync.n_applied >= 500 and fs.book.n_updates >= 3000 and fs.sync.is_live, 30)
        level_updates = fs.book.n_updates
        await assert_book_equals_sim(eng, sim)
        assert fs.book.n_updates > 1000 and level_updates > 0
        assert fs.sync.n_gaps == 0 and eng.runtime("binance").parsers[0].n_errors == 0
        view = eng.book("binance", BTC)
        assert view.state == BookState.LIVE and view.best_bid()[0] < view.best_ask()[0]


async def test_forced_gap_is_detected_and_resynced(sim):
    async with engine_for(sim) as eng:
        await eng.start(execution=False)
        fs = fs_of(eng)
        assert await wait_for(lambda: fs.sync.is_live and fs.sync.n_applied > 20, 20)
        snaps = fs.sync.n_snapshots
        await admin(sim, "POST", "/fault", {"type": "gap", "symbol": "BTCUSDT", "count": 1})
        assert await wait_for(lambda: fs.sync.n_gaps >= 1, 10)
        assert await wait_for(lambda: fs.sync.is_live and fs.sync.n_snapshots > snaps, 15)
        assert fs.sync.n_resyncs >= 1
        await assert_book_equals_sim(eng, sim)


async def test_orders_through_their_states(sim):
    async with engine_for(sim) as eng:
        await eng.start(market_data=False)
        book = await admin(sim, "GET", "/book?symbol=BTCUSDT&limit=5")
        best_ask = book["asks"][0][0]
        # rests: NEW, then CANCELED
        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1000"))
        assert o.state == OrderState.NEW and o.venue_order_id
        o = await eng.cancel("binance", o.client_order_id)
        assert o.state == OrderState.CANCELED
        # marketable: FILLED with a fill reported once
        fills = []
        eng.subscribe_orders("binance", on_fill=lambda order, f: fills.append(f.trade_id))
        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.MARKET, "0.0001"))
        assert o.state == OrderState.FILLED and o.filled_qty == "0.0001"
        assert await wait_for(lambda: len(fills) >= 1, 5)
        await asyncio.sleep(0.3)
        assert len(fills) == len(set(fills))
        # IOC larger than the top level at its price: partial fill, rest expires
        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "5", best_ask,
                                         TimeInForce.IOC))
        assert o.state in (OrderState.EXPIRED, OrderState.FILLED)
        # refused before leaving the host (finer than the tick): REJECTED, no request sent
        sent = eng.runtime("binance").rest.requests
        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1000.001"))
        assert o.state == OrderState.REJECTED and "tick" in o.error
        assert eng.runtime("binance").rest.requests == sent
        # refused by the venue: REJECTED with its code and message
        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "9000", "1000"))
        assert o.state == OrderState.REJECTED and "-2010" in o.error


async def test_lost_ack_resolved_by_reconciliation(sim):
    async with engine_for(sim) as eng:
        await eng.start(market_data=False)
        await admin(sim, "POST", "/fault", {"type": "order", "mode": "unknown", "count": 1})
        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1001"))
        assert o.state in (OrderState.UNKNOWN, OrderState.NEW)
        assert await wait_for(lambda: o.state == OrderState.NEW and o.venue_order_id, 15)
        opened = [x for x in eng.runtime("binance").orders.orders.values() if x.client_order_id == o.client_order_id]
        assert len(opened) == 1
        o = await eng.cancel("binance", o.client_order_id)
        assert o.state == OrderState.CANCELED


async def test_wrong_secret_is_rejected_by_signature_check(sim, caplog):
    async with engine_for(sim, secret="0" * 64) as eng:
        await eng.start(market_data=False)
        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1000"))
        assert o.state == OrderState.REJECTED and "-1022" in o.error


async def test_429_blocks_the_budget_and_never_escalates_to_418():
    from venuelink.errors import IpBanned
    from venuelink.sim.server import running_simulator
    with running_simulator("binance", rate=10, weight_limit=30, ban_after=2, ban_base=2) as s:
        async with engine_for(s) as eng:
            await eng.start(market_data=False)
            rt = eng.runtime("binance")
            rt.budget.max_wait_s = 0.5
            results = []
            for _ in range(60):                       # far more than the venue's (small) limit allows
                try:
                    await rt.rest.request("GET", "/api/v3/time", weights={"REQUEST_WEIGHT": 1}, priority=3)
                    results.append("ok")
                except IpBanned:
                    results.append("banned")
                except RateLimited:
                    results.append("429")
                except CircuitOpen:
                    results.append("held")           # never left the host
            assert "429" in results and "banned" not in results
            first = results.index("429")
            # after the 429 nothing is sent until Retry-After has passed
            assert set(results[first + 1:]) <= {"held", "ok"}
            assert results.count("429") == 1


async def test_budget_trusts_venue_reported_usage(sim):
    async with engine_for(sim) as eng:
        await eng.start(market_data=False)
        rt = eng.runtime("binance")
        # the venue reports a nearly exhausted weight: our budget trusts the larger usage
        rt.budget.sync_headers({"x-mbx-used-weight-1m": "5990"})
        with pytest.raises(CircuitOpen):
            rt.budget.max_wait_s = 0.2
            await rt.rest.request("GET", "/api/v3/exchangeInfo", weights={"REQUEST_WEIGHT": 20}, priority=3)
        assert rt.budget.utilization()["REQUEST_WEIGHT"] > 0.99


async def test_429_then_ban_opens_rest_circuit(tmp_path):
    from venuelink.sim.server import running_simulator
    with running_simulator("binance", rate=10, weight_limit=40, ban_after=2, ban_base=2) as s:
        async with engine_for(s) as eng:
            await eng.start(market_data=False)
            rt = eng.runtime("binance")
            # another client on the same IP exhausts the venue's weight: we see 429 and block
            import aiohttp
            async with aiohttp.ClientSession() as http:
                for _ in range(60):
                    async with http.get(f"{s.rest_url}/api/v3/depth?symbol=BTCUSDT&limit=100") as r:
                        if r.status == 418:
                            break
            with pytest.raises((RateLimited, CircuitOpen)) as ei:
                await rt.rest.request("GET", "/api/v3/time", weights={"REQUEST_WEIGHT": 1}, priority=3)
            # a ban (418) opens the circuit: the next request does not leave the host
            sent = rt.rest.requests
            with pytest.raises(CircuitOpen):
                await rt.rest.request("GET", "/api/v3/time", weights={"REQUEST_WEIGHT": 1}, priority=3)
            assert rt.rest.requests == sent


async def test_metrics_endpoint_and_no_credentials_in_logs(sim, caplog):
    caplog.set_level(logging.DEBUG)
    async with engine_for(sim) as eng:
        await eng.start()
        port = eng.serve_metrics(port=0)
        fs = fs_of(eng)
        assert await wait_for(lambda: fs.sync.is_live and fs.sync.n_applied > 10, 20)
        await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1000.001"))
        body = await asyncio.to_thread(lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode())
        assert 'venuelink_book_state{symbol="BTC/USDT",venue="binance"} 2.0' in body
        assert 'venuelink_stage_latency_seconds_bucket{le="+Inf",stage="decoded_to_applied",venue="binance"}' in body
        assert 'venuelink_ratelimit_utilization{bucket="REQUEST_WEIGHT",venue="binance"}' in body
        assert 'venuelink_duplicate_trades_total{symbol="BTC/USDT",venue="binance"} 0.0' in body
        assert 'venuelink_order_updates_after_prune_total{venue="binance"} 0.0' in body
        rt = eng.runtime("binance")
        text = caplog.text + body + repr(rt.config) + repr(rt.execution) + repr(rt.config.credentials())
        assert sim["api_secret"] not in text and sim["api_key"] not in text


async def test_missed_user_events_recovered_by_reconcile_after_stream_reconnect(sim):
    async with engine_for(sim) as eng:
        await eng.start(market_data=False)
        rt = eng.runtime("binance")
        assert await wait_for(lambda: rt.execution.stream_connected, 10)
        fills, updates = [], []
        eng.subscribe_orders("binance", on_update=lambda o: updates.append(o.state), on_fill=lambda o, f: fills.append(f.trade_id))
        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1002"))
        assert o.state == OrderState.NEW
        # the next order's stream events are lost, then the private stream drops
        await admin(sim, "POST", "/fault", {"type": "drop_user_event", "count": 1})
        m = await eng.place(OrderRequest(VenueId.binance, BTC, Side.SELL, OrderType.MARKET, "0.0002"))
        reconciles = count_reconciles(rt)
        await admin(sim, "POST", "/fault", {"type": "disconnect", "scope": "user"})
        assert await wait_for(lambda: not rt.execution.stream_connected, 5)
        assert await wait_for(lambda: rt.execution.stream_connected, 15)
        assert await wait_for(lambda: m.state == OrderState.FILLED and m.filled_qty == "0.0002", 10)
        assert await wait_for(lambda: reconciles, 10)        # the reconnect triggered a reconciliation
        await asyncio.sleep(0.5)
        assert len(fills) == len(set(fills)) and len(fills) >= 1
        assert o.state == OrderState.NEW
        await eng.cancel("binance", o.client_order_id)


async def test_async_iterator_api_and_symbol_validation(sim):
    from venuelink.errors import ConfigError
    async with engine_for(sim) as eng:
        await eng.start(execution=False)
        got = []
        async for trade in eng.stream("binance", BTC, "trades"):
            got.append(trade)
            if len(got) == 3:
                break
        assert all(t.instrument.symbol == BTC and t.price > 0 and t.size > 0 for t in got)
    async with engine_for(sim, symbols=("NOPE/USDT",)) as eng:
        with pytest.raises(ConfigError, match="unknown symbols"):
            await eng.start(execution=False)


async def test_partially_filled_then_canceled_keeps_filled_qty(sim):
    from decimal import Decimal
    async with engine_for(sim) as eng:
        await eng.start(market_data=False)
        await admin(sim, "POST", "/market", {"action": "pause"})
        try:
            book = await admin(sim, "GET", "/book?symbol=BTCUSDT&limit=1")
            px, avail = book["asks"][0]
            qty = Decimal(avail) + Decimal("0.5")          # more than the best level holds
            seen = []
            eng.subscribe_orders("binance", on_update=lambda o: seen.append(o.state))
            o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, str(qty), px))
            assert o.state == OrderState.PARTIALLY_FILLED
            assert Decimal(o.filled_qty) == Decimal(avail)
            o = await eng.cancel("binance", o.client_order_id)
            assert o.state == OrderState.CANCELED and Decimal(o.filled_qty) == Decimal(avail)
            assert OrderState.CANCEL_PENDING in seen and OrderState.PENDING_NEW in seen
        finally:
            await admin(sim, "POST", "/market", {"action": "resume"})


async def test_snapshot_older_than_the_stream_is_fetched_again(sim):
    async with engine_for(sim) as eng:
        rt = eng.runtime("binance")
        orig = rt.adapter.apply_snapshot
        calls = []

        def stale_first(parser, fs, body, ts_recv):
            calls.append(1)
            if len(calls) == 1:                   # the first answer is from long ago
                import json as _json
                d = _json.loads(body)
                d["lastUpdateId"] = 1
                body = _json.dumps(d).encode()
            return orig(parser, fs, body, ts_recv)
        rt.adapter.apply_snapshot = stale_first
        await eng.start(execution=False)
        fs = fs_of(eng)
        assert await wait_for(lambda: fs.sync.is_live, 15)
        assert len(calls) >= 2


async def test_ed25519_key_signs_rest_and_user_stream(tmp_path):
    import os
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from venuelink.config import Config
    from venuelink.engine import Engine
    from venuelink.sim.server import running_simulator
    from tests.engine.conftest import venue_config

    key = Ed25519PrivateKey.generate()
    priv, pub = tmp_path / "k.pem", tmp_path / "k.pub"
    priv.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption()))
    os.chmod(priv, 0o600)
    pub.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                  serialization.PublicFormat.SubjectPublicKeyInfo))
    with running_simulator("binance", rate=10, ed25519_public_key=str(pub)) as s:
        vc = venue_config(s)
        vc.api_secret_env = ""
        vc.private_key_file = str(priv)
        eng = Engine(Config(venues={"binance": vc}, metrics_port=0))
        try:
            await eng.start(market_data=False)
            rt = eng.runtime("binance")
            assert "private_key=***" in repr(vc.credentials())
            o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.LIMIT, "0.001", "1000"))
            assert o.state == OrderState.NEW
            assert await wait_for(lambda: rt.execution.stream_connected, 10)
            assert (await eng.cancel("binance", o.client_order_id)).state == OrderState.CANCELED
        finally:
            await eng.close()
        os.chmod(priv, 0o644)
        import pytest as _pytest
        from venuelink.errors import ConfigError
        with _pytest.raises(ConfigError, match="chmod 600"):
            vc.credentials()


async def test_example_strategy_quotes_and_pulls_quotes_when_the_book_stops_being_live():
    from venuelink.examples.bbo_maker import BboMaker
    from venuelink.sim.server import running_simulator
    # its own venue: the module's shared simulator has spent request weight on earlier tests, and
    # snapshots (the lowest lane) may then wait for the next minute
    with running_simulator("binance", rate=100, depth_fast_ms=20) as sim:
        await _strategy_case(sim, BboMaker)


async def _strategy_case(sim, BboMaker):
    async with engine_for(sim) as eng:
        maker = BboMaker(eng, "binance", BTC)
        states = []
        eng.subscribe_book_state("binance", BTC, lambda sym, st: states.append(st))
        await eng.start()
        task = asyncio.ensure_future(maker.run())
        try:
            assert await wait_for(lambda: maker.order is not None and maker.order.state == OrderState.NEW, 20)
            quoted = maker.order
            await admin(sim, "POST", "/fault", {"type": "gap", "symbol": "BTCUSDT", "count": 1})
            why = lambda: f"states={states} quoted={quoted.state.name} current={maker.order.state.name} pulls={maker.pulls}"
            assert await wait_for(lambda: BookState.INVALID in states, 10), why()
            assert await wait_for(lambda: quoted.state == OrderState.CANCELED, 10), why()
            assert maker.pulls >= 1, why()
            assert await wait_for(lambda: states[-1] == BookState.LIVE, 30), why() + f" budget={eng.runtime('binance').budget.utilization()}"
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_lost_ack_and_lost_stream_events_still_deliver_the_fill_once(sim):
    # the place answer is lost and the order's stream events too: the query says FILLED with its
    # executed quantity only; the fill itself must still reach the strategy, once
    async with engine_for(sim) as eng:
        await eng.start(market_data=False)
        fills = []
        eng.subscribe_orders("binance", None, lambda o, f: fills.append((o.client_order_id, f.trade_id, f.qty)))
        await admin(sim, "POST", "/fault", {"type": "drop_user_event", "count": 5})
        await admin(sim, "POST", "/fault", {"type": "order", "mode": "unknown", "count": 1})
        o = await eng.place(OrderRequest(VenueId.binance, BTC, Side.BUY, OrderType.MARKET, "0.0003"))
        assert await wait_for(lambda: o.state == OrderState.FILLED, 20)
        assert await wait_for(lambda: sum(float(q) for c, _, q in fills if c == o.client_order_id) >= 0.0003, 10)
        await asyncio.sleep(0.5)
        mine = [f for f in fills if f[0] == o.client_order_id]
        assert len(mine) == len({t for _, t, _ in mine})                      # each fill once
        assert abs(sum(float(q) for _, _, q in mine) - 0.0003) < 1e-12
