# SPDX-License-Identifier: Apache-2.0
"""Pure-Python reference twin of venuelink.ext.ratelimit: same Python API, simplest correct model.

Written for obviousness, not speed:
  * fixed windows: a dict window_start -> used; a charge in a window's last ``edge_ns`` is
    added to the next window's entry too,
  * sliding windows: a list of [t, weight] events; usage at ``now`` is the sum of the events
    whose slot ``t // slot_ns`` is >= ``now // slot_ns - 64`` (the documented quantization of
    venuelink.ext.ratelimit, so both must agree exactly),
  * token bucket: the counter as an exact ``fractions.Fraction`` draining at limit/window_ns.
Waits are found from the definitions: fixed -> next window start; sliding -> the first slot
boundary (tried in order) where the request fits; token -> ceil(excess / rate).
See ext/ratelimit.pyx for the model this mirrors.
"""
from __future__ import annotations

import enum
import math
import operator
from fractions import Fraction
from typing import Iterable, Mapping

__all__ = ["Budget", "Cost", "BucketKind", "Priority", "MAX_BUCKETS", "MAX_COST_ITEMS", "SLOTS_PER_WINDOW",
           "TICKETS", "MAX_TIME", "MAX_LIMIT", "MAX_WINDOW", "DEFAULT_LANE_SHARES"]


class BucketKind(enum.IntEnum):
    FIXED_WINDOW = 1
    SLIDING_WINDOW = 2
    TOKEN_BUCKET = 3


class Priority(enum.IntEnum):
    CANCEL = 1
    NEW_ORDER = 2
    QUERY = 3
    SNAPSHOT = 4


MAX_BUCKETS = 1024
MAX_COST_ITEMS = 16
SLOTS_PER_WINDOW = 64
TICKETS = 256
MAX_TIME = 2**62
MAX_LIMIT = 2**40
MAX_WINDOW = 2**53
DEFAULT_LANE_SHARES = {Priority.CANCEL: 1.0, Priority.NEW_ORDER: 0.9,
                       Priority.QUERY: 0.8, Priority.SNAPSHOT: 0.6}
_PPM = 1_000_000


def _check_time(t: int) -> int:
    t = operator.index(t)
    if not 0 <= t <= MAX_TIME:
        raise ValueError(f"time {t} outside [0, 2**62]")
    return t


def _check_prio(priority) -> int:
    p = operator.index(priority)
    if not 1 <= p <= 4:
        raise ValueError(f"unknown priority {priority} (expected 1..4)")
    return p


