# SPDX-License-Identifier: Apache-2.0
"""Binance futures' derivative pushes -> venuelink.derivatives events (shared by the C parser and its
twin; a few per second per symbol, so decoded in Python).

``<symbol>@markPrice`` (every 3 s, ``@1s`` every second)::

    {"e":"markPriceUpdate","E":1562305380000,"s":"BTCUSDT","p":"11794.15000000","ap":"11794.15000000",
     "i":"11784.62659091","P":"11784.25641265","r":"0.00038167","T":1562306400000}

-> MarkPrice (``p``), IndexPrice (``i``), FundingRate (``r``, settled at ``T``, the next funding
time; none for a delivery contract, which sends ``"r":""`` and ``"T":0``). ``<symbol>@forceOrder``
(the latest liquidation per symbol, at most one a second)::

    {"e":"forceOrder","E":1568014460893,"o":{"s":"BTCUSDT","S":"SELL","o":"LIMIT","f":"IOC","q":"0.014",
     "p":"9910","ap":"9910","X":"FILLED","l":"0.014","z":"0.014","T":1568014460893}}

-> Liquidation (side of the liquidation order ``S``, price ``p``, size ``q``, time ``T``). A
push is taken whole or refused whole (JSONError), never half-delivered; a repeated key is
refused, as the C reader refuses it.
"""
from __future__ import annotations

from typing import Any, Callable

import venuelink.ext.decimal as fx
from venuelink import pushes
from venuelink.derivatives import RATE_SCALE, FundingRate, IndexPrice, Liquidation, MarkPrice, size_scale_of
from venuelink.model import Side
from venuelink.ext.json import JSONError

MS = 1_000_000
EVENTS = frozenset({"markPriceUpdate", "forceOrder"})
_SIDE = {"BUY": Side.BUY, "SELL": Side.SELL}


def _str(obj: dict, key: str, where: str) -> str:
    return pushes.text(obj, key, where)


def _ms(obj: dict, key: str, where: str) -> int:
    v = obj.get(key)
    if type(v) is not int or not 0 < v < 2**63 // MS:
        raise JSONError(f"{where}: {key} missing or not a time in ms")
    return v * MS


def _fixed(obj: dict, key: str, scale: int, where: str) -> int:
    try:
        return fx.parse(_str(obj, key, where), scale)
    except (ValueError, OverflowError) as e:
        raise JSONError(f"{where}: {key}: {e}") from None


def decode(frame: bytes, venue: Any, symbol_of: Callable[[bytes], Any], ts_recv: int) -> list[tuple[Any, Any]]:
    """(feed symbol, event) for a followed symbol's push; [] for one not followed."""
    msg = pushes.load(frame)
    if isinstance(msg, dict) and "stream" in msg:
        msg = msg.get("data")
    if not isinstance(msg, dict):
        raise JSONError("not an object")
    kind = msg.get("e")
    if kind == "markPriceUpdate":
        fs = symbol_of(_str(msg, "s", kind).encode())
        if fs is None:
            return []
        inst = fs.instrument
        ts = _ms(msg, "E", kind)
        # mark and index are computed to 8 decimals, finer than most ticks: kept at their own scale
        ms, js = size_scale_of(_str(msg, "p", kind), inst.px_scale), size_scale_of(_str(msg, "i", kind), inst.px_scale)
        mark, index = _fixed(msg, "p", ms, kind), _fixed(msg, "i", js, kind)
        evs = [MarkPrice(venue, inst, ts, ts_recv, mark, ms), IndexPrice(venue, inst, ts, ts_recv, index, js)]
        if msg.get("r") != "" or msg.get("T") != 0:      # a delivery contract has no funding: "r":"", "T":0
            evs.append(FundingRate(venue, inst, ts, ts_recv, _fixed(msg, "r", RATE_SCALE, kind), _ms(msg, "T", kind),
                                   0, None))
    elif kind == "forceOrder":
        o = msg.get("o")
        if not isinstance(o, dict):
            raise JSONError("forceOrder: o missing or not an object")
        where = "forceOrder.o"
        fs = symbol_of(_str(o, "s", where).encode())
        if fs is None:
            return []
        inst = fs.instrument
        side = _SIDE.get(_str(o, "S", where))
        if side is None:
            raise JSONError(f"{where}: S {o['S']!r} is neither BUY nor SELL")
        evs = [Liquidation(venue, inst, _ms(o, "T", where), ts_recv, side, _fixed(o, "p", inst.px_scale, where),
                           _fixed(o, "q", inst.qty_scale, where))]
    else:
        raise JSONError(f"not a derivatives push: e={kind!r}")
    for ev in evs:
        why = ev.problem()
        if why is not None:
            raise JSONError(f"{kind}: {why}")
    return [(fs, ev) for ev in evs]
