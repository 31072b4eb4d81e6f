/*
 * store/codec.c - column encoding: frame of reference, delta, reference
 * difference and byte planes, then LZ4 / ZSTD; and the way back.
 *
 * An integer column keeps, per value, only the bytes needed for the range of
 * the block (max - min): those bytes are split into planes (all low bytes,
 * then all second bytes, ...) so that the compressor sees long runs of
 * similar bytes.  A constant column costs nothing but its directory entry.
 * Address columns store only the byte positions that vary in the block.
 */
#include "store/segment_format.h"

#include <endian.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <lz4.h>
#include <stdlib.h>
#include <xxhash.h>
#include <zstd.h>

#include "core/clones.h"

uint64_t store_hash(const void *p, size_t len) { return XXH3_64bits(p, len); }

/* The encoder's hot loops are built for AVX2 and for the baseline
 * (core/clones.h): min/max, zero counts and plane extraction then run 32
 * bytes at a time. */
#define ENC_CLONES CF_CLONES

void store_col_entry_put(uint8_t *p, const store_col_entry *e)
{
    store_put_le16(p, e->field_id);
    p[2] = e->encoding;
    p[3] = e->codec;
    p[4] = e->width;
    p[5] = e->nbytes;
    store_put_le16(p + 6, e->aux);
    store_put_le32(p + 8, e->stored_len);
    store_put_le32(p + 12, e->raw_len);
    store_put_le64(p + 16, e->min);
    store_put_le64(p + 24, e->max);
    store_put_le64(p + 32, e->base);
    store_put_le64(p + 40, e->checksum);
}

void store_col_entry_get(const uint8_t *p, store_col_entry *e)
{
    e->field_id = store_le16(p);
    e->encoding = p[2];
    e->codec = p[3];
    e->width = p[4];
    e->nbytes = p[5];
    e->aux = store_le16(p + 6);
    e->stored_len = store_le32(p + 8);
    e->raw_len = store_le32(p + 12);
    e->min = store_le64(p + 16);
    e->max = store_le64(p + 24);
    e->base = store_le64(p + 32);
    e->checksum = store_le64(p + 40);
}

void store_codec_ctx_free(store_codec_ctx *c)
{
    free(c->raw);
    free(c->tmp);
    free(c->codes);
    ZSTD_freeCCtx(c->zstd_c);
    ZSTD_freeDCtx(c->zstd_d);
    memset(c, 0, sizeof(*c));
}

static cf_err raw_reserve(store_codec_ctx *c, size_t len)
{
    if (len <= c->raw_cap)
        return CF_OK;
    size_t cap = c->raw_cap ? c->raw_cap : 65536;
    while (cap < len)
        cap *= 2;
    uint8_t *p = realloc(c->raw, cap);
    if (!p)
        return CF_ERR_NOMEM;
    c->raw = p;
    c->raw_cap = cap;
    return CF_OK;
}

static unsigned bytes_for(uint64_t range)
{
    unsigned nb = 0;
    while (range) {
        nb++;
        range >>= 8;
    }
    return nb;
}

/* Reads value i of a column of width w (1, 2, 4 or 8); w is a constant at
 * every call site after inlining. */
static inline __attribute__((always_inline)) uint64_t load_w(const uint8_t *vals, unsigned w, size_t i)
{
    switch (w) {
    case 1: return vals[i];
    case 2: { uint16_t v; memcpy(&v, vals + 2 * i, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, vals + 4 * i, 4); return v; }
    default: { uint64_t v; memcpy(&v, vals + 8 * i, 8); return v; }
    }
}

static inline __attribute__((always_inline)) void store_w(uint8_t *vals, unsigned w, size_t i, uint64_t v)
{
    switch (w) {
    case 1: vals[i] = (uint8_t)v; break;
    case 2: { uint16_t x = (uint16_t)v; memcpy(vals + 2 * i, &x, 2); break; }
    case 4: { uint32_t x = (uint32_t)v; memcpy(vals + 4 * i, &x, 4); break; }
    default: memcpy(vals + 8 * i, &v, 8); break;
    }
}

/* Minimum and maximum over native-typed arrays (one function per type, so
 * that the compiler vectorises each). */
static inline __attribute__((always_inline)) void minmax8(const uint8_t *vals, size_t n, uint64_t *mn, uint64_t *mx)
{
    uint8_t lo = (uint8_t)~(uint8_t)0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        uint8_t v;
        memcpy(&v, vals + i * sizeof(v), sizeof(v));
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    *mn = lo;
    *mx = hi;
}

static inline __attribute__((always_inline)) void minmax16(const uint8_t *vals, size_t n, uint64_t *mn, uint64_t *mx)
{
    uint16_t lo = (uint16_t)~(uint16_t)0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t v;
        memcpy(&v, vals + i * sizeof(v), sizeof(v));
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    *mn = lo;
    *mx = hi;
}

static inline __attribute__((always_inline)) void minmax32(const uint8_t *vals, size_t n, uint64_t *mn, uint64_t *mx)
{
    uint32_t lo = (uint32_t)~(uint32_t)0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t v;
        memcpy(&v, vals + i * sizeof(v), sizeof(v));
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    *mn = lo;
    *mx = hi;
}

static inline __attribute__((always_inline)) void minmax64(const uint8_t *vals, size_t n, uint64_t *mn, uint64_t *mx)
{
    uint64_t lo = (uint64_t)~(uint64_t)0, hi = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t v;
        memcpy(&v, vals + i * sizeof(v), sizeof(v));
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
    }
    *mn = lo;
    *mx = hi;
}

ENC_CLONES static void col_minmax(const uint8_t *vals, unsigned w, size_t n, uint64_t *mn, uint64_t *mx)
{
    switch (w) {
    case 1: minmax8(vals, n, mn, mx); break;
    case 2: minmax16(vals, n, mn, mx); break;
    case 4: minmax32(vals, n, mn, mx); break;
    default: minmax64(vals, n, mn, mx); break;
    }
}

static uint64_t zigzag(uint64_t d) { return (d << 1) ^ (uint64_t)(-(int64_t)(d >> 63)); }
static uint64_t unzigzag(uint64_t z) { return (z >> 1) ^ (uint64_t)(-(int64_t)(z & 1)); }

static cf_err tmp_reserve(store_codec_ctx *c, size_t n)
{
    if (n <= c->tmp_cap && c->tmp)
        return CF_OK;
    uint64_t *p = realloc(c->tmp, (n ? n : 1) * sizeof(uint64_t));
    if (!p)
        return CF_ERR_NOMEM;
    c->tmp = p;
    c->tmp_cap = n;
    return CF_OK;
}

/* How many values of a column of width w equal v: counted in blocks of
 * 128 into an accumulator of the values' own width, so the loop vectorises
 * (compare, subtract the all-ones mask). */
static inline __attribute__((always_inline)) size_t count_eq_w(const uint8_t *vals, unsigned w, size_t n, uint64_t v)
{
    size_t eq = 0, i = 0;
    for (; i + 128 <= n; i += 128) {
        switch (w) {
        case 1: {
            uint8_t acc = 0, x = (uint8_t)v;
            for (size_t k = 0; k < 128; k++)
                acc = (uint8_t)(acc + (vals[i + k] == x));
            eq += acc;
            break;
        }
        case 2: {
            uint16_t acc = 0, x = (uint16_t)v;
            for (size_t k = 0; k < 128; k++)
                acc = (uint16_t)(acc + ((uint16_t)load_w(vals, 2, i + k) == x));
            eq += acc;
            break;
        }
        case 4: {
            uint32_t acc = 0, x = (uint32_t)v;
            for (size_t k = 0; k < 128; k++)
                acc += (uint32_t)load_w(vals, 4, i + k) == x;
            eq += acc;
            break;
        }
        default: {
            uint64_t acc = 0;
            for (size_t k = 0; k < 128; k++)
                acc += load_w(vals, 8, i + k) == v;
            eq += acc;
            break;
        }
        }
    }
    for (; i < n; i++)
        eq += load_w(vals, w, i) == v;
    return eq;
}

ENC_CLONES static size_t col_count_eq(const uint8_t *vals, unsigned w, size_t n, uint64_t v)
{
    switch (w) {
    case 1: return count_eq_w(vals, 1, n, v);
    case 2: return count_eq_w(vals, 2, n, v);
    case 4: return count_eq_w(vals, 4, n, v);
    default: return count_eq_w(vals, 8, n, v);
    }
}

/* OR of zigzag deltas (their byte count is the bytes DELTA needs). */
ENC_CLONES static uint64_t delta_or(const uint64_t *v, size_t n, uint64_t min)
{
    if (n == 0)
        return 0;
    uint64_t acc = zigzag(v[0] - min);
    for (size_t i = 1; i < n; i++) /* v[i - 1], not a carried prev: the loop vectorises */
        acc |= zigzag(v[i] - v[i - 1]);
    return acc;
}

ENC_CLONES static void ref_range(const uint64_t *v, const uint64_t *ref, size_t n, uint64_t *mn, uint64_t *mx)
{
    uint64_t lo = UINT64_MAX, hi = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t d = ref[i] - v[i];
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
    }
    *mn = lo;
    *mx = hi;
}

/* Value i of nb kept bytes stored as planes of n bytes each (nb is a
 * constant at every call site after inlining, so the loop unrolls and the
 * caller's loop over i vectorises). */
