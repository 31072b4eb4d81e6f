/*
 * query/agg.h - internal: the hash table behind -s statistics and -A
 * aggregation, and its top-N selection.
 *
 * One table maps fixed-length keys (key_len bytes) to counters.  The
 * entries (key, then counters) are dense, in insertion order, in one array
 * that grows by realloc (large arrays are moved by the kernel, not copied,
 * and no page is touched twice: on the VMs we run on, first-touching memory
 * costs about 1 s per GB, more than the lookups).  An open-addressing index
 * (linear probing, 8-byte slots with 32 more hash bits, at most half full)
 * points into it.  Memory: about entry_size + 16 bytes per key.
 *
 * A table holds at most max_keys keys: a new key that finds the table full
 * is not stored, its flows are added to `untracked` (query.h says what the
 * query then reports).
 *
 * One table belongs to one thread; worker tables are merged into one at the
 * end with query_table_merge().  Entry indices (returned by
 * query_table_top) stay valid until the table is modified.
 */
#ifndef CF_QUERY_AGG_H
#define CF_QUERY_AGG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "query/query.h"

typedef struct query_counts {
    uint64_t flows, packets, bytes;
    uint64_t first, last; /* min first seen, max last seen (ms) */
} query_counts;

typedef struct query_slot {
    uint32_t idx; /* entry index + 1; 0 = empty */
    uint32_t h32; /* upper hash bits, to skip most key compares */
} query_slot;

typedef struct query_table {
    size_t key_len;      /* bytes per key */
    size_t key_space;    /* key_len rounded up to 8: offset of the counters in an entry */
    size_t extra_len;    /* bytes of caller data after the counters (query_table_set_extra), zeroed
                            when a key is inserted; 0 by default */
    size_t entry_size;   /* key_space + sizeof(query_counts) + extra_len */
    size_t n;            /* entries (keys) stored, dense, in insertion order */
    size_t n_alloc;      /* entries allocated */
    uint8_t *ents;       /* n_alloc * entry_size bytes: key then counters */
    size_t n_slots;      /* power of two, at least 2 * n */
    query_slot *slots;
    uint64_t max_keys;
    uint64_t untracked;  /* flows not counted for lack of room */
} query_table;

cf_err query_table_init(query_table *t, size_t key_len, uint64_t max_keys);
void query_table_free(query_table *t);
/* Removes every key; keeps the memory (and untracked). */
void query_table_clear(query_table *t);
/* Gives every entry extra_len (a multiple of 8) bytes of caller data right
 * after its counters (query_table_extra): the bidirectional counters of -b.
 * Only on a table that holds no key (CF_ERR_USAGE otherwise).  Such tables
 * are never merged (query_table_merge ignores the extra bytes). */
cf_err query_table_set_extra(query_table *t, size_t extra_len);

static inline uint64_t query_mix64(uint64_t h)
{
    h ^= h >> 33;
    h *= UINT64_C(0xff51afd7ed558ccd);
    h ^= h >> 33;
    h *= UINT64_C(0xc4ceb9fe1a85ec53);
    h ^= h >> 33;
    return h;
}

/* Hash of a key of len bytes (any length; whole 8-byte words are fast). */
static inline uint64_t query_hash(const void *key, size_t len)
{
    const uint8_t *p = key;
    uint64_t h = UINT64_C(0x9e3779b97f4a7c15) ^ len;
    while (len >= 8) {
        uint64_t w;
        memcpy(&w, p, 8);
        h = query_mix64((h ^ w) * UINT64_C(0x100000001b3) + (h >> 29));
        p += 8, len -= 8;
    }
    if (len) {
        uint64_t w = 0;
        memcpy(&w, p, len);
        h = query_mix64((h ^ w) * UINT64_C(0x100000001b3));
    }
    return h;
}

/* Entry i (0 <= i < n): its key and its counters. */
static inline const uint8_t *query_table_key(const query_table *t, size_t i) { return t->ents + i * t->entry_size; }
static inline query_counts *query_table_counts(const query_table *t, size_t i)
{
    return (query_counts *)(void *)(t->ents + i * t->entry_size + t->key_space);
}

