"""OKX signing and error answers: the documented algorithms, checked against an independently
computed vector, and every class of error code to the engine error a caller acts on."""
import base64
import hashlib
import hmac
import json

import pytest

from venuelink.adapters.okx import auth, errors
from venuelink.config import Credentials, Secret
from venuelink.errors import (AuthError, ConfigError, ExecutionUnknown, RateLimited, Rejected, TimestampError,
                           UnknownOrder)
from venuelink.rest import RestResponse

DOC_SECRET = "22582BD0CFF14C41EDBF1AB98506286D"     # the docs' sample SecretKey


def creds(passphrase: str | None = "pass-phrase") -> Credentials:
    return Credentials(Secret("k-123"), Secret(DOC_SECRET), passphrase=Secret(passphrase) if passphrase else None)


def test_ws_login_sign_matches_the_computed_vector():
    # sign_vectors.md: timestamp 1538054050 with the docs' sample secret (the docs' own example
    # signature belongs to another key and does not reproduce)
    frame = json.loads(auth.ws_login_frame(creds(), 1538054050))
    assert frame["op"] == "login"
    arg = frame["args"][0]
    assert arg == {"apiKey": "k-123", "passphrase": "pass-phrase", "timestamp": "1538054050",
                   "sign": "+LdIr8lkkvhr5hoA3g9TMC0+uQJ849ftAcocA/ouu4M="}


def test_rest_headers_sign_timestamp_method_path_and_body():
    body = '{"instId":"BTC-USDT","tdMode":"cash","side":"buy","ordType":"limit","px":"2.15","sz":"2"}'
    h = auth.rest_headers(creds(), "post", "/api/v5/trade/order", body, 1607418537715)
    assert h["OK-ACCESS-TIMESTAMP"] == "2020-12-08T09:08:57.715Z"
    want = base64.b64encode(hmac.new(DOC_SECRET.encode(), ("2020-12-08T09:08:57.715ZPOST/api/v5/trade/order" + body)
                                     .encode(), hashlib.sha256).digest()).decode()
    assert h["OK-ACCESS-SIGN"] == want and h["OK-ACCESS-KEY"] == "k-123"
    assert h["OK-ACCESS-PASSPHRASE"] == "pass-phrase" and "x-simulated-trading" not in h
    g = auth.rest_headers(creds(), "GET", "/api/v5/account/balance?ccy=BTC", "", 1607418537005, demo=True)
    assert g["OK-ACCESS-TIMESTAMP"] == "2020-12-08T09:08:57.005Z" and g["x-simulated-trading"] == "1"
    assert g["OK-ACCESS-SIGN"] == auth.hmac_b64(DOC_SECRET, "2020-12-08T09:08:57.005ZGET/api/v5/account/balance?ccy=BTC")
    assert g["OK-ACCESS-SIGN"] != auth.hmac_b64(DOC_SECRET, "2020-12-08T09:08:57.005ZGET/api/v5/account/balance")


def test_bad_signing_input_is_refused_and_secrets_never_show():
    with pytest.raises(ConfigError) as e:
        auth.rest_headers(creds(None), "GET", "/api/v5/account/balance", "", 1)
    assert DOC_SECRET not in str(e.value)
    with pytest.raises(ValueError):
        auth.prehash("t", "PATCH", "/x")
    with pytest.raises(ValueError):
        auth.prehash("t", "GET", "api/v5/x")
    with pytest.raises(ValueError):
        auth.iso_ms(-1)
    assert DOC_SECRET not in repr(creds()) and "pass-phrase" not in repr(creds())


def answer(status: int, body) -> RestResponse:
    return RestResponse(status, {}, json.dumps(body).encode() if not isinstance(body, bytes) else body)


@pytest.mark.parametrize("status, body, cls, code", [
    (200, {"code": "50011", "msg": "Rate limit reached.", "data": []}, RateLimited, 50011),
    (429, {"code": "50011", "msg": "Too Many Requests", "data": []}, RateLimited, 50011),
    (200, {"code": "50061", "msg": "Sub-account rate limit exceeded.", "data": []}, RateLimited, 50061),
    (503, {"code": "50001", "msg": "Service temporarily unavailable.", "data": []}, ExecutionUnknown, 50001),
    (400, {"code": "50004", "msg": "API endpoint request timeout.", "data": []}, ExecutionUnknown, 50004),
    (500, {"code": "51054", "msg": "Request timed out.", "data": []}, ExecutionUnknown, 51054),
    (401, {"code": "50102", "msg": "Timestamp request expired.", "data": []}, TimestampError, 50102),
    (401, {"code": "50113", "msg": "Invalid Sign.", "data": []}, AuthError, 50113),
    (401, {"code": "50105", "msg": "Incorrect passphrase.", "data": []}, AuthError, 50105),
    (200, {"code": "1", "msg": "All operations failed", "data": [{"clOrdId": "a1", "sCode": "51008",
                                                                  "sMsg": "Order failed. Insufficient balance."}]},
     Rejected, 51008),
    (200, {"code": "1", "msg": "All operations failed", "data": [{"sCode": "51016",
                                                                  "sMsg": "Client order ID already exists."}]},
     ExecutionUnknown, 51016),         # already placed (after a lost answer): reconcile, never "rejected"
    (200, {"code": "1", "msg": "", "data": [{"sCode": "51400", "sMsg": "Order cancellation failed as the order "
                                                                        "has been filled, canceled or does not exist"}]},
     UnknownOrder, 51400),
    (200, {"code": "1", "msg": "", "data": [{"sCode": "51000", "sMsg": "Parameter px error"}]}, Rejected, 51000),
    (200, {"code": "51603", "msg": "Order does not exist.", "data": []}, UnknownOrder, 51603),
    (200, {"code": "1", "msg": "", "data": [{"sCode": "50001", "sMsg": "Service unavailable"}]}, ExecutionUnknown, 50001),
])
def test_error_codes_to_engine_errors(status, body, cls, code):
    fn = errors.classify_response if status < 300 else errors.map_error
    err = fn(answer(status, body))
    assert type(err) is cls and err.code == code and err.venue == "okx" and err.http_status == status


def test_success_and_answers_that_are_not_okx_envelopes():
    assert errors.classify_response(answer(200, {"code": "0", "msg": "", "data": [{"sCode": "0"}]})) is None
    for body in (b"<html>gateway</html>", b'["x"]', b'{"code": true}', b'{"code": "12345678901"}'):
        err = errors.classify_response(answer(200, body))
        assert isinstance(err, ExecutionUnknown), body      # may have executed: never a success
    assert isinstance(errors.map_error(answer(502, b"bad gateway")), ExecutionUnknown)
    assert isinstance(errors.map_error(answer(418, b"")), ExecutionUnknown)
