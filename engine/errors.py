# SPDX-License-Identifier: Apache-2.0
"""Exception hierarchy. Messages never contain credentials."""


class EngineError(Exception):
    """Base of everything venuelink raises on purpose."""


class ConfigError(EngineError):
    """Bad or unsafe configuration (refuses to start)."""


class VenueError(EngineError):
    """The venue answered with an error. `code` is the venue's own code when it has one."""

    def __init__(self, message: str, *, venue: str = "", code: int | str | None = None, http_status: int = 0):
        super().__init__(message)
        self.venue, self.code, self.http_status = venue, code, http_status


class AuthError(VenueError):
    """Key or signature rejected."""


class RateLimited(VenueError):
    """429 or the venue's rate-limit code; retry_after_s from the venue when it said.
    ``buckets_only``: the refusal is one limit's (Bybit's per-endpoint 10006), so only the buckets
    the request was charged to wait, until retry_after_s; other requests go on."""

    def __init__(self, message: str, *, retry_after_s: float = 0.0, buckets_only: bool = False, **kw):
        super().__init__(message, **kw)
        self.retry_after_s = retry_after_s
        self.buckets_only = buckets_only


class IpBanned(RateLimited):
    """418-style ban: the venue's REST circuit is open until the ban ends."""


class Rejected(VenueError):
    """The venue definitively refused the request (insufficient balance, filters, duplicate...)."""


class UnknownOrder(VenueError):
    """The venue definitively says the order does not exist (never raised for timeouts)."""


class TimestampError(VenueError):
    """Request timestamp outside the venue's receive window (clock skew)."""


class ExecutionUnknown(VenueError):
    """The request may or may not have executed (timeout, 5xx, venue 'status unknown')."""


class CircuitOpen(EngineError):
    """Requests to this venue are suspended (ban, outage); retry_at_ns tells until when."""

    def __init__(self, message: str, retry_at_ns: int = 0):
        super().__init__(message)
        self.retry_at_ns = retry_at_ns


class BudgetTimeout(CircuitOpen):
    """The local rate budget could not admit the request before the caller's deadline: the
    request was never sent (a local refusal, not an unknown outcome)."""


class SequenceGap(EngineError):
    """A market-data sequence gap: the book is invalid until resynced."""


class BookNotLive(EngineError):
    """The book is syncing, stale or invalid: it is not handed out as if it were live."""


class VenueUnavailable(EngineError):
    """The venue cannot take orders now; the order was not sent."""
