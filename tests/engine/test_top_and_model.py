"""Best-bid/offer as its own event (subscribe_top, before and after start), instruments told
apart by kind, open venue ids, endpoint and passphrase configuration."""
import pickle

import pytest

from venuelink.adapter import VenueAdapter
from venuelink.config import ConfigError, load_config
from venuelink.model import Instrument, MarketKind, TopOfBook, VenueId
from tests.engine.conftest import engine_for
from tests.engine.test_binance_engine import wait_for


async def test_top_of_book_only_where_asked_before_and_after_start(sim):
    async with engine_for(sim, symbols=("BTC/USDT", "ETH/USDT")) as eng:
        tops_btc, tops_eth = [], []
        eng.subscribe_top("binance", "BTC/USDT", tops_btc.append)
        await eng.start(execution=False)
        rt = eng.runtime("binance")
        s = rt.sessions[0]
        assert "btcusdt@bookTicker" in s.url and "ethusdt@bookTicker" not in s.url
        assert await wait_for(lambda: len(tops_btc) >= 3, 15)
        t = tops_btc[-1]
        assert isinstance(t, TopOfBook) and t.instrument.symbol == "BTC/USDT"
        assert t.best_bid[0] < t.best_ask[0] and t.seq > 0
        assert not rt.fs_by_symbol["ETH/USDT"].want_top
        # after start: one SUBSCRIBE frame on the live connection, acknowledged by the venue
        acks = s.sub_acks
        eng.subscribe_top("binance", "ETH/USDT", tops_eth.append)
        assert await wait_for(lambda: s.sub_acks > acks and len(tops_eth) >= 3, 15)
        assert "ethusdt@bookTicker" in s.subscribed and s.sub_errors == 0
        assert all(x.instrument.symbol == "ETH/USDT" for x in tops_eth)


def _inst(kind, symbol):
    return Instrument(VenueId.bybit, "BTCUSDT", symbol, "BTC", "USDT", 2, 6, 1, 1, kind=kind)


def test_one_venue_symbol_two_kinds_do_not_collide():
    class A(VenueAdapter):
        venue = VenueId.bybit
        spec = None
        parse_instruments = make_parser = topics = rest_cost = map_error = make_execution = None

    A.__abstractmethods__ = frozenset()
    from venuelink.config import VenueConfig
    a = A(VenueConfig(name="bybit", rest_url="http://x", ws_url="ws://x"))
    spot, perp = _inst(MarketKind.SPOT, "BTC/USDT"), _inst(MarketKind.SWAP, "BTC/USDT:USDT")
    a.set_instruments([spot, perp])
    assert a.instrument("BTC/USDT") is spot and a.instrument("BTC/USDT:USDT") is perp
    assert a.instrument("BTCUSDT", MarketKind.SWAP) is perp
    with pytest.raises(KeyError, match="ambiguous"):
        a.instrument("BTCUSDT")


def test_venue_ids_are_open_interned_and_immutable():
    assert VenueId.parse("okx") is VenueId.okx and VenueId("okx") is VenueId.okx
    with pytest.raises(ValueError, match="unknown venue"):
        VenueId.parse("nosuchvenue")
    v = VenueId.register("probit")
    assert VenueId.parse("probit") is v and v.name == "probit" and v is VenueId.register("probit")
    assert pickle.loads(pickle.dumps(v)) is v and {v: 1}[VenueId.parse("probit")] == 1
    with pytest.raises(ValueError):
        VenueId.register("Bad Name")
    with pytest.raises(AttributeError):
        v.name = "x"


def test_named_endpoints_and_passphrase(tmp_path, monkeypatch):
    p = tmp_path / "v.toml"
    p.write_text('[venues.okx]\nrest_url = "https://www.okx.com"\napi_key_env = "K"\napi_secret_env = "S"\n'
                 'api_passphrase_env = "P"\nsymbols = ["BTC/USDT"]\n'
                 '[venues.okx.endpoints]\npublic = "wss://ws.okx.com:8443/ws/v5/public"\n'
                 'business = "wss://ws.okx.com:8443/ws/v5/business"\n')
    vc = load_config(p).venues["okx"]
    assert vc.endpoint_url("business", "wss://default", False) == "wss://ws.okx.com:8443/ws/v5/business"
    assert vc.endpoint_url("private", "wss://default", False) == "wss://default"
    monkeypatch.setenv("K", "key")
    monkeypatch.setenv("S", "secret")
    with pytest.raises(ConfigError, match="P must be set"):
        vc.credentials()
    monkeypatch.setenv("P", "my-passphrase")
    c = vc.credentials()
    assert c.passphrase.reveal() == "my-passphrase" and "my-passphrase" not in repr(c)
    p.write_text('[venues.okx]\nrest_url = "https://www.okx.com"\n')
    with pytest.raises(ConfigError, match="ws_url or an endpoints table"):
        load_config(p)


