# SPDX-License-Identifier: Apache-2.0
# Exact decimal strings <-> int64 fixed point (see include/vl_fixed.h). No floats.
from libc.stdint cimport int64_t

cdef extern from "vl_fixed.h" nogil:
    enum:
        VL_FX_OK
        VL_FX_EMPTY
        VL_FX_SYNTAX
        VL_FX_OVERFLOW
        VL_FX_PRECISION
        VL_FX_SCALE
    const int64_t VL_POW10[19]
    int vl_parse_fixed(const char *s, size_t n, int scale, int64_t *out)
    int vl_parse_fixed_pad(const char *s, size_t n, int scale, int64_t *out)   # s[0, n + 16) readable
    int vl_format_fixed(int64_t v, int scale, int frac, char *buf)

# Raise the DecimalError subclass that matches a VL_FX_* code (GIL held).
cdef int raise_fx(int code, const char *s, size_t n, int scale) except -1
