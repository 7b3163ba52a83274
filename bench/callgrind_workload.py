# SPDX-License-Identifier: Apache-2.0
"""Fixed workloads for the instruction-count gate (bench/callgrind_gate.py). Each runs inside one
C-level benchmark helper, so callgrind can count exactly that function's instructions."""
import random
import sys
from array import array

sys.path.insert(0, ".")


def okx() -> None:
    from bench.bench_okx import FRAMES, _live_parser
    parser, fs, _ = _live_parser()
    assert parser._bench_frames(FRAMES) == 0 and fs.sync.n_checksum_failures == 0


def okx_nock() -> None:
    from bench.bench_okx import FRAMES_NOCK, SNAP_NOCK, _live_parser, _resnap
    parser, fs, _ = _live_parser()
    _resnap(parser, fs, SNAP_NOCK)
    assert parser._bench_frames(FRAMES_NOCK) == 0 and fs.sync.n_gaps == 0 and parser.n_checksum_zero == 0


def main() -> None:
    if sys.argv[1:] == ["okx"]:
        return okx()
    if sys.argv[1:] == ["okx-nock"]:
        return okx_nock()
    from adapters.binance.adapter import BinanceAdapter
    from bench.bench_binance import FRAMES, _live_parser
    from ext import decimal as fx
    from ext.book import L2Book
    from ext.histogram import Histogram, _bench_record
    from ext.ratelimit import Budget, _bench_acquire

    rng = random.Random(1)
    texts = [f"{rng.randint(1, 10**7) / 100:.8f}".encode() for _ in range(1000)]
    fx._bench_parse(texts, 8, 1)

    book = L2Book(2, 8)
    book.snapshot([(1000000 - i, 100) for i in range(1000)], [(1000001 + i, 100) for i in range(1000)])
    px = array("q", [1000000 - rng.randint(0, 49) for _ in range(10000)])
    qty = array("q", [0 if rng.random() < 0.2 else rng.randint(1, 10**6) for _ in range(10000)])
    book.apply_many(1, px, qty)
    L2Book(2, 8)._bench_new_levels(1, 10**9, -1, 20000)

    b = Budget()
    b.add_bucket("w", 1, 6000, 60_000_000_000)
    b.add_bucket("o", 1, 100, 10_000_000_000)
    b.add_bucket("d", 1, 200000, 86_400_000_000_000)
    _bench_acquire(b, b.make_cost([(0, 1), (1, 1), (2, 1)]), 10000, 0, 1_000_000)

    _bench_record(Histogram(), 10000)

    parser, fs, _ = _live_parser()
    parser._bench_frames(FRAMES, 1)


if __name__ == "__main__":
    main()