static inline __attribute__((always_inline)) uint64_t plane_val(const uint8_t *src, size_t n, unsigned nb, size_t i)
{
    uint64_t v = 0;
    for (unsigned j = 0; j < nb; j++)
        v |= (uint64_t)src[(size_t)j * n + i] << (8 * j);
    return v;
}

static inline __attribute__((always_inline)) void get_planes_nb(const uint8_t *src, size_t n, unsigned nb,
                                                               uint64_t *d)
{
    for (size_t i = 0; i < n; i++)
        d[i] = plane_val(src, n, nb, i);
}

static void get_planes(const uint8_t *src, size_t n, unsigned nb, uint64_t *d)
{
    switch (nb) {
    case 0: memset(d, 0, n * sizeof(*d)); break; /* REF with every value at base */
    case 1: get_planes_nb(src, n, 1, d); break;
    case 2: get_planes_nb(src, n, 2, d); break;
    case 3: get_planes_nb(src, n, 3, d); break;
    case 4: get_planes_nb(src, n, 4, d); break;
    case 5: get_planes_nb(src, n, 5, d); break;
    case 6: get_planes_nb(src, n, 6, d); break;
    case 7: get_planes_nb(src, n, 7, d); break;
    default: get_planes_nb(src, n, 8, d); break;
    }
}

/* FOR straight into the output type: out[i] = min + value i of the planes. */
static inline __attribute__((always_inline)) void for_planes_w(const uint8_t *src, size_t n, unsigned nb,
                                                              unsigned w, uint64_t min, uint8_t *out)
{
    for (size_t i = 0; i < n; i++)
        store_w(out, w, i, min + plane_val(src, n, nb, i));
}

/* False when (w, nb) has no fast path (nb > w cannot be valid FOR). */
static bool for_planes(const uint8_t *src, size_t n, unsigned nb, unsigned w, uint64_t min, uint8_t *out)
{
    switch (w * 16 + nb) {
    case 0x11: for_planes_w(src, n, 1, 1, min, out); return true;
    case 0x21: for_planes_w(src, n, 1, 2, min, out); return true;
    case 0x22: for_planes_w(src, n, 2, 2, min, out); return true;
    case 0x41: for_planes_w(src, n, 1, 4, min, out); return true;
    case 0x42: for_planes_w(src, n, 2, 4, min, out); return true;
    case 0x43: for_planes_w(src, n, 3, 4, min, out); return true;
    case 0x44: for_planes_w(src, n, 4, 4, min, out); return true;
    case 0x81: for_planes_w(src, n, 1, 8, min, out); return true;
    case 0x82: for_planes_w(src, n, 2, 8, min, out); return true;
    case 0x83: for_planes_w(src, n, 3, 8, min, out); return true;
    case 0x84: for_planes_w(src, n, 4, 8, min, out); return true;
    case 0x85: for_planes_w(src, n, 5, 8, min, out); return true;
    case 0x86: for_planes_w(src, n, 6, 8, min, out); return true;
    case 0x87: for_planes_w(src, n, 7, 8, min, out); return true;
    case 0x88: for_planes_w(src, n, 8, 8, min, out); return true;
    default: return false;
    }
}

/* Bits set in a 64-bit word (portable: no popcnt instruction assumed). */
static inline unsigned popcount64(uint64_t x)
{
    x = x - ((x >> 1) & UINT64_C(0x5555555555555555));
    x = (x & UINT64_C(0x3333333333333333)) + ((x >> 2) & UINT64_C(0x3333333333333333));
    x = (x + (x >> 4)) & UINT64_C(0x0f0f0f0f0f0f0f0f);
    return (unsigned)((x * UINT64_C(0x0101010101010101)) >> 56);
}

/* Word wi (8 bitmap bytes, little-endian) of a bitmap of n bits, bits past n cleared. */
static inline uint64_t bitmap_word(const uint8_t *bm, size_t n, size_t wi)
{
    size_t bytes = (n + 7) / 8, at = wi * 8;
    uint64_t v = 0;
    if (at + 8 <= bytes) {
        memcpy(&v, bm + at, 8);
        v = le64toh(v);
    } else {
        for (size_t k = at; k < bytes; k++)
            v |= (uint64_t)bm[k] << (8 * (k - at));
    }
    size_t bits_left = n - wi * 64;
    if (bits_left < 64)
        v &= (UINT64_C(1) << bits_left) - 1;
    return v;
}

/* Scatters the m values of the planes pl to the set bits of the bitmap;
 * d must be zeroed. */
static inline __attribute__((always_inline)) void sparse_scatter(const uint8_t *bm, const uint8_t *pl, size_t n,
                                                                size_t m, unsigned nb, uint64_t *d)
{
    size_t j = 0;
    for (size_t wi = 0; wi * 64 < n; wi++) {
        uint64_t word = bitmap_word(bm, n, wi);
        while (word) {
            size_t i = wi * 64 + (size_t)__builtin_ctzll(word);
            d[i] = plane_val(pl, m, nb, j++);
            word &= word - 1;
        }
    }
}

/* CF_ERR_CORRUPT when raw_len does not match the bitmap. */
static cf_err get_sparse(const uint8_t *src, size_t raw_len, size_t n, unsigned nb, uint64_t *d)
{
    size_t bm = (n + 7) / 8, m = 0;
    if (raw_len < bm)
        return CF_ERR_CORRUPT;
    for (size_t wi = 0; wi * 64 < n; wi++)
        m += popcount64(bitmap_word(src, n, wi));
    if (raw_len != bm + m * nb)
        return CF_ERR_CORRUPT;
    memset(d, 0, n * sizeof(*d));
    const uint8_t *pl = src + bm;
    switch (nb) {
    case 1: sparse_scatter(src, pl, n, m, 1, d); break;
    case 2: sparse_scatter(src, pl, n, m, 2, d); break;
    case 3: sparse_scatter(src, pl, n, m, 3, d); break;
    case 4: sparse_scatter(src, pl, n, m, 4, d); break;
    case 5: sparse_scatter(src, pl, n, m, 5, d); break;
    case 6: sparse_scatter(src, pl, n, m, 6, d); break;
    case 7: sparse_scatter(src, pl, n, m, 7, d); break;
    default: sparse_scatter(src, pl, n, m, 8, d); break;
    }
    return CF_OK;
}

/* A small dictionary: the distinct values of a column when there are at
 * most STORE_SMALLDICT_MAX, found through a 64-slot hash table.  A value is
 * held as two words (lo, hi); hi is zero for integers. */
typedef struct small_dict {
    uint64_t lo[STORE_SMALLDICT_MAX], hi[STORE_SMALLDICT_MAX];
    unsigned n;
    uint8_t slot_code[64];   /* code + 1, 0 = empty */
} small_dict;

/* Code of value (lo, hi), adding it when new; -1 when the dictionary is full. */
static inline unsigned dict_hash(uint64_t lo, uint64_t hi)
{
    return (unsigned)(((lo ^ (hi * 0xff51afd7ed558ccdull)) * 0x9e3779b97f4a7c15ull) >> 58);
}

static inline int dict_code(small_dict *d, uint64_t lo, uint64_t hi)
{
    unsigned h = dict_hash(lo, hi);
    for (;; h = (h + 1) & 63) {
        unsigned c = d->slot_code[h];
        if (c == 0)
            break;
        if (d->lo[c - 1] == lo && d->hi[c - 1] == hi)
            return (int)c - 1;
    }
    if (d->n == STORE_SMALLDICT_MAX)
        return -1;
    d->lo[d->n] = lo;
    d->hi[d->n] = hi;
    d->slot_code[h] = (uint8_t)(++d->n);
    return (int)d->n - 1;
}

static inline __attribute__((always_inline)) void dict_value(const uint8_t *vals, unsigned w, size_t i,
                                                             uint64_t *lo, uint64_t *hi)
{
    if (w == 16) {
        memcpy(lo, vals + 16 * i, 8);
        memcpy(hi, vals + 16 * i + 8, 8);
    } else {
        *lo = load_w(vals, w, i);
        *hi = 0;
    }
}

static unsigned dict_bits(unsigned n_vals) { return n_vals <= 2 ? 1 : n_vals <= 4 ? 2 : 4; }

static inline __attribute__((always_inline)) bool dict_build_w(small_dict *d, const uint8_t *vals, unsigned w,
                                                              size_t n, uint8_t *codes)
{
    for (size_t i = 0; i < n; i++) {
        uint64_t lo, hi;
        dict_value(vals, w, i, &lo, &hi);
        /* once the values are known, nearly every one is in its home slot:
         * one predictable test, whatever order the values come in */
        unsigned c = d->slot_code[dict_hash(lo, hi)];
        if (__builtin_expect(c != 0 && d->lo[c - 1] == lo && d->hi[c - 1] == hi, 1)) {
            codes[i] = (uint8_t)(c - 1);
            continue;
        }
        int code = dict_code(d, lo, hi);
        if (code < 0)
            return false;
        codes[i] = (uint8_t)code;
    }
    return true;
}

/* Builds the dictionary of a column and the code of each value (codes[0 ..
 * n), for dict_put); false when it has too many values. */
