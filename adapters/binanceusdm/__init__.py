# SPDX-License-Identifier: Apache-2.0
"""Binance USD-M futures: the venue's manifest (see adapters/__init__.py). Its frames are read
from its wire schema (venuelink.adapters.binance.wire.USDM) by venuelink.ext.wire: no extension of its own."""
VENUE = "binanceusdm"
ADAPTER = "venuelink.adapters.binanceusdm.adapter:BinanceUsdmAdapter"
SIMULATOR = "venuelink.adapters.binanceusdm.simulator"
EXTENSIONS = ()
