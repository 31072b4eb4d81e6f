/*
 * query/aggregate.c - the per-block counting of a scan: the totals, the -s
 * tables (direct arrays for small values, compact tables for IPv4
 * addresses, hash tables for the rest) and the -A table, and the top N of
 * the -A keys (query_print_aggregated).  The scan itself is engine.c.
 */
#include <stdlib.h>
#include <string.h>

#include "query/bidir.h"
#include "query/output.h"
#include "query/scan.h"

static void agg_key_from_compact(const run *r, uint64_t k, uint8_t *key);

/* Field of each -A element. */
const flow_field_id query_agg_field_id[QUERY_AGG_COUNT_] = {
    [QUERY_AGG_PROTO] = FLOW_FIELD_PROTO, [QUERY_AGG_SRCIP] = FLOW_FIELD_SRC_ADDR,
    [QUERY_AGG_DSTIP] = FLOW_FIELD_DST_ADDR, [QUERY_AGG_SRCPORT] = FLOW_FIELD_SRC_PORT,
    [QUERY_AGG_DSTPORT] = FLOW_FIELD_DST_PORT, [QUERY_AGG_SRCAS] = FLOW_FIELD_SRC_AS,
    [QUERY_AGG_DSTAS] = FLOW_FIELD_DST_AS, [QUERY_AGG_INIF] = FLOW_FIELD_IN_IF,
    [QUERY_AGG_OUTIF] = FLOW_FIELD_OUT_IF, [QUERY_AGG_SRCMASK] = FLOW_FIELD_SRC_MASK,
    [QUERY_AGG_DSTMASK] = FLOW_FIELD_DST_MASK, [QUERY_AGG_SRCVLAN] = FLOW_FIELD_SRC_VLAN,
    [QUERY_AGG_DSTVLAN] = FLOW_FIELD_DST_VLAN, [QUERY_AGG_TOS] = FLOW_FIELD_TOS,
    [QUERY_AGG_NEXT] = FLOW_FIELD_NEXT_HOP, [QUERY_AGG_BGPNEXT] = FLOW_FIELD_BGP_NEXT_HOP,
    [QUERY_AGG_ROUTER] = FLOW_FIELD_EXPORTER, [QUERY_AGG_INSRCMAC] = FLOW_FIELD_SRC_MAC,
    [QUERY_AGG_OUTDSTMAC] = FLOW_FIELD_DST_MAC, [QUERY_AGG_SRCNET] = FLOW_FIELD_SRC_ADDR,
    [QUERY_AGG_DSTNET] = FLOW_FIELD_DST_ADDR, [QUERY_AGG_ODID] = FLOW_FIELD_OBS_DOMAIN,
};

/* ---- aggregation keys (-A) -------------------------------------------------- */

size_t query_agg_part_len(const query_agg_key *k)
{
    size_t w = width_of(query_agg_field_id[k->field]);
    if (k->field == QUERY_AGG_SRCNET || k->field == QUERY_AGG_DSTNET)
        w += 1; /* the record's mask */
    return w;
}

static void mask_addr(uint8_t a[16], unsigned v4_bits, unsigned v6_bits)
{
    bool v4 = flow_addr_is_v4(a);
    unsigned bits = v4 ? 96 + v4_bits : v6_bits;
    for (unsigned b = bits; b < 128; b++)
        a[b / 8] &= (uint8_t)~(0x80u >> (b % 8));
}

/* Builds the key of row i; false when the row is left out (srcip4/N of an IPv6 flow). */
static bool agg_key_build(const run *r, const void *const *cols, size_t i, uint8_t *key)
{
    for (size_t k = 0; k < r->n_agg; k++) {
        const query_agg_key *ak = &r->agg[k];
        flow_field_id id = query_agg_field_id[ak->field];
        unsigned w = width_of(id);
        memcpy(key, (const uint8_t *)cols[id] + (size_t)w * i, w);
        if (ak->v4_only && !flow_addr_is_v4(key))
            return false;
        if (ak->field == QUERY_AGG_SRCNET || ak->field == QUERY_AGG_DSTNET) {
            flow_field_id mid = ak->field == QUERY_AGG_SRCNET ? FLOW_FIELD_SRC_MASK : FLOW_FIELD_DST_MASK;
            uint8_t m = ((const uint8_t *)cols[mid])[i];
            mask_addr(key, m > 32 ? 32 : m, m > 128 ? 128 : m);
            key[16] = m;
        } else if (w == 16 && (ak->v4_bits < 32 || ak->v6_bits < 128)) {
            mask_addr(key, ak->v4_bits, ak->v6_bits);
        }
        key += query_agg_part_len(ak);
    }
    return true;
}

