# SPDX-License-Identifier: Apache-2.0
"""OKX ``GET /api/v5/system/status``: maintenance events (by default the scheduled, ongoing and
pre_open ones), each with ``state``, ``begin``/``end`` (ms; ``end`` is the expected end until the
event completes), ``serviceType`` and ``title``.

An ongoing or pre-open event of a trading service makes the venue MAINTENANCE (orders stop); a
scheduled one, or one of the WebSocket service, is SCHEDULED (logged, exported, alertable).
Block trading, trading bots, spread and copy trading (6, 7, 10, 11) and "others" (99) do not touch
what this engine does and are left out.
"""
from __future__ import annotations

import json

from engine.status import StatusKind, VenueStatus

STATUS_PATH = "/api/v5/system/status"
TRADING_SERVICES = {"1", "2", "3", "4", "5", "8", "9"}
"""spot/margin, futures, perpetual, options (older numbering), unified trading service, trading in
batches of accounts or of products"""
WEBSOCKET_SERVICE = "0"
STATES = {"scheduled", "ongoing", "pre_open", "completed", "canceled"}


def _ms(v: object, what: str) -> int:
    if v in ("", None):
        return 0
    if not isinstance(v, str) or not v.isdigit() or len(v) > 15:
        raise ValueError(f"{what} {v!r} is not a millisecond timestamp")
    return int(v) * 1_000_000


def parse_status(body: bytes) -> VenueStatus:
    d = json.loads(body)
    if not isinstance(d, dict) or d.get("code") != "0" or not isinstance(d.get("data"), list):
        raise ValueError("not a successful OKX answer")
    worst = VenueStatus(StatusKind.NORMAL)
    for ev in d["data"]:
        if not isinstance(ev, dict):
            raise ValueError("event is not an object")
        state, svc = ev.get("state"), str(ev.get("serviceType", ""))
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        if state in ("completed", "canceled") or (svc not in TRADING_SERVICES and svc != WEBSOCKET_SERVICE):
            continue
        begin, end = _ms(ev.get("begin"), "begin"), _ms(ev.get("end"), "end")
        kind = (StatusKind.MAINTENANCE if state in ("ongoing", "pre_open") and svc in TRADING_SERVICES
                else StatusKind.SCHEDULED)
        st = VenueStatus(kind, begin, end, f"{str(ev.get('title', ''))[:80]}; service {svc}; {state}")
        if kind > worst.kind or (kind == worst.kind and begin and (not worst.begin_ns or begin < worst.begin_ns)):
            worst = st
    return worst
