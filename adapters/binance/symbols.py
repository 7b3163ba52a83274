# SPDX-License-Identifier: Apache-2.0
"""GET /api/v3/exchangeInfo -> Instruments (BTCUSDT -> BTC/USDT) with exact tick and lot scales,
trading status and the minimum order value."""
from __future__ import annotations

import json

from engine.errors import EngineError
from engine.model import Instrument, InstrumentStatus, VenueId
from engine.venue import log_skipped_instruments, min_mantissa, scale_of
from ext import decimal as fx

# exchangeInfo's symbol status: BREAK is also how a delisted symbol shows, so it is a halt, not a
# claim either way; a status not listed here is HALTED
_STATUS = {"TRADING": InstrumentStatus.TRADING, "HALT": InstrumentStatus.HALTED,
           "BREAK": InstrumentStatus.HALTED, "END_OF_DAY": InstrumentStatus.HALTED,
           "POST_TRADING": InstrumentStatus.HALTED, "PRE_TRADING": InstrumentStatus.PREOPEN,
           "AUCTION_MATCH": InstrumentStatus.PREOPEN}


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
            # NOTIONAL replaced MIN_NOTIONAL; either states the least price x size of an order
            notional = (filters.get("NOTIONAL") or filters.get("MIN_NOTIONAL") or {}).get("minNotional") or "0"
            out.append(Instrument(
                venue=venue, venue_symbol=s["symbol"], symbol=f"{base}/{quote}", base=base, quote=quote,
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