static bool dict_build(small_dict *d, const uint8_t *vals, unsigned w, size_t n, uint8_t *codes)
{
    memset(d, 0, sizeof(*d));
    switch (w) {
    case 1: return dict_build_w(d, vals, 1, n, codes);
    case 2: return dict_build_w(d, vals, 2, n, codes);
    case 4: return dict_build_w(d, vals, 4, n, codes);
    case 8: return dict_build_w(d, vals, 8, n, codes);
    default: return dict_build_w(d, vals, 16, n, codes);
    }
}

static cf_err codes_reserve(store_codec_ctx *c, size_t n)
{
    if (n <= c->codes_cap)
        return CF_OK;
    uint8_t *p = realloc(c->codes, n);
    if (!p)
        return CF_ERR_NOMEM;
    c->codes = p;
    c->codes_cap = n;
    return CF_OK;
}

static size_t dict_raw_len(unsigned n_vals, unsigned w, size_t n)
{
    return (size_t)n_vals * w + (n * dict_bits(n_vals) + 7) / 8;
}

/* The dictionary's values, then the codes dict_build() found, k bits each. */
static void dict_put(const small_dict *d, const uint8_t *codes_in, unsigned w, size_t n, uint8_t *out)
{
    unsigned k = dict_bits(d->n);
    for (unsigned c = 0; c < d->n; c++) {
        uint8_t v[16];
        store_put_le64(v, d->lo[c]);
        store_put_le64(v + 8, d->hi[c]);
        if (w == 16) {
            memcpy(v, &d->lo[c], 8);
            memcpy(v + 8, &d->hi[c], 8);
        }
        memcpy(out + c * w, v, w);
    }
    uint8_t *codes = out + (size_t)d->n * w;
    memset(codes, 0, (n * k + 7) / 8);
    for (size_t i = 0; i < n; i++)
        codes[(i * k) >> 3] |= (uint8_t)(codes_in[i] << ((i * k) & 7));
}

static inline __attribute__((always_inline)) void dict_get_w(const uint64_t *tab, const uint8_t *codes,
                                                            unsigned w, unsigned k, size_t n, uint8_t *out)
{
    unsigned mask = (1u << k) - 1;
    for (size_t i = 0; i < n; i++)
        store_w(out, w, i, tab[(codes[(i * k) >> 3] >> ((i * k) & 7)) & mask]);
}

/* dict_get_w with k (bits per code: 1, 2 or 4) a constant as well. */
static void dict_get_k(const uint64_t *tab, const uint8_t *codes, unsigned w, unsigned k, size_t n, uint8_t *out)
{
    switch (w * 16 + k) {
    case 0x11: dict_get_w(tab, codes, 1, 1, n, out); break;
    case 0x12: dict_get_w(tab, codes, 1, 2, n, out); break;
    case 0x14: dict_get_w(tab, codes, 1, 4, n, out); break;
    case 0x21: dict_get_w(tab, codes, 2, 1, n, out); break;
    case 0x22: dict_get_w(tab, codes, 2, 2, n, out); break;
    case 0x24: dict_get_w(tab, codes, 2, 4, n, out); break;
    case 0x41: dict_get_w(tab, codes, 4, 1, n, out); break;
    case 0x42: dict_get_w(tab, codes, 4, 2, n, out); break;
    case 0x44: dict_get_w(tab, codes, 4, 4, n, out); break;
    case 0x81: dict_get_w(tab, codes, 8, 1, n, out); break;
    case 0x82: dict_get_w(tab, codes, 8, 2, n, out); break;
    default: dict_get_w(tab, codes, 8, 4, n, out); break;
    }
}

static void dict_get(const store_col_entry *e, const uint8_t *raw, size_t n, uint8_t *out)
{
    unsigned w = e->width, k = e->nbytes;
    const uint8_t *codes = raw + (size_t)e->aux * w;
    if (w == 16) {
        uint8_t table[STORE_SMALLDICT_MAX][16] = {{0}}; /* codes past the values read as zero */
        memcpy(table, raw, (size_t)e->aux * 16);
        unsigned mask = (1u << k) - 1;
        for (size_t i = 0; i < n; i++)
            memcpy(out + i * 16, table[(codes[(i * k) >> 3] >> ((i * k) & 7)) & mask], 16);
        return;
    }
    uint64_t tab[STORE_SMALLDICT_MAX] = {0};
    for (unsigned c = 0; c < e->aux; c++) {
        uint8_t v[8] = {0};
        memcpy(v, raw + c * w, w);
        tab[c] = store_le64(v);
    }
    dict_get_k(tab, codes, w, k, n, out);
}

/* The byte positions (bit b: byte b of a 16-byte value) that are not zero
 * in the 16 bytes da (0..7) and db (8..15). */
static uint16_t byte_mask(uint64_t da, uint64_t db)
{
    uint8_t diff[16];
    memcpy(diff, &da, 8);
    memcpy(diff + 8, &db, 8);
    uint16_t mask = 0;
    for (unsigned b = 0; b < 16; b++)
        if (diff[b])
            mask |= (uint16_t)(1u << b);
    return mask;
}

/* Byte positions of 16-byte values that differ from the first value. */
ENC_CLONES static uint16_t addr_mask(const uint8_t *vals, size_t n)
{
    uint64_t a0, b0, da = 0, db = 0;
    memcpy(&a0, vals, 8);
    memcpy(&b0, vals + 8, 8);
    for (size_t i = 1; i < n; i++) {
        uint64_t a, b;
        memcpy(&a, vals + 16 * i, 8);
        memcpy(&b, vals + 16 * i + 8, 8);
        da |= a ^ a0;
        db |= b ^ b0;
    }
    return byte_mask(da, db);
}

size_t store_col_bound(const flow_field *f, size_t n)
{
    size_t raw = n * f->width;
    size_t lz = (size_t)LZ4_compressBound((int)(raw < 0x7e000000 ? raw : 0x7e000000));
    size_t zs = ZSTD_compressBound(raw);
    size_t b = lz > zs ? lz : zs;
    return b > raw ? b : raw;
}

/* Compresses cx->raw[0 .. e->raw_len) into out; raw copy when that is smaller. */
static cf_err compress_raw(store_codec_ctx *cx, store_codec codec, int level, uint8_t *out, size_t out_cap,
                           store_col_entry *e)
{
    size_t raw_len = e->raw_len, got = 0;
    if (codec == STORE_CODEC_LZ4) {
        int r = LZ4_compress_default((const char *)cx->raw, (char *)out, (int)raw_len,
                                     (int)(out_cap < INT32_MAX ? out_cap : INT32_MAX));
        got = r > 0 ? (size_t)r : 0;
    } else if (codec == STORE_CODEC_ZSTD) {
        if (!cx->zstd_c && !(cx->zstd_c = ZSTD_createCCtx()))
            return CF_ERR_NOMEM;
        size_t r = ZSTD_compressCCtx(cx->zstd_c, out, out_cap, cx->raw, raw_len, level);
        got = ZSTD_isError(r) ? 0 : r;
    }
    if (got == 0 || got >= raw_len) {
        if (raw_len > out_cap)
            return CF_ERR_FULL;
        memcpy(out, cx->raw, raw_len);
        got = raw_len;
        codec = STORE_CODEC_NONE;
    }
    e->codec = (uint8_t)codec;
    e->stored_len = (uint32_t)got;
    e->checksum = store_hash(out, got);
    return CF_OK;
}

/* Chooses the transform of a non-constant integer column (FOR, REF or
 * DELTA: the one needing the fewest bytes).  REF and DELTA values are
 * written to cx->tmp; FOR values are not materialised (the writers below
 * read value - min straight from the column).  Returns how many transformed
 * values are zero. */
static size_t transform_int(store_codec_ctx *cx, const flow_field *f, const uint8_t *vals, size_t n,
                            const uint64_t *ref, store_col_entry *e, uint64_t *range)
{
    const uint64_t *v64 = (const uint64_t *)(const void *)vals;
    bool time = f->width == 8 && f->type == FLOW_T_TIME;
    unsigned enc = STORE_ENC_FOR, nb = bytes_for(e->max - e->min);
    uint64_t rmin = 0, rmax = 0, dor = 0;
    *range = e->max - e->min;
    if (time && ref && f->id != FLOW_FIELD_LAST) {
        ref_range(v64, ref, n, &rmin, &rmax);
        if (bytes_for(rmax - rmin) < nb) {
            nb = bytes_for(rmax - rmin);
            enc = STORE_ENC_REF;
            *range = rmax - rmin;
        }
    }
    if (time && bytes_for(dor = delta_or(v64, n, e->min)) < nb) {
        enc = STORE_ENC_DELTA;
        *range = dor;
    }
    uint64_t *d = cx->tmp;
    size_t zeros = 0;
    e->encoding = (uint8_t)enc;
    if (enc == STORE_ENC_FOR)
        return col_count_eq(vals, f->width, n, e->min);
    if (enc == STORE_ENC_REF) {
        for (size_t i = 0; i < n; i++) {
            d[i] = ref[i] - v64[i] - rmin;
            zeros += d[i] == 0;
        }
        e->base = rmin;
        e->aux = FLOW_FIELD_LAST;
        return zeros;
    }
    d[0] = zigzag(v64[0] - e->min); /* n >= 1 */
    zeros = d[0] == 0;
    for (size_t i = 1; i < n; i++) { /* v64[i - 1], not a carried prev: the loop vectorises */
        d[i] = zigzag(v64[i] - v64[i - 1]);
        zeros += d[i] == 0;
    }
    return zeros;
}

