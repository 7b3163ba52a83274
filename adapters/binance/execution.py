# SPDX-License-Identifier: Apache-2.0
"""Binance spot execution: signed REST order entry/queries and the private user data stream
(WS API userDataStream.subscribe.signature; executionReport events) on venuelink.private_ws."""
from __future__ import annotations

import json
import logging
from typing import Any, Awaitable, Callable

from venuelink.adapters.binance import auth
from venuelink.adapters.binance.errors import map_error
from venuelink.adapters.binance.spec import OPEN_ORDERS_ALL_WEIGHT
from venuelink.adapters.binance.usage import usage_headers
from venuelink.adapter import VenueAdapter
from venuelink.config import Credentials
from venuelink.errors import UnknownOrder, VenueError
from venuelink.model import Balance, Fill, MarketKind, Order, OrderState, OrderType, OrderUpdate, Side, TimeInForce
from venuelink.order_checks import canonical, checked_units
from venuelink.execution import ExecutionClient
from venuelink.order_ids import make_client_order_id
from venuelink.signed_rest import SignedRest
from venuelink.private_ws import LoginClockSync, MsgKind, PrivateStreamOwner, PrivateWsDialect, PrivateWsSession
from venuelink.rest import RestClient, RestResponse
from venuelink.ext.clock import now_ns
from venuelink.ext.ratelimit import Priority

log = logging.getLogger("venuelink.binance.exec")

STATUS = {"NEW": OrderState.NEW, "PENDING_NEW": OrderState.PENDING_NEW, "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
          "FILLED": OrderState.FILLED, "CANCELED": OrderState.CANCELED, "PENDING_CANCEL": OrderState.CANCEL_PENDING,
          "REJECTED": OrderState.REJECTED, "EXPIRED": OrderState.EXPIRED, "EXPIRED_IN_MATCH": OrderState.EXPIRED}
MS = 1_000_000
_LOGIN_ID = "uds"


class BinanceWsApiDialect(PrivateWsDialect):
    """Binance's WebSocket API as request and reply: requests ``{"id", "method", "params"}``,
    replies ``{"id", "status", "result" | "error", "rateLimits"}`` whose error maps as the same
    code does over REST (``error_map``: the market's table). Signed requests carry their own
    ``apiKey``, ``timestamp`` and ``signature``: the connection needs no login. The venue sends
    protocol pings (answered by aiohttp); no application-level ping. A connection is valid for
    24 hours: the session moves to a new one before."""

    venue = "binance"
    max_connection_age_s = 24 * 3600.0

    def __init__(self, error_map: Callable[[RestResponse], VenueError] = map_error, venue: str = "", *,
                 on_usage: Callable[[dict[str, str]], None] | None = None) -> None:
        self._error_map = error_map
        if venue:
            self.venue = venue
        self._on_usage = on_usage
        self.usage_errors = 0
        """``rateLimits`` entries of replies that could not be read (each logged)"""

    def _usage(self, msg: dict) -> None:
        """A reply's ``rateLimits`` -> the budget, as the REST headers of the same counters."""
        if self._on_usage is None or "rateLimits" not in msg:
            return
        headers, bad = usage_headers(msg["rateLimits"])
        if bad:
            self.usage_errors += bad
            log.warning("%s: %d rateLimits entries of a WebSocket API reply not understood: %.200s",
                        self.venue, bad, json.dumps(msg["rateLimits"]))
        if headers:
            self._on_usage(headers)

    def login_frames(self, creds: Credentials, now_ns: int) -> list[str]:
        return []

    def is_login_ok(self, msg: Any) -> bool:
        return False

    def login_error(self, msg: Any) -> VenueError | None:
        return None

    def request_frame(self, req_id: int, method: str, params: Any) -> str:
        return json.dumps({"id": req_id, "method": method, "params": params})

    def classify(self, msg: Any) -> tuple[MsgKind, int | None]:
        if not isinstance(msg, dict):
            return MsgKind.UNKNOWN, None
        rid = msg.get("id")
        if isinstance(rid, int) and not isinstance(rid, bool) and "status" in msg:
            self._usage(msg)
            return MsgKind.REPLY, rid
        if rid is None and "error" in msg:
            return MsgKind.ERROR, None
        return MsgKind.UNKNOWN, None

    def reply_result(self, msg: Any) -> Any:
        return msg.get("result")

    def reply_error(self, msg: Any) -> VenueError | None:
        status = msg.get("status")
        if status == 200:
            return None
        # the same code -> error mapping as REST (HTTP status semantics match)
        body = json.dumps(msg.get("error") or {}).encode()
        return self._error_map(RestResponse(int(status) if isinstance(status, int) else 500,
                                            self.reply_headers(msg), body))

    def reply_headers(self, msg: dict) -> dict[str, str]:
        """What of an error reply REST would carry as headers (a market that reads its retry
        hint says so here); none by default."""
        return {}


