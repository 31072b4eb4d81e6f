/* query/agg.c - open-addressing hash table of counters and top-N selection. */
#include "query/agg.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

/* Big zeroed arrays (hash slots) come straight from mmap and go straight
 * back with munmap when a table grows or is freed, whatever the malloc
 * thresholds of the program.  (Transparent huge pages were tried: with the
 * kernel's default "defrag=madvise" the page faults cost more system time
 * than the TLB misses they save.)  Small arrays use calloc. */
#define BIG_ALLOC (UINT64_C(4) << 20)

static void *big_calloc(size_t n, size_t size)
{
    size_t len = n * size;
    if (len < BIG_ALLOC)
        return calloc(n, size);
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    return p;
}

static void big_free(void *p, size_t n, size_t size)
{
    if (!p)
        return;
    if (n * size < BIG_ALLOC)
        free(p);
    else
        munmap(p, n * size);
}

cf_err query_table_init(query_table *t, size_t key_len, uint64_t max_keys)
{
    memset(t, 0, sizeof(*t));
    t->key_len = key_len;
    t->key_space = (key_len + 7) & ~(size_t)7;
    t->entry_size = t->key_space + sizeof(query_counts);
    t->max_keys = max_keys ? max_keys : QUERY_DEFAULT_MAX_KEYS;
    if (t->max_keys > UINT32_MAX - 1)
        t->max_keys = UINT32_MAX - 1;
    t->n_slots = 1024;
    t->slots = calloc(t->n_slots, sizeof(*t->slots));
    if (!t->slots)
        return CF_ERR_NOMEM;
    return CF_OK;
}

cf_err query_table_set_extra(query_table *t, size_t extra_len)
{
    if (t->n || extra_len % 8)
        return CF_ERR_USAGE;
    free(t->ents);
    t->ents = NULL;
    t->n_alloc = 0;
    t->extra_len = extra_len;
    t->entry_size = t->key_space + sizeof(query_counts) + extra_len;
    return CF_OK;
}

void query_table_clear(query_table *t)
{
    memset(t->slots, 0, t->n_slots * sizeof(*t->slots));
    t->n = 0;
}

void query_table_free(query_table *t)
{
    big_free(t->slots, t->n_slots, sizeof(*t->slots));
    free(t->ents);
    memset(t, 0, sizeof(*t));
}

static bool grow_slots(query_table *t)
{
    size_t n_slots = t->n_slots * 2;
    query_slot *slots = big_calloc(n_slots, sizeof(*slots));
    if (!slots)
        return false;
    /* walk the entries in order (sequential reads) rather than the old slots */
    for (size_t i = 0; i < t->n; i++) {
        uint64_t h = query_hash(query_table_key(t, i), t->key_len);
        size_t j = (size_t)h & (n_slots - 1);
        while (slots[j].idx)
            j = (j + 1) & (n_slots - 1);
        slots[j].idx = (uint32_t)(i + 1);
        slots[j].h32 = (uint32_t)(h >> 32);
    }
    big_free(t->slots, t->n_slots, sizeof(*t->slots));
    t->slots = slots;
    t->n_slots = n_slots;
    return true;
}

static bool grow_entries(query_table *t)
{
    size_t n = t->n_alloc ? t->n_alloc * 2 : 256;
    uint8_t *e = realloc(t->ents, n * t->entry_size);
    if (!e)
        return false;
    t->ents = e;
    t->n_alloc = n;
    return true;
}

query_counts *query_table_insert(query_table *t, const void *key, uint64_t h)
{
    if (t->n >= t->max_keys)
        return NULL;
    if (t->n == t->n_alloc && !grow_entries(t))
        return NULL;
    if ((t->n + 1) * 2 > t->n_slots && !grow_slots(t))
        return NULL;
    size_t mask = t->n_slots - 1;
    size_t j = (size_t)h & mask;
    while (t->slots[j].idx)
        j = (j + 1) & mask;
    uint8_t *e = t->ents + t->n * t->entry_size;
    memcpy(e, key, t->key_len);
    memset(e + t->key_len, 0, t->entry_size - t->key_len);
    t->slots[j].idx = (uint32_t)(t->n + 1);
    t->slots[j].h32 = (uint32_t)(h >> 32);
    return query_table_counts(t, t->n++);
}

