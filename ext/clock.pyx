# SPDX-License-Identifier: Apache-2.0
"""Nanosecond clocks. See clock.pxd for which clock stamps what."""
from ext.clock cimport now_ns as _now_ns, mono_ns as _mono_ns


def now_ns() -> int:
    """Wall clock (CLOCK_REALTIME) in integer nanoseconds since the Unix epoch."""
    return _now_ns()


def mono_ns() -> int:
    """Monotonic clock (CLOCK_MONOTONIC) in integer nanoseconds; for durations only."""
    return _mono_ns()


def _loop_now_ns(Py_ssize_t n) -> int:
    """Benchmark helper: call now_ns() n times from C; returns the last value."""
    cdef Py_ssize_t i
    cdef long long v = 0
    with nogil:
        for i in range(n):
            v = _now_ns()
    return v
