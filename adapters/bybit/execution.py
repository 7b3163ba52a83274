# SPDX-License-Identifier: Apache-2.0
"""Bybit v5 execution (unified trading account): spot and linear orders.

Orders go over the order-entry WebSocket (``/v5/trade``: ``order.create``, ``order.amend``,
``order.cancel``, one order each, a ``reqId`` to match the answer and the request's time in its
``header``) while it is logged in, over signed REST (``/v5/order/create|amend|cancel``) while it
is not; both spend the same per-endpoint budget, synced from the ``X-Bapi-Limit-*`` headers each
answer carries. The private stream (``/v5/private``: ``auth``, then the ``order``, ``execution``
and ``position`` topics) pushes every order change, each fill and positions. ``orderLinkId`` (at
most 36 of ``[0-9A-Za-z_-]``) is the client id: a place answered 110072 ("OrderLinkedID is
duplicate") after a lost answer means the order exists, reconciled, never placed again.
``PartiallyFilledCanceled`` (spot) is canceled with its filled quantity. With ``dead_man_s`` set,
the private stream subscribes ``dcp.spot`` and ``dcp.future`` and the window is set by ``POST
/v5/order/disconnected-cancel-all``: when every such connection has been gone that long, Bybit
cancels the account's open orders (disconnect-cancel-all must be enabled for the account).

Sizes are in the base coin for spot and linear alike; fees are positive when paid (Bybit's sign).
A spot market order's ``qty`` is sent in the base coin (``marketUnit: baseCoin``)."""
from __future__ import annotations

import json
import logging
from dataclasses import replace
from decimal import Decimal
from typing import Any, Callable
from urllib.parse import urlencode, urlsplit, urlunsplit

from venuelink.adapters.bybit import auth, errors
from venuelink.adapters.bybit.symbols import category
from venuelink.adapter import VenueAdapter
from venuelink.config import Credentials
from venuelink.errors import AuthError, ExecutionUnknown, TimestampError, UnknownOrder, VenueError
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

log = logging.getLogger("venuelink.bybit.exec")

MS = 1_000_000
CREATE, CANCEL, AMEND = "/v5/order/create", "/v5/order/cancel", "/v5/order/amend"
CANCEL_ALL = "/v5/order/cancel-all"
REALTIME, HISTORY = "/v5/order/realtime", "/v5/order/history"
EXECUTIONS = "/v5/execution/list"
WALLET, POSITIONS = "/v5/account/wallet-balance", "/v5/position/list"
DCP_PATH = "/v5/order/disconnected-cancel-all"
TIME_PATH = "/v5/market/time"
SOCKET_OPS = {"order.create": CREATE, "order.amend": AMEND, "order.cancel": CANCEL}
"""the order-entry socket's operations and the REST endpoint each stands for (same body, same budget)"""
ORDERS_PAGE, FILLS_PAGE, MAX_PAGES = 50, 100, 50
DCP_TOPICS = ["dcp.spot", "dcp.future"]
"""the private stream's subscriptions that make disconnect-cancel-all count for spot and derivatives"""
DCP_RANGE = (3, 300)
"""disconnect-cancel-all: the window in seconds"""
AUTH_EXPIRES_MS = 10_000
STATUS = {"New": OrderState.NEW, "PartiallyFilled": OrderState.PARTIALLY_FILLED, "Untriggered": OrderState.NEW,
          "Triggered": OrderState.NEW, "Filled": OrderState.FILLED, "Cancelled": OrderState.CANCELED,
          "PartiallyFilledCanceled": OrderState.CANCELED, "Deactivated": OrderState.CANCELED,
          "Rejected": OrderState.REJECTED}
POST_ONLY_WOULD_TAKE = "EC_PostOnlyWillTakeLiquidity"
"""a PostOnly order that would have taken: Bybit accepts it, then cancels it with this reason"""
_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK", TimeInForce.POST_ONLY: "PostOnly"}
_SIDE = {"Buy": Side.BUY, "Sell": Side.SELL}


def _body(d: Any) -> dict:
    return json.loads(d) if isinstance(d, (bytes, str)) else d


def _ms_ns(v: Any) -> int:
    return int(v) * MS if v not in (None, "") else 0


