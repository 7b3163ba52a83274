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

from venuelink.status import StatusKind, VenueStatus, ms_ns, worst

STATUS_PATH = "/api/v5/system/status"
TRADING_SERVICES = {"1", "2", "3", "4", "5", "8", "9"}
"""spot/margin, futures, perpetual, options (older numbering), unified trading service, trading in
batches of accounts or of products"""
WEBSOCKET_SERVICE = "0"
STATES = {"scheduled", "ongoing", "pre_open", "completed", "canceled"}


def parse_status(body: bytes) -> VenueStatus:
    d = json.loads(body)
    if not isinstance(d, dict) or d.get("code") != "0" or not isinstance(d.get("data"), list):
        raise ValueError("not a successful OKX answer")
    found = []
    for ev in d["data"]:
        if not isinstance(ev, dict):
            raise ValueError("event is not an object")
        state, svc = ev.get("state"), str(ev.get("serviceType", ""))
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        if state in ("completed", "canceled") or (svc not in TRADING_SERVICES and svc != WEBSOCKET_SERVICE):
            continue
        begin, end = ms_ns(ev.get("begin"), "begin"), ms_ns(ev.get("end"), "end")
        kind = (StatusKind.MAINTENANCE if state in ("ongoing", "pre_open") and svc in TRADING_SERVICES
                else StatusKind.SCHEDULED)
        found.append(VenueStatus(kind, begin, end, f"{str(ev.get('title', ''))[:80]}; service {svc}; {state}"))
    return worst(found)
