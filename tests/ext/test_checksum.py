import pytest
from hypothesis import given, settings, strategies as st

from venuelink.ext.book import L2Book
from venuelink.ext.checksum import Checksum, ChecksumLayout
from venuelink.ext.ref import checksum_ref
from venuelink.ext.types import Side

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


def test_cached_texts_never_go_stale_across_a_changing_book_and_two_scales():
    """The checksum keeps the text of recent numbers (keyed by mantissa and scale): thousands of
    random changes to one book, and one Checksum shared by two books of other scales, always give
    the reference string, and the cache is actually used."""
    import random
    rng = random.Random(5)
    ck = Checksum(25, ChecksumLayout.INTERLEAVED, ":")
    books = [(L2Book(1, 8), 1, 8), (L2Book(2, 4), 2, 4)]
    state = [({}, {}), ({}, {})]
    for step in range(3000):
        k = step % 2
        book, ps, qs = books[k]
        bids, asks = state[k]
        side, levels = (Side.BID, bids) if rng.random() < 0.5 else (Side.ASK, asks)
        px = 100_000 - rng.randint(1, 60) if side == Side.BID else 100_000 + rng.randint(0, 60)
        qty = 0 if rng.random() < 0.2 else rng.choice([1, 10, 100, 10 ** qs, rng.randint(1, 10 ** 9)])
        book.apply(side, px, qty)
        levels.pop(px, None) if qty == 0 else levels.__setitem__(px, qty)
        b = sorted(bids.items(), reverse=True)[:25]
        a = sorted(asks.items())[:25]
        want = checksum_ref.string(b, a, (ps, qs), 25)
        assert ck.string(book) == want
        assert ck.crc32_of(book) == checksum_ref.crc32(want)
    assert ck.cache_hits > 10_000


def test_crc32_equals_zlib_for_every_length():
    import os
    import zlib
    from venuelink.ext.checksum import crc32
    for n in list(range(0, 260)) + [1000, 4096, 4097, 65537]:
        data = os.urandom(n)
        assert crc32(data) == zlib.crc32(data)
        assert crc32(data, 0xDEADBEEF) == zlib.crc32(data, 0xDEADBEEF)