cf_err query_table_merge(query_table *dst, const query_table *src)
{
    for (size_t i = 0; i < src->n; i++) {
        const uint8_t *key = query_table_key(src, i);
        const query_counts *s = query_table_counts(src, i);
        query_counts *c = query_table_get(dst, key, query_hash(key, dst->key_len));
        if (!c) {
            dst->untracked += s->flows;
            continue;
        }
        if (c->flows == 0 || s->first < c->first)
            c->first = s->first;
        if (s->last > c->last)
            c->last = s->last;
        c->flows += s->flows;
        c->packets += s->packets;
        c->bytes += s->bytes;
    }
    dst->untracked += src->untracked;
    return CF_OK;
}

uint64_t query_order_value(const query_counts *c, query_order order)
{
    uint64_t dur = c->last > c->first ? c->last - c->first : 0;
    switch (order) {
    case QUERY_ORDER_FLOWS: return c->flows;
    case QUERY_ORDER_PACKETS: return c->packets;
    case QUERY_ORDER_BYTES: return c->bytes;
    case QUERY_ORDER_PPS: return dur ? (uint64_t)((double)c->packets * 1000.0 / (double)dur) : 0;
    case QUERY_ORDER_BPS: return dur ? (uint64_t)((double)c->bytes * 8000.0 / (double)dur) : 0;
    case QUERY_ORDER_BPP: return c->packets ? c->bytes / c->packets : 0;
    case QUERY_ORDER_TSTART: return c->first;
    case QUERY_ORDER_TEND: return c->last;
    case QUERY_ORDER_NONE: return 0;
    }
    return 0;
}

typedef struct rank {
    uint64_t v;
    size_t idx;
} rank;

/* Does a rank before b? (bigger value first; for times smaller first; then key). */
static bool before(const query_table *t, bool ascending, const rank *a, const rank *b)
{
    if (a->v != b->v)
        return ascending ? a->v < b->v : a->v > b->v;
    int c = memcmp(query_table_key(t, a->idx), query_table_key(t, b->idx), t->key_len);
    if (c)
        return c < 0;
    return a->idx < b->idx;
}

/* Max-heap on "worst first": the root is the worst rank kept. */
static void sift_down(const query_table *t, bool asc, rank *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && before(t, asc, &h[w], &h[l]))
            w = l;
        if (r < n && before(t, asc, &h[w], &h[r]))
            w = r;
        if (w == i)
            return;
        rank tmp = h[i];
        h[i] = h[w];
        h[w] = tmp;
        i = w;
    }
}

static void sift_up(const query_table *t, bool asc, rank *h, size_t j)
{
    while (j && before(t, asc, &h[(j - 1) / 2], &h[j])) {
        rank tmp = h[j];
        h[j] = h[(j - 1) / 2];
        h[(j - 1) / 2] = tmp;
        j = (j - 1) / 2;
    }
}

cf_err query_table_top(const query_table *t, query_order order, size_t n, size_t **out, size_t *n_out)
{
    size_t k = (n == 0 || n > t->n) ? t->n : n;
    size_t *res = malloc((k ? k : 1) * sizeof(*res));
    rank *h = malloc((k ? k : 1) * sizeof(*h));
    if (!res || !h) {
        free(res);
        free(h);
        return CF_ERR_NOMEM;
    }
    size_t m = 0;
    if (order == QUERY_ORDER_NONE) {
        for (size_t i = 0; i < k; i++)
            res[m++] = i;
        free(h);
        *out = res, *n_out = m;
        return CF_OK;
    }
    bool asc = order == QUERY_ORDER_TSTART || order == QUERY_ORDER_TEND;
    for (size_t i = 0; i < t->n && k; i++) {
        rank r = {query_order_value(query_table_counts(t, i), order), i};
        if (m < k) {
            h[m] = r;
            sift_up(t, asc, h, m++);
        } else if (before(t, asc, &r, &h[0])) {
            h[0] = r;
            sift_down(t, asc, h, m, 0);
        }
    }
    /* pop the worst to the back */
    for (size_t end = m; end > 0; end--) {
        res[end - 1] = h[0].idx;
        h[0] = h[end - 1];
        sift_down(t, asc, h, end - 1, 0);
    }
    free(h);
    *out = res, *n_out = m;
    return CF_OK;
}

