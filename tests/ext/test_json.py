import json
from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from venuelink.ext.book import L2Book
from venuelink.ext.json import (FieldTypeError, FieldValueError, JSONError, JsonDoc, MalformedJSONError,
                      MissingFieldError)
from venuelink.ext.types import Side

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
    from venuelink.ext.json import JSONError, JsonDoc
    from venuelink.ext.ref import json_ref as J

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


# ---------------------------------------------------------------------------- rows by column, rows naming their side
DERIBIT = (b'{"type":"change","bids":[["new",64000.0,5000.0],["delete",63999.5,0.0],["change","63998","12"]],'
           b'"asks":[]}')
COINBASE = (b'{"type":"update","product_id":"BTC-USD","updates":[{"side":"bid","event_time":"2023-02-09T20:32:50Z",'
            b'"price_level":"21921.73","new_quantity":"0.06317902"},{"side":"offer","event_time":"2023-02-09T20:32:50Z",'
            b'"price_level":"21921.74","new_quantity":"0"}]}')
BITMEX = (b'{"table":"orderBookL2","action":"delete","data":[{"symbol":"XBTUSD","id":17999992000,"side":"Sell"'
          b',"price":64000.5},{"symbol":"XBTUSD","id":17999993000,"side":"Buy","price":64000,"size":100}]}')


def _both(frame, c_call, ref_call, same_class=True):
    """The C reader and its reference twin on one frame: the same result, or both an error (of
    the same class where asked: on damaged frames the twin, which reads an array whole, may meet
    a later error first)."""
    from venuelink.ext.json import JSONError
    from venuelink.ext.ref import json_ref as J
    out = []
    for run in (lambda: c_call(_loaded(frame)), lambda: ref_call(J.load(frame))):
        try:
            out.append(("ok", run()))
        except JSONError as e:
            out.append(("err", type(e).__name__))
    if not same_class and out[0][0] == out[1][0] == "err":
        return out[0]
    assert out[0] == out[1], (frame, out)
    return out[0]


def _loaded(frame):
    d = JsonDoc()
    d.load(frame)
    return d


def _cols(frame, same_class=True):
    from venuelink.ext.ref import json_ref as J
    return _both(frame, lambda d: d.levels_cols("bids", 1, 2, 1, 0), lambda o: J.get_levels_cols(o, "bids", 1, 2, 1, 0),
                 same_class)


def _sides(frame, key="updates", side=("bid", "offer"), px="price_level", qty="new_quantity", optional=False,
           scales=(2, 8), same_class=True):
    from venuelink.ext.ref import json_ref as J
    args = (key, "side", side[0], side[1], px, qty, optional, *scales)
    return _both(frame, lambda d: d.levels_sides(*args), lambda o: J.get_levels_sides(o, *args), same_class)


def test_rows_by_column_and_rows_naming_their_side():
    assert _cols(DERIBIT) == ("ok", [(640000, 5000), (639995, 0), (639980, 12)])
    assert _sides(COINBASE) == ("ok", ([(2192173, 6317902)], [(2192174, 0)]))
    # BitMEX: a delete carries no size (0); its prices are JSON numbers
    assert _sides(BITMEX, "data", ("Buy", "Sell"), "price", "size", True, (1, 0)) == (
        "ok", ([(640000, 100)], [(640005, 0)]))
    assert _sides(BITMEX, "data", ("Buy", "Sell"), "price", "size", False, (1, 0)) == ("err", "MissingFieldError")
    assert _sides(COINBASE.replace(b'"offer"', b'"ask"')) == ("err", "FieldValueError")      # neither side
    assert _cols(DERIBIT.replace(b'["new",64000.0,5000.0]', b'["new",64000.0]')) == ("err", "FieldTypeError")
    with pytest.raises(ValueError):
        _loaded(DERIBIT).levels_cols("bids", 1, 1, 1, 0)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from([DERIBIT, COINBASE, BITMEX]), st.data())
def test_values_changed_inside_the_structure_agree_with_the_reference(frame, data):
    """Numbers and side texts changed (digits, signs, points, exponents, letters), the structure
    kept: the C readers and the twin give the same levels or the same error. (On damaged structure
    the C readers, like every On-Demand reader here, may accept what the twin refuses: the frame
    shape is the decoder's finish() and the fuzz tests' business.)"""
    b = bytearray(frame)
    spots = [i for i, c in enumerate(b) if chr(c).isalnum() or chr(c) in ".-"]
    for _ in range(data.draw(st.integers(1, 3))):
        b[data.draw(st.sampled_from(spots))] = data.draw(st.sampled_from(b"0129.-eEaxS"))
    m = bytes(b)
    if frame is DERIBIT:
        _cols(m)
    elif frame is COINBASE:
        _sides(m)
    else:
        _sides(m, "data", ("Buy", "Sell"), "price", "size", True, (1, 0))


# ---------------------------------------------------------------------------- duplicate keys
def _read_both(frame, ops):
    """Run one read sequence on the C reader and on the twin: ("int"|"str", key), ("enter", key),
    ("enter_only", key), ("root",), ("obj", key, px_key, qty_key) for levels_obj, then the end of
    the frame. Returns each side's ("ok", values) or ("err", class name)."""
    from venuelink.ext.json import JSONError
    from venuelink.ext.ref import json_ref as J

    def c():
        d, got = _loaded(frame), []
        for op, *a in ops:
            if op == "int":
                got.append(d.int(a[0]))
            elif op == "str":
                got.append(d.str(a[0]))
            elif op == "obj":
                got.append(d.levels_obj(a[0], a[1], a[2], 0, 0))
            else:
                getattr(d, op)(*a)
        d.finish()
        return got

    def ref():
        root = J.load(frame)
        cur, got = root, []
        for op, *a in ops:
            if op == "int":
                got.append(J.get_int(cur, a[0]))
            elif op == "str":
                got.append(J.get_str(cur, a[0]))
            elif op == "obj":
                got.append([(J.get_fixed(o, a[1], 0), J.get_fixed(o, a[2], 0))
                            for o in map(J._read, J._array_at(cur, a[0]))])
            elif op == "root":
                cur = root
            else:
                cur = getattr(J, op)(cur, a[0])
        return got

    out = []
    for run in (c, ref):
        try:
            out.append(("ok", run()))
        except JSONError as e:
            out.append(("err", type(e).__name__))
    return out


