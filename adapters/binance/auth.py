# SPDX-License-Identifier: Apache-2.0
"""Binance request signing (HMAC-SHA256, hex).

REST: signature = hex(HMAC_SHA256(secret, query_string + request_body)), values percent-encoded
before signing, signature appended last. WS API: params (apiKey included) sorted by name,
joined k=v&... without percent-encoding, then signed the same way.
"""
from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from engine.config import Credentials


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def encode_params(params: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params)


def signed_query(creds: Credentials, params: list[tuple[str, str]], timestamp_ms: int, recv_window_ms: int) -> str:
    """Query string with recvWindow, timestamp and the signature (last)."""
    q = encode_params([*params, ("recvWindow", str(recv_window_ms)), ("timestamp", str(timestamp_ms))])
    return f"{q}&signature={hmac_hex(creds.api_secret.reveal(), q)}"


def ws_api_signature(creds: Credentials, params: dict[str, str]) -> str:
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    return hmac_hex(creds.api_secret.reveal(), payload)
