/* SPDX-License-Identifier: Apache-2.0
 * Exact ASCII decimal <-> int64 fixed point. A value v at scale s is stored as the mantissa
 * m = v * 10^s. No floating point anywhere. Shared by ext/decimal.pyx and the JSON extractors. */
#ifndef VL_FIXED_H
#define VL_FIXED_H
#include <stddef.h>
#include <stdint.h>
#include "vl_common.h"

enum {
    VL_FX_OK = 0,
    VL_FX_EMPTY = 1,      /* empty input */
    VL_FX_SYNTAX = 2,     /* not a decimal number */
    VL_FX_OVERFLOW = 3,   /* does not fit int64 at this scale */
    VL_FX_PRECISION = 4,  /* more significant fractional digits than the scale holds */
    VL_FX_SCALE = 5       /* scale outside 0..18 */
};

static const int64_t VL_POW10[19] = {
    1LL, 10LL, 100LL, 1000LL, 10000LL, 100000LL, 1000000LL, 10000000LL, 100000000LL,
    1000000000LL, 10000000000LL, 100000000000LL, 1000000000000LL, 10000000000000LL,
    100000000000000LL, 1000000000000000LL, 10000000000000000LL, 100000000000000000LL,
    1000000000000000000LL};

/* Parse s[0:n] ("27123.45000000", "-3.5", "1e-8", "+2.", ".5") at `scale` into *out. */
static inline int vl_parse_fixed(const char *s, size_t n, int scale, int64_t *out)
{
    const char *p = s, *end = s + n;
    int neg = 0;
    uint64_t m = 0;
    int ndig = 0;            /* significant digits accumulated in m */
    int32_t exp10 = 0;       /* value = m * 10^exp10 */
    int seen_digit = 0;
    if (VL_UNLIKELY(scale < 0 || scale > 18)) return VL_FX_SCALE;
    if (VL_UNLIKELY(n == 0)) return VL_FX_EMPTY;
    if (*p == '-' || *p == '+') { neg = (*p == '-'); p++; }
    /* integer part */
    while (p < end && (unsigned)(*p - '0') < 10u) {
        unsigned d = (unsigned)(*p - '0');
        seen_digit = 1;
        if (m == 0 && d == 0) { p++; continue; }          /* leading zero */
        if (VL_UNLIKELY(ndig >= 19)) return VL_FX_OVERFLOW;
        m = m * 10u + d; ndig++; p++;
    }
    if (p < end && *p == '.') {
        const char *f = ++p, *fe;
        while (p < end && (unsigned)(*p - '0') < 10u) p++;
        fe = p;
        if (fe > f) seen_digit = 1;
        while (fe > f && fe[-1] == '0') fe--;             /* trailing zeros carry no value */
        for (; f < fe; f++) {
            unsigned d = (unsigned)(*f - '0');
            exp10--;
            if (m == 0 && d == 0) continue;
            if (VL_UNLIKELY(ndig >= 19)) return VL_FX_PRECISION;
            m = m * 10u + d; ndig++;
        }
    }
    if (VL_UNLIKELY(!seen_digit)) return VL_FX_SYNTAX;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0; int32_t e = 0; int edig = 0;
        p++;
        if (p < end && (*p == '-' || *p == '+')) { eneg = (*p == '-'); p++; }
        while (p < end && (unsigned)(*p - '0') < 10u) {
            if (e < 100000) e = e * 10 + (*p - '0');
            edig++; p++;
        }
        if (VL_UNLIKELY(edig == 0)) return VL_FX_SYNTAX;
        exp10 += eneg ? -e : e;
    }
    if (VL_UNLIKELY(p != end)) return VL_FX_SYNTAX;
    if (m == 0) { *out = 0; return VL_FX_OK; }
    {
        int32_t shift = exp10 + scale;
        if (shift < 0) {
            if (shift < -19) return VL_FX_PRECISION;
            if (shift == -19) return VL_FX_PRECISION;      /* m < 10^19 so m % 10^19 != 0 */
            if (m % (uint64_t)VL_POW10[-shift]) return VL_FX_PRECISION;
            m /= (uint64_t)VL_POW10[-shift];
        } else if (shift > 0) {
            if (shift > 18) return VL_FX_OVERFLOW;
            if (m > (uint64_t)INT64_MAX / (uint64_t)VL_POW10[shift] + 1u) return VL_FX_OVERFLOW;
            m *= (uint64_t)VL_POW10[shift];
        }
        if (neg) {
            if (m > (uint64_t)INT64_MAX + 1u) return VL_FX_OVERFLOW;
            *out = (int64_t)(0u - m);
        } else {
            if (m > (uint64_t)INT64_MAX) return VL_FX_OVERFLOW;
            *out = (int64_t)m;
        }
    }
    return VL_FX_OK;
}

/* Write v at `scale` into buf (>= 24 bytes). frac < 0: canonical form (trailing fractional zeros
 * and a bare '.' removed: "27123.45", "0.00012", "-3.5", "0"). frac >= 0: exactly that many
 * fractional digits (frac <= scale pads/truncates nothing beyond the stored digits: frac > scale
 * pads zeros, frac < scale is only allowed when the dropped digits are zero, else returns -1).
 * Returns the length written (no NUL). */
static inline int vl_format_fixed(int64_t v, int scale, int frac, char *buf)
{
    char tmp[48];
    int t = 0, len = 0, i;
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    if (scale < 0 || scale > 18) return -1;
    /* digits, least significant first */
    do { tmp[t++] = (char)('0' + (int)(mag % 10u)); mag /= 10u; } while (mag);
    while (t <= scale) tmp[t++] = '0';                 /* ensure at least one integer digit */
    {
        int nfrac = scale, first = 0;                  /* tmp[0 .. scale-1] are fractional */
        if (frac < 0) {
            while (first < nfrac && tmp[first] == '0') first++;
        } else if (frac < scale) {
            for (i = 0; i < scale - frac; i++) if (tmp[i] != '0') return -1;
            first = scale - frac;
        }
        if (v < 0) buf[len++] = '-';
        for (i = t - 1; i >= nfrac; i--) buf[len++] = tmp[i];
        if (first < nfrac || frac > 0) {
            buf[len++] = '.';
            for (i = nfrac - 1; i >= first; i--) buf[len++] = tmp[i];
            for (i = scale; i < frac; i++) buf[len++] = '0';
        }
    }
    return len;
}
#endif
