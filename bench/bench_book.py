# SPDX-License-Identifier: Apache-2.0
"""L2 book apply: venuelink.ext.book from C vs sortedcontainers.SortedDict and the order-book C extension.

Group book-apply-level: 100k level updates within 50 levels of the top of a 1000-level book;
time per call / 100k = cost per level. venuelink.ext.book runs its loop in C (apply_many, nogil); the
alternatives run the per-level Python loop a Python feed handler would run, on Decimal keys
(exact values, as ours).
"""
import random
from array import array
from decimal import Decimal

import pytest
from order_book import OrderBook
from sortedcontainers import SortedDict

from venuelink.ext.book import L2Book
from venuelink.ext.types import Side

N = 100_000
rng = random.Random(3)
MID = 2_712_345
BOOK = 1000
DELTAS = [(MID - 1 - rng.randint(0, 49), 0 if rng.random() < 0.2 else rng.randint(1, 10**6)) for _ in range(N)]
PX = array("q", [p for p, _ in DELTAS])
QTY = array("q", [q for _, q in DELTAS])
DEC = [(Decimal(p).scaleb(-2), Decimal(q).scaleb(-8)) for p, q in DELTAS]


def _ext_book():
    b = L2Book(2, 8)
    b.snapshot([(MID - 1 - i, 100) for i in range(BOOK)], [(MID + 1 + i, 100) for i in range(BOOK)])
    return b


@pytest.mark.benchmark(group="book-apply-level")
def test_ext_book_apply_many_c(benchmark):
    b = _ext_book()
    benchmark(b.apply_many, Side.BID, PX, QTY)
    benchmark.extra_info["ns_per_level"] = benchmark.stats.stats.median / N * 1e9


@pytest.mark.benchmark(group="book-apply-level")
def test_ext_book_apply_python_loop(benchmark):
    b = _ext_book()
    apply = b.apply

    def run():
        for p, q in DELTAS:
            apply(1, p, q)
    benchmark(run)


@pytest.mark.benchmark(group="book-apply-level")
def test_sorteddict_decimal(benchmark):
    bids = SortedDict({Decimal(MID - 1 - i).scaleb(-2): Decimal(1) for i in range(BOOK)})

    def run():
        for p, q in DEC:
            if q:
                bids[p] = q
            else:
                bids.pop(p, None)
    benchmark(run)


@pytest.mark.benchmark(group="book-apply-level")
def test_order_book_ext_decimal(benchmark):
    ob = OrderBook()
    for i in range(BOOK):
        ob.bids[Decimal(MID - 1 - i).scaleb(-2)] = Decimal(1)
    bids = ob.bids

    def run():
        for p, q in DEC:
            if q:
                bids[p] = q
            elif p in bids:
                del bids[p]
    benchmark(run)


@pytest.mark.benchmark(group="book-top")
def test_ext_book_best_and_top5(benchmark):
    b = _ext_book()
    benchmark(lambda: (b.best_bid(), b.best_ask(), b.top(Side.BID, 5)))


@pytest.mark.benchmark(group="book-snapshot")
def test_ext_book_snapshot_5000(benchmark):
    b = L2Book(2, 8)
    px = array("q", [MID - 1 - i for i in range(5000)])
    qty = array("q", [100] * 5000)
    benchmark(b.set_levels, Side.BID, px, qty)
