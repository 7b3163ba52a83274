# SPDX-License-Identifier: Apache-2.0
"""CCXT's exceptions -> the engine's errors, in one table.

The worker reports a failed order call as the class names along the exception's MRO (most
specific first, e.g. ``["OrderNotFound", "InvalidOrder", "ExchangeError", "BaseError"]``), its
message (query strings and credentials removed), the HTTP status and Retry-After it saw. The
engine walks those names through ``TABLE``; the first row that names one decides. A row gives
the engine class for reads (fetch_order, fetch_open_orders, fetch_my_trades) and for writes
(create_order, cancel_order): a write whose outcome the venue may still have executed is
always ``ExecutionUnknown``, never "rejected" or "not found".
"""
from __future__ import annotations

import re
from enum import StrEnum

from venuelink.circuit import FailureKind
from venuelink.errors import (AuthError, CircuitOpen, EngineError, ExecutionUnknown, IpBanned, RateLimited, Rejected,
                           TimestampError, UnknownOrder, VenueError)

# What a class means for the engine, by kind:
#   down       the venue says it is down, or cannot be reached
#   throttled  too many requests (429), or banned (418 / "banned")
#   ours       our connection: timeout or network error
#   refused    the venue refused the request before executing it
#   missing    no such order
# (ccxt class, kind, on reads, on writes). Subclasses come before their bases.
TABLE: tuple[tuple[str, str, type, type], ...] = (
    ("DuplicateOrderId", "ours", ExecutionUnknown, ExecutionUnknown),   # an order with our id exists
    ("OnMaintenance", "down", CircuitOpen, CircuitOpen),                # said so by the venue: nothing ran
    ("ExchangeNotAvailable", "down", CircuitOpen, ExecutionUnknown),    # also 5xx and dropped connections
    ("RateLimitExceeded", "throttled", RateLimited, RateLimited),
    ("DDoSProtection", "throttled", RateLimited, RateLimited),
    ("InvalidNonce", "refused", TimestampError, TimestampError),
    ("RequestTimeout", "ours", ExecutionUnknown, ExecutionUnknown),
    ("NetworkError", "ours", ExecutionUnknown, ExecutionUnknown),
    ("AuthenticationError", "refused", AuthError, AuthError),        # PermissionDenied, AccountSuspended too
    ("OrderNotFound", "missing", UnknownOrder, UnknownOrder),
    ("InsufficientFunds", "refused", Rejected, Rejected),
    ("BadSymbol", "refused", Rejected, Rejected),
    ("InvalidOrder", "refused", Rejected, Rejected),
    ("NotExact", "refused", Rejected, Rejected),
    ("LocalBudgetRefused", "down", CircuitOpen, CircuitOpen),   # the engine's budget refused: not sent        # the worker's own: CCXT would have changed a value
    ("BadRequest", "refused", Rejected, Rejected),
    ("ExchangeError", "venue", VenueError, VenueError),
    ("BaseError", "venue", VenueError, ExecutionUnknown),
)
#: the worker's chain for a request the engine's budget refused (venuelink.ccxt_tier.gate): not sent
NOT_SENT = "LocalBudgetRefused"
_BY_NAME = {row[0]: row for row in TABLE}
_DUPLICATE = re.compile(r"duplicated? (order|client|clordid)", re.I)
_BANNED = re.compile(r"\bbanned\b", re.I)
BAN_DEFAULT_S = 120.0
"""a ban whose answer states no end: this long (the engine's gate and the worker alike)"""


def is_ban(http_status: int, msg: str) -> bool:
    """The venue banned this host: a 418, or an answer that says so."""
    return http_status == 418 or bool(_BANNED.search(msg))


def error_chain(exc: BaseException) -> list[str]:
    """The class names along ``exc``'s MRO, most specific first, up to (not including) Exception."""
    out = []
    for cls in type(exc).__mro__:
        if cls in (Exception, BaseException, object):
            break
        out.append(cls.__name__)
    return out


