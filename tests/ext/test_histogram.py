# SPDX-License-Identifier: Apache-2.0
"""venuelink.ext.histogram against its reference twin (ext/ref/histogram_ref.py) and numpy.

What is asserted:
  * layout: the C bucket math equals the twin's plain-integer layout for every bucket, the
    buckets tile 0..60 s without gaps, and every bucket midpoint is within 1/256 (0.39 %)
    of every value of its bucket (exact below 256 ns).
  * percentile(p): within 1/256 relative error (so well inside the 1 % budget) of the
    exact nearest-rank value, which is also numpy.percentile(..., method="inverted_cdf");
    exact below 256 ns, at p = 0 / rank 1 (min) and p = 100 / rank n (max).
  * count, min, max, sum, overflow_count: exact; mean == exact sum / count.
  * cumulative_at(b): exact when b is a bucket upper bound, < 256, < min or >= max
    (overflow values, > 60 s, are only counted from b >= max on);
    otherwise equal to the exact count at b' = (lower bound of b's bucket) - 1, with
    b - b' < b / 128 (0.78 %).  (A relative error on the count itself cannot be promised:
    many values may sit in the straddling bucket.)
  * merge == recording both; reset empties; record_many == repeated record.
Hypothesis runs derandomized with bounded examples: the whole file takes a few seconds.
"""
import array
import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from venuelink.ext import histogram as H
from venuelink.ext.ref import histogram_ref as R

MAX = 60_000_000_000
REL = 1.0 / 256            # proven bound for the midpoint representative

SETTINGS = settings(
    deadline=None,
    max_examples=60,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

PCTS = (0, 1, 25, 50, 90, 95, 99, 99.9, 99.99, 100)


def make(values):
    h, r = H.Histogram(), R.HistogramRef()
    for v in values:
        h.record(int(v))
        r.record(int(v))
    return h, r


def close(got: int, exact: int) -> bool:
    """|got - exact| <= exact / 256, exact equality below 256 ns."""
    if exact < 256:
        return got == exact
    return abs(got - exact) * 256 <= exact


def log_uniform(rng: np.random.Generator, n: int, lo: float = 1.0, hi: float = MAX) -> np.ndarray:
    return np.exp(rng.uniform(math.log(lo), math.log(hi), n)).astype(np.int64)


# Values 0..60 s, biased towards powers of two and bucket edges as well as uniform draws.
_edge = st.integers(0, 35).flatmap(
    lambda k: st.sampled_from([(1 << k) - 1, 1 << k, (1 << k) + 1])
).filter(lambda v: v <= MAX)
_log = st.integers(0, 35).flatmap(lambda k: st.integers(1 << k, min((1 << (k + 1)) - 1, MAX)))
value_ns = st.one_of(st.integers(0, 300), st.integers(0, MAX), _log, _edge)
values_ns = st.lists(value_ns, min_size=1, max_size=400)


# ------------------------------------------------------------------------------ layout
def test_layout_constants():
    assert H.NBUCKETS == R.NBUCKETS == 3808
    assert H.MAX_VALUE_NS == R.MAX_VALUE_NS == MAX
    assert H.SUB_BUCKET_BITS == R.SUB_BUCKET_BITS == 7
    assert H.bucket_index(MAX) == H.NBUCKETS - 1
    assert H.bucket_upper_bound(H.NBUCKETS - 1) == MAX


def test_layout_every_bucket_matches_twin_and_tiles_the_range():
    prev_upper = -1
    worst = 0.0
    for i in range(H.NBUCKETS):
        lo, hi, mid = H.bucket_lower_bound(i), H.bucket_upper_bound(i), H.bucket_midpoint(i)
        assert (lo, hi, mid) == (R.bucket_lower_bound(i), R.bucket_upper_bound(i),
                                 R.bucket_midpoint(i))
        assert lo == prev_upper + 1, i
        assert lo <= mid <= hi
        assert H.bucket_index(lo) == H.bucket_index(hi) == H.bucket_index(mid) == i
        if lo < 256:
            assert lo == hi == mid == i            # exact region
        else:
            worst = max(worst, (mid - lo) / lo, (hi - mid) / hi)
        prev_upper = hi
    assert prev_upper == MAX
    assert 0.0039 < worst <= REL                   # 1/256 is reached, never exceeded


@SETTINGS
@given(st.one_of(value_ns, st.integers(0, MAX)))
def test_bucket_index_matches_twin(v):
    i = H.bucket_index(v)
    assert i == R.bucket_index(v)
    assert H.bucket_lower_bound(i) <= v <= H.bucket_upper_bound(i)


def test_bucket_index_rejects_out_of_range():
    with pytest.raises(ValueError):
        H.bucket_index(-1)
    with pytest.raises(ValueError):
        H.bucket_index(MAX + 1)
    with pytest.raises(IndexError):
        H.bucket_upper_bound(H.NBUCKETS)


# -------------------------------------------------------------------------- percentiles
@SETTINGS
@given(values_ns)
def test_percentiles_vs_twin_and_numpy(values):
    h, r = make(values)
    got = h.percentiles(PCTS)
    exact = r.percentiles(PCTS)
    via_numpy = [int(x) for x in np.percentile(np.array(values, dtype=np.int64), PCTS,
                                               method="inverted_cdf")]
    assert exact == via_numpy
    for p, g, e in zip(PCTS, got, exact):
        assert close(g, e), (p, g, e)
        assert h.percentile(p) == g
    assert got[0] == r.min and got[-1] == r.max
    assert got == sorted(got)


@pytest.mark.parametrize("seed", range(6))
def test_percentiles_large_log_uniform(seed):
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200_000))
    values = log_uniform(rng, n)
    h = H.Histogram()
    h.record_many(values)
    pcts = [0, 0.1, 1, 10, 50, 90, 95, 99, 99.9, 99.99, 100] + list(rng.uniform(0, 100, 20))
    exact = np.percentile(values, pcts, method="inverted_cdf").astype(np.int64)
    for p, g, e in zip(pcts, h.percentiles(pcts), exact):
        assert close(g, int(e)), (p, g, e)
    assert h.min == int(values.min()) and h.max == int(values.max())


