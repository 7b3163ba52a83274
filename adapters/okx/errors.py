# SPDX-License-Identifier: Apache-2.0
"""OKX v5 error answers -> engine errors.

Every answer has the envelope ``{"code": "0", "msg": "", "data": [...]}``; ``code`` other than
"0" is an error, whatever the HTTP status (rate limits come as 429 or as 200 with 50011). Batch
and order answers carry a code per item (``sCode``/``sMsg``): top-level code "1" (all failed) or
"2" (some failed) is then resolved by the items' codes. Codes from the docs' error-code table.
"""
from __future__ import annotations

import json
from typing import Any

from venuelink.errors import (AuthError, ExecutionUnknown, RateLimited, Rejected, TimestampError,
                           UnknownOrder, VenueError)
from venuelink.rest import RestResponse

UNKNOWN_OUTCOME = {50001, 50004, 50013, 50026, 51054}
"""service unavailable, endpoint timeout, systems busy, system error, request timed out: the request
may or may not have executed (check the order's status)"""
RATE_LIMIT = {50011, 50061, 60014}
"""rate limit reached; sub-account order rate limit; WebSocket: requests too frequent"""
TIMESTAMP = {50102, 50112, 60004, 60006}
"""REST timestamp expired / invalid; WebSocket login: invalid timestamp, timestamp request expired"""
AUTH = {50100, 50101, 50103, 50104, 50105, 50106, 50107, 50110, 50111, 50113, 50114,
        60005, 60007, 60009, 60011, 60024}
"""REST key / signature / permission errors; WebSocket: invalid apiKey, invalid sign, login
failed, please log in, wrong passphrase"""
WS_REQUEST_INVALID = {60012, 60013}
"""WebSocket: invalid request / invalid args: refused before anything executed"""
QUERY_NOT_FOUND = 51603
"""order does not exist: the only answer by which an order query proves there is no such order"""
NO_OPEN_ORDER = {51400, 51401, 51402, 51503, 51603}
"""cancel / amend failed as the order is filled, canceled or does not exist; order does not exist:
the venue definitively has no such open order"""
DUPLICATE_CLIENT_ID = {51016}
"""clOrdId already exists: an order with that id was placed (the engine never reuses the id of a live
order), so after a lost answer this means "already placed", an outcome to reconcile, not a refusal"""
REJECT_RANGE = range(51000, 60000)
"""trading / parameter errors (51000 parameter, 51008 insufficient balance, 51016 duplicate
clOrdId, ...): a definite refusal"""


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int):
        return v
    if isinstance(v, str) and v.isdigit() and len(v) <= 9:
        return int(v)
    return None


def parse_body(body: bytes) -> tuple[int | None, str, list]:
    """(code, msg, data) of an OKX envelope; code None when the body is not one."""
    try:
        d = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return None, body[:200].decode("utf-8", "replace"), []
    if not isinstance(d, dict):
        return None, str(d)[:200], []
    data = d.get("data")
    return _int(d.get("code")), str(d.get("msg", ""))[:500], data if isinstance(data, list) else []


def _item_error(data: list) -> tuple[int | None, str]:
    """The first failed item's (sCode, sMsg) of a batch / order answer."""
    for it in data:
        if isinstance(it, dict):
            c = _int(it.get("sCode"))
            if c:
                return c, str(it.get("sMsg", ""))[:500]
    return None, ""


def error_for(code: int | None, msg: str, status: int) -> VenueError:
    kw = {"venue": "okx", "code": code, "http_status": status}
    text = f"okx {status} {code}: {msg}"
    if status == 429 or code in RATE_LIMIT:
        return RateLimited(text, retry_after_s=1.0, **kw)    # OKX sends no retry hint
    if code in UNKNOWN_OUTCOME or status >= 500 or code is None:
        return ExecutionUnknown(text, **kw)
    if code in TIMESTAMP:
        return TimestampError(text, **kw)
    if code in AUTH or status == 401:
        return AuthError(text, **kw)
    if code in NO_OPEN_ORDER:
        return UnknownOrder(text, **kw)
    if code in DUPLICATE_CLIENT_ID:
        return ExecutionUnknown(text + " (an order with this id exists)", **kw)
    if code in REJECT_RANGE or code in WS_REQUEST_INVALID:
        return Rejected(text, **kw)
    return VenueError(text, **kw)


def answer_error(code: int | None, msg: str, data: list, status: int = 200) -> VenueError | None:
    """The error of a decoded answer (REST envelope or WebSocket ``op`` reply): None for code 0
    with no failed item, the items' first sCode for code 1/2."""
    if code == 0:
        c, m = _item_error(data)
        return None if c is None else error_for(c, m, status)
    if code in (1, 2):
        c, m = _item_error(data)
        if c is not None:
            code, msg = c, m
    return error_for(code, msg, status)


def map_error(resp: RestResponse) -> VenueError:
    """A non-2xx answer."""
    code, msg, data = parse_body(resp.body)
    if code in (1, 2):
        c, m = _item_error(data)
        if c is not None:
            code, msg = c, m
    return error_for(code, msg, resp.status)


def classify_response(resp: RestResponse) -> VenueError | None:
    """A 2xx answer: None when its code is "0", the error it carries otherwise. A 2xx body that is
    not an OKX envelope is an unknown outcome (the request may have executed)."""
    code, msg, data = parse_body(resp.body)
    if code == 0:
        return None
    if code in (1, 2):
        c, m = _item_error(data)
        if c is not None:
            code, msg = c, m
    return error_for(code, msg if code is not None else f"not an OKX answer: {msg}", resp.status)
