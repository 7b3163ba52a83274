# SPDX-License-Identifier: Apache-2.0
"""simdjson-backed extraction of market-data fields into C values, without Python dicts.

A `JsonDoc` is created once per decoder and reused for every frame::

    doc = JsonDoc()
    doc.load(frame)                 # raises MalformedJSONError on bad/truncated input
    u = doc.int("u")
    n = doc.apply_levels("b", book, Side.BID, px_scale, qty_scale)

Prices and sizes are read from the raw token (JSON string or number) and parsed exactly into
fixed point. Strings are returned raw (JSON escapes are not decoded: symbols and ids never use them).
Only what a message reads is validated: trailing bytes after the root object are not checked.
"""
from libc.stdint cimport int64_t
from venuelink.ext.json cimport *
from venuelink.ext.book cimport L2Book
from venuelink.ext.decimal cimport raise_fx


KERNEL: str = vl_json_kernel().decode()
"""simdjson On-Demand kernel compiled into this module ("haswell" = AVX2; "fallback" = scalar)."""

if not vl_json_cpu_ok():
    raise ImportError(f"venuelink.ext.json was built for the {KERNEL} (AVX2) kernel and this CPU lacks it: "
                      "rebuild on this host (make build) or with VL_PORTABLE=1")


class JSONError(ValueError):
    """A frame could not be decoded into the fields a message needs."""


class MalformedJSONError(JSONError):
    """Not JSON: empty, truncated, invalid syntax or encoding."""


class MissingFieldError(JSONError, KeyError):
    """A required key is absent."""

    def __str__(self):
        return str(self.args[0]) if self.args else ""


class FieldTypeError(JSONError, TypeError):
    """A key holds another JSON type than the message needs."""


class FieldValueError(JSONError):
    """A number field is not an exact decimal at the instrument's scale."""


class DuplicateKeyError(JSONError):
    """A key the message reads occurs more than once in its object ({"U":5,"U":9}): JSON leaves
    its value undefined, so the frame is refused rather than read first-wins."""


class FieldCountError(JSONError):
    """An array read as one object (OKX's "data": [{...}]) is empty or holds several."""


cdef str _dup_key(JsonDoc doc):
    """The raw text of the duplicate key last found (escapes kept), at most 64 bytes of it."""
    cdef const char *p = doc.d.dup_key
    cdef size_t i = 0
    if p == NULL:
        return "?"
    while i < 64 and p[i] != b'"':
        i += 2 if p[i] == b'\\' else 1
    return p[:i].decode("utf-8", "replace")


cdef int raise_json(JsonDoc doc, int code, key, int scale=-1) except -1:
    if code == VL_J_EMPTY:
        raise MalformedJSONError("empty frame")
    if code == VL_J_MALFORMED:
        raise MalformedJSONError(f"malformed or truncated JSON (at {key!r})" if key else
                                 "malformed or truncated JSON")
    if code == VL_J_MISSING:
        raise MissingFieldError(f"missing field {key!r}")
    if code == VL_J_TYPE:
        if key is None:
            raise FieldTypeError("frame root is not a JSON object")
        raise FieldTypeError(f"field {key!r} has the wrong JSON type")
    if code == VL_J_NUMBER:
        try:
            raise_fx(doc.d.fx_err, doc.d.err_tok, doc.d.err_len, scale)
        except ValueError as e:
            raise FieldValueError(f"field {key!r}: {e}") from None
    if code == VL_J_EXTRA:
        raise FieldCountError(f"field {key!r}: an array that must hold exactly one object holds none or several"
                              if key != "<end of frame>" else
                              "an array that must hold exactly one object holds several")
    if code == VL_J_SIDE:
        raise FieldValueError(f"field {key!r}: a row whose side is neither of the venue's two")
    if code == VL_J_DUP:
        where = f" (reading {key!r})" if key and not key.startswith("<") else ""
        raise DuplicateKeyError(f"duplicate key {_dup_key(doc)!r} in one object{where}")
    if code == VL_J_NOMEM:
        raise MemoryError()
    raise JSONError(f"json error {code} at {key!r}")


