# SPDX-License-Identifier: Apache-2.0
"""venuelink.ext.ratelimit: unit tests (run on the Cython module and the reference twin), a differential
test against the reference twin, an independent replay of the admitted requests, and exact
waits."""
from __future__ import annotations

import math
from fractions import Fraction

import pytest
from hypothesis import HealthCheck, event, given, settings, strategies as st

from venuelink.ext import ratelimit as C
from venuelink.ext.ref import ratelimit_ref as R

FIXED, SLIDING, TOKEN = 1, 2, 3
CANCEL, NEW_ORDER, QUERY, SNAPSHOT = 1, 2, 3, 4
PRIOS = (CANCEL, NEW_ORDER, QUERY, SNAPSHOT)
SEC = 1_000_000_000
MIN = 60 * SEC

HYP = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                     HealthCheck.data_too_large])


@pytest.fixture(params=[C, R], ids=["cython", "ref"])
def mod(request):
    return request.param


def eff_of(limit: int, headroom: float) -> int:
    """Effective limit, computed independently: floor(limit * (1 - headroom)), ppm headroom."""
    return limit * (1_000_000 - round(headroom * 1_000_000)) // 1_000_000


# ---------------------------------------------------------------------------- API surface

def test_same_public_api():
    for name in C.__all__:
        assert hasattr(R, name), name
    for name in dir(R.Budget):
        if not name.startswith("_"):
            assert hasattr(C.Budget, name), name
    assert [(m.name, int(m)) for m in C.Priority] == [(m.name, int(m)) for m in R.Priority]
    assert [(m.name, int(m)) for m in C.BucketKind] == [(m.name, int(m)) for m in R.BucketKind]
    assert (C.MAX_BUCKETS, C.SLOTS_PER_WINDOW, C.TICKETS) == (R.MAX_BUCKETS, R.SLOTS_PER_WINDOW,
                                                              R.TICKETS)
    assert C.DEFAULT_LANE_SHARES == R.DEFAULT_LANE_SHARES == {1: 1.0, 2: 0.9, 3: 0.8, 4: 0.6}


def test_setup_and_introspection(mod):
    b = mod.Budget()
    assert len(b) == 0
    i = b.add_bucket("REQUEST_WEIGHT_1M", mod.BucketKind.FIXED_WINDOW, 6000, MIN)
    j = b.add_bucket("ORDERS_10S", mod.BucketKind.SLIDING_WINDOW, 100, 10 * SEC, headroom=0.1)
    k = b.add_bucket("KRAKEN", mod.BucketKind.TOKEN_BUCKET, 20, 60 * SEC, headroom=0)
    assert (i, j, k) == (0, 1, 2) and len(b) == 3
    assert b.names == ("REQUEST_WEIGHT_1M", "ORDERS_10S", "KRAKEN")
    assert b.index("ORDERS_10S") == 1
    assert [b.effective_limit(x) for x in range(3)] == [5100, 90, 20]
    assert [b.lane_capacity(0, p) for p in PRIOS] == [5100, 4590, 4080, 3060]
    assert b.slot_ns(1) == 10 * SEC // 64 and b.slot_ns(0) == 0
    assert b.lane_shares == {1: 1.0, 2: 0.9, 3: 0.8, 4: 0.6}
    with pytest.raises(ValueError):
        b.index("nope")


def test_headroom_is_exact_ppm(mod):
    b = mod.Budget()
    for limit, h in [(1200, 0.15), (100, 0.15), (10, 0.1), (7, 0.3), (6000, 0.0), (1, 0.15),
                     (2**40, 0.15), (999_999, 0.333333)]:
        i = b.add_bucket(f"b{limit}-{h}", FIXED, limit, SEC, headroom=h)
        assert b.effective_limit(i) == eff_of(limit, h)
    assert b.effective_limit(0) == 1020 and b.effective_limit(2) == 9


# ---------------------------------------------------------------------------- bucket kinds

def test_fixed_window_aligned_to_clock(mod):
    b = mod.Budget()
    b.add_bucket("w", FIXED, 10, MIN, headroom=0)
    c = b.make_cost([(0, 4)])
    t = 5 * MIN + 50 * SEC                       # 10 s before a minute boundary
    assert b.acquire(c, t, CANCEL) == 0
    assert b.acquire(c, t + 1, CANCEL) == 0
    assert b.used(0, t + 1) == 8
    assert b.acquire(c, t + 2, CANCEL) == 10 * SEC - 2   # waits for the boundary, not 60 s
    assert b.acquire(c, 6 * MIN - 1, CANCEL) == 1
    assert b.acquire(c, 6 * MIN, CANCEL) == 0
    assert b.used(0, 6 * MIN) == 4
    assert b.utilization(0, 6 * MIN) == pytest.approx(0.4)
    assert b.used(0, 9 * MIN + 1) == 0           # skipped several windows


