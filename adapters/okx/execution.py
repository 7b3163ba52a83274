# SPDX-License-Identifier: Apache-2.0
"""OKX v5 execution: signed REST order entry, queries and reconciliation; the private WebSocket
(``/ws/v5/private``: ``login``, the ``orders`` channel, text ``ping``/``pong``) as the private
stream and as the fast path for placing and cancelling (``op: order`` / ``cancel-order``); the
``cancel-all-after`` dead man's switch.

Sizes: spot in the base currency, swaps in contracts (the instrument's lot, as on the wire); the
updates and fills of a swap carry ``contract_size`` (base per contract, the instrument's ``ctVal``).
Swaps trade in net mode with cross margin; ``reduce_only`` orders are sent with ``reduceOnly``.
Fees: OKX reports a paid fee as a negative number; engine fills carry the fee paid as positive.
"""
from __future__ import annotations

import json
import logging
from decimal import Decimal
from dataclasses import replace
from typing import Any, Callable
from urllib.parse import urlencode

from venuelink.adapters.okx import auth
from venuelink.adapters.okx.errors import QUERY_NOT_FOUND, _int, answer_error, parse_body
from venuelink.adapter import VenueAdapter
from venuelink.config import Credentials
from venuelink.errors import ExecutionUnknown, UnknownOrder, VenueError
from venuelink.model import (Balance, Fill, MarketKind, Order, OrderState, OrderType, OrderUpdate, Position, Side,
                          TimeInForce, VenueId)
from venuelink.order_checks import canonical, checked_units
from venuelink.execution import ExecutionClient
from venuelink.order_ids import make_client_order_id
from venuelink.private_ws import LoginClockSync, MsgKind, PrivateStreamOwner, PrivateWsDialect, PrivateWsSession
from venuelink.rest import RestClient
from venuelink.signed_rest import SignedRest
from venuelink.socket_orders import SocketOrders, SocketOrdersOwner
from venuelink.ext.clock import now_ns

log = logging.getLogger("venuelink.okx.exec")

MS = 1_000_000
TIME_PATH = "/api/v5/public/time"
ORDER_PATH = "/api/v5/trade/order"
CANCEL_PATH = "/api/v5/trade/cancel-order"
CANCEL_BATCH_PATH = "/api/v5/trade/cancel-batch-orders"
CANCEL_BATCH_MAX = 20           # orders per cancel-batch-orders request
AMEND_PATH = "/api/v5/trade/amend-order"
PENDING_PATH = "/api/v5/trade/orders-pending"
FILLS_PATH = "/api/v5/trade/fills"
CANCEL_ALL_AFTER_PATH = "/api/v5/trade/cancel-all-after"
PAGE = 100                      # the largest `limit` of orders-pending and fills
MAX_PAGES = 50

STATES = {"live": OrderState.NEW, "partially_filled": OrderState.PARTIALLY_FILLED, "filled": OrderState.FILLED,
          "canceled": OrderState.CANCELED, "mmp_canceled": OrderState.CANCELED}
DEAD_MAN_RANGE = (10, 120)
"""cancel-all-after: timeOut 0 disarms, otherwise 10..120 seconds"""
_PONG = "pong"
NOTICE_UPGRADE = "64008"
"""event=notice code: the connection will soon be closed for a service upgrade"""
WS_OPS = ("order", "cancel-order", "amend-order", "batch-orders", "batch-cancel-orders", "batch-amend-orders")


