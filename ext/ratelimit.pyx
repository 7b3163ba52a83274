# SPDX-License-Identifier: Apache-2.0
# cython: auto_pickle=False
"""Rate-limit budget accounting for one venue account.

A ``Budget`` holds up to 1024 buckets (one per venue limit: request weight per minute, orders
per 10 s, orders per day, a Kraken-style decaying counter, one per instrument for per-pair
limits, ...) in a C array that ``add_bucket`` grows (setup, never on the acquire path).
A request's cost is a small ``Cost`` (up to 16 bucket index -> weight pairs in C arrays,
built once by ``Budget.make_cost``). ``acquire(cost, now_ns, priority)`` answers 0 ("go", and the weights
are charged to every bucket of the cost, all or nothing) or the number of ns to wait before
the request would be admitted. Nothing here reads a clock: every call takes ``now_ns`` from
the caller's clock, which keeps the tests deterministic. Fixed windows are aligned to that
clock, so a caller that must match the venue's windows passes wall-clock ns
(``clock.now_ns()``, CLOCK_REALTIME, as engine/budget.py does). Time never moves
backwards inside a Budget: a ``now_ns`` earlier than the latest one seen is treated as that
latest time (and a returned wait is still measured from the caller's ``now_ns``), so a
wall clock stepped backwards only freezes the budget's time until the clock catches up.
Valid times are 0 <= now_ns <= 2**62.

Bucket kinds
------------
FIXED_WINDOW
    Windows aligned to the clock: a window starts at ``now - now % window_ns`` (Binance
    REQUEST_WEIGHT 1m resets at minute boundaries; ORDERS 10s / 1d likewise). A refused
    request waits until the next window boundary.
SLIDING_WINDOW
    Usage = weights charged in the last ``window_ns``, kept in a ring of sub-slots:
    ``slot_ns = ceil(window_ns / 64)`` (64 slots per window, so granularity is window/64:
    937.5 ms for 1 min, 156.25 ms for 10 s) and slot ``j`` covers
    ``[j*slot_ns, (j+1)*slot_ns)`` on the caller's clock. At time ``now`` (slot
    ``q = now // slot_ns``) the usage is the sum of slots ``q-64 .. q`` (65 ring entries).
    A charge made at ``t`` therefore counts until the boundary ``(t // slot_ns + 65) *
    slot_ns``: between ``window_ns`` and ``window_ns + slot_ns`` (+ the rounding of
    ``slot_ns``) after it was made, never less. The ring is conservative: it never
    under-counts a true sliding window, at the price of admitting up to one slot later.
    This quantized definition *is* the semantics (the reference twin implements the same
    rule with an event list), so the differential tests compare exactly.
TOKEN_BUCKET
    Decaying counter (Kraken): the counter drains at ``limit / window_ns`` per ns and a
    request is admitted while counter + weight <= capacity. The counter is kept exactly as
    an integer scaled by the reduced denominator of that rate (128-bit), so drains and waits
    are exact (no float drift); ``used()`` reports the counter rounded up.

Window edges
------------
A venue counts a request in the window in which it *arrives*; the budget charges it when it
is admitted, some transit time earlier. A request admitted just before a fixed window's
boundary can arrive after it, so a venue may see the end of one window's full lane and the
next window's full lane in the same window of its own. ``edge_ns`` closes that gap: a charge
made in the last ``edge_ns`` of a window counts in that window and again in the next one.
Set it to the longest expected transit (send queue + network + the clocks' offset).

Headroom and priority lanes
---------------------------
Effective limit = ``floor(limit * (1 - headroom))`` (default headroom 0.15, 0 allowed, must
be in [0, 1)). Headroom and lane shares are taken in parts per million (``round(x * 1e6)``)
so the arithmetic is integer and identical in the reference twin: 0.15 -> 150000 ppm exactly.

A request of priority P may only bring a bucket's usage up to
``lane_cap[P] = floor(effective_limit * share[P])``; defaults CANCEL 1.0, NEW_ORDER 0.9,
QUERY 0.8, SNAPSHOT 0.6 (``set_lane_shares``). So the top 40% of every bucket can only be
used by queries/orders/cancels, the top 10% only by cancels: a burst of snapshots can never
eat the capacity that cancels need. The lanes are caps on the shared usage, not separate
pools: a cancel sees everything the other lanes used. A weight above a bucket's cap for its
lane can never be admitted and raises ValueError (make_cost checks against the largest lane
cap, acquire against the request's lane) instead of returning an endless wait.

Waits
-----
With no other traffic every bucket's usage only falls over time, so each bucket has an
earliest admitting time T_b (fixed: next window start; sliding: the first slot boundary at
which enough old slots have left; token: ``now + ceil(excess / drain_rate)``). The wait
returned is ``max(blocked_until, max_b max(T_b, not_before_b)) - now``: exact, i.e. acquire at now+wait-1 is
refused and at now+wait admitted if nothing else happens in between.

Bans
----
``block_until(t)`` (after a 429/418 with Retry-After) blocks *every* lane, cancels
included: a venue ban rejects cancels too, and sending them would only extend it. It never
shortens an active block; ``unblock()`` clears it. ``block_bucket(idx, t)`` does the same for
one bucket (the venue reported that bucket exhausted until its reset time t): requests
charging it wait for t, others are unaffected; ``unblock()`` clears these too.

Tickets
-------
``reserve`` charges like ``acquire`` and returns a ticket; ``commit`` keeps the charge and
``refund(ticket, now)`` gives the weights back (request never left the host). A refund only
affects the window the charge was made in: fixed -> only while still in the same window;
sliding -> only while the charge's slot is still counted; token bucket -> only the part of
the charge that has not drained yet, ``w - (now - t_charge) * rate`` (assumes the refunded
charge drained first, which can only over-count). Tickets live in a 256-entry ring: a
ticket not resolved before 256 newer reservations is implicitly committed, and
commit/refund of an unknown, resolved or overwritten ticket returns False.

Sync
----
``sync(idx, reported, now)`` merges the venue's own usage figure (e.g. X-MBX-USED-WEIGHT-1M)
for its current window: usage becomes ``max(local, reported)``, never lower. For a sliding
window the difference is charged to the current slot (it then ages out like a charge made
now); for a token bucket the counter is raised to ``reported``.

C API: see ratelimit.pxd (``try_acquire`` etc., noexcept nogil, negative RL_E* codes instead
of exceptions). A Budget is not thread-safe: nogil callers must serialize access themselves.
A Cost only holds indices and weights, so it may be used with any Budget whose buckets have
the same layout; indices and lane caps are checked on every acquire.
"""
cimport cython
from libc.string cimport memset, memcpy
from libc.stdint cimport int64_t, uint64_t, int32_t, uint32_t, uint16_t, uint8_t
from venuelink.ext.clock cimport mono_ns

