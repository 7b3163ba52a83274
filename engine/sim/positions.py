"""Perpetual swaps on the shared matching engine: linear (USDT-margined) and inverse (coin-margined).

Model
-----
* Quantities are lots of the instrument (the venue's contracts, or fractions of one); each
  contract is worth ``contract_value``, and ``lot_value`` = lot size x contract value is what one
  lot is worth:

  - **linear** (``LinearPerpEngine``, ``Position``; CCXT ``BTC/USDT:USDT``): a contract is worth
    ``contract_value`` of the *base* currency and settles in the *quote* currency, so ``q`` lots at
    price ``p`` are worth ``q * lot_value * p`` of the quote;
  - **inverse** (``InversePerpEngine``, ``InversePosition``; CCXT ``BTC/USD:BTC``, e.g. OKX
    ``BTC-USD-SWAP`` at 100 USD a contract, BitMEX / Bybit / Deribit at 1 USD): a contract is worth
    ``contract_value`` of the *quote* currency and settles in the *base* coin, so ``q`` lots at
    price ``p`` are worth ``q * lot_value / p`` of the base coin.

  That value of a size at a price is the only thing the two kinds compute differently; margin,
  fees, PnL, reduce-only and the order life cycle are shared (``PerpPosition``, ``PerpEngine``).
* One net (one-way) position per account and instrument: signed size, average entry price,
  realized PnL and fees.  A fill opens, increases, reduces, closes or flips it.  The part that
  reduces realizes, in the settle currency and signed by the position's direction,
  ``closed * lot_value * (price - entry)`` (linear) or ``closed * lot_value * (1/entry - 1/price)``
  (inverse).  The part that opens moves the entry to the average that keeps the position's value
  at entry equal to the sum of its fills' values: the size-weighted arithmetic mean for linear
  contracts, the size-weighted *harmonic* mean ``N_total / sum(N_i / P_i)`` for inverse ones
  (see ``InversePosition``).
* Unrealized PnL at a mark: ``qty * lot_value * (mark - entry)`` (linear),
  ``qty * lot_value * (1/entry - 1/mark)`` (inverse); ``qty`` is signed, so a short gains as the
  price falls in both.
* Cross margin at one leverage per engine: the position holds its value at the entry price divided
  by the leverage, in the settle currency (its initial margin, in ``Balance.locked``); a resting
  limit order holds the margin of the part of it that would open exposure, at its price
  (``Order.reserved``), and is re-priced whenever the position changes; a cancel releases it.
  Orders that only reduce need no margin.  Realized PnL and fees (a rate of the fill's value, in
  the settle currency) move the free balance.
* ``reduce_only`` orders are refused when there is no position or when they would add to it;
  their fills never exceed the position (a larger order fills up to it, the rest is canceled),
  and a resting one is canceled once the position it reduces is gone.
* Hedge mode: an order may name a leg (``place(..., leg=LONG|SHORT)``); each leg is a position
  of its own per account and instrument, next to the net one.  BUY opens or adds to the LONG
  leg and SELL closes it; SELL opens the SHORT leg and BUY closes it.  A closing order is
  reduce-only on its leg, and refused (``CLOSE_EXCEEDS_POSITION``) when it is larger than the
  leg, so a leg never flips.  Whether an account may hold legs is the venue's rule (its
  dialect's).
* Amounts in the settle currency are quantized to ``fee_decimals`` places: margins up, fees down,
  PnL half-even, each rounded once from its exact rational value (an inverse value is a quotient).
  The average entry price is a ``Decimal`` quotient (28 digits), and a position's margin and PnL
  are computed from it as booked (so its margin may differ by one ``fee_decimals`` unit from its
  fills' margins added up); unrealized PnL and notionals are ``Decimal`` quotients, unquantized.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_HALF_EVEN, ROUND_UP, Decimal
from fractions import Fraction
from math import ceil, floor
from typing import Any, ClassVar

from venuelink.sim.market import BUY, MarketSim
from venuelink.sim.matching import (
    BAD_ORDER,
    CANCELED,
    LIMIT,
    Account,
    Listener,
    MatchingEngine,
    Order,
    PlaceResult,
    Reject,
)

# reject reasons of derivatives orders (the dialect maps them to venue error bodies)
INSUFFICIENT_MARGIN = "INSUFFICIENT_MARGIN"
REDUCE_ONLY_NO_POSITION = "REDUCE_ONLY_NO_POSITION"   # reduce-only with no position to reduce
REDUCE_ONLY_INCREASES = "REDUCE_ONLY_INCREASES"       # reduce-only on the side of the position
CLOSE_EXCEEDS_POSITION = "CLOSE_EXCEEDS_POSITION"     # a hedge leg's closing order larger than the leg

# hedge-mode legs ("" is the net position)
LONG = "LONG"
SHORT = "SHORT"

DEFAULT_LEVERAGE = 10


def _sign(side: str) -> int:
    return 1 if side == BUY else -1


def _decimal(x: Fraction) -> Decimal:
    """``x`` as a ``Decimal`` quotient (the context's 28 digits; exact when it terminates within them)."""
    return Decimal(x.numerator) / Decimal(x.denominator)


def _rounded(x: Fraction, quantum: Decimal, rounding: str) -> Decimal:
    """``x`` rounded once, exactly, to a multiple of ``quantum``: ``ROUND_UP`` (away from zero),
    ``ROUND_DOWN`` (toward zero) or ``ROUND_HALF_EVEN``, as ``Decimal.quantize`` names them."""
    steps = abs(x) / Fraction(quantum)
    if rounding == ROUND_UP:
        n = ceil(steps)
    elif rounding == ROUND_DOWN:
        n = floor(steps)
    elif rounding == ROUND_HALF_EVEN:
        n = round(steps)            # Fraction.__round__ rounds half to even
    else:
        raise ValueError(f"unsupported rounding {rounding}")
    return (Decimal(-n if x < 0 else n) * quantum).quantize(quantum)


@dataclass(slots=True)
class PerpPosition:
    """One account's net position in one perpetual.  The kind of contract (a subclass) supplies
    the value of a size at a price, the PnL from the entry and the average entry; the rest is
    shared.  ``size`` below is lots x ``lot_value`` (base currency for linear contracts, quote
    currency for inverse ones)."""

    symbol: str
    lot_value: Decimal              # what one lot is worth: lot size x contract value
    qty: int = 0                    # signed lots: > 0 long, < 0 short
    entry: Decimal = Decimal(0)     # average entry price of the open size (0 when flat)
    realized_pnl: Decimal = Decimal(0)  # since the position was first opened, before fees (settle currency)
    fees: Decimal = Decimal(0)      # paid on its fills (negative: rebates; settle currency)
    margin: Decimal = Decimal(0)    # initial margin held for it (settle currency)
    opened_ms: int = 0              # when it last went from flat to open
    updated_ms: int = 0

    # ------------------------------------------------------------------ the kind's math
    @staticmethod
    def value(size: Decimal, price: Decimal) -> Fraction:
        """Settle-currency value of an unsigned ``size`` at ``price``, exactly."""
        raise NotImplementedError

    def _gain(self, size: Decimal, price: Decimal) -> Fraction:
        """What ``size`` (signed: > 0 long) gains from ``entry`` to ``price``, settle currency."""
        raise NotImplementedError

    def _average(self, held: int, opening: int, price: Decimal) -> Fraction:
        """The entry after ``opening`` lots at ``price`` join ``held`` lots at ``entry``."""
        raise NotImplementedError

    # ------------------------------------------------------------------ shared
    @property
    def direction(self) -> int:
        """1 long, -1 short, 0 flat."""
        return (self.qty > 0) - (self.qty < 0)

    def size(self) -> Decimal:
        """Absolute size: lots x lot value (base currency if linear, quote currency if inverse)."""
        return abs(self.qty) * self.lot_value

    def notional(self, price: Decimal) -> Decimal:
        """Absolute value at ``price`` (settle currency)."""
        return _decimal(self.value(self.size(), price)) if self.qty else Decimal(0)

    def upl(self, mark: Decimal) -> Decimal:
        """Unrealized PnL at ``mark`` (settle currency)."""
        return _decimal(self._gain(self.qty * self.lot_value, mark)) if self.qty else Decimal(0)

    def reducible(self, side: str, lots: int) -> int:
        """How many of ``lots`` on ``side`` would reduce this position."""
        return min(lots, abs(self.qty)) if self.qty * _sign(side) < 0 else 0

    def apply(self, side: str, lots: int, price: Decimal, ts: int = 0, quantum: Decimal | None = None) -> Decimal:
        """Book a fill of ``lots`` on ``side`` at ``price``; returns the PnL it realized (rounded
        half-even to ``quantum`` when given), also added to ``realized_pnl``."""
        if lots <= 0:
            raise ValueError("a fill has a positive size")
        d = _sign(side)
        realized = Decimal(0)
        closing = self.reducible(side, lots)
        if closing:
            gain = self._gain(closing * self.lot_value * self.direction, price)
            realized = _decimal(gain) if quantum is None else _rounded(gain, quantum, ROUND_HALF_EVEN)
            self.qty += d * closing
            if self.qty == 0:
                self.entry = Decimal(0)
        opening = lots - closing
        if opening:
            if self.qty == 0:
                self.entry = price
                self.opened_ms = ts
            else:
                self.entry = _decimal(self._average(abs(self.qty), opening, price))
            self.qty += d * opening
        self.realized_pnl += realized
        self.updated_ms = ts
        return realized


@dataclass(slots=True)
class Position(PerpPosition):
    """A linear contract's position: ``lot_value`` is base currency per lot, settled in the quote.

    value = size x price; gain = size x (price - entry); the entry is the size-weighted arithmetic
    mean of the opening fills' prices."""

    @property
    def lot_base(self) -> Decimal:
        """Base currency per lot (lot size x contract value)."""
        return self.lot_value

    def base_size(self) -> Decimal:
        """Absolute size in the base currency."""
        return self.size()

    @staticmethod
    def value(size: Decimal, price: Decimal) -> Fraction:
        return Fraction(size) * Fraction(price)

    def _gain(self, size: Decimal, price: Decimal) -> Fraction:
        return Fraction(size) * (Fraction(price) - Fraction(self.entry))

    def _average(self, held: int, opening: int, price: Decimal) -> Fraction:
        return (held * Fraction(self.entry) + opening * Fraction(price)) / (held + opening)


@dataclass(slots=True)
class InversePosition(PerpPosition):
    """An inverse contract's position: ``lot_value`` is quote currency per lot (e.g. 100 USD a
    contract on OKX ``BTC-USD-SWAP``), settled in the base coin.

    value = size / price (N contracts of V at E: ``N*V/E`` of the base coin);
    gain = size x (1/entry - 1/price), i.e. ``N*V*(1/E - 1/P)`` for a long and its negative for a
    short.

    The average entry is the size-weighted **harmonic** mean of the opening fills' prices,
    ``N_total / sum(N_i / P_i)``, not the arithmetic one: it is the price at which the position's
    base-coin value ``N_total*V/E`` equals the sum of what its fills were worth, ``sum(N_i*V/P_i)``,
    so a close realizes exactly the base coin the fills bought or sold.  E.g. 1 contract at 60000
    and 2 at 40000 average 3 / (1/60000 + 2/40000) = 45000, not 46666.67."""

    @property
    def lot_quote(self) -> Decimal:
        """Quote currency per lot (lot size x contract value)."""
        return self.lot_value

    @staticmethod
    def value(size: Decimal, price: Decimal) -> Fraction:
        return Fraction(size) / Fraction(price)

    def _gain(self, size: Decimal, price: Decimal) -> Fraction:
        return Fraction(size) * (1 / Fraction(self.entry) - 1 / Fraction(price))

    def _average(self, held: int, opening: int, price: Decimal) -> Fraction:
        return (held + opening) / (held / Fraction(self.entry) + opening / Fraction(price))


class PerpEngine(MatchingEngine):
    """``MatchingEngine`` for a perpetual: same order book and order life cycle, settled as
    positions and margin in the settle currency (``settle``) instead of base against quote.  A
    subclass names its position type (the value math) and its settle currency."""

    position_type: ClassVar[type[PerpPosition]]
    settles_in_base: ClassVar[bool]

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
        self.settle = base if self.settles_in_base else quote
        self.contract_value = Decimal(contract_value)
        self.leverage = Decimal(leverage)
        if self.contract_value <= 0 or self.leverage <= 0:
            raise ValueError("contract value and leverage must be positive")
        self.lot_value = market.qty_scale.step * self.contract_value
        self._legs: dict[tuple[str, str], PerpPosition] = {}   # (account, LONG | SHORT) -> hedge leg
        self._order_leg: dict[int, str] = {}                    # order id -> its leg ("" net)
        self._leg = ""              # the leg of the order being placed or amended

    # ------------------------------------------------------------------ hedge legs
    def place(self, account_id: str, *a: Any, leg: str = "", **kw: Any) -> PlaceResult:
        """``MatchingEngine.place``; ``leg`` (LONG / SHORT) places it on a hedge-mode leg: a
        closing side is reduce-only on that leg (see the module's notes)."""
        if leg not in ("", LONG, SHORT):
            raise Reject(BAD_ORDER, f"unknown position leg {leg!r}")
        if leg:
            side = a[0] if a else kw.get("side")
            if (side == BUY) == (leg == SHORT):
                kw["reduce_only"] = True
            elif kw.get("reduce_only"):
                raise Reject(REDUCE_ONLY_INCREASES)
        self._leg = leg
        try:
            res = super().place(account_id, *a, **kw)
        finally:
            self._leg = ""
        self._order_leg[res.order.order_id] = leg
        return res

    def amend(self, account_id: str, order_id: int | None = None, client_id: str | None = None,
              **kw: Any) -> PlaceResult:
        o = self.get(account_id, order_id, client_id)
        self._leg = self.leg(o.order_id) if o is not None else ""
        try:
            return super().amend(account_id, order_id, client_id, **kw)
        finally:
            self._leg = ""

    def leg(self, order_id: int) -> str:
        """The leg an order works on (LONG / SHORT; "" the net position). The order being placed
        is recorded once placed: until then (its own events) its leg is the one placed on."""
        return self._order_leg.get(order_id, self._leg)

    def _leg_of(self, o: Order) -> str:
        return self.leg(o.order_id)

    # ------------------------------------------------------------------ amounts
    def fill_value(self, price: int, lots: int) -> Fraction:
        """Exact settle-currency value of ``lots`` at ``price`` ticks."""
        return self.position_type.value(lots * self.lot_value, self.market.price_scale.to_decimal(price))

    def margin_of(self, value: Fraction) -> Decimal:
        """Initial margin of exposure worth ``value`` (settle currency), rounded up."""
        return _rounded(value / Fraction(self.leverage), self._fee_q, ROUND_UP)

    def position_margin(self, pos: PerpPosition) -> Decimal:
        """Initial margin of a position: its value at its entry price over the leverage."""
        return self.margin_of(pos.value(pos.size(), pos.entry)) if pos.qty else Decimal(0)

    def position(self, account_id: str, leg: str = "") -> PerpPosition | None:
        """The account's net position, or its hedge ``leg`` (None before its first fill)."""
        if leg:
            return self._legs.get((account_id, leg))
        return self.account(account_id).positions.get(self.symbol)

    def positions(self, account_id: str) -> list[tuple[str, PerpPosition]]:
        """(leg, position) of every position the account has held here: the net one ("") and
        its hedge legs."""
        return [(leg, p) for leg in ("", LONG, SHORT) if (p := self.position(account_id, leg)) is not None]

    def _position(self, acct: Account, leg: str) -> PerpPosition | None:
        return self._legs.get((acct.id, leg)) if leg else acct.positions.get(self.symbol)

    def _pos(self, acct: Account, o: Order) -> PerpPosition:
        leg = self._leg_of(o)
        pos = self._position(acct, leg)
        if pos is None:
            pos = self.position_type(self.symbol, self.lot_value)
            if leg:
                self._legs[(acct.id, leg)] = pos
            else:
                acct.positions[self.symbol] = pos
        return pos

    def _pos_qty(self, acct: Account) -> int:
        pos = self._position(acct, self._leg)
        return pos.qty if pos is not None else 0

    def _reducible(self, acct: Account, o: Order) -> int:
        pos = self._position(acct, self._leg_of(o))
        return pos.reducible(o.side, o.remaining) if pos is not None else 0

    def _taker_value(self, side: str, skip: int, lots: int) -> Fraction:
        """Value of the ``lots`` a market order on ``side`` would take from the displayed book
        after its first ``skip`` lots, level by level at each level's price."""
        _, bids, asks = self.market.depth()
        total = Fraction(0)
        for p, size in asks if side == BUY else bids:
            if lots <= 0:
                break
            passed = min(skip, size)
            skip -= passed
            take = min(lots, size - passed)
            if take > 0:
                total += self.fill_value(p, take)
                lots -= take
        return total

    def order_margin(self, acct: Account, o: Order) -> Decimal:
        """What a resting order holds now: the margin of its opening part at its price."""
        if not o.is_open or o.reduce_only or o.type != LIMIT or o.price is None:
            return Decimal(0)
        opening = o.remaining - self._reducible(acct, o)
        return self.margin_of(self.fill_value(o.price, opening)) if opening > 0 else Decimal(0)

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
            if self._leg and qty > abs(pos_qty):
                raise Reject(CLOSE_EXCEEDS_POSITION)
            return
        closing = min(qty, abs(pos_qty)) if pos_qty * _sign(side) < 0 else 0
        opening = qty - closing
        if opening <= 0:
            return
        if type == LIMIT:
            assert price is not None
            need = self.margin_of(self.fill_value(price, opening))
        else:
            # a market order closes first, then opens at the prices further down the book
            need = self.margin_of(self._taker_value(side, closing, opening))
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
        pos = self._pos(acct, o)
        rate = self.maker_fee if maker else self.taker_fee
        fee = _rounded(self.fill_value(p, q) * Fraction(rate), self._fee_q, ROUND_DOWN)
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


class LinearPerpEngine(PerpEngine):
    """A linear perpetual (USDT-margined swap, CCXT ``BTC/USDT:USDT``): ``contract_value`` is base
    currency per contract; positions, margin, PnL and fees in ``quote``."""

    position_type = Position
    settles_in_base = False

    @property
    def lot_base(self) -> Decimal:
        """Base currency per lot."""
        return self.lot_value


class InversePerpEngine(PerpEngine):
    """An inverse perpetual (coin-margined swap, CCXT ``BTC/USD:BTC``): ``contract_value`` is
    quote currency per contract (100 USD on OKX ``BTC-USD-SWAP``, 1 USD on BitMEX, Bybit inverse
    and Deribit); positions, margin, PnL and fees in ``base``.  An order is refused for margin as
    on the linear engine, with its value ``N*V/P`` of the base coin."""

    position_type = InversePosition
    settles_in_base = True
