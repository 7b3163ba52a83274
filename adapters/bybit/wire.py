# SPDX-License-Identifier: Apache-2.0
"""Bybit v5 public market data as data (venuelink.wire; bybit-exchange.github.io/docs/v5/websocket/public).

Every push names its topic, "<channel>.<symbol>", and carries its values in ``data``::

    {"topic":"orderbook.50.BTCUSDT","type":"delta","ts":1687940967466,"data":{"s":"BTCUSDT",
     "b":[["30247.20","30.028"],["30240.00","0"]],"a":[["30248.70","0"]],"u":177400507,"seq":66544703342},
     "cts":1687940967464}

Books (``orderbook.50``): the snapshot comes in the stream after subscribing, and any later
``snapshot`` replaces the book; ``u`` counts the topic's pushes one by one and a delta with
``u == 1`` is a restarted service's whole book; ``seq`` is a cross sequence, read and not used.
Bybit documents no gap rule: a delta is applied only when its ``u`` is the book's + 1, so a
missed push can never be taken in (the engine resubscribes the topic for a fresh snapshot).
``orderbook.1`` is the best bid and offer, a snapshot each time (and again every 3 s unchanged).
Trades (``publicTrade``): up to 1024 per push, ``S`` the taker's side, ``i`` an opaque id (a
number on spot, a UUID on derivatives), ``BT`` a block trade (the event's ``block`` flag). Tickers of perpetuals (``tickers``): a snapshot, then
deltas holding only the fields that changed (the funding rate or its time alone is completed
from the last push). Liquidations (``allLiquidation``) are decoded by venuelink.adapters.bybit.liquidations.
Replies, pongs (each stream answers a ping in its own shape) and errors are control frames."""
from __future__ import annotations

from venuelink.adapters.bybit import liquidations
from venuelink.wire import Action, Channel, Field, Kind, RestBook, Role, Rows, Span, Wire
from venuelink.ext.feed import Control
from venuelink.ext.json import JSONError
from venuelink.ext.ref import json_ref as J

_TS = Field("ts", Role.TS)
_LEVELS = (Field("s", Role.SYMBOL), Field("b", Role.BIDS), Field("a", Role.ASKS))
_OPS = {"subscribe": Control.CTRL_SUBSCRIBED, "unsubscribe": Control.CTRL_UNSUBSCRIBED, "auth": Control.CTRL_LOGIN,
        "ping": Control.CTRL_PONG, "pong": Control.CTRL_PONG}


def _opt_str(doc: J.Obj, key: str) -> str:
    try:
        return J.get_str(doc, key)
    except JSONError:
        return ""


def control(doc: J.Obj, raw: bytes) -> tuple[int, str | None, int]:
    """Replies: ``{"success": true|false, "ret_msg", "conn_id", "req_id", "op"}`` (subscribe,
    unsubscribe, auth; a ping's answer is op "ping" with ret_msg "pong" on spot and linear) and
    ``{"op": "pong", "args": [...]}`` (option, spread, private and status streams)."""
    op = _opt_str(doc, "op")
    rid = _opt_str(doc, "req_id")
    rid_n = int(rid) if 0 < len(rid) <= 18 and rid.isdigit() else -1
    if op not in _OPS:
        return Control.CTRL_OTHER, op or None, rid_n
    try:
        ok = J.get_bool(doc, "success")
    except J.MissingFieldError:
        ok = True                               # {"op":"pong","args":[...]} carries no success field
    if not ok:
        return Control.CTRL_ERROR, f"{op}: {_opt_str(doc, 'ret_msg')}", rid_n
    return _OPS[op], None, rid_n


def _data(name: str, kind: Kind, *fields: Field, **kw) -> Channel:
    return Channel(name, kind, data="data", head=(_TS,), fields=fields, **kw)


WIRE = Wire(
    dispatch=("topic",), topic_sep=".", control=control,
    # GET /v5/market/orderbook: {"retCode":0,"result":{"s","b","a","ts","u","seq","cts"}}
    rest_book=RestBook(data="result", envelope_ok=("retCode", "0"), fields=(*_LEVELS, _TS, Field("u", Role.LAST))),
    channels=(
        _data("orderbook.50", Kind.BOOK, *_LEVELS, Field("u", Role.LAST), Field("seq", Role.CHECK, optional=True),
              action=Action("type", snapshot=("snapshot",), delta=("delta",)), span=Span.CONSECUTIVE, restart_id=1),
        _data("orderbook.1", Kind.TOP, *_LEVELS, Field("u", Role.TOP_ID)),
        Channel("publicTrade", Kind.TRADES, data="data", rows=Rows.MANY, fields=(
            Field("T", Role.TS), Field("s", Role.SYMBOL), Field("S", Role.SIDE, values=(("Buy", True), ("Sell", False))),
            Field("v", Role.SIZE), Field("p", Role.PRICE), Field("i", Role.TRADE_ID, opaque=True),
            Field("BT", Role.BLOCK, optional=True))),
        _data("tickers", Kind.DERIVS, Field("symbol", Role.SYMBOL),
              Field("markPrice", Role.MARK_PX, optional=True), Field("indexPrice", Role.INDEX_PX, optional=True),
              Field("openInterest", Role.OPEN_INTEREST, optional=True),
              Field("nextFundingTime", Role.FUNDING_TIME, text=True, optional=True),
              Field("fundingRate", Role.FUNDING_RATE, optional=True)),
        Channel(liquidations.CHANNEL, Kind.PYTHON, decode=liquidations.decode),
    ),
)
