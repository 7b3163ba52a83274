"""Binance USD-M signs as spot does (venuelink.adapters.binance.auth, shared): the published USD-M vectors."""
from venuelink.adapters.binance import auth
from venuelink.config import Credentials, Secret

SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
KEY = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83"


def test_usdm_order_vector_f1():
    creds = Credentials(Secret(KEY), Secret(SECRET))
    params = [("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("quantity", "1"), ("price", "9000"),
              ("timeInForce", "GTC")]
    q = auth.signed_query(creds, params, 1591702613943, 5000)
    assert q == ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000"
                 "&timestamp=1591702613943"
                 "&signature=3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9")


def test_usdm_mixed_vector_f2_reproduces_only_as_printed():
    # the documentation's mixed query + body example is signed over its printed text, which has a
    # space after "timestamp=" and no "&" before "quantity"
    printed = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTCquantity=1&price=9000&recvWindow=5000&timestamp= 1591702613943"
    assert auth.hmac_hex(SECRET, printed) == "f9d0ae5e813ef6ccf15c2b5a434047a0181cb5a342b903b367ca6d27a66e36f2"
    assert auth.hmac_hex(SECRET, printed.replace("= ", "=")) != "f9d0ae5e813ef6ccf15c2b5a434047a0181cb5a342b903b367ca6d27a66e36f2"
