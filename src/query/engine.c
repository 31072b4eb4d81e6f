/*
 * query/engine.c - query_run(): plans a query, scans segments on worker
 * threads, block by block and column by column, and hands the results to
 * the printers (output.c) and the report (report.c).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "query/engine.h"
#include "query/filter.h"
#include "query/output.h"
#include "store/store.h"

#define B(x) STORE_FIELD_BIT(FLOW_FIELD_##x)
#define CHUNK_BYTES (1u << 20)

/* ---- shared run state ------------------------------------------------------ */

/* Formatted text of one segment, handed from its worker to the writer. */
typedef struct seg_out {
    query_buf *chunks;  /* filled buffers, in order */
    size_t n_chunks, cap_chunks, written;
    bool done;
} seg_out;

typedef struct run {
    const query_options *o;
    query_filter *filter;
    bool filter_any;
    query_printer printer;
    bool listing;           /* records are printed one by one (no -s, -A, -I) */
    bool totals_only;       /* only the totals are computed (-o null, -I): blocks that match whole
                               need just their packets, bytes and proto columns */
    uint64_t mask;          /* columns to decode */
    bool window;            /* a -t window is set */
    store_segment *segs;
    size_t n_segs;
    FILE *errout;
    size_t n_tables;        /* distinct -s elements */
    query_elem table_elem[QUERY_MAX_STATS];
    size_t agg_key_len;
    bool partitioned;       /* -A on several workers: each worker reads every segment and keeps the
                               keys of its own hash partition (no merge of huge tables) */
    unsigned n_workers;
    unsigned agg_passes;    /* partitioned -A with a top N: the data is read this many times, each pass
                               keeping one partition per worker (bounds the table memory) */
    unsigned n_parts;       /* n_workers * agg_passes partitions of the -A keys */
    size_t n_agg;           /* -A keys, or the 5-tuple of -a */
    bool agg_compact;       /* -A keys are one or two address fields: IPv4 rows use 32-bit
                               addresses in one 64-bit key (worker.agg4) */
    query_agg_key agg[QUERY_MAX_AGG_KEYS];
    /* guarded by mu */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t next_seg;        /* next segment to claim */
    size_t next_write;      /* segment the writer waits for */
    seg_out *outs;
    bool stop;              /* -c reached or a fatal error */
    cf_err fatal;
} run;

/* Per worker thread. */
typedef struct worker {
    run *r;
    pthread_t tid;
    unsigned id;            /* 0 .. n_workers-1 */
    query_totals tot;
    query_totals shadow;    /* partitioned mode: totals of segments another worker owns (dropped) */
    query_table tables[QUERY_MAX_STATS];
    query_counts *direct[QUERY_MAX_STATS]; /* elements of at most 16 bits: counters indexed by value,
                                               moved into tables[] after the scan */
    query_table agg;
    query_itable tables4[QUERY_MAX_STATS]; /* address elements: the IPv4 keys (32 bits), folded into
                                              tables[] after the scan */
    query_itable agg4;      /* -A keys of IPv4 addresses only (compact run): the rows whose
                               addresses are all IPv4; the others go to agg */
    unsigned part;          /* partitioned -A: the partition of the keys kept in this pass */
    uint8_t *sv_keys;       /* agg_passes > 1: the top N keys of every pass done (agg_key_len each) */
    query_counts *sv_counts; /* ... and their counters */
    size_t n_sv;
    uint64_t emitted;       /* records printed (for -c, single worker) */
    uint32_t *idx;          /* selected rows of the current block */
    uint8_t *sel;
    size_t cap;
    uint64_t *hash;         /* hashes of the keys of the selected rows */
    uint8_t *keys;          /* keys of the selected rows (key_cap bytes each) */
    bool *keep;             /* row kept by the -A key (srcip4/N, partition) */
    uint64_t *k64;          /* compact keys of the selected rows (query_itable) */
    uint32_t *rows;         /* scratch: row numbers of the rows add_rows_i keeps */
    size_t key_cap;         /* bytes per key in keys: max(16, -A key length) */
} worker;

static const query_elem_def elem_defs[QUERY_EL_COUNT_] = {
    [QUERY_EL_SRCIP] = {"srcip", "Src IP Addr", FLOW_FIELD_SRC_ADDR, 0, false, true},
    [QUERY_EL_DSTIP] = {"dstip", "Dst IP Addr", FLOW_FIELD_DST_ADDR, 0, false, true},
    [QUERY_EL_IP] = {"ip", "IP Addr", FLOW_FIELD_SRC_ADDR, FLOW_FIELD_DST_ADDR, false, true},
    [QUERY_EL_SRCPORT] = {"srcport", "Src Port", FLOW_FIELD_SRC_PORT, 0, false, false},
    [QUERY_EL_DSTPORT] = {"dstport", "Dst Port", FLOW_FIELD_DST_PORT, 0, false, false},
    [QUERY_EL_PORT] = {"port", "Port", FLOW_FIELD_SRC_PORT, FLOW_FIELD_DST_PORT, false, false},
    [QUERY_EL_PROTO] = {"proto", "Protocol", FLOW_FIELD_PROTO, 0, false, false},
    [QUERY_EL_SRCAS] = {"srcas", "Src AS", FLOW_FIELD_SRC_AS, 0, false, false},
    [QUERY_EL_DSTAS] = {"dstas", "Dst AS", FLOW_FIELD_DST_AS, 0, false, false},
    [QUERY_EL_AS] = {"as", "AS", FLOW_FIELD_SRC_AS, FLOW_FIELD_DST_AS, false, false},
    [QUERY_EL_INIF] = {"inif", "Input If", FLOW_FIELD_IN_IF, 0, false, false},
    [QUERY_EL_OUTIF] = {"outif", "Output If", FLOW_FIELD_OUT_IF, 0, false, false},
    [QUERY_EL_IF] = {"if", "In/Out If", FLOW_FIELD_IN_IF, FLOW_FIELD_OUT_IF, false, false},
    [QUERY_EL_SRCMASK] = {"srcmask", "Src Mask", FLOW_FIELD_SRC_MASK, 0, false, false},
    [QUERY_EL_DSTMASK] = {"dstmask", "Dst Mask", FLOW_FIELD_DST_MASK, 0, false, false},
    [QUERY_EL_MASK] = {"mask", "Mask", FLOW_FIELD_SRC_MASK, FLOW_FIELD_DST_MASK, false, false},
    [QUERY_EL_SRCVLAN] = {"srcvlan", "Src Vlan", FLOW_FIELD_SRC_VLAN, 0, false, false},
    [QUERY_EL_DSTVLAN] = {"dstvlan", "Dst Vlan", FLOW_FIELD_DST_VLAN, 0, false, false},
    [QUERY_EL_VLAN] = {"vlan", "Vlan", FLOW_FIELD_SRC_VLAN, FLOW_FIELD_DST_VLAN, false, false},
    [QUERY_EL_TOS] = {"tos", "Tos", FLOW_FIELD_TOS, 0, false, false},
    [QUERY_EL_FLAGS] = {"flags", "TCP Flags", FLOW_FIELD_TCP_FLAGS, 0, false, false},
    [QUERY_EL_NHIP] = {"nhip", "Nexthop IP", FLOW_FIELD_NEXT_HOP, 0, false, true},
    [QUERY_EL_NHBIP] = {"nhbip", "Nexthop BGP IP", FLOW_FIELD_BGP_NEXT_HOP, 0, false, true},
    [QUERY_EL_ROUTER] = {"router", "Router IP", FLOW_FIELD_EXPORTER, 0, false, true},
    [QUERY_EL_SRCMAC] = {"srcmac", "Src Mac", FLOW_FIELD_SRC_MAC, 0, true, false},
    [QUERY_EL_DSTMAC] = {"dstmac", "Dst Mac", FLOW_FIELD_DST_MAC, 0, true, false},
    [QUERY_EL_EXPORTER] = {"exporter", "Exporter IP", FLOW_FIELD_EXPORTER, 0, false, true},
};

