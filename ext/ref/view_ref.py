# SPDX-License-Identifier: Apache-2.0
"""Reference twin of venuelink.ext.view.BookHandle: the same reads of a RefBook, in Python."""
from venuelink.ext.ref.book_ref import ASK, BID, RefBook
from venuelink.ext.ref.decimal_ref import format as fmt


class RefBookHandle:
    def __init__(self, book: RefBook, state: int = 2) -> None:
        self.book, self.state = book, state
        self.seq = -1

    @property
    def is_live(self) -> bool:
        return self.state == 2

    def best_bid(self):
        return self.book.best_bid()

    def best_ask(self):
        return self.book.best_ask()

    def best_bid_px(self):
        b = self.book.best_bid()
        return None if b is None else b[0]

    def best_ask_px(self):
        a = self.book.best_ask()
        return None if a is None else a[0]

    def top(self, n: int = 5):
        ps, qs = self.book.px_scale, self.book.qty_scale
        return tuple([(fmt(p, ps), fmt(q, qs)) for p, q in self.book.top(side, max(n, 0))] for side in (BID, ASK))
