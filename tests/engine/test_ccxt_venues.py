# SPDX-License-Identifier: Apache-2.0
"""The CCXT tier against scripted fakes of venues without a native adapter: CCXT's own client
for each venue (markets, WebSocket subscribe, snapshot, updates, trades) talks to
tests.ccxt_fakes.FakeVenue, which plays documentation-shaped frames from tests/fixtures/<venue>/,
and the engine's normalized books and trades are compared with the fixture's expect.json. Then
the faults: a broken sequence or checksum the venue's frames carry (where CCXT checks it) must
not leave a wrong book LIVE, and a stream gone silent on an open socket must take the book out
of LIVE within the engine's data-silence bound."""
import json
import textwrap
import time

import pytest

from venuelink.ccxt_tier import gate
from venuelink.ccxt_tier.adapter import CcxtAdapter
from venuelink.config import Timers, load_config
from venuelink.engine import Engine
from venuelink.model import BookState
from venuelink.venue import WsEndpoint
from tests.ccxt_fakes.server import FakeVenue
from tests.waiting import wait_for

TIME_SCALE = 0.4       # the engine's own detection timers, compressed (venuelink.config.Timers.scaled)
SILENCE_S = WsEndpoint("x", "ws://x").data_silence_s * TIME_SCALE      # the engine's data-silence bound


