# SPDX-License-Identifier: Apache-2.0
"""CcxtExecution: venuelink.execution.ExecutionClient for a ccxt-tier venue. Every call is one request
to the venue's CCXT worker (``POST /orders``, venuelink.ccxt_tier), which makes one CCXT REST call.

Deadlines: CCXT's own request timeout is the tier's deadline (``ccxt_timeout_s``); the engine
waits that long plus a local margin for the worker's answer. Whatever cannot be known to have
failed before execution is ``ExecutionUnknown`` on a write (place, cancel): the order manager
then reconciles by client order id.

The private stream: where the worker pushes orders and fills (CCXT's ``watch_orders`` /
``watch_my_trades``; its report says ``private_stream``), ``start`` subscribes its ``orders``
topic. Pushed updates reach ``on_update`` like a native venue's; ``stream_connected`` follows
the worker's ``stream`` frames (and the local socket); after the stream comes back the runtime
reconciles, as for a native private stream. Without one, fills of resting orders are found by
the manager's audits and queries."""
from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any, Callable

import aiohttp

from venuelink.ccxt_tier.errors import NOT_SENT, engine_error, outcome_class
from venuelink.circuit import CircuitState
from venuelink.errors import CircuitOpen, ExecutionUnknown, VenueError
from venuelink.model import Balance, Fill, Order, OrderState, OrderType, OrderUpdate, Position, Side, TimeInForce, VenueId
from venuelink.order_checks import canonical, checked_units
from venuelink.order_ids import make_client_order_id
from venuelink.ext.ratelimit import Priority
from venuelink.ext.clock import now_ns

log = logging.getLogger("venuelink.ccxt_tier.exec")
MS = 1_000_000
LOCAL_MARGIN_S = 1.0          # the worker's own work on top of CCXT's deadline
_TIF = {TimeInForce.GTC: "GTC", TimeInForce.IOC: "IOC", TimeInForce.FOK: "FOK", TimeInForce.POST_ONLY: "POST_ONLY"}


class _NotSent(Exception):
    """The worker's answer: the local budget refused its request, so nothing was sent."""


def _side(s: Any) -> Side | None:
    return Side.BUY if s == "buy" else Side.SELL if s == "sell" else None


