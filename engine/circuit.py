# SPDX-License-Identifier: Apache-2.0
"""Circuit breakers per venue and connection type (REST, market-data WS, private WS).

CLOSED -> (failure_threshold consecutive failures, or a ban) -> OPEN for a cooldown (or the
ban's length) -> HALF_OPEN: one probe request; success closes, failure re-opens with a longer
cooldown. A probe that never reports (its request was not sent after all, or was cancelled)
gives its slot back (``release``), and one that has not reported within ``probe_lease_s`` is
presumed lost: a breaker never stays HALF_OPEN for good. Each failure is classified so operators can tell "venue down" (5xx, maintenance)
from "our connection broken" (connect errors, timeouts without any answer) from "venue
degraded / bad data" (errors in otherwise answered requests, undecodable frames).
"""
from __future__ import annotations

import time
from enum import IntEnum

from venuelink.model import VenueHealth


class CircuitState(IntEnum):
    CLOSED = 0
    OPEN = 1
    HALF_OPEN = 2


class FailureKind(IntEnum):
    UNREACHABLE = 1      # connect refused / DNS / TLS / timeout with no answer: our side or network
    VENUE_DOWN = 2       # 5xx, 503 maintenance, serverShutdown
    DEGRADED = 3         # answered, but wrong (bad data, unexpected errors)
    BANNED = 4           # 418 / IP ban


class CircuitBreaker:
    def __init__(self, name: str, *, failure_threshold: int = 5, cooldown_s: float = 5.0,
                 max_cooldown_s: float = 300.0, probe_lease_s: float = 15.0, clock=time.monotonic) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.base_cooldown_s = cooldown_s
        self.max_cooldown_s = max_cooldown_s
        self.clock = clock
        self.state = CircuitState.CLOSED
        self.failures = 0
        self.opened_until = 0.0
        self.cooldown_s = cooldown_s
        self.last_failure: FailureKind | None = None
        self.opens = 0
        self.closes = 0
        """transitions back to CLOSED (a probe, or any request, succeeding while OPEN / HALF_OPEN)"""
        self.ban_until = 0.0
        """end of the ban in force (clock time); the venue refuses everything until then"""
        self.probe_lease_s = probe_lease_s
        self._probe_out = False
        self._probe_at = 0.0
        self.probes_lost = 0
        """probes given up on: released unreported, or not reported within the lease"""

    def allow(self) -> bool:
        """May a request go now? In HALF_OPEN exactly one probe is let through."""
        if self.state == CircuitState.CLOSED:
            return True
        now = self.clock()
        if self.state == CircuitState.OPEN:
            if now < self.opened_until:
                return False
            self.state = CircuitState.HALF_OPEN
            self._probe_out = False
        if self._probe_out and now - self._probe_at > self.probe_lease_s:
            self.probes_lost += 1
            self._probe_out = False
        if not self._probe_out:
            self._probe_out = True
            self._probe_at = now
            return True
        return False

    @property
    def holds_probe(self) -> bool:
        """HALF_OPEN with its one probe out (the request `allow` just let through is the probe)."""
        return self.state == CircuitState.HALF_OPEN and self._probe_out

    def release(self) -> None:
        """The probe let through ended without a verdict (not sent, cancelled): free its slot."""
        if self.holds_probe:
            self._probe_out = False
            self.probes_lost += 1

    def retry_in(self) -> float:
        return max(0.0, self.opened_until - self.clock()) if self.state == CircuitState.OPEN else 0.0

    def success(self) -> None:
        if self.state != CircuitState.CLOSED:
            self.closes += 1
        self.failures = 0
        self.last_failure = None
        self.cooldown_s = self.base_cooldown_s
        self.state = CircuitState.CLOSED
        self.opened_until = 0.0     # a later open starts afresh, not at an old open's end
        self._probe_out = False

    @property
    def banned(self) -> bool:
        """A ban is in force (open for the ban's length, not over yet)."""
        return self.clock() < self.ban_until

    def failure(self, kind: FailureKind, *, open_for_s: float | None = None) -> None:
        self.failures += 1
        if kind == FailureKind.BANNED:
            self.ban_until = max(self.ban_until, self.clock() + (open_for_s or 0.0))
        if self.state == CircuitState.OPEN and open_for_s is None:
            # a request let through an open breaker (the cancel / query safety path) failed:
            # no news, the breaker is already open. Re-opening would double the cooldown once
            # per such request and keep new orders out long after the venue came back. The
            # kind of an open for a ban stays until that ban has run out.
            if not self.banned:
                self.last_failure = kind
            return
        self.last_failure = kind
        if open_for_s is not None or self.state == CircuitState.HALF_OPEN or self.failures >= self.failure_threshold:
            self._open(open_for_s)

    def _open(self, seconds: float | None) -> None:
        if seconds is None:
            seconds = self.cooldown_s
            self.cooldown_s = min(self.cooldown_s * 2, self.max_cooldown_s)
        self.state = CircuitState.OPEN
        self.opened_until = max(self.opened_until, self.clock() + seconds)
        self.opens += 1
        self._probe_out = False

    @property
    def health(self) -> VenueHealth:
        if self.state == CircuitState.CLOSED and self.last_failure is None:
            return VenueHealth.UP
        k = self.last_failure
        if k == FailureKind.UNREACHABLE:
            return VenueHealth.UNREACHABLE if self.state != CircuitState.CLOSED else VenueHealth.DEGRADED
        if k in (FailureKind.VENUE_DOWN, FailureKind.BANNED):
            return VenueHealth.DOWN if self.state != CircuitState.CLOSED else VenueHealth.DEGRADED
        return VenueHealth.DEGRADED
