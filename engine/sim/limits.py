"""Server-side rate limits the way exchanges enforce them.

* Fixed windows aligned to the epoch (a 1-minute window starts every minute, a 10-second
  window at :00, :10, ...; a 1-day window at 00:00 UTC).
* ``Rule.kind`` is a ``Scope``: ``WEIGHT`` (request weight, per IP), ``RAW`` (request count, per
  IP), ``ORDERS`` (new orders, per account), ``KEYED`` (one count per call of ``check_bucket``
  under a key the dialect chooses: an account, or an account and instrument for venues that
  limit each instrument separately, e.g. OKX's place / cancel / amend per instId).
* ``rules_from_buckets`` builds the rules from the venue's ``venuelink.venue.BucketSpec``s, the same
  ones the engine's own limiter reads: the simulator enforces the venue's real limit, the engine
  keeps its headroom below it.  The dialect only says which scope each bucket name has.
* Escalation for IP limits: a request over a limit gets 429 with Retry-After (seconds until the
  window resets).  After ``ban_after`` such 429 answers in a row, the next limited request bans
  the IP: 418 with Retry-After until the ban ends.  Ban durations double for repeat offenders, from
  ``ban_base_s`` up to ``ban_max_s``.
* Order limits reject with 429 and no Retry-After and never ban.

Usage counts keep growing past the limit (rejected requests are counted too), so the usage
headers show by how much a client overshot.
"""

from __future__ import annotations

import enum
import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable, Mapping

if TYPE_CHECKING:
    from venuelink.venue import BucketSpec

_SECONDS = {"SECOND": 1, "MINUTE": 60, "HOUR": 3600, "DAY": 86400}
_LETTER = {"SECOND": "S", "MINUTE": "M", "HOUR": "H", "DAY": "D"}



class Scope(str, enum.Enum):
    """What a rule counts and per what key."""

    WEIGHT = "weight"  # request weight, per IP
    RAW = "raw"  # requests, per IP
    ORDERS = "orders"  # new orders, per account
    KEYED = "keyed"  # counted only by ``check_bucket`` under the dialect's key

    def __str__(self) -> str:
        return self.value


WEIGHT = Scope.WEIGHT
RAW = Scope.RAW
ORDERS = Scope.ORDERS
KEYED = Scope.KEYED


