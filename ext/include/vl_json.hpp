/* SPDX-License-Identifier: Apache-2.0
 * simdjson On-Demand extraction of market-data fields straight into C values.
 *
 * One VlDoc per connection/decoder, reused for every frame ("create once, reuse"). A frame is
 * copied into a padded scratch buffer (simdjson reads up to SIMDJSON_PADDING bytes past the end),
 * then fields are pulled by key from the current object. Prices and sizes are taken from the raw
 * token text (string or number) and parsed exactly by vl_parse_fixed: no double ever exists.
 * Everything returns a VL_J_* code; no exceptions cross into Cython. */
#ifndef VL_JSON_HPP
#define VL_JSON_HPP
#include <simdjson.h>
#include <cstdlib>
#include <cstring>
#include <new>
#include "vl_fixed.h"
#include "vl_levels.h"

enum {
    VL_J_OK = 0,
    VL_J_MALFORMED = 1,   /* not JSON, truncated, bad escape/UTF-8 */
    VL_J_MISSING = 2,     /* key absent */
    VL_J_TYPE = 3,        /* present with another JSON type */
    VL_J_NUMBER = 4,      /* fixed-point parse failed: see VlDoc::fx_err (VL_FX_*) */
    VL_J_NOMEM = 6,
    VL_J_EMPTY = 7,       /* empty input */
    VL_J_EXTRA = 8,       /* an array read as its single object holds none or more than one */
    VL_J_SIDE = 9,        /* a side-split row names neither side (see vl_doc_levels_sides) */
    VL_J_DUP = 10         /* a key read from an object occurs in it more than once */
};

#define VL_STR2(x) #x
#define VL_STR(x) VL_STR2(x)

/* Which simdjson On-Demand kernel this module was compiled with ("haswell", "fallback", ...). */
static inline const char *vl_json_kernel(void) { return VL_STR(SIMDJSON_BUILTIN_IMPLEMENTATION); }

/* 1 when this CPU can run the kernel compiled in (checked once at import). */
static inline int vl_json_cpu_ok(void) {
#if defined(__AVX2__)
    __builtin_cpu_init();
    return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("bmi") &&
           __builtin_cpu_supports("bmi2") && __builtin_cpu_supports("pclmul");
#else
    return 1;
#endif
}

static inline int vl_map_err(simdjson::error_code e) {
    switch (e) {
        case simdjson::SUCCESS: return VL_J_OK;
        case simdjson::NO_SUCH_FIELD: return VL_J_MISSING;
        case simdjson::INCORRECT_TYPE: return VL_J_TYPE;
        case simdjson::MEMALLOC: return VL_J_NOMEM;
        case simdjson::EMPTY: return VL_J_EMPTY;
        default: return VL_J_MALFORMED;
    }
}

/* Duplicate keys. JSON leaves them undefined and On-Demand reads the first one after its cursor,
 * so a frame carrying a field twice ({"U":5,"U":9}) would be read first-wins, silently. The
 * reader refuses it instead, for the keys a decoder reads, in the object it reads them from
 * (a key nobody reads may repeat; the same key in two different objects is two keys).
 *
 * Cost: no extra walk. Every lookup already passes over the fields between the cursor and its
 * key, and the decoder walks each object it reads to its end before it emits (vl_doc_root,
 * vl_doc_finish; a row of vl_doc_levels_obj/_sides at the row's end). On that single pass each
 * key met for the first time (its position past the furthest one met so far) is compared with
 * the keys found so far, and a key found with the keys only passed over so far: a repeated
 * found key is caught whichever copy is met first. A decoder reading fields in frame order
 * passes over none, so per object it costs one short compare per pair of keys read. */
#define VL_KEYS_FOUND 24
#define VL_KEYS_SEEN 24
enum { VL_K_START = 0, VL_K_FIELD = 1, VL_K_END = 2, VL_K_PENDING = 3 };
struct VlKeys {
    simdjson::ondemand::object o;
    uint64_t fbits, sbits;              /* first bytes (mod 64) of the keys in found[] / seen[] */
    int nfound, nseen;
    int state;                          /* VL_K_*: at the first field, after a field's key, past the end,
                                           or at a field an optional lookup stopped at (pending) */
    const char *pending;                /* VL_K_PENDING: that field's key, its value not read yet */
    int spill;                          /* more keys passed over than seen[] holds: full check at the end */
    const char *hwm;                    /* the furthest key met so far */
    const char **dup;                   /* where a duplicate key found is noted (VlDoc::dup_key) */
    const char *found[VL_KEYS_FOUND];   /* keys looked up and found (raw, after the opening quote) */
    const char *seen[VL_KEYS_SEEN];     /* keys passed over */
};

static inline void vl_keys_init(VlKeys *k, simdjson::ondemand::object o, const char **dup) {
    k->o = o;
    k->dup = dup;
    k->hwm = nullptr;
    k->fbits = k->sbits = 0;
    k->nfound = k->nseen = 0;
    k->state = VL_K_START;
    k->spill = 0;
    k->pending = nullptr;
}

