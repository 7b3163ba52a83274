"""The venue-neutral lifecycle through the real engine, on a venue shaped like most exchanges
after Binance (tests/engine/toyvenue.py, a real WebSocket server on 127.0.0.1): subscribe frames
and acks, in-band snapshots, resync by resubscribing one topic, live checksums, no REST snapshot
ever, application pings, the subscribe-operation budget, refused subscriptions."""
import asyncio
import contextlib

import pytest

from venuelink import registry
from venuelink.config import Config, VenueConfig
from venuelink.engine import Engine
from venuelink.errors import ConfigError, EngineError
from venuelink.ext.sync import SeqRule
from tests.engine.toyvenue import SYMBOLS, TOY, ToyServer, make_adapter
from tests.waiting import wait_for




@contextlib.asynccontextmanager
async def toy_engine(rule=SeqRule.SEQ_PREV, *, ping_s=0.0, ops_per_hour=0, symbols=("AAA/USD", "BBB/USD"),
                     token=False, conn_topics=(), md_auth=False, split=False, **venue_kw):
    server = ToyServer(seq_rule=rule, ops_per_hour=ops_per_hour)
    server.require_token = token
    await server.start()
    registry.register(TOY, make_adapter(server, ping_s=ping_s, ops_per_hour=ops_per_hour, token=token,
                                        conn_topics=conn_topics, md_auth=md_auth, split=split))
    endpoints = {"public": server.url, **({"market": server.url} if split else {})}
    eng = Engine(Config(venues={"toyvenue": VenueConfig(name="toyvenue", rest_url=server.rest_url,
                                                        endpoints=endpoints,
                                                        symbols=list(symbols), **venue_kw)}, metrics_port=0))
    try:
        yield eng, server
    finally:
        await eng.close()
        await server.stop()
        registry.ADAPTERS.pop(TOY, None)


def book_of(eng, sym):
    return eng.runtime("toyvenue").fs_by_symbol[sym]


def equals_server(eng, server, sym, venue_sym) -> bool:
    fs = book_of(eng, sym)
    inst = fs.instrument
    bids, asks = server.book_top(venue_sym)
    canon = lambda side: [(inst.px(p), inst.qty(q)) for p, q in side]      # exact mantissas
    return fs.book.top(1, 10) == canon(bids) and fs.book.top(2, 10) == canon(asks)


@pytest.mark.parametrize("rule", [SeqRule.SEQ_PREV, SeqRule.SEQ_NONE])
async def test_subscribe_in_band_snapshot_gap_resubscribe_checksum(rule):
    async with toy_engine(rule) as (eng, server):
        await eng.start(execution=False)
        rt = eng.runtime("toyvenue")
        a, b = book_of(eng, "AAA/USD"), book_of(eng, "BBB/USD")
        assert await wait_for(lambda: a.sync.is_live and b.sync.is_live, 10)
        s = rt.sessions[0]
        assert s.sub_acks >= 1 and "book:AAA-USD" in s.subscribed and "trades:BBB-USD" in s.subscribed
        assert ("subscribe", "book:AAA-USD") in server.ops
        await asyncio.sleep(0.3)
        assert a.sync.n_applied > 10 and a.sync.n_checksum_failures == 0
        # a lost update: SEQ_PREV sees the gap in the ids, SEQ_NONE only through the checksum
        server.drop_next.add("AAA-USD")
        assert await wait_for(lambda: a.sync.n_resyncs >= 1, 5)
        if rule == SeqRule.SEQ_PREV:
            assert a.sync.n_gaps >= 1
        else:
            assert a.sync.n_checksum_failures >= 1
        assert await wait_for(lambda: a.sync.is_live, 10)
        assert ("unsubscribe", "book:AAA-USD") in server.ops          # resynced by resubscribing
        # a corrupted checksum: counted, that book alone resyncs
        fails = a.sync.n_checksum_failures
        b_resyncs = b.sync.n_resyncs
        server.corrupt_next.add("AAA-USD")
        assert await wait_for(lambda: a.sync.n_checksum_failures == fails + 1, 5)
        assert await wait_for(lambda: a.sync.is_live, 10)
        assert b.sync.n_resyncs == b_resyncs and b.sync.is_live
        # no REST book snapshot was ever asked for: only the instruments endpoint was called
        assert set(server.rest_hits) == {"/instruments"} and rt.snapshot_requests == 0
        assert rt.resubscribe_requests >= 2
        # and it is what a Prometheus scrape shows
        port = eng.serve_metrics(port=0)
        import urllib.request
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
        line = next(x for x in text.splitlines()
                    if x.startswith("venuelink_book_checksum_failures_total") and 'symbol="AAA/USD"' in x)
        assert float(line.split()[-1]) == a.sync.n_checksum_failures >= 1
        assert 'venuelink_resubscribes_total{connection="toyvenue-public0",venue="toyvenue"}' in text
        # the book equals the venue's
        for _ in range(50):
            if equals_server(eng, server, "AAA/USD", "AAA-USD"):
                break
            await asyncio.sleep(0.005)
        assert equals_server(eng, server, "AAA/USD", "AAA-USD")


