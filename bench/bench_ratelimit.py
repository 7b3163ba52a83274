# SPDX-License-Identifier: Apache-2.0
"""venuelink.ext.ratelimit benchmarks (pytest-benchmark), with the reference twin side by side.

    .venv/bin/python -m pytest -q bench/bench_ratelimit.py --benchmark-only

Every budget has three buckets, one of each kind, and every cost charges all three:
  REQUEST_WEIGHT_1M  fixed window, 60 s        ORDERS_10S  sliding window, 10 s (64 slots)
  KRAKEN             token bucket (decaying counter)

Groups (per-call numbers are printed and stored in extra_info):
  ratelimit-py-call  one Budget.acquire from Python at a constant now: admitted path (limits
                     too large to fill) and refused path (full budget, returns the wait);
                     the reference twin's refused path for comparison (its admitted path at a
                     constant now grows its event list without bound, see the stream group).
  ratelimit-c-loop   _bench_acquire: try_acquire from C in a nogil loop (1M calls), admitted
                     and refused paths; and admitted with the three buckets spread over a
                     300-bucket budget (per-instrument buckets must not slow a request down).
  ratelimit-stream   a realistic stream, one request every 10 ms (100/s, ~9% refused near the
                     end of each minute by the weight limit's QUERY lane): C nogil loop, Python loop over
                     Budget.acquire, Python loop over the reference twin.
Whole file: ~10 s.
"""
import itertools

import pytest

from venuelink.ext import ratelimit as RL
from venuelink.ext.ref import ratelimit_ref as REF

SEC = 1_000_000_000
NOW = 1_000 * 60 * SEC
QUERY = 3
N_C = 1_000_000
STEP = 10_000_000            # stream: one request per 10 ms


def _budget(mod, big: bool):
    b = mod.Budget()
    if big:
        b.add_bucket("REQUEST_WEIGHT_1M", mod.BucketKind.FIXED_WINDOW, 2**40, 60 * SEC)
        b.add_bucket("ORDERS_10S", mod.BucketKind.SLIDING_WINDOW, 2**40, 10 * SEC)
        b.add_bucket("KRAKEN", mod.BucketKind.TOKEN_BUCKET, 2**40, 60 * SEC)
    else:
        b.add_bucket("REQUEST_WEIGHT_1M", mod.BucketKind.FIXED_WINDOW, 8000, 60 * SEC)
        b.add_bucket("ORDERS_10S", mod.BucketKind.SLIDING_WINDOW, 1600, 10 * SEC)
        b.add_bucket("KRAKEN", mod.BucketKind.TOKEN_BUCKET, 200, SEC)
    return b, b.make_cost([(0, 1), (1, 1), (2, 1)])


def _full(mod):
    b, c = _budget(mod, big=False)
    while b.acquire(c, NOW, QUERY) == 0:
        pass
    assert b.acquire(c, NOW, QUERY) > 0
    return b, c


def _report(benchmark, capsys, label: str, per: int) -> float:
    ns = benchmark.stats.stats.min * 1e9 / per
    med = benchmark.stats.stats.median * 1e9 / per
    benchmark.extra_info["ns_per_call_min"] = round(ns, 2)
    benchmark.extra_info["ns_per_call_median"] = round(med, 2)
    with capsys.disabled():
        print(f"\n  {label}: {ns:.1f} ns/call (min), {med:.1f} ns/call (median)")
    return ns


# ---------------------------------------------------------------------------- one call
@pytest.mark.benchmark(group="ratelimit-py-call")
def test_acquire_py_admitted(benchmark, capsys):
    b, c = _budget(RL, big=True)
    r = benchmark(b.acquire, c, NOW, QUERY)
    assert r == 0
    _report(benchmark, capsys, "acquire from Python, 3 buckets, admitted", 1)


@pytest.mark.benchmark(group="ratelimit-py-call")
def test_acquire_py_refused(benchmark, capsys):
    b, c = _full(RL)
    r = benchmark(b.acquire, c, NOW, QUERY)
    assert r > 0
    _report(benchmark, capsys, "acquire from Python, 3 buckets, refused", 1)


@pytest.mark.benchmark(group="ratelimit-py-call")
def test_reserve_commit_py(benchmark, capsys):
    b, c = _budget(RL, big=True)
    reserve, commit = b.reserve, b.commit

    def once():
        commit(reserve(c, NOW, QUERY)[1])

    benchmark(once)
    _report(benchmark, capsys, "reserve + commit from Python, 3 buckets", 1)


