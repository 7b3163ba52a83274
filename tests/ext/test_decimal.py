from decimal import Decimal

import pytest
from hypothesis import given, settings, strategies as st

from venuelink.ext import decimal as fx
from venuelink.ext.ref import decimal_ref as ref

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


@pytest.mark.parametrize("text,scale,expected", [
    ("27123.45000000", 8, 2712345000000),
    ("0.00012", 8, 12000),
    ("1e-8", 8, 1),
    ("1E-8", 8, 1),
    ("-3.5", 2, -350),
    ("+2.", 0, 2),
    (".5", 1, 5),
    ("0", 8, 0),
    ("-0.000", 3, 0),
    ("1.5e3", 0, 1500),
    ("100e-2", 0, 1),
    ("0.10000000000000000000000000000", 1, 1),     # trailing zeros beyond 19 digits are fine
    ("9223372036854775807", 0, INT64_MAX),
    ("-9223372036854775808", 0, INT64_MIN),
    ("92233720368.54775807", 8, INT64_MAX),
    ("000000000000000000000000012.5", 1, 125),
])
def test_parse_known(text, scale, expected):
    assert fx.parse(text, scale) == expected
    assert fx.parse(text.encode(), scale) == expected


@pytest.mark.parametrize("text,scale,exc", [
    ("", 8, fx.DecimalSyntaxError),
    ("abc", 8, fx.DecimalSyntaxError),
    ("1.2.3", 8, fx.DecimalSyntaxError),
    ("1e", 8, fx.DecimalSyntaxError),
    (".", 8, fx.DecimalSyntaxError),
    ("-", 8, fx.DecimalSyntaxError),
    (" 1", 8, fx.DecimalSyntaxError),
    ("1 ", 8, fx.DecimalSyntaxError),
    ("NaN", 8, fx.DecimalSyntaxError),
    ("inf", 8, fx.DecimalSyntaxError),
    ("0x10", 8, fx.DecimalSyntaxError),
    ("1,5", 8, fx.DecimalSyntaxError),
    ("９", 0, fx.DecimalSyntaxError),
    ("9223372036854775808", 0, fx.DecimalOverflowError),
    ("92233720368.54775808", 8, fx.DecimalOverflowError),
    ("99999999999999999999", 8, fx.DecimalOverflowError),
    ("1e30", 0, fx.DecimalOverflowError),
    ("0.000000001", 8, fx.DecimalPrecisionError),
    ("1e-9", 8, fx.DecimalPrecisionError),
    ("1.23456789012345678901", 18, fx.DecimalPrecisionError),
    ("0.1234567890123456789", 18, fx.DecimalPrecisionError),    # 19 fractional digits, no integer ones
])
def test_parse_errors(text, scale, exc):
    with pytest.raises(exc):
        fx.parse(text, scale)


def test_errors_are_value_errors_and_bad_scale():
    assert issubclass(fx.DecimalError, ValueError)
    with pytest.raises(ValueError):
        fx.parse("1", 19)
    with pytest.raises(ValueError):
        fx.format(1, -1)


@pytest.mark.parametrize("m,scale,frac,expected", [
    (2712345000000, 8, -1, "27123.45"),
    (12000, 8, -1, "0.00012"),
    (-350, 2, -1, "-3.5"),
    (0, 8, -1, "0"),
    (100, 2, -1, "1"),
    (INT64_MIN, 0, -1, "-9223372036854775808"),
    (INT64_MIN, 18, -1, "-9.223372036854775808"),
    (10, 2, 4, "0.1000"),
    (33661, 1, 1, "3366.1"),
    (33660, 1, 0, "3366"),
    (5, 0, 2, "5.00"),
])
def test_format_known(m, scale, frac, expected):
    assert fx.format(m, scale, frac) == expected


def test_format_refuses_to_drop_digits():
    with pytest.raises(fx.DecimalPrecisionError):
        fx.format(12345, 3, 2)


decimal_text = st.builds(
    lambda sign, i, f, e: f"{sign}{i}{('.' + f) if f is not None else ''}{e}",
    st.sampled_from(["", "-", "+"]),
    st.text("0123456789", min_size=1, max_size=21),
    st.one_of(st.none(), st.text("0123456789", max_size=21)),
    st.one_of(st.just(""), st.builds(lambda s, n: f"e{s}{n}", st.sampled_from(["", "-", "+"]), st.integers(0, 40))),
)


def _kind(exc: Exception) -> str:
    if isinstance(exc, fx.DecimalSyntaxError):
        return "syntax"
    if isinstance(exc, fx.DecimalOverflowError):
        return "overflow"
    if isinstance(exc, fx.DecimalPrecisionError):
        return "precision"
    return str(exc)


