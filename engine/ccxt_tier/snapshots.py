# SPDX-License-Identifier: Apache-2.0
"""A book's first snapshot from the venue's REST API, for CCXT clients that still wait for one
on the WebSocket while the venue no longer sends it there.

``okx``: since early August 2026 (demo since May) the ``books`` channel sends no snapshot and no
checksum; a subscription's first message is already an ``update``. CCXT 4.5's okx client keeps a
book only from a ``snapshot`` message, so it would drop every update and the book would never
come. The documented procedure, done here around CCXT's handler:

- a book update of an instrument CCXT holds no book of is held, and ``GET /api/v5/market/books``
  (400 levels, with the ``seqId`` the book is at) is asked through CCXT's REST path, so the
  engine's rate budget is charged as for any request;
- its answer goes through the tap and CCXT's handler as a ``snapshot`` message of the same
  channel, then the held updates follow, in order;
- updates with ``seqId`` at or below the snapshot's are dropped (counted); the first one newer
  must straddle it (``prevSeqId <= snapshot seqId < seqId``). CCXT's own continuity check wants
  ``prevSeqId`` equal to the last ``seqId``, so for that one update its book's ``nonce`` is set
  to the update's ``prevSeqId``: the documented bridge, which OKX's updates (absolute sizes)
  make exact. An update that does not reach back to the snapshot is passed on as it is: CCXT
  finds the gap, the watch fails and the book is subscribed again;
- a snapshot pushed by the venue (the earlier form, still sent by some channels) wins: an answer
  from REST for an instrument that got one meanwhile is thrown away.

A REST answer that fails or carries no ``seqId`` is counted and logged; the held updates are let
go and the next update asks again, no sooner than ``RETRY_S`` later.
"""
from __future__ import annotations

import asyncio
import logging
import time
from typing import Any, Callable

log = logging.getLogger("venuelink.ccxt_worker")

Feed = Callable[[Any, Any], Any]
"""runs one venue message through the tap and CCXT's handler: (client, message)"""


class OkxRestSnapshot:
    CHANNELS = frozenset({"books", "books-l2-tbt", "books50-l2-tbt"})
    LEVELS = 400            # the most /api/v5/market/books gives
    RETRY_S = 1.0
    HELD_MAX = 10_000       # updates held per instrument while its snapshot is asked

    def __init__(self, exchange: Any, feed: Feed, spawn: Callable[[Any], Any], stats: Any,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ex = exchange
        self.feed = feed
        self.spawn = spawn
        self.stats = stats
        self.clock = clock
        self.held: dict[str, list[tuple[Any, dict]]] = {}   # instId -> updates held while its snapshot is asked
        self.bridged: dict[str, int] = {}                   # instId -> seqId of the REST snapshot not yet bridged
        self.retry_at: dict[str, float] = {}

    def admit(self, client: Any, message: Any) -> bool:
        """False: the message is held or dropped here, CCXT's handler must not see it now."""
        if not isinstance(message, dict):
            return True
        arg = message.get("arg")
        if not isinstance(arg, dict) or arg.get("channel") not in self.CHANNELS:
            return True
        inst = str(arg.get("instId") or "")
        action = message.get("action")
        if action == "snapshot":            # the venue's own: it wins over one asked from REST
            self.held.pop(inst, None)
            self.bridged.pop(inst, None)
            return True
        if action != "update":
            return True
        held = self.held.get(inst)
        if held is not None:
            if len(held) >= self.HELD_MAX:  # the answer is very late: start over with the next update
                self.stats["rest_snapshot_overflow"] += 1
                del self.held[inst]
                return False
            held.append((client, message))
            return False
        snap = self.bridged.get(inst)
        if snap is not None:
            return self._bridge(inst, snap, message)
        if self.ex.safe_symbol(inst) in self.ex.orderbooks:
            return True
        if self.clock() < self.retry_at.get(inst, 0.0):
            self.stats["rest_snapshot_waiting"] += 1
            return False
        self.held[inst] = [(client, message)]
        self.spawn(self._fetch(inst, str(arg.get("channel"))))
        return False

    def _bridge(self, inst: str, snap: int, message: dict) -> bool:
        data = message.get("data") or []
        d = data[0] if data and isinstance(data[0], dict) else {}
        try:
            seq, prev = int(d["seqId"]), int(d.get("prevSeqId", -1))
        except (KeyError, TypeError, ValueError):
            return True                     # CCXT's to refuse
        if seq <= snap:
            self.stats["rest_snapshot_older_dropped"] += 1
            return False
        del self.bridged[inst]
        ob = self.ex.orderbooks.get(self.ex.safe_symbol(inst))
        if ob is not None and prev < snap:
            ob["nonce"] = prev              # the documented straddle: prevSeqId <= snapshot < seqId
        return True

    async def _fetch(self, inst: str, channel: str) -> None:
        self.stats["rest_snapshots"] += 1
        try:
            answer = await self.ex.public_get_market_books({"instId": inst, "sz": str(self.LEVELS)})
            book = (answer.get("data") or [None])[0]
            seq = int(book["seqId"])
            bids, asks, ts = book["bids"], book["asks"], book.get("ts")
        except asyncio.CancelledError:
            self.held.pop(inst, None)
            raise
        except Exception as e:
            self.stats["rest_snapshot_failed"] += 1
            self.retry_at[inst] = self.clock() + self.RETRY_S
            log.warning("%s: the REST book snapshot failed (%s: %s); asked again with a later update",
                        inst, type(e).__name__, str(e)[:200])
            self.held.pop(inst, None)
            return
        held = self.held.pop(inst, None)
        if held is None:                    # a pushed snapshot came first, or the wait was given up
            self.stats["rest_snapshot_unused"] += 1
            return
        client = held[-1][0]
        self.feed(client, {"arg": {"channel": channel, "instId": inst}, "action": "snapshot",
                           "data": [{"bids": bids, "asks": asks, "ts": ts, "seqId": seq, "prevSeqId": -1}]})
        self.bridged[inst] = seq
        for c, m in held:
            if self.admit(c, m):
                self.feed(c, m)


#: exchange id -> the REST snapshot bridge for it
BRIDGES: dict[str, type] = {"okx": OkxRestSnapshot}