@pytest.mark.benchmark(group="ratelimit-py-call")
def test_acquire_ref_refused(benchmark, capsys):
    b, c = _full(REF)
    r = benchmark.pedantic(b.acquire, args=(c, NOW, QUERY), rounds=200, iterations=5)
    assert r > 0
    _report(benchmark, capsys, "reference twin acquire, refused", 1)


# ---------------------------------------------------------------------------- C loop
@pytest.mark.benchmark(group="ratelimit-c-loop")
def test_acquire_c_nogil_admitted(benchmark, capsys):
    b, c = _budget(RL, big=True)
    out = benchmark.pedantic(RL._bench_acquire, args=(b, c, N_C, NOW, 0, QUERY), rounds=10,
                             iterations=1, warmup_rounds=1)
    assert out[0] == N_C
    _report(benchmark, capsys, "try_acquire from C (nogil loop), admitted", N_C)


@pytest.mark.benchmark(group="ratelimit-c-loop")
def test_acquire_c_nogil_admitted_300_buckets(benchmark, capsys):
    b = RL.Budget()
    kinds = (RL.BucketKind.FIXED_WINDOW, RL.BucketKind.SLIDING_WINDOW, RL.BucketKind.TOKEN_BUCKET)
    for n in range(300):
        b.add_bucket(f"PAIR_{n}", kinds[n % 3], 2**40, 60 * SEC)
    c = b.make_cost([(0, 1), (151, 1), (299, 1)])
    out = benchmark.pedantic(RL._bench_acquire, args=(b, c, N_C, NOW, 0, QUERY), rounds=10,
                             iterations=1, warmup_rounds=1)
    assert out[0] == N_C
    _report(benchmark, capsys, "try_acquire from C (nogil loop), admitted, 3 of 300 buckets", N_C)


@pytest.mark.benchmark(group="ratelimit-c-loop")
def test_acquire_c_nogil_refused(benchmark, capsys):
    b, c = _full(RL)
    out = benchmark.pedantic(RL._bench_acquire, args=(b, c, N_C, NOW, 0, QUERY), rounds=10,
                             iterations=1, warmup_rounds=1)
    assert out[0] == 0
    _report(benchmark, capsys, "try_acquire from C (nogil loop), refused", N_C)


# ---------------------------------------------------------------------------- stream
_STREAM = {}


def _stream_summary(capsys, key, ns):
    _STREAM[key] = ns
    if {"c", "py", "ref"} <= _STREAM.keys():
        with capsys.disabled():
            print(f"\n  stream: reference / Python-path = {_STREAM['ref'] / _STREAM['py']:.0f}x, "
                  f"reference / C-path = {_STREAM['ref'] / _STREAM['c']:.0f}x")


@pytest.mark.benchmark(group="ratelimit-stream")
def test_stream_c_nogil(benchmark, capsys):
    n = 100_000
    b, c = _budget(RL, big=False)
    starts = itertools.count(NOW, n * STEP)
    admitted = []

    def run():
        admitted.append(RL._bench_acquire(b, c, n, next(starts), STEP, QUERY)[0])

    benchmark.pedantic(run, rounds=10, iterations=1, warmup_rounds=1)
    assert 0.8 < sum(admitted) / (len(admitted) * n) < 1.0
    _stream_summary(capsys, "c", _report(benchmark, capsys, "stream, C nogil loop", n))


def _py_stream(benchmark, mod, n, rounds):
    b, c = _budget(mod, big=False)
    chunks = iter([[NOW + (k * n + i) * STEP for i in range(n)] for k in range(rounds + 1)])
    acquire = b.acquire
    admitted = []

    def run():
        ok = 0
        for t in next(chunks):
            if not acquire(c, t, QUERY):
                ok += 1
        admitted.append(ok)

    benchmark.pedantic(run, rounds=rounds, iterations=1, warmup_rounds=1)
    assert 0.8 < sum(admitted) / (len(admitted) * n) < 1.0
    return n


@pytest.mark.benchmark(group="ratelimit-stream")
def test_stream_py(benchmark, capsys):
    n = _py_stream(benchmark, RL, 20_000, 10)
    _stream_summary(capsys, "py", _report(benchmark, capsys,
                                          "stream, Python loop over acquire", n))


@pytest.mark.benchmark(group="ratelimit-stream")
def test_stream_ref(benchmark, capsys):
    n = _py_stream(benchmark, REF, 1_000, 6)
    _stream_summary(capsys, "ref", _report(benchmark, capsys,
                                           "stream, Python loop over reference twin", n))
