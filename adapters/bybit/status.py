# SPDX-License-Identifier: Apache-2.0
"""Bybit ``GET /v5/system/status``: platform maintenance and incidents, each with ``state``
(scheduled, ongoing, completed, canceled), ``begin``/``end`` (ms strings; ``end`` is the expected
end until the event completes), ``serviceTypes`` and ``product``.

An ongoing event of a trading service (1 trading, 2 HTTP trading, 3 WebSocket trading; an event
naming no service is taken as all of them) makes the venue MAINTENANCE (orders stop); a scheduled
one, or one of the private stream or market data alone (4, 5), is SCHEDULED (logged, exported,
alertable). Short interruptions (under 10 s) are not announced: retCode 10016 and the WebSocket
order entry's 10019 ("service restarting") reach the engine as unknown outcomes instead."""
from __future__ import annotations

import json

from venuelink.status import StatusKind, VenueStatus, ms_ns, worst

STATUS_PATH = "/v5/system/status"
TRADING_SERVICES = {1, 2, 3}
STATES = {"scheduled", "ongoing", "completed", "canceled"}


def parse_status(body: bytes) -> VenueStatus:
    d = json.loads(body)
    result = d.get("result") if isinstance(d, dict) else None
    if not isinstance(result, dict) or d.get("retCode") != 0 or not isinstance(result.get("list"), list):
        raise ValueError("not a successful Bybit answer")
    found = []
    for ev in result["list"]:
        if not isinstance(ev, dict):
            raise ValueError("event is not an object")
        state, services = ev.get("state"), ev.get("serviceTypes") or []
        if state not in STATES:
            raise ValueError(f"unknown state {state!r}")
        if not isinstance(services, list):
            raise ValueError("serviceTypes is not a list")
        if state in ("completed", "canceled"):
            continue
        trading = not services or bool(TRADING_SERVICES & set(services))
        kind = StatusKind.MAINTENANCE if state == "ongoing" and trading else StatusKind.SCHEDULED
        found.append(VenueStatus(kind, ms_ns(ev.get("begin"), "begin"), ms_ns(ev.get("end"), "end"),
                                 f"{str(ev.get('title', ''))[:80]}; services {services}; {state}"))
    return worst(found)
