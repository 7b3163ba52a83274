# SPDX-License-Identifier: Apache-2.0
"""L2 order book: sorted C arrays of (price, size) int64 fixed-point levels, best level last.

Layout: each side is one ascending array of `Level{key, qty}` where key = price for bids and
-price for asks, so the best level of either side is the last element. Updates near the top
(where almost all venue deltas land) find their slot with a short backward scan and move only
the few levels above it. Levels dropped by a depth cap are the worst, at the low end, which is
O(1): the window start `lo` moves up. Memory grows geometrically off the common path.
"""
cimport cython
from libc.stdint cimport int64_t, INT64_MIN
from libc.stdlib cimport malloc, realloc, free, qsort
from libc.string cimport memmove
from cpython.array cimport array
from venuelink.ext.types cimport px_t, qty_t, Side, BID, ASK
from venuelink.ext.decimal cimport vl_parse_fixed, raise_fx, VL_FX_OK

cdef enum:
    SCAN_TOP = 16          # levels scanned linearly from the top before binary search
    INITIAL_CAP = 64


class BookError(ValueError):
    """Invalid book input: negative size, price out of range, unknown side."""


cdef int _ladder_init(Ladder *l, Py_ssize_t cap) except -1 nogil:
    l.lv = <Level *>malloc(cap * sizeof(Level))
    if l.lv == NULL:
        with gil:
            raise MemoryError()
    l.lo = 0
    l.hi = 0
    l.cap = cap
    return 0


cdef int _ladder_recentre(Ladder *l, Py_ssize_t lo) except -1 nogil:
    """Move the levels to start at `lo`, growing the array first when they would not fit with
    room to spare at both ends (inserts at either end are then O(1) amortized)."""
    cdef Py_ssize_t n = l.hi - l.lo
    cdef Level *p
    if 2 * (n + 1) > l.cap:
        p = <Level *>realloc(l.lv, 2 * l.cap * sizeof(Level))
        if p == NULL:
            with gil:
                raise MemoryError()
        l.lv = p
        l.cap *= 2
        lo = (l.cap - n) // 2
    memmove(l.lv + lo, l.lv + l.lo, n * sizeof(Level))
    l.lo = lo
    l.hi = lo + n
    return 0