def test_sliding_window_quantization(mod):
    """slot_ns = ceil(W/64); a charge at t counts until (t // slot_ns + 65) * slot_ns."""
    b = mod.Budget()
    b.add_bucket("s", SLIDING, 10, 640, headroom=0)     # slot_ns = 10
    assert b.slot_ns(0) == 10
    five, one, six = (b.make_cost([(0, w)]) for w in (5, 1, 6))
    assert b.acquire(five, 3, CANCEL) == 0      # slot 0
    assert b.acquire(five, 25, CANCEL) == 0     # slot 2
    assert b.used(0, 30) == 10
    assert b.acquire(one, 30, CANCEL) == 650 - 30        # slot 0 leaves at 65 * 10
    assert b.acquire(six, 30, CANCEL) == 670 - 30        # needs slot 2 gone too
    assert b.acquire(one, 649, CANCEL) == 1
    assert b.used(0, 649) == 10 and b.used(0, 650) == 5
    assert b.acquire(one, 650, CANCEL) == 0
    # Never under-counts the true window: the charge at 3 is still counted at 3 + 640.
    assert b.used(0, 3 + 640) >= 5


def test_sliding_window_granularity_not_divisible(mod):
    b = mod.Budget()
    b.add_bucket("s", SLIDING, 3, 1000, headroom=0)     # slot_ns = ceil(1000 / 64) = 16
    assert b.slot_ns(0) == 16
    c = b.make_cost([(0, 3)])
    assert b.acquire(c, 999, CANCEL) == 0                # slot 62
    w = b.acquire(c, 1000, CANCEL)
    assert 1000 + w == (62 + 65) * 16                    # 2032 >= 999 + 1000
    assert 1000 + w >= 999 + 1000


def test_token_bucket_exact_drain(mod):
    """Kraken-style counter: 15 max, drains 15 per 45 s = 1 per 3 s."""
    b = mod.Budget()
    b.add_bucket("k", TOKEN, 15, 45 * SEC, headroom=0)
    one = b.make_cost([(0, 1)])
    t0 = 1000 * SEC
    for n in range(15):
        assert b.acquire(one, t0, CANCEL) == 0
    assert b.used(0, t0) == 15
    assert b.acquire(one, t0, CANCEL) == 3 * SEC
    assert b.used(0, t0 + SEC) == 15             # 14.666.. rounds up
    assert b.utilization(0, t0 + SEC) == pytest.approx((15 - 1 / 3) / 15)
    assert b.acquire(one, t0 + 3 * SEC - 1, CANCEL) == 1
    assert b.remaining(0, t0 + 3 * SEC, CANCEL) == 1
    assert b.acquire(one, t0 + 3 * SEC, CANCEL) == 0
    assert b.used(0, t0 + 48 * SEC) == 0


def test_token_bucket_big_numbers(mod):
    """Rate 2**40 per 2**53 ns: scaled level needs > 64 bits; stays exact."""
    b = mod.Budget()
    b.add_bucket("k", TOKEN, 2**40, 2**53 - 1, headroom=0)
    c = b.make_cost([(0, 2**40)])
    assert b.acquire(c, 0, CANCEL) == 0
    w = b.acquire(c, 5, CANCEL)
    assert w == math.ceil(Fraction(2**53 - 1, 2**40) * 2**40) - 5
    assert b.acquire(c, 5 + w - 1, CANCEL) == 1
    assert b.acquire(c, 5 + w, CANCEL) == 0


# ---------------------------------------------------------------------------- lanes

@pytest.mark.parametrize("kind", [FIXED, SLIDING, TOKEN])
def test_priority_lanes(mod, kind):
    b = mod.Budget()
    b.add_bucket("x", kind, 100, MIN, headroom=0)
    snap, query, new, cancel = (b.make_cost([(0, 1)]) for _ in range(4))
    t = 7 * MIN
    n_snap = 0
    while b.acquire(snap, t, SNAPSHOT) == 0:
        n_snap += 1
    assert n_snap == 60                                  # 0.6 share
    assert b.remaining(0, t, SNAPSHOT) == 0
    assert b.remaining(0, t, CANCEL) == 40
    assert b.acquire(cancel, t, CANCEL) == 0             # cancels still pass
    n_new = 0
    while b.acquire(new, t, NEW_ORDER) == 0:
        n_new += 1
    assert 61 + n_new == 90                              # new orders up to their share
    assert b.acquire(query, t, QUERY) > 0
    n_cancel = 0
    while b.acquire(cancel, t, CANCEL) == 0:
        n_cancel += 1
    assert 90 + n_cancel == 100                          # cancels get the last 10%
    assert b.used(0, t) == 100


