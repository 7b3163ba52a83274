# SPDX-License-Identifier: Apache-2.0
"""Binance request signing: HMAC-SHA256 (hex) or Ed25519 (base64) keys.

REST: signature over query_string + request_body (values percent-encoded before signing),
appended last (percent-encoded: base64 has + / =). WS API: params (apiKey included) sorted by
name, joined k=v&... without percent-encoding, then signed the same way.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
from functools import lru_cache
from urllib.parse import quote

from venuelink.config import Credentials


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


@lru_cache(maxsize=8)
def _ed25519(pem: str):
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key
    key = load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ValueError("private key is not an Ed25519 key")
    return key


def sign(creds: Credentials, payload: str) -> str:
    """hex HMAC-SHA256 with the secret, or base64 Ed25519 with the private key when there is one."""
    if creds.private_key:
        return base64.b64encode(_ed25519(creds.private_key.reveal()).sign(payload.encode())).decode()
    return hmac_hex(creds.api_secret.reveal(), payload)


def encode_params(params: list[tuple[str, str]]) -> str:
    return "&".join(f"{k}={quote(str(v), safe='')}" for k, v in params)


def signed_query(creds: Credentials, params: list[tuple[str, str]], timestamp_ms: int, recv_window_ms: int) -> str:
    """Query string with recvWindow, timestamp and the signature (last)."""
    q = encode_params([*params, ("recvWindow", str(recv_window_ms)), ("timestamp", str(timestamp_ms))])
    return f"{q}&signature={quote(sign(creds, q), safe='')}"


def ws_api_signature(creds: Credentials, params: dict[str, str]) -> str:
    payload = "&".join(f"{k}={params[k]}" for k in sorted(params))
    return sign(creds, payload)
