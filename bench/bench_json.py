# SPDX-License-Identifier: Apache-2.0
"""A 20-level diff-depth frame (Binance format) from raw bytes to an applied book, and JSON
field extraction alone, side by side with the usual Python pipelines in the same run.

Every pipeline consumes the same 256 frames in a cycle, on a 1000-level book, with exact values
(ours: int64 fixed point; the others: decimal.Decimal, as an exact Python feed handler must).

  depth-frame-to-book   per message: ext (JsonDoc + L2Book, 5 Python-level calls per frame)
                        vs msgspec typed Struct + order-book, orjson + order-book,
                        orjson + SortedDict
  json-extract          per message, no book: ext JsonDoc (fields + levels as int64)
                        vs orjson.loads + dict access (+ Decimal per level) vs msgspec Struct
"""
from decimal import Decimal

import msgspec
import orjson
import pytest
from order_book import OrderBook
from sortedcontainers import SortedDict

from bench.frames import depth_stream
from venuelink.ext.book import L2Book
from venuelink.ext.json import JsonDoc
from venuelink.ext.types import Side

(SNAP_BIDS, SNAP_ASKS), FRAMES = depth_stream()
NF = len(FRAMES)


class DepthUpdate(msgspec.Struct):
    e: str
    E: int
    s: str
    U: int
    u: int
    b: list[tuple[str, str]]
    a: list[tuple[str, str]]


DECODER = msgspec.json.Decoder(DepthUpdate)


def _cycle(fn):
    state = {"i": 0}

    def run():
        i = state["i"]
        fn(FRAMES[i])
        state["i"] = (i + 1) % NF
    return run


@pytest.mark.benchmark(group="depth-frame-to-book")
def test_ext_jsondoc_l2book(benchmark):
    book, doc = L2Book(2, 8), JsonDoc()
    book.snapshot([(int(Decimal(p) * 100), int(Decimal(q) * 10**8)) for p, q in SNAP_BIDS],
                  [(int(Decimal(p) * 100), int(Decimal(q) * 10**8)) for p, q in SNAP_ASKS])

    def handle(frame):
        doc.load(frame)
        doc.int("U")
        book.seq = doc.int("u")
        doc.apply_levels("b", book, 1)
        doc.apply_levels("a", book, 2)
    benchmark(_cycle(handle))


def _order_book():
    ob = OrderBook()
    for p, q in SNAP_BIDS:
        ob.bids[Decimal(p)] = Decimal(q)
    for p, q in SNAP_ASKS:
        ob.asks[Decimal(p)] = Decimal(q)
    return ob


def _apply_dec(side, levels):
    for p, q in levels:
        px, qty = Decimal(p), Decimal(q)
        if qty:
            side[px] = qty
        elif px in side:
            del side[px]


@pytest.mark.benchmark(group="depth-frame-to-book")
def test_msgspec_struct_order_book(benchmark):
    ob = _order_book()

    def handle(frame):
        m = DECODER.decode(frame)
        _apply_dec(ob.bids, m.b)
        _apply_dec(ob.asks, m.a)
    benchmark(_cycle(handle))


@pytest.mark.benchmark(group="depth-frame-to-book")
def test_orjson_order_book(benchmark):
    ob = _order_book()

    def handle(frame):
        m = orjson.loads(frame)
        m["U"], m["u"]
        _apply_dec(ob.bids, m["b"])
        _apply_dec(ob.asks, m["a"])
    benchmark(_cycle(handle))


@pytest.mark.benchmark(group="depth-frame-to-book")
def test_orjson_sorteddict(benchmark):
    bids = SortedDict({Decimal(p): Decimal(q) for p, q in SNAP_BIDS})
    asks = SortedDict({Decimal(p): Decimal(q) for p, q in SNAP_ASKS})

    def handle(frame):
        m = orjson.loads(frame)
        m["U"], m["u"]
        for side, levels in ((bids, m["b"]), (asks, m["a"])):
            for p, q in levels:
                px, qty = Decimal(p), Decimal(q)
                if qty:
                    side[px] = qty
                else:
                    side.pop(px, None)
    benchmark(_cycle(handle))


@pytest.mark.benchmark(group="json-extract")
def test_ext_jsondoc_extract(benchmark):
    doc = JsonDoc()

    def handle(frame):
        doc.load(frame)
        doc.int("U")
        doc.int("u")
        doc.levels("b", 2, 8)
        doc.levels("a", 2, 8)
    benchmark(_cycle(handle))


@pytest.mark.benchmark(group="json-extract")
def test_orjson_dict_access(benchmark):
    def handle(frame):
        m = orjson.loads(frame)
        m["U"], m["u"], m["b"], m["a"]
    benchmark(_cycle(handle))


@pytest.mark.benchmark(group="json-extract")
def test_orjson_dict_decimal(benchmark):
    def handle(frame):
        m = orjson.loads(frame)
        m["U"], m["u"]
        [(Decimal(p), Decimal(q)) for p, q in m["b"]]
        [(Decimal(p), Decimal(q)) for p, q in m["a"]]
    benchmark(_cycle(handle))


@pytest.mark.benchmark(group="json-extract")
def test_msgspec_struct(benchmark):
    def handle(frame):
        m = DECODER.decode(frame)
        m.U, m.u, m.b, m.a
    benchmark(_cycle(handle))
