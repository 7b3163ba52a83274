"""Random-walk L2 market generator with an authoritative integer book.

Prices are integer ticks, sizes integer lots; nothing here touches floats except the
random draws that *choose* integers.  ``MarketSim.step()`` produces one ``Batch``: the
absolute new size of every level it touched (0 = level removed) plus the public trades,
stamped with a contiguous range of update ids ``[first_id, last_id]`` (one id per
changed level).  The book is never crossed: every bid < ``fair`` < every ask.

The same book is consumed by ``MatchingEngine.take`` (taker orders eat displayed size),
which produces a ``Batch`` of its own so the public feed stays consistent.
"""

from __future__ import annotations

import bisect
import math
import random
import time
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Iterable

BUY = "BUY"
SELL = "SELL"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class Scale:
    """Exact conversion between integer units (ticks / lots) and decimal strings.

    ``step`` must be representable with ``decimals`` fractional digits.
    """

    __slots__ = ("step", "decimals", "_num", "_pow")

    def __init__(self, step: Decimal | str, decimals: int = 8) -> None:
        step = Decimal(step)
        if step <= 0:
            raise ValueError("step must be positive")
        num = step.scaleb(decimals)
        if num != num.to_integral_value():
            raise ValueError(f"step {step} needs more than {decimals} decimals")
        self.step = step
        self.decimals = decimals
        self._num = int(num)
        self._pow = 10**decimals

    def format(self, units: int) -> str:
        """Fixed ``decimals`` string, e.g. ``"60000.01000000"``."""
        v = units * self._num
        sign = "-" if v < 0 else ""
        v = abs(v)
        if not self.decimals:
            return f"{sign}{v}"
        q, r = divmod(v, self._pow)
        return f"{sign}{q}.{r:0{self.decimals}d}"

    def plain(self, units: int) -> str:
        """Shortest exact string, e.g. ``"60000.01"``."""
        s = self.format(units)
        if "." in s:
            s = s.rstrip("0").rstrip(".")
        return s

    def to_decimal(self, units: int) -> Decimal:
        return Decimal(units) * self.step

    def parse(self, text: str | Decimal) -> int | None:
        """Units for an exact multiple of ``step``; ``None`` if not a multiple or malformed."""
        try:
            d = Decimal(text)
        except (ArithmeticError, ValueError, TypeError):
            return None
        if not d.is_finite():
            return None
        q = d / self.step
        if q != q.to_integral_value():
            return None
        return int(q)


@dataclass(frozen=True, slots=True)
class Trade:
    trade_id: int
    price: int  # ticks
    qty: int  # lots
    taker_side: str  # BUY or SELL
    ts: int  # ms


@dataclass(slots=True)
class Batch:
    """One atomic book change set. ``first_id..last_id`` are empty (0, 0) if no level changed."""

    symbol: str
    first_id: int
    last_id: int
    bids: list[tuple[int, int]]
    asks: list[tuple[int, int]]
    trades: list[Trade]
    ts: int

    @property
    def has_changes(self) -> bool:
        return bool(self.bids or self.asks)

    def key(self) -> tuple:
        """Content without the wall-clock stamps (for determinism checks)."""
        return (
            self.first_id,
            self.last_id,
            tuple(self.bids),
            tuple(self.asks),
            tuple((t.trade_id, t.price, t.qty, t.taker_side) for t in self.trades),
        )


@dataclass(slots=True)
class MarketParams:
    changes_per_step: float = 4.0  # mean random level events per step
    drift_prob: float = 0.25  # probability the fair price moves in a step
    vol_ticks: float = 2.0  # mean size of a fair-price move (ticks)
    top_bias: float = 4.0  # mean distance (levels) of an event from the top
    p_trade: float = 0.12
    p_insert: float = 0.20
    p_remove: float = 0.12
    mean_size: int = 1000  # lots
    size_sigma: float = 0.9


