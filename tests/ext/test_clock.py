import time

from ext import clock


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