def _toml(value) -> str:
    """A JSON value as a TOML inline value (the fixtures' CCXT options)."""
    if isinstance(value, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml(v)}' for k, v in value.items()) + " }"
    if isinstance(value, list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def venue_config(tmp_path, venue: str, fake: FakeVenue, extra: str = ""):
    cfg = fake.cfg
    hosts = {h: f"{'ws' if kind == 'ws' else 'http'}://127.0.0.1:{fake.port}" for h, kind in cfg["hosts"].items()}
    p = tmp_path / f"{venue}.toml"
    p.write_text(textwrap.dedent(f"""
        [venues.{venue}]
        tier = "ccxt"
        symbols = ["{cfg['symbol']}"]
        ccxt_isolate = true
        ccxt_hosts = {_toml(hosts)}
        ccxt_options = {_toml(cfg.get('options', {}))}
    """) + extra)
    cfg = load_config(p)
    cfg.venues[venue].timers = Timers().scaled(TIME_SCALE)
    return cfg


def book_of(fs) -> dict:
    inst = fs.instrument
    return {"bids": [[inst.px_str(p), inst.qty_str(q)] for p, q in fs.book.top(1, 50)],
            "asks": [[inst.px_str(p), inst.qty_str(q)] for p, q in fs.book.top(2, 50)]}


def trade_of(t) -> dict:
    inst = t.instrument
    return {"id": t.trade_id, "side": t.side.name, "price": inst.px_str(t.price), "size": inst.qty_str(t.size),
            "ts": t.ts_exchange}


class Run:
    """One engine with the venue's CCXT tier pointed at its fake, one symbol subscribed."""

    def __init__(self, tmp_path, venue: str, extra: str = "") -> None:
        self.venue = venue
        self.extra = extra                  # more lines of the venue's config table
        self.fake = FakeVenue(venue)
        self.expect = json.loads((self.fake.dir / "expect.json").read_text())
        self.tmp_path = tmp_path
        self.trades: list = []
        self.states: list = []

    async def __aenter__(self) -> "Run":
        await self.fake.start()
        self.eng = Engine(venue_config(self.tmp_path, self.venue, self.fake, self.extra))
        sym = self.fake.cfg["symbol"]
        self.eng.subscribe_trades(self.venue, sym, self.trades.append)
        self.eng.subscribe_book_state(self.venue, sym, lambda s, st: self.states.append((time.monotonic(), st)))
        self.rt = self.eng.runtime(self.venue)
        await self.eng.start(execution=False)
        assert isinstance(self.rt.adapter, CcxtAdapter)
        self.fs = next(iter(self.rt.feed_symbols()))
        return self

    async def __aexit__(self, *exc) -> None:
        try:
            await self.eng.close()
        finally:
            await self.fake.close()

    async def live_with(self, book: dict, timeout: float = 10.0) -> None:
        fs = self.fs
        ok = await wait_for(lambda: fs.sync.is_live and book_of(fs) == book, timeout)
        assert ok, (self.venue, fs.sync.is_live, book_of(fs), book, self.fake.unknown)


VENUES = ["kraken", "bybit", "gate", "bitget", "coinbase", "cryptocom", "gemini", "bitstamp", "binanceusdm", "kucoin", "htx", "deribit", "mexc", "bitfinex"]
@pytest.mark.parametrize("ccxt_id", VENUES)
def test_one_request_fits_the_ccxt_rate_bucket(ccxt_id):
    b = gate.rate_bucket(gate.ccxt_rate_limit_ms(ccxt_id))
    assert b.limit * (1.0 - b.headroom) * 0.6 >= gate.MILLI       # the snapshot lane included


async def test_book_and_trades(tmp_path, venue):
    async with Run(tmp_path, venue) as r:
        # (a) LIVE with exactly the scripted levels, as the engine normalizes them
        await r.live_with(r.expect["book"])
        # (b) every scripted trade once: id, taker side, price, size, exchange time in ns (the fake
        # holds them until the engine is subscribed to the worker, which does not replay trades)
        r.fake.release("trades")
        assert r.expect["trades"], "every venue's fixture scripts trades"
        assert await wait_for(lambda: len(r.trades) >= len(r.expect["trades"]), 10), r.trades
        assert [trade_of(t) for t in r.trades] == r.expect["trades"]
        assert r.fs.n_dup_trades == 0 and r.fs.sync.n_crossed == 0
        assert sum(p.n_errors for p in r.rt.parsers) == 0
        assert r.fake.unknown == [] and r.fake.subscribes == {"book": 1, "trades": 1}


async def test_silence_takes_the_book_out_of_live(tmp_path, venue):
    """The fake stops sending for the symbol (its script holds) while the socket stays open and
    its pings are answered: the book must leave LIVE within the engine's bound and not be handed
    out as LIVE again while nothing arrives. (The probe asks the venue's REST book through the
    worker, never the worker's copy of the silent stream. Where the fake has a REST book that
    differs from the stream's, the probe finds the book wrong and resubscribes, and the new
    subscription's frames may make it LIVE again: only that is allowed.)"""
    async with Run(tmp_path, venue) as r:
        await r.live_with(r.expect["book"])
        quiet_from = time.monotonic()
        sent = r.fake.sent.get("book", 0)
        assert await wait_for(lambda: not r.fs.sync.is_live, SILENCE_S + 2.0), "still LIVE on a silent stream"
        assert time.monotonic() - quiet_from <= SILENCE_S + 2.0
        # a few of the engine's (compressed) probe cycles
        back = await wait_for(lambda: r.fs.sync.is_live and r.fake.sent.get("book", 0) == sent, 1.5, step=0.005)
        assert not back, "LIVE again with no data: " + repr([(round(t - quiet_from, 2), s.name) for t, s in r.states])


#: venues whose scripted fault (ws_book.jsonl after "fault") cannot be caught from the frames:
#: the REST audit catches a lost update there, within its period (the test after this one)
FAULT_NOT_CAUGHT: dict[str, str] = {      # venue -> why its fault is not caught at once (strict xfail)
    "gemini": "Gemini's v2 l2_updates carry no sequence number or checksum: CCXT applies every change "
              "as it comes, so a lost update cannot be told from the frames",
    "bitstamp": "Bitstamp's diff_order_book carries no sequence or checksum (only microtimestamp, which "
                "orders deltas but cannot show one lost): CCXT applies every later delta",
}


def _fault_case(venue):
    reason = FAULT_NOT_CAUGHT.get(venue)
    return pytest.param(venue, marks=pytest.mark.xfail(strict=True, reason=reason)) if reason else venue


@pytest.mark.parametrize("fault_venue", [_fault_case(v) for v in VENUES])
async def test_a_broken_sequence_or_checksum_resyncs_the_book(tmp_path, fault_venue):
    """The fake sends one update that breaks the venue's own continuity (a skipped update id, a
    wrong checksum): the book must leave LIVE and come back from a new snapshot, and the update
    after the break must never be part of a LIVE book."""
    venue = fault_venue
    async with Run(tmp_path, venue) as r:
        await r.live_with(r.expect["book"])
        wrong = []

        def resynced():
            b = book_of(r.fs)
            if r.fs.sync.is_live and b not in (r.expect["book"], r.expect["book_resync_snapshot"],
                                                r.expect["book_resynced"]):
                wrong.append(b)
                return True                 # failed already: no need to wait out the timeout
            return r.fs.sync.is_live and b == r.expect["book_resynced"]

        r.fake.release("fault")
        ok = await wait_for(resynced, 6.0, step=0.005)
        assert not wrong, f"a wrong book was LIVE: {wrong[0]}"
        assert ok and r.fake.subscribes["book"] >= 2, (book_of(r.fs), r.fake.subscribes)
        assert any(s != BookState.LIVE for _, s in r.states[1:])


async def test_a_lost_update_is_caught_by_the_rest_audit_where_the_feed_cannot_show_it(tmp_path):
    """Gemini's feed has no sequence or checksum. The fake's REST book is the venue's truth: one
    level (63999.5) changed in an update the stream never delivered. The worker's audit holds the
    stream's book against it once the level has been quiet long enough, finds the difference,
    invalidates the book and subscribes it again; without the audit the wrong book stays LIVE."""
    r = Run(tmp_path, "gemini", extra="ccxt_book_audit_s = 1\n")
    # a busy market, so the engine's data-silence probe (which also asks the REST book) stays out
    # of it: after the scripted book, a far ask level changes every 50 ms for 15 s
    first = r.fake.streams["book"][0]
    busy = [{"type": "l2_updates", "symbol": "BTCUSD", "changes": [["sell", "64003.00", str(1 + i % 2)]]}
            for i in range(300)]
    r.fake.streams["book"][0] = first[:first.index({"_hold": "fault"})] + [
        x for u in busy for x in (u, {"_sleep": 0.05})]
    async with r:
        ok = await wait_for(lambda: r.fs.sync.is_live, 10)
        assert ok
        ok = await wait_for(lambda: r.fs.sync.is_live and book_of(r.fs) == r.expect["book_resynced"], 15)
        assert ok and r.fake.subscribes["book"] >= 2, (book_of(r.fs), r.fake.subscribes)
        assert any(s != BookState.LIVE for _, s in r.states[1:])
        assert await wait_for(lambda: r.rt.adapter.counters().get("worker_audit_failures", 0) == 1, 8)
        assert r.rt.adapter.counters().get("worker_audits", 0) >= 1


def pytest_generate_tests(metafunc):
    if "venue" in metafunc.fixturenames:
        metafunc.parametrize("venue", VENUES)