def test_lane_shares_configurable(mod):
    b = mod.Budget()
    b.add_bucket("x", FIXED, 1000, MIN)                  # eff 850
    b.set_lane_shares({SNAPSHOT: 0.25, QUERY: 0.5})
    assert b.lane_shares == {1: 1.0, 2: 0.9, 3: 0.5, 4: 0.25}
    assert [b.lane_capacity(0, p) for p in PRIOS] == [850, 765, 425, 212]
    c = b.make_cost([(0, 212)])
    assert b.acquire(c, 0, SNAPSHOT) == 0
    assert b.acquire(b.make_cost([(0, 1)]), 0, SNAPSHOT) > 0
    b.set_lane_shares([(SNAPSHOT, 0.0)])
    with pytest.raises(ValueError):                      # snapshots can never pass now
        b.acquire(b.make_cost([(0, 1)]), 0, SNAPSHOT)
    for bad in ({SNAPSHOT: 1.5}, {SNAPSHOT: -0.1}, {0: 0.5}, {5: 0.5}, {SNAPSHOT: float("nan")}):
        with pytest.raises(ValueError):
            b.set_lane_shares(bad)


# ---------------------------------------------------------------------------- multi-bucket

def test_all_or_nothing(mod):
    b = mod.Budget()
    w = b.add_bucket("weight", FIXED, 100, MIN, headroom=0)
    o = b.add_bucket("orders", FIXED, 3, 10 * SEC, headroom=0)
    order = b.make_cost([(w, 5), (o, 1)])
    t = 2 * MIN + SEC
    for _ in range(3):
        assert b.acquire(order, t, CANCEL) == 0
    assert b.acquire(order, t, CANCEL) == 9 * SEC        # orders bucket: next 10 s boundary
    assert b.used(w, t) == 15                            # weight not charged on refusal
    b.sync(w, 98, t)
    assert b.acquire(order, t, CANCEL) == MIN - SEC      # both full: the larger wait wins
    assert b.used(w, t) == 98 and b.used(o, t) == 3


def test_cost_merges_duplicates_and_drops_zero(mod):
    b = mod.Budget()
    b.add_bucket("a", FIXED, 100, MIN)
    b.add_bucket("b", FIXED, 100, MIN)
    c = b.make_cost([(0, 2), (1, 0), (0, 3)])
    assert c.items() == [(0, 5)] and len(c) == 1
    assert b.make_cost({1: 4}).items() == [(1, 4)]
    assert b.acquire(b.make_cost([]), 0, SNAPSHOT) == 0
    assert b.acquire([(0, 1), (1, 1)], 0, QUERY) == 0    # raw pairs accepted too
    assert b.used(0, 0) == 1 and b.used(1, 0) == 1


def test_cost_usable_on_same_layout_budget(mod):
    a, b, small = mod.Budget(), mod.Budget(), mod.Budget()
    for x in (a, b):
        x.add_bucket("w", FIXED, 100, MIN)
        x.add_bucket("o", SLIDING, 10, SEC)
    small.add_bucket("w", FIXED, 100, MIN)
    c = a.make_cost([(0, 1), (1, 1)])
    assert b.acquire(c, 0, QUERY) == 0 and b.used(1, 0) == 1 and a.used(1, 0) == 0
    with pytest.raises(ValueError):
        small.acquire(c, 0, QUERY)


# ---------------------------------------------------------------------------- sync / block

@pytest.mark.parametrize("kind", [FIXED, SLIDING, TOKEN])
def test_sync_takes_max(mod, kind):
    b = mod.Budget()
    b.add_bucket("x", kind, 100, MIN, headroom=0)
    c = b.make_cost([(0, 10)])
    t = 3 * MIN
    assert b.acquire(c, t, CANCEL) == 0
    b.sync(0, 4, t)                                      # lower report: ignored
    assert b.used(0, t) == 10
    b.sync(0, 95, t)                                     # higher: trusted
    assert b.used(0, t) == 95
    assert b.utilization(0, t) == pytest.approx(0.95)
    assert b.acquire(c, t, CANCEL) > 0
    assert b.remaining(0, t, CANCEL) == 5
    b.sync(0, 120, t)                                    # venue says over the limit
    assert b.used(0, t) == 120 and b.utilization(0, t) == pytest.approx(1.2)
    assert b.remaining(0, t, CANCEL) == 0


@pytest.mark.parametrize("prio", PRIOS)
def test_block_until_blocks_every_lane(mod, prio):
    b = mod.Budget()
    b.add_bucket("x", FIXED, 100, MIN)
    c = b.make_cost([(0, 1)])
    t = 10 * SEC
    b.block_until(t + 5 * SEC)                           # 429 with Retry-After: 5
    assert b.blocked_until == t + 5 * SEC
    assert b.acquire(c, t, prio) == 5 * SEC
    assert b.reserve(c, t + SEC, prio) == (4 * SEC, 0)
    assert b.remaining(0, t, prio) == 0
    b.penalize(t + 2 * SEC)                              # never shortens an active block
    assert b.acquire(c, t + 5 * SEC - 1, prio) == 1
    assert b.used(0, t) == 0
    assert b.acquire(c, t + 5 * SEC, prio) == 0
    b.block_until(t + 100 * SEC)
    b.unblock()
    assert b.acquire(c, t + 6 * SEC, prio) == 0