/* Turns an -A key back into the fields of a record. */
static void agg_key_decode(const run *r, const uint8_t *key, flow_record *rec)
{
    bool has_src = false, has_dst = false;
    for (size_t k = 0; k < r->n_agg; k++) {
        const query_agg_key *ak = &r->agg[k];
        flow_field_id id = query_agg_field_id[ak->field];
        has_src = has_src || id == FLOW_FIELD_SRC_ADDR;
        has_dst = has_dst || id == FLOW_FIELD_DST_ADDR;
        const flow_field *f = flow_field_by_id(query_agg_field_id[ak->field]);
        memcpy((uint8_t *)rec + f->offset, key, f->width);
        if (ak->field == QUERY_AGG_SRCNET)
            rec->src_mask = key[16];
        else if (ak->field == QUERY_AGG_DSTNET)
            rec->dst_mask = key[16];
        key += query_agg_part_len(ak);
    }
    /* an address that is not a key prints as nfdump prints it: 0.0.0.0:port for an IPv4 record */
    const uint8_t *known = has_src ? rec->src_addr : has_dst ? rec->dst_addr : NULL;
    if (!known || flow_addr_is_v4(known)) {
        if (!has_src)
            flow_addr_from_v4(rec->src_addr, 0);
        if (!has_dst)
            flow_addr_from_v4(rec->dst_addr, 0);
    }
    rec->family = flow_addr_is_v4(rec->src_addr) ? 4 : 6;
}

/* ---- per block work ------------------------------------------------------- */

/* Prefetch distances (rows ahead) of the slot and of the entry it points to:
 * lookups in tables larger than the caches overlap their memory latency. */
#define PF_SLOT 16
#define PF_ENTRY 8
/* Prefetch distance of the compact table (one miss per lookup). */
#define PF_ITABLE 24

/* Adds the selected rows to tab; their keys (kl bytes each) and hashes are
 * in w->keys / w->hash. */
static void add_rows(worker *w, query_table *tab, size_t kl, const bool *keep, const void *const *cols,
                     size_t n_sel)
{
    const uint64_t *pk = cols[FLOW_FIELD_PACKETS], *by = cols[FLOW_FIELD_BYTES];
    const uint64_t *fs = cols[FLOW_FIELD_FIRST], *ls = cols[FLOW_FIELD_LAST];
    const uint64_t *h = w->hash;
    for (size_t j = 0; j < n_sel && j < PF_SLOT; j++)
        query_table_prefetch(tab, h[j]);
    for (size_t j = 0; j < n_sel && j < PF_ENTRY; j++)
        query_table_prefetch_entry(tab, h[j]);
    for (size_t j = 0; j < n_sel; j++) {
        if (j + PF_SLOT < n_sel)
            query_table_prefetch(tab, h[j + PF_SLOT]);
        if (j + PF_ENTRY < n_sel)
            query_table_prefetch_entry(tab, h[j + PF_ENTRY]);
        if (keep && !keep[j])
            continue;
        uint32_t i = w->idx[j];
        query_table_add_h(tab, w->keys + j * kl, h[j], pk[i], by[i], fs[i], ls[i]);
    }
}

/* Is a an IPv4-mapped address (::ffff:a.b.c.d)?  Inline: called per row. */
static inline bool addr_is_v4(const uint8_t *a)
{
    static const uint8_t pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a, pfx, 12) == 0;
}

/* The mapped form of a compact IPv4 key (inverse of addr_u32). */
static void addr_from_u32(uint32_t v, uint8_t a[16])
{
    memset(a, 0, 10);
    a[10] = a[11] = 0xff;
    a[12] = (uint8_t)(v >> 24);
    a[13] = (uint8_t)(v >> 16);
    a[14] = (uint8_t)(v >> 8);
    a[15] = (uint8_t)v;
}

/* The IPv4 address of a mapped address as a big-endian-ordered integer
 * (integer order = byte order of the 16-byte form). */
