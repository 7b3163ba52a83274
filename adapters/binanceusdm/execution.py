# SPDX-License-Identifier: Apache-2.0
"""Binance USD-M futures execution: Binance spot's signed REST client on the /fapi paths, with
what futures do differently: reduce-only and post-only (GTX) orders, one-way or hedge position
mode (an order's ``position_side`` LONG / SHORT is sent as ``positionSide``, and each leg is a
Position of its own), cancel-all per symbol, the countdown dead man's switch, balances and
positions, and the user data stream on a listen key (``ORDER_TRADE_UPDATE`` events, and
``ACCOUNT_UPDATE`` for positions) instead of the WS API.

Orders are placed, modified and cancelled over the WebSocket API (``order.place``,
``order.modify``, ``order.cancel`` on ``wss://ws-fapi.binance.com/ws-fapi/v1``: the parameters and
answers of the REST requests, each request signed on its own) while its socket is up, over REST
while it is down. An answer lost on the socket is an unknown outcome (``ExecutionUnknown``): the
order manager asks the venue what became of the order."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import time
from dataclasses import replace
from decimal import Decimal
from typing import Any, Callable
from urllib.parse import urlsplit, urlunsplit

from venuelink.adapters.binance import auth
from venuelink.adapters.binance.execution import STATUS, BinanceExecution, BinanceWsApiDialect, _side
from venuelink.adapters.binanceusdm.spec import OPEN_ORDERS_ALL_WEIGHT, SPEC, WS_API_PATH, WS_API_URL, WS_METHODS
from venuelink.config import Credentials
from venuelink.errors import ExecutionUnknown, Rejected, UnknownOrder, VenueError
from venuelink.model import (Balance, Fill, MarketKind, Order, OrderState, OrderType, OrderUpdate, Position, PositionSide,
                          Side, TimeInForce)
from venuelink.order_checks import canonical, checked_units
from venuelink.private_ws import MsgKind, PrivateWsDialect, PrivateWsSession
from venuelink.socket_orders import SocketOrders, SocketOrdersOwner
from venuelink.venue import ConnectInfo
from venuelink.ext.clock import now_ns

log = logging.getLogger("venuelink.binanceusdm.exec")
MS = 1_000_000
LISTEN_KEY_PATH = "/fapi/v1/listenKey"
LISTEN_KEY_KEEPALIVE_S = 30 * 60          # a key lives 60 min after its last keepalive
COUNTDOWN_PATH = "/fapi/v1/countdownCancelAll"
_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK", TimeInForce.POST_ONLY: "GTX"}
NO_CHANGE = -5027                         # "No need to modify the order.": it already has those terms
POST_ONLY_WOULD_TAKE = -5022              # a GTX order's new price would take: the venue canceled it
NO_MODE_CHANGE = -4059                    # "No need to change position side.": already in that mode
DUAL_PATH = "/fapi/v1/positionSide/dual"  # the account's position mode (hedge: dualSidePosition)
# positionSide on the wire <-> the model's; BOTH is the one-way (net) position
_PS = {"BOTH": PositionSide.NET, "LONG": PositionSide.LONG, "SHORT": PositionSide.SHORT}


def order_socket_url(configured: str, user_stream_url: str) -> str:
    """Where orders go over the WebSocket API: the configured ``ws_api`` endpoint; else the
    production URL when the user stream is production's (or not named); else ``/ws-fapi/v1`` on
    the user stream's host (a simulator, a gateway): orders never go to production while the
    private stream is configured elsewhere."""
    if configured:
        return configured
    u = urlsplit(user_stream_url)
    if not u.netloc or u.hostname == urlsplit(SPEC.ws_api_url).hostname:
        return WS_API_URL
    return urlunsplit((u.scheme, u.netloc, WS_API_PATH, "", ""))


class UsdmWsApiDialect(BinanceWsApiDialect):
    """The USD-M WebSocket API (order entry): Binance's request/reply with the futures error
    table. A refusal for rate (429) or an IP ban (418) names its end in ``error.data.retryAfter``
    (epoch ms): it becomes the Retry-After the same answer carries over REST."""

    venue = "binanceusdm"

    def reply_headers(self, msg: dict) -> dict[str, str]:
        err = msg.get("error")
        data = err.get("data") if isinstance(err, dict) else None
        until = data.get("retryAfter") if isinstance(data, dict) else None
        if type(until) is not int:
            return {}
        return {"Retry-After": str(max(1, math.ceil((until - time.time() * 1000) / 1000)))}


class UsdmUserStreamDialect(PrivateWsDialect):
    """The USD-M user data stream: a listen key from REST (POST /fapi/v1/listenKey) names the
    connection (``<private url>/ws/<key>``); no login message, no requests; every message is a
    push (``ORDER_TRADE_UPDATE``, ``ACCOUNT_UPDATE``, ...). ``listenKeyExpired`` moves the session
    to a new connection with a new key. Connections live 24 h at most."""

    venue = "binanceusdm"
    max_connection_age_s = 24 * 3600.0

    def __init__(self, execution: "BinanceUsdmExecution", url: str) -> None:
        self.x = execution
        self.url = url.rstrip("/")

    async def prepare(self, creds: Credentials) -> ConnectInfo | None:
        key = await self.x.listen_key("POST")
        return ConnectInfo(f"{self.url}/ws/{key}")

    def login_frames(self, creds: Credentials, now_ns: int) -> list[str]:
        return []

    def is_login_ok(self, msg: Any) -> bool:
        return False

    def login_error(self, msg: Any):
        return None

    def request_frame(self, req_id: int, method: str, params: Any) -> str:
        raise NotImplementedError("the USD-M user data stream takes no requests")

    def classify(self, msg: Any) -> tuple[MsgKind, int | None]:
        if not isinstance(msg, dict) or not isinstance(msg.get("e"), str):
            return MsgKind.UNKNOWN, None
        if msg["e"] == "listenKeyExpired":
            return MsgKind.ROTATE, None
        return MsgKind.PUSH, None

    def reply_result(self, msg: Any) -> Any:
        return None

    def reply_error(self, msg: Any):
        return None


class BinanceUsdmExecution(SocketOrdersOwner, BinanceExecution):
    TIME_PATH = "/fapi/v1/time"
    ORDER_PATH = "/fapi/v1/order"
    OPEN_ORDERS_PATH = "/fapi/v1/openOrders"
    KINDS = (MarketKind.SWAP, MarketKind.FUTURE)
    position_legs = True                   # hedge mode: orders name their leg (positionSide)

    def __init__(self, *a: Any, ws_api_url: str = "", ws_timeout_s: float = 5.0, **kw: Any) -> None:
        super().__init__(*a, **kw)
        self._keepalive: asyncio.Task | None = None
        self._on_reconnected: Callable[[], None] | None = None
        self.on_position: Callable[[Position], None] | None = None
        """set by the runtime: every position the user stream reports (ACCOUNT_UPDATE)"""
        self.ws_api_url = ws_api_url
        """the configured WebSocket API URL (``endpoints.ws_api``); empty: see order_socket_url"""
        self.orders_socket = SocketOrders(self.rest, self.sync_time, timeout_s=ws_timeout_s,
                                          name="binanceusdm/orders")
        """the WebSocket API connection orders go over (opened with the user stream)"""
        self.rest_orders = 0                  # order requests sent over REST

    def all_open_orders_weights(self) -> dict[str, int]:
        return {"REQUEST_WEIGHT": OPEN_ORDERS_ALL_WEIGHT}

    # ---- order requests: the WebSocket API, REST the fallback ------------------------------------
    async def _ws_op(self, method: str, params: list[tuple[str, str]], order: Order) -> dict | None:
        """``method`` on the WebSocket API while its socket is up (venuelink.socket_orders: the REST
        request's budget and breaker), each request signed once admitted; None when it was not
        sent there (the caller uses REST)."""
        http_method, path = WS_METHODS[method]
        w, prio = self.adapter.rest_cost(http_method, path, dict(params), order)

        def signed() -> dict[str, str]:
            p = dict(params)
            p.update(apiKey=self.creds.api_key.reveal(), recvWindow=str(self.recv_window_ms),
                     timestamp=str(self.venue_ms()))
            p["signature"] = auth.ws_api_signature(self.creds, p)
            return p
        d = await self.orders_socket.request(method, signed, w, prio)
        if d is not None and not isinstance(d, dict):
            raise ExecutionUnknown(f"binanceusdm: {method} answered without the order",
                                   venue=self.venue.name.lower())
        return d

    async def _order_op(self, method: str, params: list[tuple[str, str]], order: Order, *,
                        idempotent: bool = True) -> dict:
        """One order request: on the WebSocket API while it is up, else signed REST; the order
        object of its answer (a refusal raises, mapped as REST's)."""
        d = await self._ws_op(method, params, order)
        if d is None:
            http_method, path = WS_METHODS[method]
            d = await self._signed(http_method, path, params, idempotent=idempotent, order=order)
            self.rest_orders += 1
        return d

    def place_params(self, order: Order) -> list[tuple[str, str]]:
        """The parameters of POST /fapi/v1/order (and of ``order.place``)."""
        inst = self._inst(order.symbol)
        qty, px = checked_units(inst, order, self.venue.name)
        p = [("symbol", inst.venue_symbol), ("side", "BUY" if order.side == Side.BUY else "SELL"),
             ("type", "LIMIT" if order.type == OrderType.LIMIT else "MARKET")]
        if order.type == OrderType.LIMIT:
            p.append(("timeInForce", _TIF[order.tif]))
        p.append(("quantity", inst.qty_str(qty)))
        if px is not None:
            p.append(("price", inst.px_str(px)))
        leg = getattr(order, "position_side", PositionSide.NET)
        if leg != PositionSide.NET:
            # hedge mode: the leg and the side say whether it opens or closes; the venue refuses
            # reduceOnly there (-1106), so asking for it is refused here, before anything is sent
            if getattr(order, "reduce_only", False):
                raise Rejected(f"{order.symbol}: reduce-only cannot be sent with a hedge-mode leg "
                               f"({leg.name}); a {'SELL' if leg == PositionSide.LONG else 'BUY'} on it reduces it",
                               venue=self.venue.name)
            p.append(("positionSide", leg.name))
        elif getattr(order, "reduce_only", False):
            p.append(("reduceOnly", "true"))
        p += [("newClientOrderId", order.client_order_id), ("newOrderRespType", "RESULT")]
        return p

    async def place(self, order: Order) -> OrderUpdate:
        d = await self._order_op("order.place", self.place_params(order), order, idempotent=False)
        return self._update(d, now_ns())        # fills come on the user stream (or a query)

    async def cancel(self, order: Order) -> OrderUpdate:
        p = [("symbol", self._inst(order.symbol).venue_symbol), ("origClientOrderId", order.client_order_id)]
        d = await self._order_op("order.cancel", p, order)
        u = self._update(d, now_ns())
        u.client_order_id = d.get("origClientOrderId") or order.client_order_id
        return u

    def amend_params(self, order: Order, qty: str | None, price: str | None) -> list[tuple[str, str]]:
        """The query of PUT /fapi/v1/order: the venue wants both terms and the order's side, so
        an unchanged one is sent as it is; both are checked against the instrument like a new
        order's."""
        inst = self._inst(order.symbol)
        q, px = checked_units(inst, replace(order, qty=qty or order.qty, price=price or order.price), self.venue.name)
        if px is None:
            raise ValueError(f"{order.client_order_id}: only a LIMIT order can be modified")
        return [("symbol", inst.venue_symbol), ("origClientOrderId", order.client_order_id),
                ("side", "BUY" if order.side == Side.BUY else "SELL"), ("quantity", inst.qty_str(q)),
                ("price", inst.px_str(px))]

    async def amend(self, order: Order, qty: str | None, price: str | None) -> OrderUpdate:
        """Modify Order (PUT /fapi/v1/order): new price and/or total quantity in place, ids kept;
        the answer is the order with its new terms. A refusal with the venue's code (a 4xx:
        filters, margin, reduce-only) leaves the order as it was: ``Rejected``. -5027 means it
        already has these terms: its query answers. -5022 (a post-only price that would take)
        cancels the order on the venue: ``UnknownOrder``, the order manager then looks up what
        it became."""
        p = self.amend_params(order, qty, price)
        try:
            d = await self._order_op("order.modify", p, order, idempotent=False)
        except VenueError as e:
            if e.code == NO_CHANGE:
                return await self.query(order)
            if e.code == POST_ONLY_WOULD_TAKE:
                raise UnknownOrder(f"{e} (the venue canceled the order)", venue=self.venue.name.lower(),
                                   code=e.code, http_status=e.http_status) from None
            if type(e) is VenueError and 400 <= e.http_status < 500:
                raise Rejected(str(e), venue=e.venue, code=e.code, http_status=e.http_status) from None
            raise
        u = self._update(d, now_ns())
        u.client_order_id = u.client_order_id or order.client_order_id
        return u

    async def cancel_all(self, symbol: str, orders: list[Order]) -> list[OrderUpdate]:
        """DELETE /fapi/v1/allOpenOrders: its answer names no order, so the canceled ones are
        known from the stream or the next query; none open is not an error."""
        with contextlib.suppress(UnknownOrder):
            await self._signed("DELETE", "/fapi/v1/allOpenOrders", [("symbol", self._inst(symbol).venue_symbol)])
        return []

    async def arm_dead_man(self, timeout_s: int) -> None:
        """countdownCancelAll for every followed symbol: its open orders are canceled unless
        re-armed within ``timeout_s`` (0 disarms)."""
        n = int(timeout_s)
        if n < 0 or n > 86400:
            raise ValueError(f"countdownCancelAll: countdownTime must be 0..86400 s, got {timeout_s}")
        for inst in self._followed():
            await self._signed("POST", COUNTDOWN_PATH, [("symbol", inst.venue_symbol), ("countdownTime", str(n * 1000))])

    def _followed(self):
        syms = list(getattr(self.adapter.config, "symbols", None) or [])
        return [self._inst(s) for s in syms]

    async def balances(self) -> list[Balance]:
        """GET /fapi/v2/balance: per asset, free is ``availableBalance``; locked the rest of the
        wallet balance held as margin (never below zero: unrealized profit can make the available
        amount exceed the wallet)."""
        out = []
        for b in await self._signed("GET", "/fapi/v2/balance", []):
            free = Decimal(b["availableBalance"])
            locked = max(Decimal(0), Decimal(b["balance"]) - free)
            if free or locked:
                out.append(Balance(self.venue, b["asset"], canonical(str(free)), canonical(str(locked))))
        return out

    async def positions(self) -> list[Position]:
        """GET /fapi/v3/positionRisk: every nonzero position, signed (a SHORT leg's size is
        negative); in hedge mode a symbol's LONG and SHORT legs are two Positions."""
        out = []
        for d in await self._signed("GET", "/fapi/v3/positionRisk", []):
            if canonical(d.get("positionAmt") or "0") == "0":
                continue
            out.append(Position(self.venue, self._unified(d["symbol"]), canonical(d["positionAmt"]),
                                canonical(d.get("entryPrice") or "0"), canonical(d.get("unRealizedProfit") or "0"),
                                d.get("marginAsset") or "", side=_position_side(d.get("positionSide")),
                                ts_exchange=int(d.get("updateTime") or 0) * MS))
        return out

    async def hedge_mode(self) -> bool:
        """Whether the account is in hedge mode (GET /fapi/v1/positionSide/dual)."""
        d = await self._signed("GET", DUAL_PATH, [])
        return bool(d.get("dualSidePosition"))

    async def set_hedge_mode(self, on: bool) -> None:
        """Hedge mode on (orders then name their leg) or off (one-way), for the whole account.
        The venue refuses a change while any position (-4068) or open order (-4067) exists;
        asking for the mode the account is already in is no error."""
        try:
            await self._signed("POST", DUAL_PATH, [("dualSidePosition", "true" if on else "false")])
        except VenueError as e:
            if e.code != NO_MODE_CHANGE:
                raise

    async def recent_fills(self, symbol: str, since_ns: int) -> list[Fill]:
        inst = self._inst(symbol)
        d = await self._signed("GET", "/fapi/v1/userTrades", [("symbol", inst.venue_symbol),
                                                             ("startTime", str(max(0, since_ns // MS - 1000)))])
        return [Fill(venue=self.venue, symbol=inst.symbol, client_order_id="", venue_order_id=str(t["orderId"]),
                     trade_id=str(t["id"]), price=canonical(t["price"]), qty=canonical(t["qty"]),
                     side=Side.BUY if t.get("buyer") else Side.SELL, fee=canonical(t.get("commission", "0")),
                     fee_asset=t.get("commissionAsset", ""), is_maker=bool(t.get("maker")),
                     ts_exchange=int(t.get("time", 0)) * MS, ts_recv=now_ns()) for t in d]

    # ---- user data stream --------------------------------------------------------------------
    async def listen_key(self, method: str) -> str:
        """POST creates the account's key (or returns the active one), PUT keeps it alive."""
        w, prio = self.adapter.rest_cost(method, LISTEN_KEY_PATH)
        r = await self.rest.request(method, LISTEN_KEY_PATH, headers={"X-MBX-APIKEY": self.creds.api_key.reveal()},
                                    weights=w, priority=prio)
        return str(json.loads(r.body).get("listenKey") or "")

    async def _keep_alive(self) -> None:
        while True:
            await asyncio.sleep(LISTEN_KEY_KEEPALIVE_S)
            try:
                await self.listen_key("PUT")
            except asyncio.CancelledError:
                raise
            except Exception as e:          # an expired key ends in listenKeyExpired: a new one then
                log.warning("binanceusdm user stream: listen key keepalive failed: %s: %s", type(e).__name__, e)

    def start(self, private_ws_url: str, on_reconnected: Callable[[], None]) -> None:
        if self.private_ws is not None:
            return
        self._on_reconnected = on_reconnected
        self.private_ws = PrivateWsSession(
            private_ws_url, UsdmUserStreamDialect(self, private_ws_url), self.creds, on_push=self._on_push,
            on_reconnected=on_reconnected, on_state=self._on_state, http=self.rest.session,
            clock_ns=self.venue_ns, name="binanceusdm/user",
            connect_pacer=self.connect_pacer)
        self.private_ws.start()
        self._keepalive = asyncio.ensure_future(self._keep_alive())
        # orders' own socket: no login (each request is signed), nothing pushed; a request lost
        # with it ends as ExecutionUnknown, which the order manager settles by a query
        self.orders_socket.session = PrivateWsSession(
            order_socket_url(self.ws_api_url, private_ws_url),
            UsdmWsApiDialect(self.adapter.map_error, on_usage=self.rest.budget.sync_headers), self.creds,
            http=self.rest.session, clock_ns=self.venue_ns,
            name="binanceusdm/orders", connect_pacer=self.connect_pacer)
        self.orders_socket.session.start()

    start_stream = start

    def reconnect_now(self) -> bool:
        cut = super().reconnect_now()
        return (self.order_ws is not None and self.order_ws.reconnect_now()) or cut

    async def close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
            self._keepalive = None
        if self.order_ws is not None:
            await self.order_ws.close()
        await super().close()

    def _on_push(self, msg: dict) -> None:
        if msg.get("e") == "ACCOUNT_UPDATE":
            self._on_account_update(msg)
            return
        if msg.get("e") != "ORDER_TRADE_UPDATE":
            return
        try:
            u = self.order_trade_update(msg, now_ns())
        except (ValueError, KeyError, TypeError, ArithmeticError) as e:
            self.bad_events += 1
            log.warning("binanceusdm user stream: bad ORDER_TRADE_UPDATE dropped: %s: %s", type(e).__name__, e)
            return
        if self.on_update is not None:
            self.on_update(u)

    def _on_account_update(self, msg: dict) -> None:
        """Each position of an ACCOUNT_UPDATE to ``on_position``; a malformed entry is counted
        (``bad_events``) and dropped, the event's other entries still delivered. Balances (``B``)
        are not pushed on: ``balances()`` asks."""
        try:
            a = msg["a"]
            rows = a.get("P") or []
            if not isinstance(rows, list):
                raise TypeError(f"P must be a list, got {type(rows).__name__}")
        except (KeyError, TypeError, AttributeError) as e:
            self.bad_events += 1
            log.warning("binanceusdm user stream: bad ACCOUNT_UPDATE dropped: %s: %s", type(e).__name__, e)
            return
        t = msg.get("T") or msg.get("E")
        ts = t * MS if type(t) is int else 0
        for row in rows:
            try:
                pos = self.position_of(row, ts)
            except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as e:
                self.bad_events += 1
                log.warning("binanceusdm user stream: bad ACCOUNT_UPDATE position dropped: %s: %s: %.200r",
                            type(e).__name__, e, row)
                continue
            if self.on_position is not None:
                self.on_position(pos)

    def position_of(self, p: dict, ts_exchange: int = 0) -> Position:
        """One ``P`` entry of ACCOUNT_UPDATE (``{"s": "BTCUSDT", "pa": "0.010", "ep": "60000.1",
        "up": "1.5", "ps": "BOTH", ...}``) -> Position: signed size, entry price, unrealized PnL,
        exact; its side from ``ps`` (BOTH: NET; LONG / SHORT: a hedge-mode leg; absent: NET); a
        closed position has qty "0". ``ts_exchange``: the event's time (ns)."""
        def num(key: str) -> str:
            v = p[key]
            if not isinstance(v, str) or not v:
                raise TypeError(f"{key} must be a decimal string, got {v!r}")
            return canonical(v)
        vs = p["s"]
        if not isinstance(vs, str) or not vs:
            raise TypeError(f"s must be a symbol, got {vs!r}")
        qty, entry, upl = num("pa"), num("ep"), num("up")
        side = _position_side(p.get("ps"))
        symbol = self._unified(vs)
        inst = self.adapter.instruments.get(symbol)
        return Position(self.venue, symbol, qty, entry, upl, inst.settle if inst is not None else "", side=side,
                        ts_exchange=ts_exchange)

    def order_trade_update(self, msg: dict, ts_recv: int) -> OrderUpdate:
        """ORDER_TRADE_UPDATE -> OrderUpdate (with its fill for TRADE executions)."""
        o = msg["o"]
        symbol = self._unified(o["s"])
        side = _side(o.get("S"))
        u = OrderUpdate(venue=self.venue, symbol=symbol, client_order_id=o["c"], venue_order_id=str(o["i"]),
                        state=STATUS.get(o["X"], OrderState.UNKNOWN), filled_qty=canonical(o["z"]),
                        qty=canonical(o.get("q", "")), price=canonical(o.get("p", "")), side=side,
                        ts_exchange=int(o.get("T") or msg.get("T") or msg.get("E") or 0) * MS, ts_recv=ts_recv)
        if o.get("x") == "TRADE" and int(o.get("t") or 0) > 0:
            u.fill = Fill(venue=self.venue, symbol=symbol, client_order_id=o["c"], venue_order_id=str(o["i"]),
                          trade_id=str(o["t"]), price=canonical(o["L"]), qty=canonical(o["l"]), side=side,
                          fee=canonical(o.get("n") or "0"), fee_asset=o.get("N") or "", is_maker=bool(o.get("m")),
                          ts_exchange=u.ts_exchange, ts_recv=ts_recv)
        return u


def _position_side(ps: Any) -> PositionSide:
    """``positionSide`` / ``ps`` -> PositionSide (absent: the one-way position); another value is
    a ValueError (the entry is dropped and counted)."""
    if ps is None:
        return PositionSide.NET
    side = _PS.get(ps) if isinstance(ps, str) else None
    if side is None:
        raise ValueError(f"unknown position side {ps!r}")
    return side
