"""What the shared order tests need to know of each venue's simulated market, read from the venue's
data file tests/fixtures/<venue>/cases.json (a new venue adds that file, no test code): its BTC
market, an order that rests far below the price (lot-aligned, above the venue's minimum
notional), a small marketable size, amend sizes and price, the bucket new orders count against,
its bad-signature code, a wrong secret and a price finer than its tick."""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

FIXTURES = Path(__file__).resolve().parent / "fixtures"
DEFAULTS: dict[str, Any] = {"market": "BTC/USDT", "resting": ["0.001", "1000"], "small": "0.001",
                            "amend_sizes": ["0.003", "0.002"], "amend_in_place": True}


@functools.cache
def cases(venue: str) -> dict[str, Any]:
    path = FIXTURES / venue / "cases.json"
    return {**DEFAULTS, **(json.loads(path.read_text()) if path.exists() else {})}


def case(venue: str, key: str) -> Any:
    c = cases(venue)
    if key not in c:
        raise KeyError(f"tests/fixtures/{venue}/cases.json has no {key!r}")
    return c[key]


def btc(venue: str) -> str:
    return case(venue, "market")


def resting(venue: str) -> tuple[str, str]:
    return tuple(case(venue, "resting"))


def small(venue: str) -> str:
    return case(venue, "small")
