"""``SimVenue``: the venue-neutral heart of a simulator.

Owns one ``MarketSim`` + ``MatchingEngine`` per symbol, the accounts, the rate limiter, the
fault switches, the WS hub, and the market loop that calls ``step()`` ``rate`` times per
second.  A dialect plugs in three callbacks:

* ``on_batch(symbol, batch, extra_trades)`` -- publish book changes / trades on its wire format;
* ``on_account_event(event)`` -- ``ExecEvent`` / ``BalanceEvent`` for its user-data stream;
* ``on_shutdown_notice()`` -- its "server is shutting down" message (fault hook).
"""

from __future__ import annotations

import asyncio
import dataclasses
import enum
import itertools
import logging
import zlib
from collections import deque
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Awaitable, Callable

from aiohttp import web

from venuelink.sim.faults import Faults
from venuelink.sim.limits import RateLimiter
from venuelink.sim.market import Batch, MarketParams, MarketSim, Trade, now_ms
from venuelink.sim.matching import Account, MatchingEngine, PlaceResult
from venuelink.sim.positions import DEFAULT_LEVERAGE, InversePerpEngine, LinearPerpEngine, PerpEngine
from venuelink.sim.wsconn import WsHub

log = logging.getLogger("venuelink.sim")


class Filter(enum.Enum):
    PRICE = 1  # price off the tick grid or outside [min_price, max_price]
    QTY = 2  # quantity off the lot grid or outside [min_qty, max_qty]


class FilterFailure(ValueError):
    def __init__(self, which: Filter) -> None:
        super().__init__(f"order fails the {which.name} filter")
        self.filter = which


@dataclass(slots=True)
class SymbolSpec:
    symbol: str
    base: str
    quote: str
    tick: str  # price step, e.g. "0.01"
    lot: str  # quantity step, e.g. "0.00001"
    mid: str  # starting mid price
    min_qty: str | None = None  # default: one lot
    max_qty: str = "9000"
    min_price: str | None = None  # default: one tick
    max_price: str = "1000000"
    mean_size: int = 1000  # mean displayed size per level, in lots
    # a perpetual swap ("" = spot): base currency per contract, settled in ``quote`` (linear,
    # CCXT ``BTC/USDT:USDT``), or with ``inverse`` quote currency per contract, settled in ``base``
    # (inverse, CCXT ``BTC/USD:BTC``, e.g. "100" for OKX ``BTC-USD-SWAP``, "1" on BitMEX / Deribit)
    contract_value: str = ""
    inverse: bool = False
    first_trade_id: int = 0  # added to the market's first trade id (venues whose ids are large numbers)


RECENT_TRADES = 1000
"""public trades kept per symbol for the recent-trades endpoint (Binance serves up to 1000)"""


