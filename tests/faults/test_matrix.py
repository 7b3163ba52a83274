"""The fault matrix: every fault of the simulator's fault API against every registered venue
(venuelink.registry), each on a fresh engine with a strategy trading, checked by ``venuelink.tools.drill``:
the fault's visible effect (classification, resync, breaker, policy) and the invariants (no book
LIVE while wrong, books equal to the venue's after recovery, the order ledger intact).

The faults the tier can have (disconnect, gap, checksum, delay, stale feed, 429, ban, lost and
late order acks) run again with the venue behind the CCXT tier, on the same simulator
(``binance-ccxt-...``, ``okx-ccxt-...``); what it cannot meet today is an xfail with the reason.

Every drill runs on compressed time (TIME_SCALE: the engine's detection and recovery timers, and the
cases' holds and bounds with them, venuelink.tools.drill); the real timers are asserted by
tests/engine/test_timers.py, and the soak runs on them."""
import json
import urllib.request
from urllib.parse import parse_qsl, urlencode

import pytest

from venuelink import registry
from venuelink.adapter import Channel
from venuelink.ccxt_tier.adapter import DEPTH as TIER_DEPTH
from venuelink.tools.drill import CASES, CASES_BY_NAME, Drill, Needs, Target, applicable, venue_needs
from venuelink.model import BookState
from venuelink.sim.server import running_simulator
from venuelink.venue import SnapshotSource
from tests.tiers import CCXT_HOSTS, native_adapter, sim_options, tier_config

VENUES = registry.trading()
"""the drills trade through every fault: venues with native order entry"""
TIME_SCALE = 0.3
"""the engine's own timers, and what the cases wait on and promise, at this fraction of the real ones
(at 0.2 a data-silence bound of 0.5 s is shorter than a loaded 2-core host may keep a socket quiet)"""
REAL_TIME = {"data_silence_socket_alive", "slow_consumer_flood"}
"""cases on the real timers: the promise (no book LIVE 3 s after the venue goes quiet) leaves 0.25 s
over the detection, which compressed becomes 0.075 s, less than a loaded 2-core host can promise;
a flood keeps the simulator busy past a compressed silence bound, and the reconnect that follows
loses the flood the slow consumer should overflow on"""
MATRIX = [(v, c.name) for v in VENUES for c in applicable(v)]
LEGACY_BOOKS = {"okx"}
"""venues whose book format changed under us: OKX stopped pushing the snapshot and the checksum on
`books` (production, early August 2026). Their simulator serves today's format; a second one serves
the earlier format (--legacy-books) for the checksum cases, which both tiers still compare where
the venue sends one"""


def sim_key(venue: str, case: str, tier: bool = False) -> str:
    """Which of the module's simulators a case runs against."""
    legacy = CASES_BY_NAME[case].needs & Needs.CHECKSUM or (tier and sim_options(venue, "ccxt"))
    return f"{venue}@legacy" if venue in LEGACY_BOOKS and legacy else venue


@pytest.fixture(scope="module")
def sims():
    started = {}
    stack = []
    try:
        for v in VENUES:
            cm = running_simulator(v, rate=100, seed=5, depth_fast_ms=20)
            started[v] = cm.__enter__()
            stack.append(cm)
        for v in sorted(LEGACY_BOOKS & set(VENUES)):
            cm = running_simulator(v, rate=100, seed=5, depth_fast_ms=20, legacy_books=True)
            started[f"{v}@legacy"] = cm.__enter__()
            stack.append(cm)
        yield started
    finally:
        for cm in reversed(stack):
            cm.__exit__(None, None, None)


def test_every_fault_case_runs_on_every_venue_that_can_have_it():
    """A case is left out for a venue only when the venue lacks what it needs (e.g. checksums)."""
    for v in VENUES:
        names = {c.name for c in applicable(v)}
        for c in CASES:
            assert (c.name in names) == ((c.needs & venue_needs(v)) == c.needs)
    assert len({c.name for c in CASES}) == len(CASES) >= 20


@pytest.mark.parametrize("venue,case", MATRIX, ids=[f"{v}-{c}" for v, c in MATRIX])
async def test_fault(sims, venue, case):
    await _drill(Drill, sims, venue, case, f"{venue} {case}")


async def _drill(drill_class, sims, venue: str, case: str, label: str) -> None:
    """One fault case against the module's simulator of `venue`, its verdict asserted."""
    sim = sims[sim_key(venue, case, tier=drill_class is not Drill)]
    await _admin_reset(sim)
    async with drill_class(venue, sim, time_scale=1.0 if case in REAL_TIME else TIME_SCALE) as d:
        res = await d.run_case(CASES_BY_NAME[case])
    assert res.ok, f"{label}: {res.violations}\nobserved: {res.observed}"


async def _admin_reset(sim):
    import aiohttp
    async with aiohttp.ClientSession() as s:
        for path, body in (("/fault", {"type": "clear"}), ("/limits", {"action": "reset"}),
                           ("/market", {"action": "resume"})):
            async with s.post(f"{sim['admin_url']}{path}", json=body) as r:
                assert r.status == 200, await r.text()


