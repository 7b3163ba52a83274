"""The shared frame path (venuelink.ext.feed): what emit_*() does for every venue's parser."""
import json
import logging

import pytest

from venuelink.model import Instrument, Side, VenueId
from venuelink.ext.book import L2Book
from venuelink.ext.checksum import Checksum, ChecksumLayout
from venuelink.ext.feed import Control, FeedSink, FeedSymbol, PyFrameParser, TradeIds
from venuelink.ext.sync import BookStateC, SeqRule, SyncResult

INST = Instrument(VenueId.okx, "BTC-USDT", "BTC/USDT", "BTC", "USDT", 1, 3, 1, 1)
INST2 = Instrument(VenueId.okx, "ETH-USDT", "ETH/USDT", "ETH", "USDT", 1, 3, 1, 1)


class ToyParser(PyFrameParser):
    """A venue in one line per frame: {"k": "s"|"d"|"t"|"c", ...}."""

    def parse(self, frame, ts_recv, recv_mono):
        m = json.loads(frame)
        if m["k"] == "c":
            self.emit_control_py(m["kind"], m.get("topic"), m.get("id", -1), frame)
            return
        fs = self.symbol(m["s"])
        if fs is None:
            return
        if "n" in m:
            self.check_conn_seq_py(m["n"])
        if m["k"] == "s":
            self.emit_snapshot_py(fs, m["seq"], m["b"], m["a"], 0, ts_recv, m.get("c"))
        elif m["k"] == "d":
            self.emit_delta_py(fs, m["seq"], m["seq"], m["prev"], m["b"], m["a"], 0, ts_recv, m.get("c"))
        elif m["k"] == "t":
            self.emit_trade_py(fs, m["id"], m["px"], m["qty"], Side.BUY, 0, ts_recv)


class Listener:
    def __init__(self):
        self.requests, self.applied, self.trades, self.controls, self.errors = [], [], [], [], []
        self.fail_applied = False

    def on_need_snapshot(self, sync, reason):
        self.requests.append(reason)

    def on_state(self, sync, old, new):
        pass

    def on_book_applied(self, fs):
        self.applied.append((fs.book.seq, fs.sync.current_levels()))
        if self.fail_applied:
            raise RuntimeError("strategy bug")

    def on_trade(self, t):
        self.trades.append(t.trade_id)

    def on_control(self, kind, topic, req_id, raw):
        self.controls.append((kind, topic, req_id))

    def on_decode_error(self, exc, raw):
        self.errors.append(str(exc))


def crc_of(bids, asks, depth=25):
    b = L2Book(1, 3)
    b.snapshot(bids, asks)
    return Checksum(depth, ChecksumLayout.INTERLEAVED, ":").crc32_signed_of(b)


def setup(checksum=True, trade_ids=TradeIds.TRADE_IDS_INCREASING, insts=(INST,)):
    lst = Listener()
    p = ToyParser(VenueId.okx, lst)
    out = []
    for inst in insts:
        fs = FeedSymbol(inst, inst.venue_symbol.encode(), SeqRule.SEQ_PREV, lst, 400,
                        Checksum(25, ChecksumLayout.INTERLEAVED, ":") if checksum else None, trade_ids)
        fs.sync.buffering = False
        fs.want_book = fs.want_trades = True
        p.add_symbol(fs)
        out.append(fs)
    return p, out, lst


def frame(**kw):
    return json.dumps(kw).encode()


def test_checksum_is_compared_on_the_live_path_and_a_mismatch_resyncs():
    p, (fs,), lst = setup()
    bids, asks = [(1000, 5), (999, 1)], [(1001, 2)]
    p.feed(frame(k="s", s="BTC-USDT", seq=10, b=bids, a=asks, c=crc_of(bids, asks)))
    assert fs.sync.is_live and fs.sync.n_checksum_failures == 0
    p.feed(frame(k="d", s="BTC-USDT", seq=11, prev=10, b=[[999, 0]], a=[], c=crc_of([(1000, 5)], asks)))
    assert fs.sync.is_live and len(lst.applied) == 2
    # the venue's book has another size at 1000 than ours would after this delta
    p.feed(frame(k="d", s="BTC-USDT", seq=12, prev=11, b=[[998, 3]], a=[], c=crc_of([(1000, 4), (998, 3)], asks)))
    assert fs.sync.state == BookStateC.BOOK_INVALID
    assert fs.sync.n_checksum_failures == 1 and p.n_checksum_failures == 1
    assert lst.requests and lst.requests[-1].startswith("checksum mismatch")
    assert len(lst.applied) == 2                      # a book that failed its checksum is never delivered
    assert p.n_errors == 0


