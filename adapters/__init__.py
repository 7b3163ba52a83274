# SPDX-License-Identifier: Apache-2.0
"""Venue adapters: one package per exchange (wire format, signing, simulator dialect).

Each venue's ``adapters/<venue>/__init__.py`` is its manifest, the one place that names its
parts (plain data, importing nothing):

    VENUE = "okx"                                       # its venuelink.model.VenueId name
    ADAPTER = "venuelink.adapters.okx.adapter:OkxAdapter"         # "module:Class"
    SIMULATOR = "venuelink.adapters.okx.simulator"                # its simulator dialect module ("" for none)
    EXTENSIONS = ()                                     # its own Cython modules, e.g.
        # ({"name": "adapters.<venue>.parser", "cpp": True, "libs": ("simdjson",), "simd": True},)
        # for a hand-written parser; none where venuelink.ext.wire reads the venue's wire schema (wire.py)
    ORDERS = False                                      # optional (default True): the adapter has no
        # order entry yet; the venue's market data is native, its trading goes through the CCXT tier

venuelink.registry (adapters), venuelink.sim.server (simulators) and setup.py (Cython extensions) read
the manifests as files (venuelink.manifests): a new venue adds its folder and touches nothing else.
Folders whose name starts with ``_`` (the template) are not venues.
"""
