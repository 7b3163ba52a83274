"""What the shared order tests need to know of each venue's simulated market: its BTC market and
an order that rests far below the price (lot-aligned, above the venue's minimum notional), for
tests that run over every registered venue."""
from __future__ import annotations

#: the venue's BTC market where it is not spot
BTC = {"binanceusdm": "BTC/USDT:USDT"}
#: (qty, price) of a buy that rests without filling; USD-M's minimum order notional is 100 USDT
RESTING = {"binanceusdm": ("0.2", "1000")}
#: the size of a small marketable order (above the minimum notional at ~60000)
SMALL = {"binanceusdm": "0.01"}


def btc(venue: str) -> str:
    return BTC.get(venue, "BTC/USDT")


def resting(venue: str) -> tuple[str, str]:
    return RESTING.get(venue, ("0.001", "1000"))


def small(venue: str) -> str:
    return SMALL.get(venue, "0.001")