/* A raw key (just past its opening quote) equal to `want`. */
static inline int vl_raw_is(const char *raw, std::string_view want) {
    return std::memcmp(raw, want.data(), want.size()) == 0 && raw[want.size()] == '"';
}

static inline uint64_t vl_key_bit(const char *key) { return (uint64_t)1 << ((unsigned char)key[0] & 63); }

/* Two raw keys (pointers just past their opening quotes) equal up to their closing quotes. */
static inline int vl_key_eq(const char *a, const char *b) {
    for (size_t i = 0;; i++) {
        char x = a[i];
        if (x != b[i]) return 0;
        if (x == '"') return 1;
        if (x == '\\') { i++; if (a[i] != b[i]) return 0; }
    }
}

/* Another entry of list (not key itself) holds the same key. */
static inline int vl_keys_in(const char *const *list, int n, const char *key) {
    for (int i = 0; i < n; i++)
        if (list[i] != key && vl_key_eq(list[i], key)) return 1;
    return 0;
}

/* A key passed over (not the one looked for). */
static inline int vl_keys_pass(VlKeys *k, const char *key) {
    if (key <= k->hwm) return VL_J_OK;                 /* met before: compared then */
    k->hwm = key;
    uint64_t bit = vl_key_bit(key);
    if ((k->fbits & bit) && vl_keys_in(k->found, k->nfound, key)) { *k->dup = key; return VL_J_DUP; }
    if (k->nseen < VL_KEYS_SEEN) { k->seen[k->nseen++] = key; k->sbits |= bit; }
    else k->spill = 1;
    return VL_J_OK;
}

/* The key looked for, found. */
static inline int vl_keys_found(VlKeys *k, const char *key) {
    if (key > k->hwm) k->hwm = key;
    uint64_t bit = vl_key_bit(key);
    if (k->fbits & bit) {
        for (int i = 0; i < k->nfound; i++) {
            if (k->found[i] == key) return VL_J_OK;    /* the same field read again */
            if (vl_key_eq(k->found[i], key)) { *k->dup = key; return VL_J_DUP; }
        }
    }
    if ((k->sbits & bit) && vl_keys_in(k->seen, k->nseen, key)) { *k->dup = key; return VL_J_DUP; }
    if (k->nfound == VL_KEYS_FOUND) return VL_J_NOMEM; /* no decoder reads this many keys of one object */
    k->found[k->nfound++] = key;
    k->fbits |= bit;
    return VL_J_OK;
}

/* The lookups below drive simdjson's value_iterator directly, as find_field_unordered does (an
 * object keeps it protected: reached through a derived class's member pointer, which is how
 * C++ grants that access), and hand the value found out as an ondemand::value. */
namespace vl_od = simdjson::SIMDJSON_BUILTIN_IMPLEMENTATION::ondemand;
struct VlObjIter : vl_od::object {
    static vl_od::value_iterator &of(vl_od::object &o) { return o.*(&VlObjIter::iter); }
};
struct VlValue : vl_od::value {
    explicit VlValue(const vl_od::value_iterator &it) : vl_od::value(it) {}
};

/* Look `key` up in k's object: forward from the cursor to the end, then from the start up to
 * where this search began (simdjson's find_field_unordered order), checking every key met.
 * VL_J_OK with *out, VL_J_MISSING, or an error (VL_J_DUP among them). Inlined at every call
 * site, as simdjson's own lookups are: the key's length is a constant there. */
__attribute__((always_inline)) static inline int vl_keys_find(VlKeys *k, std::string_view want,
                                                            simdjson::ondemand::value *out) {
    vl_od::value_iterator &vi = VlObjIter::of(k->o);
    simdjson::error_code e;
    bool has;
    int from_start = 1, wrapped = 0;
    const char *first = nullptr;                       /* the first key this search met */
    if (k->state == VL_K_PENDING) {                    /* at a field an optional lookup left unread */
        const char *kp = k->pending;
        k->state = VL_K_FIELD;
        if (vl_raw_is(kp, want)) {
            int rc = vl_keys_found(k, kp);
            if (rc) return rc;
            *out = VlValue(vi.child());
            return VL_J_OK;
        }
        int rc = vl_keys_pass(k, kp);
        if (rc) return rc;
        first = kp;
        if ((e = vi.skip_child()) || (e = vi.has_next_field().get(has))) return vl_map_err(e);
        from_start = 0;
    } else if (k->state == VL_K_FIELD) {               /* past the value of the field last met */
        if ((e = vi.skip_child()) || (e = vi.has_next_field().get(has))) return vl_map_err(e);
        from_start = 0;
    } else if (k->state == VL_K_START) {
        has = vi.is_open();                            /* an empty object is closed at once */
    } else if (k->o.reset().get(has)) {
        return VL_J_MALFORMED;
    }
    for (;;) {
        while (has) {
            simdjson::ondemand::raw_json_string key;
            if ((e = vi.field_key().get(key)) || (e = vi.field_value())) return vl_map_err(e);
            const char *kp = key.raw();
            k->state = VL_K_FIELD;
            if (wrapped && kp == first) return VL_J_MISSING;   /* back where this search began */
            if (!first) first = kp;
            if (key.unsafe_is_equal(want)) {
                int rc = vl_keys_found(k, kp);
                if (rc) return rc;
                *out = VlValue(vi.child());
                return VL_J_OK;
            }
            int rc = vl_keys_pass(k, kp);
            if (rc) return rc;
            if ((e = vi.skip_child()) || (e = vi.has_next_field().get(has))) return vl_map_err(e);
        }
        k->state = VL_K_END;
        if (from_start || wrapped) return VL_J_MISSING;
        if (k->o.reset().get(has)) return VL_J_MALFORMED;
        wrapped = 1;
    }
}

