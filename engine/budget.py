# SPDX-License-Identifier: Apache-2.0
"""A venue account's rate-limit budget: the VenueSpec buckets in a venuelink.ext.ratelimit.Budget, used
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

A request may carry a send deadline (``SendWindow``, set by the order manager around a place
through ``send_window``): a request the budget cannot admit before it is refused at once with
``BudgetTimeout`` (never sent, never sent late), and the window records whether the request
waited here and when it was admitted, which is when the ack clock of an order starts.

With a state directory (``state_dir``, or the ``VENUELINK_STATE_DIR`` environment variable;
off when neither is set) the usage of every bucket, and any block in force, is written to
``<state_dir>/<venue>-ratelimit.json`` after each change and read back when the next process
builds its budget: a restart inside a venue window starts from what the previous process spent
in it, not from an empty budget (usage of windows that have ended since is dropped).

Buckets have a scope (venuelink.venue.BucketScope). IP, ACCOUNT and ENDPOINT buckets exist from
the start; an INSTRUMENT bucket is one ext bucket per (spec, instrument), made the first time
a request for that instrument names it, and reported as ``name:instrument``.
"""
from __future__ import annotations

import asyncio
import contextlib
import contextvars
import json
import logging
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Mapping

from venuelink.errors import BudgetTimeout, CircuitOpen
from venuelink.venue import BucketScope, BucketSpec, HeaderKind, VenueSpec
from venuelink.ext.clock import now_ns
from venuelink.ext.ratelimit import MAX_BUCKETS, Budget, BucketKind, Cost, Priority

log = logging.getLogger("venuelink.budget")
NS = 1_000_000_000
STATE_DIR_ENV = "VENUELINK_STATE_DIR"
WINDOW_EDGE_S = 0.25        # default: admitted this close to a fixed window's end, counted in the next too
STATE_VERSION = 1


@dataclass(slots=True, eq=False)
class SendWindow:
    """A request's time in the local budget, shared between its sender and the budget.

    ``deadline_ns`` (time.monotonic_ns; 0 for none): the request must be admitted by then or it
    is refused with BudgetTimeout. The budget sets ``queued`` when the request had to wait and
    ``sent_ns`` (time.monotonic_ns) when it was first admitted, and resolves ``admitted`` (a
    future the sender may await) at that moment."""
    deadline_ns: int = 0
    queued: bool = False
    sent_ns: int = 0
    admitted: asyncio.Future | None = None

    @property
    def never_sent(self) -> bool:
        """The request waited in the budget and was never admitted: it did not leave the process."""
        return self.queued and not self.sent_ns

    def mark_sent(self) -> None:
        if not self.sent_ns:
            self.sent_ns = time.monotonic_ns()
        if self.admitted is not None and not self.admitted.done():
            self.admitted.set_result(None)


_send_window: contextvars.ContextVar[SendWindow | None] = contextvars.ContextVar("venuelink_send_window",
                                                                                 default=None)


@contextlib.contextmanager
def send_window(window: SendWindow) -> Iterator[SendWindow]:
    """Requests made in this context (and in tasks created inside it) charge `window`."""
    token = _send_window.set(window)
    try:
        yield window
    finally:
        _send_window.reset(token)


def _count(value: str) -> int | None:
    """A header's non-negative decimal integer, or None."""
    v = value.strip()
    return int(v) if v.isascii() and v.isdigit() and len(v) <= 19 else None