const query_elem_def *query_elem_get(query_elem e)
{
    return (unsigned)e < QUERY_EL_COUNT_ ? &elem_defs[e] : NULL;
}

/* Field of each -A element. */
static const flow_field_id agg_field_id[QUERY_AGG_COUNT_] = {
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

void query_totals_init(query_totals *t)
{
    memset(t, 0, sizeof(*t));
    t->first = UINT64_MAX;
    t->win_first = UINT64_MAX;
}

void query_totals_merge(query_totals *d, const query_totals *s)
{
    d->flows += s->flows;
    d->packets += s->packets;
    d->bytes += s->bytes;
    if (s->first < d->first)
        d->first = s->first;
    if (s->last > d->last)
        d->last = s->last;
    for (int i = 0; i < 4; i++)
        for (int j = 0; j < 3; j++)
            d->by_proto[i][j] += s->by_proto[i][j];
    if (s->win_first < d->win_first)
        d->win_first = s->win_first;
    if (s->win_last > d->win_last)
        d->win_last = s->win_last;
    d->processed += s->processed;
    d->blocks_read += s->blocks_read;
    d->blocks_skipped += s->blocks_skipped;
    d->corrupt += s->corrupt;
}

/* ---- columns ---------------------------------------------------------------- */

static inline uint64_t col_u(const void *col, unsigned width, size_t i)
{
    switch (width) {
    case 1: return ((const uint8_t *)col)[i];
    case 2: { uint16_t v; memcpy(&v, (const uint8_t *)col + 2 * i, 2); return v; }
    case 4: { uint32_t v; memcpy(&v, (const uint8_t *)col + 4 * i, 4); return v; }
    default: { uint64_t v; memcpy(&v, (const uint8_t *)col + 8 * i, 8); return v; }
    }
}

static unsigned width_of(flow_field_id id) { return flow_field_by_id(id)->width; }

/* Which columns of a block are copied into a flow_record for printing. */
typedef struct gather_plan {
    size_t n;
    struct {
        const uint8_t *col;
        uint16_t offset;
        uint8_t width;
    } f[FLOW_FIELD_MAX_ID];
} gather_plan;

static void gather_plan_make(gather_plan *g, const void *const *cols, uint64_t mask)
{
    g->n = 0;
    for (unsigned id = 1; id <= FLOW_FIELD_MAX_ID; id++) {
        if (!(mask & STORE_FIELD_BIT(id)) || !cols[id])
            continue;
        const flow_field *f = flow_field_by_id(id);
        g->f[g->n].col = cols[id];
        g->f[g->n].offset = f->offset;
        g->f[g->n].width = f->width;
        g->n++;
    }
}

/* Copies row i of the planned columns into rec (other members untouched). */
static void gather(const gather_plan *g, size_t i, flow_record *rec)
{
    uint8_t *base = (uint8_t *)rec;
    for (size_t k = 0; k < g->n; k++) {
        uint8_t *dst = base + g->f[k].offset;
        const uint8_t *src = g->f[k].col;
        switch (g->f[k].width) {
        case 1: *dst = src[i]; break;
        case 2: memcpy(dst, src + 2 * i, 2); break;
        case 4: memcpy(dst, src + 4 * i, 4); break;
        case 8: memcpy(dst, src + 8 * i, 8); break;
        default: memcpy(dst, src + 16 * i, 16); break;
        }
    }
}

/* ---- aggregation keys (-A) -------------------------------------------------- */

static size_t agg_part_len(const query_agg_key *k)
{
    size_t w = width_of(agg_field_id[k->field]);
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
        flow_field_id id = agg_field_id[ak->field];
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
        key += agg_part_len(ak);
    }
    return true;
}

