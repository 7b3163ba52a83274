# SPDX-License-Identifier: Apache-2.0
# What a strategy reads of a book: a handle on the live C book of one FeedSymbol, made once per
# symbol and handed to every callback (no object built per message).
from venuelink.ext.book cimport L2Book
from venuelink.ext.sync cimport BookSync
from venuelink.ext.feed cimport FeedSymbol

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
    cdef list _side_top(self, int side, Py_ssize_t n)
