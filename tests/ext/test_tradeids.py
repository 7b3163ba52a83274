"""Integer trade-id dedupe (FeedSymbol.seen_trade) against its reference twin (ext/ref/tradeids_ref.py):
same delivered / dropped answer for every id of random streams, O(1) memory per symbol."""
import random
from array import array

import pytest
from hypothesis import given, settings, strategies as st

from venuelink.model import Instrument, Side, VenueId
from venuelink.ext.feed import FeedSymbol, PyFrameParser
from venuelink.ext.ref import tradeids_ref as R
from venuelink.ext.sync import SeqRule

INST = Instrument(VenueId.okx, "BTC-USDT", "BTC/USDT", "BTC", "USDT", 1, 3, 1, 1)
ABSURD = (10**15, 2**63 - 1, -(2**63), -1, 0, 10**18 + 7)
M64 = 2**64 - 1


def home(tid):
    """the hash slot the extension starts probing at (top 8 bits of id * 2^64/phi)"""
    return ((tid * 0x9E3779B97F4A7C15) & M64) >> 56


def colliding(n, homes=(254, 255, 0, 1), seed=0):
    """n distinct ids whose hash slots start at the end of the table and wrap to its start"""
    rng, out = random.Random(seed), set()
    while len(out) < n:
        t = rng.randrange(-(2**63), 2**63)
        if home(t) in homes:
            out.add(t)
    return sorted(out)


class Sink:
    def __init__(self):
        self.trades = []

    def on_trade(self, t):
        self.trades.append(t.trade_id)


def fsym():
    fs = FeedSymbol(INST, b"BTC-USDT", SeqRule.SEQ_PREV)
    fs.want_trades = True
    return fs


def seen(fs, tid):
    return fs._bench_seen_trades(array("q", [tid]).tobytes()) == 1


def stream(rng):
    """ids as venues send them: runs in order, runs reordered, replays of recent and older ids
    (rotation overlap, some beyond the window), restarts to small ids, absurd ids, hash collisions;
    None stands for reset_trade_ids()"""
    out, nxt = [], rng.randrange(0, 10**10)
    pool = colliding(300, seed=rng.randrange(1000))
    for _ in range(rng.randrange(5, 40)):
        op, n = rng.randrange(8), rng.randrange(1, 200)
        if op <= 1:
            out += range(nxt, nxt + n)
            nxt += n
        elif op == 2:
            run = list(range(nxt, nxt + n))
            w = rng.choice((2, 4, 16, 64))
            for i in range(0, n, w):
                part = run[i:i + w]
                rng.shuffle(part)
                out += part
            nxt += n
        elif op == 3 and out:
            lag = rng.randrange(1, 300)
            out += [x for x in out[-lag:][:n] if x is not None]
        elif op == 4:
            nxt = rng.randrange(0, 50)
            out += range(nxt, nxt + n)
            nxt += n
        elif op == 5:
            out.append(rng.choice(ABSURD))
        elif op == 6:
            out += rng.sample(pool, min(n, len(pool)))
        elif rng.random() < 0.3:
            out.append(None)
    return out


def check(fs, ids):
    ref = R.RecentTradeIds()
    for i, tid in enumerate(ids):
        if tid is None:
            fs.reset_trade_ids()
            ref.reset()
            continue
        assert seen(fs, tid) == ref.seen(tid), (i, tid)
        assert fs.last_trade_id == ref.last_trade_id
    assert fs.n_dup_trades == ref.n_dup_trades


@pytest.mark.parametrize("seed", range(40))
def test_random_streams_match_the_twin(seed):
    check(fsym(), stream(random.Random(seed)))


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.integers(0, 300), st.sampled_from(ABSURD), st.none()), max_size=600))
def test_any_id_sequence_matches_the_twin(ids):
    check(fsym(), ids)


def test_colliding_ids_wrapping_around_the_table_match_the_twin():
    # every id starts probing at the same 4 slots: long clusters, deletions across the wrap
    ids = colliding(400, seed=3)
    rng = random.Random(3)
    seq = []
    for i in range(4000):
        seq.append(ids[i % len(ids)] if rng.random() < 0.7 else rng.choice(ids))
    check(fsym(), seq)


def test_the_frame_path_matches_the_twin():
    p = PyFrameParser(VenueId.okx, Sink())
    fs = fsym()
    p.add_symbol(fs)
    ref = R.RecentTradeIds()
    ids = [x for x in stream(random.Random(99)) if x is not None]
    for tid in ids:
        p.emit_trade_py(fs, tid, 1000, 1, Side.BUY)
    assert p.sink.trades == [str(t) for t in ids if not ref.seen(t)]
    assert fs.n_dup_trades == ref.n_dup_trades > 0


def test_an_absurd_id_then_normal_ids_still_dedupe():
    fs, ref = fsym(), R.RecentTradeIds()
    ids = [100, 101, 10**15, 102, 103, 103, 102, 10**15, 104, 101, 2**63 - 1, 105, 105, 2**63 - 1]
    got = [seen(fs, t) for t in ids]
    assert got == [ref.seen(t) for t in ids]
    assert got == [False, False, False, False, False, True, True, True, False, True, False, False, True, True]
    # a long in-order stream after it: every repeat still a duplicate, nothing new dropped
    for t in range(106, 5000):
        assert not seen(fs, t) and seen(fs, t)
    assert fs.n_dup_trades == 6 + (5000 - 106)
    assert fs.last_trade_id == 2**63 - 1          # the highest delivered, as reported before


def test_the_window_is_the_last_96_delivered():
    fs = fsym()
    assert fs.trade_id_window == R.WINDOW == 96
    for t in range(1000, 1096):
        assert not seen(fs, t)
    assert seen(fs, 1000)                          # the oldest of the last 96: still known
    assert not seen(fs, 1096) and not seen(fs, 1000)    # pushed out by one more, then new again
    assert seen(fs, 1001) is False                 # 1000's return pushed 1001 out


def test_memory_per_symbol_is_at_most_1_kib_and_taken_on_the_first_trade():
    fs = fsym()
    assert fs.trade_id_memory_bytes == 0
    seen(fs, 1)
    assert 0 < fs.trade_id_memory_bytes <= 1024
    fs._bench_seen_trades(array("q", colliding(500, seed=1) + list(range(10**6))).tobytes())
    assert fs.trade_id_memory_bytes <= 1024
    fs.reset_trade_ids()
    assert fs.trade_id_memory_bytes <= 1024 and not seen(fs, 1) and seen(fs, 1)


def test_a_run_across_the_int64_ends_matches_the_twin():
    top, bottom = 2**63 - 1, -(2**63)
    ids = [top - 2, top - 1, top, bottom, bottom + 1, top, bottom, top - 3, top - 2, bottom + 2, 5, bottom + 1]
    check(fsym(), ids + list(range(bottom, bottom + 200)) + ids)