/* The extra bytes of the entry whose counters are c (query_table_set_extra). */
static inline void *query_table_extra(query_counts *c) { return (uint8_t *)c + sizeof(query_counts); }

/* Prefetch in two steps for a group of keys: the slot of hash h, then
 * (once that slot is likely cached) the entry it points to. */
static inline void query_table_prefetch(const query_table *t, uint64_t h)
{
    __builtin_prefetch(&t->slots[(size_t)h & (t->n_slots - 1)], 0);
}
static inline void query_table_prefetch_entry(const query_table *t, uint64_t h)
{
    query_slot s = t->slots[(size_t)h & (t->n_slots - 1)];
    if (s.idx)
        __builtin_prefetch(t->ents + (size_t)(s.idx - 1) * t->entry_size, 1);
}

/* Slow path of query_table_get: inserts a new key (may grow the table). */
query_counts *query_table_insert(query_table *t, const void *key, uint64_t h);

static inline bool query_key_eq(const uint8_t *a, const uint8_t *b, size_t len)
{
    if (len % 8 == 0 && len <= 64) { /* whole words: compare inline, no call */
        uint64_t diff = 0;
        for (size_t i = 0; i < len; i += 8) {
            uint64_t x, y;
            memcpy(&x, a + i, 8);
            memcpy(&y, b + i, 8);
            diff |= x ^ y;
        }
        return diff == 0;
    }
    return memcmp(a, b, len) == 0;
}

/* The counters of key (hash h), created zeroed when new; NULL when the table
 * is full or memory ran out (the caller counts the flow as untracked). */
static inline query_counts *query_table_get(query_table *t, const void *key, uint64_t h)
{
    size_t mask = t->n_slots - 1;
    uint32_t h32 = (uint32_t)(h >> 32);
    for (size_t j = (size_t)h & mask;; j = (j + 1) & mask) {
        query_slot s = t->slots[j];
        if (!s.idx)
            break;
        if (s.h32 == h32 && query_key_eq(query_table_key(t, s.idx - 1), key, t->key_len))
            return query_table_counts(t, s.idx - 1);
    }
    return query_table_insert(t, key, h);
}

/* The counters of key, or NULL when the table does not hold it. */
static inline const query_counts *query_table_find(const query_table *t, const void *key)
{
    uint64_t h = query_hash(key, t->key_len);
    size_t mask = t->n_slots - 1;
    uint32_t h32 = (uint32_t)(h >> 32);
    for (size_t j = (size_t)h & mask;; j = (j + 1) & mask) {
        query_slot s = t->slots[j];
        if (!s.idx)
            return NULL;
        if (s.h32 == h32 && query_key_eq(query_table_key(t, s.idx - 1), key, t->key_len))
            return query_table_counts(t, s.idx - 1);
    }
}

/* Adds one flow to key (hash h). */
static inline void query_table_add_h(query_table *t, const void *key, uint64_t h, uint64_t packets,
                                     uint64_t bytes, uint64_t first, uint64_t last)
{
    query_counts *c = query_table_get(t, key, h);
    if (!c) {
        t->untracked++;
        return;
    }
    if (c->flows == 0 || first < c->first)
        c->first = first;
    if (last > c->last)
        c->last = last;
    c->flows++;
    c->packets += packets;
    c->bytes += bytes;
}

static inline void query_table_add(query_table *t, const void *key, uint64_t packets, uint64_t bytes,
                                   uint64_t first, uint64_t last)
{
    query_table_add_h(t, key, query_hash(key, t->key_len), packets, bytes, first, last);
}

/* Adds every entry of src into dst (src unchanged). */
cf_err query_table_merge(query_table *dst, const query_table *src);

/* The value an entry is ordered by (pps, bps as nfdump computes them). */
uint64_t query_order_value(const query_counts *c, query_order order);

/*
 * Entry indices of the top n entries by order (descending; tstart/tend
 * ascending), ties broken by key bytes ascending; n = 0 means all.  *out is
 * malloc'ed (*n_out entries).  QUERY_ORDER_NONE: insertion order.
 */
