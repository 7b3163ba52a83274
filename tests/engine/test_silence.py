"""venuelink.silence: the probe's verdict and the bounds its real defaults promise. The behaviour on a
live socket (a venue silent with pings answered, one muted stream) runs in the fault matrix, over
every venue: tests/faults/test_matrix.py, cases data_silence_socket_alive and stale_feed."""
from venuelink import registry
from venuelink.config import Timers
from venuelink.silence import same_book
from venuelink.venue import WsEndpoint
from venuelink.ext.book import L2Book


def _book(seq: int, bids, asks) -> L2Book:
    b = L2Book(2, 4)
    b.snapshot(bids, asks)
    b.seq = seq
    return b


TIME_SCALE = 0.4
"""the engine's own timers at this fraction of the real ones, in the live-socket test"""


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
    tick, grace = Timers().silence_tick_s, Timers().silence_grace_s
    for ep in eps:
        assert ep.data_silence_s + tick <= 3.0, ep
        # silent -> next tick -> the probe's answer (or its timeout: STALE) -> the grace for in-flight data
        assert ep.book_quiet_s + tick + ep.probe_timeout_s + grace <= 10.0, ep


async def test_a_quiet_market_is_confirmed_by_probes_and_stays_live():
    """The venue sends nothing because nothing changes (market paused), socket fine: the books go
    STALE once, a probe finds the venue's book the same, and from then on they stay LIVE, probed
    every book_quiet_s, never called dead. On the engine's timers compressed to TIME_SCALE (the
    probe cadence with them), the waits alike."""
    import asyncio

    from venuelink.config import Config
    from venuelink.engine import Engine
    from venuelink.model import BookState
    from venuelink.sim.server import running_simulator_async
    from tests.engine.conftest import admin, venue_config
    from tests.waiting import wait_for

    async with running_simulator_async("binance", rate=50, seed=4) as sim:
        vc = venue_config(sim)
        vc.api_key_env = vc.api_secret_env = vc.ws_api_url = ""
        vc.timers = Timers().scaled(TIME_SCALE)
        eng = Engine(Config(venues={"binance": vc}, metrics_port=0))
        try:
            await eng.start()
            rt = eng.runtime("binance")
            fs = rt.fs_by_symbol["BTC/USDT"]
            assert await wait_for(lambda: fs.sync.state == BookState.LIVE, 20)
            await admin(sim, "POST", "/market", {"action": "pause"})
            assert await wait_for(lambda: rt.silence.counters.probes_same >= 1, 15)
            assert await wait_for(lambda: fs.sync.state == BookState.LIVE, 5)
            states: list[BookState] = []
            eng.subscribe_book_state("binance", "BTC/USDT", lambda s, st: states.append(st))
            probes = rt.silence.counters.probes_same
            await asyncio.sleep(8.0 * TIME_SCALE)
            assert fs.sync.state == BookState.LIVE and not states, states      # no flapping
            assert rt.silence.counters.probes_same > probes                    # still being checked
            assert rt.silence.counters.probes_moved == 0
        finally:
            await eng.close()
