# SPDX-License-Identifier: Apache-2.0
"""Order entry inside the CCXT worker: one request of the local dialect (venuelink.ccxt_tier,
``POST /orders``) -> one CCXT REST call -> one answer.

Values go out as the engine's exact decimal strings: CCXT is given the strings, and a value
CCXT would change on its way out (its own precision rounding) is refused here, not sent.
Values come back from the venue's raw ``info`` strings where ``RAW`` knows the exchange's field
names; otherwise from CCXT's unified fields (floats read as the decimal their repr() prints).
"""
from __future__ import annotations

import asyncio
import contextvars
from decimal import Decimal, InvalidOperation
from typing import Any

from venuelink.ccxt_tier.errors import error_chain, scrub

#: the exchange's own client-order-id parameter: on create, and on fetch / cancel
CLIENT_ID_PARAM = {"binance": ("newClientOrderId", "origClientOrderId"), "okx": ("clOrdId", "clOrdId")}
DEFAULT_CLIENT_ID_PARAM = ("clientOrderId", "clientOrderId")

#: exchanges whose CCXT edit_order changes the resting order in place, ids kept (OKX amend-order,
#: Bybit amend); elsewhere it may cancel and place anew (Binance cancelReplace), which is no amend
AMEND_IN_PLACE = frozenset({"okx", "bybit"})

#: the venue's raw field names (``info``) of an order, of a fill in an order answer, and of an own trade
RAW = {
    "binance": {
        "order": {"id": ("orderId",), "client_id": ("origClientOrderId", "clientOrderId"), "status": ("status",),
                  "filled": ("executedQty",), "amount": ("origQty",), "price": ("price",),
                  "ts": ("transactTime", "updateTime", "workingTime", "time")},
        "fills": "fills",
        "fill": {"id": ("tradeId",), "price": ("price",), "qty": ("qty",), "fee": ("commission",),
                 "fee_asset": ("commissionAsset",)},
        "trade": {"id": ("id",), "order_id": ("orderId",), "price": ("price",), "qty": ("qty",),
                  "fee": ("commission",), "fee_asset": ("commissionAsset",), "maker": ("isMaker",),
                  "buyer": ("isBuyer",), "ts": ("time",)},
        "states": {"NEW": "NEW", "PENDING_NEW": "PENDING_NEW", "PARTIALLY_FILLED": "PARTIALLY_FILLED",
                   "FILLED": "FILLED", "CANCELED": "CANCELED", "PENDING_CANCEL": "CANCEL_PENDING",
                   "REJECTED": "REJECTED", "EXPIRED": "EXPIRED", "EXPIRED_IN_MATCH": "EXPIRED"},
        # the user data stream's executionReport (watch_orders and watch_my_trades both read it);
        # a cancel's report names the canceled order's client id in "C", its own request's in "c"
        "pushed_order": {"id": ("i",), "client_id": ("C", "c"), "status": ("X",), "filled": ("z",),
                         "amount": ("q",), "price": ("p",), "ts": ("T", "E")},
        "pushed_trade": {"id": ("t",), "order_id": ("i",), "client_id": ("c",), "price": ("L",), "qty": ("l",),
                         "fee": ("n",), "fee_asset": ("N",), "maker": ("m",), "ts": ("T", "E")},
    },
    # OKX v5: an order (trade/order, orders-pending), and a fill (fills, fills-history). Its place
    # and cancel answers are acknowledgements without a state (the desk then reads the order), and
    # its fee is signed the other way: negative is charged, positive a rebate.
    "okx": {
        "order": {"id": ("ordId",), "client_id": ("clOrdId",), "status": ("state",), "filled": ("accFillSz",),
                  "amount": ("sz",), "price": ("px",), "ts": ("uTime", "cTime")},
        "fills": None,
        "fill": {},
        "trade": {"id": ("tradeId",), "order_id": ("ordId",), "price": ("fillPx",), "qty": ("fillSz",),
                  "fee": ("fee",), "fee_asset": ("feeCcy",), "exec_type": ("execType",), "side": ("side",),
                  "ts": ("ts", "fillTime")},
        "fee_charged_negative": True,
        # the orders channel: an order's fields as in REST; a fill's fee is fillFee (fee is the
        # order's accumulated fee there)
        "pushed_trade": {"id": ("tradeId",), "order_id": ("ordId",), "client_id": ("clOrdId",), "price": ("fillPx",),
                         "qty": ("fillSz",),
                         "fee": ("fillFee",), "fee_asset": ("fillFeeCcy",), "exec_type": ("execType",),
                         "side": ("side",), "ts": ("fillTime", "uTime")},
        "states": {"live": "NEW", "partially_filled": "PARTIALLY_FILLED", "filled": "FILLED", "canceled": "CANCELED",
                   "mmp_canceled": "CANCELED"},
    },
}
#: where an exchange's raw balance answer (``fetch_balance()["info"]``) keeps each asset: a path of
#: keys and list indexes to the rows, and each row's asset / free / locked field
RAW_BALANCES = {
    "binance": (("balances",), "asset", "free", "locked"),          # GET /api/v3/account
    "okx": (("data", 0, "details"), "ccy", "availBal", "frozenBal"),  # GET /api/v5/account/balance
}
#: the raw fields of a position (``fetch_positions()[i]["info"]``): signed size, entry price,
#: unrealized PnL, settle currency
RAW_POSITIONS = {"okx": ("pos", "avgPx", "upl", "ccy")}             # GET /api/v5/account/positions, net mode
_UNIFIED_STATES = {"canceled": "CANCELED", "cancelled": "CANCELED", "expired": "EXPIRED", "rejected": "REJECTED",
                   "closed": "FILLED"}

