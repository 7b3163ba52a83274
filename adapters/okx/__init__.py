# SPDX-License-Identifier: Apache-2.0
"""OKX spot and USDT swaps: the venue's manifest (see adapters/__init__.py)."""
VENUE = "okx"
ADAPTER = "venuelink.adapters.okx.adapter:OkxAdapter"
SIMULATOR = "venuelink.adapters.okx.simulator"
EXTENSIONS = ()                 # its frames are read from its wire schema (wire.py) by venuelink.ext.wire