@dataclass(frozen=True, slots=True)
class Rule:
    kind: Scope
    interval: str  # SECOND | MINUTE | HOUR | DAY
    num: int
    limit: int
    name: str = ""  # the venue's bucket name, when built from a BucketSpec

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "kind", Scope(self.kind))
        except ValueError:
            raise ValueError(f"bad rule kind {self.kind!r}") from None
        if self.interval not in _SECONDS or self.num <= 0 or self.limit <= 0:
            raise ValueError(f"bad rule {self}")

    @property
    def seconds(self) -> int:
        return _SECONDS[self.interval] * self.num

    @property
    def tag(self) -> str:
        """``"1M"``, ``"10S"``, ``"1D"`` -- the suffix venues put in usage header names."""
        return f"{self.num}{_LETTER[self.interval]}"

    def window(self, now: float) -> int:
        return int(now // self.seconds)

    def reset_in(self, now: float) -> float:
        return (self.window(now) + 1) * self.seconds - now


def rule_from_bucket(bucket: "BucketSpec", scope: Scope, limit: int | None = None) -> Rule:
    """A fixed-window ``Rule`` for ``bucket`` at its real limit (or ``limit``), window aligned
    to the epoch.  Other bucket kinds are refused: this limiter only models fixed windows."""
    from venuelink.ext.ratelimit import BucketKind

    if bucket.kind != BucketKind.FIXED_WINDOW:
        raise ValueError(f"bucket {bucket.name!r}: the simulator limiter models fixed windows only, "
                         f"not {BucketKind(bucket.kind).name}")
    secs = bucket.window_s
    if secs <= 0 or secs != int(secs):
        raise ValueError(f"bucket {bucket.name!r}: window_s must be a whole number of seconds, got {secs!r}")
    secs = int(secs)
    for interval in ("DAY", "HOUR", "MINUTE", "SECOND"):
        unit = _SECONDS[interval]
        if secs % unit == 0:
            return Rule(scope, interval, secs // unit, bucket.limit if limit is None else limit, bucket.name)
    raise AssertionError("unreachable: every whole number of seconds is a count of SECONDs")


def rules_from_buckets(
    buckets: Iterable["BucketSpec"], scopes: Mapping[str, Scope], overrides: Mapping[str, int] | None = None
) -> list[Rule]:
    """One ``Rule`` per bucket named in ``scopes``; ``overrides`` (bucket name -> limit) replace the
    venue's number, e.g. a tiny weight limit in a test.  Unknown names in either map are errors."""
    buckets = list(buckets)
    names = {b.name for b in buckets}
    over = dict(overrides or {})
    unknown = sorted((set(scopes) | set(over)) - names)
    if unknown:
        raise ValueError(f"unknown rate-limit bucket(s) {unknown}; the venue has {sorted(names)}")
    for name, n in over.items():
        if not isinstance(n, int) or n <= 0:
            raise ValueError(f"limit for bucket {name!r} must be a positive integer, got {n!r}")
    return [rule_from_bucket(b, scopes[b.name], over.get(b.name)) for b in buckets if b.name in scopes]


@dataclass(slots=True)
class Decision:
    allowed: bool
    status: int  # 200, 429, 418
    retry_after: int | None = None  # seconds
    rule: Rule | None = None  # the limit that was hit
    banned_until: float | None = None  # epoch seconds
    used: list[tuple[Rule, int]] = field(default_factory=list)


@dataclass(slots=True)
class _Counter:
    window: int = -1
    count: int = 0


@dataclass(slots=True)
class _IpState:
    strikes: int = 0
    bans: int = 0
    banned_until: float = 0.0


class RateLimiter:
    def __init__(
        self,
        rules: list[Rule],
        *,
        ban_after: int = 5,
        ban_base_s: float = 120.0,
        ban_max_s: float = 3 * 86400.0,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.rules = list(rules)
        self.ban_after = ban_after
        self.ban_base_s = ban_base_s
        self.ban_max_s = ban_max_s
        self.clock = clock
        self.rejections = 0  # requests and orders refused for rate reasons (429 / 418), injected faults aside
        self.rejected_by: dict[str, int] = {}  # the same, per rule name ("ban" for a 418)
        self._counters: dict[tuple[str, Rule], _Counter] = {}
        self._ips: dict[str, _IpState] = {}

    # ------------------------------------------------------------------ helpers
    def rules_of(self, kind: Scope) -> list[Rule]:
        return [r for r in self.rules if r.kind == kind]

    def _counter(self, key: str, rule: Rule, now: float) -> _Counter:
        c = self._counters.get((key, rule))
        if c is None:
            c = self._counters[(key, rule)] = _Counter()
        w = rule.window(now)
        if c.window != w:
            c.window = w
            c.count = 0
        return c

    def usage(self, key: str, kind: Scope, now: float | None = None) -> list[tuple[Rule, int]]:
        now = self.clock() if now is None else now
        return [(r, self._counter(key, r, now).count) for r in self.rules_of(kind)]

    def reset(self) -> None:
        self._counters.clear()
        self._ips.clear()

    def _reject(self, what: str) -> None:
        self.rejections += 1
        self.rejected_by[what] = self.rejected_by.get(what, 0) + 1

    # ------------------------------------------------------------------ checks
    def check_request(self, ip: str, weight: int, now: float | None = None) -> Decision:
        """Account one request of ``weight`` from ``ip``; decide 200 / 429 / 418."""
        now = self.clock() if now is None else now
        st = self._ips.get(ip)
        if st is None:
            st = self._ips[ip] = _IpState()
        hit: Rule | None = None
        for r in self.rules:
            if r.kind not in (WEIGHT, RAW):
                continue
            c = self._counter(ip, r, now)
            c.count += weight if r.kind == WEIGHT else 1
            if c.count > r.limit and (hit is None or r.reset_in(now) > hit.reset_in(now)):
                hit = r
        used = self.usage(ip, WEIGHT, now)
        if st.banned_until > now:
            self._reject("ban")
            return Decision(False, 418, _ceil(st.banned_until - now), hit, st.banned_until, used)
        if hit is None:
            st.strikes = 0
            return Decision(True, 200, None, None, None, used)
        self._reject(hit.name)
        if st.strikes >= self.ban_after:
            st.bans += 1
            st.strikes = 0
            dur = min(self.ban_base_s * (2 ** (st.bans - 1)), self.ban_max_s)
            st.banned_until = now + dur
            return Decision(False, 418, _ceil(dur), hit, st.banned_until, used)
        st.strikes += 1
        return Decision(False, 429, _ceil(hit.reset_in(now)), hit, None, used)

    def check_order(self, account: str, now: float | None = None) -> Decision:
        """Account one new order for ``account``; 429 (no Retry-After) when over a limit."""
        now = self.clock() if now is None else now
        hit: Rule | None = None
        for r in self.rules_of(ORDERS):
            c = self._counter(account, r, now)
            c.count += 1
            if c.count > r.limit and hit is None:
                hit = r
        used = self.usage(account, ORDERS, now)
        if hit is not None:
            self._reject(hit.name)
            return Decision(False, 429, None, hit, None, used)
        return Decision(True, 200, None, None, None, used)

    def check_bucket(self, key: str, names: Iterable[str], now: float | None = None) -> Decision:
        """Count one against each ``KEYED`` rule named in ``names`` under ``key`` (e.g.
        ``"acct/BTC-USDT"`` for a per-instrument limit); 429 (no Retry-After, never a ban) when
        one is over.  Names without a rule (not enforced, or overridden away) are ignored."""
        now = self.clock() if now is None else now
        wanted = set(names)
        hit: Rule | None = None
        used: list[tuple[Rule, int]] = []
        for r in self.rules:
            if r.kind != KEYED or r.name not in wanted:
                continue
            c = self._counter(key, r, now)
            c.count += 1
            used.append((r, c.count))
            if c.count > r.limit and hit is None:
                hit = r
        if hit is not None:
            self._reject(f"{hit.name}[{key}]")
            return Decision(False, 429, _ceil(hit.reset_in(now)), hit, None, used)
        return Decision(True, 200, None, None, None, used)

    def banned(self, ip: str, now: float | None = None) -> float | None:
        now = self.clock() if now is None else now
        st = self._ips.get(ip)
        return st.banned_until if st is not None and st.banned_until > now else None


def _ceil(x: float) -> int:
    return max(1, math.ceil(x))
