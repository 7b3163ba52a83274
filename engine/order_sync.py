# SPDX-License-Identifier: Apache-2.0
"""The ledger held against the venue's own lists: a full reconcile after the private stream comes
back (open orders, then recent fills, then a query for each live order the venue did not list), the
audit of orders quiet for a while, and the shutdown cancels checked against the venue's open
orders."""
from __future__ import annotations

import asyncio
import contextlib
import logging

from venuelink.errors import UnknownOrder
from venuelink.model import Order, OrderUpdate
from venuelink.order_ledger import S, OrderLedger, _Entry
from venuelink.tasks import cancel_all

log = logging.getLogger("venuelink.orders")


class OrderSync(OrderLedger):
    """The ledger checked against the venue's lists (``OrderManager`` adds placing and canceling)."""

    async def cancel(self, client_order_id: str) -> Order:
        raise NotImplementedError

    async def reconcile(self, symbol: str | None = None) -> None:
        """Re-synchronise with the venue (after a reconnect): open orders, then recent fills since the
        oldest live order was submitted, everything through the idempotent merge.  Live orders the
        venue does not list as open are queried one by one.  Errors fetching the open list or the
        fills propagate (nothing is lost; call again)."""
        cands = [e for e in list(self._entries.values())
                 if not e.order.state.is_final and e.placing is None
                 and (symbol is None or e.order.symbol == symbol)]
        listed: set[int] = set()
        for u in await self._call(self._client.open_orders(symbol)):
            e = self._route(u.client_order_id, u.venue_order_id)
            fresh = e is None
            if e is None:
                e = self._adopt_update(u)
            listed.add(id(e))
            self._apply(e, u, "open", fresh)
        since: dict[str, int] = {}
        for e in cands:
            t = e.submit_wall_ns - self._margin_ns
            since[e.order.symbol] = min(since.get(e.order.symbol, t), t)
        stubs: list[_Entry] = []
        for sym in sorted(since):
            for f in await self._call(self._client.recent_fills(sym, since[sym])):
                e = self._route(f.client_order_id, f.venue_order_id)
                fresh = e is None
                if e is None and self._was_pruned(f.client_order_id, f.venue_order_id):
                    continue                        # counted before it was forgotten
                if e is None:
                    e = self._adopt_fill(f)
                    stubs.append(e)
                self._apply_fill(e, f, "fills", fresh)
        await self._query_each([e for e in cands + stubs if id(e) not in listed], "reconcile")

    async def _query_each(self, entries: list[_Entry], why: str) -> None:
        """Live orders the venue did not list as open: queried (a bounded number at once) and
        their answers merged; a failed query leaves the order to its background reconciler."""
        sem = asyncio.Semaphore(self._concurrency)

        async def resolve(e: _Entry) -> None:
            async with sem:
                if e.order.state.is_final or e.placing is not None:
                    return
                try:
                    u = await self._call(self._client.query(e.order))
                except UnknownOrder:
                    await self._absent(e)
                    return
                except Exception as exc:
                    log.info("%s: query of %s during %s failed (%s)", self.venue.name, e.key, why, exc)
                    e.verify = True
                    self._ensure_reconciler(e)
                    return
                self._apply(e, u, "query")
                await self._backfill(e)
                if self._needs_reconcile(e):
                    self._ensure_reconciler(e)

        if entries:
            await asyncio.gather(*(resolve(e) for e in entries))

    async def audit(self, quiet_s: float) -> int:
        """Check the live orders the venue has said nothing about for ``quiet_s`` against the
        venue: a pushed update can be lost without the stream dropping (the venue skipped it, a
        gateway restarted), and an order would then look resting forever while it filled or was
        canceled. One open-orders request covers them all; the listed ones merge that answer (a
        cumulative fill beyond the fills seen fetches the missing fills), the unlisted ones are
        queried one by one. Nothing is asked when no order is quiet. Returns how many orders were
        checked; ``audit_corrections`` counts those the audit changed (each also logged)."""
        horizon = self._clock() - int(quiet_s * 1e9)
        quiet = [e for e in list(self._entries.values())
                 if e.order.state in (S.NEW, S.PARTIALLY_FILLED) and e.placing is None and not e.amending
                 and e.cancel_under is None and (e.task is None or e.task.done()) and e.heard_ns <= horizon]
        if not quiet:
            return 0
        self.audits += 1
        before = {id(e): self._snap(e.order) for e in quiet}
        symbols = {e.order.symbol for e in quiet}
        listed: set[int] = set()
        for u in await self._call(self._client.open_orders(next(iter(symbols)) if len(symbols) == 1 else None)):
            e = self._route(u.client_order_id, u.venue_order_id)
            if e is None or id(e) not in before:
                continue                    # not quiet: the stream speaks for it
            listed.add(id(e))
            self._apply(e, u, "open")
            await self._backfill(e)
        await self._query_each([e for e in quiet if id(e) not in listed], "audit")
        for e in quiet:
            if self._snap(e.order) != before[id(e)]:
                self.audit_corrections += 1
                log.warning("%s: audit found %s %s (filled %s) after its updates were lost on the stream",
                            self.venue.name, e.key, e.order.state.name, e.order.filled_qty)
        return len(quiet)

    async def cancel_open(self, timeout_s: float, *, stream_s: float = 1.0, retry_s: float = 0.25) -> list[str]:
        """Cancel every order that may be open and check the result with the venue, within
        ``timeout_s``; returns the client ids (``~venue id`` for an order without one) of the
        orders that may still be open at the venue (empty: the venue's open-orders listing,
        taken after the cancels, shows none of them).

        1. A client whose cancels travel on its private stream (``cancels_on_stream``), while
           that stream is up, and a client without a bulk cancel: each open order is cancelled
           the usual way, for at most ``stream_s`` (a silent socket does not hold the rest up).
        2. Per symbol, whatever is not final yet: the client's REST bulk cancel
           (``cancel_all(symbol, orders)``: the venue's cancel-all, or its per-order batches),
           else one cancel per order; then the venue's open orders of that symbol, merged like
           any listing (orders it lists that this manager never placed are adopted, and
           cancelled in the next round). A symbol is settled when the listing shows none open.
        3. Rounds repeat, ``retry_s`` apart, until every symbol is settled or the time is up: a
           failing cancel or listing (socket gone, REST refusing) is tried again meanwhile.

        An order whose place request is still in flight counts as possibly open (the request may
        still land) unless it ended final. Never raises for a venue failure: what could not be
        confirmed is what the returned list names."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(0.0, timeout_s)

        def left() -> float:
            return deadline - loop.time()

        def live(e: _Entry) -> bool:
            return not e.order.state.is_final or e.placing is not None

        cands = [e for e in list(self._entries.values()) if live(e)]
        if not cands:
            return []
        placing = [e.placing for e in cands if e.placing is not None]
        if placing:
            await asyncio.wait(placing, timeout=max(0.0, min(stream_s, left() / 4)))
        tasks: list[asyncio.Task] = []
        bulk = getattr(self._client, "cancel_all", None)
        on_stream = getattr(self._client, "cancels_on_stream", False) and self._client.stream_connected
        if bulk is None or on_stream:
            tasks = [loop.create_task(self._cancel_quietly(e.key), name=f"shutdown-cancel:{e.key}")
                     for e in cands if not e.order.state.is_final]
            if tasks:
                await asyncio.wait(tasks, timeout=max(0.0, min(stream_s, left() / 3)))
        symbols = {e.order.symbol for e in cands}
        settled: set[str] = set()
        rounds = 0
        try:
            while symbols - settled and left() > 0:
                for sym in sorted(symbols - settled):
                    if left() <= 0:
                        break
                    if await self._cancel_symbol(sym, bulk, left(), logging.WARNING if not rounds else logging.INFO):
                        settled.add(sym)
                rounds += 1
                if symbols - settled:
                    await asyncio.sleep(max(0.0, min(retry_s, left())))
            unlisted = [e for e in cands if e.order.symbol in settled and not e.order.state.is_final
                        and e.placing is None]
            if unlisted and left() > 0:     # gone from the venue's list: learn how they ended
                with contextlib.suppress(Exception, asyncio.TimeoutError):
                    await asyncio.wait_for(self._query_each(unlisted, "shutdown"), left())
        finally:
            await cancel_all(tasks)
        out = []
        for e in list(self._entries.values()):
            if e.order.symbol in symbols and e.order.symbol not in settled and live(e):
                out.append(e.order.client_order_id or e.key)
        for e in cands:                     # settled by the listing, but a place may still land
            if e.order.symbol in settled and e.placing is not None and not e.order.state.is_final:
                out.append(e.order.client_order_id or e.key)
        return sorted(set(out))

    async def _cancel_quietly(self, key: str) -> None:
        try:
            await self.cancel(key)
        except Exception as exc:
            log.info("%s: shutdown cancel of %s on the fast path failed (%s)", self.venue.name, key, exc)

    async def _cancel_symbol(self, symbol: str, bulk, budget_s: float, level: int) -> bool:
        """One round for one symbol: cancel what is not final, then list the venue's open orders.
        True when the listing shows none open (every order's outcome then known to the venue)."""
        loop = asyncio.get_running_loop()
        end = loop.time() + budget_s
        pending = [e for e in list(self._entries.values())
                   if e.order.symbol == symbol and not e.order.state.is_final]
        try:
            if pending and bulk is not None:
                for u in await asyncio.wait_for(bulk(symbol, [e.order for e in pending]), max(0.0, end - loop.time())):
                    self._merge_listed(u, "cancel")
            elif pending:
                await asyncio.wait_for(asyncio.gather(*(self._client.cancel(e.order) for e in pending),
                                                      return_exceptions=True), max(0.0, end - loop.time()))
        except Exception as exc:
            log.log(level, "%s: cancelling the open orders of %s at shutdown failed (%s); checking the venue",
                    self.venue.name, symbol, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        try:
            listed = await asyncio.wait_for(self._client.open_orders(symbol), max(0.0, end - loop.time()))
        except Exception as exc:
            log.log(level, "%s: open orders of %s unavailable at shutdown (%s); trying again while time is left",
                    self.venue.name, symbol, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
            return False
        open_ids = {id(self._merge_listed(u, "open")) for u in listed if not u.state.is_final}
        for e in pending:
            if id(e) not in open_ids and not e.order.state.is_final and e.placing is None:
                e.verify = True             # not open at the venue: canceled or filled; a query tells
        return not open_ids

    def _merge_listed(self, u: OrderUpdate, source: str) -> _Entry:
        e = self._route(u.client_order_id, u.venue_order_id)
        fresh = e is None
        if e is None:
            e = self._adopt_update(u)
        self._apply(e, u, source, fresh)
        return e
