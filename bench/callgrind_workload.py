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


def trade_ids(case: str) -> None:
    """10,000 integer trade ids through one symbol's dedupe (FeedSymbol._bench_seen_trades)."""
    from engine.model import Instrument, VenueId
    from ext.feed import FeedSymbol
    from ext.sync import SeqRule
    fs = FeedSymbol(Instrument(VenueId.okx, "BTC-USDT", "BTC/USDT", "BTC", "USDT", 1, 3, 1, 1), b"BTC-USDT",
                    SeqRule.SEQ_PREV)
    base, n, dups = 3_000_000_000, 10_000, 0
    if case == "in-order":
        ids = list(range(base, base + n))
    elif case == "reordered":                   # each run of 16 consecutive ids arrives shuffled
        rng = random.Random(1)
        ids = []
        for b in range(base, base + n, 16):
            run = list(range(b, b + 16))
            rng.shuffle(run)
            ids += run
    elif case == "after-absurd":                # one absurd id, then the normal ids in order
        ids = [base - 1, 10**15] + list(range(base, base + n - 2))
    elif case == "overlap":                     # two connections, the second 20 trades behind
        ids, dups = [], n // 2
        for i in range(n // 2 + 20):
            if i < n // 2:
                ids.append(base + i)
            if i >= 20:
                ids.append(base + i - 20)
    else:
        raise SystemExit(f"unknown trade id case {case}")
    assert len(ids) == n
    assert fs._bench_seen_trades(array("q", ids).tobytes()) == dups


def main() -> None:
    if sys.argv[1:] == ["okx"]:
        return okx()
    if sys.argv[1:] == ["okx-nock"]:
        return okx_nock()
    if sys.argv[1:] == ["usdm"]:
        from bench.bench_binance import USDM_FRAMES, _live_usdm_parser
        parser, _, _ = _live_usdm_parser()
        return parser._bench_frames(USDM_FRAMES, 1)
    if sys.argv[1:2] == ["trade-ids"]:
        return trade_ids(sys.argv[2])
    if sys.argv[1:] == ["trade-ids-all"]:                # the gate's section: every case, one run
        for case in ("in-order", "after-absurd", "reordered"):
            trade_ids(case)
        return None
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
