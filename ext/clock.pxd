# SPDX-License-Identifier: Apache-2.0
# Clocks as inline C: cimport and call without the GIL.
#   now_ns()  CLOCK_REALTIME, epoch ns. Stamps ts_recv (frame arrival) and ts_event, and is
#             comparable with venue timestamps (ts_exchange). Can step (NTP/PTP), so never use
#             it to measure a duration.
#   mono_ns() CLOCK_MONOTONIC, ns since an arbitrary origin. Every latency/duration measurement
#             (histograms, timeouts, stale detection) uses this clock. Rate-limit windows use now_ns():
#             venues align them to the wall clock (Binance's minute).
from posix.time cimport clock_gettime, timespec, CLOCK_REALTIME, CLOCK_MONOTONIC
from libc.stdint cimport int64_t, INT64_MAX

cpdef inline int64_t now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_REALTIME, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec

cpdef inline int64_t mono_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <int64_t>ts.tv_sec * 1000000000 + ts.tv_nsec

cdef inline int64_t to_ns(int64_t v, int64_t unit_ns) except? -1:
    """A venue time in `unit_ns` units (1_000_000 for ms, 1_000 for us) as ns; a value whose ns
    would not fit in int64 is an error, never a wrapped (negative or plausible) time."""
    cdef int64_t lim = INT64_MAX // unit_ns
    if v > lim or v < -lim:
        raise OverflowError(f"time {v} x {unit_ns} ns does not fit in int64 ns")
    return v * unit_ns

cdef extern from "vl_time.h" nogil:
    int vl_rfc3339_ns(const char *p, size_t n, int64_t *out)
    enum:
        VL_T_OK, VL_T_SHAPE, VL_T_RANGE, VL_T_FRACTION, VL_T_OVERFLOW

cdef int64_t rfc3339_at(const char *p, size_t n) except? -1
