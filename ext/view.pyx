# SPDX-License-Identifier: Apache-2.0
"""A strategy's view of a book: a handle on the live C book of one FeedSymbol.

Made once per subscribed symbol and handed to every book callback, so no Python object is built
per message. Every read goes to the book as it is at that moment: inside a callback that is the
book just updated; kept and read later it is whatever the book has become since (its `state`
says whether it is still LIVE). A strategy that keeps a book keeps a copy (the engine's
`BookView.snapshot()`).

Reads are C: the best levels straight from the ladders, `top(n)`'s decimal strings formatted from
the mantissas at the instrument's scales (vl_format_fixed, the same text as
`venuelink.ext.decimal.format`). ext/ref/view_ref.py is the same reads in Python.

`top(n)` keeps the texts it made in a small direct-mapped cache (one per handle, made on its
first call, about 5 KB): a level whose price and size are unchanged since an earlier read returns the same
immutable (price, size) tuple, a known price its string; only what changed is formatted.
"""
cimport cython
from libc.stdint cimport int64_t, uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport PyObject, Py_INCREF, Py_XDECREF
from venuelink.ext.book cimport Ladder, Level
from venuelink.ext.decimal cimport vl_format_fixed
from venuelink.ext.sync cimport BOOK_LIVE
from venuelink.ext.types cimport BID, ASK


cdef extern from "Python.h":
    object PyUnicode_New(Py_ssize_t size, Py_UCS4 maxchar)
    void *PyUnicode_DATA(object o)


cdef inline str _decimal(int64_t v, int scale):
    """The canonical decimal text of mantissa v at scale (0..18: the book's scales are checked)."""
    cdef char buf[48]
    cdef int n = vl_format_fixed(v, scale, -1, buf)
    s = PyUnicode_New(n, 127)
    memcpy(PyUnicode_DATA(s), buf, n)
    return <str>s


cdef inline size_t _slot(int64_t v, int bits) noexcept nogil:
    return <size_t>((<uint64_t>v * 0x9E3779B97F4A7C15ULL) >> (64 - bits))


cdef inline void _keep(TextSlot *s, int64_t px, int64_t qty, object text) noexcept:
    Py_INCREF(text)
    Py_XDECREF(s.text)
    s.text = <PyObject *>text
    s.px = px
    s.qty = qty