from cpython.long cimport PyLong_AsLong
from cpython.exc cimport PyErr_Occurred
from cpython.mem cimport PyMem_Realloc, PyMem_Free

import operator
from math import gcd as _gcd

cdef extern from "vl_common.h" nogil:
    bint VL_LIKELY(bint)
    bint VL_UNLIKELY(bint)

cdef int64_t PPM = 1000000

__all__ = ["Budget", "Cost", "BucketKind", "Priority", "MAX_BUCKETS", "MAX_COST_ITEMS", "SLOTS_PER_WINDOW",
           "TICKETS", "MAX_TIME", "MAX_LIMIT", "MAX_WINDOW", "DEFAULT_LANE_SHARES"]

MAX_BUCKETS = RL_MAX_BUCKETS
MAX_COST_ITEMS = RL_MAX_COST
SLOTS_PER_WINDOW = RL_SLOTS
TICKETS = RL_TICKETS
MAX_TIME = RL_MAX_TIME
MAX_LIMIT = RL_MAX_LIMIT
MAX_WINDOW = RL_MAX_WINDOW
DEFAULT_LANE_SHARES = {Priority.CANCEL: 1.0, Priority.NEW_ORDER: 0.9,
                       Priority.QUERY: 0.8, Priority.SNAPSHOT: 0.6}


# ---------------------------------------------------------------------------------------------
# Per-bucket kernels (all inline, no GIL). `now` is already clamped (never decreases).