async def test_trades_with_string_ids_and_strategy_errors_do_not_hurt_the_feed():
    async with toy_engine() as (eng, server):
        got = []

        def bad(trade):
            raise ValueError("strategy bug")
        eng.subscribe_trades("toyvenue", "AAA/USD", got.append)
        eng.subscribe_trades("toyvenue", "AAA/USD", bad)
        await eng.start(execution=False)
        rt = eng.runtime("toyvenue")
        assert await wait_for(lambda: len(got) >= 5, 10)
        assert all(t.trade_id.startswith("t-AAA-USD-") and t.trade_id_int == -1 for t in got)
        assert rt.strategy_errors >= 5 and sum(p.n_errors for p in rt.parsers) == 0
        assert book_of(eng, "AAA/USD").sync.is_live


async def test_application_pings_are_sent_and_pongs_recognized():
    async with toy_engine(ping_s=0.2) as (eng, server):
        await eng.start(execution=False)
        s = eng.runtime("toyvenue").sessions[0]
        assert await wait_for(lambda: server.pings >= 3 and s.pongs >= 3, 10)
        assert sum(p.n_errors for p in eng.runtime("toyvenue").parsers) == 0


async def test_resyncs_never_exceed_the_subscribe_budget():
    # 5 operations per hour per connection: the initial subscribe and two resyncs (unsubscribe +
    # subscribe each) use them; a third gap must wait rather than earn a disconnect
    async with toy_engine(ops_per_hour=5, symbols=("AAA/USD",)) as (eng, server):
        await eng.start(execution=False)
        a = book_of(eng, "AAA/USD")
        s = eng.runtime("toyvenue").sessions[0]
        assert await wait_for(lambda: a.sync.is_live, 10)
        for k in range(3):
            ops = len(server.ops)
            server.drop_next.add("AAA-USD")
            # the gap seen: the book not live, or already resubscribing (a resync the budget lets
            # through is over within a few ms, faster than the book's state can be polled)
            await wait_for(lambda: not a.sync.is_live or len(server.ops) > ops, 5)
            await wait_for(lambda: a.sync.is_live, 5)
        await asyncio.sleep(0.5)
        conn_ops = [op for op in server.ops]
        assert len(conn_ops) <= 5, conn_ops
        assert s.reconnects == 0                          # the venue never had to cut us off
        assert not a.sync.is_live                         # and the book says so while it waits
        # the resyncs waiting for the budget do not pile up: one queued per topic at most
        for _ in range(20):
            eng.runtime("toyvenue").on_need_snapshot(a.sync, "test: asked again")
            s.resubscribe(["book:AAA-USD"])
        assert s._out.qsize() <= 2 and s.resubscribes_coalesced >= 20


async def test_a_refused_subscription_is_counted_and_retried():
    async with toy_engine(symbols=("AAA/USD",)) as (eng, server):
        server.refuse.add("book:AAA-USD")
        await eng.start(execution=False)
        s = eng.runtime("toyvenue").sessions[0]
        a = book_of(eng, "AAA/USD")
        assert await wait_for(lambda: s.sub_errors >= 1, 5)
        assert not a.sync.is_live
        server.refuse.clear()
        assert await wait_for(lambda: a.sync.is_live, 10)   # the watchdog subscribed again


