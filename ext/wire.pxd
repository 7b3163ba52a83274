# SPDX-License-Identifier: Apache-2.0
# Any venue's market-data frames decoded from its wire schema (venuelink.wire): the schema compiled
# into arrays of field operations, one loop per frame (ext/wire.pyx; twin engine/wire_ref.py).
from libc.stdint cimport int64_t
from venuelink.ext.json cimport JsonDoc, VlDoc
from venuelink.ext.feed cimport FrameParser, FeedSymbol

cdef enum:
    MAX_FIELDS = 16
    MAX_CHANNELS = 16
    MAX_VALUES = 4
    N_ROLES = 28
    # roles (venuelink.wire.Role)
    R_SYMBOL = 1
    R_TS = 2
    R_FIRST = 3
    R_LAST = 4
    R_PREV = 5
    R_CHECKSUM = 6
    R_BIDS = 7
    R_ASKS = 8
    R_TRADE_ID = 9
    R_PRICE = 10
    R_SIZE = 11
    R_SIDE = 12
    R_BID_PX = 13
    R_BID_QTY = 14
    R_ASK_PX = 15
    R_ASK_QTY = 16
    R_TOP_ID = 17
    R_CHECK = 18
    R_MARK_PX = 19
    R_INDEX_PX = 20
    R_FUNDING_RATE = 21
    R_FUNDING_TIME = 22
    R_NEXT_FUNDING_TIME = 23
    R_NEXT_FUNDING_RATE = 24
    R_OPEN_INTEREST = 25
    R_LEVELS = 26
    R_BLOCK = 27
    # kinds (venuelink.wire.Kind)
    K_BOOK = 1
    K_TRADES = 2
    K_TOP = 3
    K_PYTHON = 4
    K_DERIVS = 5
    # how a field is read (FieldOp.read), and the scale of a fixed-point one (FieldOp.scale)
    RD_I64 = 1
    RD_FIXED = 2
    RD_LEVELS = 3
    RD_BEFORE = 4
    RD_SYMBOL = 5
    RD_SIDE = 6
    RD_OPAQUE = 7
    RD_STR = 8
    RD_COLS = 9
    RD_SPLIT = 10
    RD_ISO = 11
    RD_BOOL = 12
    SC_NONE = 1
    SC_PX = 2
    SC_QTY = 3
    SC_RATE = 4
    # flags
    F_OPTIONAL = 1
    F_TEXT = 2
    F_OPAQUE = 4

cdef struct FieldOp:
    const char *key
    int role
    int read
    int scale
    int flags
    int n_values
    const char *stop                    # an optional integer: looked for only up to this next key
    int px_col                          # RD_COLS: the price's and the size's column of a level row
    int qty_col
    const char *split[5]                # RD_SPLIT: side key, bid word, ask word, price key, size key
    bint size_optional
    const char *values[MAX_VALUES]      # SIDE as text: the venue's words
    size_t value_len[MAX_VALUES]
    bint value_buy[MAX_VALUES]

cdef struct ChanOp:
    const char *name
    size_t name_len
    int kind
    int rows
    const char *data
    int span
    int64_t unit
    int64_t restart_id
    const char *action
    int n_snap
    const char *snap[MAX_VALUES]
    size_t snap_len[MAX_VALUES]
    int n_delta
    const char *delta[MAX_VALUES]
    size_t delta_len[MAX_VALUES]
    int n_head
    FieldOp head[MAX_FIELDS]
    int n_fields
    FieldOp fields[MAX_FIELDS]
    bint has_prev
    bint has_first
    bint signed_ck
    const char *key_first
    const char *key_last
    const char *key_prev
    const char *suffix                  # appended to the envelope's symbol before the lookup
    size_t suffix_len


cdef class WireParser(FrameParser):
    cdef JsonDoc doc
    cdef readonly object wire
    cdef list _keep                     # the bytes every const char * above points into
    cdef ChanOp _ch[MAX_CHANNELS]
    cdef int _n_ch
    cdef ChanOp _fallback
    cdef bint _has_fallback
    cdef const char *_fallback_key
    cdef ChanOp _rest
    cdef bint _has_rest
    cdef int _n_dispatch
    cdef const char *_dispatch[2]
    cdef const char *_symbol_key        # the envelope's symbol, beside the dispatch field (OKX instId)
    cdef char _sep
    cdef const char *_wrap_name
    cdef const char *_wrap_data
    cdef list _decoders                 # channel index -> Kind.PYTHON decode function (or None)
    cdef int _n_raw                     # whole non-JSON frames (OKX "pong") and their Control kinds
    cdef const char *_raw[MAX_VALUES]
    cdef size_t _raw_len[MAX_VALUES]
    cdef int _raw_kind[MAX_VALUES]
    cdef size_t _raw_max
    # per-frame values, by role
    cdef int64_t _v[N_ROLES]
    cdef bint _have[N_ROLES]
    cdef object _side
    cdef str _tid_str
    cdef FeedSymbol _fs
    cdef dict _strs                     # role -> text, for the roles read as strings (DERIVS)
    cdef bytes _symbuf                  # the envelope's symbol + a channel's suffix
    cdef int64_t _rest_ok               # the REST book envelope's wanted value (integer form)
    cdef const char *_rest_ok_key
    cdef bytes _rest_ok_text            # ... or its text form
    cdef bint _rest_nonneg
    cdef bint _control_key              # the schema names a control key (looked for on a missing field)

    cdef const char *_c(self, str s) except NULL
    cdef int _compile_ops(self, FieldOp *ops, int *n, fields) except -1
    cdef int _compile_fields(self, ChanOp *c, head, fields, str data, rows, int64_t unit) except -1
    cdef int _compile(self, ChanOp *c, ch) except -1
    cdef int _err(self, int rc, key, int scale=*) except -1
    cdef int _control(self, const char *p, size_t n) except -1
    cdef int _python(self, const char *p, size_t n, int i, int64_t ts_recv) except -1
    cdef int _unread(self, VlDoc *d) except -1
    cdef FeedSymbol _open(self, ChanOp *c, VlDoc *d, const char *s, size_t sn, int64_t ts_recv)
    cdef int _fields(self, ChanOp *c, FieldOp *ops, int n_ops, VlDoc *d, const char *env, size_t envn,
                     int64_t ts_recv) except -1
    cdef int _channel(self, ChanOp *c, VlDoc *d, const char *env, size_t envn, bint snapshot,
                      bint fallback, const char *p, size_t n, int64_t ts_recv, int64_t recv_mono) except -1
    cdef int _book(self, ChanOp *c, FeedSymbol fs, bint snapshot, int64_t ts_recv, int64_t recv_mono) except -1
    cdef int _trade(self, ChanOp *c, FeedSymbol fs, int64_t ts_recv) except -1
    cdef int _level_scale(self, VlDoc *d, FeedSymbol fs) except? -2
    cdef int _trade_rows(self, ChanOp *c, VlDoc *d, const char *env, size_t envn, int64_t ts_recv) except -1
    cdef int _top(self, ChanOp *c, FeedSymbol fs, int64_t ts_recv) except -1
    cdef int _derivs(self, ChanOp *c, FeedSymbol fs, int64_t ts_recv) except -1
