# SPDX-License-Identifier: Apache-2.0
"""Bybit ``allLiquidation.{symbol}`` pushes -> venuelink.derivatives.Liquidation events.

One push holds the liquidations of the topic's symbol since the last one (``T`` ms, ``S`` the
side of the liquidated *position*: "Buy" is a long closed by a sell order, ``v`` size, ``p``
bankruptcy price)::

    {"topic":"allLiquidation.BTCUSDT","type":"snapshot","ts":1739502303204,
     "data":[{"T":1739502302929,"s":"BTCUSDT","S":"Sell","v":"0.003","p":"96350.50"}]}

A few per second at most: decoded in Python, shared by the C parser and its twin. A push is
taken whole or refused whole, never half-delivered."""
from __future__ import annotations

from typing import Any, Callable

import venuelink.ext.decimal as fx
from venuelink import pushes
from venuelink.derivatives import Liquidation
from venuelink.model import Side
from venuelink.ext.json import JSONError

MS = 1_000_000
CHANNEL = "allLiquidation"
_ORDER_SIDE = {"Buy": Side.SELL, "Sell": Side.BUY}      # a long position is liquidated by a sell


def decode(frame: bytes, venue: Any, symbol_of: Callable[[bytes], Any],
           ts_recv: int) -> list[tuple[Any, Liquidation]] | None:
    try:
        msg = pushes.load(frame)
    except JSONError as e:
        raise JSONError(f"{CHANNEL}: {e}") from None
    topic = pushes.text(msg, "topic", CHANNEL) if isinstance(msg, dict) else ""
    data = msg.get("data") if isinstance(msg, dict) else None
    if not isinstance(data, list):
        raise JSONError(f"{CHANNEL}: data missing or not an array")
    symbol = topic.rpartition(".")[2]
    fs = symbol_of(symbol.encode())
    if fs is None:
        return []                                # a symbol this connection does not follow
    inst = fs.instrument
    out: list[tuple[Any, Liquidation]] = []
    for i, d in enumerate(data):
        where = f"data[{i}]"
        if not isinstance(d, dict):
            raise JSONError(f"{CHANNEL}: {where} is not an object")
        if pushes.text(d, "s", where) != symbol:
            raise JSONError(f"{CHANNEL}: {where}.s {d['s']!r} in a push for {symbol!r}")
        side = _ORDER_SIDE.get(pushes.text(d, "S", where))
        if side is None:
            raise JSONError(f"{CHANNEL}: {where}.S {d['S']!r}")
        ts = d.get("T")
        if isinstance(ts, bool) or not isinstance(ts, int) or not 0 < ts < 2**63 // MS:
            raise JSONError(f"{CHANNEL}: {where}.T {ts!r} is not a time in ms")
        ev = Liquidation(venue, inst, ts * MS, ts_recv, side, fx.parse(pushes.text(d, "p", where), inst.px_scale),
                         fx.parse(pushes.text(d, "v", where), inst.qty_scale))
        why = ev.problem()
        if why is not None:
            raise JSONError(f"{CHANNEL}: {where}: {why}")
        out.append((fs, ev))
    return out
