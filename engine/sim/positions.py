"""Linear perpetuals (USDT-margined swaps) on the shared matching engine.

Model
-----
* Quantities are lots of the instrument (the venue's contracts, or fractions of one); each
  contract is worth ``contract_value`` of the base currency and settles in the quote (settle)
  currency, so a fill of ``q`` lots at price ``p`` is worth ``p * q * lot * contract_value``.
* One net (one-way) ``Position`` per account and instrument: signed size, average entry price,
  realized PnL and fees.  A fill opens, increases, reduces, closes or flips it; the part that
  reduces realizes ``(price - entry) * size`` (sign of the position), the part that opens moves
  the entry to the size-weighted average.
* Cross margin at one leverage per engine: the position holds ``base size * entry / leverage``
  of the settle currency (its initial margin, in ``Balance.locked``); a resting limit order holds
  the margin of the part of it that would open exposure, at its price (``Order.reserved``), and
  is re-priced whenever the position changes; a cancel releases it.  Orders that only reduce need
  no margin.  Realized PnL and fees (in the settle currency) move the free balance.
* ``reduce_only`` orders are refused when there is no position or when they would add to it;
  their fills never exceed the position (a larger order fills up to it, the rest is canceled),
  and a resting one is canceled once the position it reduces is gone.
* Amounts in the settle currency are quantized to ``fee_decimals`` places: margins up, fees down,
  PnL half-even.  The average entry price is an exact ``Decimal`` quotient (28 digits).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from typing import Any

from engine.sim.market import BUY, MarketSim
from engine.sim.matching import (
    CANCELED,
    LIMIT,
    Account,
    Listener,
    MatchingEngine,
    Order,
    Reject,
)

# reject reasons of derivatives orders (the dialect maps them to venue error bodies)
INSUFFICIENT_MARGIN = "INSUFFICIENT_MARGIN"
REDUCE_ONLY_NO_POSITION = "REDUCE_ONLY_NO_POSITION"   # reduce-only with no position to reduce
REDUCE_ONLY_INCREASES = "REDUCE_ONLY_INCREASES"       # reduce-only on the side of the position

DEFAULT_LEVERAGE = 10


def _sign(side: str) -> int:
    return 1 if side == BUY else -1


@dataclass(slots=True)
class Position:
    """One account's net position in one instrument."""

    symbol: str
    lot_base: Decimal               # base currency per lot (lot size x contract value)
    qty: int = 0                    # signed lots: > 0 long, < 0 short
    entry: Decimal = Decimal(0)     # average entry price of the open size (0 when flat)
    realized_pnl: Decimal = Decimal(0)  # since the position was first opened, before fees
    fees: Decimal = Decimal(0)      # paid on its fills (negative: rebates)
    margin: Decimal = Decimal(0)    # initial margin held for it (settle currency)
    opened_ms: int = 0              # when it last went from flat to open
    updated_ms: int = 0

    @property
    def direction(self) -> int:
        """1 long, -1 short, 0 flat."""
        return (self.qty > 0) - (self.qty < 0)

    def base_size(self) -> Decimal:
        """Absolute size in the base currency."""
        return abs(self.qty) * self.lot_base

    def notional(self, price: Decimal) -> Decimal:
        """Absolute value at ``price`` (settle currency)."""
        return self.base_size() * price

    def upl(self, mark: Decimal) -> Decimal:
        """Unrealized PnL at ``mark`` (settle currency)."""
        return (mark - self.entry) * self.qty * self.lot_base if self.qty else Decimal(0)

    def reducible(self, side: str, lots: int) -> int:
        """How many of ``lots`` on ``side`` would reduce this position."""
        return min(lots, abs(self.qty)) if self.qty * _sign(side) < 0 else 0

    def apply(self, side: str, lots: int, price: Decimal, ts: int = 0, quantum: Decimal | None = None) -> Decimal:
        """Book a fill of ``lots`` on ``side`` at ``price``; returns the PnL it realized (quantized
        to ``quantum`` when given), also added to ``realized_pnl``."""
        if lots <= 0:
            raise ValueError("a fill has a positive size")
        d = _sign(side)
        realized = Decimal(0)
        closing = self.reducible(side, lots)
        if closing:
            realized = (price - self.entry) * closing * self.lot_base * self.direction
            if quantum is not None:
                realized = realized.quantize(quantum, rounding=ROUND_HALF_EVEN)
            self.qty += d * closing
            if self.qty == 0:
                self.entry = Decimal(0)
        opening = lots - closing
        if opening:
            if self.qty == 0:
                self.entry = price
                self.opened_ms = ts
            else:
                held = abs(self.qty)
                self.entry = (self.entry * held + price * opening) / (held + opening)
            self.qty += d * opening
        self.realized_pnl += realized
        self.updated_ms = ts
        return realized


