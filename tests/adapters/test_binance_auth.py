"""Binance signing against the published vectors, and the error-code mapping."""
import pytest

from venuelink.adapters.binance import auth
from venuelink.adapters.binance.errors import map_error
from venuelink.config import Credentials, Secret
from venuelink.errors import (AuthError, ExecutionUnknown, IpBanned, RateLimited, Rejected, TimestampError,
                           UnknownOrder)
from venuelink.rest import RestResponse

KEY = "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A"
SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
CREDS = Credentials(Secret(KEY), Secret(SECRET))
BASE = [("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"), ("quantity", "1"), ("price", "0.1")]


def test_rest_vector_b1():
    q = auth.signed_query(CREDS, [("symbol", "LTCBTC"), *BASE], 1499827319559, 5000)
    assert q.endswith("&signature=c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71")
    assert q.startswith("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
                        "&timestamp=1499827319559")


def test_rest_vector_b2_non_ascii_symbol_is_percent_encoded_before_signing():
    q = auth.signed_query(CREDS, [("symbol", "１２３４５６"), *BASE], 1499827319559, 5000)
    assert q.startswith("symbol=%EF%BC%91%EF%BC%92%EF%BC%93%EF%BC%94%EF%BC%95%EF%BC%96&")
    assert q.endswith("&signature=e1353ec6b14d888f1164ae9af8228a3dbd508bc82eb867db8ab6046442f33ef3")


def test_ws_api_vectors_b4_b5_sorted_not_encoded():
    p = {"apiKey": KEY, "price": "52000.00", "quantity": "0.01000000", "recvWindow": "100", "side": "SELL",
         "symbol": "BTCUSDT", "timeInForce": "GTC", "timestamp": "1645423376532", "type": "LIMIT"}
    assert auth.ws_api_signature(CREDS, p) == "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"
    p = {"apiKey": KEY, "price": "0.10000000", "quantity": "1.00000000", "recvWindow": "5000", "side": "BUY",
         "symbol": "１２３４５６", "timeInForce": "GTC", "timestamp": "1645423376532", "type": "LIMIT"}
    assert auth.ws_api_signature(CREDS, p) == "b33892ae8e687c939f4468c6268ddd4c40ac1af18ad19a064864c47bae0752cd"


def resp(status, code=None, msg="", headers=None):
    body = b"" if code is None else ('{"code":%d,"msg":"%s"}' % (code, msg)).encode()
    return RestResponse(status, headers or {}, body)


@pytest.mark.parametrize("r,exc", [
    (resp(418, -1003, "Way too many requests; IP banned until 1700000000000.", {"Retry-After": "120"}), IpBanned),
    (resp(429, -1003, "Too many requests.", {"Retry-After": "7"}), RateLimited),
    (resp(400, -1015, "Too many new orders."), RateLimited),
    (resp(503, -1007, "Timeout waiting for response from backend server. Send status unknown; execution status unknown."),
     ExecutionUnknown),
    (resp(502), ExecutionUnknown),
    (resp(400, -1021, "Timestamp for this request is outside of the recvWindow."), TimestampError),
    (resp(400, -1022, "Signature for this request is not valid."), AuthError),
    (resp(401, -2015, "Invalid API-key, IP, or permissions for action."), AuthError),
    (resp(400, -2013, "Order does not exist."), UnknownOrder),
    (resp(400, -2011, "Unknown order sent."), UnknownOrder),
    (resp(400, -2010, "Account has insufficient balance for requested action."), Rejected),
    (resp(400, -1013, "Filter failure: PRICE_FILTER"), Rejected),
    (resp(400, -1121, "Invalid symbol."), Rejected),
])
def test_error_mapping(r, exc):
    e = map_error(r)
    assert type(e) is exc
    if exc in (IpBanned, RateLimited) and "Retry-After" in r.headers:
        assert e.retry_after_s == float(r.headers["Retry-After"])


def test_ban_without_retry_after_assumes_two_minutes():
    assert map_error(resp(418, -1003, "banned")).retry_after_s == 120.0
