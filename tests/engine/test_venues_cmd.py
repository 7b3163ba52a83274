"""`venuelink venues`: every venue of VenueId with its tier and what it supports."""
import json
import subprocess
import sys

import ccxt.pro

from venuelink import registry
from venuelink.tools.cli import main
from venuelink.model import VenueId
from venuelink.tools.venues import CCXT_FEATURES, render, venue_table


def test_every_venue_once_with_its_tier_and_features():
    rows = venue_table()
    assert [r["venue"] for r in rows] == [v.name for v in VenueId.all()]
    by = {r["venue"]: r for r in rows}
    assert len(by) >= 17
    for name, row in by.items():
        if VenueId.parse(name) in registry.ADAPTERS:
            assert row["tier"] == "native", row
        elif name == "bitmex":
            assert row["tier"] == "none" and row["supports"] == [] and "no longer ships" in row["note"]
        elif not hasattr(ccxt.pro, row["ccxt_id"]):
            # an id registered at run time (VenueId.register, as some tests do) that CCXT lacks
            assert row["tier"] == "none" and row["supports"] == [], row
        else:
            assert row["tier"] == "ccxt", row
            has = getattr(ccxt.pro, row["ccxt_id"])().has        # CCXT's own flags, nothing added
            want = [f for f in CCXT_FEATURES if has.get(f) in (True, "emulated")]
            assert [f for f in row["supports"] if f != "editOrder"] == want
            assert ("editOrder" in row["supports"]) == (name in ("bybit",) and bool(has.get("editOrder")))
    # native venues: read off their adapters (channels and order-entry methods)
    assert {"watchOrderBook", "watchTrades", "watchBidsAsks", "createOrder", "cancelOrder", "fetchOrder",
            "watchOrders"} <= set(by["binance"]["supports"])
    assert "editOrder" not in by["binance"]["supports"] and "cancelAllOrdersAfter" not in by["binance"]["supports"]
    assert {"editOrder", "cancelAllOrdersAfter", "derivatives"} <= set(by["okx"]["supports"])
    assert by["gate"]["tier"] == "ccxt" and by["kraken"]["supports"][:2] == ["watchOrderBook", "watchTrades"]
    assert {"watchOrders", "cancelAllOrders", "cancelAllOrdersAfter"} <= set(by["kraken"]["supports"])


def test_plain_table_and_json(capsys):
    assert main(["venues"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["VENUE", "TIER", "SUPPORTS", "NOTE"]
    assert len(lines) == 1 + len(VenueId.all())
    cols = {ln.split()[0]: ln.split() for ln in lines[1:]}
    assert cols["okx"][1] == "native" and cols["kraken"][1] == "ccxt" and cols["bitmex"][1:3] == ["none", "-"]
    assert "not served" in lines[[c.split()[0] for c in lines].index("bitmex")]
    assert all(ln == ln.rstrip() for ln in lines)
    assert main(["venues", "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == venue_table()
    assert render([]).split() == ["VENUE", "TIER", "SUPPORTS", "NOTE"]


def test_the_installed_command():
    r = subprocess.run([sys.executable, "-m", "venuelink.tools.cli", "venues", "--json"], capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0, r.stderr
    rows = json.loads(r.stdout)
    assert {r["venue"]: r["tier"] for r in rows}["bitmex"] == "none"
