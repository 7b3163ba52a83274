"""Bulk differential test of the exact decimal parser's shortcuts (the common-shape path of
vl_parse_fixed and vl_parse_fixed_pad) against the reference twin and against the general parser.

Several hundred thousand generated texts: every length 1..40 around the 8- and 16-byte word
boundaries, every '.' position, scales 0..18 (and the invalid -1, 19), leading and trailing zeros,
the int64 edges at every scale, and every error class. Two oracles:

- ext/ref/decimal_ref.py (Decimal arithmetic) for the value or the error class; the reference
  says "overflow" or "precision" as it meets them, so where both apply either class is accepted;
- the general parser itself, reached by putting a '+' in front of the text (a sign is never the
  common shape): the shortcut must give exactly its value and its error code."""
import random

from hypothesis import given, settings, strategies as st

from venuelink.ext import decimal as fx
from venuelink.ext.ref import decimal_ref as ref

INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
SCALES = list(range(0, 19))
KINDS = {fx.DecimalSyntaxError: "syntax", fx.DecimalOverflowError: "overflow",
         fx.DecimalPrecisionError: "precision"}


def _kind(exc: ValueError) -> str:
    for cls, name in KINDS.items():
        if isinstance(exc, cls):
            return name
    return "scale" if not isinstance(exc, fx.DecimalError) else "other"


def c_outcome(fn, raw, scale):
    try:
        return fn(raw, scale)
    except ValueError as e:
        return _kind(e)


def ref_outcome(text, scale):
    try:
        return ref.parse(text, scale)
    except ValueError as e:
        return str(e)


def same(got, want, text="") -> bool:
    if got == want or {got, want} <= {"overflow", "precision"}:
        return True
    if not text and got == "syntax":                    # empty input is refused before the scale
        return True
    # Known, kept: the general parser stops at more than 19 significant digits before it reads the
    # rest, so a text malformed after such a run ("1234567890.1234567890e") is refused as overflow
    # or precision where the reference says syntax.
    # Likewise an exponent of more than 18 digits: Decimal cannot hold it and the reference says
    # syntax, the parser says overflow (or precision for a negative one).
    head, _, exp = text.replace("E", "e").partition("e")
    sig = "".join(c for c in head if c.isdigit()).lstrip("0")
    edig = "".join(c for c in exp if c.isdigit()).lstrip("0")
    return want == "syntax" and got in ("overflow", "precision") and (len(sig) > 19 or len(edig) > 18)


def check(text: str, scale: int) -> None:
    raw = text.encode("latin-1")
    got = c_outcome(fx.parse, raw, scale)
    got_pad = c_outcome(fx.parse_padded, raw, scale) if 0 < len(raw) <= 64 else got
    # an exponent of 10^4..10^7 makes the reference build an integer of that many digits (seconds
    # each): such texts are checked against the general parser only
    edig = "".join(c for c in text.replace("E", "e").partition("e")[2] if c.isdigit()).lstrip("0")
    if not 4 < len(edig) < 8:
        want = ref_outcome(text, scale)
        assert same(got, want, text), (text, scale, want, got)
    assert got_pad == got, (text, scale, got, got_pad)
    if raw and raw[:1] not in (b"+", b"-"):
        general = c_outcome(fx.parse, b"+" + raw, scale)
        assert got == general, (text, scale, got, general)


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def generated(rng: random.Random, count: int):
    """(text, scale) pairs, mostly venue-shaped digits[.digits] of every length and layout, with a
    share of near misses (one byte changed, a sign, an exponent, doubled or missing parts)."""
    for _ in range(count):
        scale = rng.choice(SCALES)
        ni = rng.randrange(0, 22)
        nf = rng.randrange(0, 22)
        lead = rng.choice((0, 0, 0, 1, 2, 9))            # leading zeros
        trail = rng.choice((0, 0, 1, 3, 8, 12))          # trailing zeros
        ip = "0" * lead + _digits(rng, ni)
        fp = _digits(rng, nf) + "0" * trail
        r = rng.random()
        if r < 0.45:
            t = ip + "." + fp
        elif r < 0.6:
            t = ip or "0"
        elif r < 0.7:
            t = ip + "."
        elif r < 0.8:
            t = "." + fp
        else:
            t = ip + "." + fp
            if t and rng.random() < 0.5:                 # one byte changed anywhere
                i = rng.randrange(len(t))
                t = t[:i] + rng.choice("+-.eE /:a\x00\xff9") + t[i + 1:]
            else:                                        # sign and/or exponent around it
                t = rng.choice(("", "-", "+")) + t + rng.choice(
                    ("", "e5", "E-3", "e+0", "e", "e-", f"e{rng.randrange(-40, 40)}", "e99999999"))
        yield t[:40], scale


