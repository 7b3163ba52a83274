import time

from venuelink.ext import clock


def test_wall_clock_is_epoch_ns():
    a = time.time_ns()
    b = clock.now_ns()
    c = time.time_ns()
    assert a <= b <= c


def test_monotonic_matches_python_monotonic_ns():
    a = time.monotonic_ns()
    b = clock.mono_ns()
    c = time.monotonic_ns()
    assert a <= b <= c


def test_monotonic_never_goes_back():
    last = clock.mono_ns()
    for _ in range(10000):
        now = clock.mono_ns()
        assert now >= last
        last = now



def test_frame_clock_one_read_gives_both_clocks():
    """frame_clock(): the monotonic time read once and the wall time derived from it by the offset
    between the clocks; the derived wall time lies between direct wall-clock reads taken around it
    (within 50 us: the offset is measured from reads a few tens of ns apart; the slack covers a
    preempted measurement) and neither goes back across the readings."""
    times = clock._frame_times(20000)
    last_m = last_w = 0
    for before, m, w, after in times:
        assert before - 50_000 <= w <= after + 50_000
        assert m >= last_m and w >= last_w - 50_000
        last_m, last_w = m, w
    assert abs(times[-1][1] - clock.mono_ns()) < 60 * 10**9            # the monotonic clock itself


# ---------------------------------------------------------------------------- RFC 3339 -> ns
from datetime import datetime, timedelta, timezone  # noqa: E402

import pytest  # noqa: E402
from hypothesis import given, settings, strategies as st  # noqa: E402

from venuelink.ext.ref import clock_ref  # noqa: E402

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _oracle(dt: datetime, frac9: int) -> int:
    """Epoch ns by Python's own calendar (an independent check of both readers)."""
    return (dt - EPOCH) // timedelta(seconds=1) * 10**9 + frac9


@pytest.mark.parametrize("text,ns", [
    ("2023-02-09T20:32:50.714964855Z", 1675974770714964855),        # Coinbase: nanoseconds
    ("2023-09-25T07:49:37.708706Z", 1695628177708706000),           # Kraken v2: microseconds
    ("2020-12-08T09:08:57.715Z", 1607418537715000000),              # OKX login: milliseconds
    ("2023-09-25T07:49:37.708706+02:00", 1695620977708706000),
    ("1970-01-01t00:00:00z", 0), ("1969-12-31 23:59:59.999999999Z", -1),
    ("2262-04-11T23:47:16.854775807Z", 2**63 - 1), ("1677-09-21T00:12:43.145224192Z", -2**63),
])
def test_documented_forms(text, ns):
    assert clock.rfc3339_ns(text) == clock_ref.rfc3339_ns(text) == ns


@pytest.mark.parametrize("text,why", [
    ("2023-02-29T00:00:00Z", "out of range"), ("2024-13-01T00:00:00Z", "out of range"),
    ("2023-01-01T24:00:00Z", "out of range"), ("2016-12-31T23:59:60Z", "out of range"),
    ("2023-01-01T00:00:00+24:00", "out of range"), ("2023-01-01T00:00:00.1234567891Z", "finer than a nanosecond"),
    ("2262-04-11T23:47:16.854775808Z", "outside int64"), ("2023-01-01T00:00:00", "not an RFC 3339"),
    ("2023-01-01T00:00:00.Z", "not an RFC 3339"), ("2023-01-01T00:00:00Z ", "not an RFC 3339"),
    ("2023-1-01T00:00:00Z", "not an RFC 3339"), ("2023-01-01T00:00:00+0200", "not an RFC 3339"),
    ("１９７０-01-01T00:00:00Z", "not an RFC 3339"), ("", "not an RFC 3339"),
])
def test_refused_with_the_reason(text, why):
    with pytest.raises(ValueError, match=why):
        clock.rfc3339_ns(text)
    with pytest.raises(ValueError):
        clock_ref.rfc3339_ns(text)


@settings(max_examples=400, deadline=None)
@given(st.datetimes(min_value=datetime(1678, 1, 1), max_value=datetime(2261, 12, 31)),
       st.integers(0, 10**9 - 1), st.integers(0, 9), st.integers(-23 * 60 - 59, 23 * 60 + 59), st.sampled_from("Tt "))
def test_any_valid_time_matches_pythons_calendar(dt, frac9, digits, offset_min, sep):
    frac9 -= frac9 % 10 ** (9 - digits)                     # what `digits` fraction digits can say
    off = timedelta(minutes=offset_min)
    local = dt.replace(tzinfo=timezone(off))
    text = local.strftime(f"%Y-%m-%d{sep}%H:%M:%S")
    if digits:
        text += "." + str(frac9).zfill(9)[:digits]
    sign = "-" if offset_min < 0 else "+"
    text += "Z" if offset_min == 0 and digits % 2 else f"{sign}{abs(offset_min) // 60:02d}:{abs(offset_min) % 60:02d}"
    want = _oracle(local, frac9)
    assert clock.rfc3339_ns(text) == clock_ref.rfc3339_ns(text) == want


@settings(max_examples=600, deadline=None)
@given(st.data())
def test_mutated_times_agree_with_the_reference(data):
    base = list(data.draw(st.sampled_from(["2023-02-09T20:32:50.714964855Z", "2000-02-29T23:59:59.5-00:30",
                                           "1999-12-31 23:59:59+05:45"])))
    for _ in range(data.draw(st.integers(1, 3))):
        i = data.draw(st.integers(0, len(base) - 1))
        base[i] = data.draw(st.sampled_from(list("0123456789-:.TZz+ x9")))
    text = "".join(base)
    try:
        want = clock_ref.rfc3339_ns(text)
    except ValueError:
        with pytest.raises(ValueError):
            clock.rfc3339_ns(text)
    else:
        assert clock.rfc3339_ns(text) == want