class CcxtExecution:
    """Order entry through the venue's CCXT worker (REST), and its private stream where it has one."""

    def __init__(self, adapter: Any, *, timeout_s: float = 4.0, rest: Any = None) -> None:
        self.adapter = adapter
        self.rest = rest                # its breaker is the venue's order breaker (a ban opens it)
        self.venue: VenueId = adapter.venue
        self.timeout_s = timeout_s
        self.on_update: Callable[[OrderUpdate], None] | None = None
        self._http: aiohttp.ClientSession | None = None
        self.stream_connected = False
        self.stream_reason = ""                     # why it is down, as the worker said
        self.stream_ups = 0                         # times the stream came up
        self.pushed = 0                             # order and fill frames received
        self.unusable = 0                           # frames that could not be read (logged, dropped)
        self.outcomes: dict[str, int] = {}          # error answers by the error table's class (errors.TABLE)
        self._stream_task: asyncio.Task | None = None
        # the optional parts of the execution contract, where CCXT has them for this exchange
        # (venuelink.execution.ExecutionClient: a venue without one simply lacks the method)
        can = ((adapter.worker.report or {}).get("can") or {}) if adapter.worker is not None else {}
        if can.get("amend"):
            self.amend = self._amend
        if can.get("cancel_all"):
            self.cancel_all = self._cancel_all
        if can.get("dead_man"):
            self.arm_dead_man = self._arm_dead_man

    @property
    def private_stream(self) -> bool:
        """The worker pushes this account's orders and fills."""
        w = self.adapter.worker
        return bool(w is not None and (w.report or {}).get("private_stream"))

    def __repr__(self) -> str:
        return f"CcxtExecution({self.venue.name}, timeout_s={self.timeout_s})"

    # ---- lifecycle -----------------------------------------------------------------------------
    def start(self, private_ws_url: str, on_reconnected: Callable[[], None]) -> None:
        """Follow the worker's ``orders`` topic (`private_ws_url` is unused: the worker's socket,
        wherever the supervisor has it now, is the stream)."""
        if self._stream_task is None and self.private_stream:
            self._stream_task = asyncio.ensure_future(self._follow(on_reconnected))

    async def _follow(self, on_reconnected: Callable[[], None]) -> None:
        """The worker's ``orders`` topic, re-subscribed whenever the local socket drops (the
        worker restarted). Every transition of the stream to up but the first reconciles."""
        delay, first = 0.25, True
        while True:
            worker = self.adapter.worker
            url = (worker.report or {}).get("ws_url") if worker is not None else None
            try:
                if not url:
                    raise ConnectionError("the CCXT worker is not running")
                if self._http is None:
                    self._http = aiohttp.ClientSession()
                async with self._http.ws_connect(url, heartbeat=None) as ws:
                    await ws.send_str(json.dumps({"op": "subscribe", "id": 1, "topics": ["orders"]}))
                    async for m in ws:
                        if m.type != aiohttp.WSMsgType.TEXT:
                            continue
                        up = self._on_frame(m.data)
                        if up is True:
                            delay = 0.25
                            if not first:
                                on_reconnected()
                            first = False
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.stream_reason = f"the CCXT worker's socket: {type(e).__name__}"
            self._set_down(self.stream_reason or "the CCXT worker's socket closed")
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _set_down(self, reason: str) -> None:
        if self.stream_connected:
            log.warning("%s: private stream down: %s", self.venue.name, reason)
        self.stream_connected = False
        self.stream_reason = reason

    def _on_frame(self, text: str) -> bool | None:
        """One frame of the ``orders`` topic; True when the stream just went up."""
        try:
            d = json.loads(text)
            kind = d.get("type") if isinstance(d, dict) else d
            if kind == "stream" or d.get("op") == "error":
                up = bool(d.get("up"))
                if not up:
                    self._set_down(str(d.get("reason") or d.get("msg") or "down"))
                    return None
                if self.stream_connected:
                    return None
                self.stream_connected, self.stream_reason = True, ""
                self.stream_ups += 1
                log.info("%s: private stream up (CCXT worker)", self.venue.name)
                return True
            if kind == "order":
                u = self._update(d)
            elif kind == "fill":
                u = self._fill_update(d)
            else:
                return None
        except (ValueError, KeyError, TypeError, AttributeError, ArithmeticError) as e:
            self.unusable += 1
            log.warning("%s: a pushed update could not be read (%s): dropped", self.venue.name, type(e).__name__)
            return None
        self.pushed += 1
        if self.on_update is not None:
            self.on_update(u)
        return None

    def _fill_update(self, t: dict) -> OrderUpdate:
        """A pushed own trade as the fill update of its order (found by the venue's order id)."""
        side = _side(t.get("side"))
        if side is None:
            raise ValueError("a fill without its side")
        ts = int(t.get("ts") or 0) * MS
        cid = str(t.get("client_id") or "")                 # where the venue's push names it
        fill = Fill(venue=self.venue, symbol=t["symbol"], client_order_id=cid, venue_order_id=str(t["order_id"]),
                    trade_id=str(t["id"]), price=canonical(t["price"]), qty=canonical(t["qty"]), side=side,
                    fee=canonical(t.get("fee") or "0"), fee_asset=t.get("fee_asset") or "",
                    is_maker=bool(t.get("maker")), ts_exchange=ts, ts_recv=now_ns())
        return OrderUpdate(venue=self.venue, symbol=t["symbol"], client_order_id=cid,
                           venue_order_id=str(t["order_id"]), state=OrderState.UNKNOWN, filled_qty="",
                           side=side, fill=fill, ts_exchange=ts, ts_recv=fill.ts_recv)

    async def sync_time(self) -> None:
        """CCXT stamps its own signed requests, so there is no offset to measure; but this is also
        the probe of a venue the engine stopped sending orders to (venuelink.availability): one cheap
        request to the venue through the worker, and its answer closes the order breaker."""
        if self.adapter.worker is None or not (self.adapter.worker.report or {}).get("rest_url"):
            return
        await self._call({"op": "time"}, write=False)
        br = self.rest.breaker if self.rest is not None else None
        if br is not None and br.state != CircuitState.CLOSED and not br.banned:
            br.success()

    async def close(self) -> None:
        if self._stream_task is not None:
            self._stream_task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stream_task
            self._stream_task = None
        self.stream_connected = False
        if self._http is not None:
            await self._http.close()
            self._http = None

    def new_client_order_id(self) -> str:
        return make_client_order_id("vl")

    # ---- the worker --------------------------------------------------------------------------
    async def _call(self, req: dict, *, write: bool, priority: Priority = Priority.QUERY) -> Any:
        """One dialect request. The worker asks the engine's budget (venuelink.ccxt_tier.gate) before
        each REST request it makes for it, with `priority` and the caller's send window."""
        worker = self.adapter.worker
        url = (worker.report.get("rest_url") if worker is not None else None)
        if not url:
            raise CircuitOpen(f"{self.venue.name}: the CCXT worker is not running")
        br = self.rest.breaker if self.rest is not None else None
        if br is not None and priority == Priority.NEW_ORDER and br.banned:
            raise CircuitOpen(f"{self.venue.name}: the venue banned our requests", int(br.retry_in() * 1e9))
        gate = self.adapter.gate
        token = gate.register(priority) if gate is not None else ""
        try:
            return await self._post(url, {**req, "budget_token": token} if token else req, write=write)
        except _NotSent as e:
            # the budget refused the call's first request: nothing was sent. The budget's own
            # error (BudgetTimeout past the deadline, CircuitOpen while blocked) goes up as native
            refusal = gate.done(token) if token else None
            raise (refusal or CircuitOpen(f"{self.venue.name}: {e}")) from None
        finally:
            if token:
                gate.done(token)

    async def _post(self, url: str, req: dict, *, write: bool) -> Any:
        if self._http is None:
            self._http = aiohttp.ClientSession()
        name = self.venue.name
        try:
            async with asyncio.timeout(self.timeout_s + LOCAL_MARGIN_S):
                async with self._http.post(url + "/orders", json=req) as r:
                    body = await r.read()
        except aiohttp.ClientConnectorError as e:   # nothing reached the worker: nothing was sent
            raise CircuitOpen(f"{name}: the CCXT worker cannot be reached ({type(e).__name__})") from None
        except (asyncio.TimeoutError, aiohttp.ClientError, ConnectionError) as e:
            raise ExecutionUnknown(f"{name}: no answer from the CCXT worker ({type(e).__name__})", venue=name) from None
        try:
            answer = json.loads(body)
            ok = answer["ok"]
        except (ValueError, KeyError, TypeError):
            err = f"{name}: the CCXT worker answered HTTP {r.status}: {body[:200]!r}"
            if write:
                raise ExecutionUnknown(err, venue=name) from None
            raise VenueError(err, venue=name, http_status=r.status) from None
        if ok:
            return answer.get("result")
        if (answer.get("error") or {}).get("chain", [None])[:1] == [NOT_SENT]:
            raise _NotSent(str(answer["error"].get("msg") or "refused by the local rate budget"))
        err = answer.get("error") or {}
        kind = outcome_class([str(c) for c in err.get("chain") or []])
        self.outcomes[kind] = self.outcomes.get(kind, 0) + 1
        raise engine_error(err, write=write, venue=name)

    # ---- orders ------------------------------------------------------------------------------
    def _update(self, d: dict, order: Order | None = None) -> OrderUpdate:
        state = OrderState.__members__.get(str(d.get("state", "")), OrderState.UNKNOWN)
        return OrderUpdate(venue=self.venue, symbol=d.get("symbol") or (order.symbol if order else ""),
                           client_order_id=d.get("client_id") or (order.client_order_id if order else ""),
                           venue_order_id=str(d.get("id") or ""), state=state,
                           filled_qty=canonical(d.get("filled") or "0"), qty=canonical(d.get("amount") or ""),
                           price=canonical(d.get("price") or ""),
                           side=_side(d.get("side")) or (order.side if order else None),
                           ts_exchange=int(d.get("ts") or 0) * MS, ts_recv=now_ns(), reason=str(d.get("reason") or ""))

    async def place(self, order: Order) -> OrderUpdate:
        inst = self.adapter.instrument(order.symbol)
        qty, px = checked_units(inst, order, self.venue.name)
        req = {"op": "create", "symbol": inst.symbol, "client_id": order.client_order_id,
               "side": "buy" if order.side == Side.BUY else "sell",
               "type": "limit" if order.type == OrderType.LIMIT else "market",
               "amount": inst.qty_str(qty), "price": inst.px_str(px) if px is not None else None,
               "tif": _TIF.get(order.tif, "") if order.type == OrderType.LIMIT else "",
               "reduce_only": bool(order.reduce_only)}
        d = await self._call(req, write=True, priority=Priority.NEW_ORDER)
        u = self._update(d, order)
        if self.on_update is not None:
            for f in d.get("fills") or []:          # the fills of the immediate match, reported once each
                fill = Fill(venue=self.venue, symbol=order.symbol, client_order_id=order.client_order_id,
                            venue_order_id=u.venue_order_id, trade_id=str(f.get("id")), price=canonical(f["price"]),
                            qty=canonical(f["qty"]), side=order.side, fee=canonical(f.get("fee") or "0"),
                            fee_asset=f.get("fee_asset", ""), is_maker=False, ts_exchange=u.ts_exchange,
                            ts_recv=u.ts_recv)
                self.on_update(OrderUpdate(venue=self.venue, symbol=order.symbol, client_order_id=order.client_order_id,
                                           venue_order_id=u.venue_order_id, state=u.state, filled_qty=u.filled_qty,
                                           qty=u.qty, price=u.price, side=order.side, fill=fill, ts_recv=u.ts_recv))
        return u

    async def cancel(self, order: Order) -> OrderUpdate:
        d = await self._call({"op": "cancel", "symbol": order.symbol, "client_id": order.client_order_id,
                              "id": order.venue_order_id or ""}, write=True, priority=Priority.CANCEL)
        u = self._update(d, order)
        u.client_order_id = order.client_order_id
        return u

    async def _amend(self, order: Order, qty: str | None, price: str | None) -> OrderUpdate:
        inst = self.adapter.instrument(order.symbol)
        new = Order(venue=order.venue, symbol=order.symbol, client_order_id=order.client_order_id, side=order.side,
                    type=order.type, qty=qty or order.qty, price=price or order.price, tif=order.tif)
        q, px = checked_units(inst, new, self.venue.name)
        d = await self._call({"op": "amend", "symbol": inst.symbol, "client_id": order.client_order_id,
                              "id": order.venue_order_id or "", "side": "buy" if order.side == Side.BUY else "sell",
                              "type": "limit", "amount": inst.qty_str(q),
                              "price": inst.px_str(px) if px is not None else None},
                             write=True, priority=Priority.NEW_ORDER)
        u = self._update(d, order)
        u.client_order_id = order.client_order_id
        return u

    async def _cancel_all(self, symbol: str, orders: list[Order]) -> list[OrderUpdate]:
        rows = await self._call({"op": "cancel_all", "symbol": symbol,
                                 "ids": [o.venue_order_id for o in orders if o.venue_order_id]},
                                write=True, priority=Priority.CANCEL)
        return [self._update(d) for d in rows or []]

    async def _arm_dead_man(self, timeout_s: int) -> None:
        await self._call({"op": "dead_man", "timeout_s": int(timeout_s)}, write=True, priority=Priority.CANCEL)

    async def query(self, order: Order) -> OrderUpdate:
        d = await self._call({"op": "fetch", "symbol": order.symbol, "client_id": order.client_order_id,
                              "id": order.venue_order_id or ""}, write=False)
        return self._update(d, order)

    async def open_orders(self, symbol: str | None = None) -> list[OrderUpdate]:
        return [self._update(d) for d in await self._call({"op": "open", "symbol": symbol}, write=False)]

    async def balances(self) -> list[Balance]:
        """The account's assets (nonzero free or locked) as the venue reports them."""
        return [Balance(self.venue, r["asset"], canonical(r["free"]), canonical(r["locked"]))
                for r in await self._call({"op": "balances"}, write=False)]

    async def positions(self) -> list[Position]:
        """The account's open derivatives positions (signed size), none on a spot-only venue."""
        return [Position(self.venue, r["symbol"], canonical(r["qty"]), canonical(r["entry_price"]),
                         canonical(r["unrealized_pnl"]), r.get("settle") or "", r.get("contract_size") or "")
                for r in await self._call({"op": "positions"}, write=False)]

    async def recent_fills(self, symbol: str, since_ns: int) -> list[Fill]:
        rows = await self._call({"op": "trades", "symbol": symbol, "since_ms": max(0, since_ns // MS - 1000)},
                                write=False)
        out = []
        for t in rows:
            out.append(Fill(venue=self.venue, symbol=t.get("symbol") or symbol, client_order_id="",
                            venue_order_id=str(t.get("order_id") or ""), trade_id=str(t.get("id")),
                            price=canonical(t["price"]), qty=canonical(t["qty"]),
                            side=_side(t.get("side")) or Side.BUY, fee=canonical(t.get("fee") or "0"),
                            fee_asset=t.get("fee_asset") or "", is_maker=bool(t.get("maker")),
                            ts_exchange=int(t.get("ts") or 0) * MS, ts_recv=now_ns()))
        return out