/* ---- compact table ------------------------------------------------------ */

cf_err query_itable_init(query_itable *t, uint64_t max_keys)
{
    memset(t, 0, sizeof(*t));
    t->max_keys = max_keys ? max_keys : QUERY_DEFAULT_MAX_KEYS;
    t->n_slots = 4096;
    t->slots = calloc(t->n_slots, sizeof(*t->slots));
    return t->slots ? CF_OK : CF_ERR_NOMEM;
}

void query_itable_clear(query_itable *t)
{
    memset(t->slots, 0, t->n_slots * sizeof(*t->slots));
    t->n = 0;
}

void query_itable_free(query_itable *t)
{
    big_free(t->slots, t->n_slots, sizeof(*t->slots));
    memset(t, 0, sizeof(*t));
}

/* Rehashes every entry of t's slots into a fresh array of n_slots. */
static bool itable_rehash_fresh(query_itable *t, size_t n_slots)
{
    size_t mask = n_slots - 1;
    query_ient *slots = big_calloc(n_slots, sizeof(*slots));
    if (!slots)
        return false;
    for (size_t i = 0; i < t->n_slots; i++) {
        const query_ient *e = &t->slots[i];
        if (!e->c.flows)
            continue;
        size_t j = (size_t)query_ihash(e->key) & mask;
        while (slots[j].c.flows)
            j = (j + 1) & mask;
        slots[j] = *e;
    }
    big_free(t->slots, t->n_slots, sizeof(*t->slots));
    t->slots = slots;
    t->n_slots = n_slots;
    return true;
}

/*
 * After the slot array was doubled in place (old_n slots of entries, then
 * old_n empty ones), moves every entry to its place for the new mask.  The
 * walk starts after an empty slot so that each cluster is taken from its
 * start: an entry whose new home is its old one lands at or before its old
 * slot, on a path of slots already walked (never emptied again); the others
 * go to the new half.  A probe running off the end of the array would wrap
 * into slots not yet walked: then the entry is put back and false returned
 * (every entry is still in the array; the caller rehashes into a fresh one).
 */
static bool itable_rehash_in_place(query_itable *t, size_t old_n)
{
    query_ient *s = t->slots;
    size_t n2 = t->n_slots, mask = n2 - 1, start = 0;
    while (start < old_n && s[start].c.flows)
        start++;
    if (start == old_n)
        return false;
    for (size_t step = 1; step < old_n; step++) {
        size_t i = (start + step) & (old_n - 1);
        if (!s[i].c.flows)
            continue;
        query_ient e = s[i];
        memset(&s[i], 0, sizeof(s[i]));
        size_t j = (size_t)query_ihash(e.key) & mask;
        while (s[j].c.flows) {
            if (++j == n2) {
                s[i] = e;
                return false;
            }
        }
        s[j] = e;
    }
    return true;
}

/* Doubles the slots.  Big arrays grow in place (mremap: the pages already
 * touched are kept, only the new half is fresh memory), small ones by a
 * fresh array. */
static bool itable_grow(query_itable *t)
{
    size_t old_n = t->n_slots, old_len = old_n * sizeof(*t->slots);
    if (old_len < BIG_ALLOC)
        return itable_rehash_fresh(t, old_n * 2);
    void *p = mremap(t->slots, old_len, 2 * old_len, MREMAP_MAYMOVE);
    if (p == MAP_FAILED)
        return itable_rehash_fresh(t, old_n * 2);
    madvise((uint8_t *)p + old_len, old_len, MADV_POPULATE_WRITE); /* as MAP_POPULATE; a failure only costs faults */
    t->slots = p;
    t->n_slots = 2 * old_n;
    if (itable_rehash_in_place(t, old_n))
        return true;
    return itable_rehash_fresh(t, t->n_slots);
}