#: HTTP status and Retry-After of the CCXT request made in the current task
_last_http: contextvars.ContextVar[dict | None] = contextvars.ContextVar("ccxt_last_http", default=None)
#: the engine's budget token of the dialect request being served (venuelink.ccxt_tier.gate)
budget_token: contextvars.ContextVar[str] = contextvars.ContextVar("ccxt_budget_token", default="")


class LocalBudgetRefused(Exception):
    """The engine's rate budget refused a REST request: it was not sent."""


def record_http_status(ex: Any) -> None:
    """Record each response's HTTP status and Retry-After in the current task's box (CCXT's
    exceptions carry neither). Installed once per exchange object."""
    if getattr(ex, "_vl_status_recorded", False):
        return
    inner = ex.handle_errors

    def handle_errors(code, reason, url, method, headers, body, response, request_headers, request_body):
        box = _last_http.get()
        if box is not None:
            box["http_status"] = int(code or 0)
            ra = (headers or {}).get("Retry-After") or (headers or {}).get("retry-after")
            try:
                box["retry_after_s"] = float(ra) if ra is not None else 0.0
            except ValueError:
                box["retry_after_s"] = 0.0
        return inner(code, reason, url, method, headers, body, response, request_headers, request_body)

    ex.handle_errors = handle_errors
    ex._vl_status_recorded = True


class NotExact(Exception):
    """CCXT would have sent another value than the engine's exact string."""


class BadRequest(Exception):
    """A malformed request of the local dialect."""


def dec(v: Any) -> str:
    """A canonical decimal string ("" for none): strings as they are, floats by their repr()."""
    if v is None or v == "" or isinstance(v, bool):
        return ""
    try:
        d = Decimal(v if isinstance(v, str) else repr(v))
    except InvalidOperation:
        return ""
    if not d.is_finite():
        return ""
    return "0" if d == 0 else format(d.normalize(), "f")


def negated(text: str) -> str:
    """A decimal string with its sign turned ("" and "0" stay as they are)."""
    if text in ("", "0"):
        return text
    return text[1:] if text.startswith("-") else "-" + text


