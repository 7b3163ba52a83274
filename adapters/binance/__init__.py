# SPDX-License-Identifier: Apache-2.0
"""Binance spot: the venue's manifest (see adapters/__init__.py)."""
VENUE = "binance"
ADAPTER = "adapters.binance.adapter:BinanceAdapter"
SIMULATOR = "adapters.binance.simulator"
EXTENSIONS = ({"name": "adapters.binance.parser", "cpp": True, "libs": ("simdjson",), "simd": True},)