/* Walk k's object from the cursor to its end (keys, colons and commas checked, values skipped),
 * every key met checked; after more keys passed over than remembered, every key of the object
 * is checked once more against the keys found. VL_J_OK, VL_J_MALFORMED or VL_J_DUP. */
static inline int vl_keys_finish(VlKeys *k) {
    vl_od::value_iterator &vi = VlObjIter::of(k->o);
    bool has = false;
    if (k->state == VL_K_PENDING) {
        int rc = vl_keys_pass(k, k->pending);
        if (rc) return rc;
        k->state = VL_K_FIELD;
    }
    if (k->state != VL_K_END) {
        if (k->state == VL_K_FIELD) {
            if (vi.skip_child() || vi.has_next_field().get(has)) return VL_J_MALFORMED;
        } else {
            has = vi.is_open();
        }
        while (has) {
            simdjson::ondemand::raw_json_string key;
            if (vi.field_key().get(key) || vi.field_value()) return VL_J_MALFORMED;
            int rc = vl_keys_pass(k, key.raw());
            if (rc) return rc;
            if (vi.skip_child() || vi.has_next_field().get(has)) return VL_J_MALFORMED;
        }
        k->state = VL_K_END;
    }
    if (k->spill && k->nfound) {
        if (k->o.reset().get(has)) return VL_J_MALFORMED;
        while (has) {
            simdjson::ondemand::raw_json_string key;
            if (vi.field_key().get(key) || vi.field_value()) return VL_J_MALFORMED;
            const char *kp = key.raw();
            if ((k->fbits & vl_key_bit(kp)) && vl_keys_in(k->found, k->nfound, kp)) { *k->dup = kp; return VL_J_DUP; }
            if (vi.skip_child() || vi.has_next_field().get(has)) return VL_J_MALFORMED;
        }
        k->spill = 0;
    }
    return VL_J_OK;
}

struct VlDoc {
    simdjson::ondemand::parser parser;
    simdjson::ondemand::document doc;
    VlKeys root;                      /* the root object and the keys read from it */
    VlKeys in;                        /* an object entered by key (vl_doc_enter, vl_doc_enter_only) */
    VlKeys *cur;                      /* the current object: &root, or &in once entered */
    int entered;
    int in_array;                     /* 1: obj is the single element of an array (vl_doc_enter_only);
                                         2, 3: rows of vl_doc_objects (open; a row current) */
    simdjson::ondemand::array_iterator arr_it, arr_end;
    char *buf;
    size_t cap;
    int fx_err;                       /* VL_FX_* of the last VL_J_NUMBER */
    size_t err_index;                 /* level index of the last levels error */
    const char *err_tok;              /* token text of the last VL_J_NUMBER (in buf) */
    size_t err_len;
    const char *dup_key;              /* the key of the last VL_J_DUP (raw, up to its closing quote, in buf) */
};

static inline VlDoc *vl_doc_new(void) {
    VlDoc *d = new (std::nothrow) VlDoc();
    if (!d) return nullptr;
    d->cap = 4096;
    d->buf = (char *)std::malloc(d->cap + simdjson::SIMDJSON_PADDING);
    if (!d->buf) { delete d; return nullptr; }
    d->fx_err = 0;
    d->err_index = 0;
    d->err_tok = nullptr;
    d->err_len = 0;
    d->dup_key = nullptr;
    return d;
}

static inline void vl_doc_free(VlDoc *d) {
    if (d) { std::free(d->buf); delete d; }
}

