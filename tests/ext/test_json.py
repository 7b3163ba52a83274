import json
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from ext.book import L2Book
from ext.json import (FieldTypeError, FieldValueError, JSONError, JsonDoc, MalformedJSONError,
                      MissingFieldError)
from ext.types import Side

DEPTH = (b'{"e":"depthUpdate","E":1672515782136,"s":"BNBBTC","U":157,"u":160,'
         b'"b":[["0.0024","10"]],"a":[["0.0026","100"],[0.0027, 5.5]]}')


def test_fields_and_levels():
    d = JsonDoc()
    d.load(DEPTH)
    assert d.str("e") == "depthUpdate"
    assert d.int("E") == 1672515782136
    assert d.str("s") == "BNBBTC"
    assert (d.int("U"), d.int("u")) == (157, 160)
    assert d.levels("b", 8, 8) == [(240000, 1000000000)]
    assert d.levels("a", 8, 8) == [(260000, 10000000000), (270000, 550000000)]


def test_enter_combined_stream_wrapper():
    d = JsonDoc()
    d.load(b'{"stream":"bnbbtc@depth","data":' + DEPTH + b"}")
    assert d.str("stream") == "bnbbtc@depth"
    d.enter("data")
    assert d.int("u") == 160


def test_bool_fixed_and_object_levels():
    d = JsonDoc()
    d.load(b'{"m":true,"p":"27123.45000000","n":1e-8,"levels":[{"price":45283.5,"qty":"0.1"}]}')
    assert d.bool("m") is True
    assert d.fixed("p", 2) == 2712345
    assert d.fixed("n", 8) == 1
    assert d.levels_obj("levels", "price", "qty", 1, 8) == [(452835, 10000000)]


def test_reuse_many_frames_and_large_frames():
    d = JsonDoc()
    for i in range(100):
        d.load(json.dumps({"u": i, "b": [[str(j), "1"] for j in range(i * 50)]}).encode())
        assert d.int("u") == i
        assert len(d.levels("b", 0, 0)) == i * 50


def test_apply_levels_is_all_or_nothing():
    d, b = JsonDoc(), L2Book(8, 8)
    d.load(DEPTH)
    assert d.apply_levels("b", b, Side.BID) == 1
    assert d.apply_levels("a", b, Side.ASK) == 2
    assert b.best_bid() == (240000, 1000000000) and b.best_ask() == (260000, 10000000000)
    d.load(b'{"b":[["1","1"],["2","2"],["3","x"]]}')
    with pytest.raises(FieldValueError, match=r"b\[2\]"):
        d.apply_levels("b", b, Side.BID)
    assert b.levels(Side.BID) == [(240000, 1000000000)]
    d.load(b'{"b":[["1","1"],["2","-2"]]}')
    with pytest.raises(FieldValueError, match="negative"):
        d.apply_levels("b", b, Side.BID)
    assert b.levels(Side.BID) == [(240000, 1000000000)]


@pytest.mark.parametrize("frame,exc", [
    (b"", MalformedJSONError),
    (b"{", MalformedJSONError),
    (b'{"a":', MalformedJSONError),
    (b'{"b":[["1","1"]', MalformedJSONError),
    (b'{"b":[["1","1"] ["2","2"]]}', MalformedJSONError),
    (b'{"b":[["1","1"]],', MalformedJSONError),
    (b"[1,2]", FieldTypeError),
    (b"nope", MalformedJSONError),
    (b"5", MalformedJSONError),
    (b'{"c":[]}', MissingFieldError),
    (b'{"b":5}', FieldTypeError),
    (b'{"b":[5]}', FieldTypeError),
    (b'{"b":[["1"]]}', FieldTypeError),
    (b'{"b":[[true,"1"]]}', FieldTypeError),
    (b'{"b":[[null,"1"]]}', FieldTypeError),
    (b'{"b":[["abc","1"]]}', FieldValueError),
    (b'{"b":[["1","1e99"]]}', FieldValueError),
    (b'{"b":[["0.000000001","1"]]}', FieldValueError),
    (b'{"b":[["1","\xff\xfe"]]}', JSONError),
])
def test_bad_frames_raise_clear_errors(frame, exc):
    d = JsonDoc()
    with pytest.raises(exc):
        d.load(frame)
        d.levels("b", 8, 8)
    # the decoder stays usable after any error
    d.load(DEPTH)
    assert d.int("u") == 160


def test_wrong_scalar_types():
    d = JsonDoc()
    d.load(b'{"u":"160","s":5,"m":1}')
    with pytest.raises(FieldTypeError):
        d.int("u")
    with pytest.raises(FieldTypeError):
        d.str("s")
    with pytest.raises(FieldTypeError):
        d.bool("m")


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_fuzz_never_crashes(data):
    d = JsonDoc()
    try:
        d.load(data)
        d.levels("b", 8, 8)
        d.int("u")
    except JSONError:
        pass


prices = st.decimals(min_value=Decimal("0.00000001"), max_value=Decimal("99999999"), places=8, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(prices, prices), max_size=50), st.booleans())
def test_levels_match_python_json_with_decimal(levels, as_numbers):
    payload = [[f"{p}", f"{q}"] for p, q in levels]
    raw = json.dumps({"b": payload}).encode()
    if as_numbers:
        raw = raw.replace(b'"', b"").replace(b"{b:", b'{"b":')
    d = JsonDoc()
    d.load(raw)
    got = d.levels("b", 8, 8)
    ref = [(int(Decimal(p) * 10**8), int(Decimal(q) * 10**8)) for p, q in json.loads(raw, parse_float=Decimal)["b"]]
    assert got == ref


@pytest.mark.parametrize("frame,ok", [
    (b'{"arg":{"c":"x"},"data":[{"a":"1","b":2}]}', True),
    (b'{"arg":{"c":"x"},"data":[]}', False),                                  # none
    (b'{"arg":{"c":"x"},"data":[{"a":"1","b":2},{"a":"2","b":3}]}', False),   # several
    (b'{"arg":{"c":"x"},"data":[1]}', False),
    (b'{"arg":{"c":"x"},"data":{"a":"1"}}', False),
    (b'{"arg":{"c":"x" "d":1},"data":[{"a":"1","b":2}]}', False),            # damage in the entered object
])
def test_enter_only_and_root_agree_with_reference(frame, ok):
    """The single object of an array (OKX's data:[{...}]) and the way back to the root, in C and
    in the reference twin: the same frames accepted, the same rejected."""
    from ext.json import JSONError, JsonDoc
    from ext.ref import json_ref as J

    def c():
        d = JsonDoc()
        d.load(frame)
        d.enter("arg")
        d.str("c")
        d.root()
        d.enter_only("data")
        v = d.str("a")
        d.finish()
        return v

    def ref():
        root = J.load(frame)
        J.get_str(J.enter(root, "arg"), "c")
        return J.get_str(J.enter_only(root, "data"), "a")

    for f in (c, ref):
        if ok:
            assert f() == "1"
        else:
            with pytest.raises(JSONError):
                f()