/* ---- writers of transformed values ---------------------------------------
 * A column's transformed values are d[i] = load_w(src, w, i) - min: for FOR
 * src is the column itself (w its width, min the block minimum), for REF and
 * DELTA it is cx->tmp (w 8, min 0).  Each writer is specialised on w. */

/* Plane j of d: byte j of every value (one vectorisable pass per plane). */
static inline __attribute__((always_inline)) void planes_w(const uint8_t *src, unsigned w, uint64_t min,
                                                          size_t n, unsigned nb, uint8_t *out)
{
    for (unsigned j = 0; j < nb; j++) {
        uint8_t *plane = out + (size_t)j * n;
        unsigned sh = 8 * j;
        for (size_t i = 0; i < n; i++)
            plane[i] = (uint8_t)((load_w(src, w, i) - min) >> sh);
    }
}

/* Value k of a bitmap byte (v = value - min): its bit, and its nb bytes at
 * position m of the planes (n apart); returns the next position. */
static inline __attribute__((always_inline)) size_t sparse_put(uint64_t v, unsigned k, unsigned nb, uint8_t *planes,
                                                              size_t n, size_t m, unsigned *bits)
{
    unsigned nz = v != 0;
    *bits |= nz << k;
    for (unsigned j = 0; j < nb; j++)
        planes[(size_t)j * n + m] = (uint8_t)(v >> (8 * j));
    return m + nz;
}

static inline __attribute__((always_inline)) size_t sparse_nb(const uint8_t *src, unsigned w, uint64_t min,
                                                             size_t n, size_t zeros, unsigned nb, uint8_t *out)
{
    size_t bm = (n + 7) / 8, m_all = n - zeros, m = 0, i = 0;
    uint8_t *planes = out + bm;
    /* branch-free: the bitmap byte is built in a register and every value
     * is written at m, which advances past the non-zero values only; plane
     * j is first written n bytes apart (m <= i < n: no plane runs into the
     * next), then moved down to its place j * m_all */
    for (size_t byte = 0; byte < bm; byte++) {
        unsigned bits = 0;
        if (i + 8 <= n) { /* a whole byte of the bitmap: 8 a constant, the loop unrolls */
            for (unsigned k = 0; k < 8; k++, i++)
                m = sparse_put(load_w(src, w, i) - min, k, nb, planes, n, m, &bits);
        } else {
            for (unsigned k = 0; i < n; k++, i++)
                m = sparse_put(load_w(src, w, i) - min, k, nb, planes, n, m, &bits);
        }
        out[byte] = (uint8_t)bits;
    }
    for (unsigned j = 1; j < nb; j++)
        memmove(planes + (size_t)j * m_all, planes + (size_t)j * n, m_all);
    return bm + m_all * nb;
}

/* Sparse layout of d (zeros of its n values are zero): a bitmap of the
 * non-zero values, then the nb planes of those, each n - zeros long. */
static inline __attribute__((always_inline)) size_t sparse_w(const uint8_t *src, unsigned w, uint64_t min,
                                                            size_t n, size_t zeros, unsigned nb, uint8_t *out)
{
    switch (nb) { /* nb a constant: the plane loop unrolls */
    case 1: return sparse_nb(src, w, min, n, zeros, 1, out);
    case 2: return sparse_nb(src, w, min, n, zeros, 2, out);
    case 3: return sparse_nb(src, w, min, n, zeros, 3, out);
    case 4: return sparse_nb(src, w, min, n, zeros, 4, out);
    default: return sparse_nb(src, w, min, n, zeros, nb, out);
    }
}

/* Dictionary of a column whose d < 256, from a presence table: cheaper
 * than hashing.  code[] gets the code of each d. */
static inline __attribute__((always_inline)) bool dict_small_w(small_dict *dict, const uint8_t *src, unsigned w,
                                                              uint64_t min, size_t n, uint8_t code[256])
{
    /* plain byte stores: no read-modify-write chain through a bitmap */
    uint8_t seen[256] = {0};
    unsigned cnt = 0;
    size_t i = 0;
    /* a prefix first: a column with many values is given up early */
    for (size_t pre = n < 1024 ? n : 1024; i < pre; i++)
        seen[(uint8_t)(load_w(src, w, i) - min)] = 1;
    for (unsigned v = 0; v < 256; v++)
        cnt += seen[v];
    if (cnt > STORE_SMALLDICT_MAX)
        return false;
#pragma GCC unroll 8
    for (; i < n; i++)
        seen[(uint8_t)(load_w(src, w, i) - min)] = 1;
    cnt = 0;
    for (unsigned v = 0; v < 256; v++)
        cnt += seen[v];
    if (cnt > STORE_SMALLDICT_MAX)
        return false;
    memset(dict, 0, sizeof(*dict));
    for (unsigned v = 0; v < 256; v++) {
        if (seen[v]) {
            code[v] = (uint8_t)dict->n;
            dict->lo[dict->n++] = min + v;
        }
    }
    return true;
}

/* The codes of n values, k bits each, 8 / k per byte from the low bits up;
 * each byte is built in a register. */
static inline __attribute__((always_inline)) void pack_codes_k(const uint8_t *src, unsigned w, uint64_t min,
                                                              size_t n, unsigned k, const uint8_t code[256],
                                                              uint8_t *codes)
{
    const unsigned per = 8 / k;
    size_t full = n / per, i = 0;
    for (size_t b = 0; b < full; b++, i += per) {
        unsigned acc = 0;
        for (unsigned j = 0; j < per; j++)
            acc |= (unsigned)code[(uint8_t)(load_w(src, w, i + j) - min)] << (j * k);
        codes[b] = (uint8_t)acc;
    }
    if (i < n) {
        unsigned acc = 0;
        for (unsigned j = 0; i < n; j++, i++)
            acc |= (unsigned)code[(uint8_t)(load_w(src, w, i) - min)] << (j * k);
        codes[full] = (uint8_t)acc;
    }
}

/* Writes a small-range dictionary column (see dict_small_w): the values
 * (cw bytes each, the field's width), then the packed codes. */
static inline __attribute__((always_inline)) void dict_put_small_w(const small_dict *dict, const uint8_t *src,
                                                                  unsigned w, uint64_t min, size_t n, unsigned cw,
                                                                  const uint8_t code[256], uint8_t *out)
{
    unsigned k = dict_bits(dict->n);
    for (unsigned c = 0; c < dict->n; c++) {
        uint8_t v[8];
        store_put_le64(v, dict->lo[c]);
        memcpy(out + c * cw, v, cw);
    }
    uint8_t *codes = out + (size_t)dict->n * cw;
    switch (k) { /* k a constant: the shifts are immediates, the byte loop unrolls */
    case 1: pack_codes_k(src, w, min, n, 1, code, codes); break;
    case 2: pack_codes_k(src, w, min, n, 2, code, codes); break;
    default: pack_codes_k(src, w, min, n, 4, code, codes); break;
    }
}

/* What encode_int writes: planes, sparse planes or a small-range dictionary. */
typedef enum int_layout { LAYOUT_PLANES, LAYOUT_SPARSE, LAYOUT_DICT_SMALL } int_layout;

typedef struct int_job {
    const uint8_t *src; /* the column (FOR) or cx->tmp */
    unsigned w;         /* width of src's values */
    uint64_t min;       /* subtracted from each (FOR), else 0 */
    size_t n, zeros;
    unsigned nb;        /* planes */
    unsigned cw;        /* the field's width (dictionary values) */
    small_dict *dict;
    const uint8_t *code;
} int_job;

static inline __attribute__((always_inline)) size_t layout_w(const int_job *j, unsigned w, int_layout how,
                                                            uint8_t *out)
{
    switch (how) {
    case LAYOUT_PLANES: planes_w(j->src, w, j->min, j->n, j->nb, out); return j->n * j->nb;
    case LAYOUT_SPARSE: return sparse_w(j->src, w, j->min, j->n, j->zeros, j->nb, out);
    default:
        dict_put_small_w(j->dict, j->src, w, j->min, j->n, j->cw, j->code, out);
        return dict_raw_len(j->dict->n, j->cw, j->n);
    }
}

/* Writes the chosen layout of j into out; returns its length. */
ENC_CLONES static size_t put_layout(const int_job *j, int_layout how, uint8_t *out)
{
    switch (j->w) {
    case 1: return layout_w(j, 1, how, out);
    case 2: return layout_w(j, 2, how, out);
    case 4: return layout_w(j, 4, how, out);
    default: return layout_w(j, 8, how, out);
    }
}

ENC_CLONES static bool dict_small(small_dict *dict, const int_job *j, uint8_t code[256])
{
    switch (j->w) {
    case 1: return dict_small_w(dict, j->src, 1, j->min, j->n, code);
    case 2: return dict_small_w(dict, j->src, 2, j->min, j->n, code);
    case 4: return dict_small_w(dict, j->src, 4, j->min, j->n, code);
    default: return dict_small_w(dict, j->src, 8, j->min, j->n, code);
    }
}

/* Encodes an integer column into cx->raw: the smallest of planes, sparse
 * planes and a small dictionary. */
