# SPDX-License-Identifier: Apache-2.0
"""Binance error answers -> engine errors (codes from errors.md; HTTP semantics from rest-api.md:
4XX client error, 403 WAF, 418 IP auto-ban, 429 rate limit, 5XX execution status UNKNOWN)."""
from __future__ import annotations

import json

from venuelink.errors import (AuthError, ExecutionUnknown, IpBanned, RateLimited, Rejected, TimestampError,
                           UnknownOrder, VenueError)
from venuelink.rest import RestResponse

AUTH_CODES = {-1022, -2014, -2015, -1002}
UNKNOWN_ORDER_CODES = {-2013, -2011}
REJECT_CODES = {-2010, -1013, -1121, -1100, -1101, -1102, -1103, -1104, -1105, -1106, -1111, -1112, -1114,
                -1115, -1116, -1117, -1118, -1120, -1125, -1130, -2026}


def parse_error_body(body: bytes) -> tuple[int | None, str]:
    try:
        d = json.loads(body)
        return int(d.get("code")), str(d.get("msg", ""))
    except (ValueError, TypeError, AttributeError):
        return None, body[:200].decode("utf-8", "replace")


#: USD-M futures' own refusals on top of the common table: margin insufficient (-2019), would
#: immediately trigger (-2021), reduce-only refused (-2022), notional below the minimum (-4164),
#: position side against the account's mode (-4061), price off the tick (-4014), post-only (GTX)
#: that would take (-5022), nothing to modify (-5027), the position mode not changed while a
#: position (-4068) or an open order (-4067) exists
FUTURES_REJECT_CODES = frozenset({-2019, -2021, -2022, -4164, -4061, -4014, -5022, -5027, -4068, -4067})
DUPLICATE_CLIENT_ID = -4116
"""USD-M "ClientOrderId is duplicated." (spot says -2010 "Duplicate order sent.")"""


def map_error(resp: RestResponse, venue: str = "binance", more_rejects: frozenset[int] = frozenset()) -> VenueError:
    """The common Binance table (spot and futures); `more_rejects`: a market's own refusal codes."""
    code, msg = parse_error_body(resp.body)
    kw = {"venue": venue, "code": code, "http_status": resp.status}
    retry = _retry_after(resp.headers.get("Retry-After"))
    text = f"{venue} {resp.status} {code}: {msg}"
    if resp.status == 418:
        return IpBanned(text, retry_after_s=retry or 120.0, **kw)
    if resp.status == 429 or code in (-1003, -1015):
        return RateLimited(text, retry_after_s=retry or 1.0, **kw)
    if code == -1007 or resp.status >= 500:
        return ExecutionUnknown(text, **kw)
    if code == DUPLICATE_CLIENT_ID or (code == -2010 and "Duplicate order" in msg):
        # an order with this client id exists (the manager never reuses a live one's): found by
        # reconciliation, never reported refused
        return ExecutionUnknown(text, **kw)
    if code == -1021:
        return TimestampError(text, **kw)
    if code in AUTH_CODES or resp.status in (401, 403):
        return AuthError(text, **kw)
    if code == -2013 or (code == -2011 and "Unknown order" in msg):
        return UnknownOrder(text, **kw)
    if code in REJECT_CODES or code == -2011 or code in more_rejects:
        return Rejected(text, **kw)
    return VenueError(text, **kw)


def _retry_after(v: str | None) -> float:
    try:
        return float(v) if v is not None else 0.0
    except ValueError:
        return 0.0