/* Turns an -A key back into the fields of a record. */
static void agg_key_decode(const run *r, const uint8_t *key, flow_record *rec)
{
    for (size_t k = 0; k < r->n_agg; k++) {
        const query_agg_key *ak = &r->agg[k];
        const flow_field *f = flow_field_by_id(agg_field_id[ak->field]);
        memcpy((uint8_t *)rec + f->offset, key, f->width);
        if (ak->field == QUERY_AGG_SRCNET)
            rec->src_mask = key[16];
        else if (ak->field == QUERY_AGG_DSTNET)
            rec->dst_mask = key[16];
        key += agg_part_len(ak);
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
 * compact table t4, the others in tab. */
static void count_addr_column(worker *w, query_table *tab, query_itable *t4, const uint8_t *col,
                              const void *const *cols, size_t n_sel)
{
    uint64_t *k64 = w->k64;
    size_t n_other = 0;
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
static bool elem_direct(const query_elem_def *d)
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
static cf_err stat_rows(const worker *w, size_t t, query_order order, size_t k, query_row **out, size_t *n_out)
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

/* Moves the direct counters of every -s table into the hash tables. */
static cf_err flush_direct(worker *w)
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

static void count_stats(worker *w, const void *const *cols, size_t n_sel)
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
                count_addr_column(w, &w->tables[t], &w->tables4[t], cols[ids[k]], cols, n_sel);
            else
                count_column(w, &w->tables[t], cols[ids[k]], width_of(ids[k]), false, cols, n_sel);
        }
        if (d->zero_second)
            count_column(w, &w->tables[t], NULL, 8, false, cols, n_sel);
    }
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
    const uint8_t *c0 = cols[agg_field_id[r->agg[0].field]];
    const uint8_t *c1 = r->n_agg > 1 ? cols[agg_field_id[r->agg[1].field]] : NULL;
    uint32_t m0 = agg_v4_mask(&r->agg[0]), m1 = r->n_agg > 1 ? agg_v4_mask(&r->agg[1]) : 0;
    size_t n_other = 0;
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
        w->keep[j] = v4 && (!r->partitioned || (unsigned)((w->hash[j] >> 40) % r->n_parts) == w->part);
    }
    add_rows_i(w, &w->agg4, w->k64, w->keep, cols, n_sel);
    return n_other;
}

/* Aggregates the selected rows by their -A key. */
static void count_agg(worker *w, const void *const *cols, size_t n_sel)
{
    const run *r = w->r;
    size_t kl = r->agg_key_len;
    if (r->agg_compact && count_agg_compact(w, cols, n_sel) == 0)
        return;
    const uint8_t *c0 = r->agg_compact ? cols[agg_field_id[r->agg[0].field]] : NULL;
    const uint8_t *c1 = r->agg_compact && r->n_agg > 1 ? cols[agg_field_id[r->agg[1].field]] : NULL;
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
            k = k && (unsigned)((w->hash[j] >> 40) % r->n_parts) == w->part;
        w->keep[j] = k;
    }
    add_rows(w, &w->agg, kl, w->keep, cols, n_sel);
}

/* Class of a protocol in the -I lines: tcp, udp, icmp (v4 and v6), other. */
static int proto_class(uint8_t p) { return p == 6 ? 0 : p == 17 ? 1 : (p == 1 || p == 58) ? 2 : 3; }