/* Copy the frame into the padded buffer and open its root object. */
static inline int vl_doc_load(VlDoc *d, const char *data, size_t len) {
    if (len == 0) return VL_J_EMPTY;
    if (len > d->cap) {
        size_t cap = d->cap;
        while (cap < len) cap *= 2;
        char *nb = (char *)std::realloc(d->buf, cap + simdjson::SIMDJSON_PADDING);
        if (!nb) return VL_J_NOMEM;
        d->buf = nb; d->cap = cap;
    }
    std::memcpy(d->buf, data, len);
    std::memset(d->buf + len, 0, simdjson::SIMDJSON_PADDING);
    auto e = d->parser.iterate(d->buf, len, d->cap + simdjson::SIMDJSON_PADDING).get(d->doc);
    if (e) return vl_map_err(e);
    simdjson::ondemand::json_type t;
    e = d->doc.type().get(t);
    if (e) return VL_J_MALFORMED;
    if (t == simdjson::ondemand::json_type::array) return VL_J_TYPE;
    if (t != simdjson::ondemand::json_type::object) return VL_J_MALFORMED;   /* scalars: not a message */
    simdjson::ondemand::object o;
    e = d->doc.get_object().get(o);
    vl_keys_init(&d->root, o, &d->dup_key);
    d->cur = &d->root;
    d->entered = 0;
    d->in_array = 0;
    return e ? vl_map_err(e) : VL_J_OK;
}

/* The fields after the last one read, walked to the end of the frame: commas, keys and
 * nesting are checked (values nobody reads are skipped, not parsed). A decoder calls it before
 * it emits, so a frame damaged after its last useful field is rejected, not half-trusted. */
static inline int vl_doc_finish(VlDoc *d) {
    int rc = vl_keys_finish(d->cur);                        /* VL_J_MALFORMED or VL_J_DUP */
    if (rc) return rc;
    if (d->in_array >= 2) return VL_J_MALFORMED;            /* rows left unread: a decoder's mistake */
    if (d->in_array) {                                      /* the array must end after its one element */
        d->in_array = 0;
        ++d->arr_it;
        if (d->arr_it != d->arr_end) {
            simdjson::ondemand::value v;
            return (*d->arr_it).get(v) ? VL_J_MALFORMED : VL_J_EXTRA;
        }
    }
    if (d->entered && (rc = vl_keys_finish(&d->root))) return rc;
    const char *loc = nullptr;                              /* anything after the root: glued frames */
    return d->doc.current_location().get(loc) == simdjson::OUT_OF_BOUNDS ? VL_J_OK : VL_J_MALFORMED;
}

/* For a decoder that drops a frame without reading on (a symbol it does not follow, a stream
 * it only counts): the rest of the objects it read from walked for copies of the keys it read,
 * so a duplicate is refused there too, as vl_doc_finish would. Damage met on the way is left to
 * the drop (the frame is not read). VL_J_OK or VL_J_DUP. */
static inline int vl_doc_dups(VlDoc *d) {
    int rc = vl_keys_finish(d->cur);
    if (rc == VL_J_OK && d->entered) rc = vl_keys_finish(&d->root);
    return rc == VL_J_DUP ? rc : VL_J_OK;
}

/* Make the object at `key` of the current object the current object. */
static inline int vl_doc_enter(VlDoc *d, const char *key) {
    simdjson::ondemand::value v;
    simdjson::ondemand::object o;
    int rc = vl_keys_find(d->cur, key, &v);
    if (rc) return rc;
    auto e = v.get_object().get(o);
    if (e) return vl_map_err(e);
    vl_keys_init(&d->in, o, &d->dup_key);
    d->cur = &d->in;
    d->entered = 1;
    return VL_J_OK;
}

/* The shape On-Demand promises but, in release builds, does not fully check where a decoder
 * skips values: the root object's keys, colons and commas, nested containers by their extent
 * (brackets of either kind counted, strings skipped), scalars as runs of non-structural bytes
 * (a string glued to one is part of it) and nothing after the root. ext/ref/json_ref.py states
 * the same rules. For cold frames (control replies) whose fields are mostly not read. */