class MarketSim:
    """Authoritative random-walk book for one symbol."""

    def __init__(
        self,
        symbol: str,
        tick: Decimal | str,
        lot: Decimal | str,
        mid: Decimal | str,
        levels: int = 300,
        seed: int = 1,
        *,
        params: MarketParams | None = None,
        first_update_id: int = 1_000_000,
        first_trade_id: int = 1,
        decimals: int = 8,
    ) -> None:
        if levels < 5:
            raise ValueError("levels must be >= 5")
        self.symbol = symbol
        self.price_scale = Scale(tick, decimals)
        self.qty_scale = Scale(lot, decimals)
        mid_ticks = self.price_scale.parse(Decimal(mid).quantize(Decimal(tick)))
        if mid_ticks is None or mid_ticks <= 0:
            raise ValueError("mid must be positive")
        self.levels = levels
        self.params = params or MarketParams()
        self._rng = random.Random(seed)
        self.fair = mid_ticks
        self.update_id = first_update_id
        self._next_trade_id = first_trade_id
        # authoritative book
        self.bids: dict[int, int] = {}
        self.asks: dict[int, int] = {}
        self._bid_px: list[int] = []  # ascending; best bid = last
        self._ask_px: list[int] = []  # ascending; best ask = first
        # current change set
        self._chg_bids: dict[int, int] = {}
        self._chg_asks: dict[int, int] = {}
        self._trades: list[Trade] = []
        self._min_fair = 4 * levels + 16
        if self.fair < self._min_fair:
            raise ValueError("mid too small for the number of levels at this tick")
        self._build()

    # ------------------------------------------------------------------ queries
    def best_bid(self) -> tuple[int, int] | None:
        if not self._bid_px:
            return None
        p = self._bid_px[-1]
        return p, self.bids[p]

    def best_ask(self) -> tuple[int, int] | None:
        if not self._ask_px:
            return None
        p = self._ask_px[0]
        return p, self.asks[p]

    def depth(self, limit: int | None = None) -> tuple[int, list[tuple[int, int]], list[tuple[int, int]]]:
        """(update_id, bids best-first, asks best-first), ``limit`` levels per side."""
        bp = self._bid_px if limit is None else self._bid_px[-limit:] if limit > 0 else []
        ap = self._ask_px if limit is None else self._ask_px[:limit]
        bids = [(p, self.bids[p]) for p in reversed(bp)]
        asks = [(p, self.asks[p]) for p in ap]
        return self.update_id, bids, asks

    def is_crossed(self) -> bool:
        return bool(self._bid_px and self._ask_px and self._bid_px[-1] >= self._ask_px[0])

    def liquidity(self, taker_side: str, qty: int, limit_price: int | None = None) -> tuple[int, int]:
        """(fillable lots, cost in tick*lot units) for a taker order, without changing the book."""
        left = qty
        cost = 0
        for p in self._walk(taker_side):
            if left <= 0 or not self._within(taker_side, p, limit_price):
                break
            q = min(left, self._side_book(taker_side)[p])
            left -= q
            cost += p * q
        return qty - left, cost

    # ------------------------------------------------------------------ mutation
    def step(self, ts: int | None = None) -> Batch:
        """Advance the random walk by one change batch."""
        rng = self._rng
        prm = self.params
        if rng.random() < prm.drift_prob:
            move = 1 + int(rng.expovariate(1.0 / max(prm.vol_ticks, 1e-9)))
            self.fair += move if rng.random() < 0.5 else -move
            if self.fair < self._min_fair:
                self.fair = self._min_fair
        # keep every bid < fair < every ask: aggressive flow sweeps levels the fair crossed
        while self._bid_px and self._bid_px[-1] >= self.fair:
            p = self._bid_px[-1]
            self._trade(SELL, p, self.bids[p])
            self._set(self.bids, self._bid_px, self._chg_bids, p, 0)
        while self._ask_px and self._ask_px[0] <= self.fair:
            p = self._ask_px[0]
            self._trade(BUY, p, self.asks[p])
            self._set(self.asks, self._ask_px, self._chg_asks, p, 0)
        n = 1 + self._poisson(max(prm.changes_per_step - 1.0, 0.0))
        for _ in range(n):
            self._random_event()
        self._maintain_depth()
        return self._finish(ts)

    def take(
        self, taker_side: str, qty: int, limit_price: int | None = None, ts: int | None = None
    ) -> tuple[list[tuple[int, int, int]], Batch]:
        """Consume displayed liquidity. Returns ([(price, qty, trade_id)], batch)."""
        fills: list[tuple[int, int, int]] = []
        left = qty
        book = self._side_book(taker_side)
        while left > 0:
            px = self._ask_px if taker_side == BUY else self._bid_px
            if not px:
                break
            p = px[0] if taker_side == BUY else px[-1]
            if not self._within(taker_side, p, limit_price):
                break
            size = book[p]
            q = min(left, size)
            t = self._trade(taker_side, p, q, ts)
            if taker_side == BUY:
                self._set(self.asks, self._ask_px, self._chg_asks, p, size - q)
            else:
                self._set(self.bids, self._bid_px, self._chg_bids, p, size - q)
            fills.append((p, q, t.trade_id))
            left -= q
        return fills, self._finish(ts)

    def record_trade(self, price: int, qty: int, taker_side: str, ts: int | None = None) -> Trade:
        """A public trade that does not touch displayed levels (e.g. against hidden orders)."""
        return self._make_trade(taker_side, price, qty, ts if ts is not None else now_ms())

    # ------------------------------------------------------------------ internals
    def _side_book(self, taker_side: str) -> dict[int, int]:
        return self.asks if taker_side == BUY else self.bids

    def _walk(self, taker_side: str) -> Iterable[int]:
        return iter(self._ask_px) if taker_side == BUY else reversed(self._bid_px)

    @staticmethod
    def _within(taker_side: str, p: int, limit_price: int | None) -> bool:
        if limit_price is None:
            return True
        return p <= limit_price if taker_side == BUY else p >= limit_price

    def _poisson(self, lam: float) -> int:
        if lam <= 0:
            return 0
        limit = math.exp(-lam)
        k = 0
        prod = self._rng.random()
        while prod > limit:
            k += 1
            prod *= self._rng.random()
        return k

    def _size(self, depth_index: int = 0) -> int:
        prm = self.params
        base = prm.mean_size * self._rng.lognormvariate(-0.5 * prm.size_sigma**2, prm.size_sigma)
        return max(1, int(base * (1.0 + depth_index / 150.0)))

    def _gap(self, depth_index: int) -> int:
        # dense (1 tick) near the top, progressively sparser deeper in the book
        spread = 1 + depth_index // 25
        return 1 + self._rng.randrange(spread)

    def _build(self) -> None:
        p = self.fair - 1
        for i in range(self.levels):
            self.bids[p] = self._size(i)
            p -= self._gap(i)
        p = self.fair + 1
        for i in range(self.levels):
            self.asks[p] = self._size(i)
            p += self._gap(i)
        self._bid_px = sorted(self.bids)
        self._ask_px = sorted(self.asks)

    def _set(self, book: dict[int, int], px: list[int], chg: dict[int, int], p: int, size: int) -> None:
        if size > 0:
            if p not in book:
                bisect.insort(px, p)
            book[p] = size
        else:
            if p not in book:
                return
            del book[p]
            i = bisect.bisect_left(px, p)
            del px[i]
        chg[p] = size

    def _make_trade(self, taker_side: str, p: int, q: int, ts: int) -> Trade:
        t = Trade(self._next_trade_id, p, q, taker_side, ts)
        self._next_trade_id += 1
        return t

    def _trade(self, taker_side: str, p: int, q: int, ts: int | None = None) -> Trade:
        t = self._make_trade(taker_side, p, q, ts if ts is not None else 0)
        self._trades.append(t)
        return t

    def _pick_index(self, n: int) -> int:
        i = int(self._rng.expovariate(1.0 / self.params.top_bias))
        return min(i, n - 1)

    def _random_event(self) -> None:
        rng = self._rng
        prm = self.params
        is_bid = rng.random() < 0.5
        book, px, chg = (self.bids, self._bid_px, self._chg_bids) if is_bid else (self.asks, self._ask_px, self._chg_asks)
        n = len(px)
        u = rng.random() if n else prm.p_trade  # an empty side can only get an insert
        if u < prm.p_trade and n > 1:
            p = px[-1] if is_bid else px[0]
            size = book[p]
            q = size if rng.random() < 0.3 else 1 + rng.randrange(size)
            self._trade(SELL if is_bid else BUY, p, q)
            self._set(book, px, chg, p, size - q)
            return
        u -= prm.p_trade
        if u < prm.p_insert:
            off = int(rng.expovariate(1.0 / prm.top_bias))
            p = self.fair - 1 - off if is_bid else self.fair + 1 + off
            if p > 0:
                self._set(book, px, chg, p, self._size(off))
            return
        u -= prm.p_insert
        if u < prm.p_remove and n > self.levels // 2:
            i = self._pick_index(n)
            p = px[-1 - i] if is_bid else px[i]
            self._set(book, px, chg, p, 0)
            return
        i = self._pick_index(n)
        p = px[-1 - i] if is_bid else px[i]
        self._set(book, px, chg, p, self._size(i))

    def _maintain_depth(self) -> None:
        hi = self.levels + max(2, self.levels // 10)
        for book, px, chg, is_bid in (
            (self.bids, self._bid_px, self._chg_bids, True),
            (self.asks, self._ask_px, self._chg_asks, False),
        ):
            while len(px) > hi:
                p = px[0] if is_bid else px[-1]  # worst level
                self._set(book, px, chg, p, 0)
            while len(px) < self.levels:
                n = len(px)
                if is_bid:
                    worst = px[0] if px else self.fair
                    p = worst - self._gap(n)
                    if p <= 0:
                        break
                else:
                    worst = px[-1] if px else self.fair
                    p = worst + self._gap(n)
                self._set(book, px, chg, p, self._size(n))

    def _finish(self, ts: int | None) -> Batch:
        ts = ts if ts is not None else now_ms()
        bids = sorted(self._chg_bids.items(), reverse=True)
        asks = sorted(self._chg_asks.items())
        n = len(bids) + len(asks)
        if n:
            first = self.update_id + 1
            self.update_id += n
            last = self.update_id
        else:
            first = last = 0
        trades = self._trades
        if trades and trades[0].ts != ts:
            trades = [Trade(t.trade_id, t.price, t.qty, t.taker_side, ts) for t in trades]
        self._chg_bids = {}
        self._chg_asks = {}
        self._trades = []
        return Batch(self.symbol, first, last, bids, asks, trades, ts)


@dataclass(slots=True)
class DiffAccumulator:
    """Merges consecutive batches into one diff message (absolute sizes, last write wins)."""

    first_id: int = 0
    last_id: int = 0
    bids: dict[int, int] = field(default_factory=dict)
    asks: dict[int, int] = field(default_factory=dict)

    def add(self, batch: Batch) -> None:
        if not batch.has_changes:
            return
        if not self.first_id:
            self.first_id = batch.first_id
        self.last_id = batch.last_id
        self.bids.update(batch.bids)
        self.asks.update(batch.asks)

    def flush(self) -> tuple[int, int, list[tuple[int, int]], list[tuple[int, int]]] | None:
        if not self.first_id:
            return None
        out = (
            self.first_id,
            self.last_id,
            sorted(self.bids.items(), reverse=True),
            sorted(self.asks.items()),
        )
        self.clear()
        return out

    def clear(self) -> None:
        self.first_id = self.last_id = 0
        self.bids = {}
        self.asks = {}