def test_block_and_bucket_wait_combine(mod):
    b = mod.Budget()
    b.add_bucket("x", FIXED, 10, MIN, headroom=0)
    c = b.make_cost([(0, 10)])
    assert b.acquire(c, 0, CANCEL) == 0
    b.block_until(SEC)
    assert b.acquire(c, 0, CANCEL) == MIN                # bucket wait is longer
    b.block_until(2 * MIN)
    assert b.acquire(c, 0, CANCEL) == 2 * MIN            # block is longer


# ---------------------------------------------------------------------------- tickets

@pytest.mark.parametrize("kind", [FIXED, SLIDING, TOKEN])
def test_reserve_commit_refund(mod, kind):
    b = mod.Budget()
    b.add_bucket("x", kind, 100, MIN, headroom=0)
    c = b.make_cost([(0, 30)])
    t = 5 * MIN
    w1, t1 = b.reserve(c, t, CANCEL)
    w2, t2 = b.reserve(c, t, CANCEL)
    assert w1 == w2 == 0 and t1 > 0 and t2 > t1
    assert b.used(0, t) == 60
    assert b.commit(t1) is True and b.commit(t1) is False
    assert b.refund(t2, t) is True and b.refund(t2, t) is False and b.commit(t2) is False
    assert b.used(0, t) == 30
    assert b.refund(t1, t) is False                      # committed: charge kept
    assert b.refund(0, t) is False and b.commit(0) is False and b.commit(12345) is False
    assert b.used(0, t) == 30


@pytest.mark.parametrize("kind", [FIXED, SLIDING])
def test_refund_after_window_is_noop(mod, kind):
    b = mod.Budget()
    b.add_bucket("x", kind, 100, 640, headroom=0)
    c = b.make_cost([(0, 30)])
    _, tk = b.reserve(c, 10, CANCEL)
    late = 640 if kind == FIXED else 650                 # window / counted slots passed
    assert b.acquire(b.make_cost([(0, 50)]), late, CANCEL) == 0
    assert b.refund(tk, late) is True
    assert b.used(0, late) == 50                         # the newer charge is untouched


def test_token_refund_only_undrained_part(mod):
    b = mod.Budget()
    b.add_bucket("k", TOKEN, 10, 10 * SEC, headroom=0)   # drains 1 per second
    _, tk = b.reserve(b.make_cost([(0, 4)]), 0, CANCEL)
    assert b.acquire(b.make_cost([(0, 5)]), 0, CANCEL) == 0
    # At 3 s the level is 6; the 4 charged at 0 has at most 1 left undrained.
    assert b.refund(tk, 3 * SEC) is True
    assert b.used(0, 3 * SEC) == 5


def test_ticket_ring_overwrites_oldest(mod):
    b = mod.Budget()
    b.add_bucket("x", FIXED, 10**6, MIN)
    c = b.make_cost([(0, 1)])
    tickets = [b.reserve(c, 0, QUERY)[1] for _ in range(mod.TICKETS + 1)]
    assert b.refund(tickets[0], 0) is False              # overwritten = implicitly committed
    assert b.refund(tickets[1], 0) is True
    assert b.commit(tickets[-1]) is True
    assert b.used(0, 0) == mod.TICKETS


def test_time_never_goes_backwards(mod):
    b = mod.Budget()
    b.add_bucket("x", FIXED, 10, MIN, headroom=0)
    c = b.make_cost([(0, 10)])
    assert b.acquire(c, MIN, CANCEL) == 0
    assert b.acquire(c, MIN - 5, CANCEL) == MIN + 5      # treated as MIN, wait from caller's now
    assert b.used(0, 0) == 10                            # still the window of MIN


# ---------------------------------------------------------------------------- bad arguments

