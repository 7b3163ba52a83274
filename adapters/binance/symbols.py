# SPDX-License-Identifier: Apache-2.0
"""GET /api/v3/exchangeInfo (spot) and GET /fapi/v1/exchangeInfo (USD-M futures) -> Instruments
with exact tick and lot scales, trading status and the minimum order value.

Spot ``BTCUSDT`` -> ``BTC/USDT``. Futures carry ``contractType``: a ``PERPETUAL`` is a swap
(``BTCUSDT`` -> ``BTC/USDT:USDT``, settled in its ``marginAsset``), a delivery contract a dated
future (``BTCUSDT_261225`` -> ``BTC/USDT:USDT-261225``, from its ``deliveryDate``). USD-M sizes
are in the base asset, not contracts."""
from __future__ import annotations

import datetime
import json

from venuelink.errors import EngineError
from venuelink.model import Instrument, InstrumentStatus, MarketKind, VenueId
from venuelink.venue import log_skipped_instruments, min_mantissa, scale_of
from venuelink.ext import decimal as fx

# exchangeInfo's symbol status: BREAK is also how a delisted symbol shows, so it is a halt, not a
# claim either way; a status not listed here is HALTED
_STATUS = {"TRADING": InstrumentStatus.TRADING, "HALT": InstrumentStatus.HALTED,
           "BREAK": InstrumentStatus.HALTED, "END_OF_DAY": InstrumentStatus.HALTED,
           "POST_TRADING": InstrumentStatus.HALTED, "PRE_TRADING": InstrumentStatus.PREOPEN,
           "AUCTION_MATCH": InstrumentStatus.PREOPEN,
           # futures: listed but not yet trading, or being settled / delivered / closed
           "PENDING_TRADING": InstrumentStatus.PREOPEN, "PRE_DELIVERING": InstrumentStatus.HALTED,
           "DELIVERING": InstrumentStatus.HALTED, "PRE_SETTLE": InstrumentStatus.HALTED,
           "SETTLING": InstrumentStatus.HALTED, "DELIVERED": InstrumentStatus.DELISTED,
           "CLOSE": InstrumentStatus.DELISTED}
#: futures contract types that are dated (delivered), not perpetual
_DATED = frozenset({"CURRENT_MONTH", "NEXT_MONTH", "CURRENT_QUARTER", "NEXT_QUARTER",
                    "CURRENT_QUARTER DELIVERING", "NEXT_QUARTER DELIVERING"})


def _kind_and_symbol(s: dict, base: str, quote: str) -> tuple[MarketKind, str, str]:
    """(kind, unified symbol, settle currency) of an exchangeInfo row, spot or futures."""
    ctype = s.get("contractType")
    if ctype is None:
        return MarketKind.SPOT, f"{base}/{quote}", ""
    settle = s["marginAsset"]
    if ctype == "PERPETUAL":
        return MarketKind.SWAP, f"{base}/{quote}:{settle}", settle
    if ctype in _DATED:
        day = datetime.datetime.fromtimestamp(int(s["deliveryDate"]) / 1000, datetime.timezone.utc)
        return MarketKind.FUTURE, f"{base}/{quote}:{settle}-{day:%y%m%d}", settle
    raise ValueError(f"contractType {ctype!r} is neither perpetual nor dated")


def parse_exchange_info(body: bytes | str | dict, venue: VenueId = VenueId.binance) -> list[Instrument]:
    """Instruments of every symbol in an exchangeInfo answer. A symbol without PRICE_FILTER /
    LOT_SIZE cannot be traded or booked exactly: it is skipped, and the skips are logged."""
    data = json.loads(body) if not isinstance(body, dict) else body
    if not isinstance(data, dict) or not isinstance(data.get("symbols"), list):
        raise EngineError("exchangeInfo answer without a symbols list")
    out, skipped = [], []
    for s in data["symbols"]:
        try:
            filters = {f["filterType"]: f for f in s.get("filters", [])}
            tick, lot = filters["PRICE_FILTER"]["tickSize"], filters["LOT_SIZE"]["stepSize"]
            px_scale, qty_scale = scale_of(tick), scale_of(lot)
            base, quote = s["baseAsset"], s["quoteAsset"]
            kind, symbol, settle = _kind_and_symbol(s, base, quote)
            # NOTIONAL replaced MIN_NOTIONAL on spot; either states the least price x size of an
            # order (futures: MIN_NOTIONAL's "notional")
            nf = filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}
            notional = nf.get("minNotional") or nf.get("notional") or "0"
            out.append(Instrument(
                venue=venue, venue_symbol=s["symbol"], symbol=symbol, base=base, quote=quote,
                settle=settle, kind=kind,
                px_scale=px_scale, qty_scale=qty_scale,
                tick=fx.parse(tick, px_scale), lot=fx.parse(lot, qty_scale),
                min_qty=fx.parse(filters["LOT_SIZE"].get("minQty", "0"), qty_scale),
                max_px=fx.parse(filters["PRICE_FILTER"].get("maxPrice", "0"), px_scale),   # 0: no cap
                min_notional=min_mantissa(notional, px_scale + qty_scale),
                status=_STATUS.get(s.get("status"), InstrumentStatus.HALTED)))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            skipped.append((s.get("symbol", "") if isinstance(s, dict) else "", f"{type(e).__name__} {e}"))
    log_skipped_instruments(venue.name, skipped)
    return out