static void count_totals(worker *w, query_totals *t, const void *const *cols, size_t n_sel)
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
            int k = proto_class(pr[i]);
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
static void count_block_totals(worker *w, query_totals *t, const void *const *cols, const store_block_info *bi)
{
    const uint64_t *pk = cols[FLOW_FIELD_PACKETS], *by = cols[FLOW_FIELD_BYTES];
    size_t n = bi->n_records;
    uint64_t p = 0, b = 0;
    if (w->r->o->info) {
        const uint8_t *pr = cols[FLOW_FIELD_PROTO];
        uint64_t cnt[4][3] = {{0}};
        for (size_t i = 0; i < n; i++) {
            int k = proto_class(pr[i]);
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

/* Does every row of the block match (no filter; inside the window)? */
static bool block_whole(const run *r, const store_block_info *bi)
{
    if (!r->filter_any)
        return false;
    if (!r->window)
        return true;
    return bi->has_minmax[FLOW_FIELD_FIRST] && bi->has_minmax[FLOW_FIELD_LAST] &&
           bi->min[FLOW_FIELD_FIRST] >= r->o->from_ms && bi->max[FLOW_FIELD_LAST] <= r->o->to_ms;
}

/* Hands a full buffer of segment s to the writer. */
static cf_err hand_off(run *r, size_t s, query_buf *b, bool done)
{
    cf_err err = CF_OK;
    pthread_mutex_lock(&r->mu);
    seg_out *so = &r->outs[s];
    if (b && b->len) {
        if (so->n_chunks == so->cap_chunks) {
            size_t cap = so->cap_chunks ? so->cap_chunks * 2 : 8;
            query_buf *nc = realloc(so->chunks, cap * sizeof(*nc));
            if (!nc) {
                err = CF_ERR_NOMEM;
                goto out;
            }
            so->chunks = nc;
            so->cap_chunks = cap;
        }
        so->chunks[so->n_chunks++] = *b;
        memset(b, 0, sizeof(*b));
    }
    if (done)
        so->done = true;
    pthread_cond_broadcast(&r->cv);
out:
    pthread_mutex_unlock(&r->mu);
    return err;
}

static cf_err print_rows(worker *w, size_t seg, query_buf *b, const void *const *cols, size_t n_sel)
{
    run *r = w->r;
    flow_record rec;
    memset(&rec, 0, sizeof(rec));
    gather_plan g;
    gather_plan_make(&g, cols, r->mask);
    for (size_t j = 0; j < n_sel; j++) {
        if (r->o->limit && w->emitted >= r->o->limit)
            break;
        gather(&g, w->idx[j], &rec);
        rec.family = flow_addr_is_v4(rec.src_addr) ? 4 : 6;
        query_printer_record(&r->printer, b, &rec, 1);
        w->emitted++;
        if (b->len >= CHUNK_BYTES) {
            if (b->failed)
                return CF_ERR_NOMEM;
            cf_err err = hand_off(r, seg, b, false);
            if (err)
                return err;
        }
    }
    return b->failed ? CF_ERR_NOMEM : CF_OK;
}

static bool block_skippable(const run *r, const store_block_info *bi)
{
    const query_options *o = r->o;
    if (r->window) {
        if (bi->has_minmax[FLOW_FIELD_FIRST] && bi->max[FLOW_FIELD_FIRST] < o->from_ms)
            return true;
        if (bi->has_minmax[FLOW_FIELD_LAST] && bi->min[FLOW_FIELD_LAST] > o->to_ms)
            return true;
    }
    if (!r->filter_any && !query_filter_may_match(r->filter, bi->min, bi->max, bi->has_minmax))
        return true;
    return false;
}

static bool ensure_cap(worker *w, size_t n)
{
    if (n <= w->cap)
        return true;
    uint32_t *idx = realloc(w->idx, n * sizeof(*idx));
    if (!idx)
        return false;
    w->idx = idx;
    uint8_t *sel = realloc(w->sel, n);
    if (!sel)
        return false;
    w->sel = sel;
    uint64_t *hash = realloc(w->hash, n * sizeof(*hash));
    if (!hash)
        return false;
    w->hash = hash;
    uint8_t *keys = realloc(w->keys, n * w->key_cap);
    if (!keys)
        return false;
    w->keys = keys;
    bool *keep = realloc(w->keep, n * sizeof(*keep));
    if (!keep)
        return false;
    w->keep = keep;
    uint64_t *k64 = realloc(w->k64, n * sizeof(*k64));
    if (!k64)
        return false;
    w->k64 = k64;
    uint32_t *rows = realloc(w->rows, n * sizeof(*rows));
    if (!rows)
        return false;
    w->rows = rows;
    w->cap = n;
    return true;
}

/* Selects the rows of a decoded block; returns how many into w->idx. */
static size_t select_rows(worker *w, const void *const *cols, const store_block_info *bi)
{
    const run *r = w->r;
    size_t n = bi->n_records, m = 0;
    if (r->filter_any)
        memset(w->sel, 1, n);
    else
        query_filter_eval(r->filter, cols, n, w->sel);
    bool check_time = r->window && !(bi->has_minmax[FLOW_FIELD_FIRST] && bi->has_minmax[FLOW_FIELD_LAST] &&
                                     bi->min[FLOW_FIELD_FIRST] >= r->o->from_ms &&
                                     bi->max[FLOW_FIELD_LAST] <= r->o->to_ms);
    const uint64_t *fs = cols[FLOW_FIELD_FIRST], *ls = cols[FLOW_FIELD_LAST];
    for (size_t i = 0; i < n; i++) {
        bool keep = w->sel[i];
        if (check_time)
            keep = keep && fs[i] >= r->o->from_ms && ls[i] <= r->o->to_ms;
        w->idx[m] = (uint32_t)i;
        m += keep;
    }
    return m;
}

static void report_corrupt(run *r, const char *path, const store_block_info *bi, cf_err err)
{
    pthread_mutex_lock(&r->mu);
    if (bi)
        fprintf(r->errout, "cloudflow query: %s: block %u: %s; block skipped\n", path, bi->index,
                cf_err_str(err));
    else
        fprintf(r->errout, "cloudflow query: %s: %s; segment skipped\n", path, cf_err_str(err));
    pthread_mutex_unlock(&r->mu);
}

/* Scans one segment; errors of the segment itself are reported and counted. */
static cf_err scan_segment(worker *w, size_t s, bool owner)
{
    run *r = w->r;
    store_reader *rd = NULL;
    query_buf b = {0};
    query_totals *tot = owner ? &w->tot : &w->shadow;
    cf_err err = store_reader_open(r->segs[s].path, &rd);
    if (err) {
        if (owner)
            report_corrupt(r, r->segs[s].path, NULL, err);
        tot->corrupt++;
        err = CF_OK;
        goto out;
    }
    store_block_info bi;
    for (;;) {
        err = store_reader_next(rd, &bi);
        if (err == CF_ERR_EOF) {
            err = CF_OK;
            break;
        }
        if (err == CF_ERR_CORRUPT) {
            if (owner)
                report_corrupt(r, r->segs[s].path, &bi, err);
            tot->corrupt++;
            continue;
        }
        if (err)
            goto out;
        if (bi.has_minmax[FLOW_FIELD_FIRST] && bi.min[FLOW_FIELD_FIRST] < tot->win_first)
            tot->win_first = bi.min[FLOW_FIELD_FIRST];
        if (bi.has_minmax[FLOW_FIELD_LAST] && bi.max[FLOW_FIELD_LAST] > tot->win_last)
            tot->win_last = bi.max[FLOW_FIELD_LAST];
        if (r->o->limit && w->emitted >= r->o->limit)
            continue; /* -c reached: only the time window of the rest is still of interest */
        if (block_skippable(r, &bi)) {
            tot->blocks_skipped++;
            continue;
        }
        const void *cols[FLOW_FIELD_MAX_ID + 1] = {0};
        bool whole = r->totals_only && block_whole(r, &bi);
        uint64_t mask = whole ? B(PACKETS) | B(BYTES) | (r->o->info ? B(PROTO) : 0) : r->mask;
        cf_err cerr = store_reader_columns(rd, mask, cols);
        if (cerr == CF_ERR_CORRUPT) {
            if (owner)
                report_corrupt(r, r->segs[s].path, &bi, cerr);
            tot->corrupt++;
            continue;
        }
        if (cerr) {
            err = cerr;
            goto out;
        }
        if (!ensure_cap(w, bi.n_records)) {
            err = CF_ERR_NOMEM;
            goto out;
        }
        tot->blocks_read++;
        tot->processed += bi.n_records;
        if (whole) {
            count_block_totals(w, tot, cols, &bi);
            continue;
        }
        size_t n_sel = select_rows(w, cols, &bi);
        if (r->o->limit && n_sel > r->o->limit - w->emitted)
            n_sel = (size_t)(r->o->limit - w->emitted);
        if (!n_sel)
            continue;
        count_totals(w, tot, cols, n_sel);
        if (r->n_tables && owner)
            count_stats(w, cols, n_sel);
        if (r->o->aggregate)
            count_agg(w, cols, n_sel);
        if (r->listing) {
            err = print_rows(w, s, &b, cols, n_sel);
            if (err)
                goto out;
        } else {
            w->emitted += n_sel;
        }
    }
out:
    if (r->listing) {
        cf_err herr = hand_off(r, s, &b, true);
        if (!err)
            err = herr;
    }
    query_buf_free(&b);
    store_reader_close(rd);
    return err;
}

static size_t top_count(const query_options *o, bool stats);
static void agg_key_from_compact(const run *r, uint64_t k, uint8_t *key);

/* agg_passes > 1: keeps the top N of this pass's -A tables (keys and
 * counters copied to w->sv_*) and empties the tables for the next pass. */
static cf_err save_pass_top(worker *w)
{
    const run *r = w->r;
    query_order order = r->o->order == QUERY_ORDER_NONE ? QUERY_ORDER_TSTART : r->o->order;
    size_t k = top_count(r->o, false), kl = r->agg_key_len, *i16 = NULL, *i4 = NULL, n16 = 0, n4 = 0;
    cf_err err = query_table_top(&w->agg, order, k, &i16, &n16);
    if (!err && w->agg4.slots)
        err = query_itable_top(&w->agg4, order, k, &i4, &n4);
    size_t n = w->n_sv + n16 + n4;
    uint8_t *keys = err ? NULL : realloc(w->sv_keys, (n ? n : 1) * kl);
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
        memcpy(w->sv_keys + w->n_sv * kl, query_table_key(&w->agg, i16[j]), kl);
        w->sv_counts[w->n_sv] = *query_table_counts(&w->agg, i16[j]);
    }
    for (size_t j = 0; j < n4; j++, w->n_sv++) {
        agg_key_from_compact(r, w->agg4.slots[i4[j]].key, w->sv_keys + w->n_sv * kl);
        w->sv_counts[w->n_sv] = w->agg4.slots[i4[j]].c;
    }
    free(i16);
    free(i4);
    query_table_clear(&w->agg);
    if (w->agg4.slots)
        query_itable_clear(&w->agg4);
    return CF_OK;
}

/* Partitioned -A: every worker reads every segment, agg_passes times;
 * segment s is "owned" (totals, -s tables, messages) by worker
 * s % n_workers in the first pass. */
static cf_err scan_partitioned(worker *w)
{
    run *r = w->r;
    for (unsigned pass = 0; pass < r->agg_passes && !r->stop; pass++) {
        w->part = pass * r->n_workers + w->id;
        for (size_t s = 0; s < r->n_segs && !r->stop; s++) {
            cf_err err = scan_segment(w, s, pass == 0 && s % r->n_workers == w->id);
            if (err)
                return err;
        }
        if (r->agg_passes > 1) {
            cf_err err = save_pass_top(w);
            if (err)
                return err;
        }
    }
    return CF_OK;
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    run *r = w->r;
    if (r->partitioned) {
        cf_err err = scan_partitioned(w);
        if (err) {
            pthread_mutex_lock(&r->mu);
            if (!r->fatal)
                r->fatal = err;
            pthread_mutex_unlock(&r->mu);
        }
        return NULL;
    }
    for (;;) {
        pthread_mutex_lock(&r->mu);
        while (!r->stop && r->listing && r->next_seg < r->n_segs && r->next_seg >= r->next_write + QUERY_MAX_AHEAD)
            pthread_cond_wait(&r->cv, &r->mu);
        if (r->stop || r->next_seg >= r->n_segs) {
            pthread_mutex_unlock(&r->mu);
            break;
        }
        size_t s = r->next_seg++;
        pthread_mutex_unlock(&r->mu);
        cf_err err = scan_segment(w, s, true);
        if (err) {
            pthread_mutex_lock(&r->mu);
            if (!r->fatal)
                r->fatal = err;
            r->stop = true;
            pthread_cond_broadcast(&r->cv);
            pthread_mutex_unlock(&r->mu);
            break;
        }
    }
    return NULL;
}

/* ---- planning ----------------------------------------------------------------- */

void query_options_init(query_options *o)
{
    memset(o, 0, sizeof(*o));
    o->to_ms = UINT64_MAX;
    o->format = QUERY_OUT_LINE;
    o->top_n = -1;
    o->order = QUERY_ORDER_NONE;
}

static const query_agg_key default_agg[] = {
    {QUERY_AGG_PROTO, 32, 128, false},   {QUERY_AGG_SRCIP, 32, 128, false},
    {QUERY_AGG_DSTIP, 32, 128, false},   {QUERY_AGG_SRCPORT, 32, 128, false},
    {QUERY_AGG_DSTPORT, 32, 128, false},
};

/* Fills the parts of r that depend only on the options. */
static cf_err plan(run *r, const query_options *o, char *msg, size_t msg_len)
{
    const uint64_t base = B(FIRST) | B(LAST) | B(PACKETS) | B(BYTES) | B(PROTO);
    r->mask = base;
    if (!r->filter_any)
        r->mask |= query_filter_fields(r->filter);
    r->window = o->from_ms > 0 || o->to_ms < UINT64_MAX;
    if (o->order != QUERY_ORDER_NONE && !o->aggregate) {
        snprintf(msg, msg_len, "-O orders aggregated flows: add -A FIELDS or -a (sorting a plain listing is "
                               "not supported)");
        return CF_ERR_USAGE;
    }
    for (size_t i = 0; i < o->n_stats; i++) {
        size_t t;
        for (t = 0; t < r->n_tables; t++)
            if (r->table_elem[t] == o->stat_elem[i])
                break;
        if (t == r->n_tables)
            r->table_elem[r->n_tables++] = o->stat_elem[i];
        const query_elem_def *d = query_elem_get(o->stat_elem[i]);
        if (!d) {
            snprintf(msg, msg_len, "unknown statistic element");
            return CF_ERR_USAGE;
        }
        r->mask |= STORE_FIELD_BIT(d->f1) | (d->f2 ? STORE_FIELD_BIT(d->f2) : 0);
    }
    if (o->aggregate) {
        r->n_agg = o->n_agg ? o->n_agg : sizeof(default_agg) / sizeof(default_agg[0]);
        if (r->n_agg > QUERY_MAX_AGG_KEYS) {
            snprintf(msg, msg_len, "too many aggregation keys");
            return CF_ERR_USAGE;
        }
        memcpy(r->agg, o->n_agg ? o->agg : default_agg, r->n_agg * sizeof(r->agg[0]));
    }
    for (size_t k = 0; k < r->n_agg; k++) {
        if ((unsigned)r->agg[k].field >= QUERY_AGG_COUNT_) {
            snprintf(msg, msg_len, "unknown aggregation key");
            return CF_ERR_USAGE;
        }
        r->agg_key_len += agg_part_len(&r->agg[k]);
        r->mask |= STORE_FIELD_BIT(agg_field_id[r->agg[k].field]);
        if (r->agg[k].field == QUERY_AGG_SRCNET)
            r->mask |= B(SRC_MASK);
        if (r->agg[k].field == QUERY_AGG_DSTNET)
            r->mask |= B(DST_MASK);
    }
    r->agg_compact = r->n_agg >= 1 && r->n_agg <= 2;
    for (size_t k = 0; k < r->n_agg; k++)
        if (width_of(agg_field_id[r->agg[k].field]) != 16 || r->agg[k].field == QUERY_AGG_SRCNET ||
            r->agg[k].field == QUERY_AGG_DSTNET)
            r->agg_compact = false;
    r->listing = !o->info && o->n_stats == 0 && !o->aggregate && o->format != QUERY_OUT_NULL;
    r->totals_only = !r->listing && o->n_stats == 0 && !o->aggregate && !o->limit;
    char fmt[512];
    const char *fmt_text = o->format == QUERY_OUT_FMT ? o->fmt : NULL;
    query_format format = o->format;
    if (o->aggregate && o->n_agg && (format == QUERY_OUT_LINE)) {
        query_agg_format(o->agg, o->n_agg, fmt, sizeof(fmt));
        fmt_text = fmt;
        format = QUERY_OUT_FMT;
    }
    cf_err err = query_printer_init(&r->printer, format, fmt_text, o->plain_numbers, o->ipv6_long, o->quiet, msg,
                                    msg_len);
    if (err)
        return err;
    if (r->listing)
        r->mask |= r->printer.fields | B(SRC_ADDR);
    return CF_OK;
}

/* Writes the record output of every segment in order, as workers produce it. */
static cf_err write_listing(run *r, FILE *out, bool *any)
{
    cf_err err = CF_OK;
    size_t skip = r->printer.format == QUERY_OUT_JSON ? 2 : 0; /* first record's separator */
    pthread_mutex_lock(&r->mu);
    while (r->next_write < r->n_segs) {
        seg_out *so = &r->outs[r->next_write];
        if (so->written < so->n_chunks) {
            query_buf c = so->chunks[so->written];
            memset(&so->chunks[so->written], 0, sizeof(c));
            so->written++;
            pthread_mutex_unlock(&r->mu);
            size_t off = skip < c.len ? skip : c.len;
            skip -= off;
            *any = true;
            if (!err && fwrite(c.p + off, 1, c.len - off, out) != c.len - off)
                err = CF_ERR_IO;
            query_buf_free(&c);
            pthread_mutex_lock(&r->mu);
            continue;
        }
        if (so->done) {
            free(so->chunks);
            so->chunks = NULL;
            r->next_write++;
            pthread_cond_broadcast(&r->cv);
            continue;
        }
        if (r->stop && r->next_write >= r->next_seg)
            break;
        pthread_cond_wait(&r->cv, &r->mu);
    }
    pthread_mutex_unlock(&r->mu);
    return err;
}

static unsigned thread_count(const query_options *o, size_t n_segs)
{
    long n = o->n_threads ? (long)o->n_threads : sysconf(_SC_NPROCESSORS_ONLN);
    if (o->limit)
        n = 1; /* -c counts records in file order: one worker walks the segments in turn */
    if (n < 1)
        n = 1;
    if (n > 64)
        n = 64;
    if ((size_t)n > n_segs)
        n = n_segs ? (long)n_segs : 1;
    return (unsigned)n;
}

static cf_err worker_init(worker *w, run *r)
{
    memset(w, 0, sizeof(*w));
    w->r = r;
    w->key_cap = r->agg_key_len > 16 ? r->agg_key_len : 16;
    query_totals_init(&w->tot);
    query_totals_init(&w->shadow);
    for (size_t t = 0; t < r->n_tables; t++) {
        const query_elem_def *d = query_elem_get(r->table_elem[t]);
        if (query_table_init(&w->tables[t], d->is_addr ? 16 : 8, r->o->max_keys))
            return CF_ERR_NOMEM;
        if (elem_direct(d) && !(w->direct[t] = calloc(65536, sizeof(query_counts))))
            return CF_ERR_NOMEM;
        if (d->is_addr && query_itable_init(&w->tables4[t], r->o->max_keys))
            return CF_ERR_NOMEM;
    }
    if (r->o->aggregate) {
        if (query_table_init(&w->agg, r->agg_key_len, r->o->max_keys))
            return CF_ERR_NOMEM;
        if (r->agg_compact && query_itable_init(&w->agg4, r->o->max_keys))
            return CF_ERR_NOMEM;
    }
    return CF_OK;
}

static void worker_free(worker *w)
{
    for (size_t t = 0; t < QUERY_MAX_STATS; t++) {
        query_table_free(&w->tables[t]);
        query_itable_free(&w->tables4[t]);
        free(w->direct[t]);
    }
    query_table_free(&w->agg);
    query_itable_free(&w->agg4);
    free(w->sv_keys);
    free(w->sv_counts);
    free(w->hash);
    free(w->keys);
    free(w->keep);
    free(w->k64);
    free(w->rows);
    free(w->idx);
    free(w->sel);
}

/* Runs the scan over r->segs with n workers; merges into w[0]. */
static cf_err scan_all(run *r, worker *w, unsigned n, FILE *out, bool *any)
{
    cf_err err = CF_OK;
    unsigned started = 0;
    for (unsigned i = 0; i < n; i++) {
        if (pthread_create(&w[i].tid, NULL, worker_main, &w[i]) != 0)
            break;
        started++;
    }
    if (!started)
        return CF_ERR_NOMEM;
    if (started < n) {
        /* fewer workers than planned: stop them; partitions or segments would be missed */
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        r->fatal = CF_ERR_NOMEM;
        pthread_mutex_unlock(&r->mu);
    }
    if (r->listing)
        err = write_listing(r, out, any);
    for (unsigned i = 0; i < started; i++)
        pthread_join(w[i].tid, NULL);
    if (!err)
        err = r->fatal;
    for (unsigned i = 0; i < started && !err; i++)
        err = flush_direct(&w[i]);
    for (unsigned i = 1; i < started && !err; i++) {
        query_totals_merge(&w[0].tot, &w[i].tot);
        for (size_t t = 0; t < r->n_tables && !err; t++) {
            err = query_table_merge(&w[0].tables[t], &w[i].tables[t]);
            if (w[0].tables4[t].slots)
                query_itable_merge(&w[0].tables4[t], &w[i].tables4[t]);
        }
        if (r->o->aggregate && !r->partitioned && !err) {
            err = query_table_merge(&w[0].agg, &w[i].agg);
            if (r->agg_compact)
                query_itable_merge(&w[0].agg4, &w[i].agg4);
        }
    }
    return err;
}

static size_t top_count(const query_options *o, bool stats)
{
    if (o->top_n >= 0)
        return (size_t)o->top_n;
    return stats ? 10 : 0;
}

/* One aggregated record chosen for printing. */
typedef struct pick {
    const uint8_t *key;    /* the -A key (agg_key_len bytes): in a table, or in the key arena of top_multi */
    const query_counts *c;
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
    pick *p = NULL;
    cf_err err = CF_OK;
    *arena = NULL;
    if (r->agg_passes > 1) { /* the tops of every pass were saved by the workers */
        for (size_t i = 0; i < n_tables && !err; i++) {
            err = picks_reserve(&p, &cap, n + w[i].n_sv + 1);
            for (size_t j = 0; !err && j < w[i].n_sv; j++)
                p[n++] = (pick){w[i].sv_keys + j * kl, &w[i].sv_counts[j],
                                query_order_value(&w[i].sv_counts[j], order)};
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
            const query_counts *c = query_table_counts(&w[i].agg, idx[j]);
            p[n++] = (pick){query_table_key(&w[i].agg, idx[j]), c, query_order_value(c, order)};
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
            p[n++] = (pick){key, &e->c, query_order_value(&e->c, order)};
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
static cf_err print_aggregated(run *r, const worker *w, FILE *out)
{
    const query_options *o = r->o;
    query_order order = o->order == QUERY_ORDER_NONE ? QUERY_ORDER_TSTART : o->order;
    pick *top = NULL;
    size_t n_top = 0;
    uint8_t *arena = NULL;
    cf_err err = top_multi(r, w, order, top_count(o, false), &top, &n_top, &arena);
    if (err)
        return err;
    query_buf b = {0};
    query_printer_header(&r->printer, &b);
    for (size_t i = 0; i < n_top && !err; i++) {
        flow_record rec;
        memset(&rec, 0, sizeof(rec));
        const query_counts *c = top[i].c;
        agg_key_decode(r, top[i].key, &rec);
        rec.first_ms = c->first;
        rec.last_ms = c->last;
        rec.packets = c->packets;
        rec.bytes = c->bytes;
        query_printer_record(&r->printer, &b, &rec, c->flows);
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

static cf_err list_segments(const query_options *o, store_segment **segs, size_t *n_segs, uint64_t *bytes,
                            FILE *errout)
{
    store_segment *all = NULL;
    size_t n_all = 0;
    for (size_t i = 0; i < o->n_paths; i++) {
        store_segment *s = NULL;
        size_t n = 0;
        struct stat st;
        if (stat(o->paths[i], &st) != 0) {
            fprintf(errout, "cloudflow query: %s: no such file or directory\n", o->paths[i]);
            store_segments_free(all, n_all);
            return CF_ERR_NOT_FOUND;
        }
        cf_err err = store_list(o->paths[i], o->from_ms, o->to_ms, &s, &n);
        if (err) {
            fprintf(errout, "cloudflow query: %s: %s\n", o->paths[i], cf_err_str(err));
            store_segments_free(all, n_all);
            return err;
        }
        store_segment *m = realloc(all, (n_all + n + 1) * sizeof(*m));
        if (!m) {
            store_segments_free(s, n);
            store_segments_free(all, n_all);
            return CF_ERR_NOMEM;
        }
        all = m;
        memcpy(all + n_all, s, n * sizeof(*s));
        n_all += n;
        free(s); /* the paths now belong to all */
    }
    for (size_t i = 0; i < n_all; i++) {
        struct stat st;
        if (stat(all[i].path, &st) == 0)
            *bytes += (uint64_t)st.st_size;
    }
    *segs = all;
    *n_segs = n_all;
    return CF_OK;
}

/* Rows of -A keys one worker's table should hold per pass, at most: about
 * 8 M keys (the compact table then stays within 8 M slots, 384 MB). */
#define AGG_PASS_ROWS (UINT64_C(8) << 20)
/* Stored bytes per flow assumed to estimate the rows from the file sizes
 * (the store keeps 16 to 25 bytes per NetFlow v5 flow). */
#define AGG_BYTES_PER_ROW 16

/* How many passes a partitioned -A makes: 1, or more for a top N (-n) of
 * data large enough that one pass would hold more than AGG_PASS_ROWS rows
 * per worker (a bound on the distinct keys).  At most 8. */
static unsigned agg_passes(const query_options *o, unsigned n_workers, uint64_t bytes_read)
{
    if (!o->aggregate || o->limit || top_count(o, false) == 0)
        return 1;
    uint64_t rows = bytes_read / AGG_BYTES_PER_ROW, per = (uint64_t)n_workers * AGG_PASS_ROWS;
    uint64_t p = (rows + per - 1) / per;
    return p < 1 ? 1 : p > 8 ? 8 : (unsigned)p;
}

static double cpu_seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }

static cf_err report(run *r, worker *w0, FILE *out, bool any, uint64_t bytes_read, double wall)
{
    const query_options *o = r->o;
    cf_err err = CF_OK;
    if (o->info) {
        query_report_info(out, &w0->tot);
        return CF_OK;
    }
    for (size_t i = 0; i < o->n_stats; i++) {
        size_t t;
        for (t = 0; t < r->n_tables; t++)
            if (r->table_elem[t] == o->stat_elem[i])
                break;
        query_row *rows = NULL;
        size_t n_rows = 0;
        err = stat_rows(w0, t, o->stat_order[i], top_count(o, true), &rows, &n_rows);
        if (err)
            return err;
        query_report_stat(out, o, o->stat_elem[i], o->stat_order[i], rows, n_rows, &w0->tot);
        free(rows);
    }
    if (o->aggregate && !o->n_stats && r->printer.format != QUERY_OUT_NULL)
        err = print_aggregated(r, w0, out);
    if (r->listing) {
        query_buf b = {0};
        query_printer_footer(&r->printer, &b, any);
        if (b.len)
            fwrite(b.p, 1, b.len, out);
        query_buf_free(&b);
        if (!any && !o->quiet && r->printer.format != QUERY_OUT_JSON && r->printer.format != QUERY_OUT_NDJSON)
            fputs("No matching flows\n", out);
    }
    if (!o->quiet && r->printer.format != QUERY_OUT_JSON && r->printer.format != QUERY_OUT_NDJSON)
        query_report_summary(out, o, &w0->tot, bytes_read, wall);
    return err;
}

static void fill_result(query_result *res, const worker *w0, size_t n_segs, uint64_t bytes_read,
                        uint64_t untracked)
{
    if (!res)
        return;
    memset(res, 0, sizeof(*res));
    if (!w0)
        return;
    res->flows = w0->tot.flows;
    res->packets = w0->tot.packets;
    res->bytes = w0->tot.bytes;
    res->processed = w0->tot.processed;
    res->blocks_read = w0->tot.blocks_read;
    res->blocks_skipped = w0->tot.blocks_skipped;
    res->bytes_read = bytes_read;
    res->corrupt_blocks = w0->tot.corrupt;
    res->untracked_flows = untracked;
    res->n_segments = n_segs;
}

cf_err query_run(const query_options *o, FILE *out, FILE *errout, query_result *res)
{
    uint64_t t0 = cf_time_mono_ns();
    double c0 = cpu_seconds();
    run r;
    memset(&r, 0, sizeof(r));
    r.o = o;
    r.errout = errout;
    worker *w = NULL;
    unsigned n_workers = 0;
    uint64_t bytes_read = 0, untracked = 0;
    bool any = false;
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);

    query_filter_error ferr;
    memset(&ferr, 0, sizeof(ferr));
    const char *ftext = o->filter ? o->filter : "";
    cf_err err = query_filter_compile(ftext, &r.filter, &ferr);
    if (err) {
        if (err == CF_ERR_USAGE) {
            char buf[2048];
            query_filter_error_format(ftext, &ferr, buf, sizeof(buf));
            fprintf(errout, "%s", buf);
            if (!*buf || buf[strlen(buf) - 1] != '\n')
                fputc('\n', errout);
        }
        goto out;
    }
    r.filter_any = query_filter_is_any(r.filter) != 0;
    char msg[256] = "";
    err = plan(&r, o, msg, sizeof(msg));
    if (err) {
        fprintf(errout, "cloudflow query: %s\n", msg);
        goto out;
    }
    err = list_segments(o, &r.segs, &r.n_segs, &bytes_read, errout);
    if (err)
        goto out;
    n_workers = thread_count(o, r.n_segs);
    w = calloc(n_workers, sizeof(*w));
    r.outs = calloc(r.n_segs + 1, sizeof(*r.outs));
    if (!w || !r.outs) {
        err = CF_ERR_NOMEM;
        goto out;
    }
    r.n_workers = n_workers;
    r.agg_passes = agg_passes(o, n_workers, bytes_read);
    r.n_parts = n_workers * r.agg_passes;
    r.partitioned = o->aggregate && (n_workers > 1 || r.agg_passes > 1) && !o->limit;
    for (unsigned i = 0; i < n_workers && !err; i++) {
        err = worker_init(&w[i], &r);
        w[i].id = i;
    }
    if (err)
        goto out;
    if (r.listing) {
        query_buf b = {0};
        query_printer_header(&r.printer, &b);
        if (b.len)
            fwrite(b.p, 1, b.len, out);
        query_buf_free(&b);
    }
    err = scan_all(&r, w, n_workers, out, &any);
    if (err)
        goto out;
    for (size_t t = 0; t < r.n_tables; t++)
        untracked += w[0].tables[t].untracked + w[0].tables4[t].untracked;
    for (unsigned i = 0; i < (r.partitioned ? n_workers : 1); i++)
        untracked += w[i].agg.untracked + w[i].agg4.untracked;
    double wall = (double)(cf_time_mono_ns() - t0) / 1e9;
    (void)c0;
    err = report(&r, &w[0], out, any, bytes_read, wall);
    if (err)
        goto out;
    if (untracked) {
        fprintf(errout, "cloudflow query: an aggregation table reached its limit of %llu keys; %llu flows of "
                        "keys seen later were not counted, the statistics are approximate\n",
                (unsigned long long)(o->max_keys ? o->max_keys : QUERY_DEFAULT_MAX_KEYS),
                (unsigned long long)untracked);
        err = CF_ERR_FULL;
    } else if (w[0].tot.corrupt) {
        err = CF_ERR_CORRUPT;
    }
out:
    fflush(out);
    fill_result(res, w, r.n_segs, bytes_read, untracked);
    if (w)
        for (unsigned i = 0; i < n_workers; i++)
            worker_free(&w[i]);
    free(w);
    if (r.outs) {
        for (size_t s = 0; s < r.n_segs; s++) {
            for (size_t c = r.outs[s].written; c < r.outs[s].n_chunks; c++)
                query_buf_free(&r.outs[s].chunks[c]);
            free(r.outs[s].chunks);
        }
        free(r.outs);
    }
    store_segments_free(r.segs, r.n_segs);
    query_filter_free(r.filter);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    return err;
}
