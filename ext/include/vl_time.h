/* SPDX-License-Identifier: Apache-2.0 -- RFC 3339 timestamps to epoch nanoseconds, exactly.
 *
 * Accepted: YYYY-MM-DD, then 'T', 't' or ' ', then HH:MM:SS, an optional fraction of 1 to 9
 * digits after '.', and 'Z', 'z' or a +HH:MM / -HH:MM offset ("2023-02-09T20:32:50.714964855Z",
 * "2023-09-25T07:49:37.708706+02:00"). Nothing before or after. Every field is range-checked
 * (the day against its month, leap years included); a leap second (:60) is refused, as is a
 * fraction finer than a nanosecond and a time outside int64 nanoseconds (1677..2262).
 * ext/ref/clock_ref.py states the same rules in Python. */
#ifndef VL_TIME_H
#define VL_TIME_H
#include <stddef.h>
#include <stdint.h>

enum { VL_T_OK = 0, VL_T_SHAPE = 1, VL_T_RANGE = 2, VL_T_FRACTION = 3, VL_T_OVERFLOW = 4 };

static inline int vl_t_digits(const char *p, int n, int *out) {
    int v = 0;
    for (int i = 0; i < n; i++) {
        unsigned d = (unsigned char)p[i] - '0';
        if (d > 9) return 0;
        v = v * 10 + (int)d;
    }
    *out = v;
    return 1;
}

/* Days from 1970-01-01 to the proleptic Gregorian date y-m-d (eras of 400 years). */
static inline int64_t vl_days_from_civil(int64_t y, int m, int d) {
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    int64_t yoe = y - era * 400;
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static inline int vl_days_in_month(int y, int m) {
    static const unsigned char dm[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return dm[m - 1] + (m == 2 && leap);
}

static inline int vl_rfc3339_ns(const char *p, size_t n, int64_t *out) {
    int y, mo, d, h, mi, s, oh = 0, om = 0, sign = 0;
    if (n < 20) return VL_T_SHAPE;
    if (!vl_t_digits(p, 4, &y) || p[4] != '-' || !vl_t_digits(p + 5, 2, &mo) || p[7] != '-' ||
        !vl_t_digits(p + 8, 2, &d) || !(p[10] == 'T' || p[10] == 't' || p[10] == ' ') ||
        !vl_t_digits(p + 11, 2, &h) || p[13] != ':' || !vl_t_digits(p + 14, 2, &mi) || p[16] != ':' ||
        !vl_t_digits(p + 17, 2, &s))
        return VL_T_SHAPE;
    size_t i = 19;
    int64_t frac = 0;
    if (p[i] == '.') {
        size_t j = ++i;
        while (i < n && (unsigned)((unsigned char)p[i] - '0') <= 9) {
            if (i - j >= 9) return VL_T_FRACTION;
            frac = frac * 10 + (p[i] - '0');
            i++;
        }
        if (i == j) return VL_T_SHAPE;
        for (size_t k = i - j; k < 9; k++) frac *= 10;
    }
    if (i >= n) return VL_T_SHAPE;
    if (p[i] == 'Z' || p[i] == 'z') {
        i++;
    } else if (p[i] == '+' || p[i] == '-') {
        sign = p[i] == '-' ? -1 : 1;
        if (n - i != 6 || !vl_t_digits(p + i + 1, 2, &oh) || p[i + 3] != ':' || !vl_t_digits(p + i + 4, 2, &om))
            return VL_T_SHAPE;
        i += 6;
    } else {
        return VL_T_SHAPE;
    }
    if (i != n) return VL_T_SHAPE;
    if (mo < 1 || mo > 12 || d < 1 || d > vl_days_in_month(y, mo) || h > 23 || mi > 59 || s > 59 ||
        oh > 23 || om > 59)
        return VL_T_RANGE;
    __int128 t = (__int128)vl_days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + s;
    t -= (__int128)sign * (oh * 3600 + om * 60);
    t = t * 1000000000 + frac;
    if (t > (__int128)INT64_MAX || t < (__int128)INT64_MIN) return VL_T_OVERFLOW;
    *out = (int64_t)t;
    return VL_T_OK;
}
#endif
