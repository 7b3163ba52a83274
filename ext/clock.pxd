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

cdef enum:
    FRAME_CLOCK_ANCHOR_NS = 100000000   # 100 ms: how often frame_clock() reads the wall clock again


cdef struct FrameClock:
    int64_t wall_off     # CLOCK_REALTIME - CLOCK_MONOTONIC at the last anchor
    int64_t anchored     # mono_ns() of that anchor, 0 before the first


cdef inline int64_t frame_clock(FrameClock *c, int64_t *wall) noexcept nogil:
    """A frame's arrival time with one clock read: returns mono_ns() and sets *wall to the
    CLOCK_REALTIME time of that instant, the monotonic time plus the offset between the two clocks.
    The kernel slews both clocks alike (NTP/PTP frequency corrections), so that offset changes only
    when the wall clock is stepped; it is measured again every FRAME_CLOCK_ANCHOR_NS of monotonic
    time, so a step reaches *wall within that long."""
    cdef int64_t m = mono_ns()
    if m - c.anchored >= FRAME_CLOCK_ANCHOR_NS or c.anchored == 0:
        frame_clock_anchor(c, m)
    wall[0] = m + c.wall_off
    return m


cdef inline void frame_clock_anchor(FrameClock *c, int64_t m) noexcept nogil:
    """The offset between the clocks: a wall-clock read between two monotonic ones, against their
    midpoint, the narrowest of three tries (a thread preempted between reads widens its try)."""
    cdef int64_t a, w, b, span, best = -1
    cdef int i
    for i in range(3):
        a = mono_ns()
        w = now_ns()
        b = mono_ns()
        span = b - a
        if best < 0 or span < best:
            best = span
            c.wall_off = w - (a + span // 2)
    c.anchored = m


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
