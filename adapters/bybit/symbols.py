# SPDX-License-Identifier: Apache-2.0
"""GET /v5/market/instruments-info?category=spot|linear -> Instruments.

Spot BTCUSDT -> BTC/USDT (size step ``basePrecision``, minimum ``minOrderQty`` and notional
``minOrderAmt``); linear BTCUSDT (a USDT perpetual, sizes in the base coin) -> BTC/USDT:USDT
(size step ``qtyStep``, minimum notional ``minNotionalValue``, prices at ``priceScale`` decimals). Linear rows of other contract
types (dated futures, USDC perpetuals) are not served by this adapter and are left out. The
same venue symbol names both markets: instruments are told apart by their kind."""
from __future__ import annotations

import json

from venuelink.errors import EngineError
from venuelink.model import Instrument, InstrumentStatus, MarketKind, VenueId
from venuelink.venue import log_skipped_instruments, min_mantissa, scale_of
from venuelink.ext import decimal as fx

# Trading; PreLaunch (listed, not trading yet); Delivering / Closed (being removed); any other is HALTED
_STATUS = {"Trading": InstrumentStatus.TRADING, "PreLaunch": InstrumentStatus.PREOPEN,
           "Delivering": InstrumentStatus.DELISTED, "Closed": InstrumentStatus.DELISTED}


def _row(d: dict, category: str, venue: VenueId) -> Instrument | None:
    lot_f, px_f = d["lotSizeFilter"], d["priceFilter"]
    tick = px_f["tickSize"]
    if category == "spot":
        lot, notional, settle, kind = lot_f["basePrecision"], lot_f.get("minOrderAmt") or "0", "", MarketKind.SPOT
        symbol = f"{d['baseCoin']}/{d['quoteCoin']}"
    elif d.get("contractType") == "LinearPerpetual" and d.get("settleCoin") == d.get("quoteCoin"):
        lot, notional, settle, kind = lot_f["qtyStep"], lot_f.get("minNotionalValue") or "0", d["settleCoin"], \
            MarketKind.SWAP
        symbol = f"{d['baseCoin']}/{d['quoteCoin']}:{settle}"
    else:
        return None                # dated futures, USDC perpetuals: not served here
    # priceScale: the decimals of prices, which may be finer than the tick (linear BTCUSDT ticks
    # by 0.10 and writes book prices, mark and index as "30247.20")
    ps, qs = max(scale_of(tick), int(d.get("priceScale") or 0)), scale_of(lot)
    max_px = px_f.get("maxPrice")
    return Instrument(venue=venue, venue_symbol=d["symbol"], symbol=symbol, base=d["baseCoin"], quote=d["quoteCoin"],
                      px_scale=ps, qty_scale=qs, tick=fx.parse(tick, ps), lot=fx.parse(lot, qs), settle=settle,
                      min_qty=min_mantissa(lot_f.get("minOrderQty") or "0", qs),
                      status=_STATUS.get(d.get("status"), InstrumentStatus.HALTED), kind=kind,
                      max_px=fx.parse(max_px, ps) if max_px else 0,
                      min_notional=min_mantissa(notional, ps + qs))


def category(inst: Instrument) -> str:
    """The category an instrument's requests and streams name: spot, or linear for perpetuals."""
    return "spot" if inst.kind == MarketKind.SPOT else "linear"


def parse_instruments(body: bytes | str | dict, venue: VenueId = VenueId.bybit) -> list[Instrument]:
    data = json.loads(body) if not isinstance(body, dict) else body
    result = data.get("result") if isinstance(data, dict) else None
    if not isinstance(result, dict) or data.get("retCode") != 0 or not isinstance(result.get("list"), list):
        raise EngineError(f"bybit instruments: not a success answer: {str(data)[:200]}")
    category = result.get("category")
    if category not in ("spot", "linear"):
        raise EngineError(f"bybit instruments: category {category!r} is not served (spot, linear)")
    out, skipped = [], []
    for d in result["list"]:
        try:
            inst = _row(d, category, venue)
            if inst is not None:
                out.append(inst)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            skipped.append((d.get("symbol", "") if isinstance(d, dict) else "", f"{type(e).__name__} {e}"))
    log_skipped_instruments(venue.name, skipped)
    return out
