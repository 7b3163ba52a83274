"""Per-symbol matching engine over a ``MarketSim`` book, plus accounts and balances.

Model
-----
* Taker flow (MARKET, or the marketable part of a LIMIT) consumes the *displayed* book of the
  ``MarketSim`` level by level; each consumed level becomes a public trade and a book change.
* Resting LIMIT orders are not shown in the public book (the simulated crowd does not see
  them).  They fill as maker, at their own price, when the simulated market trades through
  them: a public trade strictly beyond the price fills up to the traded size, and an opposite
  best price at or beyond the order price fills it completely.
* Prices are integer ticks, quantities integer lots, notional in tick*lot units (ints);
  balances are exact ``Decimal``.
* Every state change is reported to ``listener`` as ``ExecEvent`` / ``BalanceEvent``.
"""

from __future__ import annotations

import itertools
import random
import string
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal
from typing import Any, Callable, Iterator

from venuelink.sim.market import BUY, SELL, Batch, MarketSim, Trade, now_ms

LIMIT = "LIMIT"
MARKET = "MARKET"
GTC, IOC, FOK = "GTC", "IOC", "FOK"

NEW = "NEW"
PARTIALLY_FILLED = "PARTIALLY_FILLED"
FILLED = "FILLED"
CANCELED = "CANCELED"
REJECTED = "REJECTED"
EXPIRED = "EXPIRED"
TRADE = "TRADE"  # execution type only
AMENDED = "AMENDED"  # execution type only: quantity and/or price changed in place

OPEN_STATES = (NEW, PARTIALLY_FILLED)

# reject reasons (the dialect maps them to venue error bodies)
DUPLICATE_CLIENT_ID = "DUPLICATE_CLIENT_ID"
INSUFFICIENT_BALANCE = "INSUFFICIENT_BALANCE"
UNKNOWN_ORDER = "UNKNOWN_ORDER"
BAD_ORDER = "BAD_ORDER"

_ALNUM = string.ascii_letters + string.digits


class Reject(Exception):
    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(reason, detail)
        self.reason = reason
        self.detail = detail


@dataclass(slots=True)
class Balance:
    free: Decimal = Decimal(0)
    locked: Decimal = Decimal(0)


@dataclass(slots=True)
class Fill:
    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: int  # ticks
    qty: int  # lots
    quote: int  # price * qty (tick*lot units)
    commission: Decimal
    commission_asset: str
    is_maker: bool
    ts: int
    realized_pnl: Decimal = Decimal(0)  # derivatives: the PnL this fill realized (settle currency)


@dataclass(slots=True)
class Order:
    order_id: int
    client_id: str
    account: str
    symbol: str
    side: str
    type: str
    tif: str
    price: int | None  # ticks; None for MARKET
    qty: int  # lots
    created_ms: int
    executed: int = 0
    cum_quote: int = 0  # tick*lot units
    status: str = NEW
    updated_ms: int = 0
    working_ms: int | None = None
    fills: list[Fill] = field(default_factory=list)
    reduce_only: bool = False
    reserved: Decimal = Decimal(0)  # derivatives: margin held for the order's opening part

    @property
    def remaining(self) -> int:
        return self.qty - self.executed

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATES

    @property
    def is_working(self) -> bool:
        return self.is_open and self.working_ms is not None


@dataclass(slots=True)
class ExecEvent:
    """One execution report. Mutable order fields are snapshotted at emission time."""

    exec_type: str  # NEW / TRADE / CANCELED / EXPIRED / REJECTED
    order: Order
    status: str
    executed: int
    cum_quote: int
    is_working: bool
    ts: int
    client_id: str  # id carried by this report (the cancel request's id for cancels)
    orig_client_id: str = ""  # original client id when client_id differs (cancels)
    fill: Fill | None = None
    reject_reason: str = ""

    @property
    def account(self) -> str:
        return self.order.account


@dataclass(slots=True)
class BalanceEvent:
    account: str
    ts: int
    assets: list[tuple[str, Decimal, Decimal]]  # (asset, free, locked)


Listener = Callable[[object], None]