cdef inline void _advance(rl_bucket* b, int64_t now) noexcept nogil:
    """Bring the bucket's state forward to `now` (window roll, slot expiry, drain)."""
    cdef int64_t qn, steps, j
    cdef int32_t e
    cdef vl_i128 d
    if b.kind == FIXED_WINDOW:
        if now >= b.win_end:
            if now < b.win_end + b.window_ns:
                b.win_start = b.win_end
                b.used = b.carry                          # charges made at the old window's edge
            else:
                b.win_start = now - now % b.window_ns
                b.used = 0
            b.win_end = b.win_start + b.window_ns
            b.carry = 0
    elif b.kind == SLIDING_WINDOW:
        if now >= b.slot_end:
            if now < b.slot_end + b.slot_ns:
                qn = b.q + 1
            else:
                qn = now // b.slot_ns
            steps = qn - b.q
            if steps >= RL_RING:
                memset(b.ring, 0, sizeof(b.ring))
                b.used = 0
                e = <int32_t>(qn % RL_RING)
            else:
                # Slot q+k enters at the ring entry of slot q+k-65, which leaves.
                e = b.cur
                for j in range(steps):
                    e += 1
                    if e == RL_RING:
                        e = 0
                    b.used -= b.ring[e]
                    b.ring[e] = 0
            b.cur = e
            b.q = qn
            b.slot_end = (qn + 1) * b.slot_ns
    else:
        if now > b.t0:
            if b.level > 0:
                d = <vl_i128>(now - b.t0) * b.rate_num
                if b.level > d:
                    b.level -= d
                else:
                    b.level = 0
            b.t0 = now


cdef inline int64_t _fit_at(rl_bucket* b, int64_t w, int64_t now, int lane) noexcept nogil:
    """Earliest time >= now at which weight w fits lane `lane` with no other traffic.

    Requires w <= b.cap[lane] (else the loop below has no answer) and _advance(b, now) done.
    """
    cdef int64_t need, dropped
    cdef int32_t e, m
    cdef vl_i128 x
    if b.kind == TOKEN_BUCKET:
        x = b.level + <vl_i128>w * b.rate_den - b.capb[lane]
        if x <= 0:
            return now
        x = (x + b.rate_num - 1) // b.rate_num           # ns of drain needed, rounded up
        if x > RL_MAX_TIME - 1:
            x = RL_MAX_TIME - 1
        return now + <int64_t>x
    need = b.used + w - b.cap[lane]
    if VL_LIKELY(need <= 0):
        return now
    if b.kind == FIXED_WINDOW:
        # The next window opens with the carry of this one's edge; past it, nothing is counted.
        return b.win_end if b.carry + w <= b.cap[lane] else b.win_end + b.window_ns
    # Sliding: walk from the oldest counted slot (q-64) forward; slot q-64+m stops counting
    # at (q+m+1)*slot_ns. Stop at the first boundary where enough weight has left.
    e = b.cur
    dropped = 0
    for m in range(RL_RING):
        e += 1
        if e == RL_RING:
            e = 0
        dropped += b.ring[e]
        if dropped >= need:
            return (b.q + m + 1) * b.slot_ns
    return (b.q + RL_RING + 1) * b.slot_ns                 # unreachable when w <= cap


cdef inline void _charge(rl_bucket* b, int64_t w, int64_t now) noexcept nogil:
    if b.kind == TOKEN_BUCKET:
        b.level += <vl_i128>w * b.rate_den
    elif b.kind == SLIDING_WINDOW:
        b.ring[b.cur] += w
        b.used += w
    else:
        b.used += w
        if now >= b.win_end - b.edge_ns:
            b.carry += w


cdef inline void _refund(rl_bucket* b, int64_t w, int64_t t, int64_t now) noexcept nogil:
    """Give back weight w charged at time t (<= now); _advance(b, now) done."""
    cdef int64_t qc, r
    cdef int32_t e
    cdef vl_i128 x
    if b.kind == FIXED_WINDOW:
        if t >= b.win_start:                                 # same window as the charge
            b.used = b.used - w if b.used > w else 0
            if t >= b.win_end - b.edge_ns:                   # ... and carried into the next
                b.carry = b.carry - w if b.carry > w else 0
        elif t >= b.win_start - b.edge_ns:                   # the last window's edge: carried here
            b.used = b.used - w if b.used > w else 0
    elif b.kind == SLIDING_WINDOW:
        qc = t // b.slot_ns
        if qc >= b.q - RL_SLOTS:                             # its slot is still counted
            e = <int32_t>(qc % RL_RING)
            r = w if w < b.ring[e] else b.ring[e]
            b.ring[e] -= r
            b.used -= r
    else:
        x = <vl_i128>w * b.rate_den - <vl_i128>(now - t) * b.rate_num   # undrained part
        if x > 0:
            if b.level > x:
                b.level -= x
            else:
                b.level = 0