static cf_err encode_int(store_codec_ctx *cx, const flow_field *f, const uint8_t *vals, size_t n,
                         const uint64_t *ref, store_col_entry *e)
{
    col_minmax(vals, f->width, n, &e->min, &e->max);
    if (e->min == e->max) {
        e->encoding = STORE_ENC_CONST;
        return CF_OK;
    }
    cf_err err = f->width == 8 && f->type == FLOW_T_TIME ? tmp_reserve(cx, n) : CF_OK;
    if (!err)
        err = raw_reserve(cx, n * 8 + n / 8 + 1);
    if (err)
        return err;
    uint64_t range;
    size_t zeros = transform_int(cx, f, vals, n, ref, e, &range);
    unsigned nb = bytes_for(range);
    bool is_for = e->encoding == STORE_ENC_FOR;
    int_job j = {is_for ? vals : (const uint8_t *)cx->tmp, is_for ? f->width : 8u, is_for ? e->min : 0, n, zeros,
                 nb, f->width, NULL, NULL};
    size_t c_planes = n * nb, c_sparse = (n + 7) / 8 + (n - zeros) * nb;
    small_dict dict;
    size_t c_dict = SIZE_MAX;
    uint8_t code[256];
    bool small = nb == 1 && is_for;
    if (!small && nb > 0 && codes_reserve(cx, n) != CF_OK)
        return CF_ERR_NOMEM;
    if (nb > 0 && (small ? dict_small(&dict, &j, code) : dict_build(&dict, vals, f->width, n, cx->codes)))
        c_dict = dict_raw_len(dict.n, f->width, n);
    e->nbytes = (uint8_t)nb;
    if (c_dict < c_planes && c_dict < c_sparse) {
        e->encoding = STORE_ENC_SMALLDICT;
        e->base = 0;
        e->aux = (uint16_t)dict.n;
        e->nbytes = (uint8_t)dict_bits(dict.n);
        e->raw_len = (uint32_t)c_dict;
        j.dict = &dict;
        j.code = code;
        if (small)
            put_layout(&j, LAYOUT_DICT_SMALL, cx->raw);
        else
            dict_put(&dict, cx->codes, f->width, n, cx->raw);
    } else if (c_sparse < c_planes) {
        e->encoding |= STORE_ENC_F_SPARSE;
        e->raw_len = (uint32_t)put_layout(&j, LAYOUT_SPARSE, cx->raw);
    } else {
        e->raw_len = (uint32_t)put_layout(&j, LAYOUT_PLANES, cx->raw);
    }
    return CF_OK;
}

/* 16 rows of 16 bytes (in, row after row) as 16 columns: out[b][k] is
 * byte b of row k. */
static void transpose16(const uint8_t *in, uint8_t out[16][16])
{
#ifdef __SSE2__
    /* four perfect shuffles of the 16 rows are the transpose */
    __m128i r[16], t[16];
    for (int i = 0; i < 16; i++)
        r[i] = _mm_loadu_si128((const __m128i *)(const void *)(in + 16 * i));
    for (int s = 0; s < 4; s++) {
        for (int i = 0; i < 8; i++) {
            t[2 * i] = _mm_unpacklo_epi8(r[i], r[i + 8]);
            t[2 * i + 1] = _mm_unpackhi_epi8(r[i], r[i + 8]);
        }
        memcpy(r, t, sizeof(r));
    }
    for (int i = 0; i < 16; i++)
        _mm_storeu_si128((__m128i *)(void *)out[i], r[i]);
#else
    for (int k = 0; k < 16; k++)
        for (int b = 0; b < 16; b++)
            out[b][k] = in[16 * k + b];
#endif
}

/* The planes of the byte positions in mask of n 16-byte values, low
 * position first, each n bytes: one pass over the values, 16 at a time. */
static void addr_planes(const uint8_t *vals, size_t n, uint16_t mask, uint8_t *out)
{
    uint8_t *plane[16];
    unsigned pos[16], np = 0;
    for (unsigned b = 0; b < 16; b++)
        if (mask & (1u << b)) {
            plane[np] = out + (size_t)np * n;
            pos[np++] = b;
        }
    size_t i = 0;
    for (; i + 16 <= n; i += 16) {
        uint8_t t[16][16];
        transpose16(vals + 16 * i, t);
        for (unsigned p = 0; p < np; p++)
            memcpy(plane[p] + i, t[pos[p]], 16);
    }
    for (; i < n; i++)
        for (unsigned p = 0; p < np; p++)
            plane[p][i] = vals[16 * i + pos[p]];
}

/* ---- addresses of both families: planes with exceptions ------------------
 * A block that mixes IPv4-mapped and IPv6 addresses varies in all 16 byte
 * positions, but each family alone varies in few: the rows of the larger
 * family (the regular rows) are stored as planes of the positions where
 * they vary, the others (the exceptions) whole, after a bitmap of which
 * rows they are. */

static inline bool addr_mapped(const uint8_t *p)
{
    return store_le64(p) == 0 && store_le32(p + 8) == 0xffff0000u;
}

/* Bitmap (n bits, low bit first, bits past n clear) of the IPv4-mapped
 * rows into bm; returns how many there are. */
ENC_CLONES static size_t addr_classify(const uint8_t *vals, size_t n, uint8_t *bm)
{
    size_t c = 0, i = 0;
    for (size_t byte = 0; byte < (n + 7) / 8; byte++) {
        unsigned bits = 0;
        if (i + 8 <= n) { /* 8 a constant: the loop unrolls */
            for (unsigned k = 0; k < 8; k++, i++)
                bits |= (unsigned)addr_mapped(vals + 16 * i) << k;
        } else {
            for (unsigned k = 0; i < n; k++, i++)
                bits |= (unsigned)addr_mapped(vals + 16 * i) << k;
        }
        bm[byte] = (uint8_t)bits;
        c += (size_t)__builtin_popcount(bits);
    }
    return c;
}

/* The positions where the rows whose bit in bm equals want differ from
 * row ref (one of them). */
ENC_CLONES static uint16_t addr_mask_of(const uint8_t *vals, size_t n, const uint8_t *bm, unsigned want,
                                        size_t ref)
{
    uint64_t a0, b0, da = 0, db = 0;
    memcpy(&a0, vals + 16 * ref, 8);
    memcpy(&b0, vals + 16 * ref + 8, 8);
    /* per bitmap byte, so that the bit's position is a constant in the
     * unrolled loop */
    for (size_t byte = 0, i = 0; i < n; byte++) {
        unsigned bits = want ? bm[byte] : (uint8_t)~bm[byte];
        size_t end = i + 8 <= n ? i + 8 : n;
#pragma GCC unroll 8
        for (unsigned k = 0; i < end; k++, i++) {
            uint64_t a, b, keep = -(uint64_t)((bits >> k) & 1u);
            memcpy(&a, vals + 16 * i, 8);
            memcpy(&b, vals + 16 * i + 8, 8);
            da |= (a ^ a0) & keep;
            db |= (b ^ b0) & keep;
        }
    }
    return byte_mask(da, db);
}

/* Writes the column as PLANESX into cx->raw when that is smaller than
 * limit bytes (n * the planes of PLANES); false otherwise (nothing set). */
static bool encode_addr_x(store_codec_ctx *cx, const uint8_t *vals, size_t n, size_t limit, store_col_entry *e)
{
    size_t bm_len = (n + 7) / 8;
    uint8_t *cls = cx->codes; /* n bytes reserved: the bitmap of mapped rows */
    size_t mapped = addr_classify(vals, n, cls);
    unsigned want = 2 * mapped >= n; /* the class of the regular rows */
    size_t m = want ? n - mapped : mapped;
    if (m == 0 || bm_len + 16 * m >= limit)
        return false;
    size_t ref = 0;
    while (((cls[ref >> 3] >> (ref & 7)) & 1u) != want)
        ref++;
    uint16_t mask = addr_mask_of(vals, n, cls, want, ref);
    unsigned np = (unsigned)__builtin_popcount(mask);
    size_t len = bm_len + n * np + 16 * m;
    if (len >= limit)
        return false;
    uint8_t *raw = cx->raw;
    for (size_t b = 0; b < bm_len; b++)
        raw[b] = want ? (uint8_t)~cls[b] : cls[b];
    if (n % 8)
        raw[bm_len - 1] &= (uint8_t)((1u << (n % 8)) - 1);
    addr_planes(vals, n, mask, raw + bm_len);
    uint8_t *x = raw + bm_len + n * np;
    for (size_t wi = 0; wi * 64 < n; wi++)
        for (uint64_t word = bitmap_word(raw, n, wi); word; word &= word - 1, x += 16)
            memcpy(x, vals + 16 * (wi * 64 + (size_t)__builtin_ctzll(word)), 16);
    e->encoding = STORE_ENC_PLANESX;
    e->aux = mask;
    e->nbytes = (uint8_t)np;
    e->min = store_le64(vals + 16 * ref);
    e->max = store_le64(vals + 16 * ref + 8);
    e->base = m;
    e->raw_len = (uint32_t)len;
    return true;
}