static inline int vl_is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
static inline int vl_is_structural(char c) {
    return c == '{' || c == '}' || c == '[' || c == ']' || c == ',' || c == ':' || c == '"' || vl_is_ws(c);
}
static inline size_t vl_skip_ws(const char *p, size_t i, size_t n) {
    while (i < n && vl_is_ws(p[i])) i++;
    return i;
}
/* i at an opening quote: the index after the closing one, or n + 1 on error */
static inline size_t vl_shape_string(const char *p, size_t i, size_t n) {
    size_t j = i + 1;
    while (j < n) {
        unsigned char c = (unsigned char)p[j];
        if (c == '"') return j + 1;
        if (c < 0x20) return n + 1;
        j += (c == '\\') ? 2 : 1;
    }
    return n + 1;
}
static inline size_t vl_shape_value(const char *p, size_t i, size_t n) {
    if (i >= n) return n + 1;
    char c = p[i];
    if (c == '"') return vl_shape_string(p, i, n);
    if (c == '{' || c == '[') {
        size_t depth = 0;
        while (i < n) {
            c = p[i];
            if (c == '"') { i = vl_shape_string(p, i, n); if (i > n) return i; continue; }
            if (c == '{' || c == '[') depth++;
            else if (c == '}' || c == ']') { if (--depth == 0) return i + 1; }
            i++;
        }
        return n + 1;
    }
    size_t j = i;
    for (;;) {
        while (j < n && !vl_is_structural(p[j])) j++;
        if (j > i && j < n && p[j] == '"') { j = vl_shape_string(p, j, n); if (j > n) return j; continue; }
        break;
    }
    return j == i ? n + 1 : j;
}
static inline int vl_json_shape(const char *p, size_t n) {
    size_t i = vl_skip_ws(p, 0, n);
    if (i >= n || p[i] != '{') return VL_J_MALFORMED;
    i = vl_skip_ws(p, i + 1, n);
    if (i < n && p[i] == '}') {
        i++;
    } else {
        for (;;) {
            if (i >= n || p[i] != '"') return VL_J_MALFORMED;
            i = vl_shape_string(p, i, n);
            if (i > n) return VL_J_MALFORMED;
            i = vl_skip_ws(p, i, n);
            if (i >= n || p[i] != ':') return VL_J_MALFORMED;
            i = vl_shape_value(p, vl_skip_ws(p, i + 1, n), n);
            if (i > n) return VL_J_MALFORMED;
            i = vl_skip_ws(p, i, n);
            if (i < n && p[i] == ',') { i = vl_skip_ws(p, i + 1, n); continue; }
            if (i < n && p[i] == '}') { i++; break; }
            return VL_J_MALFORMED;
        }
    }
    return vl_skip_ws(p, i, n) == n ? VL_J_OK : VL_J_MALFORMED;
}

/* Make the root object the current object again (after reading an object entered by key); the
 * entered object is walked to its end first (its remaining keys, colons and commas checked, and
 * its keys read for duplicates): VL_J_MALFORMED or VL_J_DUP. */
static inline int vl_doc_root(VlDoc *d) {
    int rc;
    if (d->entered && (rc = vl_keys_finish(d->cur))) return rc;
    d->cur = &d->root;
    d->entered = 0;
    d->in_array = 0;
    return VL_J_OK;
}

/* The array at `key` of the current object opened for its elements (d->arr_it .. d->arr_end). */
static inline int vl_open_array(VlDoc *d, const char *key) {
    simdjson::ondemand::value av;
    simdjson::ondemand::array arr;
    int rc = vl_keys_find(d->cur, key, &av);
    if (rc) return rc;
    auto e = av.get_array().get(arr);
    if (e) return vl_map_err(e);
    e = arr.begin().get(d->arr_it);
    if (e) return vl_map_err(e);
    e = arr.end().get(d->arr_end);
    return e ? vl_map_err(e) : VL_J_OK;
}

/* Make the one object of the array at `key` of the current object the current object (OKX's
 * "data": [{...}]). An empty array is VL_J_EXTRA; a second element is found by vl_doc_finish
 * (VL_J_EXTRA), so a frame with more than one is rejected, never half-read. */
static inline int vl_doc_enter_only(VlDoc *d, const char *key) {
    int rc = vl_open_array(d, key);
    if (rc) return rc;
    if (!(d->arr_it != d->arr_end)) return VL_J_EXTRA;
    simdjson::ondemand::value v;
    auto e = (*d->arr_it).get(v);
    if (e) return VL_J_MALFORMED;
    simdjson::ondemand::object o;
    e = v.get_object().get(o);
    if (e) return vl_map_err(e);
    vl_keys_init(&d->in, o, &d->dup_key);
    d->cur = &d->in;
    d->entered = 1;
    d->in_array = 1;
    return VL_J_OK;
}

/* The objects of the array at `key` of the current object, one at a time (Bybit's trade rows):
 * vl_doc_objects opens the array, each vl_doc_next_object walks the row before to its end (its
 * keys checked for duplicates) and makes the next element the current object. VL_J_OK with a
 * row current; VL_J_MISSING once the array is done (the frame's end is then checked as usual);
 * an element that is not an object is VL_J_TYPE. */
static inline int vl_doc_objects(VlDoc *d, const char *key) {
    int rc = vl_open_array(d, key);
    if (rc) return rc;
    d->in_array = 2;                                        /* open, no row current yet */
    return VL_J_OK;
}

static inline int vl_doc_next_object(VlDoc *d) {
    if (d->in_array == 3) {                                 /* a row is current: walk it, move on */
        int rc = vl_keys_finish(&d->in);
        if (rc) return rc;
        ++d->arr_it;
    } else if (d->in_array != 2) {
        return VL_J_MISSING;
    }
    if (!(d->arr_it != d->arr_end)) {
        d->in_array = 0;
        return VL_J_MISSING;
    }
    simdjson::ondemand::value v;
    if ((*d->arr_it).get(v)) return VL_J_MALFORMED;
    simdjson::ondemand::object o;
    auto e = v.get_object().get(o);
    if (e) return vl_map_err(e);
    vl_keys_init(&d->in, o, &d->dup_key);
    d->cur = &d->in;
    d->entered = 1;
    d->in_array = 3;
    return VL_J_OK;
}

