# SPDX-License-Identifier: Apache-2.0
"""Latency histogram with a fixed log-linear bucket layout (HDR style).

Values are integer nanoseconds. Buckets are exact for 0..255 ns, then each power of two
is split into 128 linear sub-buckets, up to 60 s (3808 uint64 counters inside the object).
A percentile is reported as the midpoint of the bucket that holds the nearest-rank value,
clamped to [min, max]: at most 1/256 (0.39 %) relative error, exact below 256 ns.
Values above 60 s are counted in ``overflow_count`` (and in count/sum/max, exactly).
See histogram.pxd for the layout and for the nogil C API (``record_ns`` etc.).
"""
cimport cython
from libc.math cimport ceil
from libc.stdint cimport int64_t, uint64_t, INT64_MAX
from libc.string cimport memset

__all__ = [
    "Histogram", "MAX_VALUE_NS", "NBUCKETS", "SUB_BUCKET_BITS",
    "bucket_index", "bucket_lower_bound", "bucket_upper_bound", "bucket_midpoint",
]

MAX_VALUE_NS = VL_HIST_MAX_VALUE_NS
NBUCKETS = HIST_NBUCKETS
SUB_BUCKET_BITS = HIST_SUB_BITS


cdef inline Py_ssize_t _check_value(int64_t value_ns) except -1:
    if value_ns < 0:
        raise ValueError(f"histogram values are durations in ns and must be >= 0, got {value_ns}")
    return 0


cdef inline double _check_percentile(object p) except -1.0:
    cdef double q = p
    if not (0.0 <= q <= 100.0):      # also rejects NaN
        raise ValueError(f"percentile must be within [0, 100], got {p!r}")
    return q / 100.0


cdef inline Py_ssize_t _check_bucket(Py_ssize_t i) except -1:
    if i < 0 or i >= HIST_NBUCKETS:
        raise IndexError(f"bucket index must be within [0, {HIST_NBUCKETS}), got {i}")
    return i


def bucket_index(int64_t value_ns) -> int:
    """Bucket that value_ns (0 <= value_ns <= MAX_VALUE_NS) is counted in."""
    _check_value(value_ns)
    if value_ns > VL_HIST_MAX_VALUE_NS:
        raise ValueError(f"{value_ns} ns is above MAX_VALUE_NS and goes to the overflow count")
    return hist_bucket_index(<uint64_t>value_ns)


def bucket_lower_bound(Py_ssize_t i) -> int:
    """Smallest value in ns that maps to bucket i."""
    return hist_bucket_lower(_check_bucket(i))


def bucket_upper_bound(Py_ssize_t i) -> int:
    """Largest value in ns that maps to bucket i (inclusive)."""
    return hist_bucket_upper(_check_bucket(i))


def bucket_midpoint(Py_ssize_t i) -> int:
    """Value reported for a quantile that falls in bucket i (before clamping to [min, max])."""
    return hist_bucket_mid(_check_bucket(i))


cdef _record_buffer(Histogram h, const int64_t[:] buf):
    cdef Py_ssize_t i, n = buf.shape[0], bad = -1
    with nogil:
        for i in range(n):
            if buf[i] < 0:
                bad = i
                break
        if bad < 0:
            for i in range(n):
                h.record_ns(buf[i])
    if bad >= 0:
        _check_value(buf[bad])


cdef _record_iterable(Histogram h, values):
    cdef list items = [int(v) for v in values]
    cdef int64_t v
    for x in items:
        v = x
        _check_value(v)
    for x in items:
        h.record_ns(<int64_t>x)