@settings(max_examples=1500, deadline=None)
@given(decimal_text, st.integers(0, 18))
def test_parse_matches_python_decimal(text, scale):
    try:
        expected = ref.parse(text, scale)
    except ValueError as e:
        expected_err = str(e)
        with pytest.raises(fx.DecimalError) as got:
            fx.parse(text, scale)
        # precision vs overflow can both apply (e.g. 1e-30 * huge); the class must be one of them
        kind = _kind(got.value)
        assert kind == expected_err or {kind, expected_err} <= {"overflow", "precision"}
        return
    assert fx.parse(text, scale) == expected


@settings(max_examples=1500, deadline=None)
@given(st.integers(INT64_MIN, INT64_MAX), st.integers(0, 18))
def test_round_trip_and_canonical(m, scale):
    s = fx.format(m, scale)
    assert s == ref.format(m, scale)
    assert fx.parse(s, scale) == m
    assert Decimal(s) == Decimal(m).scaleb(-scale)


@settings(max_examples=1000, deadline=None)
@given(st.integers(-(10**15), 10**15), st.integers(0, 10), st.integers(0, 14))
def test_fixed_frac_matches_reference(m, scale, frac):
    try:
        expected = ref.format(m, scale, frac)
    except ValueError:
        with pytest.raises(fx.DecimalPrecisionError):
            fx.format(m, scale, frac)
        return
    assert fx.format(m, scale, frac) == expected


def test_rescale_exact():
    assert fx.rescale(150, 2, 4) == 15000
    assert fx.rescale(15000, 4, 2) == 150
    with pytest.raises(fx.DecimalPrecisionError):
        fx.rescale(15001, 4, 2)


# byte-level edge cases of the 8-bytes-at-a-time digit scan: neighbours of '0'..'9' in ASCII
# (':' ';' '/' ...), bytes that carry when 0x06 is added (>= 0xFA), runs across 8-byte boundaries
@settings(max_examples=3000, deadline=None)
@given(st.lists(st.sampled_from(list(b"0000123456789.:;<=>?/eE+-") + [0xFA, 0xFF, 0x80, 0x00]), max_size=30),
       st.integers(0, 18))
def test_byte_soup_matches_reference(chars, scale):
    raw = bytes(chars)
    text = raw.decode("latin-1")
    try:
        expected = ref.parse(text, scale)
    except ValueError as e:
        with pytest.raises(fx.DecimalError) as got:
            fx.parse(raw, scale)
        kind = _kind(got.value)
        assert kind == str(e) or {kind, str(e)} <= {"overflow", "precision"}
        return
    assert fx.parse(raw, scale) == expected


@pytest.mark.parametrize("text", ["12345678", "123456789", "1234567.8", "0.00000000", "0.10000000000000000",
                                  "100000000.00000000", "1.2345678900000000", "00000000000000001"])
def test_eight_byte_boundaries(text):
    for scale in (0, 8, 17):
        try:
            expected = ref.parse(text, scale)
        except ValueError:
            with pytest.raises(fx.DecimalError):
                fx.parse(text, scale)
            continue
        assert fx.parse(text, scale) == expected


venue_shaped = st.builds(
    lambda i, f, sep: (i + (sep + f if sep else "")).encode(),
    st.text("0123456789", min_size=0, max_size=10), st.text("0123456789", min_size=0, max_size=12),
    st.sampled_from([".", "", ".", "-", "e", ".."]))


@settings(max_examples=3000, deadline=None)
@given(st.one_of(venue_shaped, decimal_text.map(lambda t: t.encode("ascii", "replace"))), st.integers(-2, 20))
def test_padded_parse_equals_general_parse(text, scale):
    """The JSON decoders' SIMD path (text in a padded buffer) gives exactly what the general parser
    gives: the same mantissa, or the same error class."""
    try:
        expected = fx.parse(text, scale)
    except (fx.DecimalError, ValueError) as e:
        with pytest.raises(type(e)):
            fx.parse_padded(text, scale)
        return
    assert fx.parse_padded(text, scale) == expected


@pytest.mark.parametrize("text,scale,value", [
    (b"27123.45000000", 2, 2712345), (b"0.00100000", 8, 100000), (b"0", 8, 0), (b"15", 3, 15000),
    (b"9999999999999999", 2, 999999999999999900), (b"99999999.99999999", 8, 9999999999999999),
    (b".5", 1, 5), (b"5.", 0, 5)])
def test_padded_parse_common_shapes(text, scale, value):
    assert fx.parse_padded(text, scale) == value


@pytest.mark.parametrize("text,scale,exc", [
    (b".", 2, fx.DecimalSyntaxError), (b"27123.45100000", 2, fx.DecimalPrecisionError),
    (b"1.2.3", 2, fx.DecimalSyntaxError), (b"123456789012345678", 2, fx.DecimalOverflowError),
    (b"1", 19, ValueError), (b"1", -1, ValueError)])
def test_padded_parse_refusals(text, scale, exc):
    with pytest.raises(exc):
        fx.parse_padded(text, scale)