static cf_err encode_addr(store_codec_ctx *cx, const uint8_t *vals, size_t n, store_col_entry *e)
{
    uint16_t mask = addr_mask(vals, n);
    e->min = store_le64(vals);
    e->max = store_le64(vals + 8);
    if (mask == 0) {
        e->encoding = STORE_ENC_CONST;
        return CF_OK;
    }
    unsigned np = (unsigned)__builtin_popcount(mask);
    cf_err err = raw_reserve(cx, n * np);
    if (err)
        return err;
    small_dict dict;
    err = codes_reserve(cx, n);
    if (err)
        return err;
    if (dict_build(&dict, vals, 16, n, cx->codes) && dict_raw_len(dict.n, 16, n) < n * np) {
        e->encoding = STORE_ENC_SMALLDICT;
        e->aux = (uint16_t)dict.n;
        e->nbytes = (uint8_t)dict_bits(dict.n);
        e->raw_len = (uint32_t)dict_raw_len(dict.n, 16, n);
        dict_put(&dict, cx->codes, 16, n, cx->raw);
        return CF_OK;
    }
    /* some of bytes 0..11 vary: both families, perhaps */
    if ((mask & 0x0fffu) && encode_addr_x(cx, vals, n, n * np, e))
        return CF_OK;
    e->encoding = STORE_ENC_PLANES;
    e->aux = mask;
    e->nbytes = (uint8_t)np;
    e->raw_len = (uint32_t)(n * np);
    addr_planes(vals, n, mask, cx->raw);
    return CF_OK;
}

cf_err store_col_encode(store_codec_ctx *cx, const flow_field *f, const void *vals, size_t n,
                        const uint64_t *ref, store_codec codec, int zstd_level, uint8_t *out,
                        size_t out_cap, store_col_entry *e)
{
    store_col_entry ent = {.field_id = (uint16_t)f->id, .width = f->width};
    cf_err err;
    if (n == 0)
        return CF_ERR_USAGE;
    if (f->width == 16)
        err = encode_addr(cx, vals, n, &ent);
    else
        err = encode_int(cx, f, vals, n, ref, &ent);
    if (err)
        return err;
    if (ent.raw_len > 0) {
        err = compress_raw(cx, codec, zstd_level, out, out_cap, &ent);
        if (err)
            return err;
    } else {
        ent.checksum = store_hash(out, 0);
    }
    *e = ent;
    return CF_OK;
}

void store_col_encode_const(const flow_field *f, const void *val, store_col_entry *e)
{
    store_col_entry ent = {.field_id = (uint16_t)f->id, .width = f->width};
    const uint8_t *v = val;
    if (f->width == 16) {
        ent.min = store_le64(v);
        ent.max = store_le64(v + 8);
    } else {
        ent.min = ent.max = load_w(v, f->width, 0);
    }
    ent.encoding = STORE_ENC_CONST;
    ent.checksum = store_hash(v, 0);
    *e = ent;
}

/* Expected raw length of a planes/sparse column; 0 for sparse (checked
 * against the bitmap when decoded). */
static cf_err validate_transform(const store_col_entry *e, const flow_field *f, size_t n, size_t *expect)
{
    unsigned enc = e->encoding & ~STORE_ENC_F_SPARSE;
    bool sparse = e->encoding & STORE_ENC_F_SPARSE;
    if (f->width == 16 || e->nbytes > 8 || (enc == STORE_ENC_FOR && e->nbytes > f->width))
        return CF_ERR_CORRUPT;
    if (enc != STORE_ENC_FOR && f->width != 8)
        return CF_ERR_CORRUPT;
    if (enc == STORE_ENC_REF) {
        const flow_field *r = flow_field_by_id(e->aux);
        if (!r || r->width != 8 || r->id == f->id)
            return CF_ERR_CORRUPT;
    }
    if (e->nbytes == 0 && (enc != STORE_ENC_REF || sparse))
        return CF_ERR_CORRUPT;
    if (!sparse) {
        *expect = n * e->nbytes;
        return CF_OK;
    }
    if (e->raw_len < (n + 7) / 8 || e->raw_len > (n + 7) / 8 + n * e->nbytes)
        return CF_ERR_CORRUPT;
    *expect = e->raw_len;
    return CF_OK;
}

cf_err store_col_validate(const store_col_entry *e, const flow_field *f, size_t n)
{
    if (e->width != f->width || e->codec > STORE_CODEC_ZSTD)
        return CF_ERR_CORRUPT;
    size_t expect = 0;
    cf_err err;
    switch (e->encoding & ~STORE_ENC_F_SPARSE) {
    case STORE_ENC_CONST:
        if (e->encoding & STORE_ENC_F_SPARSE)
            return CF_ERR_CORRUPT;
        break;
    case STORE_ENC_FOR:
    case STORE_ENC_DELTA:
    case STORE_ENC_REF:
        if ((err = validate_transform(e, f, n, &expect)) != CF_OK)
            return err;
        break;
    case STORE_ENC_PLANES:
        if (e->encoding != STORE_ENC_PLANES || f->width != 16 || e->nbytes != __builtin_popcount(e->aux))
            return CF_ERR_CORRUPT;
        expect = n * e->nbytes;
        break;
    case STORE_ENC_PLANESX:
        /* base: the exceptions, at least one, at most every row */
        if (e->encoding != STORE_ENC_PLANESX || f->width != 16 || e->nbytes != __builtin_popcount(e->aux) ||
            e->base < 1 || e->base > n)
            return CF_ERR_CORRUPT;
        expect = (n + 7) / 8 + n * e->nbytes + 16 * (size_t)e->base;
        break;
    case STORE_ENC_SMALLDICT:
        if (e->encoding != STORE_ENC_SMALLDICT || e->aux < 1 || e->aux > STORE_SMALLDICT_MAX ||
            e->nbytes != dict_bits(e->aux))
            return CF_ERR_CORRUPT;
        expect = dict_raw_len(e->aux, f->width, n);
        break;
    default:
        return CF_ERR_VERSION;
    }
    if (e->raw_len != expect)
        return CF_ERR_CORRUPT;
    if (expect == 0 ? e->stored_len != 0 : e->stored_len == 0)
        return CF_ERR_CORRUPT;
    if (e->codec == STORE_CODEC_NONE && e->stored_len != e->raw_len)
        return CF_ERR_CORRUPT;
    return CF_OK;
}

/* Makes the raw bytes of a column available: decompresses into cx->raw,
 * or points at src when stored raw. */
static cf_err decompress_raw(store_codec_ctx *cx, const store_col_entry *e, const uint8_t *src,
                             const uint8_t **raw)
{
    if (e->codec == STORE_CODEC_NONE) {
        *raw = src;
        return CF_OK;
    }
    cf_err err = raw_reserve(cx, e->raw_len);
    if (err)
        return err;
    if (e->codec == STORE_CODEC_LZ4) {
        int r = LZ4_decompress_safe((const char *)src, (char *)cx->raw, (int)e->stored_len, (int)e->raw_len);
        if (r < 0 || (uint32_t)r != e->raw_len)
            return CF_ERR_CORRUPT;
    } else {
        if (!cx->zstd_d && !(cx->zstd_d = ZSTD_createDCtx()))
            return CF_ERR_NOMEM;
        size_t r = ZSTD_decompressDCtx(cx->zstd_d, cx->raw, e->raw_len, src, e->stored_len);
        if (ZSTD_isError(r) || r != e->raw_len)
            return CF_ERR_CORRUPT;
    }
    *raw = cx->raw;
    return CF_OK;
}

static void decode_const(const store_col_entry *e, size_t n, uint8_t *out)
{
    if (e->width == 16) {
        uint8_t pat[16];
        store_put_le64(pat, e->min);
        store_put_le64(pat + 8, e->max);
        for (size_t i = 0; i < n; i++)
            memcpy(out + 16 * i, pat, 16);
        return;
    }
    switch (e->width) {
    case 1: memset(out, (int)(uint8_t)e->min, n); break;
    case 2: for (size_t i = 0; i < n; i++) store_w(out, 2, i, e->min); break;
    case 4: for (size_t i = 0; i < n; i++) store_w(out, 4, i, e->min); break;
    default: for (size_t i = 0; i < n; i++) store_w(out, 8, i, e->min); break;
    }
}

static void decode_planes16(const store_col_entry *e, const uint8_t *raw, size_t n, uint8_t *out)
{
    uint8_t pat[16];
    store_put_le64(pat, e->min);
    store_put_le64(pat + 8, e->max);
    if (e->aux == 0xf000) { /* IPv4-mapped addresses: the last four bytes vary */
        const uint8_t *p0 = raw, *p1 = raw + n, *p2 = raw + 2 * n, *p3 = raw + 3 * n;
        for (size_t i = 0; i < n; i++) {
            uint8_t *o = out + 16 * i;
            memcpy(o, pat, 12);
            o[12] = p0[i];
            o[13] = p1[i];
            o[14] = p2[i];
            o[15] = p3[i];
        }
        return;
    }
    uint8_t pos[16];
    unsigned np = 0;
    for (unsigned b = 0; b < 16; b++)
        if (e->aux & (1u << b))
            pos[np++] = (uint8_t)b;
    for (size_t i = 0; i < n; i++) {
        uint8_t *o = out + 16 * i;
        memcpy(o, pat, 16);
        for (unsigned k = 0; k < np; k++)
            o[pos[k]] = raw[k * n + i];
    }
}

static void planes16_rows(const store_col_entry *e, const uint8_t *raw, size_t n, const uint32_t *rows, size_t m,
                          uint8_t *out);

/* PLANESX at rows[0 .. m) (rows NULL: every row): the planes, then the
 * exceptions over them.  CF_ERR_CORRUPT when the bitmap does not name
 * exactly e->base rows. */
