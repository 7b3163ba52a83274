# SPDX-License-Identifier: Apache-2.0
"""A venue account's rate-limit budget: the VenueSpec buckets in an ext.ratelimit.Budget, used
by every REST request before it leaves the host.

Times passed to the Budget come from clock.now_ns() (CLOCK_REALTIME), because fixed windows
are aligned to the clock the Budget is fed and the venues align theirs to the wall clock:
Binance's weight per minute resets on the minute. A wall clock stepped backwards cannot make
the budget hand out capacity twice: the Budget never lets its time go backwards. Waits are
durations, so sleeping them on the event loop's monotonic clock is fine.

The venue's usage headers are folded in (the larger of local and reported usage wins; a
"remaining" header is turned into usage first), and 429/418 (or the venue's rate-limit code
in a 200 body) block every lane until Retry-After has passed; a refusal without a retry time
blocks the buckets the refused request was charged to for their window (``rate_refused``).

Buckets have a scope (engine.venue.BucketScope). IP, ACCOUNT and ENDPOINT buckets exist from
the start; an INSTRUMENT bucket is one ext bucket per (spec, instrument), made the first time
a request for that instrument names it, and reported as ``name:instrument``.
"""
from __future__ import annotations

import asyncio
import logging
import random
from typing import Mapping

from engine.errors import CircuitOpen
from engine.venue import BucketScope, BucketSpec, HeaderKind, VenueSpec
from ext.clock import now_ns
from ext.ratelimit import MAX_BUCKETS, Budget, Cost, Priority

log = logging.getLogger("venuelink.budget")
NS = 1_000_000_000


def _count(value: str) -> int | None:
    """A header's non-negative decimal integer, or None."""
    v = value.strip()
    return int(v) if v.isascii() and v.isdigit() and len(v) <= 19 else None


