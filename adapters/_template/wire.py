# SPDX-License-Identifier: Apache-2.0
"""<Venue>'s market-data frames as data (venuelink.wire): replace every name below with the venue's
own, field by field, in the order the venue sends them, from its documentation's examples (and
keep those examples as fixtures in tests/fixtures/<venue>/). venuelink.ext.wire reads this in C and
venuelink.wire_ref in Python; the decoder fuzz test holds them to the same events.

The shapes below are the common ones: a topic string naming channel and symbol, books as a
snapshot then deltas each naming its predecessor, trades as an array of rows, a best bid/offer
with its own update id, and mark price / funding. Delete what the venue does not have."""
from __future__ import annotations

from venuelink.wire import MS, Action, Channel, Field, Kind, RestBook, Role, Rows, Span, Wire
from venuelink.ext.feed import Control
from venuelink.ext.json import JSONError
from venuelink.ext.ref import json_ref as J


def control(doc: J.Obj, raw: bytes) -> tuple[int, str | None, int]:
    """Frames that are no channel's: subscribe acknowledgements, errors, pongs, notices ->
    (venuelink.ext.feed Control kind, topic or text, request id or -1). Cold path: plain Python."""
    try:
        op = J.get_str(doc, "op")                          # e.g. {"op": "subscribe", "success": true}
    except JSONError:
        return Control.CTRL_OTHER, None, -1
    if op == "pong":
        return Control.CTRL_PONG, None, -1
    return (Control.CTRL_SUBSCRIBED if op == "subscribe" else Control.CTRL_OTHER), None, -1


WIRE = Wire(
    dispatch=("topic",), topic_sep=".", control=control,   # "books.BTC-USDT": <channel>.<symbol>
    rest_book=RestBook(data="data", fields=(               # where books resync from REST
        Field("seq", Role.LAST), Field("bids", Role.BIDS), Field("asks", Role.ASKS))),
    channels=(
        Channel("books", Kind.BOOK, data="data", action=Action("type", snapshot=("snapshot",), delta=("delta",)),
                span=Span.FROM_PREV, time_unit_ns=MS, fields=(
                    Field("ts", Role.TS), Field("bids", Role.BIDS), Field("asks", Role.ASKS),
                    Field("checksum", Role.CHECKSUM, optional=True), Field("prevSeq", Role.PREV),
                    Field("seq", Role.LAST))),
        Channel("trades", Kind.TRADES, data="data", rows=Rows.MANY, fields=(
            Field("id", Role.TRADE_ID, opaque=True), Field("price", Role.PRICE), Field("size", Role.SIZE),
            Field("side", Role.SIDE, values=(("buy", True), ("sell", False))), Field("ts", Role.TS))),
        Channel("bbo", Kind.TOP, data="data", fields=(
            Field("bidPx", Role.BID_PX), Field("bidSz", Role.BID_QTY), Field("askPx", Role.ASK_PX),
            Field("askSz", Role.ASK_QTY), Field("seq", Role.TOP_ID), Field("ts", Role.TS))),
        Channel("funding", Kind.DERIVS, data="data", fields=(
            Field("markPrice", Role.MARK_PX), Field("fundingRate", Role.FUNDING_RATE),
            Field("fundingTime", Role.FUNDING_TIME), Field("nextFundingTime", Role.NEXT_FUNDING_TIME),
            Field("ts", Role.TS))),
    ),
)