def test_secrets_file_passphrase(tmp_path):
    sec = tmp_path / "okx.toml"
    sec.write_text('api_key = "k"\napi_secret = "s"\napi_passphrase = "pp"\n')
    sec.chmod(0o600)
    p = tmp_path / "v.toml"
    p.write_text(f'[venues.okx]\nrest_url = "https://x"\nws_url = "wss://x"\nsecrets_file = "{sec}"\n')
    c = load_config(p).venues["okx"].credentials()
    assert c.passphrase.reveal() == "pp" and "pp" not in repr(c)


async def test_a_topic_added_after_start_survives_a_reconnect():
    from venuelink.sim.server import running_simulator
    from tests.engine.conftest import admin
    with running_simulator("binance", rate=50, depth_fast_ms=20) as sim:
        async with engine_for(sim, symbols=("BTC/USDT",)) as eng:
            tops = []
            await eng.start(execution=False)
            s = eng.runtime("binance").sessions[0]
            assert await wait_for(lambda: eng.runtime("binance").fs_by_symbol["BTC/USDT"].sync.is_live, 15)
            eng.subscribe_top("binance", "BTC/USDT", tops.append)
            assert await wait_for(lambda: len(tops) >= 2, 15)
            await admin(sim, "POST", "/fault", {"type": "disconnect", "scope": "market"})
            assert await wait_for(lambda: s.reconnects >= 1, 10)
            n = len(tops)
            assert await wait_for(lambda: len(tops) >= n + 3, 15)       # subscribed again by message
            assert "btcusdt@bookTicker" not in s.url


async def test_order_updates_carry_the_unified_symbol(sim):
    from venuelink.model import OrderRequest, OrderType, Side, VenueId
    async with engine_for(sim) as eng:
        updates = []
        eng.subscribe_orders("binance", updates.append)
        await eng.start(market_data=False)
        order = await eng.place(OrderRequest(VenueId.binance, "BTC/USDT", Side.BUY, OrderType.LIMIT, "0.001",
                                             "20000"))
        assert order.symbol == "BTC/USDT"
        rt = eng.runtime("binance")
        u = rt.execution._update({"symbol": "BTCUSDT", "clientOrderId": "x", "orderId": 1, "status": "NEW"})
        ev = {"s": "BTCUSDT", "c": "x", "i": 1, "X": "NEW", "x": "NEW", "z": "0", "S": "BUY"}
        assert u.symbol == "BTC/USDT" and rt.execution.execution_report(ev, 0).symbol == "BTC/USDT"
        await eng.cancel("binance", order.client_order_id)
        assert updates and all(x.symbol == "BTC/USDT" for x in updates)


async def test_the_cost_hook_sees_the_order(sim):
    # a venue may charge by the order (Kraken: cancels by the order's age): the hook gets it
    from venuelink.adapters.binance.adapter import BinanceAdapter
    from venuelink.model import OrderRequest, OrderType, Side, VenueId
    seen = []
    orig = BinanceAdapter.rest_cost

    def spy(self, method, path, params=None, order=None):
        seen.append((method, path, order.client_order_id if order is not None else None))
        return orig(self, method, path, params, order)
    BinanceAdapter.rest_cost = spy
    try:
        async with engine_for(sim) as eng:
            await eng.start(market_data=False)
            o = await eng.place(OrderRequest(VenueId.binance, "BTC/USDT", Side.BUY, OrderType.LIMIT, "0.001",
                                             "20000"))
            await eng.cancel("binance", o.client_order_id)
    finally:
        BinanceAdapter.rest_cost = orig
    assert ("POST", "/api/v3/order", o.client_order_id) in seen
    assert ("DELETE", "/api/v3/order", o.client_order_id) in seen
