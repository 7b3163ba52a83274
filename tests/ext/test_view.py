"""venuelink.ext.view.BookHandle against its Python twin (ext/ref/view_ref.py), and the engine's
BookView on top of it: a live handle, not a copy, whose state is the book's state now."""
import pytest
from hypothesis import given, settings, strategies as st

from venuelink.engine import BookSnapshot, BookView
from venuelink.ext.feed import FeedSymbol
from venuelink.ext.ref.book_ref import RefBook
from venuelink.ext.ref.view_ref import RefBookHandle
from venuelink.ext.sync import SeqRule
from venuelink.ext.view import BookHandle
from venuelink.model import BookState, Instrument, VenueId

BID, ASK = 1, 2


def inst(px_scale=2, qty_scale=8):
    return Instrument(VenueId.okx, "BTC-USDT", "BTC/USDT", "BTC", "USDT", px_scale, qty_scale, 1, 1)


def handle(px_scale=2, qty_scale=8, cls=BookHandle):
    i = inst(px_scale, qty_scale)
    fs = FeedSymbol(i, b"BTC-USDT", SeqRule.SEQ_PREV)
    return cls(VenueId.okx, i, fs), fs


def same(h, ref: RefBookHandle) -> None:
    assert h.best_bid() == ref.best_bid() and h.best_ask() == ref.best_ask()
    assert h.best_bid_px() == ref.best_bid_px() and h.best_ask_px() == ref.best_ask_px()
    for n in (-1, 0, 1, 5, 50):
        assert h.top(n) == ref.top(n), n


def test_reads_are_the_book_now_not_a_copy():
    h, fs = handle()
    assert h.best_bid() is None and h.best_ask() is None and h.top(5) == ([], [])
    assert h.best_bid_px() is None and h.best_ask_px() is None
    fs.book.snapshot([(2712345, 150000000), (2712300, 1)], [(2712400, 12000)])
    assert h.best_bid() == (2712345, 150000000) and h.best_ask() == (2712400, 12000)
    assert h.best_bid_px() == 2712345 and h.best_ask_px() == 2712400
    assert h.top(5) == ([("27123.45", "1.5"), ("27123", "0.00000001")], [("27124", "0.00012")])
    assert h.top(1) == ([("27123.45", "1.5")], [("27124", "0.00012")])
    fs.book.apply(BID, 2712345, 0)                 # the handle sees the change without being remade
    assert h.best_bid() == (2712300, 1) and h.top(1)[0] == [("27123", "0.00000001")]
    fs.book.seq = 77
    assert h.seq == 77 and h.symbol == "BTC/USDT" and h.fs is fs


def test_types_are_those_of_the_book_and_the_instrument():
    h, fs = handle(1, 3)
    fs.book.snapshot([(10, 5)], [(11, 2000)])
    (bp, bq), = h.top(1)[0]
    assert type(h.best_bid()) is tuple and type(h.best_bid()[0]) is int and type(h.best_bid_px()) is int
    assert type(bp) is str and type(bq) is str and type(h.top(1)[0]) is list
    assert h.top(1) == ([(fs.instrument.px_str(10), fs.instrument.qty_str(5))],
                        [(fs.instrument.px_str(11), fs.instrument.qty_str(2000))])


@pytest.mark.parametrize("px_scale,qty_scale", [(0, 0), (2, 8), (8, 3), (18, 18)])
def test_extreme_values_format_as_the_decimal_module(px_scale, qty_scale):
    h, fs = handle(px_scale, qty_scale)
    ref = RefBook(px_scale, qty_scale)
    big = 2**63 - 1
    bids, asks = [(big, big), (1, 1), (10**px_scale, 10**qty_scale)], [(big - 1, 7), (-5, 3)]
    fs.book.snapshot(bids, asks)
    ref.snapshot(bids, asks)
    same(h, RefBookHandle(ref))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from([(2, 8), (0, 3), (8, 8), (18, 0)]),
       st.lists(st.tuples(st.sampled_from([BID, ASK]), st.integers(-10**6, 10**6),
                          st.one_of(st.just(0), st.integers(1, 2**63 - 1))), max_size=60))
