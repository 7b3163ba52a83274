# SPDX-License-Identifier: Apache-2.0
"""Normalized derivatives events: mark price, index price, funding rate, open interest, liquidations.

They arrive at a few per second per instrument at most, so they are plain Python objects built by
the venue's parser (``FrameParser.emit_derivative``), validated there (a bad one is a counted drop
like any bad frame) and delivered to ``Engine.subscribe_derivatives`` callbacks. Open interest a
venue publishes only over REST (Binance USD-M) is polled (venuelink.open_interest) and delivered
to the same callbacks. Prices and sizes
are exact fixed-point integers at the instrument's scales (sizes in the venue's unit: contracts
where the venue counts contracts; the instrument says how much one contract is); funding rates are
integers of 10^-18 (``RATE_SCALE``): ``0.0001`` is ``100_000_000_000_000``. Timestamps are integer ns.
"""
from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import venuelink.ext.decimal as fx
from venuelink.model import Instrument, Side, VenueId

RATE_SCALE = 18
"""fractional digits of funding-rate mantissas (OKX sends 16: "0.0001875391284828"); |rate| <= 1 fits int64"""
MAX_ABS_RATE = 10 ** RATE_SCALE
"""|rate| above 100% per funding interval is not a funding rate"""


class DerivKind(IntEnum):
    MARK_PRICE = 1
    INDEX_PRICE = 2
    FUNDING_RATE = 3
    OPEN_INTEREST = 4
    LIQUIDATION = 5


def rate(text: str) -> int:
    """A funding rate as sent ("0.0001", "-0.00001234", "1E-4") to its exact mantissa; more than
    18 fractional digits is refused, never rounded."""
    return fx.parse(text, RATE_SCALE)


def rate_str(mantissa: int) -> str:
    return fx.format(mantissa, RATE_SCALE)


@dataclass(frozen=True, slots=True)
class DerivEvent:
    venue: VenueId
    instrument: Instrument
    ts_exchange: int
    ts_recv: int

    kind = DerivKind.MARK_PRICE     # each subclass sets its own

    def problem(self) -> str | None:
        """Why this event cannot be true (the parser drops it, counted), or None."""
        return None

    def _head(self) -> dict:
        return {"type": self.kind.name.lower(), "venue": self.venue.name, "symbol": self.instrument.symbol,
                "ts_exchange": self.ts_exchange, "ts_recv": self.ts_recv, **self.instrument.contract_fields()}


@dataclass(frozen=True, slots=True)
class _PriceEvent(DerivEvent):
    """A price of the instrument (mark, index)."""
    price: int = 0
    scale: int = -1                 # fractional digits of `price`; -1: the instrument's price scale

    @property
    def price_scale(self) -> int:
        """A venue may compute mark and index prices finer than the tick (Binance: 8 decimals):
        the event then carries its own scale rather than round them."""
        return self.instrument.px_scale if self.scale < 0 else self.scale

    def problem(self) -> str | None:
        if self.scale > 18:
            return f"price scale {self.scale} beyond 18 digits"
        return None if self.price > 0 else f"{self.kind.name.lower().replace('_', ' ')} {self.price} not positive"

    def to_json(self) -> dict:
        return {**self._head(), "price": fx.format(self.price, self.price_scale)}


@dataclass(frozen=True, slots=True)
class MarkPrice(_PriceEvent):
    kind = DerivKind.MARK_PRICE


@dataclass(frozen=True, slots=True)
class IndexPrice(_PriceEvent):
    kind = DerivKind.INDEX_PRICE


@dataclass(frozen=True, slots=True)
class FundingRate(DerivEvent):
    rate: int = 0                   # of 10^-18, for the interval ending at funding_time_ns
    funding_time_ns: int = 0        # when this rate is settled
    next_funding_time_ns: int = 0   # the settlement after it (0: the venue does not say)
    next_rate: int | None = None    # the venue's forecast for that one, where it publishes one
    kind = DerivKind.FUNDING_RATE

    def problem(self) -> str | None:
        if abs(self.rate) > MAX_ABS_RATE or (self.next_rate is not None and abs(self.next_rate) > MAX_ABS_RATE):
            return f"funding rate {rate_str(self.rate)} beyond +-100%"
        if self.funding_time_ns <= 0:
            return "funding time missing"
        if self.next_funding_time_ns and self.next_funding_time_ns <= self.funding_time_ns:
            return "next funding time not after the funding time"
        return None

    def to_json(self) -> dict:
        return {**self._head(), "rate": rate_str(self.rate), "funding_time": self.funding_time_ns,
                "next_funding_time": self.next_funding_time_ns,
                "next_rate": None if self.next_rate is None else rate_str(self.next_rate)}


@dataclass(frozen=True, slots=True)
class OpenInterest(DerivEvent):
    size: int = 0                   # in the venue's unit (contracts where it counts them), at `scale`
    scale: int = -1                 # fractional digits of `size`; -1: the instrument's size scale
    kind = DerivKind.OPEN_INTEREST

    @property
    def size_scale(self) -> int:
        """Venues may publish open interest finer than the lot (an average over positions, a
        contract count in coin): the event then carries its own scale rather than round it."""
        return self.instrument.qty_scale if self.scale < 0 else self.scale

    def problem(self) -> str | None:
        if self.scale > 18:
            return f"open interest scale {self.scale} beyond 18 digits"
        return None if self.size >= 0 else f"open interest {self.size} negative"

    def to_json(self) -> dict:
        return {**self._head(), "size": fx.format(self.size, self.size_scale)}


def size_scale_of(text: str, floor: int) -> int:
    """The scale that holds a decimal string exactly: its fractional digits, at least `floor`
    (exponent forms keep `floor`; the parse refuses them if they need more)."""
    _, dot, frac = text.partition(".")
    n = len(frac) if dot and frac.isdigit() else 0
    return max(floor, n)


@dataclass(frozen=True, slots=True)
class Liquidation(DerivEvent):
    side: Side = Side.SELL          # of the liquidation order (a long position is liquidated by a sell)
    price: int = 0
    size: int = 0
    kind = DerivKind.LIQUIDATION

    def problem(self) -> str | None:
        if self.price <= 0 or self.size <= 0:
            return f"liquidation price {self.price} / size {self.size} not positive"
        return None

    def to_json(self) -> dict:
        i = self.instrument
        return {**self._head(), "side": self.side.wire, "price": i.px_str(self.price), "size": i.qty_str(self.size)}
