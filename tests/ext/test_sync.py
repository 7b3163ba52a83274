import random

import pytest

from venuelink.ext.book import L2Book
from venuelink.ext.sync import BookStateC, BookSync, SeqRule, SyncResult
from venuelink.ext.types import Side


class Listener:
    def __init__(self):
        self.requests, self.states = [], []

    def on_need_snapshot(self, sync, reason):
        self.requests.append(reason)

    def on_state(self, sync, old, new):
        self.states.append((old, new))


def make(rule=SeqRule.SEQ_FIRST_LAST, depth_cap=0):
    lst = Listener()
    return BookSync(L2Book(0, 0, depth_cap), rule, "BTC/USDT", lst), lst


@pytest.mark.parametrize("bids", [[(7, 1), (5, 0)], [(5, 0), (7, 1)]], ids=["insert-first", "delete-first"])
def test_a_depth_capped_book_takes_a_message_whole_in_any_order(bids):
    """A 3-level window: the venue deletes 5 and brings 7 in within one message. Listed either way,
    the book ends with the venue's window; the old third level (3) is not lost to an insertion that
    came first, and an insertion below a full book listed before the deletion is not refused."""
    s, _ = make(SeqRule.SEQ_PREV, depth_cap=3)
    s.snapshot(10, [(9, 1), (8, 1), (5, 1)], [(20, 1)])
    assert s.delta(11, 11, 10, bids, []) == SyncResult.SYNC_APPLIED
    assert s.book.levels(Side.BID) == [(9, 1), (8, 1), (7, 1)]
    s.delta(12, 12, 11, [(6, 1), (9, 0)], [])            # 6 enters below a full window as 9 leaves
    assert s.book.levels(Side.BID) == [(8, 1), (7, 1), (6, 1)]
    s.delta(13, 13, 12, [(10, 2), (7, 0)], [])            # 10 comes in as 7 leaves: 6 stays
    assert s.book.levels(Side.BID) == [(10, 2), (8, 1), (6, 1)]
    s.delta(14, 14, 13, [(11, 1)], [])                    # a better level pushes the worst out
    assert s.book.levels(Side.BID) == [(11, 1), (10, 2), (8, 1)]


def test_binance_procedure_buffer_drop_straddle_then_continuity():
    s, lst = make()
    assert s.state == BookStateC.BOOK_SYNCING
    assert s.delta(101, 105, -1, [(10, 1)], []) == SyncResult.SYNC_BUFFERED
    assert lst.requests == ["initial sync"]
    s.delta(106, 110, -1, [(11, 1)], [(20, 2)])
    s.delta(111, 111, -1, [(10, 0)], [])
    # snapshot at 107: drop 101..105, 106..110 straddles 108, then 111 continues
    assert s.snapshot(107, [(9, 5), (10, 7)], [(21, 1)]) == SyncResult.SYNC_APPLIED
    assert s.state == BookStateC.BOOK_LIVE and s.book.seq == 111
    assert s.book.levels(Side.BID) == [(11, 1), (9, 5)]
    assert s.book.levels(Side.ASK) == [(20, 2), (21, 1)]
    assert s.delta(105, 111, -1, [(1, 1)], []) == SyncResult.SYNC_STALE_DROP
    assert s.delta(112, 115, -1, [(12, 1)], []) == SyncResult.SYNC_APPLIED
    assert s.n_stale == 1


def test_gap_invalidates_buffers_and_recovers():
    s, lst = make()
    s.delta(1, 1, -1, [], [])
    s.snapshot(1, [(10, 1)], [(20, 1)])
    assert s.delta(5, 6, -1, [(11, 1)], []) == SyncResult.SYNC_GAP
    assert s.state == BookStateC.BOOK_INVALID and s.n_gaps == 1
    assert lst.requests[-1].startswith("sequence gap")
    assert s.delta(7, 8, -1, [(12, 1)], []) == SyncResult.SYNC_BUFFERED
    s.snapshot(6, [(11, 1)], [(20, 1)])
    assert s.state == BookStateC.BOOK_LIVE and s.book.seq == 8
    assert s.book.best_bid() == (12, 1)


