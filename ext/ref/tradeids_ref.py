# SPDX-License-Identifier: Apache-2.0
"""Pure-Python reference twin of venuelink.ext.feed's integer trade-id dedupe (FeedSymbol.seen_trade with
TRADE_IDS_INCREASING), for differential tests.

The rule, in full: a trade id is a duplicate (dropped, counted) if it is among the last WINDOW
ids delivered since the last reset; every other id is delivered and becomes the newest of those.
Order does not matter: an id above or below the highest seen, a reordered trade, a venue that
restarts its ids, one absurd id and the normal ids after it are all judged by that one rule.
last_trade_id is the highest id delivered since the last reset (-1: none).
"""
from __future__ import annotations

from collections import deque

WINDOW = 96
"""integer trade ids remembered per symbol (FeedSymbol.trade_id_window)"""


class RecentTradeIds:
    def __init__(self, window: int = WINDOW) -> None:
        self.window = window
        self._order: deque[int] = deque()
        self._ids: set[int] = set()
        self.last_trade_id = -1
        self.n_dup_trades = 0

    def seen(self, tid: int) -> bool:
        """True (and counted) for a duplicate; False: delivered, and remembered."""
        if tid in self._ids:
            self.n_dup_trades += 1
            return True
        if len(self._order) == self.window:
            self._ids.discard(self._order.popleft())
        self._order.append(tid)
        self._ids.add(tid)
        self.last_trade_id = max(self.last_trade_id, tid)
        return False

    def reset(self) -> None:
        self._order.clear()
        self._ids.clear()
        self.last_trade_id = -1
