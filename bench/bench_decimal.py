# SPDX-License-Identifier: Apache-2.0
"""Decimal parsing: venuelink.ext.decimal (from C and from Python) vs decimal.Decimal(str)."""
import random
from decimal import Decimal

import pytest

from venuelink.ext import decimal as fx

rng = random.Random(5)
TEXTS = [f"{rng.randint(1, 10**7) / 100:.8f}" for _ in range(1000)]
BYTES = [t.encode() for t in TEXTS]


@pytest.mark.benchmark(group="decimal-parse-1000")
def test_ext_parse_from_c(benchmark):
    benchmark(fx._bench_parse, BYTES, 8, 1)


@pytest.mark.benchmark(group="decimal-parse-1000")
def test_ext_parse_from_python(benchmark):
    parse = fx.parse
    benchmark(lambda: [parse(t, 8) for t in BYTES])


@pytest.mark.benchmark(group="decimal-parse-1000")
def test_python_decimal(benchmark):
    benchmark(lambda: [Decimal(t) for t in TEXTS])