static cf_err decode_planesx(store_codec_ctx *cx, const store_col_entry *e, const uint8_t *raw, size_t n,
                             const uint32_t *rows, size_t m, uint8_t *out)
{
    size_t bm_len = (n + 7) / 8, n_words = (n + 63) / 64, n_set = 0;
    const uint8_t *pl = raw + bm_len, *x = pl + n * e->nbytes;
    if (n % 8 && (raw[bm_len - 1] >> (n % 8)))
        return CF_ERR_CORRUPT; /* a bit past the last row */
    cf_err err = rows ? tmp_reserve(cx, n_words) : CF_OK;
    if (err)
        return err;
    for (size_t wi = 0; wi < n_words; wi++) {
        if (rows)
            cx->tmp[wi] = n_set; /* exceptions before word wi */
        n_set += popcount64(bitmap_word(raw, n, wi));
    }
    if (n_set != e->base)
        return CF_ERR_CORRUPT;
    if (!rows) {
        decode_planes16(e, pl, n, out);
        size_t k = 0;
        for (size_t wi = 0; wi < n_words; wi++)
            for (uint64_t word = bitmap_word(raw, n, wi); word; word &= word - 1)
                memcpy(out + 16 * (wi * 64 + (size_t)__builtin_ctzll(word)), x + 16 * k++, 16);
        return CF_OK;
    }
    planes16_rows(e, pl, n, rows, m, out);
    for (size_t j = 0; j < m; j++) {
        size_t i = rows[j];
        uint64_t word = bitmap_word(raw, n, i / 64);
        if ((word >> (i % 64)) & 1u) {
            size_t rank = cx->tmp[i / 64] + popcount64(word & ((UINT64_C(1) << (i % 64)) - 1));
            memcpy(out + 16 * i, x + 16 * rank, 16);
        }
    }
    return CF_OK;
}

/* Undoes FOR / DELTA / REF on the transformed values d into out. */
static cf_err untransform(const store_col_entry *e, const uint64_t *d, size_t n, const uint64_t *ref, uint8_t *out)
{
    unsigned w = e->width;
    switch (e->encoding & ~STORE_ENC_F_SPARSE) {
    case STORE_ENC_FOR:
        if (w == 8) {
            uint64_t *o = (uint64_t *)(void *)out;
            for (size_t i = 0; i < n; i++)
                o[i] = e->min + d[i];
        } else {
            for (size_t i = 0; i < n; i++)
                store_w(out, w, i, e->min + d[i]);
        }
        return CF_OK;
    case STORE_ENC_DELTA: {
        uint64_t *o = (uint64_t *)(void *)out, prev = e->min;
        for (size_t i = 0; i < n; i++)
            o[i] = prev += unzigzag(d[i]);
        return CF_OK;
    }
    default: {
        if (!ref)
            return CF_ERR_CORRUPT;
        uint64_t *o = (uint64_t *)(void *)out;
        for (size_t i = 0; i < n; i++)
            o[i] = ref[i] - (e->base + d[i]);
        return CF_OK;
    }
    }
}

cf_err store_col_decode(store_codec_ctx *cx, const store_col_entry *e, const uint8_t *src, size_t n,
                        const uint64_t *ref, void *out)
{
    if (e->encoding == STORE_ENC_CONST) {
        decode_const(e, n, out);
        return CF_OK;
    }
    const uint8_t *raw = NULL;
    cf_err err = CF_OK;
    if (e->raw_len > 0 && (err = decompress_raw(cx, e, src, &raw)) != CF_OK)
        return err;
    if (e->encoding == STORE_ENC_PLANES) {
        decode_planes16(e, raw, n, out);
        return CF_OK;
    }
    if (e->encoding == STORE_ENC_PLANESX)
        return decode_planesx(cx, e, raw, n, NULL, 0, out);
    if (e->encoding == STORE_ENC_SMALLDICT) {
        dict_get(e, raw, n, out);
        return CF_OK;
    }
    if (e->encoding == STORE_ENC_FOR && for_planes(raw, n, e->nbytes, e->width, e->min, out))
        return CF_OK;
    if ((err = tmp_reserve(cx, n)) != CF_OK)
        return err;
    if (e->encoding & STORE_ENC_F_SPARSE)
        err = get_sparse(raw, e->raw_len, n, e->nbytes, cx->tmp);
    else
        get_planes(raw, n, e->nbytes, cx->tmp);
    if (err)
        return err;
    return untransform(e, cx->tmp, n, ref, out);
}

/* ---- decoding at selected rows ---------------------------------------------
 * The query engine decodes the columns of its filter whole, then the other
 * columns only at the rows the filter kept: after decompression a FOR, REF,
 * PLANES, dictionary or constant value is computed from its row alone (a
 * sparse one from the rank of its bit in the bitmap), so only those rows
 * are written.  A DELTA value is the running sum up to its row: the sum is
 * run without storing the rows between; a sparse DELTA column is decoded
 * whole. */

/* FOR / REF at rows[0 .. m): nb a constant after inlining. */
static inline __attribute__((always_inline)) void for_rows_nb(const store_col_entry *e, const uint8_t *raw,
                                                             size_t n, unsigned nb, const uint32_t *rows,
                                                             size_t m, const uint64_t *ref, uint8_t *out)
{
    unsigned w = e->width;
    if ((e->encoding & ~STORE_ENC_F_SPARSE) == STORE_ENC_REF) {
        for (size_t k = 0; k < m; k++) {
            size_t i = rows[k];
            store_w(out, 8, i, ref[i] - (e->base + plane_val(raw, n, nb, i)));
        }
        return;
    }
    switch (w) {
    case 1: for (size_t k = 0; k < m; k++) store_w(out, 1, rows[k], e->min + plane_val(raw, n, nb, rows[k])); break;
    case 2: for (size_t k = 0; k < m; k++) store_w(out, 2, rows[k], e->min + plane_val(raw, n, nb, rows[k])); break;
    case 4: for (size_t k = 0; k < m; k++) store_w(out, 4, rows[k], e->min + plane_val(raw, n, nb, rows[k])); break;
    default: for (size_t k = 0; k < m; k++) store_w(out, 8, rows[k], e->min + plane_val(raw, n, nb, rows[k])); break;
    }
}

static void for_rows(const store_col_entry *e, const uint8_t *raw, size_t n, const uint32_t *rows, size_t m,
                     const uint64_t *ref, uint8_t *out)
{
    switch (e->nbytes) {
    case 0: for_rows_nb(e, raw, n, 0, rows, m, ref, out); break; /* REF with every value at base */
    case 1: for_rows_nb(e, raw, n, 1, rows, m, ref, out); break;
    case 2: for_rows_nb(e, raw, n, 2, rows, m, ref, out); break;
    case 3: for_rows_nb(e, raw, n, 3, rows, m, ref, out); break;
    case 4: for_rows_nb(e, raw, n, 4, rows, m, ref, out); break;
    case 5: for_rows_nb(e, raw, n, 5, rows, m, ref, out); break;
    case 6: for_rows_nb(e, raw, n, 6, rows, m, ref, out); break;
    case 7: for_rows_nb(e, raw, n, 7, rows, m, ref, out); break;
    default: for_rows_nb(e, raw, n, 8, rows, m, ref, out); break;
    }
}

/* Sparse FOR / REF at rows[0 .. m): a row's value is found by the rank of
 * its bit in the bitmap (cum[w]: set bits before word w). */
static inline __attribute__((always_inline)) void sparse_rows_nb(const store_col_entry *e, const uint8_t *bm,
                                                                const uint8_t *pl, size_t n, size_t n_set,
                                                                const uint64_t *cum, unsigned nb,
                                                                const uint32_t *rows, size_t m, const uint64_t *ref,
                                                                uint8_t *out)
{
    bool is_ref = (e->encoding & ~STORE_ENC_F_SPARSE) == STORE_ENC_REF;
    unsigned w = e->width;
    for (size_t k = 0; k < m; k++) {
        size_t i = rows[k], wi = i / 64;
        uint64_t word = bitmap_word(bm, n, wi), below = word & ((UINT64_C(1) << (i % 64)) - 1);
        uint64_t d = (word >> (i % 64)) & 1 ? plane_val(pl, n_set, nb, cum[wi] + popcount64(below)) : 0;
        if (is_ref)
            store_w(out, 8, i, ref[i] - (e->base + d));
        else
            store_w(out, w, i, e->min + d);
    }
}

static cf_err sparse_rows(store_codec_ctx *cx, const store_col_entry *e, const uint8_t *raw, size_t n,
                          const uint32_t *rows, size_t m, const uint64_t *ref, uint8_t *out)
{
    size_t bm = (n + 7) / 8, n_words = (n + 63) / 64, n_set = 0;
    cf_err err = tmp_reserve(cx, n_words);
    if (err)
        return err;
    if (e->raw_len < bm)
        return CF_ERR_CORRUPT;
    for (size_t wi = 0; wi < n_words; wi++) {
        cx->tmp[wi] = n_set;
        n_set += popcount64(bitmap_word(raw, n, wi));
    }
    if (e->raw_len != bm + n_set * e->nbytes)
        return CF_ERR_CORRUPT;
    const uint8_t *pl = raw + bm;
    switch (e->nbytes) {
    case 1: sparse_rows_nb(e, raw, pl, n, n_set, cx->tmp, 1, rows, m, ref, out); break;
    case 2: sparse_rows_nb(e, raw, pl, n, n_set, cx->tmp, 2, rows, m, ref, out); break;
    case 3: sparse_rows_nb(e, raw, pl, n, n_set, cx->tmp, 3, rows, m, ref, out); break;
    case 4: sparse_rows_nb(e, raw, pl, n, n_set, cx->tmp, 4, rows, m, ref, out); break;
    default: sparse_rows_nb(e, raw, pl, n, n_set, cx->tmp, e->nbytes, rows, m, ref, out); break;
    }
    return CF_OK;
}

