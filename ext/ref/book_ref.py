# SPDX-License-Identifier: Apache-2.0
"""Reference twin of venuelink.ext.book.L2Book: a dict per side, sorted on read."""
BID, ASK = 1, 2


class RefBook:
    def __init__(self, px_scale: int = 8, qty_scale: int = 8, depth_cap: int = 0) -> None:
        self.px_scale, self.qty_scale, self.depth_cap = px_scale, qty_scale, depth_cap
        self.sides: dict[int, dict[int, int]] = {BID: {}, ASK: {}}

    def _sorted(self, side: int) -> list[tuple[int, int]]:
        return sorted(self.sides[side].items(), key=lambda kv: -kv[0] if side == BID else kv[0])

    def _cap(self, side: int) -> None:
        if self.depth_cap and len(self.sides[side]) > self.depth_cap:
            self.sides[side] = dict(self._sorted(side)[: self.depth_cap])

    def apply(self, side: int, px: int, qty: int) -> int:
        if qty < 0:
            raise ValueError("negative size")
        book = self.sides[side]
        if px in book:
            if qty == 0:
                del book[px]
                return 3
            book[px] = qty
            return 2
        if qty == 0:
            return 4
        if self.depth_cap and len(book) >= self.depth_cap:
            worst = self._sorted(side)[-1][0]
            if (px < worst) if side == BID else (px > worst):
                return 5
        book[px] = qty
        self._cap(side)
        return 1

    def snapshot(self, bids, asks) -> None:
        for side, levels in ((BID, bids), (ASK, asks)):
            self.sides[side] = {}
            for px, qty in levels:
                if qty:
                    self.sides[side][px] = qty
                else:
                    self.sides[side].pop(px, None)
            self._cap(side)

    def top(self, side: int, n: int = 5) -> list[tuple[int, int]]:
        return self._sorted(side)[:n]

    def levels(self, side: int) -> list[tuple[int, int]]:
        return self._sorted(side)

    def best_bid(self):
        t = self.top(BID, 1)
        return t[0] if t else None

    def best_ask(self):
        t = self.top(ASK, 1)
        return t[0] if t else None

    def is_crossed(self) -> bool:
        b, a = self.best_bid(), self.best_ask()
        return bool(b and a and b[0] >= a[0])
