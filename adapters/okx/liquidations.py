# SPDX-License-Identifier: Apache-2.0
"""OKX `liquidation-orders` pushes -> venuelink.derivatives.Liquidation events.

One subscription per instrument type (``{"channel":"liquidation-orders","instType":"SWAP"}``)
carries every instrument's liquidations; a push holds one object per instrument, each with its
``details`` (side of the liquidation order, bankruptcy price ``bkPx``, size ``sz`` in contracts,
``ts`` in ms)::

    {"arg":{"channel":"liquidation-orders","instType":"SWAP"},"data":[{"details":[{"bkLoss":"0",
     "bkPx":"37005.1","ccy":"","posSide":"long","side":"sell","sz":"3","ts":"1700000006100"}],
     "instFamily":"BTC-USDT","instId":"BTC-USDT-SWAP","instType":"SWAP","uly":"BTC-USDT"}]}

A few per second across a whole market: decoded in Python, shared by the C parser and its
twin. Instruments this connection does not follow are skipped (not counted as unknown: the
channel sends all of them); a push is taken whole or refused whole, never half-delivered.
"""
from __future__ import annotations

from typing import Any, Callable

import venuelink.ext.decimal as fx
from venuelink import pushes
from venuelink.derivatives import Liquidation
from venuelink.model import Side
from venuelink.ext.json import JSONError

MS = 1_000_000
CHANNEL = "liquidation-orders"
_SIDE = {"buy": Side.BUY, "sell": Side.SELL}


def _str(obj: dict, key: str, where: str) -> str:
    return pushes.text(obj, key, f"{CHANNEL}: {where}")


def decode(frame: bytes, venue: Any, symbol_of: Callable[[bytes], Any],
           ts_recv: int) -> list[tuple[Any, Liquidation]] | None:
    """(feed symbol, event) for every detail of every followed instrument in the push; None for
    a frame with an event and no data (the subscription's acknowledgement)."""
    try:
        msg = pushes.load(frame)
    except JSONError as e:
        raise JSONError(f"{CHANNEL}: {e}") from None
    if isinstance(msg, dict) and "data" not in msg and "event" in msg:
        return None                         # the subscription's acknowledgement: a control frame
    data = msg.get("data")
    if not isinstance(data, list):
        raise JSONError("liquidation-orders: data missing or not an array")
    out: list[tuple[Any, Liquidation]] = []
    for i, item in enumerate(data):
        if not isinstance(item, dict):
            raise JSONError(f"liquidation-orders: data[{i}] is not an object")
        fs = symbol_of(_str(item, "instId", f"data[{i}]").encode())
        details = item.get("details")
        if not isinstance(details, list):
            raise JSONError(f"liquidation-orders: data[{i}].details missing or not an array")
        if fs is None:
            continue
        inst = fs.instrument
        for j, d in enumerate(details):
            where = f"data[{i}].details[{j}]"
            if not isinstance(d, dict):
                raise JSONError(f"liquidation-orders: {where} is not an object")
            side = _SIDE.get(_str(d, "side", where))
            if side is None:
                raise JSONError(f"liquidation-orders: {where}.side {d['side']!r}")
            px = fx.parse(_str(d, "bkPx", where), inst.px_scale)
            sz = fx.parse(_str(d, "sz", where), inst.qty_scale)
            ts = fx.parse(_str(d, "ts", where), 0)
            if not 0 < ts < 2**63 // MS:
                raise JSONError(f"liquidation-orders: {where}.ts {ts} out of range")
            ev = Liquidation(venue, inst, ts * MS, ts_recv, side, px, sz)
            why = ev.problem()
            if why is not None:
                raise JSONError(f"liquidation-orders: {where}: {why}")
            out.append((fs, ev))
    return out