async def test_a_connect_hook_gives_every_connection_its_own_token_and_ping_interval(caplog):
    """A venue that hands out a one-time token and a ping interval over REST before every
    connection (KuCoin's bullet): the adapter's connect_info runs before each connect, a reconnect
    uses a new token (the venue refuses a used one), a failed token request is retried on the
    backoff, pings follow the interval the venue gave (0.2 s, not the endpoint's 30 s), and no
    token reaches a log line or a repr."""
    caplog.set_level("DEBUG")
    async with toy_engine(ping_s=30.0, symbols=("AAA/USD",), token=True) as (eng, server):
        server.bullet_failures = 2
        await eng.start(execution=False)
        s = eng.runtime("toyvenue").sessions[0]
        assert await wait_for(lambda: book_of(eng, "AAA/USD").sync.is_live, 15)
        assert s.connect_hook_failures == 2 and s.ping_interval_s == 0.2
        assert await wait_for(lambda: server.pings >= 3, 5)
        gaps = [b - a for a, b in zip(server.ping_times, server.ping_times[1:])]
        assert max(gaps) < 2.0
        for c in list(server.conns):
            await c["ws"].close()
        assert await wait_for(lambda: s.reconnects >= 1 and book_of(eng, "AAA/USD").sync.is_live, 15)
        assert len(server.tokens) == 2 and all(server.tokens.values()) and server.refused_tokens == 0
        assert equals_server(eng, server, "AAA/USD", "AAA-USD") or \
            await wait_for(lambda: equals_server(eng, server, "AAA/USD", "AAA-USD"), 5)
        said = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("aiohttp.access"))
        said += repr(s) + repr(eng.runtime("toyvenue"))
        assert not [t for t in server.tokens if t in said]


async def test_connection_topics_are_subscribed_once_on_every_connection():
    """A venue-wide channel (Coinbase's heartbeats) that every connection subscribes besides its
    instruments' topics: once per connection, again after a reconnect, inside the topic cap."""
    async with toy_engine(conn_topics=("status:all",)) as (eng, server):
        await eng.start(execution=False)
        s = eng.runtime("toyvenue").sessions[0]
        assert await wait_for(lambda: "status:all" in s.subscribed, 10)
        assert server.ops.count(("subscribe", "status:all")) == 1 and s.topics.count("status:all") == 1
        for c in list(server.conns):
            await c["ws"].close()
        assert await wait_for(lambda: s.reconnects >= 1 and "status:all" in s.subscribed, 10)
        assert server.ops.count(("subscribe", "status:all")) == 2
        assert await wait_for(lambda: book_of(eng, "AAA/USD").sync.is_live, 10)


async def test_signed_market_data_subscriptions(monkeypatch):
    """A venue whose subscribe frames are signed (spec.md_auth: Coinbase's JWT per subscribe): the
    adapter signs with the venue's configured credentials and the current time on every
    (re)connect; without credentials the market data is refused at start, saying what to set."""
    monkeypatch.setenv("TOY_KEY", "toy-key")
    monkeypatch.setenv("TOY_SECRET", "toy-secret-7f3a")
    async with toy_engine(md_auth=True, symbols=("AAA/USD",), api_key_env="TOY_KEY",
                          api_secret_env="TOY_SECRET") as (eng, server):
        server.md_secret = "toy-secret-7f3a"
        await eng.start(execution=False)
        assert await wait_for(lambda: book_of(eng, "AAA/USD").sync.is_live, 10)
        for c in list(server.conns):
            await c["ws"].close()
        s = eng.runtime("toyvenue").sessions[0]
        assert await wait_for(lambda: s.reconnects >= 1 and book_of(eng, "AAA/USD").sync.is_live, 10)
        assert server.bad_signatures == 0 and "toy-secret-7f3a" not in repr(eng.runtime("toyvenue").adapter.__dict__)
    async with toy_engine(md_auth=True, symbols=("AAA/USD",)) as (eng, server):
        with pytest.raises(ConfigError, match="api_key_env"):
            await eng.start(execution=False)


async def test_symbols_the_engine_cannot_serve_are_refused_at_the_call():
    """Unified symbols only: a subscription to a venue symbol, another case, or a symbol missing
    from the configured ones would never fire, and is refused at the call, naming the configured
    symbols (and the unified name where the engine can tell it); an order for anything but a
    unified instrument symbol is refused before anything is sent."""
    from venuelink.model import OrderRequest, OrderType, Side
    async with toy_engine(symbols=("AAA/USD",)) as (eng, server):
        with pytest.raises(EngineError, match=r"'aaa/usd' is not among its configured symbols \['AAA/USD'\] "
                                              r"\(did you mean AAA/USD\?\)"):
            eng.subscribe_trades("toyvenue", "aaa/usd", print)
        with pytest.raises(EngineError, match="'BBB/USD' is not among"):
            eng.subscribe_book("toyvenue", "BBB/USD", print)
        got = []
        eng.subscribe_trades("toyvenue", "AAA/USD", got.append)
        await eng.start(execution=False)
        with pytest.raises(EngineError, match=r"'AAA-USD' is not among .*the venue's name for AAA/USD"):
            eng.subscribe_book_state("toyvenue", "AAA-USD", print)
        for bad in ("AAA-USD", "CCC/USD"):
            for fn in (eng.subscribe_top, eng.subscribe_derivatives):
                with pytest.raises(EngineError, match="not among its configured symbols"):
                    fn("toyvenue", bad, print)
            with pytest.raises(EngineError, match="nothing was sent"):
                await eng.place(OrderRequest(TOY, bad, Side.BUY, OrderType.LIMIT, "1", "99.9"))
        assert await wait_for(lambda: len(got) >= 1, 10)
        assert not server.rest_hits[1:] or all(h == "/instruments" for h in server.rest_hits)