cdef class JsonDoc:
    def __cinit__(self):
        self.d = vl_doc_new()
        if self.d == NULL:
            raise MemoryError()

    def __dealloc__(self):
        vl_doc_free(self.d)
        vl_levels_free(&self.bids)
        vl_levels_free(&self.asks)

    cdef int load_ptr(self, const char *data, size_t n) except -1:
        cdef int rc
        with nogil:
            rc = vl_doc_load(self.d, data, n)
        if rc != VL_J_OK:
            raise_json(self, rc, None)
        return 0

    def load(self, const unsigned char[::1] data not None) -> None:
        """Parse a frame (bytes-like). Its root must be a JSON object."""
        if data.shape[0] == 0:
            raise MalformedJSONError("empty frame")
        self.load_ptr(<const char *>&data[0], data.shape[0])

    def enter_only(self, str key) -> None:
        """Descend into the single object of the array at `key` ("data": [{...}]); the end of the
        frame (finish) rejects an array holding more than one."""
        cdef bytes k = key.encode()
        cdef int rc = vl_doc_enter_only(self.d, k)
        if rc:
            raise_json(self, rc, key)

    def root(self) -> None:
        """Back to the root object (after reading an object entered by key, which is walked to
        its end: damage after its last field read raises)."""
        cdef int rc = vl_doc_root(self.d)
        if rc:
            raise_json(self, rc, "<end of object>")

    def enter(self, str key) -> None:
        """Descend into the object at `key` (e.g. a combined stream's "data")."""
        cdef bytes k = key.encode()
        cdef int rc = vl_doc_enter(self.d, k)
        if rc:
            raise_json(self, rc, key)

    cdef int end(self) except -1:
        """Walk the rest of the frame (vl_doc_finish) before emitting: raises on damage after
        the fields read (a frame cut or spliced there, two frames glued together)."""
        cdef int rc = vl_doc_finish(self.d)
        if rc:
            raise_json(self, rc, "<end of frame>")
        return 0

    def finish(self) -> None:
        self.end()

    def str(self, str key) -> str:
        cdef bytes k = key.encode()
        cdef const char *p = NULL
        cdef size_t n = 0
        cdef int rc = vl_doc_str(self.d, k, &p, &n)
        if rc:
            raise_json(self, rc, key)
        return p[:n].decode("utf-8", "replace")

    def int(self, str key) -> int:
        cdef bytes k = key.encode()
        cdef int64_t v = 0
        cdef int rc = vl_doc_i64(self.d, k, &v)
        if rc:
            raise_json(self, rc, key)
        return v

    def bool(self, str key) -> bool:
        cdef bytes k = key.encode()
        cdef int v = 0
        cdef int rc = vl_doc_bool(self.d, k, &v)
        if rc:
            raise_json(self, rc, key)
        return v != 0

    def fixed(self, str key, int scale) -> int:
        """Decimal field (string or number) as an int64 mantissa at `scale`."""
        cdef bytes k = key.encode()
        cdef int64_t v = 0
        cdef int rc = vl_doc_fixed(self.d, k, scale, &v)
        if rc:
            raise_json(self, rc, key)
        return v

    def levels(self, str key, int px_scale, int qty_scale) -> list:
        """[[px, qty, ...], ...] at `key` as a list of (px, qty) mantissa tuples (tools/tests)."""
        cdef bytes k = key.encode()
        cdef Py_ssize_t i
        cdef int rc = vl_doc_levels(self.d, k, px_scale, qty_scale, &self.bids)
        if rc:
            raise_json(self, rc, f"{key}[{self.d.err_index}]")
        return [(self.bids.px[i], self.bids.qty[i]) for i in range(<Py_ssize_t>self.bids.n)]

    def levels_obj(self, str key, str px_key, str qty_key, int px_scale, int qty_scale) -> list:
        """[{px_key: .., qty_key: ..}, ...] at `key` as (px, qty) mantissa tuples."""
        cdef bytes k = key.encode(), pk = px_key.encode(), qk = qty_key.encode()
        cdef Py_ssize_t i
        cdef int rc = vl_doc_levels_obj(self.d, k, pk, qk, px_scale, qty_scale, &self.bids)
        if rc:
            raise_json(self, rc, f"{key}[{self.d.err_index}]")
        return [(self.bids.px[i], self.bids.qty[i]) for i in range(<Py_ssize_t>self.bids.n)]

    def levels_cols(self, str key, int px_col, int qty_col, int px_scale, int qty_scale) -> list:
        """Rows at `key` with price and size at columns px_col / qty_col (Deribit's
        ["new", px, qty]: 1, 2) as (px, qty) mantissa tuples."""
        if px_col < 0 or qty_col < 0 or px_col == qty_col:
            raise ValueError(f"price and size columns must be distinct and >= 0, not {px_col}, {qty_col}")
        cdef bytes k = key.encode()
        cdef Py_ssize_t i
        cdef int rc = vl_doc_levels_cols(self.d, k, px_col, qty_col, px_scale, qty_scale, &self.bids)
        if rc:
            raise_json(self, rc, f"{key}[{self.d.err_index}]")
        return [(self.bids.px[i], self.bids.qty[i]) for i in range(<Py_ssize_t>self.bids.n)]

    def levels_sides(self, str key, str side_key, str bid_text, str ask_text, str px_key, str qty_key,
                     bint qty_optional, int px_scale, int qty_scale) -> tuple:
        """One array of objects naming their side (Coinbase, BitMEX) as (bids, asks) lists of
        (px, qty) mantissa tuples in frame order; with qty_optional a missing size is 0."""
        cdef bytes k = key.encode(), sk = side_key.encode(), bt = bid_text.encode(), at = ask_text.encode()
        cdef bytes pk = px_key.encode(), qk = qty_key.encode()
        cdef Py_ssize_t i
        cdef int rc = vl_doc_levels_sides(self.d, k, sk, bt, at, pk, qk, qty_optional, px_scale, qty_scale,
                                          &self.bids, &self.asks)
        if rc:
            raise_json(self, rc, f"{key}[{self.d.err_index}]")
        return ([(self.bids.px[i], self.bids.qty[i]) for i in range(<Py_ssize_t>self.bids.n)],
                [(self.asks.px[i], self.asks.qty[i]) for i in range(<Py_ssize_t>self.asks.n)])

    def apply_levels(self, str key, L2Book book, int side) -> int:
        """Decode [[px, qty], ...] at `key` and apply it to `book` (all levels or none).

        Every level is parsed and validated before the first one touches the book, so a bad
        level never leaves the book half-updated.
        """
        cdef bytes k = key.encode()
        cdef size_t i
        cdef VlLevels *lv = &self.bids if side == 1 else &self.asks
        cdef const char *kp = k
        cdef int rc
        with nogil:
            rc = vl_doc_levels(self.d, kp, book.px_scale, book.qty_scale, lv)
        if rc:
            raise_json(self, rc, f"{key}[{self.d.err_index}]", book.qty_scale)
        for i in range(lv.n):
            if lv.qty[i] < 0:
                raise FieldValueError(f"field '{key}[{i}]': negative size")
        with nogil:
            for i in range(lv.n):
                book.apply_level(side, lv.px[i], lv.qty[i])
        return lv.n