def test_differential_against_the_reference(scales, ops):
    h, fs = handle(*scales)
    ref = RefBook(*scales)
    for side, px, qty in ops:
        assert fs.book.apply(side, px, qty) == ref.apply(side, px, qty)
    same(h, RefBookHandle(ref))


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([BID, ASK]), st.integers(0, 300), st.integers(0, 40)), max_size=300))
def test_one_handle_read_after_every_change_matches_the_reference(ops):
    """The texts top() keeps between reads: a few prices and sizes in many combinations, so levels
    come back changed, share cache slots and evict each other."""
    h, fs = handle(2, 3)
    ref = RefBook(2, 3)
    r = RefBookHandle(ref)
    for side, px, qty in ops:
        fs.book.apply(side, px * 997, qty)
        ref.apply(side, px * 997, qty)
        assert h.top(20) == r.top(20)
    same(h, r)


def test_state_is_truthful_whenever_the_view_is_read():
    v, fs = handle(cls=BookView)
    assert v.state == BookState.SYNCING and not v.is_live and isinstance(v.state, BookState)
    fs.sync.snapshot(5, [(100, 1)], [(101, 1)])
    assert v.state == BookState.LIVE and v.is_live and v.seq == 5
    kept = v.snapshot()
    fs.sync.invalidate("gap")                      # a view kept past the callback and read later
    assert v.state == BookState.INVALID and not v.is_live
    assert v.snapshot().state == BookState.INVALID and not v.snapshot().is_live
    fs.sync.snapshot(9, [(100, 1)], [(101, 1)])
    fs.sync.mark_stale()
    assert v.state == BookState.STALE and not v.is_live
    assert kept.state == BookState.LIVE and kept.seq == 5      # the copy keeps what it was


def test_snapshot_is_a_frozen_copy_with_the_same_reads():
    v, fs = handle(cls=BookView)
    fs.sync.snapshot(5, [(2712345 - i, 100 + i) for i in range(8)], [(2712400 + i, 7) for i in range(3)])
    snap = v.snapshot()
    assert isinstance(snap, BookSnapshot)
    assert (snap.best_bid(), snap.best_ask(), snap.top(5), snap.seq, snap.symbol) == \
           (v.best_bid(), v.best_ask(), v.top(5), v.seq, v.symbol)
    assert (snap.best_bid_px(), snap.best_ask_px()) == (v.best_bid_px(), v.best_ask_px())
    assert snap.top(50) == v.top(50) and len(snap.bids) == 8
    assert v.snapshot(2).bids == ((2712345, 100), (2712344, 101)) and len(v.snapshot(0).asks) == 0
    fs.book.apply(BID, 2712345, 0)
    assert snap.best_bid() == (2712345, 100) and v.best_bid() == (2712344, 101)
    with pytest.raises(AttributeError):
        snap.seq = 1                               # frozen
    with pytest.raises(AttributeError):
        v.fs = fs                                  # the view is not rebound either


def test_a_handle_needs_a_feed_symbol():
    with pytest.raises(TypeError):
        BookHandle(VenueId.okx, inst(), None)


def test_applied_books_reach_python_only_for_subscribed_symbols():
    """The runtime hands an applied book to Python (on_book_applied) only for a symbol with a book
    subscriber: its FeedSymbol's want_book, on from the start for a subscription made before,
    turned on by a later one; trades always reach it."""
    from venuelink.config import Config, VenueConfig
    from venuelink.engine import Engine
    cfg = VenueConfig(name="binance", rest_url="http://x", ws_url="ws://x", symbols=["BTC/USDT", "ETH/USDT"])
    eng = Engine(Config(venues={"binance": cfg}))
    rt = eng.runtime("binance")
    eng.subscribe_book("binance", "ETH/USDT", lambda v: None)            # before its FeedSymbol exists
    btc = rt._new_feed_symbol(Instrument(VenueId.binance, "BTCUSDT", "BTC/USDT", "BTC", "USDT", 2, 5, 1, 1))
    eth = rt._new_feed_symbol(Instrument(VenueId.binance, "ETHUSDT", "ETH/USDT", "ETH", "USDT", 2, 4, 1, 1))
    assert not btc.want_book and eth.want_book and btc.want_trades and eth.want_trades
    seen = []
    eng.subscribe_book("binance", "BTC/USDT", seen.append)
    assert btc.want_book
    btc.sync.snapshot(5, [(100, 1)], [(101, 1)])
    rt.on_book_applied(btc)
    assert seen == [rt.book_views["BTC/USDT"]] and seen[0].is_live