class BinanceUserStreamDialect(LoginClockSync, BinanceWsApiDialect):
    """Binance WS API as a private stream: the signed ``userDataStream.subscribe.signature``
    request is the login (it works with HMAC and Ed25519 keys alike); pushes
    ``{"subscriptionId", "event"}``. The venue sends protocol pings every 20 s (answered by
    aiohttp); no application-level ping. A WS API connection is valid for 24 hours: the session
    moves to a new one before (make before break; the copies of the overlap differ only in their
    per-connection ``subscriptionId``)."""

    def __init__(self, sync_time: Callable[[], Awaitable[None]] | None = None, *,
                 on_usage: Callable[[dict[str, str]], None] | None = None) -> None:
        super().__init__(sync_time=sync_time, on_usage=on_usage)

    def login_frames(self, creds: Credentials, now_ns: int) -> list[str]:
        params = {"apiKey": creds.api_key.reveal(), "timestamp": str(now_ns // MS)}
        params["signature"] = auth.ws_api_signature(creds, params)
        return [json.dumps({"id": _LOGIN_ID, "method": "userDataStream.subscribe.signature", "params": params})]

    def is_login_ok(self, msg: Any) -> bool:
        return isinstance(msg, dict) and msg.get("id") == _LOGIN_ID and msg.get("status") == 200

    def login_error(self, msg: Any) -> VenueError | None:
        if not isinstance(msg, dict) or msg.get("id") != _LOGIN_ID:
            return None
        err = self.reply_error(msg)
        if err is not None:
            err.args = (f"binance user stream subscribe refused: {err}",)
            self.login_refused(err)
        return err

    def classify(self, msg: Any) -> tuple[MsgKind, int | None]:
        if isinstance(msg, dict):
            if isinstance(msg.get("event"), dict):
                return MsgKind.PUSH, None
            if msg.get("id") == _LOGIN_ID:
                self._usage(msg)
                return MsgKind.EVENT, None
        return super().classify(msg)

    def push_identity(self, msg: Any, text: str) -> str:
        return json.dumps(msg["event"], sort_keys=True, separators=(",", ":"))


class BinanceExecution(SignedRest, PrivateStreamOwner, ExecutionClient):
    """venuelink.execution.ExecutionClient for Binance spot: orders over signed REST, updates pushed on
    the WS API user data stream (venuelink.private_ws.PrivateWsSession). Binance's other markets
    (USD-M futures) share it: their paths and what differs are set in a subclass."""

    TIME_PATH = "/api/v3/time"
    ORDER_PATH = "/api/v3/order"
    OPEN_ORDERS_PATH = "/api/v3/openOrders"
    KINDS: tuple[MarketKind, ...] = (MarketKind.SPOT,)
    """the kinds of instrument this market's venue symbols name"""

    def __init__(self, adapter: VenueAdapter, rest: RestClient, creds: Credentials, *, recv_window_ms: int = 5000) -> None:
        self.adapter = adapter
        self.venue = adapter.venue
        self.rest = rest
        self.creds = creds
        self.recv_window_ms = recv_window_ms
        self.private_ws: PrivateWsSession | None = None
        self.on_update: Callable[[OrderUpdate], None] | None = None
        self.on_stream_state: Callable[[bool], None] | None = None
        self.bad_events = 0

    def __repr__(self) -> str:
        return f"{type(self).__name__}(rest={self.rest.base_url!r})"

    def new_client_order_id(self) -> str:
        return make_client_order_id("vl")

    # ---- signed REST (venuelink.signed_rest: the clock, one resend after a refused timestamp) ----------
    @property
    def time_path(self) -> str:
        return self.TIME_PATH

    def server_ms(self, body: bytes) -> int:
        return int(json.loads(body)["serverTime"])

    async def _signed(self, method: str, path: str, params: list[tuple[str, str]], *,
                      weights: dict | None = None, idempotent: bool = True, order: Order | None = None) -> dict | list:
        w, prio = self.adapter.rest_cost(method, path, dict(params), order)
        if weights is not None:
            w = weights
        key = {"X-MBX-APIKEY": self.creds.api_key.reveal()}
        r = await self.signed(method, path, lambda ts: (auth.signed_query(self.creds, params, ts, self.recv_window_ms),
                                                        key),
                              weights=w, priority=prio, idempotent=idempotent)
        return json.loads(r.body)

    def _inst(self, symbol: str):
        return self.adapter.instrument(symbol)

    def _unified(self, venue_symbol: str) -> str:
        """BTCUSDT -> BTC/USDT (the venue symbol itself for one we hold no instrument of)."""
        for kind in self.KINDS:
            inst = self.adapter.by_venue_symbol.get((kind, venue_symbol))
            if inst is not None:
                return inst.symbol
        return venue_symbol

    def _update(self, d: dict, ts_recv: int = 0) -> OrderUpdate:
        return OrderUpdate(venue=self.venue, symbol=self._unified(d.get("symbol", "")),
                           client_order_id=d.get("clientOrderId", ""), venue_order_id=str(d.get("orderId", "")),
                           state=STATUS.get(d.get("status", ""), OrderState.UNKNOWN),
                           filled_qty=canonical(d.get("executedQty", "0")), qty=canonical(d.get("origQty", "")),
                           price=canonical(d.get("price", "")), side=_side(d.get("side")),
                           ts_exchange=int(d.get("transactTime") or d.get("updateTime") or 0) * MS, ts_recv=ts_recv)

    async def place(self, order: Order) -> OrderUpdate:
        inst = self._inst(order.symbol)
        p = [("symbol", inst.venue_symbol), ("side", "BUY" if order.side == Side.BUY else "SELL"),
             ("type", "MARKET" if order.type != OrderType.LIMIT else
              "LIMIT_MAKER" if order.tif == TimeInForce.POST_ONLY else "LIMIT")]
        qty, px = checked_units(inst, order, "binance")
        if order.type == OrderType.LIMIT and order.tif != TimeInForce.POST_ONLY:
            p.append(("timeInForce", order.tif.name))    # LIMIT_MAKER takes none
        p.append(("quantity", inst.qty_str(qty)))
        if px is not None:
            p.append(("price", inst.px_str(px)))
        p += [("newClientOrderId", order.client_order_id), ("newOrderRespType", "FULL")]
        d = await self._signed("POST", "/api/v3/order", p, idempotent=False, order=order)
        u = self._update(d, now_ns())
        fills = d.get("fills") or []
        for f in fills:                          # FULL answer: the fills of the immediate match
            self._emit_fill_from_ack(order, u, f)
        return u

    def _emit_fill_from_ack(self, order: Order, u: OrderUpdate, f: dict) -> None:
        if self.on_update is None:
            return
        fill = Fill(venue=self.venue, symbol=order.symbol, client_order_id=order.client_order_id,
                    venue_order_id=u.venue_order_id, trade_id=str(f.get("tradeId")), price=canonical(f["price"]),
                    qty=canonical(f["qty"]), side=order.side, fee=canonical(f.get("commission", "0")),
                    fee_asset=f.get("commissionAsset", ""), is_maker=False, ts_exchange=u.ts_exchange, ts_recv=u.ts_recv)
        self.on_update(OrderUpdate(venue=self.venue, symbol=order.symbol, client_order_id=order.client_order_id,
                                   venue_order_id=u.venue_order_id, state=u.state, filled_qty=u.filled_qty,
                                   qty=u.qty, price=u.price, side=order.side, fill=fill, ts_recv=u.ts_recv))

    async def cancel(self, order: Order) -> OrderUpdate:
        inst = self._inst(order.symbol)
        d = await self._signed("DELETE", self.ORDER_PATH, [("symbol", inst.venue_symbol),
                                                          ("origClientOrderId", order.client_order_id)], order=order)
        u = self._update(d, now_ns())
        u.client_order_id = d.get("origClientOrderId") or order.client_order_id
        return u

    async def cancel_all(self, symbol: str, orders: list[Order]) -> list[OrderUpdate]:
        """Cancel every open order of ``symbol`` at once (DELETE /api/v3/openOrders, Binance's
        cancel-all; ``orders`` is not needed: the venue knows its open orders). The canceled
        orders as the venue reports them; none open at all is not an error."""
        try:
            d = await self._signed("DELETE", "/api/v3/openOrders", [("symbol", self._inst(symbol).venue_symbol)])
        except UnknownOrder:
            return []                                # -2011: the symbol has no open order
        out = []
        for x in d if isinstance(d, list) else []:
            if isinstance(x, dict) and "orderListId" in x and "orders" in x:
                continue                             # an order list (OCO) we never place
            u = self._update(x, now_ns())
            u.client_order_id = x.get("origClientOrderId") or u.client_order_id
            out.append(u)
        return out

    async def query(self, order: Order) -> OrderUpdate:
        inst = self._inst(order.symbol)
        d = await self._signed("GET", self.ORDER_PATH, [("symbol", inst.venue_symbol),
                                                       ("origClientOrderId", order.client_order_id)])
        return self._update(d, now_ns())

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        if symbol:
            d = await self._signed("GET", self.OPEN_ORDERS_PATH, [("symbol", self._inst(symbol).venue_symbol)])
        else:
            d = await self._signed("GET", self.OPEN_ORDERS_PATH, [], weights=self.all_open_orders_weights())
        return [self._update(x, now_ns()) for x in d]

    def all_open_orders_weights(self) -> dict[str, int]:
        return {"REQUEST_WEIGHT": OPEN_ORDERS_ALL_WEIGHT, "RAW_REQUESTS_5M": 1}

    async def balances(self) -> list[Balance]:
        """GET /api/v3/account (weight 20): every asset with a nonzero free or locked amount."""
        d = await self._signed("GET", "/api/v3/account", [("omitZeroBalances", "true")])
        out = []
        for b in d.get("balances", ()) if isinstance(d, dict) else ():
            free, locked = canonical(b["free"]), canonical(b["locked"])
            if free != "0" or locked != "0":
                out.append(Balance(self.venue, b["asset"], free, locked))
        return out

    async def positions(self) -> list:
        """Spot holds balances, not positions: none."""
        return []

    async def recent_fills(self, symbol: str, since_ns: int) -> list[Fill]:
        inst = self._inst(symbol)
        d = await self._signed("GET", "/api/v3/myTrades", [("symbol", inst.venue_symbol),
                                                          ("startTime", str(max(0, since_ns // MS - 1000)))])
        out = []
        for t in d:
            out.append(Fill(venue=self.venue, symbol=inst.symbol, client_order_id="", venue_order_id=str(t["orderId"]),
                            trade_id=str(t["id"]), price=canonical(t["price"]), qty=canonical(t["qty"]),
                            side=Side.BUY if t.get("isBuyer") else Side.SELL, fee=canonical(t.get("commission", "0")),
                            fee_asset=t.get("commissionAsset", ""), is_maker=bool(t.get("isMaker")),
                            ts_exchange=int(t.get("time", 0)) * MS, ts_recv=now_ns()))
        return out

    # ---- user data stream --------------------------------------------------------------------
    def start(self, private_ws_url: str, on_reconnected: Callable[[], None]) -> None:
        if self.private_ws is not None:
            return
        self.private_ws = PrivateWsSession(
            private_ws_url, BinanceUserStreamDialect(self.sync_time, on_usage=self.rest.budget.sync_headers), self.creds, on_push=self._on_push,
            on_reconnected=on_reconnected, on_state=self._on_state, http=self.rest.session,
            clock_ns=self.venue_ns, name="binance/user", connect_pacer=self.connect_pacer)
        self.private_ws.start()

    start_stream = start          # the runtime's earlier name

    def _on_push(self, msg: dict) -> None:
        ev = msg["event"]
        if ev.get("e") != "executionReport":
            return                                   # balances etc.: not the order manager's business
        try:
            u = self.execution_report(ev, now_ns())
        except (ValueError, KeyError, TypeError, ArithmeticError) as e:
            self.bad_events += 1
            log.warning("binance user stream: bad executionReport dropped: %s: %s", type(e).__name__, e)
            return
        if u is not None and self.on_update is not None:
            self.on_update(u)

    def execution_report(self, ev: dict, ts_recv: int) -> OrderUpdate | None:
        """executionReport -> OrderUpdate (with its fill for TRADE executions)."""
        symbol = self._unified(ev["s"])
        cid = ev.get("C") if ev.get("x") == "CANCELED" and ev.get("C") else ev["c"]
        side = _side(ev.get("S"))
        u = OrderUpdate(venue=self.venue, symbol=symbol, client_order_id=cid, venue_order_id=str(ev["i"]),
                        state=STATUS.get(ev["X"], OrderState.UNKNOWN), filled_qty=canonical(ev["z"]),
                        qty=canonical(ev.get("q", "")), price=canonical(ev.get("p", "")), side=side,
                        ts_exchange=int(ev.get("T") or ev.get("E") or 0) * MS, ts_recv=ts_recv,
                        reason="" if ev.get("r") in (None, "NONE") else str(ev.get("r")))
        if ev.get("x") == "TRADE" and int(ev.get("t", -1)) >= 0:
            u.fill = Fill(venue=self.venue, symbol=symbol, client_order_id=cid, venue_order_id=str(ev["i"]),
                          trade_id=str(ev["t"]), price=canonical(ev["L"]), qty=canonical(ev["l"]), side=side,
                          fee=canonical(ev.get("n") or "0"), fee_asset=ev.get("N") or "", is_maker=bool(ev.get("m")),
                          ts_exchange=u.ts_exchange, ts_recv=ts_recv)
        return u


def _side(s) -> Side | None:
    return Side.BUY if s == "BUY" else Side.SELL if s == "SELL" else None