def test_checksum_on_a_snapshot_too():
    p, (fs,), lst = setup()
    p.feed(frame(k="s", s="BTC-USDT", seq=10, b=[[1000, 5]], a=[[1001, 2]], c=12345))
    assert fs.sync.state == BookStateC.BOOK_INVALID and fs.sync.n_checksum_failures == 1


def test_a_raising_strategy_callback_is_a_sink_error_not_a_dropped_frame(caplog):
    p, (fs,), lst = setup(checksum=False)
    lst.fail_applied = True
    p.feed(frame(k="s", s="BTC-USDT", seq=10, b=[[1000, 5]], a=[[1001, 2]]))
    with caplog.at_level(logging.ERROR):
        assert p.feed(frame(k="d", s="BTC-USDT", seq=11, prev=10, b=[[1000, 7]], a=[])) != -1
    assert p.n_errors == 0 and p.n_sink_errors == 2
    assert fs.book.best_bid() == (1000, 7) and fs.sync.is_live       # the book was applied
    assert fs.sync.current_levels() == ([], [])                       # no per-frame pointer left set
    assert "strategy bug" in caplog.text


def test_levels_are_visible_inside_the_callback_only():
    p, (fs,), lst = setup(checksum=False)
    p.feed(frame(k="s", s="BTC-USDT", seq=10, b=[[1000, 5]], a=[[1001, 2]]))
    p.feed(frame(k="d", s="BTC-USDT", seq=11, prev=10, b=[[1000, 7]], a=[[1002, 1]]))
    assert lst.applied[-1] == (11, ([(1000, 7)], [(1002, 1)]))
    assert fs.sync.current_levels() == ([], [])


def test_increasing_trade_ids_drop_replays_only():
    p, (fs,), lst = setup(checksum=False)
    for tid in (5, 6, 6, 4, 7, 5):
        p.feed(frame(k="t", s="BTC-USDT", id=tid, px=1000, qty=1))
    # 4 was never delivered (a reordered trade): it is delivered, the repeats are not
    assert lst.trades == ["5", "6", "4", "7"] and fs.n_dup_trades == 2


def test_one_absurd_trade_id_does_not_block_later_trades():
    p, (fs,), lst = setup(checksum=False)
    p.feed(frame(k="t", s="BTC-USDT", id=100, px=1000, qty=1))
    p.feed(frame(k="t", s="BTC-USDT", id=2**63 - 1, px=1000, qty=1))
    p.feed(frame(k="t", s="BTC-USDT", id=101, px=1000, qty=1))
    p.feed(frame(k="t", s="BTC-USDT", id=102, px=-1, qty=1))          # invalid: rejected, id not recorded
    p.feed(frame(k="t", s="BTC-USDT", id=102, px=1000, qty=1))
    assert lst.trades == ["100", str(2**63 - 1), "101", "102"] and fs.n_dup_trades == 0


def test_the_recent_integer_ids_are_bounded():
    p, (fs,), lst = setup(checksum=False)
    for tid in range(1, 1200):
        p.feed(frame(k="t", s="BTC-USDT", id=tid, px=1000, qty=1))
    p.feed(frame(k="t", s="BTC-USDT", id=1199, px=1000, qty=1))        # recent: a duplicate
    p.feed(frame(k="t", s="BTC-USDT", id=3, px=1000, qty=1))           # long forgotten: delivered
    assert fs.n_dup_trades == 1 and lst.trades[-1] == "3"


def test_opaque_trade_ids_dedupe_within_a_bounded_window():
    p, (fs,), lst = setup(checksum=False, trade_ids=TradeIds.TRADE_IDS_OPAQUE)
    fs.max_recent_ids = 3
    ids = ["b6e1-1", "0a2c-2", "b6e1-1", "ff00-3", "0a2c-2", "1234-4", "5678-5", "b6e1-1"]
    for tid in ids:
        p.feed(frame(k="t", s="BTC-USDT", id=tid, px=1000, qty=1))
    # the first "b6e1-1" fell out of the 3-id window before it came a third time
    assert lst.trades == ["b6e1-1", "0a2c-2", "ff00-3", "1234-4", "5678-5", "b6e1-1"]
    assert fs.n_dup_trades == 2


