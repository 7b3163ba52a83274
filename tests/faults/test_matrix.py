"""The fault matrix: every fault of the simulator's fault API against every registered venue
(engine.registry), each on a fresh engine with a strategy trading, checked by ``engine.drill``:
the fault's visible effect (classification, resync, breaker, policy) and the invariants (no book
LIVE while wrong, books equal to the venue's after recovery, the order ledger intact)."""
import pytest

from engine import registry
from engine.drill import CASES, Drill, Needs, applicable, venue_needs
from engine.sim.server import running_simulator

VENUES = registry.available()
MATRIX = [(v, c.name) for v in VENUES for c in applicable(v)]


@pytest.fixture(scope="module")
def sims():
    started = {}
    stack = []
    try:
        for v in VENUES:
            cm = running_simulator(v, rate=100, seed=5, depth_fast_ms=20)
            started[v] = cm.__enter__()
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
    from engine.drill import CASES_BY_NAME
    sim = sims[venue]
    await _admin_reset(sim)
    async with Drill(venue, sim) as d:
        res = await d.run_case(CASES_BY_NAME[case])
    assert res.ok, f"{venue} {case}: {res.violations}\nobserved: {res.observed}"


async def _admin_reset(sim):
    import aiohttp
    async with aiohttp.ClientSession() as s:
        for path, body in (("/fault", {"type": "clear"}), ("/limits", {"action": "reset"}),
                           ("/market", {"action": "resume"})):
            async with s.post(f"{sim['admin_url']}{path}", json=body) as r:
                assert r.status == 200, await r.text()