def test_old_snapshot_asks_again():
    s, lst = make()
    s.delta(100, 110, -1, [], [])
    assert s.snapshot(50, [(1, 1)], [(2, 1)]) == SyncResult.SYNC_SNAPSHOT_OLD
    assert s.state == BookStateC.BOOK_SYNCING and len(lst.requests) == 2
    assert s.snapshot(105, [(1, 1)], [(2, 1)]) == SyncResult.SYNC_APPLIED
    assert s.book.seq == 110


def test_prev_rule():
    s, _ = make(SeqRule.SEQ_PREV)
    s.delta(90, 95, 89, [], [])
    s.delta(96, 99, 95, [(5, 1)], [])
    s.snapshot(97, [(4, 1)], [(9, 1)])
    assert s.book.seq == 99 and s.book.best_bid() == (5, 1)
    assert s.delta(100, 101, 99, [], []) == SyncResult.SYNC_APPLIED
    assert s.delta(103, 104, 102, [], []) == SyncResult.SYNC_GAP


def test_prev_rule_sequence_reset_is_applied_and_stays_live():
    # OKX after maintenance: seqId goes below prevSeqId, and prevSeqId still equals the book's id
    s, lst = make(SeqRule.SEQ_PREV)
    s.buffering = False
    s.snapshot(100, [(10, 1)], [(20, 1)])
    assert s.delta(105, 105, 100, [(11, 1)], []) == SyncResult.SYNC_APPLIED
    assert s.delta(3, 3, 105, [(12, 1)], []) == SyncResult.SYNC_APPLIED
    assert s.delta(4, 4, 3, [(13, 1)], []) == SyncResult.SYNC_APPLIED
    assert s.state == BookStateC.BOOK_LIVE and s.book.seq == 4 and s.book.best_bid() == (13, 1)
    assert s.n_stale == 0 and s.n_gaps == 0


def test_prev_rule_keepalive_and_duplicate():
    s, _ = make(SeqRule.SEQ_PREV)
    s.snapshot(50, [(10, 1)], [(20, 1)])
    assert s.delta(50, 50, 50, [], []) == SyncResult.SYNC_APPLIED      # prevSeqId == seqId: keep-alive
    assert s.delta(55, 55, 50, [(11, 1)], []) == SyncResult.SYNC_APPLIED
    assert s.delta(55, 55, 50, [(11, 1)], []) == SyncResult.SYNC_STALE_DROP   # the same message again
    assert s.state == BookStateC.BOOK_LIVE and s.n_gaps == 0


def test_prev_rule_unbridgeable_reset_is_a_gap():
    s, lst = make(SeqRule.SEQ_PREV)
    s.snapshot(100, [(10, 1)], [(20, 1)])
    # a reset whose predecessor we never saw: seq below the book and prev not the book's id
    assert s.delta(3, 3, 150, [], []) == SyncResult.SYNC_GAP
    assert s.state == BookStateC.BOOK_INVALID


@pytest.mark.parametrize("rule", [SeqRule.SEQ_PREV, SeqRule.SEQ_FIRST_LAST])
def test_missed_reset_invalidates_instead_of_freezing(rule):
    # the reset message itself was lost: every later update looks older than the book
    s, lst = make(rule)
    s.max_stale_run = 20
    s.snapshot(1000, [(10, 1)], [(20, 1)])
    results = [s.delta(k, k, k - 1, [(11, 1)], []) for k in range(5, 25)]
    assert results[:-1] == [SyncResult.SYNC_STALE_DROP] * 19
    assert results[-1] == SyncResult.SYNC_GAP
    assert s.state == BookStateC.BOOK_INVALID and "sequence reset" in lst.requests[-1]


def test_prev_rule_rest_snapshot_continued_by_predecessor_id():
    # Binance USD-M: a buffered event whose pu equals the snapshot id continues it even though its
    # U is above the snapshot id: that snapshot is not "older than the stream"
    s, lst = make(SeqRule.SEQ_PREV)
    s.delta(108, 110, 107, [(11, 1)], [])
    assert s.snapshot(107, [(10, 1)], [(20, 1)]) == SyncResult.SYNC_APPLIED
    assert s.book.seq == 110 and s.state == BookStateC.BOOK_LIVE


def test_listener_errors_are_counted_not_swallowed(caplog):
    class Bad(Listener):
        def on_state(self, sync, old, new):
            raise RuntimeError("strategy bug")
    s = BookSync(L2Book(0, 0), SeqRule.SEQ_FIRST_LAST, "BTC/USDT", Bad())
    s.snapshot(1, [(10, 1)], [(20, 1)])
    assert s.state == BookStateC.BOOK_LIVE and s.n_listener_errors == 1
    assert "strategy bug" in caplog.text


