/* SPDX-License-Identifier: Apache-2.0
 * Exact ASCII decimal <-> int64 fixed point. A value v at scale s is stored as the mantissa
 * m = v * 10^s. No floating point anywhere. Shared by ext/decimal.pyx and the JSON extractors. */
#ifndef VL_FIXED_H
#define VL_FIXED_H
#include <stddef.h>
#include <stdint.h>
#include <string.h>
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

#define VL_ISDIGIT(c) ((unsigned)((c) - '0') < 10u)

/* Eight ASCII digits (first digit in the lowest byte) to their value: three multiply-add
 * rounds combine neighbouring digits, pairs, then quads. */
VL_INLINE uint64_t vl_swar8(uint64_t v)
{
    v -= 0x3030303030303030ULL;
    v = (v * 10u + (v >> 8)) & 0x00FF00FF00FF00FFULL;
    v = (v * 100u + (v >> 16)) & 0x0000FFFF0000FFFFULL;
    return (v * 10000u + (v >> 32)) & 0xFFFFFFFFULL;
}

/* Per byte of v: nonzero where the byte is not an ASCII digit. A carry out of a non-digit byte
 * can only disturb bytes above it, so the lowest flagged byte is always exact. */
VL_INLINE uint64_t vl_nondigit_mask(uint64_t v)
{
    return ((v & 0xF0F0F0F0F0F0F0F0ULL) ^ 0x3030303030303030ULL) |
           (((v + 0x0606060606060606ULL) & 0xF0F0F0F0F0F0F0F0ULL) ^ 0x3030303030303030ULL);
}

/* End of the run of digits starting at p, eight bytes at a time while the input allows. */
VL_INLINE const char *vl_digit_run(const char *p, const char *end)
{
    uint64_t v, m;
    while (p + 8 <= end) {
        memcpy(&v, p, 8);
        m = vl_nondigit_mask(v);
        if (m) return p + (__builtin_ctzll(m) >> 3);
        p += 8;
    }
    while (p < end && VL_ISDIGIT(*p)) p++;
    return p;
}

/* Start of the trailing '0's of the digit run [a, b) (b when there are none). */
VL_INLINE const char *vl_trailing_zeros(const char *a, const char *b, const char *lo)
{
    uint64_t v, z;
    while (b - a >= 8 && b - 8 >= lo) {
        memcpy(&v, b - 8, 8);
        z = v ^ 0x3030303030303030ULL;             /* zero bytes where the char is '0' */
        if (z) return b - (__builtin_clzll(z) >> 3);
        b -= 8;
    }
    while (b > a && b[-1] == '0') b--;
    return b;
}

/* Value of the digit run [a, b) (at most 19 digits). [lo, hi) is the readable input: runs of up to
 * eight digits are read as one 8-byte word when it fits inside the input. */
VL_INLINE uint64_t vl_digits(const char *a, const char *b, const char *lo, const char *hi)
{
    size_t k = (size_t)(b - a);
    uint64_t v, m = 0;
    if (k == 0) return 0;
    if (k <= 8) {
        if (a + 8 <= hi) {                 /* digits in the low k bytes: move them up, '0'-fill */
            memcpy(&v, a, 8);
            if (k < 8) v = (v << (8 * (8 - k))) | (0x3030303030303030ULL >> (8 * k));
            return vl_swar8(v);
        }
        if (b - 8 >= lo) {                 /* digits in the high k bytes: '0'-fill the rest */
            memcpy(&v, b - 8, 8);
            if (k < 8) {
                uint64_t keep = ~0ULL << (8 * (8 - k));
                v = (v & keep) | (0x3030303030303030ULL & ~keep);
            }
            return vl_swar8(v);
        }
    }
    for (; a < b; a++) m = m * 10u + (uint64_t)(*a - '0');
    return m;
}

/* The general parser, every accepted form and every error (the contract; vl_parse_fixed takes
 * a shortcut for the common shape first). Reads only s[0, n).
 * One scan finds the digit runs (leading and trailing zeros dropped), then each run of up to
 * eight digits converts as one word; no division on the common path. Out of line: the callers
 * inline only the shortcut. */