def scrub(msg: str, *secrets: str) -> str:
    """An error message fit for logs: query strings (signatures, timestamps) cut, and any of the
    given secret strings removed."""
    msg = re.sub(r"\?\S*", "?...", msg)
    for s in secrets:
        if s and len(s) >= 4:
            msg = msg.replace(s, "***")
    return msg[:500]


def outcome_class(chain: list[str]) -> str:
    """The table's kind of a worker error answer (down, throttled, ours, refused, missing), or
    "unclassified" for a CCXT error the table does not name."""
    row = next((_BY_NAME[c] for c in chain if c in _BY_NAME), None)
    return row[1] if row is not None else "unclassified"


class TierConn(StrEnum):
    """The worker's connection types, each behind its own circuit breaker (the value is the
    ``conn`` label of the health metric and the key of the worker's /stats ``breakers``)."""
    PUBLIC = "ccxt_public"      # book and trade watches
    PRIVATE = "ccxt_private"    # watch_orders / watch_my_trades (credentials set)
    REST = "ccxt_rest"          # the worker's REST calls other than orders: markets, probe books


#: the table's kind of an error -> the breaker's failure kind ("throttled" is decided by the ban
#: test; None: no verdict on the connection)
_FAILURE_BY_KIND: dict[str, FailureKind] = {
    "down": FailureKind.VENUE_DOWN,         # maintenance, 5xx, the venue not available
    "ours": FailureKind.UNREACHABLE,        # timeouts and network errors: no answer
    "refused": FailureKind.DEGRADED,        # answered, but not what was asked (auth, bad symbol)
    "missing": FailureKind.DEGRADED,
    "venue": FailureKind.DEGRADED,          # an exchange error the table does not name more closely
    "unclassified": FailureKind.DEGRADED,   # not CCXT's (a bug in a CCXT method, an unreadable answer)
}


def failure_kind(chain: list[str], msg: str = "", http_status: int = 0) -> FailureKind | None:
    """The circuit breaker's classification of a failed watch or REST call, by the same table as
    the order errors: down -> VENUE_DOWN, ours -> UNREACHABLE, banned (418, "banned") -> BANNED,
    anything else answered -> DEGRADED. None where the connection gets no verdict: a rate
    refusal (the venue answered: its budget is the engine's business, as on the native tier) and
    a request the engine's own budget kept back (never sent)."""
    if NOT_SENT in chain:
        return None
    kind = outcome_class(chain)
    if kind == "throttled":
        return FailureKind.BANNED if is_ban(http_status, msg) else None
    return _FAILURE_BY_KIND.get(kind, FailureKind.DEGRADED)


def engine_error(err: dict, *, write: bool, venue: str) -> EngineError:
    """The engine error for a worker's error answer ``{"chain", "msg", "http_status",
    "retry_after_s"}``."""
    chain = [str(c) for c in err.get("chain") or []]
    msg = str(err.get("msg") or "")
    status = int(err.get("http_status") or 0)
    retry = float(err.get("retry_after_s") or 0.0)
    text = f"{venue} (ccxt {chain[0] if chain else '?'}): {msg}"
    row = next((_BY_NAME[c] for c in chain if c in _BY_NAME), None)
    if write and row is not None and row[2] is Rejected and _DUPLICATE.search(msg):
        row = _BY_NAME["DuplicateOrderId"]          # Binance -2010 "Duplicate order sent.", OKX 51016 "Duplicated clOrdId"
    if row is None:
        cls = ExecutionUnknown if write else VenueError
    else:
        cls = row[3] if write else row[2]
    if row is not None and row[1] == "throttled":
        if is_ban(status, msg):
            return IpBanned(text, retry_after_s=retry or BAN_DEFAULT_S, venue=venue, http_status=status)
        return RateLimited(text, retry_after_s=retry or 1.0, venue=venue, http_status=status)
    if cls is CircuitOpen:
        return CircuitOpen(text)
    return cls(text, venue=venue, http_status=status)