cdef inline int64_t _used(rl_bucket* b) noexcept nogil:
    if b.kind == TOKEN_BUCKET:
        return <int64_t>((b.level + b.rate_den - 1) // b.rate_den)
    return b.used


# ---------------------------------------------------------------------------------------------

@cython.final
cdef class Cost:
    """A request's weights per bucket, validated and merged (build with Budget.make_cost)."""

    def __len__(self):
        return self.n

    def items(self):
        """The (bucket_index, weight) pairs, zero weights dropped, duplicates summed."""
        return [(<int>self.idx[k], self.w[k]) for k in range(self.n)]

    def __repr__(self):
        return f"Cost({self.items()!r})"


cdef str _lane_name(int p):
    try:
        return Priority(p).name
    except ValueError:
        return str(p)


@cython.final
cdef class Budget:
    """Rate-limit budget of one venue account (see the module docstring for the model)."""

    def __cinit__(self):
        memset(self.tickets, 0, sizeof(self.tickets))
        self.b = NULL
        self.n = 0
        self.cap = 0
        self.blocked_until = 0
        self.last_now = 0
        self.next_ticket = 1
        self.share_ppm[0] = 0
        self.share_ppm[<int>CANCEL] = 1000000
        self.share_ppm[<int>NEW_ORDER] = 900000
        self.share_ppm[<int>QUERY] = 800000
        self.share_ppm[<int>SNAPSHOT] = 600000
        self._names = []

    def __dealloc__(self):
        PyMem_Free(self.b)
        self.b = NULL

    # ----------------------------------------------------------------------- setup (Python)

    def add_bucket(self, str name, kind, limit, window_ns, headroom=0.15, edge_ns=0):
        """Add a bucket; returns its index. Setup only (not thread-safe vs. acquire).

        ``edge_ns`` (FIXED_WINDOW only, 0 <= edge_ns < window_ns): a charge made in the last
        edge_ns of a window also counts in the next window (see "Window edges")."""
        if self.n >= RL_MAX_BUCKETS:
            raise ValueError(f"at most {RL_MAX_BUCKETS} buckets per Budget")
        if not name:
            raise ValueError("bucket name must be a non-empty string")
        if name in self._names:
            raise ValueError(f"duplicate bucket name {name!r}")
        k = operator.index(kind)
        if k not in (FIXED_WINDOW, SLIDING_WINDOW, TOKEN_BUCKET):
            raise ValueError(f"unknown bucket kind {kind!r}")
        limit = operator.index(limit)
        window_ns = operator.index(window_ns)
        if not 1 <= limit <= RL_MAX_LIMIT:
            raise ValueError(f"limit must be in [1, 2**40], got {limit}")
        if not 1 <= window_ns <= RL_MAX_WINDOW:
            raise ValueError(f"window_ns must be in [1, 2**53], got {window_ns}")
        h = float(headroom)
        if not 0.0 <= h < 1.0:
            raise ValueError(f"headroom must be in [0, 1), got {headroom!r}")
        edge_ns = operator.index(edge_ns)
        if edge_ns and k != FIXED_WINDOW:
            raise ValueError(f"edge_ns applies to FIXED_WINDOW buckets only, got {edge_ns} for kind {kind!r}")
        if not 0 <= edge_ns < window_ns:
            raise ValueError(f"edge_ns must be in [0, window_ns), got {edge_ns}")
        cdef int64_t h_ppm = round(h * 1_000_000)
        cdef int i = self.n
        cdef int32_t cap
        cdef rl_bucket* grown
        if i == self.cap:
            # Grow geometrically; pointers into the array are never kept across calls.
            cap = 4 if self.cap == 0 else min(2 * self.cap, <int32_t>RL_MAX_BUCKETS)
            grown = <rl_bucket*>PyMem_Realloc(self.b, cap * sizeof(rl_bucket))
            if grown == NULL:
                raise MemoryError()
            self.b = grown
            self.cap = cap
        cdef rl_bucket* b = &self.b[i]
        memset(b, 0, sizeof(rl_bucket))
        b.kind = <int32_t>k
        b.limit = limit
        b.window_ns = window_ns
        b.eff = b.limit * (PPM - h_ppm) // PPM
        # FIXED: win_end = 0 so the first advance opens the window containing now.
        b.win_start = 0
        b.win_end = 0
        b.edge_ns = edge_ns
        b.carry = 0
        # SLIDING: current slot -1 (ring entry 64), so the first advance moves to now's slot.
        b.slot_ns = (b.window_ns + RL_SLOTS - 1) // RL_SLOTS
        b.q = -1
        b.cur = RL_RING - 1
        b.slot_end = 0
        # TOKEN: limit / window reduced to rate_num / rate_den.
        g = _gcd(limit, window_ns)
        b.rate_num = limit // g
        b.rate_den = window_ns // g
        b.t0 = 0
        b.level = 0
        self._recompute_caps(i)
        self._names.append(name)
        self.n += 1
        return i

    def set_lane_shares(self, shares):
        """Update lane shares from a mapping {Priority: share in [0, 1]} (others unchanged)."""
        items = shares.items() if hasattr(shares, "items") else shares
        new = {}
        for p, s in items:
            p = operator.index(p)
            if not 1 <= p <= 4:
                raise ValueError(f"unknown priority {p}")
            s = float(s)
            if not 0.0 <= s <= 1.0:
                raise ValueError(f"lane share must be in [0, 1], got {s!r}")
            new[p] = round(s * 1_000_000)
        for p, ppm in new.items():
            self.share_ppm[<int>p] = <uint32_t>ppm
        for i in range(self.n):
            self._recompute_caps(i)

    @property
    def lane_shares(self):
        cdef int p
        return {Priority(p): self.share_ppm[p] / 1e6 for p in range(1, RL_NLANES)}

    def make_cost(self, items):
        """Build a Cost from (bucket_index, weight) pairs (or a mapping index -> weight).

        Duplicate indices are summed and zero weights dropped. ValueError for an unknown
        index, a negative weight, a weight above the bucket's largest lane capacity (it
        could never be admitted), or more than MAX_COST_ITEMS buckets.
        """
        pairs = items.items() if hasattr(items, "items") else items
        merged = {}
        for pair in pairs:
            i, w = pair
            i = operator.index(i)
            w = operator.index(w)
            self._check_index(i)
            if w < 0:
                raise ValueError(f"negative weight {w} for bucket {i}")
            merged[i] = merged.get(i, 0) + w
        if sum(1 for w in merged.values() if w) > RL_MAX_COST:
            raise ValueError(f"a cost may charge at most {RL_MAX_COST} buckets, got "
                             f"{sum(1 for w in merged.values() if w)}")
        cdef Cost c = Cost.__new__(Cost)
        cdef int64_t top
        cdef int p
        c.n = 0
        for i, w in merged.items():
            if w == 0:
                continue
            top = 0
            for p in range(1, 5):
                if self.b[<int>i].cap[p] > top:
                    top = self.b[<int>i].cap[p]
            if w > top:
                raise ValueError(
                    f"weight {w} exceeds the capacity {top} of bucket {self._names[i]!r} "
                    f"(limit {self.b[<int>i].limit}, headroom and lane shares applied): "
                    f"it could never be admitted")
            c.idx[c.n] = <uint16_t>i
            c.w[c.n] = w
            c.n += 1
        return c

    # ---------------------------------------------------------------------- introspection

    def __len__(self):
        return self.n

    @property
    def names(self):
        return tuple(self._names)

    def index(self, str name):
        """Index of the bucket called `name` (ValueError if none)."""
        try:
            return self._names.index(name)
        except ValueError:
            raise ValueError(f"no bucket named {name!r}") from None

    def effective_limit(self, idx):
        """floor(limit * (1 - headroom)) of bucket idx."""
        cdef int i = self._check_index(idx)
        return self.b[i].eff

    def lane_capacity(self, idx, priority):
        """Usage ceiling of bucket idx for requests of `priority`."""
        cdef int i = self._check_index(idx)
        cdef int p = _check_prio(priority)
        return self.b[i].cap[p]

    def slot_ns(self, idx):
        """Sliding-window granularity of bucket idx (ceil(window_ns / 64)); 0 for other kinds."""
        cdef int i = self._check_index(idx)
        return self.b[i].slot_ns if self.b[i].kind == SLIDING_WINDOW else 0

    @property
    def blocked_until(self):
        return self.blocked_until

    # ----------------------------------------------------------------------- hot path (Py)

    def acquire(self, cost, int64_t now_ns, priority):
        """0 = admitted and charged to every bucket of `cost`; > 0 = ns to wait (no charge).

        `cost` is a Cost from make_cost (fast) or a sequence of (bucket_index, weight) pairs.
        """
        cdef Cost c
        cdef int prio = _prio(priority)
        if VL_LIKELY(type(cost) is Cost):
            c = <Cost>cost
        else:
            c = self.make_cost(cost)
        if VL_UNLIKELY(<uint64_t>now_ns > <uint64_t>RL_MAX_TIME):
            _bad_time(now_ns)
        cdef int64_t r = self.try_acquire(c, now_ns, prio)
        if VL_UNLIKELY(r < 0):
            self._raise_code(r, c, prio)
        return r

    def reserve(self, cost, int64_t now_ns, priority):
        """Like acquire, and returns (wait_ns, ticket); ticket is 0 when not admitted."""
        cdef Cost c
        cdef uint64_t ticket = 0
        cdef int prio = _prio(priority)
        if VL_LIKELY(type(cost) is Cost):
            c = <Cost>cost
        else:
            c = self.make_cost(cost)
        if VL_UNLIKELY(<uint64_t>now_ns > <uint64_t>RL_MAX_TIME):
            _bad_time(now_ns)
        cdef int64_t r = self.try_reserve(c, now_ns, prio, &ticket)
        if VL_UNLIKELY(r < 0):
            self._raise_code(r, c, prio)
        return (r, ticket)

    def commit(self, uint64_t ticket):
        """Keep the charge of a reservation. False if the ticket is unknown or resolved."""
        return self.commit_c(ticket)

    def refund(self, uint64_t ticket, int64_t now_ns):
        """Give a reservation's weights back (only within the window it was charged in).

        False if the ticket is unknown or already resolved.
        """
        if <uint64_t>now_ns > <uint64_t>RL_MAX_TIME:
            _bad_time(now_ns)
        return self.refund_c(ticket, now_ns)

    def peek_wait(self, cost, int64_t now_ns, priority):
        """What acquire would answer, without charging."""
        cdef Cost c
        cdef int prio = _prio(priority)
        if type(cost) is Cost:
            c = <Cost>cost
        else:
            c = self.make_cost(cost)
        if <uint64_t>now_ns > <uint64_t>RL_MAX_TIME:
            _bad_time(now_ns)
        cdef int64_t r = self.peek(c, now_ns, prio)
        if r < 0:
            self._raise_code(r, c, prio)
        return r

    def sync(self, idx, reported_used, int64_t now_ns):
        """Merge the venue's reported usage of bucket idx: usage = max(local, reported)."""
        cdef int i = self._check_index(idx)
        reported_used = operator.index(reported_used)
        if not 0 <= reported_used <= RL_MAX_LIMIT:
            raise ValueError(f"reported_used must be in [0, 2**40], got {reported_used}")
        if <uint64_t>now_ns > <uint64_t>RL_MAX_TIME:
            _bad_time(now_ns)
        self.sync_c(i, reported_used, now_ns)

    def used(self, idx, int64_t now_ns):
        """Usage of bucket idx at now_ns (token bucket: counter rounded up)."""
        cdef int i = self._check_index(idx)
        if <uint64_t>now_ns > <uint64_t>RL_MAX_TIME:
            _bad_time(now_ns)
        return self.used_c(i, now_ns)

    def utilization(self, idx, int64_t now_ns):
        """used / limit of bucket idx (raw limit, not headroom-reduced); may exceed 1."""
        cdef int i = self._check_index(idx)
        if <uint64_t>now_ns > <uint64_t>RL_MAX_TIME:
            _bad_time(now_ns)
        return self.utilization_c(i, now_ns)

    def remaining(self, idx, int64_t now_ns, int priority):
        """Largest weight a `priority` request could take from bucket idx now (0 if blocked)."""
        cdef int i = self._check_index(idx)
        cdef int p = _check_prio(priority)
        if <uint64_t>now_ns > <uint64_t>RL_MAX_TIME:
            _bad_time(now_ns)
        return self.remaining_c(i, now_ns, p)

    def block_until(self, int64_t until_ns):
        """Refuse everything (all lanes) before until_ns; never shortens an active block."""
        if <uint64_t>until_ns > <uint64_t>RL_MAX_TIME:
            _bad_time(until_ns)
        self.block_until_c(until_ns)

    def penalize(self, int64_t until_ns):
        """Alias of block_until (venue answered 429/418 with Retry-After)."""
        self.block_until(until_ns)

    def block_bucket(self, idx, int64_t until_ns):
        """Refuse requests charging bucket idx before until_ns; never shortens its block."""
        cdef int i = self._check_index(idx)
        if <uint64_t>until_ns > <uint64_t>RL_MAX_TIME:
            _bad_time(until_ns)
        self.block_bucket_c(i, until_ns)

    def unblock(self):
        """Clear the blocks set by block_until / penalize / block_bucket."""
        cdef int i
        self.blocked_until = 0
        for i in range(self.n):
            self.b[i].not_before = 0

    # ------------------------------------------------------------------- Python helpers

    cdef int _check_index(self, idx) except -1:
        i = operator.index(idx)
        if not 0 <= i < self.n:
            raise ValueError(f"unknown bucket index {idx} (budget has {self.n} buckets)")
        return i

    cdef int _raise_code(self, int64_t code, Cost c, int priority) except -1:
        cdef int k, i
        if code == RL_EPRIO:
            raise ValueError(f"unknown priority {priority} (expected 1..4)")
        if code == RL_EINDEX:
            raise ValueError(f"cost refers to a bucket index this budget does not have "
                             f"({self.n} buckets): {c!r}")
        for k in range(c.n):
            i = c.idx[k]
            if i < self.n and c.w[k] > self.b[i].cap[priority]:
                raise ValueError(
                    f"weight {c.w[k]} exceeds the {_lane_name(priority)} lane capacity "
                    f"{self.b[i].cap[priority]} of bucket {self._names[i]!r}: "
                    f"it could never be admitted")
        raise ValueError(f"rate-limit error {code}")

    # ---------------------------------------------------------------------- C API (nogil)

    cdef int64_t _clamp(self, int64_t now_ns) noexcept nogil:
        if now_ns > self.last_now:
            self.last_now = now_ns
            return now_ns
        return self.last_now

    cdef void _recompute_caps(self, int i) noexcept nogil:
        cdef rl_bucket* b = &self.b[i]
        cdef int p
        for p in range(1, RL_NLANES):
            b.cap[p] = b.eff * <int64_t>self.share_ppm[p] // PPM
            b.capb[p] = <vl_i128>b.cap[p] * b.rate_den
        b.cap[0] = 0
        b.capb[0] = 0

    cdef int64_t _admit_at(self, Cost c, int64_t now, int priority) noexcept nogil:
        """Earliest admission time (>= now, clamped) of c, or a negative RL_E* code."""
        cdef int32_t k
        cdef uint16_t i
        cdef int64_t w, t
        cdef int64_t T = now
        cdef rl_bucket* b
        if VL_UNLIKELY(<unsigned int>(priority - 1) > 3u):
            return RL_EPRIO
        if VL_UNLIKELY(self.blocked_until > now):
            T = self.blocked_until
        for k in range(c.n):
            i = c.idx[k]
            if VL_UNLIKELY(i >= self.n):
                return RL_EINDEX
            b = &self.b[i]
            w = c.w[k]
            if VL_UNLIKELY(w > b.cap[priority]):
                return RL_EWEIGHT
            _advance(b, now)
            t = _fit_at(b, w, now, priority)
            if VL_UNLIKELY(b.not_before > t):
                t = b.not_before
            if t > T:
                T = t
        return T

    cdef int64_t try_acquire(self, Cost c, int64_t now_ns, int priority) noexcept nogil:
        cdef int64_t now = self._clamp(now_ns)
        cdef int64_t T = self._admit_at(c, now, priority)
        cdef int32_t k
        if VL_UNLIKELY(T != now):
            if T < 0:
                return T
            return T - now_ns
        for k in range(c.n):
            _charge(&self.b[c.idx[k]], c.w[k], now)
        return 0

    cdef int64_t peek(self, Cost c, int64_t now_ns, int priority) noexcept nogil:
        cdef int64_t now = self._clamp(now_ns)
        cdef int64_t T = self._admit_at(c, now, priority)
        if T < 0:
            return T
        return T - now_ns if T != now else 0

    cdef int64_t try_reserve(self, Cost c, int64_t now_ns, int priority,
                             uint64_t* ticket) noexcept nogil:
        cdef int64_t r = self.try_acquire(c, now_ns, priority)
        cdef uint64_t tid
        cdef rl_ticket* tk
        if r != 0:
            ticket[0] = 0
            return r
        tid = self.next_ticket
        self.next_ticket += 1
        tk = &self.tickets[tid & (RL_TICKETS - 1)]       # overwrites (= commits) the oldest
        tk.id = tid
        tk.t = self.last_now                              # the (clamped) time of the charge
        tk.n = c.n
        memcpy(tk.idx, c.idx, c.n * sizeof(uint16_t))
        memcpy(tk.w, c.w, c.n * sizeof(int64_t))
        ticket[0] = tid
        return 0

    cdef bint commit_c(self, uint64_t ticket) noexcept nogil:
        cdef rl_ticket* tk = &self.tickets[ticket & (RL_TICKETS - 1)]
        if ticket == 0 or tk.id != ticket:
            return False
        tk.id = 0
        return True

    cdef bint refund_c(self, uint64_t ticket, int64_t now_ns) noexcept nogil:
        cdef rl_ticket* tk = &self.tickets[ticket & (RL_TICKETS - 1)]
        cdef int64_t now
        cdef int32_t k
        cdef rl_bucket* b
        if ticket == 0 or tk.id != ticket:
            return False
        now = self._clamp(now_ns)
        for k in range(tk.n):
            if tk.idx[k] < self.n:
                b = &self.b[tk.idx[k]]
                _advance(b, now)
                _refund(b, tk.w[k], tk.t, now)
        tk.id = 0
        return True

    cdef void sync_c(self, int idx, int64_t reported_used, int64_t now_ns) noexcept nogil:
        cdef int64_t now = self._clamp(now_ns)
        cdef rl_bucket* b = &self.b[idx]
        cdef vl_i128 r
        _advance(b, now)
        if b.kind == TOKEN_BUCKET:
            r = <vl_i128>reported_used * b.rate_den
            if r > b.level:
                b.level = r
        elif reported_used > b.used:
            if b.kind == SLIDING_WINDOW:
                b.ring[b.cur] += reported_used - b.used
            b.used = reported_used

    cdef int64_t used_c(self, int idx, int64_t now_ns) noexcept nogil:
        cdef rl_bucket* b = &self.b[idx]
        _advance(b, self._clamp(now_ns))
        return _used(b)

    cdef int64_t remaining_c(self, int idx, int64_t now_ns, int priority) noexcept nogil:
        cdef int64_t now = self._clamp(now_ns)
        cdef rl_bucket* b = &self.b[idx]
        cdef vl_i128 x
        _advance(b, now)
        if self.blocked_until > now or b.not_before > now:
            return 0
        if b.kind == TOKEN_BUCKET:
            x = b.capb[priority] - b.level
            return <int64_t>(x // b.rate_den) if x > 0 else 0
        return b.cap[priority] - b.used if b.cap[priority] > b.used else 0

    cdef double utilization_c(self, int idx, int64_t now_ns) noexcept nogil:
        cdef rl_bucket* b = &self.b[idx]
        _advance(b, self._clamp(now_ns))
        if b.kind == TOKEN_BUCKET:
            return <double>b.level / (<double>b.rate_den * <double>b.limit)
        return <double>b.used / <double>b.limit

    cdef void block_until_c(self, int64_t until_ns) noexcept nogil:
        if until_ns > self.blocked_until:
            self.blocked_until = until_ns

    cdef void block_bucket_c(self, int idx, int64_t until_ns) noexcept nogil:
        if until_ns > self.b[idx].not_before:
            self.b[idx].not_before = until_ns


cdef inline int _prio(object p) except -1:
    """Priority as a C int (fast for int and IntEnum members); ValueError unless 1..4."""
    cdef long v = PyLong_AsLong(p)
    if VL_UNLIKELY(<unsigned long>(v - 1) > 3u):
        if v == -1 and PyErr_Occurred():
            return -1
        raise ValueError(f"unknown priority {p!r} (expected 1..4)")
    return <int>v


cdef int _check_prio(priority) except -1:
    p = operator.index(priority)
    if not 1 <= p <= 4:
        raise ValueError(f"unknown priority {priority} (expected 1..4)")
    return p


cdef int _bad_time(int64_t t) except -1:
    raise ValueError(f"time {t} outside [0, 2**62]")


def _bench_acquire(Budget budget, Cost cost, Py_ssize_t n, int64_t now0=0,
                   int64_t step_ns=0, int priority=QUERY):
    """Benchmark helper: n try_acquire calls from C without the GIL, now advancing by step_ns.

    Returns (admitted, elapsed_ns) where elapsed_ns is measured with mono_ns around the loop.
    """
    if budget is None or cost is None:
        raise TypeError("budget and cost are required")
    cdef Py_ssize_t i, admitted = 0
    cdef int64_t now = now0, t_start, t_end, r
    with nogil:
        t_start = mono_ns()
        for i in range(n):
            r = budget.try_acquire(cost, now, priority)
            if r == 0:
                admitted += 1
            now += step_ns
        t_end = mono_ns()
    return admitted, t_end - t_start
