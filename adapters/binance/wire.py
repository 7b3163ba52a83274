# SPDX-License-Identifier: Apache-2.0
"""Binance's market-data streams as data (venuelink.wire): spot, and USD-M futures' dialect of the
same streams. Raw and combined-stream frames alike ({"stream": ..., "data": {...}}); the event
type "e" names the channel; times are milliseconds. Spot's bookTicker names no event type: a
frame with a symbol "s" and no "e" is one. Derivative pushes (markPriceUpdate, forceOrder) are
decoded by venuelink.adapters.binance.derivatives; anything else is a control frame (control())."""
from __future__ import annotations

from venuelink.adapters.binance import derivatives
from venuelink.wire import Channel, Field, Kind, RestBook, Role, Wire
from venuelink.ext.feed import Control
from venuelink.ext.json import JSONError
from venuelink.ext.ref import json_ref as J

_SYMBOL = Field("s", Role.SYMBOL)
_TRADE_TAIL = (Field("p", Role.PRICE), Field("q", Role.SIZE), Field("T", Role.TS), Field("m", Role.SIDE))
_TOP = (Field("b", Role.BID_PX), Field("B", Role.BID_QTY), Field("a", Role.ASK_PX), Field("A", Role.ASK_QTY))


def control(doc: J.Obj, raw: bytes) -> tuple[int, str | None, int]:
    """An event nobody decodes (serverShutdown: the venue will close the connection), or the
    reply to a request: {"result": null, "id": N} acknowledges, {"code", "msg", "id"} refuses."""
    try:
        event = J.get_str(doc, "e")
    except J.MissingFieldError:
        pass
    else:
        return (Control.CTRL_SHUTDOWN, None, -1) if event == "serverShutdown" else (Control.CTRL_OTHER, event, -1)
    try:
        J.get_int(doc, "code")
    except JSONError:
        pass
    else:
        try:
            return Control.CTRL_ERROR, None, J.get_int(doc, "id")
        except JSONError:
            return Control.CTRL_ERROR, None, -1
    try:
        return Control.CTRL_SUBSCRIBED, None, J.get_int(doc, "id")
    except JSONError:
        return Control.CTRL_OTHER, None, -1


#: GET /api/v3/depth and /fapi/v1/depth: {"lastUpdateId", ("E", "T",) "bids", "asks"}
REST_BOOK = RestBook(fields=(Field("lastUpdateId", Role.LAST), Field("bids", Role.BIDS), Field("asks", Role.ASKS)))

#: spot's bookTicker names no event type: a frame with "s" and no "e" is one (on either market)
_SPOT_TOP = ("s", Channel("bookTicker", Kind.TOP, fields=(_SYMBOL, Field("u", Role.TOP_ID), *_TOP)))

SPOT = Wire(
    dispatch=("e",), wrapper=("stream", "data"), control=control, rest_book=REST_BOOK, fallback=_SPOT_TOP,
    channels=(
        Channel("depthUpdate", Kind.BOOK, fields=(
            Field("E", Role.TS), _SYMBOL, Field("U", Role.FIRST), Field("u", Role.LAST),
            Field("b", Role.BIDS), Field("a", Role.ASKS))),
        Channel("trade", Kind.TRADES, fields=(_SYMBOL, Field("t", Role.TRADE_ID), *_TRADE_TAIL)),
    ),
)

USDM = Wire(
    dispatch=("e",), wrapper=("stream", "data"), control=control, rest_book=REST_BOOK, fallback=_SPOT_TOP,
    channels=(
        # the transaction time T, not the event's E; pu: the previous update's u
        Channel("depthUpdate", Kind.BOOK, fields=(
            Field("E", Role.CHECK), Field("T", Role.TS), _SYMBOL, Field("U", Role.FIRST), Field("u", Role.LAST),
            Field("pu", Role.PREV),
            Field("b", Role.BIDS), Field("a", Role.ASKS))),
        Channel("aggTrade", Kind.TRADES, fields=(Field("a", Role.TRADE_ID), _SYMBOL, *_TRADE_TAIL)),
        Channel("bookTicker", Kind.TOP, fields=(Field("u", Role.TOP_ID), Field("T", Role.TS), _SYMBOL, *_TOP)),
        *(Channel(e, Kind.PYTHON, decode=derivatives.decode) for e in sorted(derivatives.EVENTS)),
    ),
)