def test_bad_arguments(mod):
    b = mod.Budget()
    b.add_bucket("x", FIXED, 100, MIN)                   # eff 85, SNAPSHOT cap 51
    b.add_bucket("y", TOKEN, 10, SEC, headroom=0)
    for h in (-0.01, 1.0, 1.5, float("nan"), float("inf")):
        with pytest.raises(ValueError):
            b.add_bucket("h", FIXED, 100, MIN, headroom=h)
    for kind, limit, window in ((0, 10, SEC), (4, 10, SEC), (FIXED, 0, SEC), (FIXED, -1, SEC),
                                (FIXED, 2**40 + 1, SEC), (FIXED, 10, 0), (FIXED, 10, 2**53 + 1)):
        with pytest.raises(ValueError):
            b.add_bucket("bad", kind, limit, window)
    with pytest.raises(ValueError):
        b.add_bucket("x", FIXED, 10, SEC)                # duplicate name
    with pytest.raises(ValueError):
        b.add_bucket("", FIXED, 10, SEC)
    assert len(b) == 2
    # impossible / negative weights, unknown buckets
    with pytest.raises(ValueError):
        b.make_cost([(0, 86)])                           # > effective limit: never admissible
    with pytest.raises(ValueError):
        b.make_cost([(0, -1)])
    with pytest.raises(ValueError):
        b.make_cost([(2, 1)])
    with pytest.raises(ValueError):
        b.make_cost([(-1, 1)])
    with pytest.raises(ValueError):
        b.acquire([(0, 86)], 0, CANCEL)
    big = b.make_cost([(0, 60)])                         # fits CANCEL, not SNAPSHOT (51)
    assert b.acquire(big, 0, CANCEL) == 0
    with pytest.raises(ValueError):
        b.acquire(big, 0, SNAPSHOT)
    with pytest.raises(ValueError):
        b.reserve(big, 0, SNAPSHOT)
    cost = b.make_cost([(0, 1)])
    for p in (0, 5, -1):
        with pytest.raises(ValueError):
            b.acquire(cost, 0, p)
        with pytest.raises(ValueError):
            b.remaining(0, 0, p)
        with pytest.raises(ValueError):
            b.lane_capacity(0, p)
    for call in (lambda: b.used(2, 0), lambda: b.utilization(-1, 0), lambda: b.sync(5, 1, 0),
                 lambda: b.remaining(2, 0, CANCEL), lambda: b.effective_limit(2),
                 lambda: b.sync(0, -1, 0), lambda: b.acquire(cost, -1, CANCEL),
                 lambda: b.block_until(-5), lambda: b.used(0, 2**62 + 1)):
        with pytest.raises(ValueError):
            call()
    with pytest.raises((ValueError, TypeError)):
        b.make_cost([(0, 1.5)])
    c2 = mod.Budget()
    for n in range(mod.MAX_BUCKETS):
        c2.add_bucket(f"b{n}", FIXED, 10, SEC)
    with pytest.raises(ValueError):
        c2.add_bucket("one-too-many", FIXED, 10, SEC)
    assert b.used(0, 0) == 60                            # nothing charged by the failures


def test_many_buckets_and_cost_size(mod):
    """A Budget holds far more than 16 buckets (per-instrument limits); a Cost holds at most
    MAX_COST_ITEMS of them. Indices above 255 must not alias lower buckets."""
    assert mod.MAX_BUCKETS >= 256 and mod.MAX_COST_ITEMS == 16
    b = mod.Budget()
    for n in range(300):
        b.add_bucket(f"b{n}", (FIXED, SLIDING, TOKEN)[n % 3], 100, SEC, headroom=0)
    assert len(b) == 300 and b.index("b299") == 299
    high = list(range(280, 280 + mod.MAX_COST_ITEMS))
    cost = b.make_cost([(i, 7) for i in high])
    assert sorted(i for i, _ in cost.items()) == high
    assert b.acquire(cost, 0, CANCEL) == 0
    wait, tk = b.reserve(cost, 0, CANCEL)
    assert wait == 0 and tk
    assert [b.used(i, 0) for i in high] == [14] * len(high)
    assert all(b.used(i, 0) == 0 for i in range(300) if i not in high)   # 280 - 256 = 24 untouched
    assert b.refund(tk, 0) is True
    assert [b.used(i, 0) for i in high] == [7] * len(high)
    with pytest.raises(ValueError):
        b.make_cost([(i, 1) for i in range(100, 100 + mod.MAX_COST_ITEMS + 1)])
    with pytest.raises(ValueError):
        b.acquire([(i, 1) for i in range(100, 100 + mod.MAX_COST_ITEMS + 1)], 0, CANCEL)
    # zero weights and duplicates do not count against the item limit
    c2 = b.make_cost([(i, 1) for i in range(16)] + [(20, 0), (0, 1)])
    assert len(c2) == 16
    b.sync(299, 60, 0)
    assert b.used(299, 0) == 60 and b.remaining(299, 0, CANCEL) == 40


def test_block_bucket_holds_only_requests_charging_it(mod):
    b = mod.Budget()
    b.add_bucket("create", SLIDING, 10, SEC, headroom=0)
    b.add_bucket("cancel", SLIDING, 10, SEC, headroom=0)
    create, cancel = b.make_cost([(0, 1)]), b.make_cost([(1, 1)])
    b.block_bucket(0, 300)
    b.block_bucket(0, 200)                               # never shortens
    assert b.acquire(create, 100, CANCEL) == 200         # wait until the bucket's reset
    assert b.remaining(0, 100, CANCEL) == 0 and b.remaining(1, 100, CANCEL) == 10
    assert b.acquire(cancel, 100, CANCEL) == 0           # other buckets unaffected
    assert b.blocked_until == 0
    assert b.acquire(create, 299, CANCEL) == 1
    assert b.acquire(create, 300, CANCEL) == 0
    b.block_bucket(1, 10 * SEC)
    b.unblock()
    assert b.acquire(cancel, 400, CANCEL) == 0
    with pytest.raises(ValueError):
        b.block_bucket(2, 5)
    with pytest.raises(ValueError):
        b.block_bucket(0, -1)


