import pytest
from hypothesis import given, settings, strategies as st

from venuelink.ext.book import BookError, L2Book
from venuelink.ext.ref.book_ref import RefBook
from venuelink.ext.types import Side

BID, ASK = int(Side.BID), int(Side.ASK)


def same(book: L2Book, ref: RefBook) -> None:
    assert book.levels(BID) == ref.levels(BID)
    assert book.levels(ASK) == ref.levels(ASK)
    assert book.best_bid() == ref.best_bid()
    assert book.best_ask() == ref.best_ask()
    assert book.top(BID, 5) == ref.top(BID, 5)
    assert book.top(ASK, 5) == ref.top(ASK, 5)
    assert book.is_crossed() == ref.is_crossed()
    assert book.depth(BID) == len(ref.sides[BID]) and book.depth(ASK) == len(ref.sides[ASK])


def test_basic_apply_and_top():
    b = L2Book(2, 3)
    assert b.best_bid() is None and b.best_ask() is None and not b.is_crossed()
    b.snapshot([(100, 1), (99, 2), (98, 3)], [(101, 1), (102, 2)])
    assert b.best_bid() == (100, 1) and b.best_ask() == (101, 1)
    assert b.top(BID, 2) == [(100, 1), (99, 2)]
    assert b.apply(BID, 100, 0) == 3          # delete
    assert b.apply(BID, 50, 0) == 4           # delete of a missing level
    assert b.apply(BID, 99, 7) == 2           # update
    assert b.apply(ASK, 100, 4) == 1          # insert new best ask
    assert b.best_ask() == (100, 4) and b.best_bid() == (99, 7)
    assert b.apply(BID, 100, 1) == 1
    assert b.is_crossed()


def test_bad_input_raises():
    b = L2Book()
    with pytest.raises(BookError):
        b.apply(BID, 100, -1)
    with pytest.raises(BookError):
        b.apply(3, 100, 1)
    with pytest.raises(BookError):
        b.apply(ASK, -(2**63), 1)
    with pytest.raises(BookError):
        b.snapshot([(1, -5)], [])
    with pytest.raises(ValueError):
        L2Book(19, 2)
    with pytest.raises(ValueError):
        L2Book(depth_cap=-1)


def test_apply_str_uses_exact_decimals():
    b = L2Book(2, 8)
    b.apply_str(BID, "27123.45", "0.00012")
    assert b.best_bid() == (2712345, 12000)
    with pytest.raises(ValueError):
        b.apply_str(BID, "27123.455", "1")


def test_depth_cap_drops_worst():
    b = L2Book(0, 0, depth_cap=3)
    b.snapshot([(p, 1) for p in range(100, 90, -1)], [])
    assert [p for p, _ in b.levels(BID)] == [100, 99, 98]
    assert b.apply(BID, 50, 1) == 5           # worse than a full capped side: not kept
    b.apply(BID, 101, 1)
    assert [p for p, _ in b.levels(BID)] == [101, 100, 99]


def test_growth_far_beyond_initial_capacity():
    b, r = L2Book(0, 0), RefBook(0, 0)
    for i in range(5000):
        p = (i * 7919) % 20011
        b.apply(ASK, p, i + 1)
        r.apply(ASK, p, i + 1)
    same(b, r)


def test_snapshot_unsorted_duplicates_last_wins():
    b, r = L2Book(0, 0), RefBook(0, 0)
    bids = [(5, 1), (9, 2), (5, 3), (7, 0), (1, 4)]
    asks = [(20, 1), (11, 2), (20, 0), (15, 5)]
    b.snapshot(bids, asks)
    r.snapshot(bids, asks)
    same(b, r)


levels = st.lists(st.tuples(st.integers(1, 400), st.integers(0, 50)), max_size=120)
deltas = st.lists(st.tuples(st.sampled_from([BID, ASK]), st.integers(1, 400), st.integers(0, 50)), max_size=600)


@settings(max_examples=300, deadline=None)
@given(levels, levels, deltas, st.sampled_from([0, 0, 5, 25]))
def test_random_streams_match_reference(bids, asks, stream, cap):
    b, r = L2Book(2, 4, depth_cap=cap), RefBook(2, 4, depth_cap=cap)
    b.snapshot(bids, asks)
    r.snapshot(bids, asks)
    same(b, r)
    for side, px, qty in stream:
        assert b.apply(side, px, qty) == r.apply(side, px, qty)
    same(b, r)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from([BID, ASK]), st.integers(-(2**62), 2**62), st.integers(0, 2**62)),
                max_size=300))
def test_extreme_prices_match_reference(stream):
    b, r = L2Book(), RefBook()
    for side, px, qty in stream:
        assert b.apply(side, px, qty) == r.apply(side, px, qty)
    same(b, r)


def test_apply_many_equals_sequential():
    from array import array
    b1, b2 = L2Book(), L2Book()
    px = array("q", [100, 101, 100, 102, 99])
    qty = array("q", [1, 2, 0, 3, 4])
    b1.apply_many(BID, px, qty)
    for p, q in zip(px, qty):
        b2.apply(BID, p, q)
    assert b1.levels(BID) == b2.levels(BID)


def test_sequence_fields():
    b = L2Book()
    assert b.seq == -1
    b.seq = 42
    b.ts_exchange_ns = 1
    b.clear()
    assert b.seq == -1 and len(b) == 0


@pytest.mark.parametrize("step", [-1, 1])
def test_many_new_levels_in_either_order_equal_the_reference(step):
    from venuelink.ext.ref.book_ref import RefBook
    b, r = L2Book(0, 0), RefBook(0, 0)
    start = 50_000
    b._bench_new_levels(1, start, step, 3000)
    for i in range(3000):
        r.apply(1, start + i * step, 1)
    # deletes from the worst end and the best end, then inserts around them
    for px in list(range(start - 2999, start - 2900)) + list(range(start + 2900, start + 3000)):
        b.apply(1, px, 0)
        r.apply(1, px, 0)
    for px in range(start - 3100, start - 3000):
        b.apply(1, px, 7)
        r.apply(1, px, 7)
    assert b.levels(1) == r.levels(1)