cdef int _ladder_reserve_top(Ladder *l) except -1 nogil:
    """Make room for one more level at the high end (the best side: most inserts land there,
    so a quarter of the spare room stays below the worst level)."""
    if l.hi < l.cap:
        return 0
    return _ladder_recentre(l, (l.cap - (l.hi - l.lo)) // 4)


cdef int _ladder_reserve_bottom(Ladder *l) except -1 nogil:
    """Make room for one more level below the worst one (a venue that lists new levels worst
    last: without this every one of them would move the whole side)."""
    if l.lo > 0:
        return 0
    return _ladder_recentre(l, (l.cap - (l.hi - l.lo)) // 2)


cdef inline Py_ssize_t _find(const Ladder *l, int64_t key) noexcept nogil:
    """Index of the first level with lv.key >= key within [lo, hi] (hi if none)."""
    cdef Py_ssize_t i = l.hi, stop = l.hi - SCAN_TOP, lo, hi, mid
    if stop < l.lo:
        stop = l.lo
    while i > stop and l.lv[i - 1].key >= key:
        i -= 1
    if i > stop or i == l.lo:
        return i
    lo = l.lo
    hi = i
    while lo < hi:
        mid = (lo + hi) >> 1
        if l.lv[mid].key < key:
            lo = mid + 1
        else:
            hi = mid
    return lo


cdef int _cmp_level(const void *a, const void *b) noexcept nogil:
    cdef int64_t ka = (<const Level *>a).key, kb = (<const Level *>b).key
    return (ka > kb) - (ka < kb)


@cython.final
cdef class L2Book:
    def __cinit__(self, int px_scale=8, int qty_scale=8, Py_ssize_t depth_cap=0):
        if not (0 <= px_scale <= 18 and 0 <= qty_scale <= 18):
            raise ValueError("scales must be 0..18")
        if depth_cap < 0:
            raise ValueError("depth_cap must be >= 0")
        _ladder_init(&self._bids, INITIAL_CAP)
        _ladder_init(&self._asks, INITIAL_CAP)
        self.px_scale = px_scale
        self.qty_scale = qty_scale
        self.depth_cap = depth_cap
        self.seq = -1
        self.prev_seq = -1

    def __dealloc__(self):
        free(self._bids.lv)
        free(self._asks.lv)

    # ---- C API -------------------------------------------------------------------------
    cdef Ladder *_side(self, int side) noexcept nogil:
        if side == BID:
            return &self._bids
        if side == ASK:
            return &self._asks
        return NULL

    cdef int apply_level(self, int side, px_t px, qty_t qty) except -1 nogil:
        """Set the size at a price (absolute size; 0 deletes). Returns an ApplyResult."""
        cdef Ladder *l = self._side(side)
        cdef int64_t key
        cdef Py_ssize_t i, n
        if l == NULL or qty < 0 or px == INT64_MIN:
            with gil:
                if l == NULL:
                    raise BookError(f"unknown side {side}")
                if qty < 0:
                    raise BookError(f"negative size {qty}")
                raise BookError("price out of range")
        key = px if side == BID else -px
        i = _find(l, key)
        self.n_updates += 1
        if i < l.hi and l.lv[i].key == key:
            if qty == 0:
                # close the hole from the nearer end
                if i - l.lo < l.hi - i - 1:
                    memmove(l.lv + l.lo + 1, l.lv + l.lo, (i - l.lo) * sizeof(Level))
                    l.lo += 1
                else:
                    memmove(l.lv + i, l.lv + i + 1, (l.hi - i - 1) * sizeof(Level))
                    l.hi -= 1
                return APPLY_DELETED
            l.lv[i].qty = qty
            return APPLY_UPDATED
        if qty == 0:
            return APPLY_MISSING_DELETE
        n = l.hi - l.lo
        if self.depth_cap and n >= self.depth_cap and i == l.lo:
            return APPLY_BEYOND_CAP    # worse than every level of a full capped book: not kept
        if i - l.lo < l.hi - i:
            # nearer the worst end: the worse levels move down one
            if l.lo == 0:
                i -= l.lo
                _ladder_reserve_bottom(l)
                i += l.lo
            memmove(l.lv + l.lo - 1, l.lv + l.lo, (i - l.lo) * sizeof(Level))
            l.lo -= 1
            i -= 1
        else:
            if l.hi == l.cap:
                i -= l.lo
                _ladder_reserve_top(l)
                i += l.lo
            memmove(l.lv + i + 1, l.lv + i, (l.hi - i) * sizeof(Level))
            l.hi += 1
        l.lv[i].key = key
        l.lv[i].qty = qty
        if self.depth_cap and l.hi - l.lo > self.depth_cap:
            l.lo = l.hi - self.depth_cap
        return APPLY_INSERTED

    cdef int set_side(self, int side, const px_t *px, const qty_t *qty, Py_ssize_t n) except -1 nogil:
        """Replace one side with n levels in any order (snapshot). For a repeated price the last
        one wins; zero sizes leave no level."""
        cdef Ladder *l = self._side(side)
        cdef Py_ssize_t i, j, cap
        cdef Level *p
        cdef int sgn = 1 if side == BID else -1
        if l == NULL:
            with gil:
                raise BookError(f"unknown side {side}")
        for i in range(n):
            if qty[i] < 0 or px[i] == INT64_MIN:
                with gil:
                    raise BookError(f"negative size or bad price in snapshot level {i}")
        cap = l.cap
        while cap < n + 1:
            cap *= 2
        if cap != l.cap:
            p = <Level *>realloc(l.lv, cap * sizeof(Level))
            if p == NULL:
                with gil:
                    raise MemoryError()
            l.lv = p
            l.cap = cap
        for i in range(n):
            l.lv[i].key = sgn * px[i]
            l.lv[i].qty = qty[i]
        # a repeated price keeps its last occurrence (a later 0 removes it): stable sort, dedupe,
        # then drop zero sizes
        _sort_keep_last(l.lv, n)
        n = _dedupe_keep_last(l.lv, n)
        j = 0
        for i in range(n):
            if l.lv[i].qty != 0:
                l.lv[j] = l.lv[i]
                j += 1
        l.lo = 0
        l.hi = j
        if self.depth_cap and l.hi > self.depth_cap:
            l.lo = l.hi - self.depth_cap
        return 0

    cdef void trim(self) noexcept nogil:
        """Cut both sides to depth_cap (after a message applied whole with the cap off)."""
        if self.depth_cap:
            if self._bids.hi - self._bids.lo > self.depth_cap:
                self._bids.lo = self._bids.hi - self.depth_cap
            if self._asks.hi - self._asks.lo > self.depth_cap:
                self._asks.lo = self._asks.hi - self.depth_cap

    cdef void clear_levels(self) noexcept nogil:
        self._bids.lo = self._bids.hi = 0
        self._asks.lo = self._asks.hi = 0

    cdef Py_ssize_t count(self, int side) noexcept nogil:
        cdef Ladder *l = self._side(side)
        return 0 if l == NULL else l.hi - l.lo

    cdef bint level_at(self, int side, Py_ssize_t i, px_t *px, qty_t *qty) noexcept nogil:
        """i-th level from the top (0 = best). False when there is no such level."""
        cdef Ladder *l = self._side(side)
        if l == NULL or i < 0 or i >= l.hi - l.lo:
            return False
        cdef Level *lv = &l.lv[l.hi - 1 - i]
        px[0] = lv.key if side == BID else -lv.key
        qty[0] = lv.qty
        return True

    cdef bint crossed(self) noexcept nogil:
        if self._bids.hi == self._bids.lo or self._asks.hi == self._asks.lo:
            return False
        return self._bids.lv[self._bids.hi - 1].key >= -self._asks.lv[self._asks.hi - 1].key

    # ---- Python API (tools, tests, cold paths) -----------------------------------------
    def apply(self, int side, int64_t px, int64_t qty) -> int:
        """Apply one level (mantissas). Returns 1 inserted, 2 updated, 3 deleted, 4 delete of a
        missing level, 5 not kept (worse than every level of a full depth-capped side)."""
        return self.apply_level(side, px, qty)

    def _bench_new_levels(self, int side, int64_t start, int64_t step, Py_ssize_t n) -> None:
        """Benchmark helper: n new levels at start, start + step, ... (step < 0 on the bid side
        lists them best first, as a venue's snapshot-sized delta does)."""
        cdef Py_ssize_t i
        with nogil:
            for i in range(n):
                self.apply_level(side, start + i * step, 1)

    def apply_many(self, int side, const int64_t[::1] px, const int64_t[::1] qty) -> None:
        """Apply arrays of levels from C in one call (benchmarks, bulk replays)."""
        cdef Py_ssize_t i, n = px.shape[0]
        if qty.shape[0] != n:
            raise ValueError("px and qty lengths differ")
        with nogil:
            for i in range(n):
                self.apply_level(side, px[i], qty[i])

    def apply_str(self, int side, str px, str qty) -> int:
        """Apply a level given as venue decimal strings."""
        cdef int64_t p = 0, q = 0
        cdef bytes bp = px.encode("ascii", "replace"), bq = qty.encode("ascii", "replace")
        cdef int rc = vl_parse_fixed(bp, len(bp), self.px_scale, &p)
        if rc != VL_FX_OK:
            raise_fx(rc, bp, len(bp), self.px_scale)
        rc = vl_parse_fixed(bq, len(bq), self.qty_scale, &q)
        if rc != VL_FX_OK:
            raise_fx(rc, bq, len(bq), self.qty_scale)
        return self.apply_level(side, p, q)

    def snapshot(self, bids, asks) -> None:
        """Replace the whole book with iterables of (px, qty) mantissa pairs."""
        for side, pairs in ((BID, bids), (ASK, asks)):
            pairs = list(pairs)
            self.set_levels(side, array("q", [p for p, _ in pairs]), array("q", [q for _, q in pairs]))

    def set_levels(self, int side, const int64_t[::1] px, const int64_t[::1] qty) -> None:
        """Replace one side from int64 arrays of mantissas (any order; zero sizes skipped)."""
        cdef Py_ssize_t n = px.shape[0]
        if qty.shape[0] != n:
            raise ValueError("px and qty lengths differ")
        if n == 0:
            self.set_side(side, NULL, NULL, 0)
        else:
            self.set_side(side, &px[0], &qty[0], n)

    def clear(self) -> None:
        self.clear_levels()
        self.seq = -1
        self.prev_seq = -1

    def best_bid(self):
        """(px, qty) mantissas of the best bid, or None."""
        cdef px_t p = 0
        cdef qty_t q = 0
        return (p, q) if self.level_at(BID, 0, &p, &q) else None

    def best_ask(self):
        cdef px_t p = 0
        cdef qty_t q = 0
        return (p, q) if self.level_at(ASK, 0, &p, &q) else None

    def top(self, int side, Py_ssize_t n=5) -> list:
        """Up to n (px, qty) pairs from the best level down."""
        cdef px_t p = 0
        cdef qty_t q = 0
        cdef Py_ssize_t i
        out = []
        for i in range(n):
            if not self.level_at(side, i, &p, &q):
                break
            out.append((p, q))
        return out

    def levels(self, int side) -> list:
        return self.top(side, self.count(side))

    def depth(self, int side) -> int:
        return self.count(side)

    def is_crossed(self) -> bool:
        return self.crossed()

    def __len__(self):
        return self.count(BID) + self.count(ASK)

    def __repr__(self):
        return (f"L2Book(bids={self.count(BID)}, asks={self.count(ASK)}, best_bid={self.best_bid()}, "
                f"best_ask={self.best_ask()}, seq={self.seq})")


cdef void _sort_keep_last(Level *lv, Py_ssize_t n) noexcept nogil:
    # Venues send snapshots sorted (best-first or ascending): detect that in one pass and avoid
    # sorting; otherwise a stable merge sort so _dedupe_keep_last sees duplicates in input order.
    cdef Py_ssize_t i
    cdef bint asc = True, desc = True
    cdef Level t
    for i in range(1, n):
        if lv[i].key < lv[i - 1].key:
            asc = False
        else:
            desc = False
    if asc:
        return
    if desc:
        for i in range(n // 2):
            t = lv[i]
            lv[i] = lv[n - 1 - i]
            lv[n - 1 - i] = t
        return
    _merge_sort(lv, n)


cdef void _merge_sort(Level *lv, Py_ssize_t n) noexcept nogil:
    """Stable bottom-up merge sort (duplicates keep input order)."""
    cdef Level *tmp = <Level *>malloc(n * sizeof(Level))
    cdef Level *src = lv
    cdef Level *dst = tmp
    cdef Level *sw
    cdef Py_ssize_t width = 1, i, l, m, r, a, b, k
    if tmp == NULL:
        qsort(lv, n, sizeof(Level), _cmp_level)   # not stable, but never fails
        return
    while width < n:
        i = 0
        while i < n:
            l = i
            m = min(i + width, n)
            r = min(i + 2 * width, n)
            a = l
            b = m
            k = l
            while a < m and b < r:
                if src[b].key < src[a].key:
                    dst[k] = src[b]
                    b += 1
                else:
                    dst[k] = src[a]
                    a += 1
                k += 1
            while a < m:
                dst[k] = src[a]
                a += 1
                k += 1
            while b < r:
                dst[k] = src[b]
                b += 1
                k += 1
            i += 2 * width
        sw = src
        src = dst
        dst = sw
        width *= 2
    if src != lv:
        memmove(lv, src, n * sizeof(Level))
    free(tmp)


cdef Py_ssize_t _dedupe_keep_last(Level *lv, Py_ssize_t n) noexcept nogil:
    cdef Py_ssize_t i, j = 0
    for i in range(n):
        if j > 0 and lv[j - 1].key == lv[i].key:
            lv[j - 1] = lv[i]
        else:
            lv[j] = lv[i]
            j += 1
    return j
