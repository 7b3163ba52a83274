# SPDX-License-Identifier: Apache-2.0
"""Bybit v5 spot and USDT perpetuals: the venue's manifest (see adapters/__init__.py)."""
VENUE = "bybit"
ADAPTER = "venuelink.adapters.bybit.adapter:BybitAdapter"
SIMULATOR = "venuelink.adapters.bybit.simulator"
EXTENSIONS = ()                 # its frames are read from its wire schema (wire.py) by venuelink.ext.wire