DEPTH_READ = [("str", "e"), ("int", "E"), ("str", "s"), ("int", "U"), ("int", "u")]


@pytest.mark.parametrize("frame,ops", [
    # the second one right after the first, after every key read, before the first one
    (DEPTH.replace(b'"U":157,', b'"U":157,"U":1,'), DEPTH_READ),
    (DEPTH.replace(b'"a":[', b'"U":1,"a":['), DEPTH_READ),
    (DEPTH.replace(b'{"e":', b'{"U":1,"e":'), DEPTH_READ),
    # read out of frame order: found after the search wrapped around
    (b'{"u":160,"U":157,"x":0,"U":1}', [("int", "u"), ("int", "U")]),
    (b'{"U":1,"u":160,"U":157}', [("int", "u"), ("int", "U")]),
    # the same key read twice finds another copy of it
    (b'{"U":1,"x":0,"U":2}', [("int", "U"), ("int", "x"), ("int", "U")]),
    # in an entered object; in the root after an entered object; in the array's one object
    (b'{"stream":"x","data":{"e":"depthUpdate","u":1,"u":2}}', [("str", "stream"), ("enter", "data"), ("int", "u")]),
    (b'{"stream":"x","data":{"u":1},"stream":"y"}', [("str", "stream"), ("enter", "data"), ("int", "u")]),
    (b'{"arg":{"channel":"books","channel":"trades"},"data":[{"u":1}]}',
     [("enter", "arg"), ("str", "channel"), ("root",), ("enter_only", "data"), ("int", "u")]),
    (b'{"arg":{"channel":"books"},"data":[{"u":1,"s":"a","u":2}]}',
     [("enter", "arg"), ("str", "channel"), ("root",), ("enter_only", "data"), ("int", "u")]),
    # a row of an array of objects
    (b'{"levels":[{"price":1,"qty":2},{"price":3,"qty":4,"price":5}]}', [("obj", "levels", "price", "qty")]),
    # many keys passed over (more than the reader remembers one by one) before the copy
    (b'{' + b''.join(b'"k%d":%d,' % (i, i) for i in range(40)) + b'"u":1,"u":2}', [("int", "u")]),
    (b'{"u":1,' + b''.join(b'"k%d":%d,' % (i, i) for i in range(40)) + b'"u":2}', [("int", "k39"), ("int", "u")]),
    (b'{' + b''.join(b'"k%d":%d,' % (i, i) for i in range(30)) + b'"u":1,' +
     b''.join(b'"k%d":%d,' % (i, i) for i in range(30, 40)) + b'"u":2}', [("int", "k39"), ("int", "u")]),
])
def test_a_duplicated_key_that_is_read_is_refused_by_the_reader_and_its_twin(frame, ops):
    assert _read_both(frame, ops) == [("err", "DuplicateKeyError")] * 2


@pytest.mark.parametrize("frame,ops,values", [
    (DEPTH, DEPTH_READ, ["depthUpdate", 1672515782136, "BNBBTC", 157, 160]),
    # the same key in different objects: nested, entered, the root
    (b'{"u":1,"data":{"u":2,"inner":{"u":3}},"x":{"u":4}}', [("int", "u"), ("enter", "data"), ("int", "u")], [1, 2]),
    (b'{"stream":"x","data":{"stream":"y","u":2}}', [("str", "stream"), ("enter", "data"), ("str", "stream")],
     ["x", "y"]),
    (b'{"levels":[{"price":1,"qty":2},{"price":3,"qty":4}]}', [("obj", "levels", "price", "qty")],
     [[(1, 2), (3, 4)]]),
    # a repeated key nobody reads
    (b'{"e":"trade","M":true,"M":false,"u":5}', [("str", "e"), ("int", "u")], ["trade", 5]),
    # keys read out of frame order, one read twice, one absent; prefixes and escapes are other keys
    (b'{"a":1,"b":2,"c":3}', [("int", "c"), ("int", "a"), ("int", "b"), ("int", "a")], [3, 1, 2, 1]),
    (b'{"ab":1,"a":2,"a\\"b":3,"a\\"c":4}', [("int", "a"), ("int", "ab"), ('int', 'a\\"b')], [2, 1, 3]),
    (b'{' + b''.join(b'"k%d":%d,' % (i, i) for i in range(40)) + b'"u":1}', [("int", "u"), ("int", "k0")], [1, 0]),
])
def test_distinct_keys_are_read_alike_by_the_reader_and_its_twin(frame, ops, values):
    assert _read_both(frame, ops) == [("ok", values)] * 2


def test_a_missing_key_is_still_missing_and_the_reader_stays_usable_after_a_duplicate():
    assert _read_both(b'{"a":1,"b":2}', [("int", "a"), ("int", "z")]) == [("err", "MissingFieldError")] * 2
    d = JsonDoc()
    d.load(b'{"U":1,"U":2}')
    d.int("U")
    with pytest.raises(JSONError, match="duplicate key 'U'"):
        d.finish()
    d.load(DEPTH)
    assert (d.int("U"), d.int("u")) == (157, 160)
    d.finish()
