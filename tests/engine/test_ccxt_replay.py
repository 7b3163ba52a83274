# SPDX-License-Identifier: Apache-2.0
"""`venuelink normalize VENUE FILE --tier ccxt`: a recording through CCXT's own handlers behind the
tier's checks, compared with the native replay of the same recording."""
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from venuelink.tools.ccxt_replay import Recording, normalize_ccxt
from venuelink.tools.normalize import normalize

ROOT = Path(__file__).resolve().parents[2]
OKX = ROOT / "tests" / "fixtures" / "okx" / "session.jsonl"
SPOT = {"fetchMarkets": {"types": ["spot"]}}


def _events(text: str) -> list[dict]:
    return [json.loads(x) for x in text.splitlines() if x.strip()]


def test_the_okx_session_through_ccxt_shows_only_books_the_native_replay_shows_and_the_same_trades():
    lines = OKX.read_text().splitlines()
    native, n_err = io.StringIO(), io.StringIO()
    normalize("okx", lines, native, with_book=True, err=n_err)
    tier, t_err = io.StringIO(), io.StringIO()
    st = normalize_ccxt("okx", ["BTC/USDT"], lines, tier, with_book=True, err=t_err, options=SPOT)
    ours = [e for e in _events(tier.getvalue()) if e.get("symbol") == "BTC/USDT"]
    theirs = [e for e in _events(native.getvalue()) if e.get("symbol") == "BTC/USDT"]

    def tops(evs):    # the 5-level views printed after each applied book event
        return [(tuple(map(tuple, e["bids"])), tuple(map(tuple, e["asks"])))
                for e in evs if e["type"] == "top" and "seq" not in e]
    assert tops(ours) and set(tops(ours)) <= set(tops(theirs))      # never a book the native did not show
    trade = lambda e: (e["trade_id"], e["price"], e["size"], e["side"], e["ts_exchange"])  # noqa: E731
    mine = [trade(e) for e in ours if e["type"] == "trade"]
    native_trades = [trade(e) for e in theirs if e["type"] == "trade"]
    # the native parser refuses a trades message holding two trades (line 31); CCXT takes both
    assert [t for t in mine if t[0] not in ("130639477", "130639478")] == native_trades
    assert [t[0] for t in mine if t[0] in ("130639477", "130639478")] == ["130639477", "130639478"]
    # both drop the trade priced off the instrument's tick (line 29: 37000.55 on a 0.1 grid)
    assert "130639476" not in {t[0] for t in mine}
    # the recording's faults are caught: its wrong checksum by the tier's tap (CCXT does not
    # compare OKX's), its truncated frame reported with its line number
    err = t_err.getvalue()
    assert "worker: tap_failures = 1" in err and "CCXT: JSONDecodeError" in err
    assert st.bad_lines >= 1 and st.rest == 2 and st.frames + st.rest == st.lines


def test_rest_answers_match_by_path_and_parameters():
    r = Recording()
    r.add("/api/v5/public/instruments?instType=SPOT", {"a": 1})
    assert r.answer("/api/v5/public/instruments?instType=SPOT") == {"a": 1}
    assert r.answer("/api/v5/public/instruments?instType=SPOT&extra=1") == {"a": 1}   # a default CCXT adds
    assert r.answer("/api/v5/public/instruments?instType=SWAP") is None
    assert r.missing == ["/api/v5/public/instruments?instType=SWAP"]


def test_the_command_line():
    def run(*args):
        return subprocess.run([sys.executable, "-m", "venuelink.tools.cli", "normalize", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    ok = run("okx", str(OKX), "--tier", "ccxt", "--symbol", "BTC/USDT", "--ccxt-options", json.dumps(SPOT))
    assert ok.returncode == 0 and '"type":"trade"' in ok.stdout and "(CCXT tier)" in ok.stderr
    no_sym = run("okx", str(OKX), "--tier", "ccxt")
    assert no_sym.returncode != 0 and "--symbol BTC/USDT" in no_sym.stderr
    unloadable = run("okx", str(OKX), "--tier", "ccxt", "--symbol", "BTC/USDT")     # asks for FUTURES etc.
    assert unloadable.returncode != 0 and "could not load the markets" in unloadable.stderr
    native_only = run("okx", str(OKX), "--symbol", "BTC/USDT")
    assert native_only.returncode != 0 and "--tier ccxt" in native_only.stderr


@pytest.mark.parametrize("bad", ["[1]", "{not json"])
def test_bad_ccxt_options_are_a_usage_error(bad):
    r = subprocess.run([sys.executable, "-m", "venuelink.tools.cli", "normalize", "okx", str(OKX), "--tier", "ccxt",
                        "--symbol", "BTC/USDT", "--ccxt-options", bad], cwd=ROOT, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode != 0 and "Traceback" not in r.stderr
