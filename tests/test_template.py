# SPDX-License-Identifier: Apache-2.0
"""adapters/_template, the skeleton a new venue starts from: its wire schema is a valid one that
both parsers compile and read, its adapter imports, and its README names every hook of
venuelink.adapter.VenueAdapter (a hook added to the engine without a row there fails here)."""
from __future__ import annotations

import inspect
import re
from pathlib import Path

from venuelink.adapters._template.adapter import TemplateAdapter
from venuelink.adapters._template.wire import WIRE
from venuelink.adapter import VenueAdapter
from venuelink.model import Instrument, VenueId
from venuelink.wire_ref import WireRefParser
from venuelink.ext.feed import FeedSymbol
from venuelink.ext.sync import SeqRule
from venuelink.ext.wire import WireParser

TEMPLATE = Path(__file__).resolve().parents[1] / "adapters" / "_template"
#: VenueAdapter's own machinery, not hooks a venue fills in
NOT_HOOKS = {"set_instruments", "instrument", "instrument_urls", "feed_symbol", "md_credentials"}


def test_the_readme_names_every_hook_of_the_adapter_interface():
    readme = (TEMPLATE / "README.md").read_text()
    named = set(re.findall(r"`(\w+)", readme))
    hooks = {n for n, _ in inspect.getmembers(VenueAdapter, inspect.isfunction) if not n.startswith("_")}
    assert hooks - NOT_HOOKS - named == set()
    for f in TEMPLATE.glob("*.py"):
        assert f"`{f.name}`" in readme, f"{f.name} is not in the template's file table"


class _Sink:
    def __init__(self) -> None:
        self.trades, self.errors = [], []

    def on_trade(self, t):
        self.trades.append(t)

    def on_decode_error(self, e, raw):
        self.errors.append(e)

    def on_need_snapshot(self, sync, reason):
        pass

    def on_state(self, sync, old, new):
        pass


def test_the_skeleton_schema_compiles_and_reads_its_own_shapes_in_c_and_in_python():
    assert TemplateAdapter.wire is WIRE
    frame = (b'{"topic":"trades.BTC-USDT","data":[{"id":"t1","price":"100.5","size":"2","side":"sell",'
             b'"ts":1700000000000}]}')
    for cls in (WireParser, WireRefParser):
        sink = _Sink()
        p = cls(VenueId.binance, sink, wire=WIRE)
        inst = Instrument(VenueId.binance, "BTC-USDT", "BTC/USDT", "BTC", "USDT", 1, 0, 1, 1)
        fs = FeedSymbol(inst, b"BTC-USDT", SeqRule.SEQ_PREV, sink)
        fs.want_trades = True
        p.add_symbol(fs)
        p.feed(frame)
        assert not sink.errors, (cls.__name__, sink.errors)
        assert [(t.trade_id, t.price, t.size, t.ts_exchange) for t in sink.trades] == \
            [("t1", 1005, 2, 1_700_000_000_000_000_000)], cls.__name__
