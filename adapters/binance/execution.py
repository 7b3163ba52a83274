# SPDX-License-Identifier: Apache-2.0
"""Binance spot execution: signed REST order entry/queries and the private user data stream
(WS API userDataStream.subscribe.signature; executionReport events)."""
from __future__ import annotations

import asyncio
import json
import logging
import random
from decimal import Decimal
from typing import Callable

import aiohttp

from adapters.binance import auth
from adapters.binance.errors import map_error, parse_error_body
from adapters.binance.spec import ENDPOINTS, OPEN_ORDERS_ALL_WEIGHT
from engine.adapter import VenueAdapter
from engine.config import Credentials
from engine.errors import AuthError, ExecutionUnknown, Rejected, TimestampError
from engine.model import Fill, Order, OrderState, OrderType, OrderUpdate, Side, TimeInForce, VenueId
from engine.orders import make_client_order_id
from engine.rest import RestClient
from ext.clock import now_ns
from ext.ratelimit import Priority

log = logging.getLogger("venuelink.binance.exec")

STATUS = {"NEW": OrderState.NEW, "PENDING_NEW": OrderState.PENDING_NEW, "PARTIALLY_FILLED": OrderState.PARTIALLY_FILLED,
          "FILLED": OrderState.FILLED, "CANCELED": OrderState.CANCELED, "PENDING_CANCEL": OrderState.CANCEL_PENDING,
          "REJECTED": OrderState.REJECTED, "EXPIRED": OrderState.EXPIRED, "EXPIRED_IN_MATCH": OrderState.EXPIRED}
MS = 1_000_000


