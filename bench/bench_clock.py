# SPDX-License-Identifier: Apache-2.0
"""Clocks: venuelink.ext.clock now_ns() from C and from Python vs time.time_ns()."""
import time

import pytest

from venuelink.ext import clock

N = 100_000


@pytest.mark.benchmark(group="clock-100k")
def test_ext_now_ns_from_c(benchmark):
    benchmark(clock._loop_now_ns, N)


@pytest.mark.benchmark(group="clock-100k")
def test_ext_now_ns_from_python(benchmark):
    f = clock.now_ns
    benchmark(lambda: [f() for _ in range(N)])


@pytest.mark.benchmark(group="clock-100k")
def test_time_time_ns(benchmark):
    f = time.time_ns
    benchmark(lambda: [f() for _ in range(N)])