class VenueBudget:
    def __init__(self, spec: VenueSpec, *, headroom: float | None = None, max_wait_s: float = 30.0,
                 state_dir: str | os.PathLike[str] | None = None, window_edge_s: float = WINDOW_EDGE_S) -> None:
        """`state_dir`: where usage is kept across restarts; None takes $VENUELINK_STATE_DIR
        (unset or empty: nothing is kept), "" turns it off. `window_edge_s`: a request admitted
        this close to the end of a fixed window also counts in the next one (the venue counts
        it on arrival), capped at half the window."""
        self.venue = spec.venue
        self.budget = Budget()
        self._headroom = headroom
        self._edge_ns = max(0, int(window_edge_s * NS))
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
        self.deadline_refusals = 0                  # requests refused locally: not admitted by their deadline
        self._bucket_blocks: dict[int, int] = {}    # ext index -> blocked until (wall ns), as we set them
        if state_dir is None:
            state_dir = os.environ.get(STATE_DIR_ENV, "")
        self.state_path: Path | None = (Path(state_dir) / f"{spec.venue.name}-ratelimit.json") if state_dir else None
        self.state_errors = 0                       # state files that could not be read or written
        self.restored: dict[str, int] = {}          # bucket -> usage taken over from the previous process
        self._flush_pending = False
        if self.state_path is not None:
            self._load()

    @property
    def headers(self) -> dict[str, int]:
        """Usage header (lower case) -> bucket index, for the buckets that exist from the start."""
        return {h: i for h, lst in self._headers.items() for _, i in lst if i >= 0}

    def _add(self, name: str, b: BucketSpec) -> int:
        window_ns = int(b.window_s * NS)
        edge = min(self._edge_ns, window_ns // 2) if b.kind == BucketKind.FIXED_WINDOW else 0
        i = self.budget.add_bucket(name, b.kind, b.limit, window_ns,
                                   b.headroom if self._headroom is None else self._headroom, edge)
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
        CircuitOpen, so callers do not queue forever behind a ban). Returns the Cost charged.

        Inside ``send_window``: BudgetTimeout at once when the request cannot be admitted before
        the window's deadline (it is then never sent), and the window learns when it was admitted."""
        cost = self.cost(weights, instrument)
        win = _send_window.get()
        waited = 0.0
        while True:
            if win is not None and win.deadline_ns and time.monotonic_ns() > win.deadline_ns:
                self._refuse_late(win, 0)
            now = now_ns()
            wait = self.budget.acquire(cost, now, priority)
            if wait == 0:
                if win is not None:
                    win.mark_sent()
                self._changed()
                return cost
            if self.budget.blocked_until > now and self.budget.blocked_until - now > self.max_wait_s * NS:
                raise CircuitOpen(f"{self.venue.name}: requests blocked ({self.blocked_reason})",
                                  self.budget.blocked_until)
            if waited + wait / NS > self.max_wait_s:
                raise CircuitOpen(f"{self.venue.name}: rate budget exhausted for {wait / NS:.1f}s", now + wait)
            if win is not None and win.deadline_ns and time.monotonic_ns() + wait > win.deadline_ns:
                self._refuse_late(win, wait)
            if win is not None:
                win.queued = True
            self.waits += 1
            # a little jitter so that many waiters released at a window boundary do not burst
            delay = wait / NS + random.uniform(0, 0.005)
            waited += delay
            await asyncio.sleep(delay)

    def _refuse_late(self, win: SendWindow, wait_ns: int) -> None:
        win.queued = True                   # it was held here and is not sent: never_sent holds
        self.deadline_refusals += 1
        why = f" (next admission in {wait_ns / NS:.2f}s)" if wait_ns else ""
        raise BudgetTimeout(f"{self.venue.name}: the local rate budget could not send the request before "
                            f"its deadline{why}; not sent", now_ns() + wait_ns)

    def sync_headers(self, headers: Mapping[str, str], cost: Cost | None = None) -> None:
        """Fold the venue's usage headers in. IP/ACCOUNT buckets take their header from any
        answer; ENDPOINT/INSTRUMENT buckets only from the answer to a request charged to
        them (`cost`, as returned by acquire)."""
        if not self._headers:
            return
        charged = {i for i, _ in cost.items()} if cost is not None else set()
        now = now_ns()
        self._changed()
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
            self._block_bucket(idx, reset_ns)

    def _bad_header(self, b: BucketSpec, header: str, value: str) -> None:
        self.header_errors += 1
        log.warning("%s: unusable rate-limit header %s=%r (bucket %s), ignored",
                    self.venue.name, header, value[:40], b.name)

    def block(self, seconds: float, reason: str) -> None:
        self.blocked_reason = reason
        self.budget.block_until(now_ns() + int(seconds * NS))
        self._changed()

    def rate_refused(self, cost: Cost | None, retry_after_s: float, reason: str, *,
                     buckets_only: bool = False) -> None:
        """The venue refused a request for rate reasons. With its retry time, every lane waits
        that long, unless the refusal was one limit's (``buckets_only``: Bybit's per-endpoint
        10006 with its reset time): then only the buckets the request was charged to wait, until
        then. Without a time (OKX's 50011, Bybit's 10006 without headers), the buckets the
        refused request was charged to wait out their own window -- the only time the venue's
        counter is sure to have moved on -- and the other buckets (cancels, other instruments)
        stay open. A request charged to no bucket blocks everything for one second."""
        self.rate_refusals += 1
        charged = cost is not None and len(cost)
        if (retry_after_s > 0 and not (buckets_only and charged)) or not charged:
            self.block(retry_after_s if retry_after_s > 0 else 1.0, reason)
            return
        now = now_ns()
        self.blocked_reason = reason
        for idx, _w in cost.items():
            wait_s = retry_after_s if retry_after_s > 0 else self._owner[idx].window_s
            self._block_bucket(idx, now + int(wait_s * NS))

    def _block_bucket(self, idx: int, until_ns: int) -> None:
        self.budget.block_bucket(idx, until_ns)
        self._bucket_blocks[idx] = max(until_ns, self._bucket_blocks.get(idx, 0))
        self._changed()

    def utilization(self) -> dict[str, float]:
        """Bucket name -> used / limit; per-instrument buckets as ``name:instrument``."""
        now = now_ns()
        return {name: self.budget.utilization(i, now) for name, i in self.index.items()}

    # ------------------------------------------------------------------ kept across restarts

    def _changed(self) -> None:
        """Usage or blocks changed: write the state file once the current loop step is over
        (one write however many requests were charged in it), at once without a loop."""
        if self.state_path is None or self._flush_pending:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            self.save()
            return
        self._flush_pending = True
        loop.call_soon(self.save)

    def save(self) -> None:
        """Write the usage of every bucket and the blocks in force to the state file (atomically:
        a reader sees the previous file or this one). Does nothing without a state directory."""
        self._flush_pending = False
        path = self.state_path
        if path is None:
            return
        now = now_ns()
        buckets = {}
        for i, name in enumerate(self.budget.names):
            used = self.budget.used(i, now)
            until = self._bucket_blocks.get(i, 0)
            if used > 0 or until > now:
                b = self._owner[i]
                buckets[name] = {"used": used, "kind": int(b.kind), "window_ns": int(b.window_s * NS),
                                 "limit": b.limit, "blocked_until_ns": until if until > now else 0}
        state = {"version": STATE_VERSION, "venue": self.venue.name, "saved_ns": now,
                 "blocked_until_ns": self.budget.blocked_until if self.budget.blocked_until > now else 0,
                 "blocked_reason": self.blocked_reason, "buckets": buckets}
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w") as f:
                json.dump(state, f, separators=(",", ":"))
            os.replace(tmp, path)
        except OSError as e:
            self.state_errors += 1
            if self.state_errors == 1:
                log.warning("%s: cannot write the rate budget state %s: %s", self.venue.name, path, e)

    def _load(self) -> None:
        """Take over what the previous process spent in the windows that are still current."""
        path = self.state_path
        assert path is not None
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            return
        except (OSError, ValueError) as e:
            self.state_errors += 1
            log.warning("%s: rate budget state %s unreadable (%s); starting without it", self.venue.name, path, e)
            return
        self._flush_pending = True          # nothing is written back while the old state is read
        try:
            self._restore(state)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            self.state_errors += 1
            log.warning("%s: rate budget state %s malformed (%s); starting without it", self.venue.name, path, e)
        finally:
            self._flush_pending = False
        if self.restored:
            log.info("%s: rate budget takes over the usage of the previous process: %s", self.venue.name,
                     ", ".join(f"{k}={v}" for k, v in self.restored.items()))

    def _restore(self, state: dict) -> None:
        if state.get("version") != STATE_VERSION or state.get("venue") != self.venue.name:
            return
        now = now_ns()
        saved = int(state["saved_ns"])
        if saved > now:                 # written "in the future": our clock is behind; trust it as now
            saved = now
        blocked = int(state.get("blocked_until_ns") or 0)
        if blocked > now:
            self.blocked_reason = f"{state.get('blocked_reason') or 'blocked'} (before a restart)"
            self.budget.block_until(blocked)
        for name, d in state["buckets"].items():
            base, _, instrument = name.partition(":")
            b = self.specs.get(base)
            window = int(d["window_ns"])
            if b is None or int(b.kind) != int(d["kind"]) or int(b.window_s * NS) != window:
                continue                # the venue's limits changed since: nothing to take over
            if (b.scope == BucketScope.INSTRUMENT) != bool(instrument):
                continue
            try:
                idx = self._bucket(b, instrument or None)
            except ValueError:
                continue
            until = int(d.get("blocked_until_ns") or 0)
            if until > now:
                self._block_bucket(idx, until)
            used = int(d["used"])
            if b.kind == BucketKind.FIXED_WINDOW:
                left = used if now // window == saved // window else 0     # the same window
            elif b.kind == BucketKind.SLIDING_WINDOW:
                left = used if now < saved + window else 0                 # counted as if charged now
            else:                                                          # token bucket: what has not drained
                left = math.ceil(used - (now - saved) * b.limit / window)
            if left > 0:
                self.budget.sync(idx, left, now)
                self.restored[name] = left