def _rows(path: str, result: dict) -> list[dict]:
    """A listing's rows, each with its category (rows name none: the answer's does)."""
    got = result.get("list")
    if not isinstance(got, list):
        raise ExecutionUnknown(f"bybit: {path} answered without a list", venue="bybit")
    cat = result.get("category")
    return [{**r, "category": r.get("category") or cat} for r in got if isinstance(r, dict)]


def trade_socket_url(private_url: str, configured: str = "") -> str:
    """Order entry: the configured ``trade`` endpoint, else ``/v5/trade`` on the private stream's
    host (production's, or a simulator's: orders never go elsewhere than the stream's venue)."""
    if configured:
        return configured
    u = urlsplit(private_url)
    return urlunsplit((u.scheme, u.netloc, "/v5/trade", "", ""))


class _Dialect(LoginClockSync, PrivateWsDialect):
    venue = "bybit"
    ping_interval_s = 20.0          # {"op":"ping"} every 20 s; silence for 10 minutes is cut
    heartbeat_s = None

    def __init__(self, sync_time: Callable[[], Any], clock_ms: Callable[[], int]) -> None:
        super().__init__(sync_time)
        self.clock_ms = clock_ms

    def ping_frame(self) -> str | None:
        return '{"op":"ping"}'

    def _refused(self, why: str, code: int) -> VenueError:
        cls = TimestampError if "expire" in why.lower() or code == 10002 else AuthError
        return self.login_refused(cls(f"bybit {self.name} login refused: {why}", venue="bybit", code=code))