class BinanceExecution:
    """engine.orders.ExecutionClient for Binance spot."""

    def __init__(self, adapter: VenueAdapter, rest: RestClient, creds: Credentials, *, recv_window_ms: int = 5000) -> None:
        self.adapter = adapter
        self.venue = VenueId.binance
        self.rest = rest
        self.creds = creds
        self.recv_window_ms = recv_window_ms
        self.clock_offset_ms = 0              # venue time - local time, measured by sync_time()
        self._stream_task: asyncio.Task | None = None
        self.on_update: Callable[[OrderUpdate], None] | None = None
        self.on_stream_state: Callable[[bool], None] | None = None
        self.stream_connected = False

    def __repr__(self) -> str:
        return f"BinanceExecution(rest={self.rest.base_url!r})"

    def new_client_order_id(self) -> str:
        return make_client_order_id("vl")

    # ---- signed REST -----------------------------------------------------------------------
    async def sync_time(self) -> None:
        t0 = now_ns()
        r = await self.rest.request("GET", "/api/v3/time", weights=ENDPOINTS[("GET", "/api/v3/time")][0],
                                    priority=Priority.QUERY)
        t1 = now_ns()
        server_ms = json.loads(r.body)["serverTime"]
        self.clock_offset_ms = int(server_ms - (t0 + t1) / 2 / MS)

    async def _signed(self, method: str, path: str, params: list[tuple[str, str]], *,
                      weights: dict | None = None, idempotent: bool = True) -> dict | list:
        w, prio = ENDPOINTS[(method, path)]
        if weights is not None:
            w = weights
        for attempt in (0, 1):
            ts = now_ns() // MS + self.clock_offset_ms
            q = auth.signed_query(self.creds, params, ts, self.recv_window_ms)
            try:
                r = await self.rest.request(method, path, query=q, headers={"X-MBX-APIKEY": self.creds.api_key.reveal()},
                                            weights=w, priority=prio, idempotent=idempotent)
            except TimestampError:
                if attempt:
                    raise
                await self.sync_time()      # the timestamp was refused before execution: safe to resend
                continue
            return json.loads(r.body)
        raise AssertionError("unreachable")

    def _inst(self, symbol: str):
        return self.adapter.instrument(symbol)

    def _update(self, d: dict, ts_recv: int = 0) -> OrderUpdate:
        inst = self.adapter.by_venue_symbol.get(d.get("symbol", ""))
        return OrderUpdate(venue=self.venue, symbol=inst.symbol if inst else d.get("symbol", ""),
                           client_order_id=d.get("clientOrderId", ""), venue_order_id=str(d.get("orderId", "")),
                           state=STATUS.get(d.get("status", ""), OrderState.UNKNOWN),
                           filled_qty=_norm(d.get("executedQty", "0")), qty=_norm(d.get("origQty", "")),
                           price=_norm(d.get("price", "")), side=_side(d.get("side")),
                           ts_exchange=int(d.get("transactTime") or d.get("updateTime") or 0) * MS, ts_recv=ts_recv)

    async def place(self, order: Order) -> OrderUpdate:
        inst = self._inst(order.symbol)
        p = [("symbol", inst.venue_symbol), ("side", "BUY" if order.side == Side.BUY else "SELL"),
             ("type", "LIMIT" if order.type == OrderType.LIMIT else "MARKET")]
        if order.type == OrderType.LIMIT:
            p.append(("timeInForce", order.tif.name))
        qty, px = _checked(inst, order)
        p.append(("quantity", inst.qty_str(qty)))
        if px is not None:
            p.append(("price", inst.px_str(px)))
        p += [("newClientOrderId", order.client_order_id), ("newOrderRespType", "FULL")]
        d = await self._signed("POST", "/api/v3/order", p, idempotent=False)
        u = self._update(d, now_ns())
        fills = d.get("fills") or []
        for f in fills:                          # FULL answer: the fills of the immediate match
            self._emit_fill_from_ack(order, u, f)
        return u

    def _emit_fill_from_ack(self, order: Order, u: OrderUpdate, f: dict) -> None:
        if self.on_update is None:
            return
        fill = Fill(venue=self.venue, symbol=order.symbol, client_order_id=order.client_order_id,
                    venue_order_id=u.venue_order_id, trade_id=str(f.get("tradeId")), price=_norm(f["price"]),
                    qty=_norm(f["qty"]), side=order.side, fee=_norm(f.get("commission", "0")),
                    fee_asset=f.get("commissionAsset", ""), is_maker=False, ts_exchange=u.ts_exchange, ts_recv=u.ts_recv)
        self.on_update(OrderUpdate(venue=self.venue, symbol=order.symbol, client_order_id=order.client_order_id,
                                   venue_order_id=u.venue_order_id, state=u.state, filled_qty=u.filled_qty,
                                   qty=u.qty, price=u.price, side=order.side, fill=fill, ts_recv=u.ts_recv))

    async def cancel(self, order: Order) -> OrderUpdate:
        inst = self._inst(order.symbol)
        d = await self._signed("DELETE", "/api/v3/order", [("symbol", inst.venue_symbol),
                                                          ("origClientOrderId", order.client_order_id)])
        u = self._update(d, now_ns())
        u.client_order_id = d.get("origClientOrderId") or order.client_order_id
        return u

    async def query(self, order: Order) -> OrderUpdate:
        inst = self._inst(order.symbol)
        d = await self._signed("GET", "/api/v3/order", [("symbol", inst.venue_symbol),
                                                       ("origClientOrderId", order.client_order_id)])
        return self._update(d, now_ns())

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        if symbol:
            d = await self._signed("GET", "/api/v3/openOrders", [("symbol", self._inst(symbol).venue_symbol)])
        else:
            d = await self._signed("GET", "/api/v3/openOrders", [],
                                   weights={"REQUEST_WEIGHT": OPEN_ORDERS_ALL_WEIGHT, "RAW_REQUESTS_5M": 1})
        return [self._update(x, now_ns()) for x in d]

    async def recent_fills(self, symbol: str, since_ns: int) -> list[Fill]:
        inst = self._inst(symbol)
        d = await self._signed("GET", "/api/v3/myTrades", [("symbol", inst.venue_symbol),
                                                          ("startTime", str(max(0, since_ns // MS - 1000)))])
        out = []
        for t in d:
            out.append(Fill(venue=self.venue, symbol=inst.symbol, client_order_id="", venue_order_id=str(t["orderId"]),
                            trade_id=str(t["id"]), price=_norm(t["price"]), qty=_norm(t["qty"]),
                            side=Side.BUY if t.get("isBuyer") else Side.SELL, fee=_norm(t.get("commission", "0")),
                            fee_asset=t.get("commissionAsset", ""), is_maker=bool(t.get("isMaker")),
                            ts_exchange=int(t.get("time", 0)) * MS, ts_recv=now_ns()))
        return out

    # ---- user data stream --------------------------------------------------------------------
    def start_stream(self, ws_api_url: str, on_reconnect: Callable[[], None]) -> None:
        self._stream_task = asyncio.ensure_future(self._stream_loop(ws_api_url, on_reconnect))

    async def close(self) -> None:
        if self._stream_task is not None:
            self._stream_task.cancel()
            try:
                await self._stream_task
            except (asyncio.CancelledError, Exception):
                pass

    async def _stream_loop(self, url: str, on_reconnect: Callable[[], None]) -> None:
        delay = 0.2
        first = True
        while True:
            try:
                session = await self.rest.session()
                async with session.ws_connect(url, heartbeat=20, autoping=True) as ws:
                    params = {"apiKey": self.creds.api_key.reveal(),
                              "timestamp": str(now_ns() // MS + self.clock_offset_ms)}
                    params["signature"] = auth.ws_api_signature(self.creds, params)
                    await ws.send_str(json.dumps({"id": "uds", "method": "userDataStream.subscribe.signature",
                                                  "params": params}))
                    reply = await asyncio.wait_for(ws.receive(), 10)
                    msg = json.loads(reply.data)
                    if msg.get("status") != 200:
                        code, text = (msg.get("error") or {}).get("code"), (msg.get("error") or {}).get("msg")
                        if code in (-1022, -2014, -2015):
                            raise AuthError(f"binance user stream refused: {code} {text}", venue="binance", code=code)
                        raise ExecutionUnknown(f"binance user stream subscribe failed: {code} {text}", venue="binance")
                    self.stream_connected = True
                    if self.on_stream_state:
                        self.on_stream_state(True)
                    delay = 0.2
                    if not first:
                        on_reconnect()           # events may have been missed while down
                    first = False
                    async for m in ws:
                        if m.type == aiohttp.WSMsgType.TEXT:
                            self._on_stream_message(m.data)
                        elif m.type in (aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                            break
            except asyncio.CancelledError:
                raise
            except AuthError as e:
                log.error("%s", e)
                delay = 30.0
            except Exception as e:  # any failure: reconnect with backoff
                log.warning("binance user stream: %s: %s", type(e).__name__, e)
            if self.stream_connected and self.on_stream_state:
                self.on_stream_state(False)
            self.stream_connected = False
            await asyncio.sleep(delay * random.uniform(0.5, 1.5))
            delay = min(delay * 2, 30.0)

    def _on_stream_message(self, text: str) -> None:
        try:
            msg = json.loads(text)
            ev = msg.get("event") if isinstance(msg, dict) else None
            if not isinstance(ev, dict) or ev.get("e") != "executionReport":
                return
            u = self.execution_report(ev, now_ns())
        except (ValueError, KeyError, TypeError) as e:
            log.warning("binance user stream: bad event dropped: %s", e)
            return
        if u is not None and self.on_update is not None:
            self.on_update(u)

    def execution_report(self, ev: dict, ts_recv: int) -> OrderUpdate | None:
        """executionReport -> OrderUpdate (with its fill for TRADE executions)."""
        inst = self.adapter.by_venue_symbol.get(ev["s"])
        symbol = inst.symbol if inst else ev["s"]
        cid = ev.get("C") if ev.get("x") == "CANCELED" and ev.get("C") else ev["c"]
        side = _side(ev.get("S"))
        u = OrderUpdate(venue=self.venue, symbol=symbol, client_order_id=cid, venue_order_id=str(ev["i"]),
                        state=STATUS.get(ev["X"], OrderState.UNKNOWN), filled_qty=_norm(ev["z"]),
                        qty=_norm(ev.get("q", "")), price=_norm(ev.get("p", "")), side=side,
                        ts_exchange=int(ev.get("T") or ev.get("E") or 0) * MS, ts_recv=ts_recv,
                        reason="" if ev.get("r") in (None, "NONE") else str(ev.get("r")))
        if ev.get("x") == "TRADE" and int(ev.get("t", -1)) >= 0:
            u.fill = Fill(venue=self.venue, symbol=symbol, client_order_id=cid, venue_order_id=str(ev["i"]),
                          trade_id=str(ev["t"]), price=_norm(ev["L"]), qty=_norm(ev["l"]), side=side,
                          fee=_norm(ev.get("n") or "0"), fee_asset=ev.get("N") or "", is_maker=bool(ev.get("m")),
                          ts_exchange=u.ts_exchange, ts_recv=ts_recv)
        return u


def _checked(inst, order: Order) -> tuple[int, int | None]:
    """Validate size and price against the instrument before anything leaves the host (a
    request the venue must refuse would only burn rate budget)."""
    try:
        qty = inst.qty(order.qty)
        px = inst.px(order.price) if order.type == OrderType.LIMIT and order.price is not None else None
    except ValueError as e:
        raise Rejected(f"{order.symbol}: {e} (tick {inst.px_str(inst.tick)}, lot {inst.qty_str(inst.lot)})",
                       venue="binance") from None
    if order.type == OrderType.LIMIT and px is None:
        raise Rejected(f"{order.symbol}: limit order without a price", venue="binance")
    if qty <= 0 or (inst.lot and qty % inst.lot) or qty < inst.min_qty:
        raise Rejected(f"{order.symbol}: quantity {order.qty} is not a positive multiple of the lot "
                       f"{inst.qty_str(inst.lot)} at least {inst.qty_str(inst.min_qty)}", venue="binance")
    if px is not None and (px <= 0 or (inst.tick and px % inst.tick)):
        raise Rejected(f"{order.symbol}: price {order.price} is not a positive multiple of the tick "
                       f"{inst.px_str(inst.tick)}", venue="binance")
    return qty, px


def _side(s) -> Side | None:
    return Side.BUY if s == "BUY" else Side.SELL if s == "SELL" else None


def _norm(x) -> str:
    """Venue decimal string -> canonical ("0.01000000" -> "0.01")."""
    if x in (None, ""):
        return ""
    d = Decimal(str(x))
    s = format(d.normalize(), "f")
    return "0" if d == 0 else s