# ---------------------------------------------------------------------------- over the CCXT tier
class TierDrill(Drill):
    """The drill with the venue behind the CCXT tier (tests.tiers: CCXT's own client in the tier's
    worker, against the same simulator). The tier's instruments and topics carry CCXT's names, so
    the faults aim at the simulator's own (its native adapter's); its books are top-20 snapshots
    with no venue sequence, so a book must come to equal the simulator's top 20 levels; the
    market-data connection to the venue is the worker's, so its reconnects are the worker's."""

    def __init__(self, venue, sim, **kw):
        super().__init__(venue, sim, venue_config=tier_config(venue, "ccxt", sim, [], ccxt_timeout_s=2.0), **kw)
        self.native = native_adapter(venue, sim)
        self.sim_names = {sym: i.venue_symbol for sym, i in self.native.instruments.items()}

    async def admin(self, method, path, body=None):
        """The simulator's admin API with a symbol named as the tier names it (CCXT's unified
        symbol) renamed to the simulator's own."""
        base, _, query = path.partition("?")
        if query:
            query = urlencode([(k, self.sim_names.get(v, v) if k == "symbol" else v) for k, v in parse_qsl(query)])
            path = f"{base}?{query}"
        return await super().admin(method, path, body)

    def target(self) -> Target:
        a = self.native
        inst = a.instrument(self.symbols[0])
        book_t, trade_t = a.topics(inst, (Channel.BOOK, Channel.TRADES))
        everything = [t for s in self.symbols for t in a.topics(a.instrument(s), (Channel.BOOK, Channel.TRADES))]
        snap = a.snapshot_request(inst)[0] if a.spec.book.snapshot == SnapshotSource.REST else None
        return Target(inst.venue_symbol, book_t, trade_t, everything, snap, self.time_scale)

    def counters(self) -> dict[str, int]:
        c = super().counters()
        report = self.rt.adapter.worker.report or {}
        try:
            with urllib.request.urlopen(report["rest_url"] + "/stats", timeout=2) as r:
                c["reconnects"] += json.loads(r.read()).get("connects", 0)
        except (OSError, KeyError, ValueError):
            pass                          # a worker being restarted: its next start counts
        return c

    async def check_books(self, depth: int = TIER_DEPTH, timeout: float = 30.0) -> list[str]:
        if not await self.wait(self.all_live, timeout):
            return [f"books not live after recovery: {self.book_states()}"]
        out = []
        await self.admin("POST", "/market", {"action": "pause"})
        try:
            for fs in self.feed_symbols():
                inst = fs.instrument
                ref = await self.admin("GET", f"/book?symbol={inst.symbol}&limit={depth}")
                canon = lambda lv: [(inst.px_str(inst.px(p)), inst.qty_str(inst.qty(q))) for p, q in lv][:depth]
                want = canon(ref["bids"]), canon(ref["asks"])
                ours = lambda: ([(inst.px_str(p), inst.qty_str(q)) for p, q in fs.book.top(1, depth)],
                                [(inst.px_str(p), inst.qty_str(q)) for p, q in fs.book.top(2, depth)])
                if not await self.wait(lambda: fs.sync.is_live and ours() == want, 10):
                    out.append(f"book {inst.symbol} differs from the venue's top {depth} levels "
                               f"(state {BookState(fs.sync.state).name})")
        finally:
            await self.admin("POST", "/market", {"action": "resume"})
        return out


#: the faults run over the tier (where the venue natively has what the case needs)
TIER_FAULTS = ("disconnect_clean", "sequence_gap", "checksum_corruption", "delayed_frames", "stale_feed",
               "429_storm", "ban", "lost_order_ack", "ack_after_fill")
TIER_MATRIX = [(v, c.name) for v in VENUES if v in CCXT_HOSTS for c in applicable(v) if c.name in TIER_FAULTS]
#: what the tier cannot meet today, and why (strict xfail); and what fails only when a race goes
#: one way (not strict)
TIER_XFAIL: dict[tuple[str, str], str] = {}
TIER_XFAIL_RACE: dict[tuple[str, str], str] = {}


def _tier_param(venue, case):
    why = TIER_XFAIL.get((venue, case))
    race = TIER_XFAIL_RACE.get((venue, case))
    marks = ([pytest.mark.xfail(reason=why, strict=True)] if why else
             [pytest.mark.xfail(reason=race, strict=False)] if race else [])
    return pytest.param(venue, case, id=f"{venue}-ccxt-{case}", marks=marks)


@pytest.mark.parametrize("venue,case", [_tier_param(v, c) for v, c in TIER_MATRIX])
async def test_fault_over_the_ccxt_tier(sims, venue, case):
    await _drill(TierDrill, sims, venue, case, f"{venue} over the CCXT tier, {case}")
