"""Replays Binance USD-M's documentation-shaped session through `venuelink normalize binanceusdm`
(the live adapter code): instruments from /fapi/v1/exchangeInfo, the pu rule over the REST
snapshot, aggregate trades, derivatives events, bad lines reported and skipped."""
import json
import subprocess
import sys
from pathlib import Path

FIXTURE = Path(__file__).parent.parent / "fixtures" / "binanceusdm" / "session.jsonl"


def run(*args):
    p = subprocess.run([sys.executable, "-m", "venuelink.tools.cli", "normalize", *args], capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, p.stderr
    return [json.loads(line) for line in p.stdout.splitlines()], p.stderr


def test_session_replay():
    events, err = run("binanceusdm", str(FIXTURE), "--book")
    kinds = [e["type"] for e in events]
    assert {e["symbol"] for e in events if "symbol" in e} == {"BTC/USDT:USDT"}
    assert kinds.count("book_snapshot") == 2 and kinds.count("resync") == 2
    first_top = next(e for e in events if e["type"] == "top" and "seq" not in e)
    assert first_top["bids"] == [["37000.2", "1.25"], ["37000", "3"]]
    assert first_top["asks"] == [["37000.5", "0.4"], ["37000.6", "2"], ["37001", "5"]]
    trades = [(e["trade_id"], e["side"], e["price"], e["size"], e["ts_exchange"]) for e in events if e["type"] == "trade"]
    assert trades == [("5001", "buy", "37000.5", "0.01", 1_700_000_000_249_000_000),
                      ("5002", "sell", "37000.2", "0.2", 1_700_000_000_250_000_000)]
    marks = [(e["type"], e["price"]) for e in events if e["type"] in ("mark_price", "index_price")]
    assert marks == [("mark_price", "37000.41234567"), ("index_price", "36998.12345678")]
    (f,) = [e for e in events if e["type"] == "funding_rate"]
    assert (f["rate"], f["funding_time"]) == ("0.0001", 1_700_006_400_000_000_000)
    (liq,) = [e for e in events if e["type"] == "liquidation"]
    assert (liq["side"], liq["price"], liq["size"]) == ("sell", "36990", "0.014")
    assert "resync" in kinds and events[kinds.index("resync")]["reason"].startswith("sequence gap")
    assert "more fractional digits" in err and "MalformedJSONError" in err
    assert "frame for a symbol without instrument metadata" in err