def _raw(info: Any, keys: tuple[str, ...]) -> Any:
    if not isinstance(info, dict):
        return None
    for k in keys:
        if info.get(k) not in (None, ""):
            return info[k]
    return None


class OrderDesk:
    """The worker's order requests, on its CCXT exchange object (credentials set, throttler off)."""

    def __init__(self, exchange: Any, exchange_id: str, secrets: tuple[str, ...] = ()) -> None:
        self.ex = exchange
        self.id = exchange_id
        self.raw = RAW.get(exchange_id)
        self.cid_param = CLIENT_ID_PARAM.get(exchange_id, DEFAULT_CLIENT_ID_PARAM)
        self._secrets = secrets
        record_http_status(self.ex)

    def scrub(self, text: str) -> str:
        """`text` without the account's secrets."""
        return scrub(text, *self._secrets)

    # ---- one request -------------------------------------------------------------------------
    async def handle(self, req: dict) -> dict:
        box: dict = {}
        _last_http.set(box)
        budget_token.set(str(req.get("budget_token") or ""))
        try:
            op = req.get("op")
            fn = {"create": self.create, "cancel": self.cancel, "fetch": self.fetch, "open": self.open,
                  "trades": self.trades, "amend": self.amend, "cancel_all": self.cancel_all,
                  "dead_man": self.dead_man, "time": self.time, "balances": self.balances,
                  "positions": self.positions}.get(op)
            if fn is None:
                raise BadRequest(f"unknown op {op!r}")
            return {"ok": True, "result": await fn(req)}
        except asyncio.CancelledError:
            raise
        except Exception as e:
            return {"ok": False, "error": {"chain": error_chain(e), "msg": scrub(str(e), *self._secrets),
                                           "http_status": box.get("http_status", 0),
                                           "retry_after_s": box.get("retry_after_s", 0.0)}}

    def _need(self, req: dict, key: str) -> str:
        v = req.get(key)
        if not isinstance(v, str) or not v:
            raise BadRequest(f"{key} missing")
        return v

    async def create(self, req: dict) -> dict:
        symbol, side, typ = self._need(req, "symbol"), self._need(req, "side"), self._need(req, "type")
        amount, cid = self._need(req, "amount"), self._need(req, "client_id")
        price = req.get("price") or None
        if side not in ("buy", "sell") or typ not in ("limit", "market"):
            raise BadRequest(f"side {side!r} / type {typ!r}")
        if typ == "limit" and price is None:
            raise BadRequest("a limit order needs a price")
        # the values CCXT will send must be ours, exactly
        if Decimal(self.ex.amount_to_precision(symbol, amount)) != Decimal(amount):
            raise NotExact(f"amount {amount} is off the market's amount precision")
        if price is not None and Decimal(self.ex.price_to_precision(symbol, price)) != Decimal(price):
            raise NotExact(f"price {price} is off the market's price precision")
        params: dict[str, Any] = {self.cid_param[0]: cid}
        tif = req.get("tif") or ""
        if tif == "POST_ONLY":
            params["postOnly"] = True
        elif tif and typ == "limit":
            params["timeInForce"] = tif
        if req.get("reduce_only"):
            params["reduceOnly"] = True
        o = await self.ex.create_order(symbol, typ, side, amount, price, params)
        return await self.settled(self.order_out(o, symbol, cid, with_fills=True), symbol, cid)

    async def cancel(self, req: dict) -> dict:
        symbol, cid = self._need(req, "symbol"), self._need(req, "client_id")
        o = await self.ex.cancel_order(req.get("id") or None, symbol, {self.cid_param[1]: cid})
        return await self.settled(self.order_out(o, symbol, cid), symbol, cid)

    @property
    def capabilities(self) -> dict[str, bool]:
        """What the dialect's optional ops can do on this exchange (CCXT's ``has``)."""
        h = self.ex.has
        return {"amend": bool(h.get("editOrder")) and self.id in AMEND_IN_PLACE, "cancel_all": bool(h.get("cancelAllOrders") or h.get("cancelOrders")),
                "dead_man": bool(h.get("cancelAllOrdersAfter"))}

    async def amend(self, req: dict) -> dict:
        """A resting order's new total size and/or price (CCXT's edit_order, the venue's amend
        where it has one); the answer as a cancel's: the order read back where only acknowledged."""
        symbol, cid = self._need(req, "symbol"), self._need(req, "client_id")
        side, typ = self._need(req, "side"), req.get("type") or "limit"
        amount, price = req.get("amount") or None, req.get("price") or None
        if amount is not None and Decimal(self.ex.amount_to_precision(symbol, amount)) != Decimal(amount):
            raise NotExact(f"amount {amount} is off the market's amount precision")
        if price is not None and Decimal(self.ex.price_to_precision(symbol, price)) != Decimal(price):
            raise NotExact(f"price {price} is off the market's price precision")
        o = await self.ex.edit_order(req.get("id") or None, symbol, typ, side, amount, price, {self.cid_param[1]: cid})
        out = self.order_out(o, symbol, cid)
        return await self.settled(out, symbol, cid)

    async def cancel_all(self, req: dict) -> list[dict]:
        """Every open order of a symbol: the venue's cancel-all where CCXT has it, else CCXT's
        batch cancel of the ids given (``ids``)."""
        symbol = self._need(req, "symbol")
        if self.ex.has.get("cancelAllOrders"):
            rows = await self.ex.cancel_all_orders(symbol)
        else:
            ids = [str(i) for i in req.get("ids") or [] if i]
            if not ids:
                return []
            rows = await self.ex.cancel_orders(ids, symbol)
        return [self.order_out(o, o.get("symbol") or symbol, "") for o in rows or [] if isinstance(o, dict)]

    async def time(self, req: dict) -> dict:
        """One cheap request to the venue (its time, else its status): the engine's probe of a
        venue it stopped sending orders to (a ban, an open breaker)."""
        if self.ex.has.get("fetchTime"):
            return {"time": await self.ex.fetch_time()}
        if self.ex.has.get("fetchStatus"):
            return {"status": (await self.ex.fetch_status()).get("status")}
        raise BadRequest(f"{self.id}: CCXT has neither fetch_time nor fetch_status")

    async def dead_man(self, req: dict) -> dict:
        """The venue cancels every open order unless called again within ``timeout_s`` (0 disarms)."""
        n = int(req.get("timeout_s") or 0)
        await self.ex.cancel_all_orders_after(n * 1000)
        return {"timeout_s": n}

    async def fetch(self, req: dict) -> dict:
        symbol, cid = self._need(req, "symbol"), self._need(req, "client_id")
        o = await self.ex.fetch_order(req.get("id") or None, symbol, {self.cid_param[1]: cid})
        return self.order_out(o, symbol, cid)

    async def settled(self, out: dict, symbol: str, cid: str) -> dict:
        """An answer that only acknowledges the request (OKX: ``sCode`` "0", no state) followed by
        one read of the order, and for a create that filled, one read of its fills. The write is
        done by then: when a read fails the answer stays UNKNOWN and the engine reconciles by
        client id."""
        if out["state"] != "UNKNOWN" or not self.ex.has.get("fetchOrder"):
            return out
        try:
            o = await self.ex.fetch_order(out["id"] or None, symbol, {self.cid_param[1]: cid})
        except asyncio.CancelledError:
            raise
        except Exception as e:
            out["reason"] = f"the order was accepted; reading its state failed: {type(e).__name__}"
            return out
        read = self.order_out(o, symbol, cid)
        if "fills" not in out:
            return read
        read["fills"] = out["fills"]
        if not read["fills"] and read["filled"] not in ("", "0") and self.ex.has.get("fetchOrderTrades"):
            try:
                rows = await self.ex.fetch_order_trades(read["id"], symbol)
            except asyncio.CancelledError:
                raise
            except Exception as e:
                out["reason"] = f"the order was accepted; reading its fills failed: {type(e).__name__}"
                return out
            read["fills"] = [{k: t[k] for k in ("id", "price", "qty", "fee", "fee_asset")}
                             for t in map(lambda t: self.trade_out(t, symbol), rows) if t["order_id"] == read["id"]]
        return read

    async def open(self, req: dict) -> list[dict]:
        return [self.order_out(o, o.get("symbol") or "", "") for o in await self.ex.fetch_open_orders(req.get("symbol") or None)]

    async def trades(self, req: dict) -> list[dict]:
        symbol = self._need(req, "symbol")
        since = req.get("since_ms")
        rows = await self.ex.fetch_my_trades(symbol, int(since) if since is not None else None)
        return [self.trade_out(t, symbol) for t in rows]

    async def balances(self, req: dict) -> list[dict]:
        """Every asset with a nonzero free or locked amount: the venue's own strings where
        ``RAW_BALANCES`` knows its answer, else CCXT's free / used."""
        b = await self.ex.fetch_balance()
        raw = RAW_BALANCES.get(self.id)
        rows: Any = b.get("info") if raw is not None else None
        for k in raw[0] if raw is not None else ():
            try:
                rows = rows[k]
            except (KeyError, IndexError, TypeError):
                rows = None
                break
        out = []
        if raw is not None and isinstance(rows, list):
            _, ka, kf, kl = raw
            for r in rows:
                if isinstance(r, dict) and r.get(ka):
                    out.append({"asset": str(r[ka]), "free": dec(r.get(kf)) or "0", "locked": dec(r.get(kl)) or "0"})
        else:
            free, used = b.get("free") or {}, b.get("used") or {}
            for asset in sorted(set(free) | set(used)):
                out.append({"asset": asset, "free": dec(free.get(asset)) or "0", "locked": dec(used.get(asset)) or "0"})
        return [r for r in out if r["free"] != "0" or r["locked"] != "0"]

    async def positions(self, req: dict) -> list[dict]:
        """Every open derivatives position (signed size in the venue's units, contracts where it
        counts them); none where the worker serves no derivatives market."""
        markets = getattr(self.ex, "markets", None) or {}
        if not self.ex.has.get("fetchPositions") or not any(m.get("contract") for m in markets.values()):
            return []
        raw = RAW_POSITIONS.get(self.id)
        out = []
        for p in await self.ex.fetch_positions():
            info = p.get("info") if isinstance(p.get("info"), dict) else {}
            m = markets.get(p.get("symbol") or "") or {}
            if raw is not None and info.get(raw[0]) not in (None, ""):
                qty, entry, upl, settle = dec(info[raw[0]]), dec(info.get(raw[1])), dec(info.get(raw[2])), info.get(raw[3])
            else:
                qty = dec(p.get("contracts"))
                if qty and p.get("side") == "short":
                    qty = negated(qty)
                entry, upl, settle = dec(p.get("entryPrice")), dec(p.get("unrealizedPnl")), None
            if not qty or qty == "0":
                continue
            out.append({"symbol": p.get("symbol") or "", "qty": qty, "entry_price": entry or "0",
                        "unrealized_pnl": upl or "0", "settle": str(settle or m.get("settle") or ""),
                        "contract_size": dec(m.get("contractSize")) if m.get("contract") else ""})
        return out

    # ---- answers -----------------------------------------------------------------------------
    def order_out(self, o: dict, symbol: str, cid: str, with_fills: bool = False, pushed: bool = False) -> dict:
        """An order of CCXT as the dialect's order (`pushed`: from the private stream, whose raw
        fields may be named otherwise than in REST answers)."""
        info = o.get("info") if isinstance(o.get("info"), dict) else {}
        r = (self.raw.get("pushed_order", self.raw["order"]) if pushed else self.raw["order"]) if self.raw else None
        pick = (lambda k, unified: _raw(info, r[k]) if r and k in r and _raw(info, r[k]) is not None else unified)
        status = pick("status", o.get("status"))
        filled = dec(pick("filled", o.get("filled")))
        if self.raw and status in self.raw["states"]:
            state = self.raw["states"][status]
        elif o.get("status") in _UNIFIED_STATES:
            state = _UNIFIED_STATES[o["status"]]
        elif o.get("status") == "open":
            state = "PARTIALLY_FILLED" if filled not in ("", "0") else "NEW"
        else:
            state = "UNKNOWN"
        # a raw price field that is there but empty (an OKX market order's px) is no price: not
        # CCXT's unified one, which would be the average fill price
        raw_px_given = bool(r) and any(k in info for k in r["price"])
        price = dec(_raw(info, r["price"])) if raw_px_given else dec(o.get("price"))
        out = {"id": str(pick("id", o.get("id")) or ""), "client_id": str(pick("client_id", o.get("clientOrderId")) or cid),
               "symbol": o.get("symbol") or symbol, "status": str(status or ""), "state": state, "filled": filled,
               "amount": dec(pick("amount", o.get("amount"))), "price": price,
               "side": o.get("side") or "", "ts": int(pick("ts", o.get("timestamp")) or 0)}
        if with_fills:
            out["fills"] = self.fills_of(o, info)
        return out

    def fills_of(self, o: dict, info: dict) -> list[dict]:
        if self.raw and self.raw["fills"] and isinstance(info.get(self.raw["fills"]), list):
            f = self.raw["fill"]
            return [{"id": str(_raw(x, f["id"]) or ""), "price": dec(_raw(x, f["price"])), "qty": dec(_raw(x, f["qty"])),
                     "fee": dec(_raw(x, f["fee"])) or "0", "fee_asset": str(_raw(x, f["fee_asset"]) or "")}
                    for x in info[self.raw["fills"]]]
        out = []
        for t in o.get("trades") or []:
            fee = t.get("fee") or {}
            out.append({"id": str(t.get("id") or ""), "price": dec(t.get("price")), "qty": dec(t.get("amount")),
                        "fee": dec(fee.get("cost")) or "0", "fee_asset": str(fee.get("currency") or "")})
        return out

    def trade_out(self, t: dict, symbol: str, pushed: bool = False) -> dict:
        info = t.get("info") if isinstance(t.get("info"), dict) else {}
        r = (self.raw.get("pushed_trade", self.raw["trade"]) if pushed else self.raw["trade"]) if self.raw else None
        pick = (lambda k, unified: _raw(info, r[k]) if r and k in r and _raw(info, r[k]) is not None else unified)
        fee = t.get("fee") or {}
        buyer = _raw(info, r["buyer"]) if r and "buyer" in r else None
        raw_side = _raw(info, r["side"]) if r and "side" in r else None
        side = ("buy" if buyer else "sell") if buyer is not None else str(raw_side or t.get("side") or "")
        exec_type = _raw(info, r["exec_type"]) if r and "exec_type" in r else None
        maker = (exec_type == "M") if exec_type is not None else pick("maker", t.get("takerOrMaker") == "maker")
        raw_fee = _raw(info, r["fee"]) if r else None
        if raw_fee is not None:
            fee_s = dec(raw_fee)
            fee_s = negated(fee_s) if self.raw.get("fee_charged_negative") else fee_s
        else:
            fee_s = dec(fee.get("cost"))
        client_id = _raw(info, r["client_id"]) if r and "client_id" in r else (t.get("clientOrderId") or "")
        return {"id": str(pick("id", t.get("id")) or ""), "order_id": str(pick("order_id", t.get("order")) or ""),
                "client_id": str(client_id or ""),
                "symbol": t.get("symbol") or symbol, "side": side, "price": dec(pick("price", t.get("price"))),
                "qty": dec(pick("qty", t.get("amount"))), "fee": fee_s or "0",
                "fee_asset": str(pick("fee_asset", fee.get("currency")) or ""), "maker": bool(maker),
                "ts": int(pick("ts", t.get("timestamp")) or 0)}
