# SPDX-License-Identifier: Apache-2.0
# Normalized events that leave the hot path for strategies: small final classes with a free
# list, filled field by field from C (no argument parsing, no per-event dict).
from libc.stdint cimport int64_t

cdef class Trade:
    cdef readonly object venue
    """venuelink.model.VenueId"""
    cdef readonly object instrument
    """venuelink.model.Instrument"""
    cdef object _trade_id            # str, or None when the venue's id is the integer below
    cdef readonly int64_t trade_id_int
    cdef readonly int64_t price
    """price mantissa at instrument.px_scale"""
    cdef readonly int64_t size
    """size mantissa at instrument.qty_scale"""
    cdef readonly object side
    """venuelink.model.Side of the taker"""
    cdef readonly int64_t ts_exchange
    cdef readonly int64_t ts_recv
    cdef readonly int64_t ts_event
    cdef public bint block
    """a block trade (negotiated off the book, printed on the tape: Bybit BT), where the venue says"""

cdef Trade new_trade(object venue, object instrument, int64_t trade_id, int64_t price, int64_t size,
                     object side, int64_t ts_exchange, int64_t ts_recv, int64_t ts_event)

cdef Trade new_trade_str(object venue, object instrument, str trade_id, int64_t price, int64_t size,
                         object side, int64_t ts_exchange, int64_t ts_recv, int64_t ts_event)