/* DELTA (not sparse) at rows[0 .. m): the running sum up to the last row,
 * stored at the rows only. */
static inline __attribute__((always_inline)) void delta_rows_nb(const store_col_entry *e, const uint8_t *raw,
                                                               size_t n, unsigned nb, const uint32_t *rows,
                                                               size_t m, uint8_t *out)
{
    uint64_t prev = e->min;
    size_t i = 0;
    for (size_t k = 0; k < m; k++) {
        for (size_t end = rows[k]; i <= end; i++)
            prev += unzigzag(plane_val(raw, n, nb, i));
        store_w(out, 8, rows[k], prev);
    }
}

static void delta_rows(const store_col_entry *e, const uint8_t *raw, size_t n, const uint32_t *rows, size_t m,
                       uint8_t *out)
{
    switch (e->nbytes) {
    case 1: delta_rows_nb(e, raw, n, 1, rows, m, out); break;
    case 2: delta_rows_nb(e, raw, n, 2, rows, m, out); break;
    case 3: delta_rows_nb(e, raw, n, 3, rows, m, out); break;
    case 4: delta_rows_nb(e, raw, n, 4, rows, m, out); break;
    default: delta_rows_nb(e, raw, n, e->nbytes, rows, m, out); break;
    }
}

/* Code of row i in packed codes of k bits. */
static inline unsigned dict_code_at(const uint8_t *codes, unsigned k, size_t i)
{
    return (codes[(i * k) >> 3] >> ((i * k) & 7)) & ((1u << k) - 1);
}

static void dict_rows(const store_col_entry *e, const uint8_t *raw, const uint32_t *rows, size_t m, uint8_t *out)
{
    unsigned w = e->width, k = e->nbytes;
    const uint8_t *codes = raw + (size_t)e->aux * w;
    if (w == 16) {
        uint8_t table[STORE_SMALLDICT_MAX][16] = {{0}}; /* codes past the values read as zero */
        memcpy(table, raw, (size_t)e->aux * 16);
        for (size_t j = 0; j < m; j++)
            memcpy(out + (size_t)rows[j] * 16, table[dict_code_at(codes, k, rows[j])], 16);
        return;
    }
    uint64_t tab[STORE_SMALLDICT_MAX] = {0};
    for (unsigned c = 0; c < e->aux; c++) {
        uint8_t v[8] = {0};
        memcpy(v, raw + c * w, w);
        tab[c] = store_le64(v);
    }
    for (size_t j = 0; j < m; j++)
        store_w(out, w, rows[j], tab[dict_code_at(codes, k, rows[j])]);
}

static void const_rows(const store_col_entry *e, const uint32_t *rows, size_t m, uint8_t *out)
{
    if (e->width == 16) {
        uint8_t pat[16];
        store_put_le64(pat, e->min);
        store_put_le64(pat + 8, e->max);
        for (size_t j = 0; j < m; j++)
            memcpy(out + 16 * (size_t)rows[j], pat, 16);
        return;
    }
    for (size_t j = 0; j < m; j++)
        store_w(out, e->width, rows[j], e->min);
}

static void planes16_rows(const store_col_entry *e, const uint8_t *raw, size_t n, const uint32_t *rows, size_t m,
                          uint8_t *out)
{
    uint8_t pat[16], pos[16];
    store_put_le64(pat, e->min);
    store_put_le64(pat + 8, e->max);
    unsigned np = 0;
    for (unsigned b = 0; b < 16; b++)
        if (e->aux & (1u << b))
            pos[np++] = (uint8_t)b;
    for (size_t j = 0; j < m; j++) {
        size_t i = rows[j];
        uint8_t *o = out + 16 * i;
        memcpy(o, pat, 16);
        for (unsigned k = 0; k < np; k++)
            o[pos[k]] = raw[k * n + i];
    }
}

cf_err store_col_decode_rows(store_codec_ctx *cx, const store_col_entry *e, const uint8_t *src, size_t n,
                             const uint64_t *ref, const uint32_t *rows, size_t n_rows, void *out)
{
    if (!rows)
        return store_col_decode(cx, e, src, n, ref, out);
    unsigned enc = e->encoding & ~STORE_ENC_F_SPARSE;
    bool sparse = (e->encoding & STORE_ENC_F_SPARSE) != 0;
    if (enc == STORE_ENC_DELTA && sparse)
        return store_col_decode(cx, e, src, n, ref, out);
    for (size_t j = 0; j < n_rows; j++)
        if (rows[j] >= n)
            return CF_ERR_USAGE;
    if (e->encoding == STORE_ENC_CONST) {
        const_rows(e, rows, n_rows, out);
        return CF_OK;
    }
    if (enc == STORE_ENC_REF && !ref)
        return CF_ERR_CORRUPT;
    const uint8_t *raw = NULL;
    cf_err err = CF_OK;
    if (e->raw_len > 0 && (err = decompress_raw(cx, e, src, &raw)) != CF_OK)
        return err;
    if (sparse)
        return sparse_rows(cx, e, raw, n, rows, n_rows, ref, out);
    switch (enc) {
    case STORE_ENC_PLANES: planes16_rows(e, raw, n, rows, n_rows, out); break;
    case STORE_ENC_PLANESX: return decode_planesx(cx, e, raw, n, rows, n_rows, out);
    case STORE_ENC_DELTA: delta_rows(e, raw, n, rows, n_rows, out); break;
    case STORE_ENC_SMALLDICT: dict_rows(e, raw, rows, n_rows, out); break;
    default: for_rows(e, raw, n, rows, n_rows, ref, out); break;
    }
    return CF_OK;
}

/* ---- IPv4 form of address columns ---------------------------------------- */

static const uint8_t v4_prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

bool store_col_is_v4(const store_col_entry *e)
{
    if (e->width != 16)
        return false;
    if (e->encoding != STORE_ENC_CONST && !(e->encoding == STORE_ENC_PLANES && (e->aux & 0x0fff) == 0))
        return false;
    uint8_t pat[16];
    store_put_le64(pat, e->min);
    store_put_le64(pat + 8, e->max);
    return memcmp(pat, v4_prefix, 12) == 0;
}

/* The four low bytes of an address pattern as an integer, a[12] highest. */
static uint32_t pat_u32(const uint8_t pat[16])
{
    return (uint32_t)pat[12] << 24 | (uint32_t)pat[13] << 16 | (uint32_t)pat[14] << 8 | pat[15];
}

cf_err store_col_decode_v4(store_codec_ctx *cx, const store_col_entry *e, const uint8_t *src, size_t n,
                           const uint32_t *rows, size_t n_rows, uint32_t *out)
{
    if (!store_col_is_v4(e))
        return CF_ERR_USAGE;
    size_t m = rows ? n_rows : n;
    for (size_t j = 0; rows && j < n_rows; j++)
        if (rows[j] >= n)
            return CF_ERR_USAGE;
    uint8_t pat[16];
    store_put_le64(pat, e->min);
    store_put_le64(pat + 8, e->max);
    uint32_t base = pat_u32(pat);
    if (e->encoding == STORE_ENC_CONST) {
        for (size_t j = 0; j < m; j++)
            out[rows ? rows[j] : j] = base;
        return CF_OK;
    }
    const uint8_t *raw = NULL;
    cf_err err = e->raw_len > 0 ? decompress_raw(cx, e, src, &raw) : CF_OK;
    if (err)
        return err;
    if (e->aux == 0xf000) { /* the usual case: the four bytes vary */
        const uint8_t *p0 = raw, *p1 = raw + n, *p2 = raw + 2 * n, *p3 = raw + 3 * n;
        if (!rows) {
            for (size_t i = 0; i < n; i++)
                out[i] = (uint32_t)p0[i] << 24 | (uint32_t)p1[i] << 16 | (uint32_t)p2[i] << 8 | p3[i];
        } else {
            for (size_t j = 0; j < n_rows; j++) {
                size_t i = rows[j];
                out[i] = (uint32_t)p0[i] << 24 | (uint32_t)p1[i] << 16 | (uint32_t)p2[i] << 8 | p3[i];
            }
        }
        return CF_OK;
    }
    /* some of bytes 12..15 vary: each plane replaces its byte of the pattern */
    unsigned shift[4], np = 0;
    uint32_t keep = UINT32_MAX;
    for (unsigned b = 12; b < 16; b++)
        if (e->aux & (1u << b)) {
            shift[np++] = 8 * (15 - b);
            keep &= ~(UINT32_C(0xff) << (8 * (15 - b)));
        }
    for (size_t j = 0; j < m; j++) {
        size_t i = rows ? rows[j] : j;
        uint32_t v = base & keep;
        for (unsigned k = 0; k < np; k++)
            v |= (uint32_t)raw[k * n + i] << shift[k];
        out[i] = v;
    }
    return CF_OK;
}
