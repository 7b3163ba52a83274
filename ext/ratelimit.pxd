# SPDX-License-Identifier: Apache-2.0
# Rate-limit budget accounting for one venue account: C-level API.
#
# Other Cython modules cimport this and call the cdef methods without the GIL:
#
#     from venuelink.ext.ratelimit cimport Budget, Cost, RL_OK
#     cdef int64_t wait = budget.try_acquire(cost, now, 2)    # 2 = Priority.NEW_ORDER
#     if wait == 0: send() elif wait > 0: retry in wait ns else: bad cost / priority
#
# Return convention of the C API (noexcept, so errors are codes, never exceptions):
#   0   admitted and charged            > 0   wait this many ns, nothing charged
#   < 0 RL_E* error code, nothing charged (the Python wrappers raise ValueError for these)
# Times are int64 ns from the caller's clock, in [0, RL_MAX_TIME]. Fixed windows are aligned to
# that clock, so callers that must match a venue's own windows (Binance's weight per minute
# resets on the wall-clock minute) pass clock.now_ns() (CLOCK_REALTIME), as engine/budget.py
# does; a clock stepped backwards is absorbed by the Budget (time never moves backwards in it).
# Semantics, quantization and all design notes: see the module docstring in ratelimit.pyx.
from libc.stdint cimport int64_t, uint64_t, int32_t, uint32_t, uint16_t, uint8_t

cdef extern from *:
    """
    typedef __int128 vl_i128;
    #define RL_MAX_TIME   ((int64_t)1 << 62)
    #define RL_MAX_LIMIT  ((int64_t)1 << 40)
    #define RL_MAX_WINDOW ((int64_t)1 << 53)
    """
    # Token-bucket levels are kept exactly, scaled by the reduced rate denominator; that
    # product needs more than 64 bits for long windows. Never converted to a Python int.
    ctypedef long long vl_i128
    const int64_t RL_MAX_TIME       # 2**62: largest accepted timestamp
    const int64_t RL_MAX_LIMIT      # 2**40: largest limit / weight / reported usage
    const int64_t RL_MAX_WINDOW     # 2**53 ns (~104 days)

cdef enum:
    RL_MAX_BUCKETS = 1024       # buckets per Budget (array grown on add_bucket, off the hot path)
    RL_MAX_COST = 16            # (bucket, weight) items per Cost and per ticket
    RL_SLOTS = 64               # sliding window: sub-slots per window (granularity window/64)
    RL_RING = 65                # ring entries = RL_SLOTS + the slot currently filling
    RL_TICKETS = 256            # reserve() ticket ring (power of two)
    RL_NLANES = 5               # lane arrays are indexed by Priority value 1..4; [0] unused

# Error codes returned (negative) by the C API.
cdef enum:
    RL_OK = 0
    RL_EWEIGHT = -1             # a weight exceeds the bucket's capacity for this lane: never admissible
    RL_EINDEX = -2              # cost refers to a bucket index this Budget does not have
    RL_EPRIO = -3               # priority outside 1..4

cpdef enum BucketKind:
    FIXED_WINDOW = 1            # clock-aligned windows: start = now - now % window_ns
    SLIDING_WINDOW = 2          # rolling window_ns, ring of RL_SLOTS sub-slots (conservative)
    TOKEN_BUCKET = 3            # decaying counter: drains limit per window_ns, capacity limit

cpdef enum Priority:
    CANCEL = 1
    NEW_ORDER = 2
    QUERY = 3
    SNAPSHOT = 4                # history / snapshots: lowest lane