def test_crossed_book_is_invalid():
    s, lst = make()
    s.snapshot(1, [(10, 1)], [(20, 1)])
    s.delta(2, 2, -1, [(25, 1)], [])
    assert s.state == BookStateC.BOOK_INVALID and s.n_crossed == 1


def test_random_stream_with_gaps_matches_direct_book():
    rng = random.Random(1)
    truth = L2Book(0, 0)
    s, lst = make()
    u = 0
    for step in range(3000):
        bids = [(rng.randint(1, 50), rng.randint(0, 3)) for _ in range(3)]
        asks = [(rng.randint(51, 100), rng.randint(0, 3)) for _ in range(3)]
        first, u = u + 1, u + rng.randint(1, 3)
        for p, q in bids:
            truth.apply(Side.BID, p, q)
        for p, q in asks:
            truth.apply(Side.ASK, p, q)
        if rng.random() < 0.01:
            continue                          # dropped on the wire: a gap
        s.delta(first, u, -1, bids, asks)
        if lst.requests and rng.random() < 0.2:
            lst.requests.clear()
            s.snapshot(u, truth.levels(Side.BID), truth.levels(Side.ASK))
        if s.state == BookStateC.BOOK_LIVE:
            assert s.book.levels(Side.BID) == truth.levels(Side.BID)
            assert s.book.levels(Side.ASK) == truth.levels(Side.ASK)
    assert s.n_gaps > 0


def test_bad_rule():
    with pytest.raises(ValueError):
        BookSync(L2Book(), 9)


from hypothesis import given, settings, strategies as st

from venuelink.ext.ref.sync_ref import RefSync

levels = st.lists(st.tuples(st.integers(1, 60), st.integers(0, 4)), max_size=4)
ops = st.lists(st.one_of(
    st.tuples(st.just("d"), st.integers(-3, 6), st.integers(0, 3), levels, levels),     # delta: id jump, length
    st.tuples(st.just("s"), st.integers(-8, 2), st.just(0), levels, levels),            # snapshot near the head
    st.tuples(st.just("x"), st.just(0), st.just(0), st.just([]), st.just([])),          # mark stale
    st.tuples(st.just("r"), st.integers(1, 90), st.just(0), levels, levels),            # sequence reset (lower)
), max_size=80)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([SeqRule.SEQ_FIRST_LAST, SeqRule.SEQ_PREV, SeqRule.SEQ_NONE]), ops, st.sampled_from([0, 3]))
def test_matches_reference_twin(rule, stream, cap):
    s, _ = make(rule, cap)
    s.max_stale_run = 6
    r = RefSync(int(rule), max_stale_run=6, depth_cap=cap)
    head = 100
    for kind, jump, length, bids, asks in stream:
        bids = [(p, q) for p, q in bids]
        asks = [(p + 60, q) for p, q in asks]          # never crossed by construction
        if kind == "d":
            first = head + jump
            last = first + length
            prev = first - 1
            head = max(head, last + 1)
            assert s.delta(first, last, prev, bids, asks) == r.delta(first, last, prev, bids, asks)
        elif kind == "r":
            last = max(0, head - 1 - jump)
            prev = head - 1
            head = last + 1
            assert s.delta(last, last, prev, bids, asks) == r.delta(last, last, prev, bids, asks)
        elif kind == "s":
            seq = head + jump
            bq = [(p, q) for p, q in bids if q]
            aq = [(p, q) for p, q in asks if q]
            assert s.snapshot(seq, bq, aq) == r.snapshot(seq, bq, aq)
        else:
            s.mark_stale()
            if r.state == 2:
                r.state = 3
        assert s.state == r.state
        assert (s.n_gaps, s.n_stale, s.n_snapshots, s.n_applied) == (r.n_gaps, r.n_stale, r.n_snapshots, r.n_applied)
        assert s.pending == len(r.pending)
        if s.state in (2, 3):
            assert s.book.seq == r.seq
            assert s.book.levels(Side.BID) == r.book.levels(1)
            assert s.book.levels(Side.ASK) == r.book.levels(2)