class LinearPerpEngine(MatchingEngine):
    """``MatchingEngine`` for a linear perpetual: same order book and order life cycle, settled
    as positions and margin in ``quote`` (the settle currency) instead of base against quote."""

    def __init__(
        self,
        market: MarketSim,
        base: str,
        quote: str,
        accounts: dict[str, Account],
        listener: Listener | None = None,
        *,
        contract_value: Decimal | str,
        leverage: Decimal | int | str = DEFAULT_LEVERAGE,
        **kw: Any,
    ) -> None:
        super().__init__(market, base, quote, accounts, listener, **kw)
        self.settle = quote
        self.contract_value = Decimal(contract_value)
        self.leverage = Decimal(leverage)
        if self.contract_value <= 0 or self.leverage <= 0:
            raise ValueError("contract value and leverage must be positive")
        self.lot_base = market.qty_scale.step * self.contract_value

    # ------------------------------------------------------------------ amounts
    def value(self, units: int) -> Decimal:
        """Settle-currency value of ``units`` tick*lot units (price x size)."""
        return self.quote_value(units) * self.contract_value

    def margin_for(self, units: int) -> Decimal:
        """Initial margin of ``units`` tick*lot units of exposure."""
        return (self.value(units) / self.leverage).quantize(self._fee_q, rounding=ROUND_UP)

    def position_margin(self, pos: Position) -> Decimal:
        return (pos.base_size() * pos.entry / self.leverage).quantize(self._fee_q, rounding=ROUND_UP)

    def position(self, account_id: str) -> Position | None:
        """The account's position (None before its first fill)."""
        return self.account(account_id).positions.get(self.symbol)

    def _pos(self, acct: Account) -> Position:
        pos = acct.positions.get(self.symbol)
        if pos is None:
            pos = acct.positions[self.symbol] = Position(self.symbol, self.lot_base)
        return pos

    def _pos_qty(self, acct: Account) -> int:
        pos = acct.positions.get(self.symbol)
        return pos.qty if pos is not None else 0

    def _reducible(self, acct: Account, o: Order) -> int:
        pos = acct.positions.get(self.symbol)
        return pos.reducible(o.side, o.remaining) if pos is not None else 0

    def order_margin(self, acct: Account, o: Order) -> Decimal:
        """What a resting order holds now: the margin of its opening part at its price."""
        if not o.is_open or o.reduce_only or o.type != LIMIT or o.price is None:
            return Decimal(0)
        opening = o.remaining - self._reducible(acct, o)
        return self.margin_for(o.price * opening) if opening > 0 else Decimal(0)

    def assets(self) -> list[str]:
        return [self.settle]

    # ------------------------------------------------------------------ hooks
    def _admit(self, acct: Account, side: str, type: str, qty: int, price: int | None, reduce_only: bool) -> None:
        pos_qty = self._pos_qty(acct)
        if reduce_only:
            if pos_qty == 0:
                raise Reject(REDUCE_ONLY_NO_POSITION)
            if pos_qty * _sign(side) > 0:
                raise Reject(REDUCE_ONLY_INCREASES)
            return
        closing = min(qty, abs(pos_qty)) if pos_qty * _sign(side) < 0 else 0
        opening = qty - closing
        if opening <= 0:
            return
        if type == LIMIT:
            assert price is not None
            need = self.margin_for(price * opening)
        else:
            # a market order closes first, then opens at the prices further down the book
            _, cost_all = self.market.liquidity(side, qty)
            _, cost_close = self.market.liquidity(side, closing) if closing else (0, 0)
            need = self.margin_for(cost_all - cost_close)
        if need > acct.bal(self.settle).free:
            raise Reject(INSUFFICIENT_MARGIN)

    def _lock(self, acct: Account, o: Order) -> None:
        self._reprice(acct, o)

    def _takeable(self, acct: Account, o: Order) -> int:
        return min(o.qty, self._reducible(acct, o)) if o.reduce_only else o.qty

    def _can_rest(self, acct: Account, o: Order) -> bool:
        return not o.reduce_only or self._reducible(acct, o) > 0

    def _cap(self, acct: Account, o: Order, q: int) -> int:
        return min(q, self._reducible(acct, o)) if o.reduce_only else q

    def _settle(self, acct: Account, o: Order, p: int, q: int, maker: bool, ts: int) -> tuple[Decimal, str, Decimal]:
        b = acct.bal(self.settle)
        pos = self._pos(acct)
        rate = self.maker_fee if maker else self.taker_fee
        fee = (self.value(p * q) * rate).quantize(self._fee_q, rounding=ROUND_DOWN)
        pnl = pos.apply(o.side, q, self.market.price_scale.to_decimal(p), ts, self._fee_q)
        pos.fees += fee
        margin = self.position_margin(pos)
        moved = margin - pos.margin
        pos.margin = margin
        b.locked += moved
        b.free += pnl - fee - moved
        return fee, self.settle, pnl

    def _release(self, acct: Account, o: Order, left: int) -> None:
        b = acct.bal(self.settle)
        b.locked -= o.reserved
        b.free += o.reserved
        o.reserved = Decimal(0)

    def _after_fill(self, acct: Account, o: Order, ts: int) -> None:
        self._reprice(acct, o)
        for x in self.open_orders(acct.id):
            # a resting reduce-only order with nothing left to reduce is canceled
            if x.reduce_only and self._reducible(acct, x) == 0:
                self._finish(acct, x, CANCELED, ts)
                self._event(CANCELED, x, ts, client_id=self.new_client_id(), orig_client_id=x.client_id)

    def _reprice(self, acct: Account, also: Order | None = None) -> None:
        """Bring every resting order's held margin to what it needs after a position change."""
        b = acct.bal(self.settle)
        orders = self.open_orders(acct.id)
        if also is not None and also.order_id not in self.open:
            orders.append(also)
        for x in orders:
            need = self.order_margin(acct, x)
            moved = need - x.reserved
            if moved:
                b.free -= moved
                b.locked += moved
                x.reserved = need