class PrivateDialect(_Dialect):
    """``/v5/private``: ``{"op":"auth","args":[key, expires, sign]}`` -> ``{"success":true,"op":"auth"}``;
    subscribe frames for the topics; pushes ``{"id","topic","creationTime","data":[...]}``; pong
    ``{"op":"pong","args":[ms]}``."""

    name = "private"
    confirms_subscribe = True

    def __init__(self, sync_time: Callable[[], Any], clock_ms: Callable[[], int], topics: list[str]) -> None:
        super().__init__(sync_time, clock_ms)
        self.topics = topics

    def login_frames(self, creds: Credentials, now_ns: int) -> list[str]:
        return [auth.ws_auth_frame(creds, now_ns // MS + AUTH_EXPIRES_MS)]

    def is_login_ok(self, msg: Any) -> bool:
        return isinstance(msg, dict) and msg.get("op") == "auth" and msg.get("success") is True

    def login_error(self, msg: Any) -> VenueError | None:
        if isinstance(msg, dict) and msg.get("op") == "auth" and msg.get("success") is not True:
            return self._refused(str(msg.get("ret_msg", ""))[:200], 10003)
        return None

    def subscribe_frames(self) -> list[str]:
        return [json.dumps({"req_id": "sub", "op": "subscribe", "args": self.topics}, separators=(",", ":"))]

    def is_subscribed(self, msg: Any) -> bool:
        return isinstance(msg, dict) and msg.get("op") == "subscribe" and msg.get("success") is True

    def push_identity(self, msg: Any, text: str) -> str:
        # each connection's copy of a push may carry its own id: the content decides
        return json.dumps([msg.get("topic"), msg.get("data")], sort_keys=True, separators=(",", ":"))

    def request_frame(self, req_id: int, method: str, params: Any) -> str:
        """The stream's only requests: subscribe / unsubscribe (orders go on /v5/trade)."""
        if method not in ("subscribe", "unsubscribe"):
            raise NotImplementedError(f"bybit's private stream takes no {method!r} (orders go on /v5/trade)")
        return json.dumps({"req_id": str(req_id), "op": method, "args": list(params)}, separators=(",", ":"))

    def classify(self, msg: Any) -> tuple[MsgKind, int | None]:
        if not isinstance(msg, dict):
            return MsgKind.UNKNOWN, None
        if isinstance(msg.get("topic"), str) and isinstance(msg.get("data"), list):
            return MsgKind.PUSH, None
        op, rid = msg.get("op"), msg.get("req_id")
        if op in ("pong", "ping"):
            return MsgKind.PONG, None
        if op in ("subscribe", "unsubscribe") and isinstance(rid, str) and rid.isdigit() and len(rid) <= 18:
            return MsgKind.REPLY, int(rid)          # one of ours (the connection's own subscribe is "sub")
        if op in ("auth", "subscribe", "unsubscribe"):
            return (MsgKind.EVENT if msg.get("success") is not False else MsgKind.ERROR), None
        return MsgKind.UNKNOWN, None

    def reply_result(self, msg: Any) -> Any:
        return msg

    def reply_error(self, msg: Any) -> VenueError | None:
        if msg.get("success") is False:
            return VenueError(f"bybit private {msg.get('op')}: {str(msg.get('ret_msg', ''))[:200]}", venue="bybit")
        return None


class TradeDialect(_Dialect):
    """``/v5/trade``: ``{"reqId","op":"auth","args":[...]}`` -> ``{"retCode":0,"op":"auth"}``;
    requests ``{"reqId","header":{"X-BAPI-TIMESTAMP","X-BAPI-RECV-WINDOW"},"op","args":[order]}``
    answered ``{"reqId","retCode","retMsg","op","data":{"orderId","orderLinkId"},"header":{X-Bapi-Limit*}}``.
    A reply's result is the whole answer (its ``data`` and its usage ``header``)."""

    name = "trade"

    def __init__(self, sync_time: Callable[[], Any], clock_ms: Callable[[], int], recv_window_ms: int) -> None:
        super().__init__(sync_time, clock_ms)
        self.recv_window_ms = recv_window_ms

    def login_frames(self, creds: Credentials, now_ns: int) -> list[str]:
        frame = json.loads(auth.ws_auth_frame(creds, now_ns // MS + AUTH_EXPIRES_MS))
        return [json.dumps({"reqId": "auth", "op": "auth", "args": frame["args"]}, separators=(",", ":"))]

    def is_login_ok(self, msg: Any) -> bool:
        return isinstance(msg, dict) and msg.get("op") == "auth" and msg.get("retCode") == 0

    def login_error(self, msg: Any) -> VenueError | None:
        if isinstance(msg, dict) and msg.get("op") == "auth" and msg.get("retCode") != 0:
            code = msg.get("retCode")
            return self._refused(str(msg.get("retMsg", ""))[:200], code if isinstance(code, int) else 10003)
        return None

    def request_frame(self, req_id: int, method: str, params: Any) -> str:
        header = {"X-BAPI-TIMESTAMP": str(self.clock_ms()), "X-BAPI-RECV-WINDOW": str(self.recv_window_ms)}
        return json.dumps({"reqId": str(req_id), "header": header, "op": method, "args": [params]},
                          separators=(",", ":"))

    def classify(self, msg: Any) -> tuple[MsgKind, int | None]:
        if not isinstance(msg, dict):
            return MsgKind.UNKNOWN, None
        op, rid = msg.get("op"), msg.get("reqId")
        if op in SOCKET_OPS:
            ok = isinstance(rid, str) and rid.isdigit() and len(rid) <= 18
            return (MsgKind.REPLY, int(rid)) if ok else (MsgKind.ERROR, None)
        if op in ("pong", "ping"):
            return MsgKind.PONG, None
        if op == "auth":
            return MsgKind.EVENT, None
        return MsgKind.UNKNOWN, None

    def reply_result(self, msg: Any) -> Any:
        return msg

    def reply_error(self, msg: Any) -> VenueError | None:
        code = msg.get("retCode")
        if code == 0:
            return None
        header = msg.get("header") if isinstance(msg.get("header"), dict) else {}
        return errors.error_for(code if isinstance(code, int) else None, str(msg.get("retMsg", ""))[:500], 200,
                                header, {"time": header.get("Timenow")})


class BybitExecution(SignedRest, SocketOrdersOwner, PrivateStreamOwner, ExecutionClient):
    """venuelink.execution.ExecutionClient for Bybit spot and linear perpetuals (one-way positions)."""

    time_path = TIME_PATH

    def __init__(self, adapter: VenueAdapter, rest: RestClient, creds: Credentials, *, recv_window_ms: int = 5000,
                 trade_url: str = "", dead_man: bool = False, ws_timeout_s: float = 5.0) -> None:
        self.adapter = adapter
        self.venue = VenueId.bybit
        self.rest = rest
        self.creds = creds
        self.recv_window_ms = recv_window_ms
        self.trade_url = trade_url
        self.dead_man = dead_man
        self.private_ws: PrivateWsSession | None = None
        self.orders_socket = SocketOrders(rest, self.sync_time, timeout_s=ws_timeout_s, name="bybit/trade",
                                          headers_of=lambda msg: msg.get("header"))
        self.on_update: Callable[[OrderUpdate], None] | None = None
        self.on_position: Callable[[Position], None] | None = None
        self.on_stream_state: Callable[[bool], None] | None = None
        self.bad_events = 0
        self.rest_orders = 0
        self._dcp_window = 0

    def __repr__(self) -> str:
        return f"BybitExecution(rest={self.rest.base_url!r})"

    def new_client_order_id(self) -> str:
        return make_client_order_id("vl")          # 22 of [0-9a-z]: inside orderLinkId's 36

    def server_ms(self, body: bytes) -> int:
        d = _body(body)
        return int(d["result"]["timeNano"]) // MS if d["result"].get("timeNano") else int(d["time"])

    # ---- signed REST ---------------------------------------------------------------------------
    async def _signed(self, method: str, path: str, params: dict[str, Any], *, order: Order | None = None,
                      idempotent: bool = True) -> dict:
        """One signed request; its answer's ``result`` (an error answer raises via the adapter)."""
        w, prio = self.adapter.rest_cost(method, path, params, order)
        query = urlencode(params) if method == "GET" else ""
        body = json.dumps(params, separators=(",", ":")) if method != "GET" else ""
        r = await self.signed(method, path, lambda ts: (query, auth.rest_headers(self.creds, query or body, ts,
                                                                                 self.recv_window_ms)),
                              body=body, weights=w, priority=prio, idempotent=idempotent)
        result = _body(r.body).get("result")
        if not isinstance(result, dict):
            raise ExecutionUnknown(f"bybit: {method} {path}: answer without a result", venue="bybit")
        return result

    async def _order_op(self, op: str, args: dict[str, Any], order: Order, *, idempotent: bool = True) -> dict:
        """One order operation: on the order-entry socket while it is up, else signed REST; the
        answer's ``{orderId, orderLinkId}``."""
        w, prio = self.adapter.rest_cost("POST", SOCKET_OPS[op], args, order)
        msg = await self.orders_socket.request(op, args, w, prio)
        if msg is not None:
            data = msg.get("data")
        else:
            data = await self._signed("POST", SOCKET_OPS[op], args, order=order, idempotent=idempotent)
            self.rest_orders += 1
        if not isinstance(data, dict):
            raise ExecutionUnknown(f"bybit: {op} answered without the order", venue="bybit")
        return data

    # ---- orders --------------------------------------------------------------------------------
    def place_args(self, order: Order) -> dict[str, Any]:
        """The body of POST /v5/order/create (also the ``order.create`` argument)."""
        inst = self.adapter.instrument(order.symbol)
        qty, px = checked_units(inst, order, "bybit")
        a: dict[str, Any] = {"category": category(inst), "symbol": inst.venue_symbol,
                             "side": "Buy" if order.side == Side.BUY else "Sell",
                             "orderType": "Market" if order.type == OrderType.MARKET else "Limit",
                             "qty": inst.qty_str(qty), "orderLinkId": order.client_order_id}
        if px is not None:
            a["price"] = inst.px_str(px)
        if order.type == OrderType.MARKET:
            if inst.kind == MarketKind.SPOT:
                a["marketUnit"] = "baseCoin"          # a spot market buy's qty is otherwise quote coin
        else:
            a["timeInForce"] = _TIF[order.tif]
        if inst.kind != MarketKind.SPOT:
            a["positionIdx"] = 0                      # one-way mode
            if order.reduce_only:
                a["reduceOnly"] = True
        return a

    def _ids(self, order: Order) -> dict[str, str]:
        inst = self.adapter.instrument(order.symbol)
        ids = {"orderLinkId": order.client_order_id} if order.client_order_id else {"orderId": order.venue_order_id}
        return {"category": category(inst), "symbol": inst.venue_symbol, **ids}

    def _ack(self, order: Order, d: dict, state: OrderState, **kw: Any) -> OrderUpdate:
        return OrderUpdate(venue=self.venue, symbol=order.symbol,
                           client_order_id=d.get("orderLinkId") or order.client_order_id,
                           venue_order_id=str(d.get("orderId", "")), state=state, side=order.side, ts_recv=now_ns(),
                           **kw)

    async def place(self, order: Order) -> OrderUpdate:
        d = await self._order_op("order.create", self.place_args(order), order, idempotent=False)
        # the answer says the order was accepted; what it became comes by the stream or a query
        return self._ack(order, d, OrderState.NEW, filled_qty="0", qty=order.qty, price=order.price or "")

    async def cancel(self, order: Order) -> OrderUpdate:
        d = await self._order_op("order.cancel", self._ids(order), order)
        return self._ack(order, d, OrderState.UNKNOWN, filled_qty="")

    cancels_on_stream = True
    """cancels go over the order-entry socket while it is logged in (REST otherwise)"""

    async def amend(self, order: Order, qty: str | None, price: str | None) -> OrderUpdate:
        inst = self.adapter.instrument(order.symbol)
        q, px = checked_units(inst, replace(order, qty=qty or order.qty, price=price or order.price), "bybit")
        a = self._ids(order)
        if qty is not None:
            a["qty"] = inst.qty_str(q)
        if price is not None and px is not None:
            a["price"] = inst.px_str(px)
        d = await self._order_op("order.amend", a, order)
        return self._ack(order, d, OrderState.UNKNOWN, filled_qty="", qty=a.get("qty", ""), price=a.get("price", ""))

    async def cancel_all(self, symbol: str, orders: list[Order]) -> list[OrderUpdate]:
        """Every open order of ``symbol`` in one request; what each became, the listing tells."""
        inst = self.adapter.instrument(symbol)
        await self._signed("POST", CANCEL_ALL, {"category": category(inst), "symbol": inst.venue_symbol})
        self.rest_orders += 1
        return []

    async def query(self, order: Order) -> OrderUpdate:
        """Open or recently closed by realtime, older closed ones by history; neither knowing the
        order is the only answer that proves there is none."""
        for path in (REALTIME, HISTORY):
            rows = _rows(path, await self._signed("GET", path, self._ids(order)))
            if rows:
                return self.order_update(rows[0], now_ns())
        raise UnknownOrder(f"bybit: no order {order.client_order_id or order.venue_order_id} on {order.symbol}",
                           venue="bybit")

    async def _pages(self, path: str, params: dict[str, str], limit: int) -> list[dict]:
        rows: list[dict] = []
        params = {**params, "limit": str(limit)}
        for _ in range(MAX_PAGES):
            result = await self._signed("GET", path, params)
            got = _rows(path, result)
            rows += got
            cursor = result.get("nextPageCursor") or ""
            if not cursor or not got:
                break
            params["cursor"] = cursor
        return rows

    def _scopes(self, symbol: str | None) -> list[dict[str, str]]:
        """Query scopes: the symbol's, or every category this account trades here (linear ones
        by settle coin, as Bybit requires a symbol or a coin for them)."""
        if symbol:
            inst = self.adapter.instrument(symbol)
            return [{"category": category(inst), "symbol": inst.venue_symbol}]
        settles = sorted({i.settle for i in self.adapter.instruments.values() if i.kind == MarketKind.SWAP})
        return [{"category": "spot"}] + [{"category": "linear", "settleCoin": s} for s in settles]

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        out = []
        for scope in self._scopes(symbol):
            out += [self.order_update(d, now_ns()) for d in await self._pages(REALTIME, {**scope, "openOnly": "0"},
                                                                             ORDERS_PAGE)]
        return out

    async def recent_fills(self, symbol: str, since_ns: int) -> list[Fill]:
        scope = self._scopes(symbol)[0]
        out: list[Fill] = []
        for t in await self._pages(EXECUTIONS, {**scope, "startTime": str(max(0, since_ns // MS - 1000))}, FILLS_PAGE):
            try:
                if t.get("execType", "Trade") == "Trade":
                    out.append(self.fill_of(t, now_ns()))
            except (KeyError, TypeError, ValueError, ArithmeticError) as e:
                self.bad_events += 1
                log.warning("bybit executions: bad row dropped: %s: %s", type(e).__name__, e)
        return [f for f in out if f.ts_exchange >= since_ns - 1000 * MS]

    async def balances(self) -> list[Balance]:
        """The unified account's coins: free is the wallet balance less what spot orders lock and
        what open orders and positions hold as initial margin."""
        out = []
        for acct in (await self._signed("GET", WALLET, {"accountType": "UNIFIED"})).get("list") or ():
            for c in acct.get("coin") or () if isinstance(acct, dict) else ():
                held = sum(Decimal(c.get(k) or "0") for k in ("locked", "totalOrderIM", "totalPositionIM"))
                total = Decimal(c.get("walletBalance") or "0")
                free = max(total - held, Decimal(0))
                if total or held:
                    out.append(Balance(self.venue, c["coin"], canonical(str(free)), canonical(str(min(held, total)))))
        return out

    async def positions(self) -> list[Position]:
        out = []
        for scope in self._scopes(None)[1:]:
            for p in await self._pages(POSITIONS, scope, 200):
                pos = self.position_of(p)
                if pos is not None and pos.qty != "0":
                    out.append(pos)
        return out

    def position_of(self, p: dict) -> Position | None:
        inst = self.adapter.by_venue_symbol.get((MarketKind.SWAP, p.get("symbol", "")))
        if inst is None:
            return None
        size = canonical(p.get("size") or "0")
        qty = size if p.get("side") != "Sell" or size == "0" else "-" + size
        return Position(self.venue, inst.symbol, qty, canonical(p.get("avgPrice") or p.get("entryPrice") or "0"),
                        canonical(p.get("unrealisedPnl") or "0"), inst.settle, ts_exchange=_ms_ns(p.get("updatedTime")))

    # ---- dead man's switch ------------------------------------------------------------------------
    async def arm_dead_man(self, timeout_s: int) -> None:
        """Disconnect-cancel-all: the window, for spot and derivatives; the private stream's dcp
        subscriptions make it count (Bybit cancels when every connection subscribed to them is
        gone). Bybit keeps the window: it is sent again only when it changes. 0 disarms: the
        stream unsubscribes the dcp topics, so closing it on purpose cancels nothing."""
        n = int(timeout_s)
        if n == 0:
            if self.private_ws is not None:
                self.private_ws.dialect.topics = [t for t in self.private_ws.dialect.topics if t not in DCP_TOPICS]
                if self.private_ws.connected:
                    await self.private_ws.request("unsubscribe", DCP_TOPICS, timeout_s=5.0)
            self.dead_man = False
            return
        ws = self.private_ws
        if ws is not None and not set(DCP_TOPICS) <= set(ws.dialect.topics):
            ws.dialect.topics = ws.dialect.topics + DCP_TOPICS     # reconnects subscribe them too
            if ws.connected:
                await ws.request("subscribe", DCP_TOPICS, timeout_s=5.0)
        self.dead_man = True
        if n == self._dcp_window:
            return
        if not DCP_RANGE[0] <= n <= DCP_RANGE[1]:
            raise ValueError(f"bybit disconnect-cancel-all: timeWindow must be {DCP_RANGE[0]}..{DCP_RANGE[1]} s, "
                             f"got {timeout_s}")
        for product in ("SPOT", "DERIVATIVES"):
            await self._signed("POST", DCP_PATH, {"product": product, "timeWindow": n})
        self._dcp_window = n

    # ---- streams ----------------------------------------------------------------------------------
    def start(self, private_ws_url: str, on_reconnected: Callable[[], None]) -> None:
        if self.private_ws is not None:
            return
        topics = ["order", "execution", "position"] + (DCP_TOPICS if self.dead_man else [])
        self.private_ws = PrivateWsSession(
            private_ws_url, PrivateDialect(self.sync_time, self.venue_ms, topics), self.creds, on_push=self._on_push,
            on_reconnected=on_reconnected, on_state=self._on_state, http=self.rest.session, clock_ns=self.venue_ns,
            name="bybit/private", connect_pacer=self.connect_pacer)
        self.private_ws.start()
        self.orders_socket.session = PrivateWsSession(
            trade_socket_url(private_ws_url, self.trade_url),
            TradeDialect(self.sync_time, self.venue_ms, self.recv_window_ms), self.creds, http=self.rest.session,
            clock_ns=self.venue_ns, name="bybit/trade", connect_pacer=self.connect_pacer)
        self.orders_socket.session.start()

    def reconnect_now(self) -> bool:
        cut = super().reconnect_now()
        s = self.orders_socket.session
        return (s is not None and s.reconnect_now()) or cut

    async def close(self) -> None:
        if self.orders_socket.session is not None:
            await self.orders_socket.session.close()
        await super().close()

    def _on_push(self, msg: dict) -> None:
        topic = msg.get("topic")
        for d in msg["data"]:
            try:
                if not isinstance(d, dict):
                    raise TypeError(f"{topic} entry is a {type(d).__name__}")
                if topic == "order":
                    u = self.order_update(d, now_ns())
                elif topic == "execution":
                    if d.get("execType", "Trade") != "Trade":
                        continue              # funding, settlement, ADL bookings: not fills of an order
                    u = self.execution_update(d, now_ns())
                elif topic == "position":
                    pos = self.position_of(d)
                    if pos is not None and self.on_position is not None:
                        self.on_position(pos)
                    continue
                else:
                    continue
            except (ValueError, KeyError, TypeError, ArithmeticError) as e:
                self.bad_events += 1
                log.warning("bybit %s push: bad entry dropped: %s: %s", topic, type(e).__name__, e)
                continue
            if self.on_update is not None:
                self.on_update(u)

    # ---- wire objects -> engine ---------------------------------------------------------------------
    def _inst_of(self, d: dict):
        kind = MarketKind.SPOT if d.get("category") == "spot" else MarketKind.SWAP
        inst = self.adapter.by_venue_symbol.get((kind, d["symbol"]))
        if inst is None:
            raise ValueError(f"unknown {d.get('category')} symbol {d['symbol']!r}")
        return inst

    def order_update(self, d: dict, ts_recv: int) -> OrderUpdate:
        """An order as the ``order`` topic pushes it and realtime / history list it."""
        inst = self._inst_of(d)
        status = d["orderStatus"]
        if status not in STATUS:
            raise ValueError(f"unknown order status {status!r}")
        reason = d.get("rejectReason") or ""
        state = STATUS[status]
        if reason == POST_ONLY_WOULD_TAKE and state is OrderState.CANCELED and Decimal(d.get("cumExecQty") or "0") == 0:
            state = OrderState.REJECTED     # accepted, then refused for taking: a refusal, nothing filled
        return OrderUpdate(venue=self.venue, symbol=inst.symbol, client_order_id=d.get("orderLinkId") or "",
                           venue_order_id=str(d["orderId"]), state=state,
                           filled_qty=canonical(d.get("cumExecQty") or "0"), qty=canonical(d.get("qty") or "0"),
                           price=canonical(d.get("price") or "0") if d.get("orderType") == "Limit" else "",
                           side=_SIDE.get(d.get("side")), ts_exchange=_ms_ns(d.get("updatedTime") or d.get("createdTime")),
                           ts_recv=ts_recv, reason="" if reason == "EC_NoError" else reason)

    def fill_of(self, t: dict, ts_recv: int) -> Fill:
        """One execution (the ``execution`` topic, /v5/execution/list) -> Fill."""
        inst = self._inst_of(t)
        side = _SIDE.get(t.get("side"))
        if side is None:
            raise ValueError(f"execution without a side: {t.get('side')!r}")
        fee_asset = t.get("feeCurrency") or (inst.settle if inst.kind != MarketKind.SPOT
                                             else inst.base if side == Side.BUY else inst.quote)
        return Fill(venue=self.venue, symbol=inst.symbol, client_order_id=t.get("orderLinkId") or "",
                    venue_order_id=str(t["orderId"]), trade_id=str(t["execId"]), price=canonical(t["execPrice"]),
                    qty=canonical(t["execQty"]), side=side, fee=canonical(t.get("execFee") or "0"), fee_asset=fee_asset,
                    is_maker=t.get("isMaker") is True, ts_exchange=_ms_ns(t.get("execTime")), ts_recv=ts_recv)

    def execution_update(self, t: dict, ts_recv: int) -> OrderUpdate:
        """A pushed execution: its fill, on an update that carries no state of its own."""
        f = self.fill_of(t, ts_recv)
        filled = ""
        if t.get("orderQty") not in (None, "") and t.get("leavesQty") not in (None, ""):
            filled = canonical(str(Decimal(t["orderQty"]) - Decimal(t["leavesQty"])))
        return OrderUpdate(venue=self.venue, symbol=f.symbol, client_order_id=f.client_order_id,
                           venue_order_id=f.venue_order_id, state=OrderState.UNKNOWN, filled_qty=filled, side=f.side,
                           fill=f, ts_exchange=f.ts_exchange, ts_recv=ts_recv)
