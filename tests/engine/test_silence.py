"""engine.silence: the probe's verdict and the bounds its real defaults promise. The behaviour on a
live socket (a venue silent with pings answered, one muted stream) runs in the fault matrix, over
every venue: tests/faults/test_matrix.py, cases data_silence_socket_alive and stale_feed."""
from engine import registry
from engine.silence import SilenceWatch, same_book
from engine.venue import WsEndpoint
from ext.book import L2Book


def _book(seq: int, bids, asks) -> L2Book:
    b = L2Book(2, 4)
    b.snapshot(bids, asks)
    b.seq = seq
    return b


def test_a_rest_book_with_a_sequence_id_is_judged_by_it():
    ours = _book(100, [(10000, 5)], [(10100, 5)])
    assert same_book(ours, _book(100, [(9000, 1)], [(10100, 5)]))        # nothing missed, levels aside
    assert same_book(ours, _book(99, [(10000, 5)], [(10100, 5)]))         # older than ours
    assert not same_book(ours, _book(101, [(10000, 5)], [(10100, 5)]))    # the venue moved on


def test_without_ids_the_top_levels_are_compared_exactly():
    ours = _book(0, [(10000, 5), (9990, 7)], [(10100, 5)])
    assert same_book(ours, _book(0, [(10000, 5), (9990, 7)], [(10100, 5)]))
    assert not same_book(ours, _book(0, [(10000, 5), (9990, 8)], [(10100, 5)]))   # one size changed
    assert not same_book(ours, _book(0, [(10000, 5)], [(10100, 5)]))               # a level gone


def test_the_real_defaults_keep_the_promised_bounds():
    """No book LIVE more than 3 s after its venue stops sending all data; a book whose own stream
    stops is out of LIVE within 10 s: for the defaults and for every registered venue's endpoints."""
    eps = [WsEndpoint("default", "ws://x")]
    for vid in registry.ADAPTERS:
        eps += list(registry.create(vid).spec.endpoints)
    tick = SilenceWatch.__init__.__kwdefaults__["tick_s"]
    grace = SilenceWatch.__init__.__kwdefaults__["grace_s"]
    for ep in eps:
        assert ep.data_silence_s + tick <= 3.0, ep
        # silent -> next tick -> the probe's answer (or its timeout: STALE) -> the grace for in-flight data
        assert ep.book_quiet_s + tick + ep.probe_timeout_s + grace <= 10.0, ep
