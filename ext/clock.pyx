# SPDX-License-Identifier: Apache-2.0
"""Nanosecond clocks (see clock.pxd for which clock stamps what), and RFC 3339 venue timestamps
to epoch nanoseconds (include/vl_time.h; reference twin: ext/ref/clock_ref.py)."""
# now_ns() and mono_ns() are cpdef inline functions in clock.pxd: one definition, a direct C
# call for cimporters and a Python function for everyone else.


def _loop_now_ns(Py_ssize_t n) -> int:
    """Benchmark helper: call now_ns() n times from C; returns the last value."""
    cdef Py_ssize_t i
    cdef long long v = 0
    with nogil:
        for i in range(n):
            v = now_ns()
    return v



def _frame_times(Py_ssize_t n) -> list:
    """Test helper: n frame_clock() readings from one FrameClock, each as (wall before, mono, wall,
    wall after) with the wall clock read directly around it."""
    cdef FrameClock c
    cdef int64_t before, m, w = 0, after
    cdef Py_ssize_t i
    c.anchored = 0
    c.wall_off = 0
    out = []
    for i in range(n):
        before = now_ns()
        m = frame_clock(&c, &w)
        after = now_ns()
        out.append((before, m, w, after))
    return out


_T_ERRORS = {VL_T_SHAPE: "not an RFC 3339 date-time (YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM))",
             VL_T_RANGE: "a field out of range (month, day of that month, hour, minute, second or offset)",
             VL_T_FRACTION: "a fraction finer than a nanosecond",
             VL_T_OVERFLOW: "outside int64 nanoseconds since the epoch (1677..2262)"}


cdef int64_t rfc3339_at(const char *p, size_t n) except? -1:
    """An RFC 3339 time at p[0:n] as epoch ns; ValueError naming what is wrong."""
    cdef int64_t out = 0
    cdef int rc = vl_rfc3339_ns(p, n, &out)
    if rc != VL_T_OK:
        raise ValueError(f"time {p[:n]!r}: {_T_ERRORS.get(rc, 'unreadable')}")
    return out


def rfc3339_ns(text: str | bytes) -> int:
    """Epoch nanoseconds of an RFC 3339 time ("2023-02-09T20:32:50.714964855Z"), exactly."""
    cdef bytes b = text.encode() if isinstance(text, str) else bytes(text)
    return rfc3339_at(b, len(b))
