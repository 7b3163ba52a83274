# SPDX-License-Identifier: Apache-2.0
"""Normalized events handed to strategies (see events.pxd)."""
cimport cython
from libc.stdint cimport int64_t


from decimal import Decimal as _Decimal


@cython.final
@cython.freelist(256)
cdef class Trade:
    """One trade: exact price/size mantissas, the taker's side, integer-ns timestamps."""

    def __init__(self, venue, instrument, trade_id, int64_t price, int64_t size, side, int64_t ts_exchange,
                 int64_t ts_recv, int64_t ts_event=0):
        self.venue = venue
        self.instrument = instrument
        if isinstance(trade_id, int):
            self.trade_id_int = trade_id
            self._trade_id = None
        else:
            self.trade_id_int = -1
            self._trade_id = str(trade_id)
        self.price = price
        self.size = size
        self.side = side
        self.ts_exchange = ts_exchange
        self.ts_recv = ts_recv
        self.ts_event = ts_event

    @property
    def trade_id(self) -> str:
        if self._trade_id is None:
            self._trade_id = str(self.trade_id_int)
        return self._trade_id

    @property
    def symbol(self) -> str:
        """The unified symbol (``BTC/USDT``, ``BTC/USDT:USDT``)."""
        return self.instrument.symbol

    @property
    def price_str(self) -> str:
        """The exact price as a decimal string (``"60001.06"``)."""
        return self.instrument.px_str(self.price)

    @property
    def size_str(self) -> str:
        """The exact size as a decimal string, in the instrument's unit (contracts for contract swaps)."""
        return self.instrument.qty_str(self.size)

    @property
    def price_decimal(self):
        """The exact price as a ``decimal.Decimal`` (built on each call: the integer field is the fast one)."""
        return _Decimal(self.instrument.px_str(self.price))

    @property
    def size_decimal(self):
        """The exact size as a ``decimal.Decimal``."""
        return _Decimal(self.instrument.qty_str(self.size))

    def to_json(self) -> dict:
        i = self.instrument
        return {"type": "trade", "venue": self.venue.name, "symbol": i.symbol, "ts_exchange": self.ts_exchange,
                "ts_recv": self.ts_recv, "price": i.px_str(self.price), "size": i.qty_str(self.size),
                "side": self.side.wire, "trade_id": self.trade_id, **i.contract_fields(),
                **({"block": True} if self.block else {})}

    def __repr__(self):
        return (f"Trade({self.venue.name} {self.instrument.symbol} {self.side.wire} "
                f"{self.instrument.qty_str(self.size)} @ {self.instrument.px_str(self.price)} id={self.trade_id})")


cdef Trade new_trade(object venue, object instrument, int64_t trade_id, int64_t price, int64_t size,
                     object side, int64_t ts_exchange, int64_t ts_recv, int64_t ts_event):
    cdef Trade t = Trade.__new__(Trade)
    t.venue = venue
    t.instrument = instrument
    t.trade_id_int = trade_id
    t._trade_id = None
    t.price = price
    t.size = size
    t.side = side
    t.ts_exchange = ts_exchange
    t.ts_recv = ts_recv
    t.ts_event = ts_event
    return t


cdef Trade new_trade_str(object venue, object instrument, str trade_id, int64_t price, int64_t size,
                         object side, int64_t ts_exchange, int64_t ts_recv, int64_t ts_event):
    """A trade whose venue id is not an integer (Bybit UUIDs): trade_id_int is -1."""
    cdef Trade t = new_trade(venue, instrument, -1, price, size, side, ts_exchange, ts_recv, ts_event)
    t._trade_id = trade_id
    return t
