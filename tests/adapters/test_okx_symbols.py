"""OKX instruments answers (SPOT and SWAP) -> unified symbols, exact scales, status; the spec's
book rules are the documented ones."""
import pytest

from venuelink.adapters.okx.spec import SPEC
from venuelink.adapters.okx.symbols import parse_instruments
from venuelink.errors import EngineError
from venuelink.model import MarketKind
from venuelink.ext.sync import SeqRule

SPOT = {"code": "0", "msg": "", "data": [
    {"instType": "SPOT", "instId": "BTC-USDT", "baseCcy": "BTC", "quoteCcy": "USDT", "settleCcy": "",
     "tickSz": "0.1", "lotSz": "0.00000001", "minSz": "0.00001", "state": "live"},
    {"instType": "SPOT", "instId": "ETH-USDT", "baseCcy": "ETH", "quoteCcy": "USDT", "settleCcy": "",
     "tickSz": "0.01", "lotSz": "0.000001", "minSz": "0.001", "state": "suspend"}]}
SWAP = {"code": "0", "msg": "", "data": [
    {"instType": "SWAP", "instId": "BTC-USDT-SWAP", "settleCcy": "USDT", "ctVal": "0.01", "ctValCcy": "BTC",
     "tickSz": "0.1", "lotSz": "0.01", "minSz": "0.01", "state": "live"}]}


def test_spot_and_swap_symbols_scales_and_status():
    spot = parse_instruments(SPOT)
    assert [(i.symbol, i.venue_symbol, i.px_scale, i.qty_scale, i.min_qty, i.active) for i in spot] == [
        ("BTC/USDT", "BTC-USDT", 1, 8, 1000, True), ("ETH/USDT", "ETH-USDT", 2, 6, 1000, False)]
    (swap,) = parse_instruments(SWAP)
    assert (swap.symbol, swap.kind, swap.settle, swap.qty_scale, swap.min_qty) == (
        "BTC/USDT:USDT", MarketKind.SWAP, "USDT", 2, 1)


def test_error_answer_is_refused():
    with pytest.raises(EngineError):
        parse_instruments({"code": "51000", "msg": "Parameter instType error", "data": []})


def test_book_rules():
    assert SPEC.book.seq_rule == SeqRule.SEQ_PREV and SPEC.book.depth == 400 and SPEC.book.checksum
    assert SPEC.endpoint("public").max_subscribe_ops_per_hour == 480


def test_inst_id_code_is_kept_for_websocket_order_operations():
    """instIdCode names the instrument in WebSocket order operations (OKX ignores instId there since
    March 2026): kept as the instrument's venue_code; a row whose code is not an integer is skipped."""
    rows = [dict(SPOT["data"][0], instIdCode=10001), dict(SPOT["data"][1], instIdCode="x")]
    insts = parse_instruments({"code": "0", "data": rows})
    assert [(i.venue_symbol, i.venue_code) for i in insts] == [("BTC-USDT", 10001)]
    assert parse_instruments(SWAP)[0].venue_code == 0                # not sent: none (REST orders then)