query_counts *query_itable_insert(query_itable *t, uint64_t key, uint64_t h)
{
    if (t->n >= t->max_keys)
        return NULL;
    if ((t->n + 1) * 4 > t->n_slots * 3 && !itable_grow(t))
        return NULL;
    size_t mask = t->n_slots - 1, j = (size_t)h & mask;
    while (t->slots[j].c.flows)
        j = (j + 1) & mask;
    query_ient *e = &t->slots[j];
    memset(e, 0, sizeof(*e));
    e->key = key;
    t->n++;
    return &e->c;
}

bool query_itable_add_counts(query_itable *t, uint64_t key, const query_counts *s)
{
    uint64_t h = query_ihash(key);
    size_t mask = t->n_slots - 1;
    query_counts *c = NULL;
    for (size_t j = (size_t)h & mask; t->slots[j].c.flows; j = (j + 1) & mask) {
        if (t->slots[j].key == key) {
            c = &t->slots[j].c;
            break;
        }
    }
    if (!c && !(c = query_itable_insert(t, key, h))) {
        t->untracked += s->flows;
        return false;
    }
    if (c->flows == 0 || s->first < c->first)
        c->first = s->first;
    if (s->last > c->last)
        c->last = s->last;
    c->flows += s->flows;
    c->packets += s->packets;
    c->bytes += s->bytes;
    return true;
}

void query_itable_merge(query_itable *dst, const query_itable *src)
{
    for (size_t i = 0; i < src->n_slots; i++)
        if (src->slots[i].c.flows)
            query_itable_add_counts(dst, src->slots[i].key, &src->slots[i].c);
    dst->untracked += src->untracked;
}

typedef struct irank {
    uint64_t v, key;
    size_t idx;
} irank;

static bool ibefore(bool asc, const irank *a, const irank *b)
{
    if (a->v != b->v)
        return asc ? a->v < b->v : a->v > b->v;
    return a->key < b->key;
}

static void isift_down(bool asc, irank *h, size_t n, size_t i)
{
    for (;;) {
        size_t l = 2 * i + 1, r = l + 1, w = i;
        if (l < n && ibefore(asc, &h[w], &h[l]))
            w = l;
        if (r < n && ibefore(asc, &h[w], &h[r]))
            w = r;
        if (w == i)
            return;
        irank tmp = h[i];
        h[i] = h[w];
        h[w] = tmp;
        i = w;
    }
}

cf_err query_itable_top(const query_itable *t, query_order order, size_t n, size_t **out, size_t *n_out)
{
    size_t k = (n == 0 || n > t->n) ? t->n : n;
    size_t *res = malloc((k ? k : 1) * sizeof(*res));
    irank *h = malloc((k ? k : 1) * sizeof(*h));
    if (!res || !h) {
        free(res);
        free(h);
        return CF_ERR_NOMEM;
    }
    bool asc = order == QUERY_ORDER_TSTART || order == QUERY_ORDER_TEND;
    size_t m = 0;
    for (size_t i = 0; i < t->n_slots && k; i++) {
        const query_ient *e = &t->slots[i];
        if (!e->c.flows)
            continue;
        irank r = {query_order_value(&e->c, order), e->key, i};
        if (m < k) {
            size_t j = m++;
            h[j] = r;
            while (j && ibefore(asc, &h[(j - 1) / 2], &h[j])) {
                irank tmp = h[j];
                h[j] = h[(j - 1) / 2];
                h[(j - 1) / 2] = tmp;
                j = (j - 1) / 2;
            }
        } else if (ibefore(asc, &r, &h[0])) {
            h[0] = r;
            isift_down(asc, h, m, 0);
        }
    }
    for (size_t end = m; end > 0; end--) {
        res[end - 1] = h[0].idx;
        h[0] = h[end - 1];
        isift_down(asc, h, end - 1, 0);
    }
    free(h);
    *out = res, *n_out = m;
    return CF_OK;
}