static inline uint32_t addr_u32(const uint8_t *a)
{
    return (uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 | (uint32_t)a[14] << 8 | a[15];
}

/* Adds the selected rows flagged in keep to the compact table; their
 * keys are in k64 (n_sel values), hashes in w->hash. */
static void add_rows_i(worker *w, query_itable *tab, uint64_t *k64, const bool *keep, const void *const *cols,
                       size_t n_sel)
{
    const uint64_t *pk = cols[FLOW_FIELD_PACKETS], *by = cols[FLOW_FIELD_BYTES];
    const uint64_t *fs = cols[FLOW_FIELD_FIRST], *ls = cols[FLOW_FIELD_LAST];
    uint64_t *h = w->hash;
    uint32_t *rows = w->rows;
    size_t m = 0;
    /* the kept rows first, densely: prefetching a fixed number of rows
     * ahead only hides the memory latency when every row is a lookup */
    for (size_t j = 0; j < n_sel; j++) {
        k64[m] = k64[j];
        h[m] = h[j];
        rows[m] = w->idx[j];
        m += keep[j];
    }
    for (size_t j = 0; j < m && j < PF_ITABLE; j++)
        query_itable_prefetch(tab, h[j]);
    for (size_t j = 0; j < m; j++) {
        if (j + PF_ITABLE < m)
            query_itable_prefetch(tab, h[j + PF_ITABLE]);
        uint32_t i = rows[j];
        query_itable_add(tab, k64[j], h[j], pk[i], by[i], fs[i], ls[i]);
    }
}

/* Counts the selected rows of an address column: IPv4 addresses in the
 * compact table t4, the others in tab.  is4: col holds 32-bit addresses
 * (an IPv4-only block, w->v4). */
static void count_addr_column(worker *w, query_table *tab, query_itable *t4, const uint8_t *col, bool is4,
                              const void *const *cols, size_t n_sel)
{
    uint64_t *k64 = w->k64;
    size_t n_other = 0;
    if (is4) {
        const uint32_t *c4 = (const uint32_t *)(const void *)col;
        for (size_t j = 0; j < n_sel; j++) {
            k64[j] = c4[w->idx[j]];
            w->hash[j] = query_ihash(k64[j]);
            w->keep[j] = true;
        }
        add_rows_i(w, t4, k64, w->keep, cols, n_sel);
        return;
    }
    for (size_t j = 0; j < n_sel; j++) {
        const uint8_t *a = col + 16 * (size_t)w->idx[j];
        bool v4 = addr_is_v4(a);
        w->keep[j] = v4;
        n_other += !v4;
        k64[j] = addr_u32(a);
        w->hash[j] = query_ihash(k64[j]);
    }
    add_rows_i(w, t4, k64, w->keep, cols, n_sel);
    if (!n_other)
        return;
    for (size_t j = 0; j < n_sel; j++) {
        w->keep[j] = !w->keep[j];
        if (!w->keep[j])
            continue;
        const uint8_t *a = col + 16 * (size_t)w->idx[j];
        memcpy(w->keys + j * 16, a, 16);
        w->hash[j] = query_hash(a, 16);
    }
    add_rows(w, tab, 16, w->keep, cols, n_sel);
}

/* Counts the selected rows of one column (or the constant 0 when col is
 * NULL) as keys of tab. */
static void count_column(worker *w, query_table *tab, const uint8_t *col, unsigned wd, bool is_addr,
                         const void *const *cols, size_t n_sel)
{
    size_t kl = is_addr ? 16 : 8;
    for (size_t j = 0; j < n_sel; j++) {
        uint8_t *key = w->keys + j * kl;
        uint32_t i = w->idx[j];
        if (!col) {
            memset(key, 0, 8);
        } else if (is_addr) {
            memcpy(key, col + 16 * (size_t)i, 16);
        } else {
            uint64_t v = col_u(col, wd, i);
            memcpy(key, &v, 8);
        }
        w->hash[j] = query_hash(key, kl);
    }
    add_rows(w, tab, kl, NULL, cols, n_sel);
}

/* Counts a column of values below 65536 straight into counters indexed by value. */
static void count_direct(worker *w, query_counts *dc, const uint8_t *col, unsigned wd, const void *const *cols,
                         size_t n_sel)
{
    const uint64_t *pk = cols[FLOW_FIELD_PACKETS], *by = cols[FLOW_FIELD_BYTES];
    const uint64_t *fs = cols[FLOW_FIELD_FIRST], *ls = cols[FLOW_FIELD_LAST];
    for (size_t j = 0; j < n_sel; j++) {
        uint32_t i = w->idx[j];
        query_counts *c = &dc[wd == 1 ? col[i] : col_u(col, 2, i)];
        if (c->flows == 0 || fs[i] < c->first)
            c->first = fs[i];
        if (ls[i] > c->last)
            c->last = ls[i];
        c->flows++;
        c->packets += pk[i];
        c->bytes += by[i];
    }
}

/* Does element d use a direct table (every field it counts at most 16 bits)? */
bool query_elem_direct(const query_elem_def *d)
{
    return !d->is_addr && !d->zero_second && width_of(d->f1) <= 2 && (!d->f2 || width_of(d->f2) <= 2);
}

static int row_cmp(const void *a, const void *b, void *arg)
{
    const query_row *x = a, *y = b;
    bool asc = *(const bool *)arg;
    if (x->v != y->v)
        return (asc ? x->v < y->v : x->v > y->v) ? -1 : 1;
    return memcmp(x->key, y->key, sizeof(x->key));
}

/* The top k (0: all) rows of -s table t of w (its 16-byte/8-byte key table
 * and, for addresses, its compact IPv4 table), in report order. */
cf_err query_stat_rows(const worker *w, size_t t, query_order order, size_t k, query_row **out, size_t *n_out)
{
    const query_table *tab = &w->tables[t];
    const query_itable *t4 = &w->tables4[t];
    size_t *i16 = NULL, *i4 = NULL, n16 = 0, n4 = 0;
    cf_err err = query_table_top(tab, order, k, &i16, &n16);
    if (!err && t4->slots)
        err = query_itable_top(t4, order, k, &i4, &n4);
    query_row *rows = err ? NULL : calloc(n16 + n4 + 1, sizeof(*rows));
    if (!rows) {
        free(i16);
        free(i4);
        return err ? err : CF_ERR_NOMEM;
    }
    for (size_t i = 0; i < n16; i++) {
        memcpy(rows[i].key, query_table_key(tab, i16[i]), tab->key_len);
        rows[i].c = *query_table_counts(tab, i16[i]);
    }
    for (size_t i = 0; i < n4; i++) {
        addr_from_u32((uint32_t)t4->slots[i4[i]].key, rows[n16 + i].key);
        rows[n16 + i].c = t4->slots[i4[i]].c;
    }
    size_t n = n16 + n4;
    for (size_t i = 0; i < n; i++)
        rows[i].v = query_order_value(&rows[i].c, order);
    bool asc = order == QUERY_ORDER_TSTART || order == QUERY_ORDER_TEND;
    if (n16 && n4)
        qsort_r(rows, n, sizeof(*rows), row_cmp, &asc);
    free(i16);
    free(i4);
    *out = rows;
    *n_out = k && n > k ? k : n;
    return CF_OK;
}

/* Index of -s element e among the run's tables. */
static size_t table_of(const run *r, query_elem e)
{
    size_t t = 0;
    while (t < r->n_tables && r->table_elem[t] != e)
        t++;
    return t;
}

static bool order_additive(query_order o)
{
    return o == QUERY_ORDER_FLOWS || o == QUERY_ORDER_PACKETS || o == QUERY_ORDER_BYTES;
}

cf_err query_worker_topk(worker *w)
{
    const run *r = w->r;
    const query_options *o = r->o;
    cf_err err = query_flush_direct(w);
    size_t k = query_top_count(o, true);
    if (err || !k)
        return err;
    for (size_t i = 0; i < o->n_stats; i++) {
        if (!order_additive(o->stat_order[i]))
            continue;
        err = query_stat_rows(w, table_of(r, o->stat_elem[i]), o->stat_order[i], QUERY_TOPK_ROWS(k), &w->topk[i],
                              &w->n_topk[i]);
        if (err)
            return err;
    }
    w->topk_done = true;
    return CF_OK;
}

static int key_cmp(const void *a, const void *b)
{
    return memcmp(((const query_row *)a)->key, ((const query_row *)b)->key, 16);
}

/* Adds w's counters of the key of row x (of table t) to x->c. */
static void add_worker_counts(const worker *w, size_t t, bool is_addr, query_row *x)
{
    const query_counts *c;
    if (is_addr && addr_is_v4(x->key))
        c = w->tables4[t].slots ? query_itable_find(&w->tables4[t], addr_u32(x->key)) : NULL;
    else
        c = query_table_find(&w->tables[t], x->key);
    if (!c)
        return;
    if (x->c.flows == 0 || c->first < x->c.first)
        x->c.first = c->first;
    if (c->last > x->c.last)
        x->c.last = c->last;
    x->c.flows += c->flows;
    x->c.packets += c->packets;
    x->c.bytes += c->bytes;
}

/* Threshold merge (Fagin's TA): every key of the n lists is summed exactly
 * over the workers; a key in no list is worth at most the sum over the
 * incomplete lists of their last value, so the top k are proven when the
 * k-th row is worth more than that (ties would need the key order: no). */
cf_err query_stat_rows_topk(const worker *w, unsigned n, size_t i, size_t t, query_order order, size_t k,
                            query_row **out, size_t *n_out, bool *exact)
{
    *exact = false;
    size_t total = 0, K = QUERY_TOPK_ROWS(k);
    uint64_t bound = 0;
    for (unsigned j = 0; j < n; j++) {
        if (!w[j].topk_done || !w[j].topk[i])
            return CF_OK;
        total += w[j].n_topk[i];
        bool complete = w[j].tables[t].n + w[j].tables4[t].n <= K;
        if (!complete)
            bound += w[j].topk[i][w[j].n_topk[i] - 1].v;
    }
    query_row *rows = malloc((total + 1) * sizeof(*rows));
    if (!rows)
        return CF_ERR_NOMEM;
    size_t m = 0;
    for (unsigned j = 0; j < n; j++)
        for (size_t x = 0; x < w[j].n_topk[i]; x++)
            rows[m++] = w[j].topk[i][x];
    qsort(rows, m, sizeof(*rows), key_cmp);
    bool is_addr = query_elem_get(w->r->table_elem[t])->is_addr;
    size_t u = 0;
    for (size_t x = 0; x < m; x++) {
        if (u && memcmp(rows[u - 1].key, rows[x].key, 16) == 0)
            continue;
        memmove(rows[u].key, rows[x].key, 16);
        memset(&rows[u].c, 0, sizeof(rows[u].c));
        for (unsigned j = 0; j < n; j++)
            add_worker_counts(&w[j], t, is_addr, &rows[u]);
        rows[u].v = query_order_value(&rows[u].c, order);
        u++;
    }
    bool asc = false;
    qsort_r(rows, u, sizeof(*rows), row_cmp, &asc);
    size_t shown = u < k ? u : k;
    if (bound == 0 || (shown == k && rows[k - 1].v > bound)) {
        *exact = true;
        *out = rows;
        *n_out = shown;
        return CF_OK;
    }
    free(rows);
    return CF_OK;
}

/* Moves the direct counters of every -s table into the hash tables. */
cf_err query_flush_direct(worker *w)
{
    for (size_t t = 0; t < w->r->n_tables; t++) {
        if (!w->direct[t])
            continue;
        for (uint64_t v = 0; v < 65536; v++) {
            const query_counts *src = &w->direct[t][v];
            if (!src->flows)
                continue;
            uint64_t key[2] = {v, 0}; /* the table's keys are 8 bytes; the room keeps the compiler calm */
            query_counts *c = query_table_get(&w->tables[t], key, query_hash(key, 8));
            if (!c)
                return CF_ERR_NOMEM;
            *c = *src;
        }
        free(w->direct[t]);
        w->direct[t] = NULL;
    }
    return CF_OK;
}

void query_count_stats(worker *w, const void *const *cols, size_t n_sel)
{
    const run *r = w->r;
    for (size_t t = 0; t < r->n_tables; t++) {
        const query_elem_def *d = query_elem_get(r->table_elem[t]);
        flow_field_id ids[2] = {d->f1, d->f2};
        if (w->direct[t]) {
            for (int k = 0; k < 2 && ids[k]; k++)
                count_direct(w, w->direct[t], cols[ids[k]], width_of(ids[k]), cols, n_sel);
            continue;
        }
        for (int k = 0; k < 2 && ids[k]; k++) {
            if (d->is_addr)
                count_addr_column(w, &w->tables[t], &w->tables4[t], cols[ids[k]],
                                  (w->v4 & STORE_FIELD_BIT(ids[k])) != 0, cols, n_sel);
            else
                count_column(w, &w->tables[t], cols[ids[k]], width_of(ids[k]), false, cols, n_sel);
        }
        if (d->zero_second)
            count_column(w, &w->tables[t], NULL, 8, false, cols, n_sel);
    }
}

/* Partition (0 .. n_parts-1) of a key of hash h: its upper 32 bits scaled
 * (a multiply, not a division per row). */
static inline unsigned key_part(uint64_t h, unsigned n_parts)
{
    return (unsigned)(((h >> 32) * n_parts) >> 32);
}

/* The IPv4 mask of -A element k as a 32-bit mask. */
static uint32_t agg_v4_mask(const query_agg_key *k)
{
    return k->v4_bits == 0 ? 0 : UINT32_MAX << (32 - k->v4_bits);
}

/* Compact -A keys (run.agg_compact): rows whose addresses are all IPv4 go
 * to w->agg4 with the addresses in one 64-bit key; returns how many rows
 * were left for the general table. */
static size_t count_agg_compact(worker *w, const void *const *cols, size_t n_sel)
{
    const run *r = w->r;
    const uint8_t *c0 = cols[query_agg_field_id[r->agg[0].field]];
    const uint8_t *c1 = r->n_agg > 1 ? cols[query_agg_field_id[r->agg[1].field]] : NULL;
    uint32_t m0 = agg_v4_mask(&r->agg[0]), m1 = r->n_agg > 1 ? agg_v4_mask(&r->agg[1]) : 0;
    size_t n_other = 0;
    if (w->v4 & STORE_FIELD_BIT(query_agg_field_id[r->agg[0].field])) {
        /* an IPv4-only block: 32-bit columns (both, see engine.c agg_same_form) */
        const uint32_t *a4 = (const uint32_t *)(const void *)c0, *b4 = (const uint32_t *)(const void *)c1;
        for (size_t j = 0; j < n_sel; j++) {
            size_t i = w->idx[j];
            uint64_t k = a4[i] & m0;
            if (b4)
                k = k << 32 | (b4[i] & m1);
            w->k64[j] = k;
            w->hash[j] = query_ihash(k);
            w->keep[j] = !r->partitioned || key_part(w->hash[j], r->n_parts) == w->part;
        }
        add_rows_i(w, &w->agg4, w->k64, w->keep, cols, n_sel);
        return 0;
    }
    for (size_t j = 0; j < n_sel; j++) {
        size_t i = w->idx[j];
        const uint8_t *a = c0 + 16 * i, *b = c1 ? c1 + 16 * i : NULL;
        bool v4 = addr_is_v4(a) && (!b || addr_is_v4(b));
        uint64_t k = addr_u32(a) & m0;
        if (b)
            k = k << 32 | (addr_u32(b) & m1);
        w->k64[j] = k;
        w->hash[j] = query_ihash(k);
        n_other += !v4;
        w->keep[j] = v4 && (!r->partitioned || key_part(w->hash[j], r->n_parts) == w->part);
    }
    add_rows_i(w, &w->agg4, w->k64, w->keep, cols, n_sel);
    return n_other;
}

/* Aggregates the selected rows by their -A key. */
void query_count_agg(worker *w, const void *const *cols, size_t n_sel)
{
    const run *r = w->r;
    size_t kl = r->agg_key_len;
    if (r->o->bidir) {
        query_count_agg_bidir(w, cols, n_sel);
        return;
    }
    if (r->agg_compact && count_agg_compact(w, cols, n_sel) == 0)
        return;
    const uint8_t *c0 = r->agg_compact ? cols[query_agg_field_id[r->agg[0].field]] : NULL;
    const uint8_t *c1 = r->agg_compact && r->n_agg > 1 ? cols[query_agg_field_id[r->agg[1].field]] : NULL;
    for (size_t j = 0; j < n_sel; j++) {
        size_t i = w->idx[j];
        if (c0 && addr_is_v4(c0 + 16 * i) && (!c1 || addr_is_v4(c1 + 16 * i))) {
            w->keep[j] = false; /* counted in agg4 */
            continue;
        }
        uint8_t *key = w->keys + j * kl;
        bool k = agg_key_build(r, cols, w->idx[j], key);
        w->hash[j] = query_hash(key, kl);
        if (r->partitioned)
            k = k && key_part(w->hash[j], r->n_parts) == w->part;
        w->keep[j] = k;
    }
    add_rows(w, &w->agg, kl, w->keep, cols, n_sel);
}


void query_count_totals(worker *w, query_totals *t, const void *const *cols, size_t n_sel)
{
    const uint64_t *pk = cols[FLOW_FIELD_PACKETS], *by = cols[FLOW_FIELD_BYTES];
    const uint64_t *fs = cols[FLOW_FIELD_FIRST], *ls = cols[FLOW_FIELD_LAST];
    const uint8_t *pr = cols[FLOW_FIELD_PROTO];
    uint64_t p = 0, b = 0, lo = t->first, hi = t->last;
    for (size_t j = 0; j < n_sel; j++) {
        uint32_t i = w->idx[j];
        p += pk[i];
        b += by[i];
        if (fs[i] < lo)
            lo = fs[i];
        if (ls[i] > hi)
            hi = ls[i];
        if (w->r->o->info) {
            int k = query_proto_class(pr[i]);
            t->by_proto[k][0]++;
            t->by_proto[k][1] += pk[i];
            t->by_proto[k][2] += by[i];
        }
    }
    t->flows += n_sel;
    t->packets += p;
    t->bytes += b;
    t->first = lo;
    t->last = hi;
}

/* Totals of a block whose every row matches (no filter, inside the window):
 * sums of the packets and bytes columns, first/last from the block header.
 * cols needs only packets, bytes and (for -I) proto. */
void query_count_block_totals(worker *w, query_totals *t, const void *const *cols, const store_block_info *bi)
{
    const uint64_t *pk = cols[FLOW_FIELD_PACKETS], *by = cols[FLOW_FIELD_BYTES];
    size_t n = bi->n_records;
    uint64_t p = 0, b = 0;
    if (w->r->o->info) {
        const uint8_t *pr = cols[FLOW_FIELD_PROTO];
        uint64_t cnt[4][3] = {{0}};
        for (size_t i = 0; i < n; i++) {
            int k = query_proto_class(pr[i]);
            cnt[k][0]++;
            cnt[k][1] += pk[i];
            cnt[k][2] += by[i];
        }
        for (int k = 0; k < 4; k++) {
            for (int j = 0; j < 3; j++)
                t->by_proto[k][j] += cnt[k][j];
            p += cnt[k][1];
            b += cnt[k][2];
        }
    } else {
        for (size_t i = 0; i < n; i++) {
            p += pk[i];
            b += by[i];
        }
    }
    t->flows += n;
    t->packets += p;
    t->bytes += b;
    if (bi->min[FLOW_FIELD_FIRST] < t->first)
        t->first = bi->min[FLOW_FIELD_FIRST];
    if (bi->max[FLOW_FIELD_LAST] > t->last)
        t->last = bi->max[FLOW_FIELD_LAST];
}


/* Bytes per saved pass-top entry in w->sv_keys: the key, and for -b the
 * query_bidir_ext of the entry after it. */
static size_t sv_stride(const run *r)
{
    return r->agg_key_len + (r->o->bidir ? QUERY_BIDIR_EXT_LEN : 0);
}

/* agg_passes > 1: keeps the top N of this pass's -A tables (keys and
 * counters copied to w->sv_*) and empties the tables for the next pass. */
cf_err query_save_pass_top(worker *w)
{
    const run *r = w->r;
    query_order order = r->n_rec ? r->rec_order[0] : r->o->order == QUERY_ORDER_NONE ? QUERY_ORDER_TSTART : r->o->order;
    size_t k = query_top_count(r->o, r->n_rec > 0), kl = r->agg_key_len, *i16 = NULL, *i4 = NULL, n16 = 0, n4 = 0;
    size_t stride = sv_stride(r);
    cf_err err = query_table_top(&w->agg, order, k, &i16, &n16);
    if (!err && w->agg4.slots)
        err = query_itable_top(&w->agg4, order, k, &i4, &n4);
    size_t n = w->n_sv + n16 + n4;
    uint8_t *keys = err ? NULL : realloc(w->sv_keys, (n ? n : 1) * stride);
    if (keys)
        w->sv_keys = keys;
    query_counts *cnt = keys ? realloc(w->sv_counts, (n ? n : 1) * sizeof(*cnt)) : NULL;
    if (cnt)
        w->sv_counts = cnt;
    if (!keys || !cnt) {
        free(i16);
        free(i4);
        return err ? err : CF_ERR_NOMEM;
    }
    for (size_t j = 0; j < n16; j++, w->n_sv++) {
        query_counts *c = query_table_counts(&w->agg, i16[j]);
        memcpy(w->sv_keys + w->n_sv * stride, query_table_key(&w->agg, i16[j]), kl);
        if (stride > kl) /* -b: the bidirectional counters after the key */
            memcpy(w->sv_keys + w->n_sv * stride + kl, query_table_extra(c), stride - kl);
        w->sv_counts[w->n_sv] = *c;
    }
    for (size_t j = 0; j < n4; j++, w->n_sv++) {
        agg_key_from_compact(r, w->agg4.slots[i4[j]].key, w->sv_keys + w->n_sv * stride);
        w->sv_counts[w->n_sv] = w->agg4.slots[i4[j]].c;
    }
    free(i16);
    free(i4);
    query_table_clear(&w->agg);
    if (w->agg4.slots)
        query_itable_clear(&w->agg4);
    return CF_OK;
}

size_t query_top_count(const query_options *o, bool stats)
{
    if (o->top_n >= 0)
        return (size_t)o->top_n;
    return stats ? 10 : 0;
}

/* One aggregated record chosen for printing. */
typedef struct pick {
    const uint8_t *key;    /* the -A key (agg_key_len bytes): in a table, or in the key arena of top_multi */
    const query_counts *c;
    const uint8_t *ext;    /* -b: the entry's query_bidir_ext (maybe unaligned); NULL otherwise */
    uint64_t v;            /* order value */
} pick;

static int pick_cmp(const void *a, const void *b, void *arg)
{
    const pick *x = a, *y = b;
    const size_t *kl = arg;
    bool asc = kl[1] != 0;
    if (x->v != y->v)
        return (asc ? x->v < y->v : x->v > y->v) ? -1 : 1;
    return memcmp(x->key, y->key, kl[0]);
}

/* The full -A key of a compact key (as agg_key_build makes it for the row). */
static void agg_key_from_compact(const run *r, uint64_t k, uint8_t *key)
{
    if (r->n_agg == 1) {
        addr_from_u32((uint32_t)k, key);
        return;
    }
    addr_from_u32((uint32_t)(k >> 32), key);
    addr_from_u32((uint32_t)k, key + 16);
}

static cf_err picks_reserve(pick **p, size_t *cap, size_t need)
{
    if (need <= *cap)
        return CF_OK;
    pick *np = realloc(*p, need * sizeof(*np));
    if (!np)
        return CF_ERR_NOMEM;
    *p = np;
    *cap = need;
    return CF_OK;
}

/* The top k (0: all) entries over the tables of the workers (disjoint key
 * sets: per worker when partitioned, else w[0]'s merged tables; compact and
 * general tables never share a key).  *arena holds the keys of compact
 * entries; both *out and *arena are malloc'ed. */
static cf_err top_multi(const run *r, const worker *w, query_order order, size_t k, pick **out, size_t *n_out,
                        uint8_t **arena)
{
    size_t n_tables = r->partitioned ? r->n_workers : 1, n = 0, cap = 0, kl = r->agg_key_len;
    size_t stride = sv_stride(r);
    pick *p = NULL;
    cf_err err = CF_OK;
    *arena = NULL;
    if (r->agg_passes > 1) { /* the tops of every pass were saved by the workers */
        for (size_t i = 0; i < n_tables && !err; i++) {
            err = picks_reserve(&p, &cap, n + w[i].n_sv + 1);
            for (size_t j = 0; !err && j < w[i].n_sv; j++)
                p[n++] = (pick){.key = w[i].sv_keys + j * stride, .c = &w[i].sv_counts[j],
                                .ext = r->o->bidir ? w[i].sv_keys + j * stride + kl : NULL,
                                .v = query_order_value(&w[i].sv_counts[j], order)};
        }
        n_tables = 0;
    }
    size_t *idx4[64] = {0}, m4[64] = {0}, total4 = 0;
    for (size_t i = 0; i < n_tables && !err; i++) {
        size_t *idx = NULL, m = 0;
        err = query_table_top(&w[i].agg, order, k, &idx, &m);
        if (!err)
            err = picks_reserve(&p, &cap, n + m + 1);
        for (size_t j = 0; !err && j < m; j++) {
            query_counts *c = query_table_counts(&w[i].agg, idx[j]);
            p[n++] = (pick){.key = query_table_key(&w[i].agg, idx[j]), .c = c,
                            .ext = r->o->bidir ? query_table_extra(c) : NULL, .v = query_order_value(c, order)};
        }
        free(idx);
        if (!err && w[i].agg4.slots)
            err = query_itable_top(&w[i].agg4, order, k, &idx4[i], &m4[i]);
        total4 += m4[i];
    }
    if (!err && total4 && !(*arena = malloc(total4 * kl)))
        err = CF_ERR_NOMEM;
    if (!err)
        err = picks_reserve(&p, &cap, n + total4 + 1);
    size_t a = 0;
    for (size_t i = 0; i < n_tables && !err; i++) {
        for (size_t j = 0; j < m4[i]; j++) {
            const query_ient *e = &w[i].agg4.slots[idx4[i][j]];
            uint8_t *key = *arena + a++ * kl;
            agg_key_from_compact(r, e->key, key);
            p[n++] = (pick){.key = key, .c = &e->c, .v = query_order_value(&e->c, order)};
        }
    }
    for (size_t i = 0; i < n_tables; i++)
        free(idx4[i]);
    if (err) {
        free(p);
        free(*arena);
        *arena = NULL;
        return err;
    }
    size_t arg[2] = {kl, order == QUERY_ORDER_TSTART || order == QUERY_ORDER_TEND};
    qsort_r(p, n, sizeof(*p), pick_cmp, arg);
    *out = p;
    *n_out = k && n > k ? k : n;
    return CF_OK;
}

/* Prints the aggregated records (-a / -A). */
cf_err query_print_aggregated(run *r, const worker *w, query_order order, size_t k, FILE *out)
{
    pick *top = NULL;
    size_t n_top = 0;
    uint8_t *arena = NULL;
    cf_err err = top_multi(r, w, order, k, &top, &n_top, &arena);
    if (err)
        return err;
    query_buf b = {0};
    query_printer_header(&r->printer, &b);
    for (size_t i = 0; i < n_top && !err; i++) {
        flow_record rec;
        memset(&rec, 0, sizeof(rec));
        const query_counts *c = top[i].c;
        agg_key_decode(r, top[i].key, &rec);
        if (top[i].ext) {
            query_bidir_ext x;
            uint64_t out_packets, out_bytes;
            memcpy(&x, top[i].ext, sizeof(x));
            query_bidir_record(r->o->bidir, c, &x, &rec, &out_packets, &out_bytes);
            query_printer_record_bi(&r->printer, &b, &rec, c->flows, out_packets, out_bytes);
        } else {
            rec.first_ms = c->first;
            rec.last_ms = c->last;
            rec.packets = c->packets;
            rec.bytes = c->bytes;
            query_printer_record(&r->printer, &b, &rec, c->flows);
        }
        if (b.len > CHUNK_BYTES) {
            if (fwrite(b.p, 1, b.len, out) != b.len)
                err = CF_ERR_IO;
            b.len = 0;
        }
    }
    query_printer_footer(&r->printer, &b, n_top > 0);
    if (b.failed)
        err = CF_ERR_NOMEM;
    else if (!err && b.len && fwrite(b.p, 1, b.len, out) != b.len)
        err = CF_ERR_IO;
    query_buf_free(&b);
    free(top);
    free(arena);
    return err;
}
