/* SPDX-License-Identifier: Apache-2.0
 * A growable pair of int64 level arrays (price, size mantissas), owned by a decoder and reused
 * for every frame. Plain C so both the C++ JSON extractor and C modules share it. */
#ifndef VL_LEVELS_H
#define VL_LEVELS_H
#include <stdint.h>
#include <stdlib.h>
#include <stddef.h>

typedef struct VlLevels {
    int64_t *px;
    int64_t *qty;
    size_t n;
    size_t cap;
} VlLevels;

/* 0 on success, nonzero when out of memory (the arrays are left as they were). */
static inline int vl_levels_grow(VlLevels *l) {
    size_t cap = l->cap ? l->cap * 2 : 256;
    int64_t *p = (int64_t *)realloc(l->px, cap * sizeof(int64_t));
    if (!p) return 6;
    l->px = p;
    int64_t *q = (int64_t *)realloc(l->qty, cap * sizeof(int64_t));
    if (!q) return 6;
    l->qty = q;
    l->cap = cap;
    return 0;
}

static inline int vl_levels_reserve(VlLevels *l, size_t n) {
    while (l->cap < n) if (vl_levels_grow(l)) return 6;
    return 0;
}

static inline void vl_levels_free(VlLevels *l) {
    free(l->px); free(l->qty);
    l->px = l->qty = NULL; l->n = l->cap = 0;
}
#endif