@pytest.mark.parametrize("dist", ["uniform_us", "lognormal", "bimodal", "constant"])
def test_percentiles_other_shapes(dist):
    rng = np.random.default_rng(42)
    n = 50_000
    if dist == "uniform_us":
        values = rng.integers(1_000, 1_000_000, n)
    elif dist == "lognormal":
        values = np.minimum(rng.lognormal(math.log(50_000), 1.5, n), MAX).astype(np.int64)
    elif dist == "bimodal":
        values = np.concatenate([rng.integers(200, 400, n // 2), rng.integers(10**8, 10**9, n // 2)])
    else:
        values = np.full(n, 123_456_789)
    values = values.astype(np.int64)
    h = H.Histogram()
    h.record_many(values)
    pcts = [50, 95, 99, 99.9]
    for p, g in zip(pcts, h.percentiles(pcts)):
        e = int(np.percentile(values, p, method="inverted_cdf"))
        assert close(g, e), (p, g, e)
    if dist == "constant":
        assert h.percentiles(pcts) == [123_456_789] * 4   # clamped to [min, max]


def test_small_values_exact():
    values = list(range(256)) * 3
    h, r = make(values)
    for p in np.linspace(0, 100, 401):
        assert h.percentile(p) == r.percentile(p)


def test_percentile_validation_and_empty():
    h = H.Histogram()
    assert h.percentile(50) == 0 and h.percentiles([0, 99.9, 100]) == [0, 0, 0]
    assert (h.count, h.min, h.max, h.sum, h.mean, h.overflow_count) == (0, 0, 0, 0, 0.0, 0)
    assert h.snapshot_buckets() == ([], []) and h.cumulative_at([0, 10, MAX]) == [0, 0, 0]
    h.record(5)
    for bad in (-0.001, 100.0001, float("nan"), float("inf"), -1):
        with pytest.raises(ValueError):
            h.percentile(bad)
        with pytest.raises(ValueError):
            h.percentiles([50, bad])
    with pytest.raises(TypeError):
        h.percentile("50")
    assert h.percentile(0) == h.percentile(100) == 5


# ---------------------------------------------------------------------- exact summaries
@SETTINGS
@given(values_ns)
def test_count_min_max_sum_mean_exact(values):
    h, r = make(values)
    assert h.count == len(values)
    assert h.min == min(values) and h.max == max(values)
    assert h.sum == sum(values)
    assert h.mean == sum(values) / len(values)
    assert h.snapshot_buckets() == r.snapshot_buckets()


def test_sum_beyond_64_bits():
    h = H.Histogram()
    big = 2**63 - 1
    for _ in range(5):
        h.record(big)
    assert h.sum == 5 * big and h.overflow_count == 5 and h.max == big
    h2 = H.Histogram()
    h2.merge(h)
    h2.merge(h)
    assert h2.sum == 10 * big and h2.mean == 10 * big / 10


def test_overflow_counted_and_reported_as_max():
    h, r = make([10, 20, MAX, MAX + 1, 3 * MAX])
    assert h.count == 5 and h.overflow_count == r.overflow_count == 2
    assert h.max == 3 * MAX and h.sum == 10 + 20 + MAX + MAX + 1 + 3 * MAX
    assert h.percentile(100) == 3 * MAX
    assert h.percentile(70) == 3 * MAX              # rank 4 is in the overflow -> max
    assert close(h.percentile(60), MAX)             # rank 3: 60 s itself is still bucketed
    uppers, counts = h.snapshot_buckets()
    assert uppers == [10, 20, MAX, 3 * MAX] and counts == [1, 1, 1, 2]
    assert h.cumulative_at([MAX, MAX + 1, 3 * MAX - 1, 3 * MAX]) == [3, 3, 3, 5]
    only_overflow, _ = make([MAX + 1, MAX + 2, MAX + 3])
    # rank 1 is min (exact); the other ranks fall in the overflow and report max
    assert only_overflow.percentiles([0, 33, 50, 100]) == [MAX + 1, MAX + 1, MAX + 3, MAX + 3]
    assert only_overflow.cumulative_at([0, MAX, MAX + 2, MAX + 3]) == [0, 0, 0, 3]
    assert only_overflow.snapshot_buckets() == ([MAX + 3], [3])


def test_negative_raises_and_records_nothing():
    h = H.Histogram()
    with pytest.raises(ValueError):
        h.record(-1)
    with pytest.raises(ValueError):
        h.record_many(np.array([1, 2, -3], dtype=np.int64))
    with pytest.raises(ValueError):
        h.record_many([1, -2])
    with pytest.raises(OverflowError):
        h.record(2**63)
    assert h.count == 0
    h.record(0)
    assert h.count == 1 and h.min == 0 and h.percentile(50) == 0


# -------------------------------------------------------------------- merge / reset
@SETTINGS
@given(values_ns, values_ns)
def test_merge_equals_recording_both(a, b):
    ha, _ = make(a)
    hb, _ = make(b)
    hab, rab = make(a + b)
    ha.merge(hb)
    assert hb.count == len(b)                       # other unchanged
    assert ha.snapshot_buckets() == hab.snapshot_buckets() == rab.snapshot_buckets()
    assert (ha.count, ha.sum, ha.min, ha.max, ha.overflow_count) == \
        (hab.count, hab.sum, hab.min, hab.max, hab.overflow_count)
    assert ha.percentiles(PCTS) == hab.percentiles(PCTS)


def test_merge_edge_cases():
    h, _ = make([5, 500, 5_000_000])
    empty = H.Histogram()
    h.merge(empty)
    assert h.count == 3 and h.min == 5
    empty.merge(h)
    assert empty.snapshot_buckets() == h.snapshot_buckets() and empty.min == 5
    h.merge(h)
    assert h.count == 6 and h.sum == 2 * (5 + 500 + 5_000_000)
    with pytest.raises(TypeError):
        h.merge(None)
    with pytest.raises(TypeError):
        h.merge(R.HistogramRef())


def test_reset_empties():
    h, _ = make([0, 7, 10**6, MAX + 5])
    h.reset()
    assert (h.count, h.min, h.max, h.sum, h.overflow_count) == (0, 0, 0, 0, 0)
    assert h.snapshot_buckets() == ([], []) and h.percentile(99) == 0
    h.record(300)
    assert (h.count, h.min, h.max) == (1, 300, 300)
    assert h.snapshot_buckets() == ([301], [1])


# -------------------------------------------------------------------- cumulative_at
def expected_cumulative(r: R.HistogramRef, b: int) -> int:
    """Exact count at the bound the histogram is documented to answer for b."""
    if b < 0 or b < r.min or b >= r.max or b < 256:
        return r.cumulative_at([b])[0]
    if b >= MAX:                                    # overflow counts only from b >= max on
        return r.cumulative_at([MAX])[0]
    i = R.bucket_index(b)
    if R.bucket_upper_bound(i) == b:
        return r.cumulative_at([b])[0]
    b2 = R.bucket_lower_bound(i) - 1
    assert (b - b2) * 128 < b                       # < 0.78 % below b
    return r.cumulative_at([b2])[0]


@SETTINGS
@given(values_ns, st.lists(st.integers(0, H.NBUCKETS - 1), min_size=1, max_size=20))
def test_cumulative_exact_at_bucket_bounds(values, idx):
    h, r = make(values)
    bounds = [H.bucket_upper_bound(i) for i in idx] + [0, 255, max(values), MAX]
    assert h.cumulative_at(bounds) == r.cumulative_at(bounds)


@SETTINGS
@given(values_ns, st.lists(st.one_of(value_ns, st.integers(-5, 3 * MAX)), min_size=1, max_size=20))
def test_cumulative_at_arbitrary_bounds(values, bounds):
    h, r = make(values)
    got = h.cumulative_at(bounds)
    assert got == [expected_cumulative(r, b) for b in bounds]
    exact = r.cumulative_at(bounds)
    assert all(g <= e for g, e in zip(got, exact))  # never over-counts


def test_cumulative_prometheus_bounds():
    rng = np.random.default_rng(7)
    values = log_uniform(rng, 100_000, 1_000, 10**10)
    h = H.Histogram()
    h.record_many(values)
    r = R.HistogramRef()
    r.record_many(values.tolist())
    secs = [0.000005, 0.00001, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1, 1.0, 10.0]
    bounds = [round(s * 1e9) for s in secs]
    got = h.cumulative_at(bounds)
    assert got == [expected_cumulative(r, b) for b in bounds]
    assert got == sorted(got) and got[-1] == len(values)
    # as a count, each is close to the exact one for this smooth distribution
    for g, e in zip(got, r.cumulative_at(bounds)):
        assert e - g <= max(2, 0.01 * e)


# ---------------------------------------------------------------------- record_many
@SETTINGS
@given(values_ns)
def test_record_many_equals_repeated_record(values):
    h1, _ = make(values)
    arr = np.array(values, dtype=np.int64)
    inputs = [arr, np.repeat(arr, 2)[::2], array.array("q", values), values, tuple(values),
              arr.astype(np.int32) if max(values) < 2**31 else arr.astype(np.uint64)]
    ro = arr.copy()
    ro.flags.writeable = False
    inputs.append(ro)
    for x in inputs:
        h2 = H.Histogram()
        h2.record_many(x)
        assert h2.snapshot_buckets() == h1.snapshot_buckets()
        assert (h2.count, h2.sum, h2.min, h2.max) == (h1.count, h1.sum, h1.min, h1.max)


def test_record_many_strided_and_empty():
    arr = np.arange(1000, dtype=np.int64) * 1_000_003
    h1, h2 = H.Histogram(), H.Histogram()
    h1.record_many(arr[::3])
    for v in arr[::3]:
        h2.record(int(v))
    assert h1.snapshot_buckets() == h2.snapshot_buckets() and h1.sum == h2.sum
    h1.record_many(np.array([], dtype=np.int64))
    h1.record_many([])
    assert h1.count == h2.count
    with pytest.raises(TypeError):
        h1.record_many(None)


# ----------------------------------------------------------------------------- misc
def test_bench_record_helper():
    h = H.Histogram()
    assert H._bench_record(h, 100_000) == 100_000
    assert h.count == 100_000 and h.overflow_count == 0
    assert 0 <= h.min <= h.percentile(50) <= h.max < MAX
    assert sum(h.snapshot_buckets()[1]) == 100_000


def test_repr():
    h = H.Histogram()
    assert repr(h) == "Histogram(count=0)"
    h.record(1000)
    assert "count=1" in repr(h) and "p99=" in repr(h)
