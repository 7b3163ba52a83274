# SPDX-License-Identifier: Apache-2.0
"""OKX v5 request signing.

REST: ``OK-ACCESS-SIGN = Base64(HMAC-SHA256(secret, timestamp + METHOD + requestPath + body))`` with
the timestamp in ISO-8601 UTC to the millisecond (``2020-12-08T09:08:57.715Z``; more than 30 s off
the venue's clock is refused with 50102), requestPath including ``?query`` and the body omitted
when empty. Headers ``OK-ACCESS-KEY/-SIGN/-TIMESTAMP/-PASSPHRASE``; demo-trading keys also send
``x-simulated-trading: 1``.

WebSocket login: the same HMAC over ``<unix seconds> + "GET" + "/users/self/verify"``; the login
expires 30 s after its timestamp.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

from venuelink.config import Credentials
from venuelink.errors import ConfigError

WS_LOGIN_PATH = "/users/self/verify"


def hmac_b64(secret: str, payload: str) -> str:
    return base64.b64encode(hmac.new(secret.encode(), payload.encode(), hashlib.sha256).digest()).decode()


def iso_ms(epoch_ms: int) -> str:
    """``2020-12-08T09:08:57.715Z`` from epoch milliseconds (UTC)."""
    if epoch_ms < 0:
        raise ValueError(f"negative timestamp {epoch_ms}")
    s, ms = divmod(epoch_ms, 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{ms:03d}Z"


def prehash(timestamp: str, method: str, request_path: str, body: str = "") -> str:
    m = method.upper()
    if m not in ("GET", "POST", "DELETE", "PUT"):
        raise ValueError(f"unsupported method {method!r}")
    if not request_path.startswith("/"):
        raise ValueError(f"request path must start with '/': {request_path!r}")
    return f"{timestamp}{m}{request_path}{body}"


def _passphrase(creds: Credentials) -> str:
    if creds.passphrase is None:
        raise ConfigError("okx: the API key's passphrase is required (api_passphrase_env or secrets file "
                          "api_passphrase)")
    return creds.passphrase.reveal()


def rest_headers(creds: Credentials, method: str, request_path: str, body: str, epoch_ms: int, *,
                 demo: bool = False) -> dict[str, str]:
    """Headers of one signed REST request (request_path with its ``?query`` for GET)."""
    ts = iso_ms(epoch_ms)
    h = {
        "OK-ACCESS-KEY": creds.api_key.reveal(),
        "OK-ACCESS-SIGN": hmac_b64(creds.api_secret.reveal(), prehash(ts, method, request_path, body)),
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-PASSPHRASE": _passphrase(creds),
        "Content-Type": "application/json",
    }
    if demo:
        h["x-simulated-trading"] = "1"
    return h


def ws_login_frame(creds: Credentials, epoch_s: int) -> str:
    """The ``login`` operation of a private WebSocket connection."""
    ts = str(int(epoch_s))
    arg = {"apiKey": creds.api_key.reveal(), "passphrase": _passphrase(creds), "timestamp": ts,
           "sign": hmac_b64(creds.api_secret.reveal(), prehash(ts, "GET", WS_LOGIN_PATH))}
    return json.dumps({"op": "login", "args": [arg]}, separators=(",", ":"))
