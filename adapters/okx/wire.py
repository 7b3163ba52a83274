# SPDX-License-Identifier: Apache-2.0
"""OKX v5 public market data as data (venuelink.wire; okx.com/docs-v5, WebSocket public channels).

Every push names its channel and instrument in ``arg`` and carries one object in ``data``::

    {"arg":{"channel":"books","instId":"BTC-USDT"},"action":"update","data":[{"asks":[["8476.98","415","0","13"]],
     "bids":[...],"ts":"1597026383085","checksum":-855196043,"prevSeqId":123456,"seqId":123457}]}

Level rows are [px, sz, "0" (deprecated), numOrders]; sizes of swaps are contracts; ``ts`` is a
millisecond string. A book update spans [prevSeqId, seqId] (the first after a REST snapshot is
the one with prevSeqId <= the snapshot's seqId < seqId; prevSeqId == seqId with no levels is a
keep-alive; seqId < prevSeqId after maintenance is a legal reset). The checksum, where OKX still
sends it (not since early August 2026), comes before prevSeqId. index-tickers name the index
("BTC-USDT"), whose price belongs to the swap on it ("BTC-USDT-SWAP"), never to the spot pair of
that name. Liquidations come per instrument type (venuelink.adapters.okx.liquidations). Anything else is
an event (control()); ``pong`` is the text answer to our text ping."""
from __future__ import annotations

from venuelink.adapters.okx import liquidations
from venuelink.wire import Action, Channel, Field, Kind, RestBook, Role, Rows, Span, Wire
from venuelink.ext.feed import Control
from venuelink.ext.json import JSONError
from venuelink.ext.ref import json_ref as J

_TS = Field("ts", Role.TS, text=True)
_SIDES = (Field("asks", Role.ASKS), Field("bids", Role.BIDS))
_EVENTS = {"subscribe": Control.CTRL_SUBSCRIBED, "unsubscribe": Control.CTRL_UNSUBSCRIBED, "login": Control.CTRL_LOGIN}
SHUTDOWN_NOTICE = "64008"
"""the connection closes for a service upgrade in about 60 s: reconnect now"""


def _digits(s: str) -> int:
    """A request id echoed as a string: its value, or -1 if it is not 1-18 ASCII digits."""
    return int(s) if 0 < len(s) <= 18 and all("0" <= c <= "9" for c in s) else -1


def control(doc: J.Obj, raw: bytes) -> tuple[int, str | None, int]:
    """{"event": "subscribe" | "unsubscribe" | "login" | "error" | "notice" | ..., "id", "code", "msg"}"""
    try:
        ev = J.get_str(doc, "event")
    except J.MissingFieldError:
        return Control.CTRL_OTHER, None, -1
    rid = -1
    try:
        rid = _digits(J.get_str(doc, "id"))
    except JSONError:
        pass
    if ev in _EVENTS:
        return _EVENTS[ev], None, rid
    if ev in ("error", "notice"):
        code = J.get_str(doc, "code")
        try:
            msg = J.get_str(doc, "msg")
        except J.MissingFieldError:
            msg = ""
        topic = f"{code} {msg}" if msg else code
        if ev == "error":
            return Control.CTRL_ERROR, topic, rid
        return (Control.CTRL_SHUTDOWN if code == SHUTDOWN_NOTICE else Control.CTRL_STATUS), topic, rid
    return Control.CTRL_OTHER, ev, rid


def _data(name: str, kind: Kind, *fields: Field, **kw) -> Channel:
    return Channel(name, kind, data="data", rows=Rows.ONLY, fields=fields, **kw)


WIRE = Wire(
    dispatch=("arg", "channel"), symbol=("arg", "instId"), control=control, raw=((b"pong", Control.CTRL_PONG),),
    # GET /api/v5/market/books: {"code":"0","data":[{"asks","bids","ts","seqId"}]}
    rest_book=RestBook(data="data", rows=Rows.ONLY, envelope_ok=("code", "0"), nonnegative=True,
                       fields=(*_SIDES, _TS, Field("seqId", Role.LAST))),
    channels=(
        _data("books", Kind.BOOK, *_SIDES, _TS, Field("checksum", Role.CHECKSUM, optional=True, signed=True),
              Field("prevSeqId", Role.PREV), Field("seqId", Role.LAST),
              action=Action("action", snapshot=("snapshot",), delta=("update",)), span=Span.FROM_PREV),
        _data("trades", Kind.TRADES, Field("tradeId", Role.TRADE_ID, text=True), Field("px", Role.PRICE),
              Field("sz", Role.SIZE), Field("side", Role.SIDE, values=(("buy", True), ("sell", False))), _TS),
        _data("bbo-tbt", Kind.TOP, *_SIDES, _TS, Field("seqId", Role.TOP_ID)),
        _data("mark-price", Kind.DERIVS, Field("markPx", Role.MARK_PX), _TS),
        _data("index-tickers", Kind.DERIVS, Field("idxPx", Role.INDEX_PX), _TS, symbol_suffix="-SWAP"),
        _data("funding-rate", Kind.DERIVS, Field("fundingRate", Role.FUNDING_RATE),
              Field("fundingTime", Role.FUNDING_TIME, text=True),
              Field("nextFundingRate", Role.NEXT_FUNDING_RATE, optional=True),
              Field("nextFundingTime", Role.NEXT_FUNDING_TIME, text=True), _TS),
        _data("open-interest", Kind.DERIVS, Field("oi", Role.OPEN_INTEREST), _TS),
        Channel(liquidations.CHANNEL, Kind.PYTHON, decode=liquidations.decode),
    ),
)