cf_err query_table_top(const query_table *t, query_order order, size_t n, size_t **out, size_t *n_out);

/* ---- compact table: 64-bit keys, entries in the slots ---------------------
 *
 * The common keys of the big tables are IPv4 addresses (-s srcip: 32 bits)
 * and IPv4 address pairs (-A srcip,dstip: 64 bits).  For those the engine
 * uses this table: open addressing with linear probing where each slot *is*
 * the entry (key and counters, 48 bytes), so a lookup costs one cache miss
 * instead of two (index slot, then entry) and keys need no hashing of 16 or
 * 32 bytes.  A slot is empty while its flows counter is 0.  At most 3/4 full;
 * it doubles (rehash) beyond that, in place once the slots take 4 MB or more
 * (mremap).  Memory: 64 to 128 bytes per key.
 *
 * The caller chooses the key encoding; key order (integer order) must be the
 * order the report wants for ties (big-endian addresses compare as bytes).
 * One table belongs to one thread.
 */
typedef struct query_ient {
    uint64_t key;
    query_counts c; /* c.flows == 0: empty slot */
} query_ient;

typedef struct query_itable {
    query_ient *slots;
    size_t n_slots;      /* power of two */
    size_t n;            /* keys stored */
    uint64_t max_keys;
    uint64_t untracked;  /* flows not counted for lack of room */
} query_itable;

cf_err query_itable_init(query_itable *t, uint64_t max_keys);
void query_itable_free(query_itable *t);
/* Removes every key; keeps the memory (and untracked). */
void query_itable_clear(query_itable *t);

static inline uint64_t query_ihash(uint64_t key) { return query_mix64(key ^ UINT64_C(0x9e3779b97f4a7c15)); }

static inline void query_itable_prefetch(const query_itable *t, uint64_t h)
{
    __builtin_prefetch(&t->slots[(size_t)h & (t->n_slots - 1)], 1);
}

/* Slow path: inserts key (not present) and returns its zeroed counters;
 * NULL when the table is full (max_keys) or memory ran out. */
query_counts *query_itable_insert(query_itable *t, uint64_t key, uint64_t h);

/* Adds one flow to key (hash h = query_ihash(key)). */
static inline void query_itable_add(query_itable *t, uint64_t key, uint64_t h, uint64_t packets, uint64_t bytes,
                                    uint64_t first, uint64_t last)
{
    size_t mask = t->n_slots - 1;
    query_counts *c = NULL;
    for (size_t j = (size_t)h & mask;; j = (j + 1) & mask) {
        query_ient *e = &t->slots[j];
        if (!e->c.flows)
            break;
        if (e->key == key) {
            c = &e->c;
            break;
        }
    }
    if (!c && !(c = query_itable_insert(t, key, h))) {
        t->untracked++;
        return;
    }
    if (c->flows == 0 || first < c->first)
        c->first = first;
    if (last > c->last)
        c->last = last;
    c->flows++;
    c->packets += packets;
    c->bytes += bytes;
}

/* The counters of key, or NULL when the table does not hold it. */
static inline const query_counts *query_itable_find(const query_itable *t, uint64_t key)
{
    size_t mask = t->n_slots - 1;
    for (size_t j = (size_t)query_ihash(key) & mask;; j = (j + 1) & mask) {
        const query_ient *e = &t->slots[j];
        if (!e->c.flows)
            return NULL;
        if (e->key == key)
            return &e->c;
    }
}

/* Adds counters c to key (merging tables); false when there is no room
 * (then c->flows were added to untracked). */
bool query_itable_add_counts(query_itable *t, uint64_t key, const query_counts *c);

/* Adds every entry of src into dst. */
void query_itable_merge(query_itable *dst, const query_itable *src);

/*
 * Slot indices of the top n entries (n = 0: all) by order, as
 * query_table_top (ties: smaller key first).  *out malloc'ed.
 */
cf_err query_itable_top(const query_itable *t, query_order order, size_t n, size_t **out, size_t *n_out);

#endif
