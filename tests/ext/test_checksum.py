import pytest
from hypothesis import given, settings, strategies as st

from ext.book import L2Book
from ext.checksum import Checksum, ChecksumLayout
from ext.ref import checksum_ref
from ext.types import Side

# Kraken v2 book checksum worked example (docs.kraken.com spot-ws-book-v2), BTC/USD,
# price_precision 1, qty_precision 8: CRC32 3310070434 (see shared sign vectors).
KRAKEN_ASKS = [("45285.2", "0.00100000"), ("45286.4", "1.54571953"), ("45286.6", "1.54571109"),
               ("45289.6", "1.54560911"), ("45290.2", "0.15890660"), ("45291.8", "1.54553491"),
               ("45294.7", "0.04454749"), ("45296.1", "0.35380000"), ("45297.5", "0.09945542"),
               ("45299.5", "0.18772827")]
KRAKEN_BIDS = [("45283.5", "0.10000000"), ("45283.4", "1.54582015"), ("45282.1", "0.10000000"),
               ("45281.0", "0.10000000"), ("45280.3", "1.54592586"), ("45279.0", "0.07990000"),
               ("45277.6", "0.03310103"), ("45277.5", "0.30000000"), ("45277.3", "1.54602737"),
               ("45276.6", "0.15445238")]


def _book(bids, asks, px_scale, qty_scale):
    b = L2Book(px_scale, qty_scale)
    for p, q in bids:
        b.apply_str(Side.BID, p, q)
    for p, q in asks:
        b.apply_str(Side.ASK, p, q)
    return b


def test_kraken_published_vector():
    b = _book(KRAKEN_BIDS, KRAKEN_ASKS, 1, 8)
    ck = Checksum(10, ChecksumLayout.ASKS_THEN_BIDS, sep="", px_frac=1, qty_frac=8, strip_dot_zeros=True)
    assert ck.string(b).startswith("452852100000452864154571953")
    assert ck.crc32_of(b) == 3310070434


@pytest.mark.parametrize("bids,asks,expected", [
    ([("3366.1", "7"), ("3366", "6")], [("3366.8", "9"), ("3368", "8")], -1881014294),
    ([("3366.1", "7")], [("3366.8", "9"), ("3368", "8"), ("3372", "8")], 831078360),
])
def test_okx_documented_strings(bids, asks, expected):
    b = _book(bids, asks, 1, 0)
    ck = Checksum(25)
    assert ck.crc32_signed_of(b) == expected


def test_bitfinex_negative_ask_amounts():
    b = _book([("100", "2")], [("101", "3")], 0, 0)
    ck = Checksum(25, negate_ask_qty=True)
    assert ck.string(b) == "100:2:101:-3"


def test_bad_spec():
    with pytest.raises(ValueError):
        Checksum(0)
    with pytest.raises(ValueError):
        Checksum(5, layout=9)
    with pytest.raises(ValueError):
        Checksum(5, sep="::")


lv = st.lists(st.tuples(st.integers(1, 10**9), st.integers(1, 10**12)), max_size=40, unique_by=lambda t: t[0])


@settings(max_examples=300, deadline=None)
@given(lv, lv, st.integers(1, 30), st.sampled_from([1, 2, 3]), st.sampled_from(["", ":", ","]),
       st.integers(-1, 6), st.integers(-1, 9), st.booleans(), st.booleans())
def test_matches_reference(bids, asks, depth, layout, sep, pf, qf, strip, neg):
    b = L2Book(4, 6)
    b.snapshot(bids, asks)
    ck = Checksum(depth, layout, sep, pf, qf, strip, neg)
    s = checksum_ref.string(b.levels(Side.BID), b.levels(Side.ASK), (4, 6), depth, layout, sep, pf, qf, strip, neg)
    assert ck.string(b) == s
    assert ck.crc32_of(b) == checksum_ref.crc32(s)