cdef class BookHandle:
    """The live book of one symbol (see the module's docstring): `best_bid()` / `best_ask()` ->
    (price, size) mantissas or None, `best_bid_px()` / `best_ask_px()` -> the price mantissa or
    None, `top(n)` -> (bids, asks) lists of (price, size) decimal strings, best first."""

    def __cinit__(self, venue, instrument, FeedSymbol fs not None):
        self.venue = venue
        self.instrument = instrument
        self.fs = fs
        self.symbol = instrument.symbol
        self._book = fs.book
        self._sync = fs.sync
        self._px_scale = fs.book.px_scale
        self._qty_scale = fs.book.qty_scale

    def __dealloc__(self):
        cdef Py_ssize_t i
        if self._cache != NULL:
            for i in range(64):
                Py_XDECREF(self._cache.px[i].text)
            for i in range(128):
                Py_XDECREF(self._cache.level[i].text)
            free(self._cache)

    @property
    def state(self) -> int:
        """The book's state now (BookStateC: 2 is LIVE)."""
        return self._sync.state

    @property
    def is_live(self) -> bool:
        """The book is LIVE now (its levels are the venue's)."""
        return self._sync.state == BOOK_LIVE

    @property
    def seq(self) -> int:
        """The venue's sequence / update id of the last message applied."""
        return self._book.seq

    def best_bid(self):
        """(price, size) mantissas of the best bid, or None."""
        cdef Ladder *l = &self._book._bids
        if l.hi == l.lo:
            return None
        return (l.lv[l.hi - 1].key, l.lv[l.hi - 1].qty)

    def best_ask(self):
        """(price, size) mantissas of the best ask, or None."""
        cdef Ladder *l = &self._book._asks
        if l.hi == l.lo:
            return None
        return (-l.lv[l.hi - 1].key, l.lv[l.hi - 1].qty)

    def best_bid_px(self):
        """Price mantissa of the best bid, or None."""
        cdef Ladder *l = &self._book._bids
        if l.hi == l.lo:
            return None
        return l.lv[l.hi - 1].key

    def best_ask_px(self):
        """Price mantissa of the best ask, or None."""
        cdef Ladder *l = &self._book._asks
        if l.hi == l.lo:
            return None
        return -l.lv[l.hi - 1].key

    def top(self, Py_ssize_t n=5):
        """(bids, asks): up to n levels a side, best first, as (price, size) decimal strings."""
        if self._cache == NULL:
            self._cache = <TextCache *>calloc(1, sizeof(TextCache))
            if self._cache == NULL:
                raise MemoryError()
        return self._side_top(BID, n), self._side_top(ASK, n)

    cdef object _level(self, int64_t px, int64_t qty):
        """The (price, size) texts of a level, from the cache when this level was read before."""
        cdef TextSlot *ls = &self._cache.level[_slot(<int64_t>(<uint64_t>px ^ (<uint64_t>qty * 0x2545F4914F6CDD1DULL)), 7)]
        cdef TextSlot *ps
        if ls.text != NULL and ls.px == px and ls.qty == qty:
            return <object>ls.text
        ps = &self._cache.px[_slot(px, 6)]
        if ps.text == NULL or ps.px != px:
            _keep(ps, px, 0, _decimal(px, self._px_scale))
        level = (<object>ps.text, _decimal(qty, self._qty_scale))
        _keep(ls, px, qty, level)
        return level

    cdef list _side_top(self, int side, Py_ssize_t n):
        cdef Ladder *l = &self._book._bids if side == BID else &self._book._asks
        cdef Level *lv
        cdef Py_ssize_t i, k = l.hi - l.lo
        cdef int64_t px
        cdef object level
        if n < k:
            k = n if n > 0 else 0
        cdef list out = PyList_New(k)           # made at its size: no growth, no append
        for i in range(k):
            lv = &l.lv[l.hi - 1 - i]
            px = lv.key if side == BID else -lv.key
            level = self._level(px, lv.qty)
            Py_INCREF(level)                    # PyList_SET_ITEM takes the reference
            PyList_SET_ITEM(out, i, level)
        return out

    def __repr__(self):
        return (f"{type(self).__name__}({getattr(self.venue, 'name', self.venue)} {self.symbol}, "
                f"state={self._sync.state}, seq={self._book.seq}, best_bid={self.best_bid()}, "
                f"best_ask={self.best_ask()})")


# ---- benchmark helpers (bench/callgrind_workload.py's "view" section) -----------------------
# Each read is a call of the bound method from C (vectorcall, argument parsing, the result made and
# dropped): what a strategy's call costs, less the interpreter's own dispatch of it.

def _bench_best_pair(BookHandle h not None, Py_ssize_t n) -> int:
    """Benchmark helper: best_bid() then best_ask(), n times from C; returns the reads that found a
    level."""
    cdef Py_ssize_t i, hits = 0
    bid = h.best_bid
    ask = h.best_ask
    for i in range(n):
        hits += bid() is not None
        hits += ask() is not None
    return hits


def _bench_best_px(BookHandle h not None, Py_ssize_t n) -> int:
    """Benchmark helper: best_bid_px(), n times from C; returns the reads that found a level."""
    cdef Py_ssize_t i, hits = 0
    px = h.best_bid_px
    for i in range(n):
        hits += px() is not None
    return hits


def _bench_top_cached(BookHandle h not None, Py_ssize_t n) -> int:
    """Benchmark helper: top(5), n times from C on a book that does not change (after a first top()
    outside, every level comes from the handle's text cache); returns the levels read."""
    cdef Py_ssize_t i, levels = 0
    top = h.top
    for i in range(n):
        bids, asks = top(5)
        levels += len(bids) + len(asks)
    return levels


def _bench_top_changing(BookHandle h not None, Py_ssize_t n, int64_t qty0) -> int:
    """Benchmark helper: top(5), n times from C, the sizes of the 5 best levels a side set before
    each read to qty0 + i (read i), written in place in the ladders: prices and the rest of the book
    stay, and every level read is new to the handle's level cache (its price is cached): the path
    that formats. Alternating between two sizes would not do: their 20 levels fit the cache.
    Returns the levels read."""
    cdef Py_ssize_t i, j, levels = 0
    cdef Ladder *l
    cdef int side
    top = h.top
    for i in range(n):
        for side in (BID, ASK):
            l = h._book._side(side)
            for j in range(min(5, l.hi - l.lo)):
                l.lv[l.hi - 1 - j].qty = qty0 + i
        bids, asks = top(5)
        levels += len(bids) + len(asks)
    return levels
