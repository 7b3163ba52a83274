# SPDX-License-Identifier: Apache-2.0
"""Every venue venuelink knows (venuelink.model.VenueId), which tier serves it and what it offers:
``venuelink venues`` (a plain table, or ``--json``).

Features are named as CCXT names them. For a ccxt-tier venue they are CCXT's own ``has`` flags
of those the tier uses (watchOrderBook, watchTrades, createOrder, cancelOrder, fetchOrder,
cancelAllOrders, cancelAllOrdersAfter, watchOrders), and editOrder where CCXT's keeps the order in
place (venuelink.ccxt_tier.entry.AMEND_IN_PLACE).
For a native venue they are read off its adapter: the channels its ``topics`` accepts
(watchOrderBook, watchTrades, watchBidsAsks for the best bid/ask stream), ``derivatives`` when it
has derivatives topics, and the methods of its execution class (createOrder, cancelOrder,
fetchOrder, editOrder, cancelAllOrders, cancelAllOrdersAfter for a dead man's switch,
watchOrders for a private order stream)."""
from __future__ import annotations

import importlib
from typing import Any

from venuelink import registry
from venuelink.adapter import Channel, VenueAdapter
from venuelink.ccxt_tier import GONE, ccxt_id
from venuelink.model import Instrument, MarketKind, VenueId

CCXT_FEATURES = ("watchOrderBook", "watchTrades", "createOrder", "cancelOrder", "fetchOrder", "cancelAllOrders",
                 "cancelAllOrdersAfter", "watchOrders")
_CHANNEL_FEATURES = ((Channel.BOOK, "watchOrderBook"), (Channel.TRADES, "watchTrades"), (Channel.TOP, "watchBidsAsks"))
#: execution-class method -> feature
_EXEC_FEATURES = (("place", "createOrder"), ("cancel", "cancelOrder"), ("query", "fetchOrder"), ("amend", "editOrder"),
                  ("cancel_all", "cancelAllOrders"), ("arm_dead_man", "cancelAllOrdersAfter"))


def _load(target: str | type) -> type:
    if isinstance(target, type):
        return target
    mod, cls = target.split(":")
    return getattr(importlib.import_module(mod), cls)


def native_features(adapter: VenueAdapter) -> list[str]:
    """What a native adapter offers, read off the adapter itself (no connection is made)."""
    probe = Instrument(adapter.venue, "BTC/USDT", "BTCUSDT", "BTC", "USDT", 2, 5, 1, 1, kind=MarketKind.SPOT)
    out = []
    for ch, name in _CHANNEL_FEATURES:
        try:
            if adapter.topics(probe, (ch,)):
                out.append(name)
        except (KeyError, ValueError, LookupError):
            pass                                  # the adapter has no such channel
    if type(adapter).derivative_topics is not VenueAdapter.derivative_topics:
        out.append("derivatives")
    if adapter.execution_class:
        ex = _load(adapter.execution_class)
        out += [name for meth, name in _EXEC_FEATURES if callable(getattr(ex, meth, None))]
        if callable(getattr(ex, "login_frames", None)) or callable(getattr(ex, "execution_report", None)) \
                or callable(getattr(ex, "order_update", None)):
            out.append("watchOrders")
    return out


def ccxt_features(exchange_id: str) -> list[str] | None:
    """CCXT's ``has`` of the features the tier uses (None: CCXT ships no such exchange)."""
    import ccxt.pro
    from venuelink.ccxt_tier.entry import AMEND_IN_PLACE
    cls = getattr(ccxt.pro, exchange_id, None)
    if cls is None:
        return None
    has = cls().has
    out = [f for f in CCXT_FEATURES if has.get(f) in (True, "emulated")]
    if exchange_id in AMEND_IN_PLACE and has.get("editOrder") in (True, "emulated"):
        out.insert(out.index("fetchOrder") + 1 if "fetchOrder" in out else len(out), "editOrder")
    return out


def venue_table() -> list[dict[str, Any]]:
    """One row per venue: ``{"venue", "tier": "native" | "ccxt" | "none", "ccxt_id",
    "supports": [...], "note"}`` (``note``: why a venue is not served, or how)."""
    rows = []
    for vid in VenueId.all():
        name = vid.name
        row: dict[str, Any] = {"venue": name, "tier": "none", "ccxt_id": ccxt_id(name), "supports": [], "note": ""}
        target = registry.ADAPTERS.get(vid)
        if target is not None:
            cls = _load(target)
            row["tier"] = "native"
            row["supports"] = native_features(cls())
            row["note"] = 'tier = "ccxt" switches it to CCXT'
        elif name in GONE:
            row["note"] = f"not served: {GONE[name]}"
        else:
            feats = ccxt_features(row["ccxt_id"])
            if feats is None:
                row["note"] = f"not served: ccxt {_ccxt_version()} has no exchange {row['ccxt_id']!r}"
            else:
                row["tier"], row["supports"] = "ccxt", feats
                if row["ccxt_id"] != name:
                    row["note"] = f"CCXT's {row['ccxt_id']!r}"
        rows.append(row)
    return rows


def _ccxt_version() -> str:
    import ccxt
    return getattr(ccxt, "__version__", "?")


def render(rows: list[dict[str, Any]]) -> str:
    """The rows as a plain, aligned text table."""
    head = ("VENUE", "TIER", "SUPPORTS", "NOTE")
    cells = [head] + [(r["venue"], r["tier"], ",".join(r["supports"]) or "-", r["note"]) for r in rows]
    widths = [max(len(c[i]) for c in cells) for i in range(3)]
    return "".join(("  ".join(c[i].ljust(widths[i]) for i in range(3)) + "  " + c[3]).rstrip() + "\n" for c in cells)
