# SPDX-License-Identifier: Apache-2.0
"""Bybit v5 answers -> engine errors.

Every answer has the envelope ``{"retCode": 0, "retMsg": "OK", "result": {...}, "retExtInfo":
{}, "time": <ms>}``; business errors come with HTTP 200 and a nonzero retCode. Beyond the IP
limit (600 requests / 5 s) the gateway answers HTTP 403 "access too frequent" and bans the IP
for 10 minutes; 429 is the venue's system-wide protection. Codes from the v5 error-code table."""
from __future__ import annotations

import json
import re
from typing import Any

from venuelink.errors import (AuthError, ExecutionUnknown, IpBanned, RateLimited, Rejected, TimestampError,
                           UnknownOrder, VenueError)
from venuelink.rest import RestResponse

IP_BAN_S = 600.0
"""an IP over its limit is refused (HTTP 403) for 10 minutes"""
ENDPOINT_LIMIT = 10006
"""too many visits: the endpoint's per-UID limit, until X-Bapi-Limit-Reset-Timestamp"""
RATE_LIMIT = {10018, 10429}
"""the IP limit; WebSocket order entry / 429: system frequency protection (no time given: 1 s)"""
UNKNOWN_OUTCOME = {10000, 10016, 10019}
"""server timeout; server error / service restarting; WebSocket order entry: service restarting:
the request may or may not have executed"""
TIMESTAMP = {10002}
"""the request's time is outside the receive window: sync the clock"""
AUTH = {10003, 10004, 10005, 10007, 10009, 10010, 33004}
"""invalid key; signature error; permission denied; authentication failed; IP banned for the
key; IP not bound to the key; key expired"""
NO_OPEN_ORDER = {110001, 110008, 170213}
"""order does not exist; order already filled or canceled; spot: order does not exist"""
DUPLICATE_CLIENT_ID = {110072}
"""orderLinkId already used: an order with that id was placed (the engine never reuses the id
of a live order), so after a lost answer this means "already placed": reconcile, never refuse"""


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.isdigit() and len(v) <= 9:
        return int(v)
    return None


def _ms(v: Any) -> int | None:
    s = str(v) if isinstance(v, (int, str)) and not isinstance(v, bool) else ""
    return int(s) if s.isdigit() and len(s) <= 15 else None


def parse_body(body: bytes) -> tuple[int | None, str, dict]:
    """(retCode, retMsg, envelope) of a Bybit answer; retCode None when the body is not one."""
    try:
        d = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, body[:200].decode("utf-8", "replace"), {}
    if not isinstance(d, dict):
        return None, str(d)[:200], {}
    return _int(d.get("retCode")), str(d.get("retMsg", ""))[:500], d


def _retry_after(headers: Any, env: dict) -> float:
    """Seconds until the endpoint's window resets, from X-Bapi-Limit-Reset-Timestamp measured
    against the answer's own server time (so a skewed local clock does not stretch it): at least
    the 1-s window when the venue says nothing."""
    reset = _ms(headers.get("X-Bapi-Limit-Reset-Timestamp") or headers.get("x-bapi-limit-reset-timestamp"))
    now = _ms(env.get("time"))
    if reset is None or now is None or reset <= now:
        return 1.0
    return min(60.0, (reset - now) / 1000.0)


_ORIGIN = re.compile(r"origin_string\[.*", re.DOTALL)


def error_for(code: int | None, msg: str, status: int, headers: Any = None, env: dict | None = None) -> VenueError:
    # a refused signature echoes the signed text, the API key in it: never into an error or a log
    msg = _ORIGIN.sub("origin_string[...]", msg)
    kw = {"venue": "bybit", "code": code, "http_status": status}
    text = f"bybit {status} {code}: {msg}"
    if status == 403 and code is None:
        return IpBanned(f"bybit {status}: {msg} (IP limit: banned for 10 minutes)", retry_after_s=IP_BAN_S, **kw)
    if code == ENDPOINT_LIMIT:
        # one endpoint's per-UID limit: its bucket waits until the window's reset, others go on
        return RateLimited(text, retry_after_s=_retry_after(headers or {}, env or {}), buckets_only=True, **kw)
    if code in RATE_LIMIT or status == 429:
        return RateLimited(text, retry_after_s=1.0, **kw)
    if code in UNKNOWN_OUTCOME or status >= 500 or code is None:
        return ExecutionUnknown(text, **kw)
    if code in TIMESTAMP:
        return TimestampError(text, **kw)
    if code in AUTH or status == 401:
        return AuthError(text, **kw)
    if code in NO_OPEN_ORDER:
        return UnknownOrder(text, **kw)
    if code in DUPLICATE_CLIENT_ID:
        return ExecutionUnknown(text + " (an order with this orderLinkId exists)", **kw)
    if code == 10001 or 100000 <= code < 200000:
        return Rejected(text, **kw)       # parameters, balance, filters: a definite refusal
    return VenueError(text, **kw)


def map_error(resp: RestResponse) -> VenueError:
    """A non-2xx answer."""
    code, msg, env = parse_body(resp.body)
    return error_for(code, msg, resp.status, resp.headers, env)


def classify_response(resp: RestResponse) -> VenueError | None:
    """A 2xx answer: None for retCode 0, the error it carries otherwise; a 2xx body that is not a
    Bybit envelope is an unknown outcome (the request may have executed)."""
    code, msg, env = parse_body(resp.body)
    if code == 0:
        return None
    return error_for(code, msg if code is not None else f"not a Bybit answer: {msg}", resp.status, resp.headers, env)
