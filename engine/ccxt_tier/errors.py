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

from engine.errors import (AuthError, CircuitOpen, EngineError, ExecutionUnknown, IpBanned, RateLimited, Rejected,
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
#: the worker's chain for a request the engine's budget refused (engine.ccxt_tier.gate): not sent
NOT_SENT = "LocalBudgetRefused"
_BY_NAME = {row[0]: row for row in TABLE}
_DUPLICATE = re.compile(r"duplicated? (order|client|clordid)", re.I)
_BANNED = re.compile(r"\bbanned\b", re.I)


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
        if status == 418 or _BANNED.search(msg):
            return IpBanned(text, retry_after_s=retry or 120.0, venue=venue, http_status=status)
        return RateLimited(text, retry_after_s=retry or 1.0, venue=venue, http_status=status)
    if cls is CircuitOpen:
        return CircuitOpen(text)
    return cls(text, venue=venue, http_status=status)
