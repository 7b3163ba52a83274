# SPDX-License-Identifier: Apache-2.0
# simdjson On-Demand field extraction into C values (include/vl_json.hpp). Venue decoders cimport
# this: call the vl_doc_* functions on JsonDoc.d from nogil code and map VL_J_* codes to drops.
from libc.stdint cimport int64_t
from venuelink.ext.types cimport VlLevels, vl_levels_free

cdef extern from "vl_json.hpp" nogil:
    enum:
        VL_J_OK
        VL_J_MALFORMED
        VL_J_MISSING
        VL_J_TYPE
        VL_J_NUMBER
        VL_J_NOMEM
        VL_J_EMPTY
        VL_J_EXTRA
        VL_J_SIDE
        VL_J_DUP
    cppclass VlDoc:
        int fx_err
        size_t err_index
        const char *err_tok
        size_t err_len
        const char *dup_key
    const char *vl_json_kernel()
    int vl_json_cpu_ok()
    VlDoc *vl_doc_new()
    void vl_doc_free(VlDoc *d)
    int vl_doc_load(VlDoc *d, const char *data, size_t n)
    int vl_doc_enter(VlDoc *d, const char *key)
    int vl_doc_enter_only(VlDoc *d, const char *key)
    int vl_doc_root(VlDoc *d)
    int vl_doc_objects(VlDoc *d, const char *key)
    int vl_doc_next_object(VlDoc *d)
    int vl_json_shape(const char *p, size_t n)
    int vl_doc_finish(VlDoc *d)
    int vl_doc_dups(VlDoc *d)
    int vl_doc_str(VlDoc *d, const char *key, const char **out, size_t *n)
    int vl_doc_i64(VlDoc *d, const char *key, int64_t *out)
    int vl_doc_i64_before(VlDoc *d, const char *key, const char *stop, int64_t *out)
    int vl_doc_walk(VlDoc *d)
    int vl_doc_passed(VlDoc *d, const char *key)
    int vl_doc_bool(VlDoc *d, const char *key, int *out)
    int vl_doc_fixed(VlDoc *d, const char *key, int scale, int64_t *out)
    int vl_doc_levels(VlDoc *d, const char *key, int px_scale, int qty_scale, VlLevels *out)
    int vl_doc_levels_obj(VlDoc *d, const char *key, const char *px_key, const char *qty_key,
                          int px_scale, int qty_scale, VlLevels *out)
    int vl_doc_levels_cols(VlDoc *d, const char *key, int px_col, int qty_col, int px_scale, int qty_scale,
                           VlLevels *out)
    int vl_doc_levels_sides(VlDoc *d, const char *key, const char *side_key, const char *bid_text,
                            const char *ask_text, const char *px_key, const char *qty_key, int qty_optional,
                            int px_scale, int qty_scale, VlLevels *bids, VlLevels *asks)

cdef class JsonDoc:
    cdef VlDoc *d
    cdef VlLevels bids
    """Scratch levels for the bid side of the current frame (reused)."""
    cdef VlLevels asks
    """Scratch levels for the ask side of the current frame (reused)."""
    cdef int load_ptr(self, const char *data, size_t n) except -1
    cdef int end(self) except -1

# Raise the JSONError subclass for a VL_J_* code (GIL held); `key` names the field.
cdef int raise_json(JsonDoc doc, int code, key, int scale=*) except -1
