# SPDX-License-Identifier: Apache-2.0
"""venuelink.ext.histogram benchmarks (pytest-benchmark), with the obvious alternatives side by side.

    .venv/bin/python -m pytest -q bench/bench_histogram.py --benchmark-only

Groups:
  histogram-record  record from C (_bench_record: 1M xorshift values per call, nogil; the
                    per-record cost = time / 1e6 is printed and stored in extra_info),
                    record() from Python, record_many() of a 100k numpy array, and a plain
                    Python list.append as the cheapest thing Python code can do per value.
  histogram-query   percentile(99) / percentile(50) / percentiles(4) / cumulative_at on a
                    histogram of 1M log-uniform values, vs numpy.percentile on a 100k array.
Whole file: ~10 s.
"""
import math

import numpy as np
import pytest

from venuelink.ext import histogram as H

N_C = 1_000_000
MAX = 60_000_000_000


def _log_uniform(n: int, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.exp(rng.uniform(0.0, math.log(MAX), n)).astype(np.int64)


@pytest.fixture(scope="module")
def filled() -> H.Histogram:
    h = H.Histogram()
    h.record_many(_log_uniform(N_C))
    return h


@pytest.fixture(scope="module")
def arr100k() -> np.ndarray:
    return _log_uniform(100_000, seed=2)


def _report(benchmark, capsys, label: str, per: int) -> None:
    ns = benchmark.stats.stats.min * 1e9 / per
    med = benchmark.stats.stats.median * 1e9 / per
    benchmark.extra_info["ns_per_op_min"] = round(ns, 3)
    benchmark.extra_info["ns_per_op_median"] = round(med, 3)
    with capsys.disabled():
        print(f"\n  {label}: {ns:.2f} ns/op (min), {med:.2f} ns/op (median)")


# ---------------------------------------------------------------------------- record
@pytest.mark.benchmark(group="histogram-record")
def test_record_from_c_1m(benchmark, capsys):
    h = H.Histogram()
    benchmark.pedantic(H._bench_record, args=(h, N_C), rounds=40, iterations=1,
                       warmup_rounds=2)
    _report(benchmark, capsys, "record from C (_bench_record, incl. xorshift)", N_C)
    assert h.count == 42 * N_C


@pytest.mark.benchmark(group="histogram-record")
def test_record_from_python(benchmark, capsys):
    h = H.Histogram()
    benchmark(h.record, 123_456)
    _report(benchmark, capsys, "Histogram.record() from Python", 1)


@pytest.mark.benchmark(group="histogram-record")
def test_record_many_numpy_100k(benchmark, capsys, arr100k):
    h = H.Histogram()
    benchmark(h.record_many, arr100k)
    _report(benchmark, capsys, "Histogram.record_many(100k int64)", arr100k.shape[0])


@pytest.mark.benchmark(group="histogram-record")
def test_alt_python_list_append(benchmark, capsys):
    lst: list[int] = []
    benchmark(lst.append, 123_456)
    _report(benchmark, capsys, "alternative: list.append()", 1)


# ----------------------------------------------------------------------------- query
@pytest.mark.benchmark(group="histogram-query")
def test_percentile_p99(benchmark, filled):
    assert benchmark(filled.percentile, 99.0) > 0


@pytest.mark.benchmark(group="histogram-query")
def test_percentile_p50(benchmark, filled):
    assert benchmark(filled.percentile, 50.0) > 0


@pytest.mark.benchmark(group="histogram-query")
def test_percentiles_4(benchmark, filled):
    assert len(benchmark(filled.percentiles, (50, 95, 99, 99.9))) == 4


@pytest.mark.benchmark(group="histogram-query")
def test_cumulative_at_prometheus_bounds(benchmark, filled):
    bounds = [round(s * 1e9) for s in
              (0.000005, 0.00001, 0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.1, 1.0, 10.0)]
    assert len(benchmark(filled.cumulative_at, bounds)) == len(bounds)


@pytest.mark.benchmark(group="histogram-query")
def test_alt_numpy_percentile_100k_p99(benchmark, arr100k):
    assert benchmark(np.percentile, arr100k, 99.0, method="inverted_cdf") > 0


@pytest.mark.benchmark(group="histogram-query")
def test_alt_numpy_percentile_100k_4(benchmark, arr100k):
    assert len(benchmark(np.percentile, arr100k, [50, 95, 99, 99.9], method="inverted_cdf")) == 4