async def test_acks_without_request_ids_are_matched_by_topic():
    """A venue answering each topic alone and without the request id: every topic of a request
    is marked subscribed as its answer comes, the request stops waiting once all are answered (no
    "no answer" timeout, nothing retried), and a refusal naming its topic is that request's."""
    async with toy_engine(symbols=("AAA/USD", "BBB/USD")) as (eng, server):
        server.ack_by_topic = True
        server.refuse.add("top:BBB-USD")
        await eng.start(execution=False)
        s = eng.runtime("toyvenue").sessions[0]
        assert await wait_for(lambda: s.subscribed >= set(s.topics), 10)
        assert s.sub_acks == len(s.topics) and not s._pending
        eng.runtime("toyvenue").add_top("BBB/USD")
        assert await wait_for(lambda: s.sub_errors == 1 and not s._pending, 5)
        await asyncio.sleep(s.endpoint.ack_timeout_s + 0.5)
        assert s.sub_timeouts == 0 and "top:BBB-USD" not in s.subscribed


async def test_trade_ids_restarting_after_a_reconnect_are_delivered():
    # the venue counts trade ids per connection: after a reconnect they start again and must not
    # be taken for replays
    async with toy_engine(symbols=("AAA/USD",)) as (eng, server):
        got = []
        eng.subscribe_trades("toyvenue", "AAA/USD", got.append)
        await eng.start(execution=False)
        s = eng.runtime("toyvenue").sessions[0]
        assert await wait_for(lambda: len(got) >= 3, 10)
        first_ids = {t.trade_id for t in got}
        for c in list(server.conns):
            await c["ws"].close()
        assert await wait_for(lambda: s.reconnects >= 1, 10)
        n = len(got)
        assert await wait_for(lambda: len(got) >= n + 3, 10)
        assert {t.trade_id for t in got[n:]} & first_ids             # the same ids again, delivered
        assert book_of(eng, "AAA/USD").n_dup_trades == 0


async def test_a_venue_with_broken_checksums_is_downgraded_not_resynced_forever():
    async with toy_engine(symbols=("AAA/USD",)) as (eng, server):
        server.corrupt_all = True
        await eng.start(execution=False)
        rt = eng.runtime("toyvenue")
        a = book_of(eng, "AAA/USD")
        p = rt.parsers[0]
        p.max_checksum_streak = 4
        assert await wait_for(lambda: p.checksum_off, 30)
        assert p.n_checksum_failures == p.max_checksum_streak
        assert await wait_for(lambda: a.sync.is_live, 10)                # kept live on its sequences
        resyncs = a.sync.n_resyncs
        await asyncio.sleep(0.5)
        assert a.sync.n_resyncs == resyncs and a.sync.is_live            # no resync loop
        from venuelink.model import VenueHealth
        assert rt.ws_health() == VenueHealth.DEGRADED


def test_a_message_rate_below_one_per_second_is_kept():
    from venuelink.session import WsSession
    from venuelink.venue import WsEndpoint
    from venuelink.ext.clock import now_ns
    from venuelink.ext.feed import FrameParser
    from venuelink.ext.ratelimit import Priority
    s = WsSession("x", "ws://127.0.0.1:1", FrameParser(), endpoint=WsEndpoint("x", "ws://127.0.0.1:1", max_msgs_per_s=0.5))
    now = now_ns()
    assert s._pace.acquire(s._msg_cost, now, Priority.CANCEL) == 0
    assert s._pace.acquire(s._msg_cost, now, Priority.CANCEL) > 1.5e9      # one per two seconds