def boundary_texts():
    """Every length 1..40 of mixed digits, all '9' and '0..01', with a '.' at every position."""
    base = "1234567890987654321012345678909876543210"
    bodies = set()
    for n in range(1, 41):
        bodies.update((base[:n], "9" * n, "0" * (n - 1) + "1", "1" + "0" * (n - 1), "0" * n))
    out = set()
    for b in bodies:
        out.add(b)
        for i in range(len(b) + 1):
            if len(b) < 40:
                out.add(b[:i] + "." + b[i:])
    return sorted(out)


def int64_edges():
    out = []
    for scale in SCALES:
        for v in (INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1):
            for d in (-1, 0, 1):
                m = v + d
                ip, fp = divmod(abs(m), 10**scale)
                sign = "-" if m < 0 else ""
                text = f"{sign}{ip}.{fp:0{scale}d}" if scale else f"{sign}{ip}"
                out += [(text, scale), (text + "000", scale), (text.lstrip("-"), scale)]
        out.append(("9" * (19 - scale) + "." + "9" * scale, scale))
        out.append(("9" * (18 - scale) + "." + "9" * scale, scale))
        out.append(("0." + "0" * (18 - scale) + "1", scale))
        out.append(("0." + "0" * (scale - 1) + "1" if scale else "1", scale))
    return out


BAD = ["", ".", "-", "+", "e", "e5", ".e5", "-.", "+.e1", "1e", "1e+", "1e-", "1.2.3", "1..2",
       "..1", "+-1", "--1", " 1", "1 ", "1_000", "0x10", "nan", "inf", "-inf", "Infinity",
       "1,5", "1.5\x00", "\x001.5", "\xb9", "1e1.5", "1.e", "12345678.1234567a", "1234567812345678a"]


def test_boundaries_every_scale():
    texts = boundary_texts()
    for scale in [-1, 19] + SCALES:
        for t in texts:
            check(t, scale)


def test_int64_edges():
    for text, scale in int64_edges():
        check(text, scale)


def test_every_error_class():
    for scale in (-1, 0, 2, 8, 18, 19):
        for t in BAD:
            check(t, scale)
    check("1" * 20, 0)                                  # integer digits beyond int64
    check("0.0000000001", 8)                            # digits past the scale
    check("1.5", 19)                                    # scale
    check("", 8)                                        # empty


def test_generated_texts():
    rng = random.Random(20261207)
    n = 0
    for text, scale in generated(rng, 250_000):
        check(text, scale)
        n += 1
    assert n == 250_000


@settings(max_examples=3000, deadline=None)
@given(st.text(alphabet="0123456789.+-eE", max_size=40), st.integers(-1, 19))
def test_hypothesis_near_numbers(text, scale):
    check(text, scale)


@settings(max_examples=1000, deadline=None)
@given(st.text(max_size=24), st.integers(0, 18))
def test_hypothesis_any_text(text, scale):
    try:
        text.encode("latin-1")
    except UnicodeEncodeError:
        return
    check(text, scale)


# bytes just around the digits and '.', their images with the high bit set, the sign and exponent
# letters, and the ends of the byte range
SHAPE_BYTES = [chr(c) for c in range(0x2A, 0x3B)] + ["\x00", "\x7f", "\xae", "\xb0", "\xb9", "\xfe", "\xff",
                                                      "e", "E", " "]


def test_every_byte_at_every_position_of_the_shortcut():
    """The shortcut checks a number's shape in one step, each byte against a limit (a digit up to
    the scale, the one '.', only '0' past the scale): every byte of SHAPE_BYTES at every position of
    2..16-byte numbers (the 4- and 8-byte word boundaries of the unpadded read included), with the
    '.' at every position or absent, at the scales that end just before, at and just after the last
    fractional digit and that put integer digits + scale at 14, 15 and 16."""
    for n in (2, 3, 4, 5, 7, 8, 9, 12, 15, 16):
        for fill in ("1234567890123456", "1000000000000000"):
            for dot in range(-1, n):
                body = fill[:n] if dot < 0 else fill[:dot] + "." + fill[dot + 1:n]
                nint = n if dot < 0 else dot
                nfrac = 0 if dot < 0 else n - dot - 1
                scales = {s for s in (0, nfrac - 1, nfrac, nfrac + 1, 14 - nint, 15 - nint, 16 - nint, 18)
                          if 0 <= s <= 18}
                for scale in scales:
                    check(body, scale)
                    for i in range(n):
                        for c in SHAPE_BYTES:
                            check(body[:i] + c + body[i + 1:], scale)


def test_nonzero_digit_at_the_scale_boundary():
    """A nonzero digit in the last fractional place the scale holds is kept; one place further is a
    precision error, at every '.' position and every scale the shortcut takes (and one past it)."""
    for n in range(3, 17):
        for dot in range(1, n - 1):
            nfrac = n - dot - 1
            for scale in range(0, 17 - dot):
                for pos in range(dot + 1, n):
                    t = "0" * dot + "." + "0" * nfrac
                    t = t[:pos] + "7" + t[pos + 1:]
                    check(t, scale)
                    check("5" + t[1:], scale)
                    if pos - dot <= scale:
                        assert fx.parse(t.encode(), scale) == 7 * 10 ** (scale - (pos - dot))