class Account:
    def __init__(self, account_id: str, balances: dict[str, Decimal | str | int] | None = None) -> None:
        self.id = account_id
        self.balances: dict[str, Balance] = {}
        # derivatives: symbol -> net position (venuelink.sim.positions.Position, which builds on this
        # module and keeps them up to date)
        self.positions: dict[str, Any] = {}
        self.updated_ms = now_ms()
        for asset, amount in (balances or {}).items():
            self.balances[asset] = Balance(Decimal(amount), Decimal(0))

    def bal(self, asset: str) -> Balance:
        b = self.balances.get(asset)
        if b is None:
            b = self.balances[asset] = Balance()
        return b

    def snapshot(self, assets: list[str] | None = None) -> list[tuple[str, Decimal, Decimal]]:
        keys = assets if assets is not None else sorted(self.balances)
        return [(a, self.bal(a).free, self.bal(a).locked) for a in keys]


def random_client_id(rng: random.Random, n: int = 22) -> str:
    return "".join(rng.choice(_ALNUM) for _ in range(n))


@dataclass(slots=True)
class PlaceResult:
    order: Order
    fills: list[Fill]
    batch: Batch | None  # book changes / trades caused by the taker part


class MatchingEngine:
    def __init__(
        self,
        market: MarketSim,
        base: str,
        quote: str,
        accounts: dict[str, Account],
        listener: Listener | None = None,
        *,
        order_ids: Iterator[int] | None = None,
        maker_fee: Decimal | str = "0",
        taker_fee: Decimal | str = "0",
        fee_decimals: int = 8,
        seed: int = 0,
    ) -> None:
        self.market = market
        self.symbol = market.symbol
        self.base = base
        self.quote = quote
        self.accounts = accounts
        self.listener = listener
        self._ids = order_ids if order_ids is not None else itertools.count(1)
        self.maker_fee = Decimal(maker_fee)
        self.taker_fee = Decimal(taker_fee)
        self._fee_q = Decimal(1).scaleb(-fee_decimals)
        self._rng = random.Random(seed)
        self._unit = market.price_scale.step * market.qty_scale.step  # value of one tick*lot
        self.orders: dict[int, Order] = {}
        self.open: dict[int, Order] = {}  # insertion order = time priority
        self._open_by_client: dict[tuple[str, str], Order] = {}
        self._last_by_client: dict[tuple[str, str], Order] = {}
        self._fills: dict[str, list[Fill]] = {}

    # ------------------------------------------------------------------ helpers
    def new_client_id(self) -> str:
        return random_client_id(self._rng)

    def quote_value(self, units: int) -> Decimal:
        return Decimal(units) * self._unit

    def base_value(self, lots: int) -> Decimal:
        return self.market.qty_scale.to_decimal(lots)

    def _emit(self, ev: object) -> None:
        if self.listener is not None:
            self.listener(ev)

    def _event(self, exec_type: str, o: Order, ts: int, fill: Fill | None = None, client_id: str | None = None,
               orig_client_id: str = "", reject_reason: str = "") -> None:
        self._emit(ExecEvent(exec_type, o, o.status, o.executed, o.cum_quote, o.is_working, ts,
                             client_id if client_id is not None else o.client_id, orig_client_id, fill,
                             reject_reason))

    def _balances_changed(self, acct: Account, ts: int) -> None:
        acct.updated_ms = ts
        self._emit(BalanceEvent(acct.id, ts, acct.snapshot(self.assets())))

    def assets(self) -> list[str]:
        """The balances this engine's orders move (reported in ``BalanceEvent``s)."""
        return [self.base, self.quote]

    def account(self, account_id: str) -> Account:
        acct = self.accounts.get(account_id)
        if acct is None:
            raise Reject(BAD_ORDER, "unknown account")
        return acct

    # ------------------------------------------------------------------ orders
    def place(
        self,
        account_id: str,
        side: str,
        type: str,
        qty: int,
        price: int | None = None,
        tif: str = GTC,
        client_id: str | None = None,
        ts: int | None = None,
        reduce_only: bool = False,
    ) -> PlaceResult:
        ts = ts if ts is not None else now_ms()
        acct = self.account(account_id)
        if side not in (BUY, SELL) or type not in (LIMIT, MARKET) or qty <= 0:
            raise Reject(BAD_ORDER)
        if type == LIMIT and (price is None or price <= 0 or tif not in (GTC, IOC, FOK)):
            raise Reject(BAD_ORDER)
        if client_id is None:
            client_id = self.new_client_id()
        if (account_id, client_id) in self._open_by_client:
            raise Reject(DUPLICATE_CLIENT_ID)
        mkt = self.market
        self._admit(acct, side, type, qty, price, reduce_only)
        o = Order(next(self._ids), client_id, account_id, self.symbol, side, type,
                  tif if type == LIMIT else GTC, price if type == LIMIT else None, qty, ts, updated_ms=ts)
        self.orders[o.order_id] = o
        self._last_by_client[(account_id, client_id)] = o
        o.reduce_only = reduce_only
        if type == LIMIT:
            self._lock(acct, o)
        if type == LIMIT and tif == GTC:
            o.working_ms = ts  # goes on the book unless it fills completely right away
        self._event(NEW, o, ts)

        batch: Batch | None = None
        fills: list[Fill] = []
        limit_px = price if type == LIMIT else None
        if type == LIMIT and tif == FOK:
            fillable, _ = mkt.liquidity(side, qty, limit_px)
            do_take = fillable >= qty
        else:
            do_take = True
        if do_take:
            raw, batch = mkt.take(side, self._takeable(acct, o), limit_px, ts)
            for p, q, tid in raw:
                fills.append(self._fill(acct, o, p, q, tid, False, ts))
        if o.remaining > 0:
            if type == LIMIT and tif == GTC and self._can_rest(acct, o):
                self.open[o.order_id] = o
                self._open_by_client[(account_id, client_id)] = o
            else:
                self._finish(acct, o, EXPIRED, ts)
                self._event(EXPIRED, o, ts)
        self._balances_changed(acct, ts)
        return PlaceResult(o, fills, batch)

    def cancel(self, account_id: str, order_id: int | None = None, client_id: str | None = None,
               cancel_client_id: str | None = None, ts: int | None = None) -> Order:
        ts = ts if ts is not None else now_ms()
        acct = self.account(account_id)
        o = self.get(account_id, order_id, client_id)
        if o is None or not o.is_open or (order_id is not None and client_id is not None and o.client_id != client_id):
            raise Reject(UNKNOWN_ORDER)
        self._finish(acct, o, CANCELED, ts)
        self._event(CANCELED, o, ts, client_id=cancel_client_id or self.new_client_id(), orig_client_id=o.client_id)
        self._balances_changed(acct, ts)
        return o

    def amend(self, account_id: str, order_id: int | None = None, client_id: str | None = None,
              qty: int | None = None, price: int | None = None, ts: int | None = None) -> PlaceResult:
        """Change a resting limit order in place (ids kept): ``qty`` the new total in lots (above
        what has executed), ``price`` in ticks. The reservation follows the new terms (refused
        as a new order would be -- insufficient funds or margin, reduce-only rules -- and the order
        is then unchanged). A new
        price or a larger quantity loses time priority; a price that now crosses the book trades
        at once as a taker, like a new order would."""
        ts = ts if ts is not None else now_ms()
        acct = self.account(account_id)
        o = self.get(account_id, order_id, client_id)
        if o is None or not o.is_open or (order_id is not None and client_id is not None and o.client_id != client_id):
            raise Reject(UNKNOWN_ORDER)
        new_qty = o.qty if qty is None else qty
        new_px = o.price if price is None else price
        if o.type != LIMIT or o.tif != GTC or new_qty <= o.executed or new_px is None or new_px <= 0:
            raise Reject(BAD_ORDER)
        old_qty, old_px = o.qty, o.price
        self._release(acct, o, o.remaining)     # what it holds now, then what the new terms need
        o.qty, o.price = new_qty, new_px
        try:
            self._admit(acct, o.side, LIMIT, o.remaining, o.price, o.reduce_only)
        except Reject:
            o.qty, o.price = old_qty, old_px
            self._lock(acct, o)
            raise
        self._lock(acct, o)
        if new_px != old_px or new_qty > old_qty:
            o.working_ms = ts
        o.updated_ms = ts
        self._event(AMENDED, o, ts)
        raw, batch = self.market.take(o.side, min(o.remaining, self._takeable(acct, o)), o.price, ts)
        fills = [self._fill(acct, o, p, q, tid, False, ts) for p, q, tid in raw]
        self._balances_changed(acct, ts)
        return PlaceResult(o, fills, batch)

    def get(self, account_id: str, order_id: int | None = None, client_id: str | None = None) -> Order | None:
        if order_id is not None:
            o = self.orders.get(order_id)
            return o if o is not None and o.account == account_id else None
        if client_id is not None:
            o = self._open_by_client.get((account_id, client_id))
            return o if o is not None else self._last_by_client.get((account_id, client_id))
        return None

    def open_orders(self, account_id: str) -> list[Order]:
        return [o for o in self.open.values() if o.account == account_id]

    def trades(self, account_id: str, order_id: int | None = None, from_id: int | None = None,
               limit: int = 500) -> list[Fill]:
        out = self._fills.get(account_id, [])
        if order_id is not None:
            out = [f for f in out if f.order_id == order_id]
        if from_id is not None:
            out = [f for f in out if f.trade_id >= from_id]
            return out[:limit]
        return out[-limit:]

    # ------------------------------------------------------------------ spot settlement (hooks)
    def _admit(self, acct: Account, side: str, type: str, qty: int, price: int | None, reduce_only: bool) -> None:
        """Refuse an order the account cannot fund (``Reject``); spot: the quote for a buy, the base
        for a sell."""
        if reduce_only:
            raise Reject(BAD_ORDER, "reduce-only needs a position (derivatives only)")
        if side == BUY:
            if type == LIMIT:
                assert price is not None
                need = self.quote_value(price * qty)
            else:
                _, cost = self.market.liquidity(BUY, qty)
                need = self.quote_value(cost)
            if need > acct.bal(self.quote).free:
                raise Reject(INSUFFICIENT_BALANCE)
        elif self.base_value(qty) > acct.bal(self.base).free:
            raise Reject(INSUFFICIENT_BALANCE)

    def _lock(self, acct: Account, o: Order) -> None:
        """Hold the funds of a limit order for what is left of it (all of a new one)."""
        assert o.price is not None
        if o.side == BUY:
            amt, b = self.quote_value(o.price * o.remaining), acct.bal(self.quote)
        else:
            amt, b = self.base_value(o.remaining), acct.bal(self.base)
        b.free -= amt
        b.locked += amt

    def _takeable(self, acct: Account, o: Order) -> int:
        """How much of a new order may take liquidity now."""
        return o.qty

    def _can_rest(self, acct: Account, o: Order) -> bool:
        """Whether the unfilled rest of a new GTC order goes on the book (else it expires)."""
        return True

    def _cap(self, acct: Account, o: Order, q: int) -> int:
        """How much of ``q`` a resting order may fill now."""
        return q

    def _settle(self, acct: Account, o: Order, p: int, q: int, maker: bool, ts: int) -> tuple[Decimal, str, Decimal]:
        """Move the balances of one fill; (fee, fee asset, realized PnL)."""
        base_b, quote_b = acct.bal(self.base), acct.bal(self.quote)
        notional = p * q
        rate = self.maker_fee if maker else self.taker_fee
        if o.side == BUY:
            got = self.base_value(q)
            fee = (got * rate).quantize(self._fee_q, rounding=ROUND_DOWN)
            if o.type == LIMIT:
                assert o.price is not None
                reserved = self.quote_value(o.price * q)
                quote_b.locked -= reserved
                quote_b.free += reserved - self.quote_value(notional)
            else:
                quote_b.free -= self.quote_value(notional)
            base_b.free += got - fee
            return fee, self.base, Decimal(0)
        got = self.quote_value(notional)
        fee = (got * rate).quantize(self._fee_q, rounding=ROUND_DOWN)
        if o.type == LIMIT:
            base_b.locked -= self.base_value(q)
        else:
            base_b.free -= self.base_value(q)
        quote_b.free += got - fee
        return fee, self.quote, Decimal(0)

    def _release(self, acct: Account, o: Order, left: int) -> None:
        """Free what is still held for the unfilled ``left`` of a closed limit order."""
        assert o.price is not None
        if o.side == BUY:
            amt, b = self.quote_value(o.price * left), acct.bal(self.quote)
        else:
            amt, b = self.base_value(left), acct.bal(self.base)
        b.locked -= amt
        b.free += amt

    def _after_fill(self, acct: Account, o: Order, ts: int) -> None:
        """Called after every fill has been booked and reported."""

    # ------------------------------------------------------------------ market-driven fills
    def on_market(self, batch: Batch, ts: int | None = None) -> list[Trade]:
        """Fill resting orders the market traded through. Returns extra public trades."""
        if not self.open:
            return []
        ts = ts if ts is not None else batch.ts
        mkt = self.market
        bb = mkt.best_bid()
        ba = mkt.best_ask()
        sell_through: list[Trade] = [t for t in batch.trades if t.taker_side == SELL]
        buy_through: list[Trade] = [t for t in batch.trades if t.taker_side == BUY]
        # volume that traded strictly through a price is shared by resting orders in time priority
        used: dict[int, int] = {}
        extra: list[Trade] = []
        touched: dict[str, Account] = {}
        for o in list(self.open.values()):
            if not o.is_open:
                continue            # closed by an earlier fill of this batch (e.g. reduce-only)
            px = o.price
            if o.side == BUY:
                if ba is not None and ba[0] <= px:
                    q = o.remaining
                else:
                    q = 0
                    for t in sell_through:
                        if t.price < px:
                            avail = t.qty - used.get(t.trade_id, 0)
                            take = min(avail, o.remaining - q)
                            if take > 0:
                                used[t.trade_id] = used.get(t.trade_id, 0) + take
                                q += take
            else:
                if bb is not None and bb[0] >= px:
                    q = o.remaining
                else:
                    q = 0
                    for t in buy_through:
                        if t.price > px:
                            avail = t.qty - used.get(t.trade_id, 0)
                            take = min(avail, o.remaining - q)
                            if take > 0:
                                used[t.trade_id] = used.get(t.trade_id, 0) + take
                                q += take
            acct = self.accounts[o.account]
            q = self._cap(acct, o, q)
            if q <= 0:
                continue
            t = mkt.record_trade(px, q, SELL if o.side == BUY else BUY, ts)
            extra.append(t)
            self._fill(acct, o, px, q, t.trade_id, True, ts)
            touched[acct.id] = acct
        for acct in touched.values():
            self._balances_changed(acct, ts)
        return extra

    # ------------------------------------------------------------------ internals
    def _fill(self, acct: Account, o: Order, p: int, q: int, trade_id: int, maker: bool, ts: int) -> Fill:
        fee, fee_asset, pnl = self._settle(acct, o, p, q, maker, ts)
        notional = p * q
        f = Fill(trade_id, o.order_id, self.symbol, o.side, p, q, notional, fee, fee_asset, maker, ts, pnl)
        o.executed += q
        o.cum_quote += notional
        o.updated_ms = ts
        o.fills.append(f)
        self._fills.setdefault(acct.id, []).append(f)
        if o.remaining == 0:
            self._finish(acct, o, FILLED, ts)
        else:
            o.status = PARTIALLY_FILLED
        self._event(TRADE, o, ts, fill=f)
        self._after_fill(acct, o, ts)
        return f

    def _finish(self, acct: Account, o: Order, status: str, ts: int) -> None:
        """Close an order: release whatever is still reserved for it."""
        left = o.remaining
        if o.type == LIMIT and left > 0 and status != FILLED:
            self._release(acct, o, left)
        o.status = status
        o.updated_ms = ts
        self.open.pop(o.order_id, None)
        key = (o.account, o.client_id)
        if self._open_by_client.get(key) is o:
            del self._open_by_client[key]