/* Raw text of a scalar token: quotes and trailing blanks removed (points into the frame copy). */
static inline int vl_token(simdjson::ondemand::value v, const char **out, size_t *n, int *is_str) {
    std::string_view tok;
    simdjson::ondemand::json_type t;
    if (v.type().get(t)) return VL_J_MALFORMED;
    if (t == simdjson::ondemand::json_type::array || t == simdjson::ondemand::json_type::object)
        return VL_J_TYPE;
    tok = v.raw_json_token();
    size_t len = tok.size();
    const char *p = tok.data();
    while (len && (p[len - 1] == ' ' || p[len - 1] == '\n' || p[len - 1] == '\r' || p[len - 1] == '\t')) len--;
    *is_str = (t == simdjson::ondemand::json_type::string);
    if (*is_str) {
        if (len < 2 || p[len - 1] != '"') return VL_J_MALFORMED;
        p++; len -= 2;
    } else if (t != simdjson::ondemand::json_type::number) {
        return VL_J_TYPE;                 /* true/false/null */
    }
    *out = p; *n = len;
    return VL_J_OK;
}

/* String field, raw (escapes are not decoded: symbols and ids never contain them). */
static inline int vl_doc_str(VlDoc *d, const char *key, const char **out, size_t *n) {
    simdjson::ondemand::value v;
    int rc = vl_keys_find(d->cur, key, &v);
    if (rc) return rc;
    int is_str = 0;
    rc = vl_token(v, out, n, &is_str);
    if (rc) return rc;
    return is_str ? VL_J_OK : VL_J_TYPE;
}

static inline int vl_doc_i64(VlDoc *d, const char *key, int64_t *out) {
    simdjson::ondemand::value v;
    int rc = vl_keys_find(d->cur, key, &v);
    if (rc) return rc;
    auto e = v.get_int64().get(*out);
    return e ? vl_map_err(e) : VL_J_OK;
}

/* An optional field that, where the venue sends it, comes before the field `stop` (OKX's books
 * checksum before prevSeqId): looked for forward from the cursor only, up to `stop`, which is left
 * unread for the next lookup, so a frame without it costs no second pass over the object.
 * VL_J_OK with *out, VL_J_MISSING (not met before `stop` or the object's end), or an error. A
 * decoder that must not miss it when sent elsewhere reads on, then asks vl_doc_walk and
 * vl_doc_passed whether the object holds it after all. */
static inline int vl_doc_i64_before(VlDoc *d, const char *key, const char *stop, int64_t *out) {
    VlKeys *k = d->cur;
    vl_od::value_iterator &vi = VlObjIter::of(k->o);
    std::string_view want(key), halt(stop);
    simdjson::error_code e;
    bool has;
    if (k->state == VL_K_PENDING) {
        const char *kp = k->pending;
        if (vl_raw_is(kp, halt)) return VL_J_MISSING;
        k->state = VL_K_FIELD;
        if (vl_raw_is(kp, want)) {
            int rc = vl_keys_found(k, kp);
            if (rc) return rc;
            e = VlValue(vi.child()).get_int64().get(*out);
            return e ? vl_map_err(e) : VL_J_OK;
        }
        int rc = vl_keys_pass(k, kp);
        if (rc) return rc;
        if ((e = vi.skip_child()) || (e = vi.has_next_field().get(has))) return vl_map_err(e);
    } else if (k->state == VL_K_FIELD) {
        if ((e = vi.skip_child()) || (e = vi.has_next_field().get(has))) return vl_map_err(e);
    } else if (k->state == VL_K_START) {
        has = vi.is_open();
    } else {
        return VL_J_MISSING;
    }
    while (has) {
        simdjson::ondemand::raw_json_string rk;
        if ((e = vi.field_key().get(rk)) || (e = vi.field_value())) return vl_map_err(e);
        const char *kp = rk.raw();
        k->state = VL_K_FIELD;
        if (rk.unsafe_is_equal(want)) {
            int rc = vl_keys_found(k, kp);
            if (rc) return rc;
            e = VlValue(vi.child()).get_int64().get(*out);
            return e ? vl_map_err(e) : VL_J_OK;
        }
        if (rk.unsafe_is_equal(halt)) {
            k->state = VL_K_PENDING;
            k->pending = kp;
            return VL_J_MISSING;
        }
        int rc = vl_keys_pass(k, kp);
        if (rc) return rc;
        if ((e = vi.skip_child()) || (e = vi.has_next_field().get(has))) return vl_map_err(e);
    }
    k->state = VL_K_END;
    return VL_J_MISSING;
}

