# SPDX-License-Identifier: Apache-2.0
"""Exact decimal strings from CCXT's floats: each value is read as the decimal its repr() prints
(the shortest string that reads back as the same float) and must lie on the instrument's grid.
Nothing is rounded: a value off the grid is reported, and the caller counts it and treats the
book as invalid."""
from __future__ import annotations

from decimal import Context, Decimal, InvalidOperation

_CTX = Context(prec=80)


class OffGrid(ValueError):
    """A value that is not a whole multiple of its step (or not a positive finite number)."""


def exact(value: float | int | str) -> Decimal:
    """The decimal CCXT meant: repr() of a float, the text of a string."""
    if isinstance(value, bool) or value is None:
        raise OffGrid(f"not a number: {value!r}")
    try:
        d = Decimal(value if isinstance(value, str) else repr(value))
    except InvalidOperation:
        raise OffGrid(f"not a number: {value!r}") from None
    if not d.is_finite():
        raise OffGrid(f"not a finite number: {value!r}")
    return d


def step_of(value: float | int | str | None, decimal_places: bool) -> Decimal:
    """A market's tick or lot as a Decimal step: CCXT gives it as the step itself (TICK_SIZE
    exchanges) or as a number of decimal places (DECIMAL_PLACES exchanges)."""
    if value is None:
        raise OffGrid("no precision given")
    if decimal_places:
        n = exact(value)
        if n != n.to_integral_value() or not 0 <= n <= 30:
            raise OffGrid(f"decimal places {value!r}")
        return Decimal(1).scaleb(-int(n))
    d = exact(value)
    if d <= 0:
        raise OffGrid(f"step {value!r} is not positive")
    return d


class Grid:
    """One instrument's price and size grids, formatting at a fixed number of decimals. With
    `px_sig`, a price must also have at most that many significant digits (Bitfinex: 5)."""
    __slots__ = ("tick", "lot", "_pq", "_qq", "_prices", "_sizes", "px_decimals", "qty_decimals", "px_sig")
    CACHE = 4096                    # floats remembered per grid and kind (a book repeats most of its values)

    def __init__(self, tick: Decimal | str, lot: Decimal | str, px_sig: int = 0) -> None:
        self.tick, self.lot = Decimal(tick), Decimal(lot)
        self.px_sig = int(px_sig)
        self.px_decimals, self.qty_decimals = decimals(self.tick), decimals(self.lot)
        self._pq = Decimal(1).scaleb(-self.px_decimals)
        self._qq = Decimal(1).scaleb(-self.qty_decimals)
        self._prices: dict[float, str] = {}         # float -> its snapped text (on-grid values only)
        self._sizes: dict[float, str] = {}

    def price(self, value) -> str:
        text = self._cached(value, self._prices, self.tick, self._pq, "price")
        if self.px_sig and significant_digits(text) > self.px_sig:
            raise OffGrid(f"price {value!r} has more than {self.px_sig} significant digits")
        return text

    def size(self, value) -> str:
        return self._cached(value, self._sizes, self.lot, self._qq, "size")

    def _cached(self, value, cache: dict, step: Decimal, q: Decimal, what: str) -> str:
        if type(value) is float:
            text = cache.get(value)
            if text is not None:
                return text
            text = self._snap(value, step, q, what)     # raises for a value off the grid: never cached
            if len(cache) >= self.CACHE:
                cache.clear()
            cache[value] = text
            return text
        return self._snap(value, step, q, what)

    @staticmethod
    def _snap(value, step: Decimal, q: Decimal, what: str) -> str:
        d = exact(value)
        if d <= 0:
            raise OffGrid(f"{what} {value!r} is not positive")
        if _CTX.remainder(d, step) != 0:
            raise OffGrid(f"{what} {value!r} is off the grid of {step}")
        return format(_CTX.quantize(d, q), "f")    # on the grid: only zeros are added or removed


def significant_digits(text: str) -> int:
    """Significant digits of a positive decimal string ("64000.00000000" -> 2, "0.00012345" -> 5)."""
    return len(text.replace(".", "").lstrip("0").rstrip("0")) or 1


def decimals(step: Decimal) -> int:
    """Fractional digits a step needs: 0.010 -> 2, 1 -> 0, 1E+1 -> 0."""
    return max(0, -step.normalize().as_tuple().exponent)


def snap_levels(levels, grid: Grid, depth: int) -> tuple[list[list[str]], list[str]]:
    """The first `depth` [price, size, ...] levels as exact strings, and the reason of every value
    that is off the grid (empty when all are on it)."""
    out: list[list[str]] = []
    bad: list[str] = []
    for lv in levels[:depth]:
        try:
            out.append([grid.price(lv[0]), grid.size(lv[1])])
        except OffGrid as e:
            bad.append(str(e))
    return out, bad
