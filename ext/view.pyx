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
"""
cimport cython
from libc.stdint cimport int64_t
from libc.string cimport memcpy
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
        return self._side_top(BID, n), self._side_top(ASK, n)

    cdef list _side_top(self, int side, Py_ssize_t n):
        cdef Ladder *l = &self._book._bids if side == BID else &self._book._asks
        cdef Level *lv
        cdef Py_ssize_t i, k = l.hi - l.lo
        cdef int64_t px
        cdef list out = []
        if n < k:
            k = n
        for i in range(k):
            lv = &l.lv[l.hi - 1 - i]
            px = lv.key if side == BID else -lv.key
            out.append((_decimal(px, self._px_scale), _decimal(lv.qty, self._qty_scale)))
        return out

    def __repr__(self):
        return (f"{type(self).__name__}({getattr(self.venue, 'name', self.venue)} {self.symbol}, "
                f"state={self._sync.state}, seq={self._book.seq}, best_bid={self.best_bid()}, "
                f"best_ask={self.best_ask()})")