#if defined(__GNUC__)
__attribute__((noinline, unused))
#endif
static int vl_parse_fixed_gen(const char *s, size_t n, int scale, int64_t *out)
{
    const char *p = s, *end = s + n, *z, *is, *ie, *fs = NULL, *fe = NULL;
    int neg = 0, seen_digit, nint, nfrac = 0;
    uint64_t m;
    int32_t exp10 = 0;                /* value = m * 10^exp10 */
    if (VL_UNLIKELY(scale < 0 || scale > 18)) return VL_FX_SCALE;
    if (VL_UNLIKELY(n == 0)) return VL_FX_EMPTY;
    if (*p == '-' || *p == '+') { neg = (*p == '-'); p++; }
    z = p;
    while (p < end && *p == '0') p++;                     /* leading zeros */
    is = p;
    p = vl_digit_run(p, end);
    ie = p;
    seen_digit = p > z;
    nint = (int)(ie - is);
    if (VL_UNLIKELY(nint > 19)) return VL_FX_OVERFLOW;    /* >= 10^19 > INT64_MAX */
    if (p < end && *p == '.') {
        fs = ++p;
        p = vl_digit_run(p, end);
        fe = p;
        seen_digit |= fe > fs;
        exp10 = -(int32_t)(fe - fs);
        fe = vl_trailing_zeros(fs, fe, s);                /* trailing zeros carry no value */
        exp10 += (int32_t)(p - fe);
        if (nint == 0)
            while (fs < fe && *fs == '0') fs++;           /* 0.000123: leading zeros */
        nfrac = (int)(fe - fs);
        if (VL_UNLIKELY(nint + nfrac > 19)) return VL_FX_PRECISION;
    }
    if (VL_UNLIKELY(!seen_digit)) return VL_FX_SYNTAX;
    if (p < end && (*p == 'e' || *p == 'E')) {
        int eneg = 0; int32_t e = 0; int edig = 0;
        p++;
        if (p < end && (*p == '-' || *p == '+')) { eneg = (*p == '-'); p++; }
        while (p < end && VL_ISDIGIT(*p)) {
            if (e < 100000) e = e * 10 + (*p - '0');
            edig++; p++;
        }
        if (VL_UNLIKELY(edig == 0)) return VL_FX_SYNTAX;
        exp10 += eneg ? -e : e;
    }
    if (VL_UNLIKELY(p != end)) return VL_FX_SYNTAX;
    m = vl_digits(is, ie, s, end);                        /* 19 digits never wrap a uint64 */
    if (nfrac)      /* nint + nfrac <= 19: with no integer digits nfrac may be 19 (no 10^19 entry) */
        m = (nint ? m * (uint64_t)VL_POW10[nfrac] : 0u) + vl_digits(fs, fe, s, end);
    if (m == 0) { *out = 0; return VL_FX_OK; }
    {
        int32_t shift = exp10 + scale;
        if (shift > 0) {
            if (shift > 18) return VL_FX_OVERFLOW;
            if (m > (uint64_t)INT64_MAX / (uint64_t)VL_POW10[shift] + 1u) return VL_FX_OVERFLOW;
            m *= (uint64_t)VL_POW10[shift];
        } else if (shift < 0) {
            if (shift <= -19) return VL_FX_PRECISION;     /* m < 10^19: cannot be a multiple */
            if (m % (uint64_t)VL_POW10[-shift]) return VL_FX_PRECISION;
            m /= (uint64_t)VL_POW10[-shift];
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

#if defined(__SSSE3__)
#include <tmmintrin.h>

/* VL_FXT[dot][scale], for a number with its '.' at byte `dot` (or `dot` = its length when it has
 * none), at that scale; filled for dot + scale <= 15:
 * - place: the pshufb control that puts each digit in the lane of its weight at that scale: lane j
 *   holds the digit worth 10^(15 - j) in the mantissa, so the 16 lanes read as one 16-digit integer
 *   are the mantissa itself. Digits past the scale and lanes above the integer digits get 0x80 (-> 0).
 * - limit: the largest value each byte (minus '0') may have: 9 for a digit up to the scale, 0xFE
 *   ('.' - '0') for the '.' at `dot`, 0 past the scale (only '0', or nothing, may follow there).
 *   Bytes past the number are 0. Any other '.', any non-digit, a nonzero digit past the scale
 *   exceeds its lane's limit: one unsigned max and compare check the whole shape.
 * VL_GATHER[n]: the control that puts the n bytes of a number, read as two overlapping words by
 * vl_fx_gather, back in order in lanes 0..n-1 (lanes n..15 -> 0). */
typedef struct { uint8_t place[16]; uint8_t limit[16]; } VlFxShape;
static VlFxShape VL_FXT[17][32] __attribute__((aligned(32)));  /* scale padded to 32: the index is shifts */
static uint8_t VL_GATHER[17][16];
__attribute__((constructor)) static void vl_fx_tables_init(void)
{
    int dot, sc, j, n;
    for (dot = 0; dot <= 16; dot++)
        for (sc = 0; sc + dot <= 15; sc++)
            for (j = 0; j < 16; j++) {
                int e = 15 - j - sc;                       /* power of ten of lane j's digit */
                int q = e >= 0 ? dot - 1 - e : dot - e;    /* its byte in the text */
                VL_FXT[dot][sc].place[j] = (q < 0 || q > 15) ? 0x80 : (uint8_t)q;
                VL_FXT[dot][sc].limit[j] = j == dot ? 0xFE : j <= dot + sc ? 9 : 0;
            }
    for (n = 0; n <= 16; n++) {
        int h = n >= 8 ? 8 : n >= 4 ? 4 : 16;              /* bytes from the first word; the rest end at n */
        for (j = 0; j < 16; j++)
            VL_GATHER[n][j] = j >= n ? 0x80 : (uint8_t)(j < h ? j : 2 * h + j - n);
    }
}

/* 16 x 0xFF then 16 x 0: loaded at 16 - n, keeps the first n lanes */
__attribute__((unused)) static const uint8_t VL_FX_KEEP[32] = {
    0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
__attribute__((unused)) static const uint8_t VL_SIMD_C[8][16] __attribute__((aligned(16))) = {
    {'0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0', '0'},
    {10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10, 10},
    {0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE, 0xFE}, /* '.' - '0' */
    {10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1, 10, 1},
    {100, 0, 1, 0, 100, 0, 1, 0, 100, 0, 1, 0, 100, 0, 1, 0},                  /* int16 100, 1 */
    {0x10, 0x27, 1, 0, 0x10, 0x27, 1, 0, 0x10, 0x27, 1, 0, 0x10, 0x27, 1, 0},   /* int16 10000, 1 */
    {0x00, 0xE1, 0xF5, 0x05, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},              /* uint32 10^8 */
    {0}};
/* The constants are read from memory as operands of the instructions that use them: the compiler,
 * seeing their values, would build each in registers with three instructions. */
VL_INLINE const __m128i *vl_fx_consts(void)
{
    const __m128i *k = (const __m128i *)VL_SIMD_C;
    __asm__("" : "+r"(k));
    return k;
}

/* The common shape of venue numbers, "27123.45000000", "0.00354810" or "15": n (2..16) bytes of
 * digits with at most one '.', no sign or exponent, integer digits + scale <= 15 (so no overflow),
 * every digit past the scale '0'. d holds the bytes minus '0' in lanes 0..n-1 and 0 in the lanes
 * past n. Returns 1 with *out set, 0 when the number is not of that shape (the general parser then
 * decides, errors included). One mask finds the '.', one max/compare against the shape's limits
 * checks every byte; no multiply by a power of ten: the digits are placed at their weight and read
 * as one 16-digit integer. */
VL_INLINE int vl_fx_vec(__m128i d, unsigned n, int scale, int64_t *out)
{
    const __m128i *k = vl_fx_consts();
    const VlFxShape *t;
    __m128i lim;
    unsigned pm = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(d, k[2]));   /* '.' */
    uint64_t dot = (unsigned)__builtin_ctz(pm | (1u << n));               /* n: no '.' */
    if (VL_UNLIKELY(dot + (unsigned)scale > 15u)) return 0;  /* integer digits + scale <= 15; scale 0..15 */
    t = &VL_FXT[dot][(unsigned)scale];
    lim = _mm_load_si128((const __m128i *)t->limit);
    if (_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_max_epu8(d, lim), lim)) != 0xFFFF) return 0;
    d = _mm_shuffle_epi8(d, _mm_load_si128((const __m128i *)t->place));
    d = _mm_maddubs_epi16(d, k[3]);
    d = _mm_madd_epi16(d, k[4]);
    d = _mm_packs_epi32(d, d);
    d = _mm_madd_epi16(d, k[5]);                 /* two 8-digit halves, high one first */
    d = _mm_add_epi64(_mm_mul_epu32(d, k[6]), _mm_srli_epi64(d, 32));
    *out = (int64_t)_mm_cvtsi128_si64(d);
    return 1;
}

/* A one-byte number: a digit. */
VL_INLINE int vl_fx_one(const char *s, int scale, int64_t *out)
{
    unsigned c = (unsigned)(uint8_t)s[0] - '0';
    if (c > 9u || (unsigned)scale > 18u) return 0;
    *out = (int64_t)c * VL_POW10[scale];
    return 1;
}

/* The n (2..16) bytes at s minus '0' in lanes 0..n-1 of a vector (lanes past n zero), reading only
 * s[0, n): two overlapping 8-byte words (n >= 8), two 4-byte words (n >= 4) or three single bytes. */
VL_INLINE __m128i vl_fx_gather(const char *s, size_t n)
{
    __m128i v;
    if (n >= 8) {
        v = _mm_loadl_epi64((const __m128i *)(const void *)s);
        v = _mm_castpd_si128(_mm_loadh_pd(_mm_castsi128_pd(v), (const double *)(const void *)(s + n - 8)));
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        v = _mm_cvtsi64_si128((long long)(a | (uint64_t)b << 32));
    } else {
        v = _mm_cvtsi32_si128((int)((unsigned)(uint8_t)s[0] | (unsigned)(uint8_t)s[n >> 1] << 8 |
                                    (unsigned)(uint8_t)s[n - 1] << 16));
    }
    return _mm_shuffle_epi8(_mm_sub_epi8(v, vl_fx_consts()[0]), _mm_loadu_si128((const __m128i *)VL_GATHER[n]));
}
#else

/* Without SSSE3 (portable builds): the same common shape, "digits[.digits]" with integer digits +
 * scale <= 18 (so no overflow) and every digit past the scale '0', by the 8-byte word helpers.
 * Returns 1 with *out set, 0 when the number is not of that shape (the general parser decides). */
VL_INLINE int vl_fx_swar(const char *s, size_t n, int scale, int64_t *out)
{
    const char *end = s + n, *ie, *fs, *fe;
    size_t nint, nfrac;
    uint64_t m;
    if (VL_UNLIKELY((unsigned)scale > 18u || n == 0 || n > 40)) return 0;
    ie = vl_digit_run(s, end);
    fs = fe = end;
    if (ie != end) {
        if (*ie != '.') return 0;
        fs = ie + 1;
        fe = vl_digit_run(fs, end);
        if (fe != end || (ie == s && fe == fs)) return 0;  /* something after, or no digit at all */
    }
    nint = (size_t)(ie - s);
    if (nint + (size_t)scale > 18u) return 0;
    nfrac = (size_t)(fe - fs);
    if (nfrac > (size_t)scale) {                            /* digits past the scale must be '0' */
        if (vl_trailing_zeros(fs + scale, fe, s) != fs + scale) return 0;
        fe = fs + scale;
        nfrac = (size_t)scale;
    }
    m = vl_digits(s, ie, s, end) * (uint64_t)VL_POW10[nfrac] + vl_digits(fs, fe, s, end);
    *out = (int64_t)(m * (uint64_t)VL_POW10[(size_t)scale - nfrac]);
    return 1;
}
#endif

/* Parse s[0:n] ("27123.45000000", "-3.5", "1e-8", "+2.", ".5") at `scale` into *out: VL_FX_OK, or
 * the VL_FX_* error. Reads only s[0, n). The common shape of venue numbers by SIMD, anything else
 * (signs, exponents, more than 16 bytes, errors) by vl_parse_fixed_gen. */
VL_INLINE int vl_parse_fixed(const char *s, size_t n, int scale, int64_t *out)
{
#if defined(__SSSE3__)
    if (VL_LIKELY(n - 2u < 15u)) {
        if (VL_LIKELY(vl_fx_vec(vl_fx_gather(s, n), (unsigned)n, scale, out))) return VL_FX_OK;
    } else if (n == 1 && vl_fx_one(s, scale, out)) {
        return VL_FX_OK;
    }
#else
    if (VL_LIKELY(vl_fx_swar(s, n, scale, out))) return VL_FX_OK;
#endif
    return vl_parse_fixed_gen(s, n, scale, out);
}

/* vl_parse_fixed for text inside a buffer readable at least 16 bytes past its start (the JSON
 * decoder's padded frame copy): the common shape by one 16-byte load. */
VL_INLINE int vl_parse_fixed_pad(const char *s, size_t n, int scale, int64_t *out)
{
#if defined(__SSSE3__)
    if (VL_LIKELY(n - 2u < 15u)) {
        __m128i d = _mm_and_si128(_mm_sub_epi8(_mm_loadu_si128((const __m128i *)s), vl_fx_consts()[0]),
                                  _mm_loadu_si128((const __m128i *)(VL_FX_KEEP + 16 - n)));
        if (VL_LIKELY(vl_fx_vec(d, (unsigned)n, scale, out))) return VL_FX_OK;
    } else if (n == 1 && vl_fx_one(s, scale, out)) {
        return VL_FX_OK;
    }
#else
    if (VL_LIKELY(vl_fx_swar(s, n, scale, out))) return VL_FX_OK;
#endif
    return vl_parse_fixed_gen(s, n, scale, out);
}

/* Write v at `scale` into buf (>= 24 bytes). frac < 0: canonical form (trailing fractional zeros
 * and a bare '.' removed: "27123.45", "0.00012", "-3.5", "0"). frac >= 0: exactly that many
 * fractional digits (frac <= scale pads/truncates nothing beyond the stored digits: frac > scale
 * pads zeros, frac < scale is only allowed when the dropped digits are zero, else returns -1).
 * Returns the length written (no NUL). */
static const char VL_DIGITS2[201] =
    "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
    "8081828384858687888990919293949596979899";

/* decimal digits of x (1 for 0); x <= 2^63 has at most 19 */
static inline int vl_ndigits(uint64_t x)
{
    int n = 1;
    while (n < 19 && x >= (uint64_t)VL_POW10[n]) n++;
    return n;
}

/* exactly n digits of x (zero padded on the left) ending just before `end`, two at a time */
static inline void vl_put_digits(char *end, uint64_t x, int n)
{
    while (n >= 2) {
        unsigned r = (unsigned)(x % 100u);
        x /= 100u;
        end -= 2;
        memcpy(end, VL_DIGITS2 + 2 * r, 2);
        n -= 2;
    }
    if (n) *--end = (char)('0' + (int)(x % 10u));
}

static inline int vl_format_fixed(int64_t v, int scale, int frac, char *buf)
{
    uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
    uint64_t ip, fp;
    int nf, ni, len = 0, i;
    if (scale < 0 || scale > 18) return -1;
    ip = mag / (uint64_t)VL_POW10[scale];
    fp = mag % (uint64_t)VL_POW10[scale];
    nf = scale;                                       /* fractional digits to write */
    if (frac < 0) {
        if (fp == 0) nf = 0;
        else while (fp % 10u == 0) { fp /= 10u; nf--; }
    } else if (frac < scale) {
        uint64_t d = (uint64_t)VL_POW10[scale - frac];
        if (fp % d) return -1;
        fp /= d;
        nf = frac;
    }
    if (v < 0) buf[len++] = '-';
    ni = vl_ndigits(ip);
    vl_put_digits(buf + len + ni, ip, ni);
    len += ni;
    if (nf > 0 || frac > 0) {
        buf[len++] = '.';
        vl_put_digits(buf + len + nf, fp, nf);
        len += nf;
        for (i = scale; i < frac; i++) buf[len++] = '0';
    }
    return len;
}
#endif