def test_zero_effective_limit(mod):
    b = mod.Budget()
    b.add_bucket("tiny", FIXED, 1, SEC)                  # floor(1 * 0.85) = 0
    assert b.effective_limit(0) == 0
    with pytest.raises(ValueError):
        b.make_cost([(0, 1)])


# ---------------------------------------------------------------------------- C API (nogil)

def test_c_loop_matches_python_path():
    def make():
        b = C.Budget()
        b.add_bucket("w", FIXED, 1000, 10**6)
        b.add_bucket("s", SLIDING, 50, 10**5)
        b.add_bucket("k", TOKEN, 30, 10**5)
        return b, b.make_cost([(0, 3), (1, 1), (2, 1)])

    b1, c1 = make()
    b2, c2 = make()
    admitted, elapsed = C._bench_acquire(b1, c1, 20_000, 7, 333, QUERY)
    expect = sum(b2.acquire(c2, 7 + 333 * n, QUERY) == 0 for n in range(20_000))
    assert admitted == expect and 0 < admitted < 20_000 and elapsed > 0
    for i in range(3):
        assert b1.used(i, 7 + 333 * 20_000) == b2.used(i, 7 + 333 * 20_000)


# ---------------------------------------------------------------------------- property tests

SHARES = [0.0, 0.3, 0.5, 0.6, 0.8, 0.9, 1.0]