class SimVenue:
    def __init__(
        self,
        name: str,
        specs: list[SymbolSpec],
        *,
        limiter: RateLimiter,
        accounts: dict[str, dict[str, str]],
        seed: int = 1,
        rate: float = 50.0,
        levels: int = 300,
        maker_fee: str = "0",
        taker_fee: str = "0",
        faults: Faults | None = None,
        market_params: MarketParams | None = None,
        leverage: int = DEFAULT_LEVERAGE,
    ) -> None:
        self.name = name
        self.seed = seed
        self.rate = rate
        self.specs = {s.symbol: s for s in specs}
        self.limiter = limiter
        self.faults = faults or Faults()
        self.hub = WsHub(self.faults)
        self.accounts: dict[str, Account] = {aid: Account(aid, bals) for aid, bals in accounts.items()}
        self.markets: dict[str, MarketSim] = {}
        self.engines: dict[str, MatchingEngine] = {}
        order_ids = itertools.count(1_000_001)
        for s in specs:
            prm = dataclasses.replace(market_params or MarketParams(), mean_size=s.mean_size)
            crc = zlib.crc32(s.symbol.encode())
            sym_seed = seed * 1_000_003 + crc
            # per-symbol id ranges derived from the name: independent of the symbol list order
            m = MarketSim(s.symbol, s.tick, s.lot, s.mid, levels, sym_seed, params=prm,
                          first_update_id=(1 + crc % 97) * 10_000_000,
                          first_trade_id=s.first_trade_id + (1 + crc % 89) * 1_000_000)
            self.markets[s.symbol] = m
            common: dict[str, Any] = dict(order_ids=order_ids, maker_fee=maker_fee, taker_fee=taker_fee, seed=sym_seed)
            if s.contract_value:
                kind = InversePerpEngine if s.inverse else LinearPerpEngine
                self.engines[s.symbol] = kind(m, s.base, s.quote, self.accounts, self._account_event,
                                              contract_value=s.contract_value, leverage=leverage, **common)
            elif s.inverse:
                raise ValueError(f"{s.symbol}: an inverse contract needs its contract_value")
            else:
                self.engines[s.symbol] = MatchingEngine(m, s.base, s.quote, self.accounts, self._account_event,
                                                        **common)
        self.on_batch: Callable[[str, Batch, list[Trade]], None] | None = None
        self.on_account_event: Callable[[object], None] | None = None
        self.on_shutdown_notice: Callable[[], Awaitable[None] | None] | None = None
        self._mute_account_events = False
        # (epoch s, method, path, status, Retry-After) of the last REST requests, for drills
        self.request_log: deque[tuple[float, str, str, int, str | None]] = deque(maxlen=5000)
        # the last public trades per symbol, oldest first: the venue's recent-trades endpoint
        self.recent_trades: dict[str, deque[Trade]] = {s.symbol: deque(maxlen=RECENT_TRADES) for s in specs}
        self.paused = False
        self.steps = 0
        self._task: asyncio.Task | None = None

    # ------------------------------------------------------------------ wiring
    def _account_event(self, ev: object) -> None:
        if self._mute_account_events:
            return
        if self.on_account_event is not None:
            self.on_account_event(ev)
            if self.faults.take_user_dup():
                self.on_account_event(ev)

    def publish(self, symbol: str, batch: Batch | None, extra: list[Trade] | None = None) -> None:
        if self.on_batch is None:
            return
        if batch is None:
            if not extra:
                return
            batch = Batch(symbol, 0, 0, [], [], [], now_ms())
        if batch.trades or extra:
            hist = self.recent_trades[symbol]
            hist.extend(batch.trades)
            if extra:
                hist.extend(extra)
        if batch.has_changes or batch.trades or extra:
            self.on_batch(symbol, batch, extra or [])

    # ------------------------------------------------------------------ market loop
    def step_all(self, n: int = 1) -> None:
        for _ in range(n):
            ts = now_ms()
            for sym, m in self.markets.items():
                batch = m.step(ts)
                extra = self.engines[sym].on_market(batch, ts)
                self.publish(sym, batch, extra)
            self.steps += 1

    async def _loop(self) -> None:
        await every(1.0 / self.rate, self._tick)

    def _tick(self) -> None:
        if self.paused:
            return
        try:
            self.step_all()
        except Exception:  # pragma: no cover - keep the venue alive
            log.exception("market step failed")

    async def start(self) -> None:
        if self._task is None and self.rate > 0:
            self._task = asyncio.get_running_loop().create_task(self._loop())

    async def stop(self) -> None:
        if self._task is not None:
            await cancel_tasks([self._task])
            self._task = None
        await self.hub.close_all(code=1001, message=b"Server shutting down")

    # ------------------------------------------------------------------ orders
    def place(self, symbol: str, account: str, **kw: Any) -> PlaceResult:
        """Place an order; a pending ``drop_user_event`` fault withholds the account events it makes."""
        self._mute_account_events = self.faults.take_user_drop()
        try:
            res = self.engines[symbol].place(account, **kw)
        finally:
            self._mute_account_events = False
        self.publish(symbol, res.batch)
        return res

    def amend(self, symbol: str, account: str, **kw: Any) -> PlaceResult:
        """Amend a resting order (``MatchingEngine.amend``); what a now-crossing price takes
        is published like a new order's."""
        res = self.engines[symbol].amend(account, **kw)
        self.publish(symbol, res.batch)
        return res

    def order_units(self, symbol: str, price: Decimal | None, qty: Decimal) -> tuple[int | None, int]:
        """(price ticks, qty lots) for an order, checked against the symbol's filters: on the tick /
        lot grid and within [min, max].  Raises ``FilterFailure`` naming the filter that failed."""
        spec = self.specs[symbol]
        m = self.markets[symbol]
        ticks = None
        if price is not None:
            ticks = m.price_scale.parse(price)
            if ticks is None or price < Decimal(spec.min_price or spec.tick) or price > Decimal(spec.max_price):
                raise FilterFailure(Filter.PRICE)
        lots = m.qty_scale.parse(qty)
        if lots is None or qty < Decimal(spec.min_qty or spec.lot) or qty > Decimal(spec.max_qty):
            raise FilterFailure(Filter.QTY)
        return ticks, lots

    # ------------------------------------------------------------------ faults
    async def apply_fault(self, spec: dict[str, Any]) -> dict[str, Any]:
        kind = self.faults.apply(spec)
        out: dict[str, Any] = {"type": kind}
        if kind == "disconnect":
            scope = spec.get("scope", "all")
            n = await self.hub.close_all(None if scope == "all" else scope, bool(spec.get("close_frame", True)))
            out["closed"] = n
        elif kind == "cut":
            scope = spec.get("scope", "market")
            out["closed"] = await self.hub.cut_all(None if scope == "all" else scope)
        elif kind == "flood":
            self.step_all(int(spec.get("steps", 1000)))
        elif kind == "maintenance" and self.faults.maintenance:
            if self.on_shutdown_notice is not None:
                r = self.on_shutdown_notice()
                if asyncio.iscoroutine(r):
                    await r
            out["closed"] = await self.hub.close_all(None, True, 1001, b"Service maintenance")
        elif kind == "server_shutdown":
            if self.on_shutdown_notice is not None:
                r = self.on_shutdown_notice()
                if asyncio.iscoroutine(r):
                    await r
        return out

    # ------------------------------------------------------------------ views
    def book(self, symbol: str, limit: int | None = None) -> dict[str, Any]:
        """Venue-neutral book dump: ``seq`` is the book's sequence number (the id of its last change,
        whatever the venue calls it); levels are ``[price, qty]`` decimal strings, best first."""
        m = self.markets[symbol]
        seq, bids, asks = m.depth(limit)
        ps, qs = m.price_scale, m.qty_scale
        return {
            "symbol": symbol,
            "seq": seq,
            "bids": [[ps.plain(p), qs.plain(q)] for p, q in bids],
            "asks": [[ps.plain(p), qs.plain(q)] for p, q in asks],
        }

    def account_view(self, account: str) -> dict[str, Any]:
        acct = self.accounts[account]
        orders = []
        for sym, eng in self.engines.items():
            ps, qs = eng.market.price_scale, eng.market.qty_scale
            for o in eng.open_orders(account):
                orders.append({
                    "symbol": sym, "orderId": o.order_id, "clientOrderId": o.client_id, "side": o.side,
                    "type": o.type, "timeInForce": o.tif,
                    "price": ps.plain(o.price) if o.price is not None else None,
                    "qty": qs.plain(o.qty), "executed": qs.plain(o.executed),
                    "cumQuote": _plain(eng.quote_value(o.cum_quote)), "status": o.status,
                })
        positions = [{"symbol": sym, "qty": eng.market.qty_scale.plain(p.qty), "entry": _plain(p.entry),
                      "realizedPnl": _plain(p.realized_pnl), "fees": _plain(p.fees), "margin": _plain(p.margin)}
                     for sym, p in sorted(acct.positions.items())
                     if isinstance(eng := self.engines[sym], PerpEngine)]
        return {
            "account": account,
            "balances": [{"asset": a, "free": _plain(f), "locked": _plain(l)} for a, f, l in acct.snapshot()],
            "positions": positions,
            "openOrders": orders,
            "orderCount": sum(1 for e in self.engines.values() for o in e.orders.values() if o.account == account),
            "tradeCount": sum(len(e.trades(account, limit=10**9)) for e in self.engines.values()),
        }

    def ledger(self, account: str) -> dict[str, Any]:
        """Every order the account ever placed and every fill, for checking a client's records:
        ``orders`` (venue id, client id, symbol, side, status, qty, executed, fill trade ids) and
        ``fills`` (trade id, order id, symbol, price, qty); decimal strings."""
        orders, fills = [], []
        for sym, eng in self.engines.items():
            ps, qs = eng.market.price_scale, eng.market.qty_scale
            for o in eng.orders.values():
                if o.account != account:
                    continue
                orders.append({"symbol": sym, "orderId": o.order_id, "clientOrderId": o.client_id, "side": o.side,
                               "status": o.status, "qty": qs.plain(o.qty), "executed": qs.plain(o.executed),
                               "trades": [f.trade_id for f in o.fills]})
                for f in o.fills:
                    fills.append({"symbol": sym, "tradeId": f.trade_id, "orderId": o.order_id,
                                  "price": ps.plain(f.price), "qty": qs.plain(f.qty)})
        return {"account": account, "orders": orders, "fills": fills}

    def status(self) -> dict[str, Any]:
        return {
            "venue": self.name,
            "symbols": list(self.markets),
            "rate": self.rate,
            "paused": self.paused,
            "steps": self.steps,
            "connections": {k: self.hub.count(k) for k in sorted({c.kind for c in self.hub.conns})},
            "topics": sorted(self.hub.topics),
            "limits": [
                {"name": r.name, "kind": r.kind.value, "interval": r.interval, "num": r.num, "limit": r.limit} for r in self.limiter.rules
            ],
            "limit_rejections": self.limiter.rejections,
            "limit_rejected_by": dict(self.limiter.rejected_by),
            "faults": self.faults.state(),
        }


# where a dialect's ``create_app`` stores its SimVenue: ``app[SIM_VENUE_KEY]``
SIM_VENUE_KEY = web.AppKey("sim_venue", SimVenue)


def _plain(d: Decimal) -> str:
    s = format(d, "f")
    if "." in s:
        s = s.rstrip("0").rstrip(".")
    return s or "0"


async def every(period_s: float, fn) -> None:
    """Call fn() every period_s on a drift-free schedule; after falling far behind (> 1 s), the
    schedule restarts instead of bursting to catch up. Runs until cancelled."""
    loop = asyncio.get_running_loop()
    next_t = loop.time()
    while True:
        next_t += period_s
        delay = next_t - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        elif delay < -1.0:
            next_t = loop.time()
        fn()


async def cancel_tasks(tasks: list[asyncio.Task]) -> None:
    """Cancel ``tasks`` and wait for each to finish; empties the list."""
    for t in tasks:
        t.cancel()
    for t in tasks:
        try:
            await t
        except asyncio.CancelledError:
            pass
    tasks.clear()
