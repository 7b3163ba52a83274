# SPDX-License-Identifier: Apache-2.0
"""Checks and conversions every venue's order entry shares: an order's size and price against its
instrument before anything leaves the host (a request the venue must refuse only burns rate
budget), and venue decimal strings in canonical form."""
from __future__ import annotations

from decimal import Decimal

from venuelink.errors import Rejected
from venuelink.model import Instrument, MarketKind, Order, OrderType, PositionSide, TimeInForce


def checked_units(inst: Instrument, order: Order, venue: str) -> tuple[int, int | None]:
    """(size, price or None) as the instrument's mantissas; ``Rejected`` when the venue would refuse."""
    if not inst.active:
        raise Rejected(f"{order.symbol}: not trading at the venue now ({inst.status})", venue=venue)
    if order.reduce_only and inst.kind == MarketKind.SPOT:
        raise Rejected(f"{order.symbol}: reduce-only applies to derivatives positions, not spot", venue=venue)
    side = getattr(order, "position_side", PositionSide.NET)
    if side != PositionSide.NET and inst.kind == MarketKind.SPOT:
        raise Rejected(f"{order.symbol}: position side {side.name} is a hedge-mode leg of a derivatives "
                       f"position; spot has none", venue=venue)
    try:
        qty = inst.qty(order.qty)
        px = inst.px(order.price) if order.type == OrderType.LIMIT and order.price is not None else None
    except ValueError as e:
        raise Rejected(f"{order.symbol}: {e} (tick {inst.px_str(inst.tick)}, lot {inst.qty_str(inst.lot)})",
                       venue=venue) from None
    if order.type == OrderType.LIMIT and px is None:
        raise Rejected(f"{order.symbol}: limit order without a price", venue=venue)
    if order.type != OrderType.LIMIT and order.tif == TimeInForce.POST_ONLY:
        raise Rejected(f"{order.symbol}: post-only is for limit orders", venue=venue)
    if qty <= 0 or (inst.lot and qty % inst.lot) or qty < inst.min_qty:
        raise Rejected(f"{order.symbol}: size {order.qty} is not a positive multiple of the lot "
                       f"{inst.qty_str(inst.lot)} at least {inst.qty_str(inst.min_qty)}", venue=venue)
    if px is not None and (px <= 0 or (inst.tick and px % inst.tick)):
        raise Rejected(f"{order.symbol}: price {order.price} is not a positive multiple of the tick "
                       f"{inst.px_str(inst.tick)}", venue=venue)
    if px is not None and inst.px_sig_digits and len(str(px).rstrip("0")) > inst.px_sig_digits:
        raise Rejected(f"{order.symbol}: price {order.price} has more than the venue's {inst.px_sig_digits} "
                       f"significant digits", venue=venue)
    if px is not None and inst.min_notional and not inst.contract_size and px * qty < inst.min_notional:
        raise Rejected(f"{order.symbol}: price x size {inst.notional_str(px * qty)} is below the venue's "
                       f"minimum order value {inst.notional_str(inst.min_notional)}", venue=venue)
    return qty, px


def canonical(x: object) -> str:
    """A venue decimal string in canonical form ("0.01000000" -> "0.01", "0E-8" -> "0"); "" and
    None stay ""; a non-finite value is a ValueError."""
    if x in (None, ""):
        return ""
    d = Decimal(str(x))
    if not d.is_finite():
        raise ValueError(f"not a finite number: {x!r}")
    return "0" if d == 0 else format(d.normalize(), "f")
