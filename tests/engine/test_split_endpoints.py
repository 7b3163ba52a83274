"""A venue that serves a symbol's channels on different endpoints (books and tops on one, trades
and derivatives on another, as Binance USD-M's /public and /market): one FeedSymbol per symbol,
known to both connections' parsers; each connection judged on its own. A dropped trade
connection leaves the books LIVE and untouched; a dropped book connection resyncs the books only."""
from venuelink.derivatives import MarkPrice
from venuelink.model import BookState
from tests.engine.test_lifecycle import toy_engine, wait_for


async def test_channels_on_two_endpoints_share_one_symbol_and_drop_separately():
    async with toy_engine(split=True) as (eng, server):
        trades, marks, states = [], [], []
        eng.subscribe_trades("toyvenue", "AAA/USD", trades.append)
        eng.subscribe_derivatives("toyvenue", "AAA/USD", lambda e: marks.append(e) if isinstance(e, MarkPrice) else None)
        eng.subscribe_book_state("toyvenue", "AAA/USD", lambda s, st: states.append(st))
        await eng.start(execution=False)
        rt = eng.runtime("toyvenue")
        assert sorted(s.name.rstrip("0123456789") for s in rt.sessions) == ["toyvenue-market", "toyvenue-public"]
        assert len(rt.feed_symbols()) == 2            # each symbol once, though two parsers know it
        fs = rt.fs_by_symbol["AAA/USD"]
        assert await wait_for(lambda: fs.sync.is_live and len(trades) >= 3 and len(marks) >= 2, 15)
        market = next(s for s in rt.sessions if "market" in s.name)
        public = next(s for s in rt.sessions if "public" in s.name)
        assert rt.book_topics["AAA/USD"][0] is public and rt.trade_sessions["AAA/USD"] is market
        assert rt.deriv_topics["AAA/USD"][0] is market
        # the trade connection drops: it comes back, and the book never left LIVE nor resynced
        snaps, n_states, n_trades = fs.sync.n_snapshots, len(states), len(trades)
        gen = market.gen
        market.force_reconnect("test: the trade connection drops")
        assert await wait_for(lambda: market.gen > gen and len(trades) > n_trades + 3, 15)
        assert fs.sync.is_live and fs.sync.n_snapshots == snaps and len(states) == n_states, states[n_states:]
        # the book connection drops: the books resync from a new snapshot, trades keep flowing
        gen = public.gen
        public.force_reconnect("test: the book connection drops")
        assert await wait_for(lambda: public.gen > gen and fs.sync.n_snapshots > snaps and fs.sync.is_live, 15)
        assert BookState.LIVE in states[n_states:] and any(s != BookState.LIVE for s in states[n_states:])
        # a top-of-book subscription after start goes to the book's endpoint
        eng.subscribe_top("toyvenue", "AAA/USD", lambda t: None)
        assert rt.top_topics["AAA/USD"][0] is public