@st.composite
def configs(draw, n_max=4, n_min=1):
    buckets = []
    for _ in range(draw(st.integers(n_min, n_max))):
        kind = draw(st.sampled_from([FIXED, SLIDING, TOKEN]))
        limit = draw(st.integers(1, 40))
        window = draw(st.sampled_from([64, 100, 640, 999, 6400]) | st.integers(1, 3000))
        headroom = draw(st.sampled_from([0.0, 0.1, 0.15, 0.5]))
        edge = 0
        if kind == FIXED and window > 1:
            edge = draw(st.sampled_from([0, 1, window // 4, window - 1]))
        buckets.append((kind, limit, window, headroom, edge))
    shares = draw(st.none() | st.dictionaries(st.sampled_from(PRIOS), st.sampled_from(SHARES),
                                              max_size=4))
    return buckets, shares


def build(mod, cfg):
    buckets, shares = cfg
    b = mod.Budget()
    for n, (kind, limit, window, headroom, edge) in enumerate(buckets):
        b.add_bucket(f"b{n}", kind, limit, window, headroom=headroom, edge_ns=edge)
    if shares:
        b.set_lane_shares(shares)
    return b


def outcome(f):
    try:
        return ("ok", f())
    except (ValueError, TypeError, OverflowError) as e:
        return ("err", type(e).__name__)


# A test case is a config plus a plan: a list of ops, each 14 random bytes decoded into
# (op 0..99, r1, r2, r3 16-bit, a 56-bit cost code) that the test maps onto the config
# (bucket index = a % n, ...). Bytes are one cheap, uniform draw per op (per-value draws of
# integers dominated the runtime and are biased to small values); plans still shrink to zeros.
def _decode(b: bytes):
    u = int.from_bytes
    return b[0] % 100, u(b[1:3], "little"), u(b[3:5], "little"), u(b[5:7], "little"), \
        u(b[7:14], "little")


OP = st.binary(min_size=14, max_size=14).map(_decode)


def plan(max_ops):
    return st.lists(OP, min_size=max_ops // 3, max_size=max_ops)


def items_of(code, n, cap, heavy=False):
    """Decode up to 3 cost pairs from one integer: ~2% unknown bucket; weights ~5% up to
    cap+1 or -1, else up to cap/2+1 (heavy: up to cap)."""
    out = []
    count, code = code % 4, code // 4
    for _ in range(count):
        a, w, code = code % 64, (code // 64) % 4096, code // (64 * 4096)
        i = n if a == 63 else a % n
        if w == 4095:
            w = -1
        elif w >= 3900:
            w %= cap + 2
        else:
            w %= (cap + 1) if heavy else (cap // 2 + 2)
        out.append((i, w))
    return out


def merged(items):
    out = {}
    for i, w in items:
        out[i] = out.get(i, 0) + w
    return list(out.items())


def dt_of(r1, r2, max_w):
    return (r2 % 4, r2 % (max_w // 8 + 2), r2 % (2 * max_w + 1))[r1 % 3]


@settings(HYP, max_examples=300)
@given(cfg=configs(), ops=plan(80), start=st.integers(0, 10**6))
def test_differential_vs_reference(cfg, ops, start):
    """Same answers (go / exact wait / error), tickets and observable state as the twin."""
    differential(cfg, ops, start)


@settings(HYP, max_examples=40)
@given(cfg=configs(n_min=17, n_max=40), ops=plan(60), start=st.integers(0, 10**6))
def test_differential_many_buckets(cfg, ops, start):
    """The same comparison with more buckets than a Cost may hold (17..40)."""
    differential(cfg, ops, start)


def differential(cfg, ops, start):
    bc, br = build(C, cfg), build(R, cfg)
    n = len(cfg[0])
    max_w = max(w for _, _, w, _, _ in cfg[0])
    cap = max(bc.effective_limit(i) for i in range(n))
    now = start
    tickets = []
    for op, r1, r2, r3, code in ops:
        t_arg = max(0, now - r3 % 10) if r3 % 16 == 0 else now      # sometimes in the past
        if op < 20:
            now += dt_of(r1, r2, max_w)
            continue
        if op < 60:
            items = items_of(code, n, cap)
            p = 5 if r1 % 97 == 0 else PRIOS[r1 % 4]
            raw_pairs = r2 % 5 == 0
            kc = outcome(lambda: items if raw_pairs else bc.make_cost(items))
            kr = outcome(lambda: items if raw_pairs else br.make_cost(items))
            assert (kc[0], kr[0]) in (("ok", "ok"), ("err", "err")), (kc, kr)
            if kc[0] == "err":
                continue
            if not raw_pairs:
                assert kc[1].items() == kr[1].items()
            if op < 45:
                a = outcome(lambda: bc.acquire(kc[1], t_arg, p))
                b = outcome(lambda: br.acquire(kr[1], t_arg, p))
            elif op < 50:
                a = outcome(lambda: bc.peek_wait(kc[1], t_arg, p))
                b = outcome(lambda: br.peek_wait(kr[1], t_arg, p))
            else:
                a = outcome(lambda: bc.reserve(kc[1], t_arg, p))
                b = outcome(lambda: br.reserve(kr[1], t_arg, p))
                if a[0] == "ok" and a[1][1]:
                    tickets.append(a[1][1])
            assert a == b, (items, p, t_arg)
            event(f"{('acquire', 'peek', 'reserve')[(op >= 45) + (op >= 50)]}: "
                  f"{'error' if a[0] == 'err' else 'wait' if (a[1] if op < 50 else a[1][0]) else 'go'}")
        elif op < 70:
            if not tickets:
                continue
            tk = (tickets[-1] + 1 if r2 % 8 == 0 else tickets[-1] if r2 % 2
                  else tickets[r1 % len(tickets)])
            if op < 63:
                assert bc.commit(tk) == br.commit(tk)
            else:
                before = [(bc.used(i, now), br.used(i, now)) for i in range(n)]
                assert bc.refund(tk, t_arg) == br.refund(tk, t_arg)
                after = [(bc.used(i, now), br.used(i, now)) for i in range(n)]
                event("refund: gave weight back" if before != after else "refund: no effect")
        elif op < 85:
            i = r1 % n
            rep = r2 % (bc.effective_limit(i) + 6)
            bc.sync(i, rep, t_arg)
            br.sync(i, rep, t_arg)
        elif op < 90:
            until = now + r2 % (2 * max_w + 1)
            bc.block_until(until)
            br.block_until(until)
            assert bc.blocked_until == br.blocked_until
        elif op < 92:
            bc.unblock()
            br.unblock()
        elif op < 96:
            i, until = r1 % n, now + r2 % (2 * max_w + 1)
            bc.block_bucket(i, until)
            br.block_bucket(i, until)
        # compare the observable state after every operation
        for i in range(n):
            assert bc.used(i, now) == br.used(i, now), i
            assert bc.utilization(i, now) == pytest.approx(br.utilization(i, now), rel=1e-12)
            for q in PRIOS:
                assert bc.remaining(i, now, q) == br.remaining(i, now, q)


@settings(HYP, max_examples=200)
@given(cfg=configs(n_max=3), ops=plan(150), start=st.integers(0, 10**6))
def test_invariant_replay_admitted_log(cfg, ops, start):
    """Replay what was admitted, independently of both implementations: in every fixed window,
    every interval of window_ns (sliding) and every interval [t1, t2] (token bucket:
    eff + (t2 - t1) * limit / window) admitted weight minus refunds never exceeds the
    effective limit."""
    b = build(C, cfg)
    n = len(cfg[0])
    max_w = max(w for _, _, w, _, _ in cfg[0])
    cap = max(b.effective_limit(i) for i in range(n))
    now = start
    log = []                     # (t, {idx: w}, ticket)
    refunded = set()
    for op, r1, r2, r3, code in ops:
        if op < 30:
            now += dt_of(r1, r2, max_w)
        elif op < 80:
            items = merged((i, w) for i, w in items_of(code, n, cap) if 0 <= w and i < n)
            p = PRIOS[r1 % 4]
            if any(w > b.lane_capacity(i, p) for i, w in items):
                continue
            wait, tk = b.reserve(b.make_cost(items), now, p)
            if wait == 0:
                log.append((now, dict(b.make_cost(items).items()), tk))
        elif op < 90:
            if log:
                tk = log[r1 % len(log)][2]
                if b.refund(tk, now):
                    refunded.add(tk)
        else:
            i = r1 % n
            b.sync(i, r2 % (b.effective_limit(i) + 4), now)
    kept = [(t, ws) for t, ws, tk in log if tk not in refunded]
    for i, (kind, limit, window, headroom, edge) in enumerate(cfg[0]):
        eff = eff_of(limit, headroom)
        assert b.effective_limit(i) == eff
        ev = [(t, ws[i]) for t, ws in kept if i in ws]
        if kind == FIXED:
            per = {}
            for t, w in ev:
                per[t // window] = per.get(t // window, 0) + w
                if edge and t % window >= window - edge:     # counted again in the next window
                    per[t // window + 1] = per.get(t // window + 1, 0) + w
            assert all(v <= eff for v in per.values()), per
        elif kind == SLIDING:
            for t_end, _ in ev:
                assert sum(w for t, w in ev if t_end - window < t <= t_end) <= eff
        else:
            for a in range(len(ev)):
                s = 0
                for z in range(a, len(ev)):
                    s += ev[z][1]
                    assert (s - eff) * window <= (ev[z][0] - ev[a][0]) * limit


@pytest.mark.parametrize("impl", [C, R], ids=["cython", "ref"])
@settings(HYP, max_examples=300)
@given(cfg=configs(), ops=plan(40), last=OP, start=st.integers(0, 10**6))
def test_waits_are_exact(impl, cfg, ops, last, start):
    """When acquire says wait W > 0, it is still refused at now + W - 1 (peek_wait says 1)
    and admitted at now + W, with no other traffic in between."""
    b = build(impl, cfg)
    n = len(cfg[0])
    max_w = max(w for _, _, w, _, _ in cfg[0])
    cap = max(b.effective_limit(i) for i in range(n))
    now = start
    for op, r1, r2, r3, code in ops:
        now += r2 % (max_w // 16 + 2) if r1 % 4 else dt_of(r1, r2, max_w)
        p = PRIOS[r3 % 4]
        items = merged((i, w) for i, w in items_of(code, n, cap, heavy=True)
                       if 0 <= w and i < n)
        if not any(w > b.lane_capacity(i, p) for i, w in items):
            b.acquire(items, now, p)
        if op < 10:
            b.sync(r1 % n, r2 % (b.effective_limit(r1 % n) + 3), now)
        elif op < 13:
            b.block_until(now + r2 % (2 * max_w + 1))
        elif op < 16:
            b.block_bucket(r1 % n, now + r2 % (2 * max_w + 1))
    op, r1, r2, r3, code = last
    p = PRIOS[r1 % 4]
    items = merged((i, w) for i, w in items_of(code, n, cap, heavy=True) if 0 <= w and i < n)
    if not items:
        items = [(r2 % n, 1 + r3 % max(1, b.lane_capacity(r2 % n, p)))]
    if any(w > b.lane_capacity(i, p) for i, w in items):
        with pytest.raises(ValueError):
            b.acquire(items, now, p)
        return
    cost = b.make_cost(items)
    wait = b.acquire(cost, now, p)
    event("wait > 0" if wait else "admitted")
    if wait == 0:
        return
    assert b.peek_wait(cost, now + wait - 1, p) == 1
    assert b.acquire(cost, now + wait - 1, p) == 1
    assert b.acquire(cost, now + wait, p) == 0


def test_a_charge_at_a_window_edge_counts_in_the_next_window_too(mod):
    """A venue counts by arrival: what is admitted in a window's last edge_ns may arrive in the
    next window, so it is counted there as well and the next window admits only the rest."""
    b = mod.Budget()
    b.add_bucket("orders", FIXED, 10, 1000, headroom=0, edge_ns=100)     # windows [0, 1000), ...
    one = b.make_cost([(0, 1)])
    assert all(b.acquire(one, 850, NEW_ORDER) == 0 for _ in range(3))      # before the edge
    assert all(b.acquire(one, 950, NEW_ORDER) == 0 for _ in range(4))      # in the edge
    assert b.used(0, 999) == 7
    assert b.used(0, 1000) == 4                                            # the edge's 4 carried
    wait, t = b.reserve(one, 1990, NEW_ORDER)                              # next window's edge
    assert wait == 0 and t and b.used(0, 1990) == 5
    assert b.refund(t, 2000) and b.used(0, 2000) == 0                     # carried, then given back
    assert sum(b.acquire(one, 2000, NEW_ORDER) == 0 for _ in range(12)) == 9   # NEW_ORDER cap 9
    # a window full from its predecessor's edge sends the wait past it
    c = mod.Budget()
    c.add_bucket("w", FIXED, 10, 1000, headroom=0, edge_ns=500)
    assert c.acquire(c.make_cost([(0, 10)]), 600, CANCEL) == 0
    assert c.acquire(one, 700, CANCEL) == 2000 - 700
    assert c.used(0, 3000) == 0                                            # a skipped window drops it
    with pytest.raises(ValueError):
        c.add_bucket("s", SLIDING, 10, 1000, edge_ns=1)
    with pytest.raises(ValueError):
        c.add_bucket("f", FIXED, 10, 1000, edge_ns=1000)