class VenueBudget:
    def __init__(self, spec: VenueSpec, *, headroom: float | None = None, max_wait_s: float = 30.0) -> None:
        self.venue = spec.venue
        self.budget = Budget()
        self._headroom = headroom
        self.specs: dict[str, BucketSpec] = {}
        self.index: dict[str, int] = {}             # bucket name (name:instrument) -> ext index
        self._owner: list[BucketSpec] = []          # ext index -> its spec
        self._per_instrument: dict[tuple[str, str], int] = {}
        # header (lower case) -> [(spec, index or -1 for an INSTRUMENT spec)]
        self._headers: dict[str, list[tuple[BucketSpec, int]]] = {}
        for b in spec.buckets:
            if not b.name or ":" in b.name:
                raise ValueError(f"{spec.venue.name}: bucket name {b.name!r} must be non-empty "
                                 f"and without ':'")
            if b.name in self.specs:
                raise ValueError(f"{spec.venue.name}: duplicate bucket {b.name!r}")
            self.specs[b.name] = b
            i = -1
            if b.scope != BucketScope.INSTRUMENT:
                i = self._add(b.name, b)
            if b.header:
                self._headers.setdefault(b.header.lower(), []).append((b, i))
        self.max_wait_s = max_wait_s
        self._costs: dict[tuple, Cost] = {}
        self.waits = 0                              # requests that had to wait for budget
        self.header_errors = 0                      # usage headers that could not be used
        self.blocked_reason = ""
        self.rate_refusals = 0                      # requests the venue refused for rate reasons

    @property
    def headers(self) -> dict[str, int]:
        """Usage header (lower case) -> bucket index, for the buckets that exist from the start."""
        return {h: i for h, lst in self._headers.items() for _, i in lst if i >= 0}

    def _add(self, name: str, b: BucketSpec) -> int:
        i = self.budget.add_bucket(name, b.kind, b.limit, int(b.window_s * NS),
                                   b.headroom if self._headroom is None else self._headroom)
        self.index[name] = i
        self._owner.append(b)
        return i

    def _bucket(self, b: BucketSpec, instrument: str | None) -> int:
        if b.scope != BucketScope.INSTRUMENT:
            return self.index[b.name]
        if not instrument:
            raise ValueError(f"{self.venue.name}: bucket {b.name!r} is per instrument: "
                             f"the request must name its instrument")
        i = self._per_instrument.get((b.name, instrument))
        if i is None:
            if len(self.budget) >= MAX_BUCKETS:
                raise ValueError(f"{self.venue.name}: no room for bucket {b.name}:{instrument} "
                                 f"(at most {MAX_BUCKETS} buckets per venue account)")
            i = self._per_instrument[(b.name, instrument)] = self._add(f"{b.name}:{instrument}", b)
        return i

    def cost(self, weights: Mapping[str, int], instrument: str | None = None) -> Cost:
        """The Cost of a request with these weights (bucket name -> weight), cached.

        ValueError for a weight naming a bucket the spec does not have, or naming a
        per-instrument bucket without `instrument`."""
        key = (tuple(sorted(weights.items())), instrument)
        c = self._costs.get(key)
        if c is None:
            pairs = []
            uses_instrument = False
            for n, w in key[0]:
                b = self.specs.get(n)
                if b is None:
                    raise ValueError(f"{self.venue.name}: weight for unknown rate-limit bucket {n!r} "
                                     f"(buckets: {', '.join(self.specs) or 'none'})")
                uses_instrument |= b.scope == BucketScope.INSTRUMENT
                pairs.append((self._bucket(b, instrument), w))
            c = self.budget.make_cost(pairs)
            if not uses_instrument and instrument is not None:
                # the instrument changes nothing: share the entry of the instrument-free key
                c = self._costs.setdefault((key[0], None), c)
            self._costs[key] = c
        return c

    async def acquire(self, weights: Mapping[str, int], priority: Priority, *,
                      instrument: str | None = None) -> Cost:
        """Wait until the request fits every bucket (never longer than max_wait_s: then
        CircuitOpen, so callers do not queue forever behind a ban). Returns the Cost charged."""
        cost = self.cost(weights, instrument)
        waited = 0.0
        while True:
            now = now_ns()
            wait = self.budget.acquire(cost, now, priority)
            if wait == 0:
                return cost
            if self.budget.blocked_until > now and self.budget.blocked_until - now > self.max_wait_s * NS:
                raise CircuitOpen(f"{self.venue.name}: requests blocked ({self.blocked_reason})",
                                  self.budget.blocked_until)
            if waited + wait / NS > self.max_wait_s:
                raise CircuitOpen(f"{self.venue.name}: rate budget exhausted for {wait / NS:.1f}s", now + wait)
            self.waits += 1
            # a little jitter so that many waiters released at a window boundary do not burst
            delay = wait / NS + random.uniform(0, 0.005)
            waited += delay
            await asyncio.sleep(delay)

    def sync_headers(self, headers: Mapping[str, str], cost: Cost | None = None) -> None:
        """Fold the venue's usage headers in. IP/ACCOUNT buckets take their header from any
        answer; ENDPOINT/INSTRUMENT buckets only from the answer to a request charged to
        them (`cost`, as returned by acquire)."""
        if not self._headers:
            return
        charged = {i for i, _ in cost.items()} if cost is not None else set()
        now = now_ns()
        for name, targets in self._headers.items():
            v = headers.get(name)
            if v is None:
                continue
            for b, idx in targets:
                if b.scope in (BucketScope.IP, BucketScope.ACCOUNT):
                    self._sync_one(b, idx, name, v, headers, now)
                else:
                    for i in charged:
                        if self._owner[i] is b:
                            self._sync_one(b, i, name, v, headers, now)

    def _sync_one(self, b: BucketSpec, idx: int, header: str, value: str,
                  headers: Mapping[str, str], now: int) -> None:
        n = _count(value)
        if n is None:
            self._bad_header(b, header, value)
            return
        # REMAINING: what is left of the spec's limit (a venue answering more than the limit
        # has raised it for this account: nothing of ours is used then)
        used = n if b.header_kind == HeaderKind.USED else max(0, b.limit - n)
        try:
            self.budget.sync(idx, used, now)
        except ValueError:                      # beyond what a bucket can count
            self._bad_header(b, header, value)
            return
        if used < b.limit or not b.reset_header:
            return
        raw = headers.get(b.reset_header)
        if raw is None:
            return
        ms = _count(raw)
        reset_ns = ms * 1_000_000 if ms is not None else -1
        if ms is None or reset_ns > now + int((b.window_s + 60) * NS):
            self._bad_header(b, b.reset_header, raw)   # not a time within one window (+ skew)
        elif reset_ns > now:
            self.budget.block_bucket(idx, reset_ns)

    def _bad_header(self, b: BucketSpec, header: str, value: str) -> None:
        self.header_errors += 1
        log.warning("%s: unusable rate-limit header %s=%r (bucket %s), ignored",
                    self.venue.name, header, value[:40], b.name)

    def block(self, seconds: float, reason: str) -> None:
        self.blocked_reason = reason
        self.budget.block_until(now_ns() + int(seconds * NS))

    def rate_refused(self, cost: Cost | None, retry_after_s: float, reason: str) -> None:
        """The venue refused a request for rate reasons. With its retry time, every lane waits
        that long. Without one (OKX's 50011, Bybit's 10006 without headers), the buckets the
        refused request was charged to wait out their own window -- the only time the venue's
        counter is sure to have moved on -- and the other buckets (cancels, other instruments)
        stay open. A request charged to no bucket blocks everything for one second."""
        self.rate_refusals += 1
        if retry_after_s > 0 or cost is None or not len(cost):
            self.block(retry_after_s if retry_after_s > 0 else 1.0, reason)
            return
        now = now_ns()
        self.blocked_reason = reason
        for idx, _w in cost.items():
            self.budget.block_bucket(idx, now + int(self._owner[idx].window_s * NS))

    def utilization(self) -> dict[str, float]:
        """Bucket name -> used / limit; per-instrument buckets as ``name:instrument``."""
        now = now_ns()
        return {name: self.budget.utilization(i, now) for name, i in self.index.items()}