/* Walk the current object from the cursor to its end, every key met checked for a repeat and
 * remembered as passed over. VL_J_OK, VL_J_MALFORMED or VL_J_DUP. */
static inline int vl_doc_walk(VlDoc *d) { return vl_keys_finish(d->cur); }

/* `key` was passed over (met, not read) in the current object so far; also 1 when more keys
 * were passed over than are remembered (then a lookup tells). */
static inline int vl_doc_passed(VlDoc *d, const char *key) {
    VlKeys *k = d->cur;
    if (k->nseen >= VL_KEYS_SEEN) return 1;
    if (!(k->sbits & vl_key_bit(key))) return 0;
    std::string_view want(key);
    for (int i = 0; i < k->nseen; i++)
        if (vl_raw_is(k->seen[i], want)) return 1;
    return 0;
}

static inline int vl_doc_bool(VlDoc *d, const char *key, int *out) {
    bool b = false;
    simdjson::ondemand::value v;
    int rc = vl_keys_find(d->cur, key, &v);
    if (rc) return rc;
    auto e = v.get_bool().get(b);
    if (e) return vl_map_err(e);
    *out = b ? 1 : 0;
    return VL_J_OK;
}

static inline int vl_fixed_of(VlDoc *d, simdjson::ondemand::value v, int scale, int64_t *out) {
    const char *p; size_t n; int is_str;
    int rc = vl_token(v, &p, &n, &is_str);
    if (rc) return rc;
    rc = vl_parse_fixed_pad(p, n, scale, out);       /* p is inside the padded frame copy */
    if (VL_UNLIKELY(rc)) { d->fx_err = rc; d->err_tok = p; d->err_len = n; return VL_J_NUMBER; }
    return VL_J_OK;
}

/* Decimal field given as a JSON string ("27123.45") or number (27123.45), parsed exactly. */
static inline int vl_doc_fixed(VlDoc *d, const char *key, int scale, int64_t *out) {
    simdjson::ondemand::value v;
    int rc = vl_keys_find(d->cur, key, &v);
    if (rc) return rc;
    return vl_fixed_of(d, v, scale, out);
}

/* On-Demand walk of an array of [price, size, ...] arrays (extra elements ignored). */
static inline int vl_levels_generic(VlDoc *d, simdjson::ondemand::array arr, int px_scale, int qty_scale,
                                    VlLevels *out) {
    size_t i = 0;
    for (auto item : arr) {
        simdjson::ondemand::array pair;
        d->err_index = i;
        if (item.get_array().get(pair)) return item.error() ? VL_J_MALFORMED : VL_J_TYPE;
        if (i >= out->cap && vl_levels_grow(out)) return VL_J_NOMEM;
        int k = 0;
        for (auto el : pair) {
            simdjson::ondemand::value v;
            if (el.get(v)) return VL_J_MALFORMED;
            if (k == 0 || k == 1) {
                int rc = vl_fixed_of(d, v, k == 0 ? px_scale : qty_scale, k == 0 ? &out->px[i] : &out->qty[i]);
                if (rc) return rc;
            }
            k++;
        }
        if (k < 2) return VL_J_TYPE;
        i++;
    }
    out->n = i;
    return VL_J_OK;
}

/* Array of [price, size, ...] arrays (extra elements ignored) into out (out->n = count). */
static inline int vl_doc_levels(VlDoc *d, const char *key, int px_scale, int qty_scale, VlLevels *out) {
    simdjson::ondemand::array arr;
    out->n = 0;
    simdjson::ondemand::value av;
    int frc = vl_keys_find(d->cur, key, &av);
    if (frc) return frc;
    auto e = av.get_array().get(arr);
    if (e) return vl_map_err(e);
    return vl_levels_generic(d, arr, px_scale, qty_scale, out);
}

/* Array of objects {px_key: .., qty_key: ..} (Kraken v2, Coinbase, BitMEX style) into px[]/qty[]. */
static inline int vl_doc_levels_obj(VlDoc *d, const char *key, const char *px_key, const char *qty_key,
                                    int px_scale, int qty_scale, VlLevels *out) {
    simdjson::ondemand::array arr;
    out->n = 0;
    simdjson::ondemand::value av;
    int frc = vl_keys_find(d->cur, key, &av);
    if (frc) return frc;
    auto e = av.get_array().get(arr);
    if (e) return vl_map_err(e);
    size_t i = 0;
    for (auto item : arr) {
        simdjson::ondemand::object o;
        simdjson::ondemand::value v;
        d->err_index = i;
        if (item.get_object().get(o)) return item.error() ? VL_J_MALFORMED : VL_J_TYPE;
        if (i >= out->cap && vl_levels_grow(out)) return VL_J_NOMEM;
        VlKeys row;                                    /* the row's keys read, for duplicates */
        vl_keys_init(&row, o, &d->dup_key);
        int rc = vl_keys_find(&row, px_key, &v);
        if (rc) return rc;
        rc = vl_fixed_of(d, v, px_scale, &out->px[i]);
        if (rc) return rc;
        rc = vl_keys_find(&row, qty_key, &v);
        if (rc) return rc;
        rc = vl_fixed_of(d, v, qty_scale, &out->qty[i]);
        if (rc) return rc;
        rc = vl_keys_finish(&row);
        if (rc) return rc;
        i++;
    }
    out->n = i;
    return VL_J_OK;
}

