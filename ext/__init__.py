"""venuelink hot path: Cython extensions with C-level APIs in their .pxd files.

Modules: clock, decimal (fixed point), book (L2), checksum, ratelimit, histogram, json (simdjson).
Each has a pure-Python reference twin in ext/ref/ used by the differential tests.
"""
