# SPDX-License-Identifier: Apache-2.0
"""Binance USD-M futures: the venue's manifest (see adapters/__init__.py). Its parser is Binance's
(adapters.binance.parser, futures mode): no extension of its own."""
VENUE = "binanceusdm"
ADAPTER = "adapters.binanceusdm.adapter:BinanceUsdmAdapter"
SIMULATOR = "adapters.binanceusdm.simulator"
EXTENSIONS = ()