/* Rows whose price and size sit at columns px_col and qty_col (Deribit ["new", 64000.0, 5000.0]:
 * 1 and 2); the other columns are passed over unread. A row too short for either is VL_J_TYPE. */
static inline int vl_doc_levels_cols(VlDoc *d, const char *key, int px_col, int qty_col, int px_scale,
                                     int qty_scale, VlLevels *out) {
    simdjson::ondemand::array arr;
    out->n = 0;
    simdjson::ondemand::value av;
    int frc = vl_keys_find(d->cur, key, &av);
    if (frc) return frc;
    auto e = av.get_array().get(arr);
    if (e) return vl_map_err(e);
    int need = (px_col > qty_col ? px_col : qty_col) + 1;
    size_t i = 0;
    for (auto item : arr) {
        simdjson::ondemand::array row;
        d->err_index = i;
        if (item.get_array().get(row)) return item.error() ? VL_J_MALFORMED : VL_J_TYPE;
        if (i >= out->cap && vl_levels_grow(out)) return VL_J_NOMEM;
        int k = 0;
        for (auto el : row) {
            simdjson::ondemand::value v;
            if (el.get(v)) return VL_J_MALFORMED;
            if (k == px_col || k == qty_col) {
                int rc = vl_fixed_of(d, v, k == px_col ? px_scale : qty_scale, k == px_col ? &out->px[i] : &out->qty[i]);
                if (rc) return rc;
            }
            k++;
        }
        if (k < need) return VL_J_TYPE;
        i++;
    }
    out->n = i;
    return VL_J_OK;
}

/* One array of objects holding both sides, each row naming its own (Coinbase l2_data updates
 * {"side": "bid", "price_level": .., "new_quantity": ..}; BitMEX {"side": "Buy", "price": ..,
 * "size": ..}): a row whose side_key string equals bid_text goes to bids, ask_text to asks, any
 * other is VL_J_SIDE. With qty_optional, a row without qty_key has size 0 (BitMEX's delete). */
static inline int vl_doc_levels_sides(VlDoc *d, const char *key, const char *side_key, const char *bid_text,
                                      const char *ask_text, const char *px_key, const char *qty_key,
                                      int qty_optional, int px_scale, int qty_scale, VlLevels *bids,
                                      VlLevels *asks) {
    simdjson::ondemand::array arr;
    bids->n = 0;
    asks->n = 0;
    simdjson::ondemand::value av;
    int frc = vl_keys_find(d->cur, key, &av);
    if (frc) return frc;
    auto e = av.get_array().get(arr);
    if (e) return vl_map_err(e);
    size_t bl = std::strlen(bid_text), al = std::strlen(ask_text), i = 0;
    for (auto item : arr) {
        simdjson::ondemand::object o;
        simdjson::ondemand::value v;
        d->err_index = i++;
        if (item.get_object().get(o)) return item.error() ? VL_J_MALFORMED : VL_J_TYPE;
        VlKeys row;                                    /* the row's keys read, for duplicates */
        vl_keys_init(&row, o, &d->dup_key);
        int rc = vl_keys_find(&row, side_key, &v);
        if (rc) return rc;
        const char *sp; size_t sn; int is_str;
        rc = vl_token(v, &sp, &sn, &is_str);
        if (rc) return rc;
        if (!is_str) return VL_J_TYPE;
        VlLevels *out;
        if (sn == bl && std::memcmp(sp, bid_text, bl) == 0) out = bids;
        else if (sn == al && std::memcmp(sp, ask_text, al) == 0) out = asks;
        else return VL_J_SIDE;
        if (out->n >= out->cap && vl_levels_grow(out)) return VL_J_NOMEM;
        rc = vl_keys_find(&row, px_key, &v);
        if (rc) return rc;
        rc = vl_fixed_of(d, v, px_scale, &out->px[out->n]);
        if (rc) return rc;
        rc = vl_keys_find(&row, qty_key, &v);
        if (rc == VL_J_MISSING && qty_optional) {
            out->qty[out->n] = 0;
        } else {
            if (rc) return rc;
            rc = vl_fixed_of(d, v, qty_scale, &out->qty[out->n]);
            if (rc) return rc;
        }
        rc = vl_keys_finish(&row);
        if (rc) return rc;
        out->n++;
    }
    return VL_J_OK;
}
#endif
