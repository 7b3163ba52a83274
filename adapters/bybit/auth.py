# SPDX-License-Identifier: Apache-2.0
"""Bybit v5 signing (HMAC keys).

REST: ``X-BAPI-SIGN = hex(HMAC-SHA256(secret, timestamp + api_key + recv_window + payload))``,
the payload being the query string of a GET exactly as sent, or the raw JSON body of a POST;
the timestamp is in ms and accepted while ``server_time - recv_window <= timestamp <
server_time + 1000``. WebSocket login: ``{"op": "auth", "args": [api_key, expires, signature]}``
with ``signature = hex(HMAC-SHA256(secret, "GET/realtime" + expires))`` and ``expires`` a time
in ms a little in the future. The secret is read only here and never leaves as text."""
from __future__ import annotations

import hashlib
import hmac
import json

from venuelink.config import Credentials

RECV_WINDOW_MS = 5000


def _hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def rest_headers(creds: Credentials, payload: str, ts_ms: int, recv_window_ms: int = RECV_WINDOW_MS) -> dict[str, str]:
    key = creds.api_key.reveal()
    return {"X-BAPI-API-KEY": key, "X-BAPI-TIMESTAMP": str(ts_ms), "X-BAPI-RECV-WINDOW": str(recv_window_ms),
            "X-BAPI-SIGN": _hex(creds.api_secret.reveal(), f"{ts_ms}{key}{recv_window_ms}{payload}")}


def ws_auth_frame(creds: Credentials, expires_ms: int, req_id: str = "auth") -> str:
    sig = _hex(creds.api_secret.reveal(), f"GET/realtime{expires_ms}")
    return json.dumps({"req_id": req_id, "op": "auth", "args": [creds.api_key.reveal(), expires_ms, sig]},
                      separators=(",", ":"))