def test_connection_sequence_gap_invalidates_every_book_on_the_connection():
    p, (a, b), lst = setup(checksum=False, insts=(INST, INST2))
    p.feed(frame(k="s", s="BTC-USDT", n=0, seq=1, b=[[1000, 5]], a=[[1001, 2]]))
    p.feed(frame(k="s", s="ETH-USDT", n=1, seq=1, b=[[100, 5]], a=[[101, 2]]))
    p.feed(frame(k="d", s="BTC-USDT", n=2, seq=2, prev=1, b=[[1000, 6]], a=[]))
    assert a.sync.is_live and b.sync.is_live
    p.feed(frame(k="d", s="BTC-USDT", n=4, seq=3, prev=2, b=[[1000, 7]], a=[]))   # message 3 was lost
    assert a.sync.state == BookStateC.BOOK_INVALID and b.sync.state == BookStateC.BOOK_INVALID
    assert p.n_conn_gaps == 1
    p.reset_connection()                              # a new connection counts from its own start
    p.feed(frame(k="s", s="BTC-USDT", n=0, seq=5, b=[[1000, 5]], a=[[1001, 2]]))
    assert a.sync.is_live and p.n_conn_gaps == 1


def test_control_messages_go_to_the_connection_owner():
    p, _, lst = setup(checksum=False)
    p.feed(frame(k="c", kind=int(Control.CTRL_SUBSCRIBED), topic="books:BTC-USDT", id=7))
    assert lst.controls == [(Control.CTRL_SUBSCRIBED, "books:BTC-USDT", 7)]

    class Owner:
        seen = []

        def on_control(self, kind, topic, req_id, raw):
            self.seen.append((kind, req_id))
    p.control = Owner()
    p.feed(frame(k="c", kind=int(Control.CTRL_PONG)))
    assert Owner.seen == [(Control.CTRL_PONG, -1)] and len(lst.controls) == 1 and p.n_control == 2


def test_decode_errors_are_counted_drops():
    p, (fs,), lst = setup(checksum=False)
    assert p.feed(b"{not json") == -1
    assert p.n_errors == 1 and p.n_sink_errors == 0 and len(lst.errors) == 1


def test_a_cython_sink_receives_events_without_python_methods():
    p, (fs,), lst = setup(checksum=False)
    p.sink = FeedSink()                               # the base sink: C no-ops
    assert p.feed(frame(k="s", s="BTC-USDT", seq=10, b=[[1000, 5]], a=[[1001, 2]])) != -1
    assert isinstance(p.sink, FeedSink) and fs.sync.is_live


def test_bad_trade_id_kind():
    with pytest.raises(ValueError):
        FeedSymbol(INST, b"BTC-USDT", SeqRule.SEQ_PREV, None, 0, None, 9)


@pytest.mark.parametrize("bad", [
    dict(k="d", s="BTC-USDT", seq=11, prev=10, b=[[1000, -1]], a=[]),            # negative size
    dict(k="d", s="BTC-USDT", seq=11, prev=10, b=[[0, 1]], a=[]),                # zero price
    dict(k="d", s="BTC-USDT", seq=11, prev=10, b=[], a=[[-5, 1]]),               # negative price
    dict(k="t", s="BTC-USDT", id=9, px=-1000, qty=1),
    dict(k="t", s="BTC-USDT", id=9, px=1000, qty=0),
])
def test_impossible_values_are_counted_drops_that_never_reach_the_book(bad):
    p, (fs,), lst = setup(checksum=False)
    p.feed(frame(k="s", s="BTC-USDT", seq=10, b=[[1000, 5]], a=[[1001, 2]]))
    before = (fs.book.levels(1), fs.book.levels(2), fs.book.seq)
    assert p.feed(frame(**bad)) == -1
    assert p.n_errors == 1 and ("negative" in lst.errors[-1] or "non-positive" in lst.errors[-1])
    assert (fs.book.levels(1), fs.book.levels(2), fs.book.seq) == before and fs.sync.is_live
    assert lst.trades == []


def test_absurd_times_and_crossed_tops_are_rejected():
    from venuelink.ext.clock import now_ns
    p, (fs,), lst = setup(checksum=False)
    fs.want_top = True
    p.feed(frame(k="s", s="BTC-USDT", seq=10, b=[[1000, 5]], a=[[1001, 2]]))
    now = now_ns()
    with pytest.raises(ValueError, match="not a time"):
        p.emit_delta_py(fs, 11, 11, 10, [(1000, 6)], [], -5, now)
    with pytest.raises(ValueError, match="not a time"):
        p.emit_trade_py(fs, 5, 1000, 1, Side.BUY, now + 10 * 86400 * 10**9, now)
    with pytest.raises(ValueError, match="crossed"):
        p.emit_top_py(fs, 1001, 1, 1000, 1, 1, 0, now)
    with pytest.raises(ValueError, match="negative"):
        p.emit_top_py(fs, 1000, -1, 1001, 1, 1, 0, now)
    assert p.emit_top_py(fs, 1000, 1, 1001, 1, 1, now - 10**6, now) == 0       # a real one passes
    assert p.emit_delta_py(fs, 11, 11, 10, [(1000, 6)], [], now - 10**6, now) == SyncResult.SYNC_APPLIED
