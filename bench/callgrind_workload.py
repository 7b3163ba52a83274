# SPDX-License-Identifier: Apache-2.0
"""Fixed workloads for the instruction-count gate (bench/callgrind_gate.py). Each measured call is
one C-level benchmark helper, so callgrind can count exactly that function's instructions.

    python bench/callgrind_workload.py [section ...]    # default: core
    python bench/callgrind_workload.py trade-ids <case>
    python bench/callgrind_workload.py depth-spread-5000 symbols-10000    # scaling cases (SCALING)

The gate runs every section in one process under valgrind --instr-atstart=no: instrumentation is
switched on only inside `measured()`, and each section ends with a dump of its own counts (venues
share FrameParser._bench_frames, so each section's count must stay apart). The client requests
come from bench/callgrind_requests.c, compiled by the gate and named by VL_CALLGRIND_REQUESTS;
without it (a plain run, or under a profiler of your own) they do nothing."""
import ctypes
import os
import random
import sys
from array import array
from contextlib import contextmanager
from functools import partial

sys.path.insert(0, ".")

_REQ = ctypes.CDLL(os.environ["VL_CALLGRIND_REQUESTS"]) if os.environ.get("VL_CALLGRIND_REQUESTS") else None


@contextmanager
def measured():
    """Instrument (and so count) only the calls inside this block."""
    if _REQ is not None:
        _REQ.vl_cg_start()
    try:
        yield
    finally:
        if _REQ is not None:
            _REQ.vl_cg_stop()


def _dump(section: str) -> None:
    """End a section: callgrind writes its counts to <out-file>.<n> (described by the section name)
    and starts the next section from zero."""
    if _REQ is not None:
        _REQ.vl_cg_dump(section.encode())


def core() -> None:
    from bench.bench_binance import FRAMES, _live_parser
    from venuelink.ext import decimal as fx
    from venuelink.ext.book import L2Book
    from venuelink.ext.histogram import Histogram, _bench_record
    from venuelink.ext.ratelimit import Budget, _bench_acquire

    rng = random.Random(1)
    texts = [f"{rng.randint(1, 10**7) / 100:.8f}".encode() for _ in range(1000)]
    with measured():
        fx._bench_parse(texts, 8, 1)

    book = L2Book(2, 8)
    book.snapshot([(1000000 - i, 100) for i in range(1000)], [(1000001 + i, 100) for i in range(1000)])
    px = array("q", [1000000 - rng.randint(0, 49) for _ in range(10000)])
    qty = array("q", [0 if rng.random() < 0.2 else rng.randint(1, 10**6) for _ in range(10000)])
    fresh = L2Book(2, 8)
    with measured():
        book.apply_many(1, px, qty)
        fresh._bench_new_levels(1, 10**9, -1, 20000)

    b = Budget()
    b.add_bucket("w", 1, 6000, 60_000_000_000)
    b.add_bucket("o", 1, 100, 10_000_000_000)
    b.add_bucket("d", 1, 200000, 86_400_000_000_000)
    cost = b.make_cost([(0, 1), (1, 1), (2, 1)])
    h = Histogram()
    with measured():
        _bench_acquire(b, cost, 10000, 0, 1_000_000)
        _bench_record(h, 10000)

    parser, fs, _ = _live_parser()
    with measured():
        parser._bench_frames(FRAMES, 1)


def okx() -> None:
    from bench.bench_okx import FRAMES, _live_parser
    parser, fs, _ = _live_parser()
    with measured():
        r = parser._bench_frames(FRAMES)
    assert r == 0 and fs.sync.n_checksum_failures == 0


def okx_nock() -> None:
    from bench.bench_okx import FRAMES_NOCK, SNAP_NOCK, _live_parser, _resnap
    parser, fs, _ = _live_parser()
    _resnap(parser, fs, SNAP_NOCK)
    with measured():
        r = parser._bench_frames(FRAMES_NOCK)
    assert r == 0 and fs.sync.n_gaps == 0 and parser.n_checksum_zero == 0


def usdm() -> None:
    from bench.bench_binance import USDM_FRAMES, _live_usdm_parser
    parser, _, _ = _live_usdm_parser()
    with measured():
        parser._bench_frames(USDM_FRAMES, 1)


def bybit() -> None:
    """Bybit's orderbook.50 deltas: back to the snapshot (u and levels) first, so each of the 256
    deltas is the book's u + 1 and applies."""
    from bench.bench_bybit import FRAMES, N_DELTAS, U0, _live_parser, _resnap
    parser, fs, _ = _live_parser()
    _resnap(parser, fs)
    with measured():
        r = parser._bench_frames(FRAMES, 1)
    assert r == 0 and fs.sync.n_gaps == 0 and fs.book.seq == U0 + N_DELTAS