ctypedef struct rl_bucket:
    int32_t kind
    int32_t cur                 # SLIDING: ring index of slot q (q % RL_RING)
    int64_t limit               # raw venue limit
    int64_t window_ns
    int64_t eff                 # floor(limit * (1 - headroom)), headroom in ppm
    int64_t cap[RL_NLANES]      # per-lane capacity: floor(eff * share[lane])
    int64_t used                # FIXED: usage in [win_start, win_end); SLIDING: sum of ring
    int64_t not_before          # nothing admitted before this time (venue said: exhausted until)
    # FIXED_WINDOW
    int64_t win_start
    int64_t win_end
    int64_t edge_ns             # charges in the window's last edge_ns also count in the next one
    int64_t carry               # weight charged in [win_end - edge_ns, win_end): next window's start
    # SLIDING_WINDOW
    int64_t slot_ns             # ceil(window_ns / RL_SLOTS)
    int64_t q                   # index of the current slot, floor(t / slot_ns)
    int64_t slot_end            # (q + 1) * slot_ns
    int64_t ring[RL_RING]       # usage per slot for slots q-RL_SLOTS .. q
    # TOKEN_BUCKET: level (= counter * rate_den) drains rate_num per ns; limit/window = num/den
    int64_t rate_num
    int64_t rate_den
    int64_t t0                  # time the level was last brought forward
    vl_i128 level
    vl_i128 capb[RL_NLANES]     # cap[lane] * rate_den

ctypedef struct rl_ticket:
    uint64_t id                 # 0 = free; slot = id & (RL_TICKETS - 1)
    int64_t t                   # time the charge was made
    int32_t n
    uint16_t idx[RL_MAX_COST]
    int64_t w[RL_MAX_COST]


cdef class Cost:
    """Pre-validated request cost: up to RL_MAX_COST (bucket index, weight) pairs in C arrays."""
    cdef int32_t n
    cdef uint16_t idx[RL_MAX_COST]
    cdef int64_t w[RL_MAX_COST]


cdef class Budget:
    cdef rl_bucket* b           # self.n buckets in use, room for self.cap (PyMem, grown x2)
    cdef int32_t n
    cdef int32_t cap
    cdef uint32_t share_ppm[RL_NLANES]
    cdef int64_t blocked_until
    cdef int64_t last_now       # time never moves backwards: earlier now_ns are clamped to this
    cdef uint64_t next_ticket
    cdef rl_ticket tickets[RL_TICKETS]
    cdef list _names

    # Admission. Return 0 (charged), > 0 (ns to wait, nothing charged) or RL_E* (< 0).
    cdef int64_t try_acquire(self, Cost c, int64_t now_ns, int priority) noexcept nogil
    # Same answer as try_acquire but never charges.
    cdef int64_t peek(self, Cost c, int64_t now_ns, int priority) noexcept nogil
    # try_acquire that also records a ticket (*ticket = id, or 0 when not admitted).
    cdef int64_t try_reserve(self, Cost c, int64_t now_ns, int priority,
                             uint64_t* ticket) noexcept nogil
    cdef bint commit_c(self, uint64_t ticket) noexcept nogil
    cdef bint refund_c(self, uint64_t ticket, int64_t now_ns) noexcept nogil
    # The caller guarantees 0 <= idx < self.n for the per-bucket calls below.
    cdef void sync_c(self, int idx, int64_t reported_used, int64_t now_ns) noexcept nogil
    cdef int64_t used_c(self, int idx, int64_t now_ns) noexcept nogil
    cdef int64_t remaining_c(self, int idx, int64_t now_ns, int priority) noexcept nogil
    cdef double utilization_c(self, int idx, int64_t now_ns) noexcept nogil
    cdef void block_until_c(self, int64_t until_ns) noexcept nogil
    cdef void block_bucket_c(self, int idx, int64_t until_ns) noexcept nogil

    cdef int64_t _admit_at(self, Cost c, int64_t now, int priority) noexcept nogil
    cdef int64_t _clamp(self, int64_t now_ns) noexcept nogil
    cdef void _recompute_caps(self, int i) noexcept nogil
    cdef int _check_index(self, idx) except -1
    cdef int _raise_code(self, int64_t code, Cost c, int priority) except -1
