# SPDX-License-Identifier: Apache-2.0
"""GET /api/v3/exchangeInfo -> Instruments (BTCUSDT -> BTC/USDT) with exact tick and lot scales."""
from __future__ import annotations

import json

from engine.errors import EngineError
from engine.model import Instrument, VenueId
from engine.venue import scale_of


def parse_exchange_info(body: bytes | str | dict, venue: VenueId = VenueId.binance) -> list[Instrument]:
    """Instruments of every symbol in an exchangeInfo answer. Symbols without PRICE_FILTER /
    LOT_SIZE are skipped (they cannot be traded or booked exactly)."""
    data = json.loads(body) if not isinstance(body, dict) else body
    if not isinstance(data, dict) or not isinstance(data.get("symbols"), list):
        raise EngineError("exchangeInfo answer without a symbols list")
    out = []
    for s in data["symbols"]:
        try:
            filters = {f["filterType"]: f for f in s.get("filters", [])}
            tick, lot = filters["PRICE_FILTER"]["tickSize"], filters["LOT_SIZE"]["stepSize"]
            px_scale, qty_scale = scale_of(tick), scale_of(lot)
            base, quote = s["baseAsset"], s["quoteAsset"]
            out.append(Instrument(
                venue=venue, venue_symbol=s["symbol"], symbol=f"{base}/{quote}", base=base, quote=quote,
                px_scale=px_scale, qty_scale=qty_scale,
                tick=_mantissa(tick, px_scale), lot=_mantissa(lot, qty_scale),
                min_qty=_mantissa(filters["LOT_SIZE"].get("minQty", "0"), qty_scale),
                max_px=_mantissa(filters["PRICE_FILTER"].get("maxPrice", "0"), px_scale),   # 0: no cap
                active=s.get("status") == "TRADING"))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _mantissa(text: str, scale: int) -> int:
    from ext import decimal as fx
    return fx.parse(text, scale)
