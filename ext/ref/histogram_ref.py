# SPDX-License-Identifier: Apache-2.0
"""Pure-Python reference twin of venuelink.ext.histogram, for differential tests.

It keeps every raw value and answers exactly:
  * percentile(p) is the nearest-rank value: the ceil(p/100 * n)-th smallest (at least the
    1st), computed with the same float expression as the extension, so both pick the same
    rank. That is numpy.percentile(values, p, method="inverted_cdf").
  * cumulative_at(b) is the exact number of values <= b.
It also re-derives the extension's bucket layout in plain integer arithmetic (bucket_index,
bucket_lower_bound, ...), so tests can cross-check the C bit tricks.
Same conventions as the extension: values are int ns >= 0 (ValueError otherwise), values above
MAX_VALUE_NS count as overflow, an empty histogram reports 0 for percentiles/min/max/mean.
"""
from __future__ import annotations

import bisect
import math
from collections.abc import Iterable, Sequence

SUB_BUCKET_BITS = 7
SUB_BUCKET_COUNT = 1 << SUB_BUCKET_BITS          # 128 linear sub-buckets per power of two
EXACT_LIMIT = 2 * SUB_BUCKET_COUNT              # 0..255 ns: one bucket per value
MAX_VALUE_NS = 60 * 1_000_000_000


def _bucket_shift_of_value(v: int) -> int:
    return max(0, v.bit_length() - 1 - SUB_BUCKET_BITS)


def bucket_index(value_ns: int) -> int:
    if not 0 <= value_ns <= MAX_VALUE_NS:
        raise ValueError(f"value out of the bucketed range: {value_ns}")
    s = _bucket_shift_of_value(value_ns)
    return s * SUB_BUCKET_COUNT + (value_ns >> s)


NBUCKETS = bucket_index(MAX_VALUE_NS) + 1


def _bucket_shift(i: int) -> int:
    return max(0, i // SUB_BUCKET_COUNT - 1)


def bucket_lower_bound(i: int) -> int:
    s = _bucket_shift(i)
    return (i - s * SUB_BUCKET_COUNT) << s


def bucket_upper_bound(i: int) -> int:
    return min(bucket_lower_bound(i) + (1 << _bucket_shift(i)) - 1, MAX_VALUE_NS)


def bucket_midpoint(i: int) -> int:
    return bucket_lower_bound(i) + ((1 << _bucket_shift(i)) >> 1)


def nearest_rank(n: int, p: float) -> int:
    """1-based rank of percentile p (0..100) among n sorted values."""
    r = math.ceil((p / 100.0) * n)
    return min(max(r, 1), n)


class HistogramRef:
    def __init__(self) -> None:
        self.values: list[int] = []
        self._sorted = True

    def record(self, value_ns: int) -> None:
        value_ns = int(value_ns)
        if value_ns < 0:
            raise ValueError(f"negative value: {value_ns}")
        self.values.append(value_ns)
        self._sorted = False

    def record_many(self, values: Iterable[int]) -> None:
        items = [int(v) for v in values]
        if any(v < 0 for v in items):
            raise ValueError("negative value")
        self.values.extend(items)
        self._sorted = False

    def _sorted_values(self) -> list[int]:
        if not self._sorted:
            self.values.sort()
            self._sorted = True
        return self.values

    def percentile(self, p: float) -> int:
        p = float(p)
        if not 0.0 <= p <= 100.0:
            raise ValueError(f"percentile must be within [0, 100], got {p!r}")
        if not self.values:
            return 0
        vs = self._sorted_values()
        return vs[nearest_rank(len(vs), p) - 1]

    def percentiles(self, ps: Iterable[float]) -> list[int]:
        return [self.percentile(p) for p in ps]

    def cumulative_at(self, bounds_ns: Sequence[int]) -> list[int]:
        vs = self._sorted_values()
        return [bisect.bisect_right(vs, b) for b in bounds_ns]

    def merge(self, other: HistogramRef) -> None:
        self.values.extend(other.values)
        self._sorted = False

    def reset(self) -> None:
        self.values.clear()
        self._sorted = True

    @property
    def count(self) -> int:
        return len(self.values)

    @property
    def overflow_count(self) -> int:
        return sum(1 for v in self.values if v > MAX_VALUE_NS)

    @property
    def min(self) -> int:
        return min(self.values, default=0)

    @property
    def max(self) -> int:
        return max(self.values, default=0)

    @property
    def sum(self) -> int:
        return sum(self.values)

    @property
    def mean(self) -> float:
        return self.sum / len(self.values) if self.values else 0.0

    def snapshot_buckets(self) -> tuple[list[int], list[int]]:
        """Same shape as the extension's: bucket upper bounds + counts, overflow last."""
        counts: dict[int, int] = {}
        for v in self.values:
            if v <= MAX_VALUE_NS:
                i = bucket_index(v)
                counts[i] = counts.get(i, 0) + 1
        idx = sorted(counts)
        uppers = [bucket_upper_bound(i) for i in idx]
        cs = [counts[i] for i in idx]
        if self.overflow_count:
            uppers.append(self.max)
            cs.append(self.overflow_count)
        return uppers, cs