class OkxPrivateDialect(LoginClockSync, PrivateWsDialect):
    """OKX's private WebSocket. Login ``{"op":"login","args":[{apiKey, passphrase, timestamp (unix
    s), sign}]}`` -> ``{"event":"login","code":"0"}`` or ``{"event":"error","code":"60009"}``;
    pushes ``{"arg":{"channel":"orders",...},"data":[...]}``; requests ``{"id","op","args"}``
    answered ``{"id","op","code","msg","data":[{..., "sCode","sMsg"}]}``. Request ids travel as
    strings of digits (OKX allows up to 32 alphanumerics) and come back as the session's ints.
    OKX closes a connection after 30 s without traffic: text ``ping`` every 25 s, ``pong`` back.
    ``{"event":"notice","code":"64008"}`` (public and private sockets, 60 s before a service
    upgrade closes them) makes the session move to a new connection before the old one goes."""

    venue = "okx"
    ping_interval_s = 25.0
    heartbeat_s = None              # the venue's heartbeat is the text ping, not protocol pings
    confirms_subscribe = True       # {"event":"subscribe","arg":{...}} per subscribed channel

    def decode(self, text: str) -> Any:
        if text == _PONG:
            return _PONG
        return json.loads(text)

    def ping_frame(self) -> str | None:
        return "ping"

    def login_frames(self, creds: Credentials, now_ns: int) -> list[str]:
        return [auth.ws_login_frame(creds, now_ns // 1_000_000_000)]

    def is_login_ok(self, msg: Any) -> bool:
        return isinstance(msg, dict) and msg.get("event") == "login" and str(msg.get("code")) == "0"

    def login_error(self, msg: Any) -> VenueError | None:
        if not isinstance(msg, dict) or msg.get("id") is not None:
            return None
        ev = msg.get("event")
        if ev == "error" or (ev == "login" and str(msg.get("code")) != "0"):
            err = answer_error(_int(msg.get("code")), str(msg.get("msg", ""))[:200], [])
            if err is None:
                return None
            err.args = (f"okx private login refused: {err}",)
            return self.login_refused(err)
        return None

    def subscribe_frames(self) -> list[str]:
        return [json.dumps({"op": "subscribe", "args": [{"channel": "orders", "instType": "ANY"}]},
                           separators=(",", ":"))]

    def request_frame(self, req_id: int, method: str, params: Any) -> str:
        args = params if isinstance(params, list) else [params]
        return json.dumps({"id": str(req_id), "op": method, "args": args}, separators=(",", ":"))

    @staticmethod
    def _req_id(msg: dict) -> int | None:
        rid = msg.get("id")
        if isinstance(rid, str) and rid.isdigit() and len(rid) <= 18:
            return int(rid)
        return None

    def classify(self, msg: Any) -> tuple[MsgKind, int | None]:
        if msg == _PONG:
            return MsgKind.PONG, None
        if not isinstance(msg, dict):
            return MsgKind.UNKNOWN, None
        ev = msg.get("event")
        if ev is None and isinstance(msg.get("arg"), dict) and isinstance(msg.get("data"), list):
            return MsgKind.PUSH, None
        if msg.get("op") in WS_OPS and "code" in msg:
            rid = self._req_id(msg)
            return (MsgKind.REPLY, rid) if rid is not None else (MsgKind.UNKNOWN, None)
        if ev == "error":
            return MsgKind.ERROR, self._req_id(msg)
        if ev == "notice":
            # 64008: the venue closes this connection about 60 s later for a service upgrade
            return (MsgKind.ROTATE if str(msg.get("code")) == NOTICE_UPGRADE else MsgKind.EVENT), None
        if ev in ("login", "subscribe", "unsubscribe", "channel-conn-count"):
            return MsgKind.EVENT, None
        return MsgKind.UNKNOWN, None

    def is_subscribed(self, msg: Any) -> bool:
        return isinstance(msg, dict) and msg.get("event") == "subscribe" and isinstance(msg.get("arg"), dict)

    def push_identity(self, msg: Any, text: str) -> str:
        # two connections may sit on different gateways: compare the content, not the bytes
        return json.dumps([msg["arg"].get("channel"), msg["data"]], sort_keys=True, separators=(",", ":"))

    def reply_result(self, msg: Any) -> Any:
        return msg.get("data")

    def reply_error(self, msg: Any) -> VenueError | None:
        data = msg.get("data")
        return answer_error(_int(msg.get("code")), str(msg.get("msg", ""))[:500], data if isinstance(data, list) else [])


class OkxExecution(SignedRest, SocketOrdersOwner, PrivateStreamOwner, ExecutionClient):
    """venuelink.execution.ExecutionClient for OKX spot and swaps."""

    def __init__(self, adapter: VenueAdapter, rest: RestClient, creds: Credentials, *, demo: bool = False,
                 ws_timeout_s: float = 5.0) -> None:
        self.adapter = adapter
        self.venue = VenueId.okx
        self.rest = rest
        self.creds = creds
        self.demo = demo
        self.private_ws: PrivateWsSession | None = None
        self.on_update: Callable[[OrderUpdate], None] | None = None
        self.on_stream_state: Callable[[bool], None] | None = None
        self.bad_events = 0
        self.orders_socket = SocketOrders(rest, self.sync_time, timeout_s=ws_timeout_s, name="okx/private")
        """orders and cancels go over the private stream's own connection while it is logged in"""
        self.rest_orders = 0                  # ... and over REST

    def __repr__(self) -> str:
        return f"OkxExecution(rest={self.rest.base_url!r})"

    def new_client_order_id(self) -> str:
        # prefix + 20 base36 characters: 22 alphanumerics, inside OKX's 1-32 (no '-' or '_')
        return make_client_order_id("vl")

    # ---- signed REST (venuelink.signed_rest: the clock, one resend after a refused timestamp) ----------
    time_path = TIME_PATH

    def server_ms(self, body: bytes) -> int:
        return int(parse_body(body)[2][0]["ts"])

    async def _signed(self, method: str, path: str, params: dict[str, str] | None = None, *,
                      body: dict | list | None = None, order: Order | None = None, inst_id: str | None = None,
                      idempotent: bool = True) -> list:
        """One signed request; its answer's ``data`` (an error answer raises via the adapter's
        classify)."""
        w, prio = self.adapter.rest_cost(method, path, params or body, order)
        query = urlencode(params) if params else ""
        text = json.dumps(body, separators=(",", ":")) if body is not None else ""
        request_path = path + (f"?{query}" if query else "")
        r = await self.signed(method, path, lambda ts: (query, auth.rest_headers(self.creds, method, request_path,
                                                                                 text, ts, demo=self.demo)),
                              body=text, weights=w, priority=prio, idempotent=idempotent, instrument=inst_id)
        code, msg, data = parse_body(r.body)
        if code != 0:
            raise ExecutionUnknown(f"okx: {method} {path}: not an OKX success answer: {msg[:100]}",
                                   venue="okx", http_status=r.status)
        return data

    def _inst(self, symbol: str):
        return self.adapter.instrument(symbol)

    def _by_inst_id(self, inst_id: str):
        kind = MarketKind.SWAP if inst_id.endswith("-SWAP") else MarketKind.SPOT
        return self.adapter.by_venue_symbol.get((kind, inst_id))

    def _unified(self, inst_id: str) -> tuple[str, str]:
        """(unified symbol, contract size) of an instId; an unknown instId stays as sent."""
        inst = self._by_inst_id(inst_id)
        return (inst.symbol, inst.contract_size_str()) if inst is not None else (inst_id, "")

    # ---- requests ----------------------------------------------------------------------------
    def place_args(self, order: Order) -> dict[str, Any]:
        """The documented body of POST /api/v5/trade/order (also the args of the WS ``order`` op)."""
        inst = self._inst(order.symbol)
        qty, px = checked_units(inst, order, "okx")
        if order.type == OrderType.MARKET:
            ord_type = "market"
        else:
            ord_type = {TimeInForce.GTC: "limit", TimeInForce.IOC: "ioc", TimeInForce.FOK: "fok",
                        TimeInForce.POST_ONLY: "post_only"}[order.tif]
        a = {"instId": inst.venue_symbol, "tdMode": "cross" if inst.kind == MarketKind.SWAP else "cash",
             "clOrdId": order.client_order_id, "side": "buy" if order.side == Side.BUY else "sell",
             "ordType": ord_type, "sz": inst.qty_str(qty)}
        if px is not None:
            a["px"] = inst.px_str(px)
        if order.type == OrderType.MARKET and inst.kind == MarketKind.SPOT:
            a["tgtCcy"] = "base_ccy"        # a spot market buy's sz is otherwise in the quote currency
        if order.reduce_only:
            a["reduceOnly"] = True          # a JSON Boolean (checked_units refused it on spot)
        return a

    def cancel_args(self, order: Order) -> dict[str, str]:
        return {"instId": self._inst(order.symbol).venue_symbol, "clOrdId": order.client_order_id}

    async def _ws_op(self, op: str, path: str, args: dict[str, Any], order: Order) -> list | None:
        """The order operation on the private WebSocket when it is logged in and the instrument has
        its instIdCode (venuelink.socket_orders: the budget REST spends, OKX counts both together);
        None when it was not sent there (the caller uses REST)."""
        code = self._inst(order.symbol).venue_code
        if not code:
            return None                     # OKX's WebSocket order operations need instIdCode
        w, prio = self.adapter.rest_cost("POST", path, args, order)
        # instIdCode names the instrument (OKX ignores instId here since March 2026); instId
        # stays for the budget, the logs and the answer
        data = await self.orders_socket.request(op, {**args, "instIdCode": code}, w, prio, instrument=args["instId"])
        if data is not None and not isinstance(data, list):
            raise ExecutionUnknown(f"okx: {op} answer without data", venue="okx")
        return data

    async def _order_op(self, op: str, path: str, args: dict[str, str], order: Order, *,
                        idempotent: bool = True) -> dict:
        """One order operation: on the private socket when it is logged in, else signed REST;
        its answer's item (an sCode refusal raises)."""
        data = await self._ws_op(op, path, args, order)
        if data is None:
            data = await self._signed("POST", path, body=args, order=order, inst_id=args["instId"],
                                      idempotent=idempotent)
            self.rest_orders += 1
        return _first(data, op)

    async def place(self, order: Order) -> OrderUpdate:
        args = self.place_args(order)
        d = await self._order_op("order", ORDER_PATH, args, order, idempotent=False)
        # the ack says the order was accepted; what it became comes by the stream or a query
        return OrderUpdate(venue=self.venue, symbol=order.symbol, client_order_id=d.get("clOrdId") or order.client_order_id,
                           venue_order_id=str(d.get("ordId", "")), state=OrderState.NEW, filled_qty="0",
                           qty=order.qty, price=order.price or "", side=order.side,
                           ts_exchange=_ms_ns(d.get("ts")), ts_recv=now_ns())

    async def cancel(self, order: Order) -> OrderUpdate:
        args = self.cancel_args(order)
        d = await self._order_op("cancel-order", CANCEL_PATH, args, order)
        # sCode 0 accepts the cancel request; the order's final state (canceled, or filled in
        # the same instant) is the stream's or a query's to tell
        return OrderUpdate(venue=self.venue, symbol=order.symbol, client_order_id=d.get("clOrdId") or order.client_order_id,
                           venue_order_id=str(d.get("ordId", "")), state=OrderState.UNKNOWN,
                           filled_qty="", side=order.side, ts_exchange=_ms_ns(d.get("ts")), ts_recv=now_ns())

    cancels_on_stream = True
    """cancels go over the private socket while it is logged in (REST otherwise)"""

    async def cancel_all(self, symbol: str, orders: list[Order]) -> list[OrderUpdate]:
        """Cancel ``orders`` (all of ``symbol``) over REST, up to 20 per cancel-batch-orders
        request. OKX's mass-cancel covers option instruments only, so spot and swaps go by
        order. An accepted item (sCode 0) is a cancel request taken, not yet a canceled order:
        nothing is returned, the open-orders listing afterwards tells; items refused because the
        order is no longer open (filled, canceled, unknown) are no error here."""
        inst_id = self._inst(symbol).venue_symbol
        args = [{"instId": inst_id, **({"clOrdId": o.client_order_id} if o.client_order_id and not
                                       o.client_order_id.startswith("~") else {"ordId": o.venue_order_id})}
                for o in orders if o.client_order_id or o.venue_order_id]
        for i in range(0, len(args), CANCEL_BATCH_MAX):
            try:
                await self._signed("POST", CANCEL_BATCH_PATH, body=args[i:i + CANCEL_BATCH_MAX], inst_id=inst_id)
            except UnknownOrder:
                pass                        # some (or all) of them were no longer open
            self.rest_orders += 1
        return []

    def amend_args(self, order: Order, qty: str | None, price: str | None) -> dict[str, str]:
        """The body of POST /api/v5/trade/amend-order (also the WS ``amend-order`` args): the new
        total size and/or price, checked against the instrument like a new order's."""
        inst = self._inst(order.symbol)
        new = replace(order, qty=qty or order.qty, price=price or order.price)
        q, px = checked_units(inst, new, "okx")
        a = {"instId": inst.venue_symbol, "clOrdId": order.client_order_id,
             "reqId": make_client_order_id("am")}
        if qty is not None:
            a["newSz"] = inst.qty_str(q)
        if price is not None and px is not None:
            a["newPx"] = inst.px_str(px)
        return a

    async def amend(self, order: Order, qty: str | None, price: str | None) -> OrderUpdate:
        args = self.amend_args(order, qty, price)
        d = await self._order_op("amend-order", AMEND_PATH, args, order)
        # sCode 0: OKX took the amendment; should it fail inside the matching engine after all,
        # the orders channel says so (amendResult -1) with the terms the order kept
        return OrderUpdate(venue=self.venue, symbol=order.symbol, client_order_id=d.get("clOrdId") or order.client_order_id,
                           venue_order_id=str(d.get("ordId", "")), state=OrderState.UNKNOWN, filled_qty="",
                           qty=args.get("newSz", ""), price=args.get("newPx", ""), side=order.side,
                           ts_exchange=_ms_ns(d.get("ts")), ts_recv=now_ns())

    async def query(self, order: Order) -> OrderUpdate:
        inst = self._inst(order.symbol)
        try:
            data = await self._signed("GET", ORDER_PATH, {"instId": inst.venue_symbol, "clOrdId": order.client_order_id})
        except UnknownOrder as e:
            if e.code == QUERY_NOT_FOUND:
                raise
            # cancel/amend codes say nothing about an order query: only 51603 means "no such order"
            raise ExecutionUnknown(f"okx: order query answered {e}", venue="okx", code=e.code) from None
        if not data or not isinstance(data[0], dict):
            raise ExecutionUnknown("okx: order query answered no order", venue="okx")
        return self.order_update(data[0], now_ns())

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        params: dict[str, str] = {"limit": str(PAGE)}
        if symbol:
            params["instId"] = self._inst(symbol).venue_symbol
        out: list[OrderUpdate] = []
        for _ in range(MAX_PAGES):
            data = await self._signed("GET", PENDING_PATH, dict(params))
            rows = [d for d in data if isinstance(d, dict)]
            out += [self.order_update(d, now_ns()) for d in rows]
            if len(rows) < PAGE or not rows[-1].get("ordId"):
                break
            params["after"] = str(rows[-1]["ordId"])       # newest first: older than the last one
        return out

    async def balances(self) -> list[Balance]:
        """GET /api/v5/account/balance: per currency availBal (free) and frozenBal (held by orders
        and, in cross margin, by positions), every currency with either nonzero."""
        data = await self._signed("GET", "/api/v5/account/balance", {})
        out = []
        for acct in data:
            for d in acct.get("details", ()) if isinstance(acct, dict) else ():
                free, locked = canonical(d.get("availBal") or "0"), canonical(d.get("frozenBal") or "0")
                if free != "0" or locked != "0":
                    out.append(Balance(self.venue, d["ccy"], free, locked))
        return out

    async def positions(self) -> list[Position]:
        """GET /api/v5/account/positions (swaps; net mode: `pos` is signed), every nonzero one."""
        out = []
        for d in await self._signed("GET", "/api/v5/account/positions", {"instType": "SWAP"}):
            if not isinstance(d, dict) or canonical(d.get("pos") or "0") == "0":
                continue
            inst = self.adapter.instrument(d["instId"], MarketKind.SWAP)
            out.append(Position(self.venue, inst.symbol, canonical(d["pos"]), canonical(d.get("avgPx") or "0"),
                                canonical(d.get("upl") or "0"), d.get("ccy") or inst.settle, inst.contract_size_str()))
        return out

    async def recent_fills(self, symbol: str, since_ns: int) -> list[Fill]:
        inst = self._inst(symbol)
        params = {"instType": "SWAP" if inst.kind == MarketKind.SWAP else "SPOT", "instId": inst.venue_symbol,
                  "begin": str(max(0, since_ns // MS - 1000)), "limit": str(PAGE)}
        out: list[Fill] = []
        for _ in range(MAX_PAGES):
            data = await self._signed("GET", FILLS_PATH, dict(params))
            rows = [d for d in data if isinstance(d, dict)]
            for t in rows:
                try:
                    out.append(self.rest_fill(t, inst.symbol))
                except (KeyError, TypeError, ValueError, ArithmeticError) as e:
                    self.bad_events += 1
                    log.warning("okx fills: bad row dropped: %s: %s", type(e).__name__, e)
            if len(rows) < PAGE or not rows[-1].get("billId"):
                break
            params["after"] = str(rows[-1]["billId"])
        return [f for f in out if f.ts_exchange >= since_ns - 1000 * MS]

    def rest_fill(self, t: dict, symbol: str) -> Fill:
        """A row of GET /api/v5/trade/fills -> Fill."""
        side = _side(t.get("side"))
        if side is None:
            raise ValueError(f"fill without a side: {t.get('side')!r}")
        return Fill(venue=self.venue, symbol=symbol, client_order_id=t.get("clOrdId") or "",
                    venue_order_id=str(t["ordId"]), trade_id=str(t["tradeId"]), price=canonical(t["fillPx"]),
                    qty=canonical(t["fillSz"]), side=side, fee=_paid(t.get("fee")),
                    fee_asset=t.get("feeCcy") or "", is_maker=t.get("execType") == "M",
                    ts_exchange=_ms_ns(t.get("fillTime") or t.get("ts")), ts_recv=now_ns(),
                    contract_size=self._inst(symbol).contract_size_str())

    # ---- dead man's switch ----------------------------------------------------------------------
    async def arm_dead_man(self, timeout_s: int) -> None:
        """cancel-all-after: every open order is canceled unless re-armed within ``timeout_s``
        (0 disarms)."""
        n = int(timeout_s)
        if n != 0 and not DEAD_MAN_RANGE[0] <= n <= DEAD_MAN_RANGE[1]:
            raise ValueError(f"okx cancel-all-after: timeOut must be 0 or {DEAD_MAN_RANGE[0]}..{DEAD_MAN_RANGE[1]} s, "
                             f"got {timeout_s}")
        await self._signed("POST", CANCEL_ALL_AFTER_PATH, body={"timeOut": str(n)})

    # ---- private stream --------------------------------------------------------------------
    def start(self, private_ws_url: str, on_reconnected: Callable[[], None]) -> None:
        if self.private_ws is not None:
            return
        self.private_ws = PrivateWsSession(
            private_ws_url, OkxPrivateDialect(self.sync_time), self.creds, on_push=self._on_push,
            on_reconnected=on_reconnected, on_state=self._on_state, http=self.rest.session,
            clock_ns=self.venue_ns, name="okx/private", connect_pacer=self.connect_pacer)
        self.private_ws.start()
        self.orders_socket.session = self.private_ws

    def _on_push(self, msg: dict) -> None:
        if msg["arg"].get("channel") != "orders":
            return
        for d in msg["data"]:
            try:
                if not isinstance(d, dict):
                    raise TypeError(f"order entry is a {type(d).__name__}")
                u = self.order_update(d, now_ns(), with_fill=True)
            except (ValueError, KeyError, TypeError, ArithmeticError) as e:
                self.bad_events += 1
                log.warning("okx orders channel: bad order dropped: %s: %s", type(e).__name__, e)
                continue
            if self.on_update is not None:
                self.on_update(u)

    def order_update(self, d: dict, ts_recv: int, *, with_fill: bool = False) -> OrderUpdate:
        """An order as the orders channel pushes it and GET /api/v5/trade/order(s-pending) answer
        it -> OrderUpdate; ``with_fill`` (pushes) adds the fill the push reports (fillSz > 0 and a
        tradeId). Query answers carry no fill: their fee is the order's total, not the fill's, so
        the order manager fetches missing fills from /trade/fills instead."""
        inst_id = d["instId"]
        symbol, contract_size = self._unified(inst_id)
        state = d["state"]
        if state not in STATES:
            raise ValueError(f"unknown order state {state!r}")
        side = _side(d.get("side"))
        vid = str(d["ordId"])
        cid = d.get("clOrdId") or ""
        u = OrderUpdate(venue=self.venue, symbol=symbol, client_order_id=cid, venue_order_id=vid,
                        state=STATES[state], filled_qty=canonical(d.get("accFillSz") or "0"), qty=canonical(d.get("sz")),
                        price=canonical(d.get("px")), side=side, ts_exchange=_ms_ns(d.get("uTime") or d.get("cTime")),
                        ts_recv=ts_recv, reason=str(d.get("cancelSource") or ""), contract_size=contract_size)
        fill_sz = d.get("fillSz") or ""
        trade_id = d.get("tradeId") or ""
        if with_fill and trade_id and fill_sz and Decimal(fill_sz) > 0:
            if side is None:
                raise ValueError(f"fill without a side: {d.get('side')!r}")
            u.fill = Fill(venue=self.venue, symbol=symbol, client_order_id=cid, venue_order_id=vid,
                          trade_id=str(trade_id), price=canonical(d["fillPx"]), qty=canonical(fill_sz), side=side,
                          fee=_paid(d.get("fillFee")), fee_asset=d.get("fillFeeCcy") or "",
                          is_maker=d.get("execType") == "M", ts_exchange=_ms_ns(d.get("fillTime")), ts_recv=ts_recv,
                          contract_size=contract_size)
        return u


def _first(data: list, what: str) -> dict:
    if not data or not isinstance(data[0], dict):
        raise ExecutionUnknown(f"okx: {what} answer without its item", venue="okx")
    return data[0]


def _side(s) -> Side | None:
    return Side.BUY if s == "buy" else Side.SELL if s == "sell" else None


def _ms_ns(v) -> int:
    if v in (None, ""):
        return 0
    return int(v) * MS


def _paid(fee) -> str:
    """OKX's fee (negative = paid, positive = rebate) -> the engine's (positive = paid)."""
    if fee in (None, ""):
        return "0"
    return canonical(str(-Decimal(str(fee))))
