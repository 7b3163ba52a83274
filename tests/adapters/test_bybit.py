"""Bybit's own quirks (the shared suites cover the rest): one venue symbol for a spot pair and a
perpetual, prices finer than the tick, paged instruments, and the instruments it leaves out."""
import json
import urllib.request
from pathlib import Path

import pytest

import venuelink.adapters.bybit.adapter as bybit_adapter
from venuelink import registry
from venuelink.config import Config, VenueConfig
from venuelink.engine import Engine
from venuelink.model import InstrumentStatus, MarketKind
from venuelink.sim.server import running_simulator
from tests.tiers import venue_config

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "bybit"


def _rest_line(path: Path, n: int) -> bytes:
    return json.dumps(json.loads(path.read_text().splitlines()[n])["body"]).encode()


def test_spot_and_perpetual_share_a_venue_symbol_and_perpetual_prices_are_finer_than_the_tick():
    a = registry.create("bybit")
    spot = a.parse_instruments(_rest_line(FIXTURES / "session.jsonl", 0))
    linear = a.parse_instruments(_rest_line(FIXTURES / "derivatives.jsonl", 0))
    a.set_instruments(spot + linear)
    s, p = a.instrument("BTC/USDT"), a.instrument("BTC/USDT:USDT")
    assert s.venue_symbol == p.venue_symbol == "BTCUSDT" and (s.kind, p.kind) == (MarketKind.SPOT, MarketKind.SWAP)
    assert a.instrument("BTCUSDT", MarketKind.SWAP) is p
    with pytest.raises(KeyError, match="ambiguous"):
        a.instrument("BTCUSDT")
    # priceScale 2 with a 0.10 tick: "30247.20" is a price, the tick 10 hundredths
    assert (p.px_scale, p.tick, p.qty_scale, p.settle) == (2, 10, 3, "USDT")
    assert p.notional_str(p.min_notional) == "5" and s.notional_str(s.min_notional) == "1"
    # a USDC perpetual is BTC/USDC:USDC; a dated future is not served here
    assert a.instrument("BTC/USDC:USDC").venue_symbol == "BTCPERP"
    assert all(i.kind != MarketKind.FUTURE for i in linear) and len(linear) == 3
    assert all(i.status == InstrumentStatus.TRADING for i in spot + linear)


async def test_paged_instruments_are_followed_to_the_last_page(monkeypatch):
    monkeypatch.setattr(bybit_adapter, "INSTRUMENTS_PAGE", 1)        # one row per page: two linear pages
    with running_simulator("bybit") as sim:
        eng = Engine(Config(venues={"bybit": venue_config("bybit", "native", sim, ["BTC/USDT:USDT"])},
                            metrics_port=0))
        rt = eng.runtime("bybit")
        await rt.load_instruments()
        await rt.rest.close()
        with urllib.request.urlopen(f"{sim.admin_url}/requests", timeout=10) as r:
            log = json.loads(r.read())["requests"]
    assert [p for _, _, p, *_ in log if p == "/v5/market/instruments-info"] == ["/v5/market/instruments-info"] * 3
    assert {"BTC/USDT", "ETH/USDT", "BTC/USDT:USDT", "ETH/USDT:USDT"} <= set(rt.adapter.instruments)
    assert rt.adapter.instrument_requests()[1][1]["limit"] == "1"
