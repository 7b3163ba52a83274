"""Derivatives events (mark price, funding rate, ...) through the real engine on the toy venue:
exact values and ns timestamps as sent, a bad one dropped and counted without stopping the feed,
subscriptions before and after start, and a clear refusal where the venue publishes none."""
import pytest

from venuelink.derivatives import (FundingRate, IndexPrice, Liquidation, MarkPrice, OpenInterest, rate, rate_str)
from venuelink.errors import EngineError
from venuelink.model import Side
from tests.engine.test_lifecycle import toy_engine, wait_for
from tests.engine.toyvenue import TOY


async def test_mark_and_funding_events_exact_and_a_bad_one_dropped():
    async with toy_engine() as (eng, server):
        got: list = []
        eng.subscribe_derivatives("toyvenue", "AAA/USD", got.append)
        await eng.start(execution=False)
        rt = eng.runtime("toyvenue")
        assert await wait_for(lambda: sum(isinstance(e, MarkPrice) for e in got) >= 5
                              and any(isinstance(e, FundingRate) for e in got), 15)
        parser = rt.parser_of["AAA/USD"]
        errs = parser.n_errors
        server.bad_mark_next.add("AAA-USD")
        n = len(got)
        assert await wait_for(lambda: "AAA-USD" not in server.bad_mark_next and len(got) > n + 5, 15)
        marks = [(e.instrument.symbol, e.instrument.px_str(e.price), e.ts_exchange) for e in got
                 if isinstance(e, MarkPrice)]
        sent = [("AAA/USD", px, ts * 1_000_000) for sym, px, ts in server.marks if sym == "AAA-USD"]
        assert marks == sent[:len(marks)], "a mark price changed, lost, or the negative one delivered"
        assert all(e.price > 0 for e in got if isinstance(e, MarkPrice))
        f = next(e for e in got if isinstance(e, FundingRate))
        _, sent_rate, t = next(x for x in server.fundings if x[0] == "AAA-USD")
        assert rate_str(f.rate) == rate_str(rate(sent_rate)) and f.funding_time_ns == t * 1_000_000
        assert f.next_funding_time_ns == (t + 28_800_000) * 1_000_000 and f.ts_recv > f.ts_exchange > 0
        assert parser.n_errors > errs             # the negative mark price: a counted drop
        assert not any(e.instrument.symbol == "BBB/USD" for e in got)     # only what was asked for
        # after start: the topics are subscribed on the live connection
        late: list = []
        eng.subscribe_derivatives("toyvenue", "BBB/USD", late.append)
        assert await wait_for(lambda: any(isinstance(e, MarkPrice) for e in late), 15)
        assert ("subscribe", "mark:BBB-USD") in server.ops


def test_event_checks_and_json():
    from venuelink.model import Instrument
    inst = Instrument(TOY, "AAA-USD-SWAP", "AAA/USD:USD", "AAA", "USD", 1, 3, 1, 1)
    ok = FundingRate(TOY, inst, 1, 2, rate("-0.000123456789"), 10, 20, rate("0.0001"))
    assert ok.problem() is None
    assert ok.to_json()["rate"] == "-0.000123456789" and ok.to_json()["next_rate"] == "0.0001"
    assert FundingRate(TOY, inst, 1, 2, rate("1.5"), 10).problem()               # beyond 100%
    assert FundingRate(TOY, inst, 1, 2, 0, 0).problem()                          # no funding time
    assert FundingRate(TOY, inst, 1, 2, 0, 20, 10).problem()                     # next before this one
    assert MarkPrice(TOY, inst, 1, 2, 0).problem() and IndexPrice(TOY, inst, 1, 2, -5).problem()
    assert OpenInterest(TOY, inst, 1, 2, -1).problem() and OpenInterest(TOY, inst, 1, 2, 0).problem() is None
    liq = Liquidation(TOY, inst, 1, 2, Side.BUY, 1234, 5)
    assert liq.problem() is None and liq.to_json() == {
        "type": "liquidation", "venue": "toyvenue", "symbol": "AAA/USD:USD", "ts_exchange": 1, "ts_recv": 2,
        "side": "buy", "price": "123.4", "size": "0.005"}
    assert Liquidation(TOY, inst, 1, 2, Side.SELL, 1234, 0).problem()
    with pytest.raises(ValueError):
        rate("0.0000000000000000001")          # 19 digits: refused, never rounded
    assert rate_str(rate("0.0001875391284828")) == "0.0001875391284828"     # OKX's 16 digits, exact


async def test_a_venue_without_derivatives_refuses_the_subscription():
    async with toy_engine() as (eng, server):
        await eng.start(execution=False)
        rt = eng.runtime("toyvenue")
        rt.adapter.derivative_topics = lambda inst: []
        with pytest.raises(EngineError, match="publishes no derivatives"):
            eng.subscribe_derivatives("toyvenue", "AAA/USD", lambda e: None)
