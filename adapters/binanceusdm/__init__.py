# SPDX-License-Identifier: Apache-2.0
"""Binance USD-M futures: the venue's manifest (see adapters/__init__.py). Its frames are read
from its wire schema (adapters.binance.wire.USDM) by ext.wire: no extension of its own."""
VENUE = "binanceusdm"
ADAPTER = "adapters.binanceusdm.adapter:BinanceUsdmAdapter"
SIMULATOR = "adapters.binanceusdm.simulator"
EXTENSIONS = ()
