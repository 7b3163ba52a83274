# SPDX-License-Identifier: Apache-2.0
# What a strategy reads of a book: a handle on the live C book of one FeedSymbol, made once per
# symbol and handed to every callback (no object built per message).
from venuelink.ext.book cimport L2Book
from venuelink.ext.sync cimport BookSync
from venuelink.ext.feed cimport FeedSymbol
from libc.stdint cimport int64_t
from cpython.ref cimport PyObject

cdef struct TextSlot:
    int64_t px
    int64_t qty          # level slots: the size too; price slots: unused
    PyObject *text       # a str (price slots) or a (price, size) tuple of str (level slots); NULL: empty

cdef struct TextCache:
    TextSlot px[64]      # price mantissa -> its decimal text
    TextSlot level[128]  # (price, size) mantissas -> the level's tuple of texts

cdef class BookHandle:
    cdef readonly object venue
    cdef readonly object instrument
    """venuelink.model.Instrument"""
    cdef readonly FeedSymbol fs
    cdef readonly str symbol
    """the instrument's unified symbol"""
    cdef L2Book _book
    cdef BookSync _sync
    cdef int _px_scale
    cdef int _qty_scale
    cdef TextCache *_cache             # top()'s texts, made on its first call (NULL until then)
    cdef object _level(self, int64_t px, int64_t qty)
    cdef list _side_top(self, int side, Py_ssize_t n)
