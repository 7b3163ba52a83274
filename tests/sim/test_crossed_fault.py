"""The simulator's `crossed` fault really crosses the diff it rides on: the crossing bid is the
last change of its price in the diff, so a bid removal at that price earlier in the same window
(a price the fair moved across) cannot undo it."""
from types import SimpleNamespace

from venuelink.sim.faults import Faults
from venuelink.sim.streams import DiffStreams, DiffTopic, _Live


class _Acc:
    def __init__(self, out):
        self.out = out

    def flush(self):
        return self.out


def _flush_with_crossed(bids, asks, best_ask):
    sent = []
    faults = Faults()
    faults.apply({"type": "crossed", "symbol": "BTCUSDT"})
    venue = SimpleNamespace(faults=faults, markets={"BTCUSDT": SimpleNamespace(best_ask=lambda: best_ask)},
                            hub=SimpleNamespace(publish=lambda topic, payload: sent.append(payload)))
    ds = DiffStreams(venue, lambda t: None, lambda topic, sym, first, last, b, a: (b, a))
    ds._flush("btcusdt@depth", _Live(DiffTopic("BTCUSDT", "depth", 100), _Acc((1, 2, bids, asks))))
    assert not faults.crossed                       # spent
    (payload,) = sent
    return payload


def _effective(levels):
    book = {}
    for px, q in levels:            # a diff's later change of a price wins, as a venue's book applies it
        book[px] = q
    return book


def test_the_crossing_bid_survives_a_bid_removal_at_its_price_in_the_same_diff():
    bids, asks = _flush_with_crossed([(100, 0), (99, 5)], [(100, 7)], (100, 7))
    assert _effective(bids)[100] == 7 and _effective(asks)[100] == 7


def test_without_a_best_ask_nothing_is_added():
    bids, _ = _flush_with_crossed([(99, 5)], [], None)
    assert bids == [(99, 5)]
