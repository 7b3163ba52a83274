# SPDX-License-Identifier: Apache-2.0
"""Binance spot: the venue's manifest (see adapters/__init__.py)."""
VENUE = "binance"
ADAPTER = "venuelink.adapters.binance.adapter:BinanceAdapter"
SIMULATOR = "venuelink.adapters.binance.simulator"
EXTENSIONS = ()                 # its frames are read from its wire schema (wire.py) by venuelink.ext.wire
