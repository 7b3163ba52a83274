# SPDX-License-Identifier: Apache-2.0
"""Nanosecond clocks. See clock.pxd for which clock stamps what."""
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
