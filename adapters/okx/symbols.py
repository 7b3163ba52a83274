# SPDX-License-Identifier: Apache-2.0
"""GET /api/v5/public/instruments?instType=SPOT|SWAP -> Instruments.

BTC-USDT -> BTC/USDT; BTC-USDT-SWAP (linear, settled in USDT) -> BTC/USDT:USDT; BTC-USD-SWAP
(inverse, settled in BTC) -> BTC/USD:BTC. Swap sizes are in contracts of `ctVal` units of
`ctValCcy`."""
from __future__ import annotations

import json

from venuelink.errors import EngineError
from venuelink.model import Instrument, InstrumentStatus, MarketKind, VenueId
from venuelink.venue import log_skipped_instruments, scale_of
from venuelink.ext import decimal as fx

# state: live, suspend, preopen (listed, trading not started; also a swap's call auction), test
# (a test pair, which cannot be traded); any other is HALTED
_STATUS = {"live": InstrumentStatus.TRADING, "suspend": InstrumentStatus.HALTED,
           "preopen": InstrumentStatus.PREOPEN, "test": InstrumentStatus.HALTED}


def parse_instruments(body: bytes | str | dict, venue: VenueId = VenueId.okx) -> list[Instrument]:
    data = json.loads(body) if not isinstance(body, dict) else body
    if not isinstance(data, dict) or data.get("code") not in ("0", 0) or not isinstance(data.get("data"), list):
        raise EngineError(f"okx instruments: not a success answer: {str(data)[:200]}")
    out, skipped = [], []
    for d in data["data"]:
        try:
            kind = d["instType"]
            tick, lot = d["tickSz"], d["lotSz"]
            ps, qs = scale_of(tick), scale_of(lot)
            ct, cs, cc = 0, 0, ""
            if kind == "SPOT":
                base, quote, settle, mk = d["baseCcy"], d["quoteCcy"], "", MarketKind.SPOT
                symbol = f"{base}/{quote}"
            elif kind == "SWAP":
                parts = d["instId"].split("-")
                base, quote, settle, mk = parts[0], parts[1], d["settleCcy"], MarketKind.SWAP
                symbol = f"{base}/{quote}:{settle}"
                # sizes are contracts of ctVal units of ctValCcy (BTC for BTC-USDT-SWAP, USD for
                # the inverse BTC-USD-SWAP)
                cs = scale_of(d["ctVal"])
                ct, cc = fx.parse(d["ctVal"], cs), d["ctValCcy"]
                if ct <= 0:
                    raise ValueError("ctVal must be positive")
            else:
                continue            # instrument types this adapter does not serve (MARGIN, FUTURES, OPTION)
            out.append(Instrument(venue=venue, venue_symbol=d["instId"], symbol=symbol, base=base, quote=quote,
                                  px_scale=ps, qty_scale=qs, tick=fx.parse(tick, ps), lot=fx.parse(lot, qs),
                                  settle=settle, min_qty=fx.parse(d.get("minSz") or "0", qs),
                                  status=_STATUS.get(d.get("state"), InstrumentStatus.HALTED), kind=mk, contract_size=ct,
                                  contract_scale=cs, contract_ccy=cc, venue_code=_code(d.get("instIdCode"))))
        except (KeyError, TypeError, ValueError, IndexError, AttributeError) as e:
            skipped.append((d.get("instId", "") if isinstance(d, dict) else "", f"{type(e).__name__} {e}"))
    log_skipped_instruments(venue.name, skipped)
    return out


def _code(v: object) -> int:
    """instIdCode (an integer; WebSocket order operations name the instrument by it): 0 when absent."""
    if v is None or v == "":
        return 0
    if isinstance(v, bool) or not isinstance(v, (int, str)) or not str(v).isdigit():
        raise ValueError(f"instIdCode {v!r} is not an integer")
    return int(v)