@cython.final
cdef class Histogram:
    """Latency histogram over 0 ns .. 60 s (+ overflow count), O(1) record.

    Not thread-safe: use one per writer thread and ``merge`` them for reporting.
    Empty histogram: percentiles, min, max and mean are 0.
    """

    def __cinit__(self):
        # tp_alloc zero-fills the object (counts included); only the sentinels need setting.
        self.min_ns = INT64_MAX
        self.max_ns = 0

    # ----------------------------------------------------------------- C API
    cdef int64_t value_at_quantile(self, double q) noexcept nogil:
        cdef uint64_t total = self.total_count
        cdef uint64_t in_buckets, rank, c, prev
        cdef double r
        cdef Py_ssize_t i, lo_i, hi_i
        cdef int64_t v
        if total == 0:
            return 0
        if not (q > 0.0):
            return self.min_ns
        if q >= 1.0:
            return self.max_ns
        r = ceil(q * <double>total)
        if r <= 1.0:
            return self.min_ns          # rank 1 is min, exactly
        if r >= <double>total:
            return self.max_ns          # rank count is max, exactly
        rank = <uint64_t>r
        in_buckets = total - self.overflow
        if rank > in_buckets:
            return self.max_ns
        lo_i = hist_bucket_index(<uint64_t>self.min_ns)
        hi_i = hist_bucket_index(<uint64_t>(self.max_ns if self.max_ns < VL_HIST_MAX_VALUE_NS
                                            else VL_HIST_MAX_VALUE_NS))
        # smallest i with (values in buckets <= i) >= rank; walk from the nearer end
        if rank <= in_buckets >> 1:
            c = 0
            i = lo_i
            while i < hi_i:
                c += self.counts[i]
                if c >= rank:
                    break
                i += 1
        else:
            c = in_buckets
            i = hi_i
            while i > lo_i:
                prev = c - self.counts[i]
                if prev < rank:
                    break
                c = prev
                i -= 1
        v = hist_bucket_mid(i)
        if v < self.min_ns:
            return self.min_ns
        if v > self.max_ns:
            return self.max_ns
        return v

    cdef uint64_t count_at_or_below(self, int64_t bound_ns) noexcept nogil:
        cdef uint64_t c = 0
        cdef Py_ssize_t i, last
        if self.total_count == 0 or bound_ns < self.min_ns:
            return 0
        if bound_ns >= self.max_ns:
            return self.total_count
        if bound_ns >= VL_HIST_MAX_VALUE_NS:
            return self.total_count - self.overflow
        last = hist_bucket_index(<uint64_t>bound_ns)
        if hist_bucket_upper(last) != bound_ns:
            last -= 1           # the straddling bucket counts as above the bound
        for i in range(hist_bucket_index(<uint64_t>self.min_ns), last + 1):
            c += self.counts[i]
        return c

    cdef void merge_from(self, Histogram other) noexcept nogil:
        cdef Py_ssize_t i
        cdef uint64_t old
        if other.total_count == 0:
            return
        for i in range(HIST_NBUCKETS):
            self.counts[i] += other.counts[i]
        self.total_count += other.total_count
        self.overflow += other.overflow
        old = self.sum_lo
        self.sum_lo = old + other.sum_lo
        self.sum_hi += other.sum_hi + (self.sum_lo < old)
        if other.min_ns < self.min_ns:
            self.min_ns = other.min_ns
        if other.max_ns > self.max_ns:
            self.max_ns = other.max_ns

    cpdef void reset(self) noexcept nogil:
        """Forget everything recorded (keeps the allocation)."""
        memset(self.counts, 0, sizeof(self.counts))
        self.total_count = 0
        self.overflow = 0
        self.sum_lo = 0
        self.sum_hi = 0
        self.min_ns = INT64_MAX
        self.max_ns = 0

    # ------------------------------------------------------------ Python API
    def record(self, int64_t value_ns) -> None:
        """Record one duration in ns (>= 0, else ValueError; > 60 s counts as overflow)."""
        _check_value(value_ns)
        self.record_ns(value_ns)

    def record_many(self, values) -> None:
        """Record every value of an int64 buffer (numpy int64 array, array('q'), ...).

        Any other iterable of ints is accepted too, elementwise (slower). All values are
        checked first: on a negative value ValueError is raised and nothing is recorded.
        """
        cdef const int64_t[:] buf
        try:
            buf = values
        except (TypeError, ValueError, BufferError):
            buf = None
        if buf is None:
            _record_iterable(self, values)
        else:
            _record_buffer(self, buf)

    def percentile(self, p) -> int:
        """Value at percentile p (0..100), nearest rank: the midpoint of the bucket holding
        the ceil(p/100 * count)-th smallest value, clamped to [min, max]. 0 if empty."""
        return self.value_at_quantile(_check_percentile(p))

    def percentiles(self, ps) -> list:
        """[self.percentile(p) for p in ps], all p validated before any is computed."""
        cdef list qs = [_check_percentile(p) for p in ps]
        return [self.value_at_quantile(q) for q in qs]

    def cumulative_at(self, bounds_ns) -> list:
        """Cumulative counts of recorded values <= each bound (ns), in the given order.

        For Prometheus-style buckets. Exact when a bound is a bucket upper bound (see
        bucket_upper_bound), is below 256 ns, below min or at/above max. Otherwise the
        bucket straddling the bound is counted as above it, i.e. the result is the exact
        count at a bound at most 1/128 (0.78 %) lower. Overflow values (> 60 s) are only
        counted by bounds >= max.
        """
        cdef list out = []
        cdef int64_t b
        for bound in bounds_ns:
            b = bound
            out.append(self.count_at_or_below(b))
        return out

    def snapshot_buckets(self) -> tuple:
        """(upper_bounds_ns, counts) of the non-empty buckets, ascending.

        Bounds are inclusive upper bounds (values in a bucket are <= its bound). When there
        is overflow it comes last, with bound = max (the largest value recorded).
        """
        cdef list uppers = [], counts = []
        cdef Py_ssize_t i, lo_i, hi_i
        if self.total_count != self.overflow:
            lo_i = hist_bucket_index(<uint64_t>self.min_ns)
            hi_i = hist_bucket_index(<uint64_t>(self.max_ns if self.max_ns < VL_HIST_MAX_VALUE_NS
                                                else VL_HIST_MAX_VALUE_NS))
            for i in range(lo_i, hi_i + 1):
                if self.counts[i]:
                    uppers.append(hist_bucket_upper(i))
                    counts.append(self.counts[i])
        if self.overflow:
            uppers.append(self.max_ns)
            counts.append(self.overflow)
        return uppers, counts

    def merge(self, Histogram other not None) -> None:
        """Add other's recorded values to this histogram (other is unchanged)."""
        self.merge_from(other)

    @property
    def count(self) -> int:
        """Number of values recorded (overflow included)."""
        return self.total_count

    @property
    def overflow_count(self) -> int:
        """Number of values recorded above MAX_VALUE_NS (60 s)."""
        return self.overflow

    @property
    def min(self) -> int:
        """Smallest value recorded (exact); 0 if empty."""
        return self.min_ns if self.total_count else 0

    @property
    def max(self) -> int:
        """Largest value recorded (exact, overflow included); 0 if empty."""
        return self.max_ns

    @property
    def sum(self) -> int:
        """Exact sum of the recorded values (128-bit accumulator)."""
        return (<object>self.sum_hi << 64) | self.sum_lo

    @property
    def mean(self) -> float:
        """Exact sum / count as a float; 0.0 if empty."""
        if self.total_count == 0:
            return 0.0
        return self.sum / self.total_count

    def __repr__(self) -> str:
        if self.total_count == 0:
            return "Histogram(count=0)"
        p50, p99, p999 = self.percentiles((50, 99, 99.9))
        return (f"Histogram(count={self.total_count}, min={self.min}, p50={p50}, "
                f"p99={p99}, p99.9={p999}, max={self.max_ns}, overflow={self.overflow})")


def _bench_record(Histogram h not None, Py_ssize_t n) -> int:
    """Benchmark helper: record n xorshift64 pseudo-random values from C without the GIL.

    Values are spread log-uniformly over ~1 ns .. 34 s (a random 35-bit number shifted
    right by 0..31 bits), so the counter writes hit buckets all over the array.
    Returns n.
    """
    cdef uint64_t x = 0x9E3779B97F4A7C15
    cdef Py_ssize_t i
    with nogil:
        for i in range(n):
            x ^= x << 13
            x ^= x >> 7
            x ^= x << 17
            h.record_ns(<int64_t>((x >> 29) >> (x & 31)))
    return n