def trade_ids(case: str) -> None:
    """10,000 integer trade ids through one symbol's dedupe (FeedSymbol._bench_seen_trades)."""
    from venuelink.model import Instrument, VenueId
    from venuelink.ext.feed import FeedSymbol
    from venuelink.ext.sync import SeqRule
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
    raw = array("q", ids).tobytes()
    with measured():
        r = fs._bench_seen_trades(raw)
    assert r == dups


def trade_ids_all() -> None:
    """The gate's section: every case in one section, their sum."""
    for case in ("in-order", "after-absurd", "reordered"):
        trade_ids(case)


VIEW_READS = 10_000


def view() -> None:
    """A strategy's reads of a 20-level book through its BookHandle (ext/view.pyx), each helper
    VIEW_READS reads from C: the best levels, the best bid price, top(5) on an unchanged book (the
    handle's text cache) and top(5) with new sizes at the top 5 levels a side before each read."""
    from venuelink.model import Instrument, VenueId
    from venuelink.ext import view as V
    from venuelink.ext.feed import FeedSymbol
    from venuelink.ext.sync import SeqRule
    inst = Instrument(VenueId.binance, "BTCUSDT", "BTC/USDT", "BTC", "USDT", 2, 8, 1, 1)
    fs = FeedSymbol(inst, b"BTCUSDT", SeqRule.SEQ_PREV)
    rng = random.Random(1)
    fs.book.snapshot([(6_543_210 - i, rng.randint(1, 10**9)) for i in range(20)],
                     [(6_543_211 + i, rng.randint(1, 10**9)) for i in range(20)])
    h = V.BookHandle(VenueId.binance, inst, fs)
    h.top(5)                                   # the text cache made and filled outside the count
    n = VIEW_READS
    with measured():
        r = (V._bench_best_pair(h, n), V._bench_best_px(h, n), V._bench_top_cached(h, n),
             V._bench_top_changing(h, n, 10**9 + 1))
    assert r == (2 * n, n, 10 * n, 10 * n), r


def _depth(where: str, depth: int) -> None:
    """One side of `depth` levels, built untimed; only apply_many's updates are counted."""
    from bench.bench_scaling import DepthCase
    case = DepthCase(depth, where)
    with measured():
        case.run()


def _frames(make, n: int) -> None:
    case = make(n)
    with measured():
        r = case.run()
    assert r == 0
    case.check()


def _scaling() -> tuple[dict, dict]:
    """The scaling cases of bench/bench_scaling.py as sections: (section -> (C function, gate name,
    units of work, unit), for the gate to divide each count by its units; section -> workload)."""
    from bench import bench_scaling as S
    gate, run = {}, {}
    for where, what in (("top", "within 50 levels of the top"), ("spread", "anywhere in the side")):
        for d in S.DEPTHS:
            n = S.UPDATES[where, d]
            gate[f"depth-{where}-{d}"] = ("apply_many", f"scaling: book.apply_many x{n} at depth {d} ({what})",
                                          n, "level")
            run[f"depth-{where}-{d}"] = partial(_depth, where, d)
    for n in S.SYMBOLS:
        gate[f"symbols-{n}"] = ("_bench_frames", f"scaling: binance depth frame x{S.SYMBOL_FRAMES} "
                                f"({S.SYMBOL_LEVELS} levels), each for one of {n} symbols", S.SYMBOL_FRAMES, "frame")
        run[f"symbols-{n}"] = partial(_frames, S.symbols_case, n)
    for lv in S.FRAME_SIZES:
        f = S.FRAME_SIZE_FRAMES[lv]
        gate[f"frame-size-{lv}"] = ("_bench_frames", f"scaling: binance depth frame x{f} ({lv} levels each, "
                                    f"{S.FRAME_SIZE_DEPTH}-level book)", f * lv, "level")
        run[f"frame-size-{lv}"] = partial(_frames, S.frame_size_case, lv)
    return gate, run


SCALING, _SCALING_RUN = _scaling()
SECTIONS = {"core": core, "okx": okx, "okx-nock": okx_nock, "usdm": usdm, "bybit": bybit,
            "trade-ids-all": trade_ids_all, "view": view,
            **_SCALING_RUN}


def main() -> None:
    args = sys.argv[1:]
    if args[:1] == ["trade-ids"]:
        if len(args) != 2:
            raise SystemExit("usage: callgrind_workload.py trade-ids <case>")
        return trade_ids(args[1])
    unknown = [a for a in args if a not in SECTIONS]
    if unknown:
        raise SystemExit(f"unknown section(s) {unknown}; known: {', '.join(SECTIONS)}, trade-ids <case>")
    for section in args or ["core"]:
        SECTIONS[section]()
        _dump(section)
    return None


if __name__ == "__main__":
    main()