class _Bucket:
    def __init__(self, name: str, kind: BucketKind, limit: int, window_ns: int, eff: int,
                 edge_ns: int = 0):
        self.name = name
        self.edge_ns = edge_ns
        self.kind = kind
        self.limit = limit
        self.window_ns = window_ns
        self.eff = eff
        self.caps: dict[int, int] = {}
        self.slot_ns = -(-window_ns // SLOTS_PER_WINDOW)
        self.windows: dict[int, int] = {}          # FIXED: window start -> used
        self.events: list[list[int]] = []          # SLIDING: [t, weight]
        self.level = Fraction(0)                   # TOKEN: counter at time t0
        self.t0 = 0
        self.rate = Fraction(limit, window_ns)     # TOKEN: drain per ns
        self.not_before = 0                        # block_bucket: nothing admitted before

    # usage as a pure function of the state and `now`
    def window_start(self, t: int) -> int:
        return t - t % self.window_ns

    def counted(self, t: int, now: int) -> bool:
        """SLIDING: does an event at t still count at now?"""
        return t // self.slot_ns >= now // self.slot_ns - SLOTS_PER_WINDOW

    def level_at(self, now: int) -> Fraction:
        return max(Fraction(0), self.level - (now - self.t0) * self.rate)

    def usage(self, now: int):
        if self.kind == BucketKind.FIXED_WINDOW:
            return self.windows.get(self.window_start(now), 0)
        if self.kind == BucketKind.SLIDING_WINDOW:
            return sum(w for t, w in self.events if self.counted(t, now))
        return self.level_at(now)

    def in_edge(self, t: int) -> bool:
        """FIXED: is t in its window's last edge_ns (so a charge at t counts in the next)?"""
        return self.edge_ns > 0 and t >= self.window_start(t) + self.window_ns - self.edge_ns

    def fits(self, w: int, cap: int, now: int) -> bool:
        return self.usage(now) + w <= cap

    def fit_time(self, w: int, cap: int, now: int) -> int:
        """Earliest T >= now at which w fits under cap with no other traffic."""
        if self.fits(w, cap, now):
            return now
        if self.kind == BucketKind.FIXED_WINDOW:
            nxt = self.window_start(now) + self.window_ns
            return nxt if self.fits(w, cap, nxt) else nxt + self.window_ns
        if self.kind == BucketKind.SLIDING_WINDOW:
            q = now // self.slot_ns
            for k in range(1, SLOTS_PER_WINDOW + 2):
                if self.fits(w, cap, (q + k) * self.slot_ns):
                    return (q + k) * self.slot_ns
            raise AssertionError("sliding window never drains")
        excess = self.level_at(now) + w - cap
        return now + math.ceil(excess / self.rate)

    def charge(self, w: int, now: int) -> list[int] | None:
        if self.kind == BucketKind.FIXED_WINDOW:
            ws = self.window_start(now)
            self.windows[ws] = self.windows.get(ws, 0) + w
            if self.in_edge(now):
                nxt = ws + self.window_ns
                self.windows[nxt] = self.windows.get(nxt, 0) + w
            return None
        if self.kind == BucketKind.SLIDING_WINDOW:
            ev = [now, w]
            self.events.append(ev)
            return ev
        self.level = self.level_at(now) + w
        self.t0 = now
        return None

    def refund(self, w: int, t: int, ev: list[int] | None, now: int) -> None:
        if self.kind == BucketKind.FIXED_WINDOW:
            ws, cur = self.window_start(t), self.window_start(now)
            if ws == cur:
                self.windows[ws] = max(0, self.windows[ws] - w)
                if self.in_edge(t):
                    nxt = ws + self.window_ns
                    self.windows[nxt] = max(0, self.windows.get(nxt, 0) - w)
            elif ws + self.window_ns == cur and self.in_edge(t):
                self.windows[cur] = max(0, self.windows.get(cur, 0) - w)
        elif self.kind == BucketKind.SLIDING_WINDOW:
            if self.counted(t, now):
                assert ev is not None and ev[1] >= w
                ev[1] -= w
        else:
            undrained = w - (now - t) * self.rate
            if undrained > 0:
                self.level = max(Fraction(0), self.level_at(now) - undrained)
                self.t0 = now

    def sync(self, reported: int, now: int) -> None:
        if self.kind == BucketKind.FIXED_WINDOW:
            ws = self.window_start(now)
            self.windows[ws] = max(self.windows.get(ws, 0), reported)
        elif self.kind == BucketKind.SLIDING_WINDOW:
            u = self.usage(now)
            if reported > u:
                self.events.append([now, reported - u])
        else:
            self.level = max(self.level_at(now), Fraction(reported))
            self.t0 = now

    def prune(self, now: int) -> None:
        """Forget state that can no longer count (keeps the tests fast; no semantic effect)."""
        if self.kind == BucketKind.SLIDING_WINDOW:
            self.events = [ev for ev in self.events if self.counted(ev[0], now)]
        elif self.kind == BucketKind.FIXED_WINDOW:
            ws = self.window_start(now)
            self.windows = {k: v for k, v in self.windows.items() if k >= ws}


class Cost:
    """(bucket_index, weight) pairs, duplicates summed, zero weights dropped."""

    def __init__(self, pairs: list[tuple[int, int]]):
        self._pairs = pairs

    def __len__(self) -> int:
        return len(self._pairs)

    def items(self) -> list[tuple[int, int]]:
        return list(self._pairs)

    def __repr__(self) -> str:
        return f"Cost({self._pairs!r})"


class Budget:
    def __init__(self) -> None:
        self._b: list[_Bucket] = []
        self._share_ppm = {int(p): round(s * _PPM) for p, s in DEFAULT_LANE_SHARES.items()}
        self._blocked_until = 0
        self._last_now = 0
        self._next_ticket = 1
        self._tickets: dict[int, tuple[int, list[tuple[int, int, list[int] | None]]]] = {}

    # setup
    def add_bucket(self, name: str, kind, limit: int, window_ns: int,
                   headroom: float = 0.15, edge_ns: int = 0) -> int:
        if len(self._b) >= MAX_BUCKETS:
            raise ValueError(f"at most {MAX_BUCKETS} buckets per Budget")
        if not isinstance(name, str):
            raise TypeError("name must be a str")
        if not name:
            raise ValueError("bucket name must be a non-empty string")
        if name in self.names:
            raise ValueError(f"duplicate bucket name {name!r}")
        kind = BucketKind(kind)
        limit = operator.index(limit)
        window_ns = operator.index(window_ns)
        if not 1 <= limit <= MAX_LIMIT:
            raise ValueError(f"limit must be in [1, 2**40], got {limit}")
        if not 1 <= window_ns <= MAX_WINDOW:
            raise ValueError(f"window_ns must be in [1, 2**53], got {window_ns}")
        h = float(headroom)
        if not 0.0 <= h < 1.0:
            raise ValueError(f"headroom must be in [0, 1), got {headroom!r}")
        edge_ns = operator.index(edge_ns)
        if edge_ns and kind != BucketKind.FIXED_WINDOW:
            raise ValueError(f"edge_ns applies to FIXED_WINDOW buckets only, got {edge_ns} for kind {kind!r}")
        if not 0 <= edge_ns < window_ns:
            raise ValueError(f"edge_ns must be in [0, window_ns), got {edge_ns}")
        eff = limit * (_PPM - round(h * _PPM)) // _PPM
        b = _Bucket(name, kind, limit, window_ns, eff, edge_ns)
        self._b.append(b)
        self._recompute_caps()
        return len(self._b) - 1

    def _recompute_caps(self) -> None:
        for b in self._b:
            b.caps = {p: b.eff * s // _PPM for p, s in self._share_ppm.items()}

    def set_lane_shares(self, shares) -> None:
        items = shares.items() if hasattr(shares, "items") else shares
        new = {}
        for p, s in items:
            p = operator.index(p)
            if not 1 <= p <= 4:
                raise ValueError(f"unknown priority {p}")
            s = float(s)
            if not 0.0 <= s <= 1.0:
                raise ValueError(f"lane share must be in [0, 1], got {s!r}")
            new[p] = round(s * _PPM)
        self._share_ppm.update(new)
        self._recompute_caps()

    @property
    def lane_shares(self) -> dict[Priority, float]:
        return {Priority(p): self._share_ppm[p] / 1e6 for p in range(1, 5)}

    def _check_index(self, idx) -> int:
        i = operator.index(idx)
        if not 0 <= i < len(self._b):
            raise ValueError(f"unknown bucket index {idx}")
        return i

    def make_cost(self, items: Iterable[tuple[int, int]] | Mapping[int, int]) -> Cost:
        pairs = items.items() if hasattr(items, "items") else items
        merged: dict[int, int] = {}
        for i, w in pairs:
            i = self._check_index(i)
            w = operator.index(w)
            if w < 0:
                raise ValueError(f"negative weight {w} for bucket {i}")
            merged[i] = merged.get(i, 0) + w
        charged = [i for i, w in merged.items() if w]
        if len(charged) > MAX_COST_ITEMS:
            raise ValueError(f"a cost may charge at most {MAX_COST_ITEMS} buckets, got {len(charged)}")
        out = []
        for i, w in merged.items():
            if w == 0:
                continue
            if w > max(self._b[i].caps.values()):
                raise ValueError(f"weight {w} exceeds every lane capacity of bucket {i}")
            out.append((i, w))
        return Cost(out)

    # introspection
    def __len__(self) -> int:
        return len(self._b)

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(b.name for b in self._b)

    def index(self, name: str) -> int:
        for i, b in enumerate(self._b):
            if b.name == name:
                return i
        raise ValueError(f"no bucket named {name!r}")

    def effective_limit(self, idx) -> int:
        return self._b[self._check_index(idx)].eff

    def lane_capacity(self, idx, priority) -> int:
        return self._b[self._check_index(idx)].caps[_check_prio(priority)]

    def slot_ns(self, idx) -> int:
        b = self._b[self._check_index(idx)]
        return b.slot_ns if b.kind == BucketKind.SLIDING_WINDOW else 0

    @property
    def blocked_until(self) -> int:
        return self._blocked_until

    # core
    def _clamp(self, now: int) -> int:
        self._last_now = max(self._last_now, now)
        return self._last_now

    def _admit_at(self, cost: Cost, now: int, p: int) -> int:
        """Earliest admission time; raises ValueError for a request that can never pass."""
        T = max(now, self._blocked_until)
        for i, w in cost.items():
            if i >= len(self._b):
                raise ValueError(f"cost refers to unknown bucket index {i}")
            b = self._b[i]
            if w > b.caps[p]:
                raise ValueError(f"weight {w} exceeds lane capacity {b.caps[p]} of bucket {i}")
            T = max(T, b.fit_time(w, b.caps[p], now), b.not_before)
        return T

    def _prepare(self, cost, now_ns, priority) -> tuple[Cost, int, int]:
        p = _check_prio(priority)
        if not isinstance(cost, Cost):
            cost = self.make_cost(cost)
        return cost, _check_time(now_ns), p

    def peek_wait(self, cost, now_ns: int, priority) -> int:
        cost, now_ns, p = self._prepare(cost, now_ns, priority)
        now = self._clamp(now_ns)
        T = self._admit_at(cost, now, p)
        return 0 if T == now else T - now_ns

    def _take(self, cost, now_ns: int, priority):
        cost, now_ns, p = self._prepare(cost, now_ns, priority)
        now = self._clamp(now_ns)
        T = self._admit_at(cost, now, p)
        if T != now:
            return T - now_ns, None
        charged = []
        for i, w in cost.items():
            charged.append((i, w, self._b[i].charge(w, now)))
        for b in self._b:
            b.prune(now)
        return 0, charged

    def acquire(self, cost, now_ns: int, priority) -> int:
        return self._take(cost, now_ns, priority)[0]

    def reserve(self, cost, now_ns: int, priority) -> tuple[int, int]:
        wait, charged = self._take(cost, now_ns, priority)
        if wait:
            return wait, 0
        tid = self._next_ticket
        self._next_ticket += 1
        self._tickets.pop(tid - TICKETS, None)        # ring of TICKETS: oldest is committed
        self._tickets[tid] = (self._last_now, charged)
        return 0, tid

    def commit(self, ticket: int) -> bool:
        if operator.index(ticket) < 0:
            raise OverflowError("ticket must be non-negative")
        return self._tickets.pop(ticket, None) is not None

    def refund(self, ticket: int, now_ns: int) -> bool:
        if operator.index(ticket) < 0:
            raise OverflowError("ticket must be non-negative")
        now_ns = _check_time(now_ns)
        entry = self._tickets.pop(ticket, None)
        if entry is None:
            return False
        now = self._clamp(now_ns)
        t, charged = entry
        for i, w, ev in charged:
            self._b[i].refund(w, t, ev, now)
        return True

    def sync(self, idx, reported_used: int, now_ns: int) -> None:
        i = self._check_index(idx)
        reported_used = operator.index(reported_used)
        if not 0 <= reported_used <= MAX_LIMIT:
            raise ValueError(f"reported_used must be in [0, 2**40], got {reported_used}")
        now = self._clamp(_check_time(now_ns))
        self._b[i].sync(reported_used, now)

    def used(self, idx, now_ns: int) -> int:
        i = self._check_index(idx)
        return math.ceil(self._b[i].usage(self._clamp(_check_time(now_ns))))

    def utilization(self, idx, now_ns: int) -> float:
        i = self._check_index(idx)
        b = self._b[i]
        return float(Fraction(b.usage(self._clamp(_check_time(now_ns)))) / b.limit)

    def remaining(self, idx, now_ns: int, priority) -> int:
        i = self._check_index(idx)
        p = _check_prio(priority)
        now = self._clamp(_check_time(now_ns))
        if self._blocked_until > now or self._b[i].not_before > now:
            return 0
        b = self._b[i]
        return max(0, math.floor(b.caps[p] - b.usage(now)))

    def block_until(self, until_ns: int) -> None:
        self._blocked_until = max(self._blocked_until, _check_time(until_ns))

    def penalize(self, until_ns: int) -> None:
        self.block_until(until_ns)

    def block_bucket(self, idx, until_ns: int) -> None:
        b = self._b[self._check_index(idx)]
        b.not_before = max(b.not_before, _check_time(until_ns))

    def unblock(self) -> None:
        self._blocked_until = 0
        for b in self._b:
            b.not_before = 0
