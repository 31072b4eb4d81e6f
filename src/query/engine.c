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
#include "query/bidir.h"
#include "query/scan.h"
#include "query/series.h"

#define B(x) STORE_FIELD_BIT(FLOW_FIELD_##x)

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
    [QUERY_EL_DIR] = {"dir", "Dir", FLOW_FIELD_DIRECTION, 0, false, false},
    [QUERY_EL_MPLS1 + 0] = {"mpls1", " MPLS lab 1", FLOW_FIELD_MPLS1 + 0, 0, false, false},
    [QUERY_EL_MPLS1 + 1] = {"mpls2", " MPLS lab 2", FLOW_FIELD_MPLS1 + 1, 0, false, false},
    [QUERY_EL_MPLS1 + 2] = {"mpls3", " MPLS lab 3", FLOW_FIELD_MPLS1 + 2, 0, false, false},
    [QUERY_EL_MPLS1 + 3] = {"mpls4", " MPLS lab 4", FLOW_FIELD_MPLS1 + 3, 0, false, false},
    [QUERY_EL_MPLS1 + 4] = {"mpls5", " MPLS lab 5", FLOW_FIELD_MPLS1 + 4, 0, false, false},
    [QUERY_EL_MPLS1 + 5] = {"mpls6", " MPLS lab 6", FLOW_FIELD_MPLS1 + 5, 0, false, false},
    [QUERY_EL_MPLS1 + 6] = {"mpls7", " MPLS lab 7", FLOW_FIELD_MPLS1 + 6, 0, false, false},
    [QUERY_EL_MPLS1 + 7] = {"mpls8", " MPLS lab 8", FLOW_FIELD_MPLS1 + 7, 0, false, false},
    [QUERY_EL_MPLS1 + 8] = {"mpls9", " MPLS lab 9", FLOW_FIELD_MPLS1 + 8, 0, false, false},
    [QUERY_EL_MPLS10] = {"mpls10", " MPLS lab 10", FLOW_FIELD_MPLS10, 0, false, false},
    [QUERY_EL_XSRCIP] = {"xsrcip", "X-Src IP Addr", FLOW_FIELD_NAT_SRC_ADDR, 0, false, true},
    [QUERY_EL_XDSTIP] = {"xdstip", "X-Dst IP Addr", FLOW_FIELD_NAT_DST_ADDR, 0, false, true},
    [QUERY_EL_XSRCPORT] = {"xsrcport", " X-Src Port", FLOW_FIELD_NAT_SRC_PORT, 0, false, false},
    [QUERY_EL_XDSTPORT] = {"xdstport", " X-Dst Port", FLOW_FIELD_NAT_DST_PORT, 0, false, false},
    [QUERY_EL_RECORD] = {"record", "flows", 0, 0, false, false}, /* not a table: see effective_options */
};

const query_elem_def *query_elem_get(query_elem e)
{
    return (unsigned)e < QUERY_EL_COUNT_ ? &elem_defs[e] : NULL;
}

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
        query_filter_eval_v4(r->filter, cols, w->v4, n, w->sel);
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

/* Decodes the columns of mask of the current block into cols, at the rows
 * rows[0 .. n_rows) (NULL: all), the IPv4-only address columns of v4_mask
 * as 32-bit addresses (flagged in w->v4); a corrupt column is reported (by
 * the owner of the segment) and counted, and CF_ERR_CORRUPT returned for
 * the caller to skip the block. */
static cf_err read_columns(worker *w, store_reader *rd, size_t s, bool owner, const store_block_info *bi,
                           uint64_t mask, const uint32_t *rows, size_t n_rows, uint64_t v4_mask, const void **cols)
{
    cf_err err = store_reader_columns_rows(rd, mask, rows, n_rows, v4_mask, cols, &w->v4);
    if (err == CF_ERR_CORRUPT) {
        if (owner)
            report_corrupt(w->r, w->r->segs[s].path, bi, err);
        (owner ? &w->tot : &w->shadow)->corrupt++;
    }
    return err;
}

/* Compact -A keys of two addresses: when one column of the block came as
 * 32-bit addresses and the other not (an IPv6 row), the rows with an IPv6
 * address need both in the 16-byte form: the 32-bit one is decoded again. */
static cf_err agg_same_form(worker *w, store_reader *rd, size_t s, bool owner, const store_block_info *bi,
                            const uint32_t *rows, size_t n_rows, const void **cols)
{
    const run *r = w->r;
    uint64_t a = STORE_FIELD_BIT(query_agg_field_id[r->agg[0].field]);
    uint64_t b = STORE_FIELD_BIT(query_agg_field_id[r->agg[1].field]);
    uint64_t v4 = w->v4 & (a | b);
    if (v4 == 0 || v4 == (a | b))
        return CF_OK;
    return read_columns(w, rd, s, owner, bi, v4, rows, n_rows, 0, cols);
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
        /* with a filter: its columns first, the others only when a row matched */
        bool staged = !whole && r->filter_mask;
        uint64_t mask = whole ? B(PACKETS) | B(BYTES) | (r->o->info ? B(PROTO) : 0)
                        : staged ? r->filter_mask : r->mask;
        w->v4 = 0;
        cf_err cerr = read_columns(w, rd, s, owner, &bi, mask, NULL, 0, r->v4_mask, cols);
        if (cerr == CF_ERR_CORRUPT)
            continue;
        if (cerr) {
            err = cerr;
            goto out;
        }
        if (!ensure_cap(w, bi.n_records)) {
            err = CF_ERR_NOMEM;
            goto out;
        }
        if (whole) {
            tot->blocks_read++;
            tot->processed += bi.n_records;
            query_count_block_totals(w, tot, cols, &bi);
            continue;
        }
        size_t n_sel = select_rows(w, cols, &bi);
        if (r->o->limit && n_sel > r->o->limit - w->emitted)
            n_sel = (size_t)(r->o->limit - w->emitted);
        if (n_sel && staged && r->mask != r->filter_mask) {
            /* the other columns only at the selected rows */
            cerr = read_columns(w, rd, s, owner, &bi, r->mask, w->idx, n_sel, r->v4_mask, cols);
            if (cerr == CF_ERR_CORRUPT)
                continue;
            if (cerr) {
                err = cerr;
                goto out;
            }
        }
        if (n_sel && r->agg_compact && r->n_agg == 2)
            cerr = agg_same_form(w, rd, s, owner, &bi, staged ? w->idx : NULL, n_sel, cols);
        if (cerr == CF_ERR_CORRUPT)
            continue;
        if (cerr) {
            err = cerr;
            goto out;
        }
        tot->blocks_read++;
        tot->processed += bi.n_records;
        if (!n_sel)
            continue;
        if (owner) /* the totals of another worker's segment would be dropped */
            query_count_totals(w, tot, cols, n_sel);
        if (r->n_tables && owner)
            query_count_stats(w, cols, n_sel);
        if (r->series) {
            err = query_count_series(w, cols, n_sel, &bi);
            if (err)
                goto out;
        }
        if (r->o->aggregate)
            query_count_agg(w, cols, n_sel);
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
            cf_err err = query_save_pass_top(w);
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
            return NULL;
        }
    }
    /* several workers: each picks its own top rows in parallel, so that the
     * report rarely has to merge whole tables (query_stat_rows_topk) */
    if (r->n_workers > 1 && r->n_tables && !r->stop) {
        cf_err err = query_worker_topk(w);
        if (err) {
            pthread_mutex_lock(&r->mu);
            if (!r->fatal)
                r->fatal = err;
            pthread_mutex_unlock(&r->mu);
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

/* Which address columns may come as 32-bit IPv4 addresses: those of the
 * filter, the -s address tables and compact -A keys, unless the printer or
 * general -A keys need them whole. */
static void plan_v4(run *r, const query_options *o)
{
    uint64_t addr = 0;
    for (size_t i = 0; i < flow_n_fields; i++)
        if (flow_fields[i].width == 16)
            addr |= STORE_FIELD_BIT(flow_fields[i].id);
    r->v4_mask = r->listing || r->series ? 0 : r->mask & addr;
    if (o->aggregate && !r->agg_compact)
        for (size_t k = 0; k < r->n_agg; k++)
            r->v4_mask &= ~STORE_FIELD_BIT(query_agg_field_id[r->agg[k].field]);
}

/* Fills the parts of r that depend only on the options. */
static cf_err plan(run *r, const query_options *o, char *msg, size_t msg_len)
{
    /* proto: for the -I lines; the filter, the elements and the printer add their own columns */
    const uint64_t base = B(FIRST) | B(LAST) | B(PACKETS) | B(BYTES) | (o->info ? B(PROTO) : 0);
    r->mask = base;
    r->window = o->from_ms > 0 || o->to_ms < UINT64_MAX;
    if (!r->filter_any) {
        r->filter_mask = query_filter_fields(r->filter) | (r->window ? B(FIRST) | B(LAST) : 0);
        r->mask |= r->filter_mask;
    }
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
    if (o->bidir && query_bidir_plan(o, r->n_rec, &r->mask, msg, msg_len) != CF_OK)
        return CF_ERR_USAGE;
    for (size_t k = 0; k < r->n_agg; k++) {
        if ((unsigned)r->agg[k].field >= QUERY_AGG_COUNT_) {
            snprintf(msg, msg_len, "unknown aggregation key");
            return CF_ERR_USAGE;
        }
        r->agg_key_len += query_agg_part_len(&r->agg[k]);
        r->mask |= STORE_FIELD_BIT(query_agg_field_id[r->agg[k].field]);
        if (r->agg[k].field == QUERY_AGG_SRCNET)
            r->mask |= B(SRC_MASK);
        if (r->agg[k].field == QUERY_AGG_DSTNET)
            r->mask |= B(DST_MASK);
    }
    r->agg_compact = r->n_agg >= 1 && r->n_agg <= 2;
    for (size_t k = 0; k < r->n_agg; k++)
        if (width_of(query_agg_field_id[r->agg[k].field]) != 16 || r->agg[k].field == QUERY_AGG_SRCNET ||
            r->agg[k].field == QUERY_AGG_DSTNET)
            r->agg_compact = false;
    r->series = o->interval_ms > 0;
    if (r->series) {
        if (o->n_stats || o->aggregate || o->limit || o->info) {
            snprintf(msg, msg_len, "--interval prints a time series: it does not combine with -s, -A, -a, -c or -I");
            return CF_ERR_USAGE;
        }
        if (o->from_ms > 0 && o->to_ms < UINT64_MAX && o->to_ms > o->from_ms &&
            (o->to_ms - 1) / o->interval_ms - o->from_ms / o->interval_ms >= QUERY_SERIES_MAX_BINS) {
            snprintf(msg, msg_len, "the time window holds more than %u bins: give a longer --interval",
                     QUERY_SERIES_MAX_BINS);
            return CF_ERR_USAGE;
        }
        r->mask |= B(PROTO);
    }
    r->listing = !r->series && !o->info && o->n_stats == 0 && !o->aggregate && o->format != QUERY_OUT_NULL;
    r->totals_only = !r->series && !r->listing && o->n_stats == 0 && !o->aggregate && !o->limit;
    char fmt[512];
    const char *fmt_text = o->format == QUERY_OUT_FMT ? o->fmt : NULL;
    query_format format = o->format;
    if (o->aggregate && o->n_agg && format == QUERY_OUT_LINE && !r->n_rec) { /* -s record keeps -o's format */
        query_agg_format(o->agg, o->n_agg, fmt, sizeof(fmt));
        fmt_text = fmt;
        format = QUERY_OUT_FMT;
    }
    cf_err err = query_printer_init(&r->printer, format, fmt_text, o->plain_numbers, o->ipv6_long, o->quiet, msg,
                                    msg_len);
    if (err)
        return err;
    query_printer_load_names(&r->printer, o->paths, o->n_paths, r->errout);
    if (r->listing)
        r->mask |= r->printer.fields | B(SRC_ADDR);
    plan_v4(r, o);
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
        if (query_elem_direct(d) && !(w->direct[t] = calloc(65536, sizeof(query_counts))))
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
    free(w->bins);
    for (size_t i = 0; i < QUERY_MAX_STATS; i++)
        free(w->topk[i]);
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
        err = query_flush_direct(&w[i]);
    for (unsigned i = 1; i < started && !err; i++) {
        query_totals_merge(&w[0].tot, &w[i].tot); /* the -s tables are merged by the report, when needed */
        if (r->o->aggregate && !r->partitioned && !err) {
            err = query_table_merge(&w[0].agg, &w[i].agg);
            if (r->agg_compact)
                query_itable_merge(&w[0].agg4, &w[i].agg4);
        }
    }
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
        if (n) /* s is NULL when no segment is listed */
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

/* Stored bytes per flow assumed to estimate the rows from the file sizes
 * (the store keeps 16 to 25 bytes per NetFlow v5 flow). */
#define AGG_BYTES_PER_ROW 16

/* How many passes a partitioned -A makes: 1, or more for a top N (-n) of
 * data large enough that one pass would hold more than pass_rows rows per
 * worker (a bound on the distinct keys).  At most 8. */
static unsigned agg_passes(const run *r, const query_options *o, unsigned n_workers, uint64_t bytes_read)
{
    /* the passes keep the top N of one order: not for several -s record orders */
    if (!o->aggregate || o->limit || query_top_count(o, r->n_rec > 0) == 0 || r->n_rec > 1)
        return 1;
    /* QUERY_DEFAULT_PASS_ROWS: a worker's compact table then stays within 8 M slots (384 MB) */
    uint64_t pass_rows = o->pass_rows ? o->pass_rows : QUERY_DEFAULT_PASS_ROWS;
    uint64_t rows = bytes_read / AGG_BYTES_PER_ROW, per = (uint64_t)n_workers * pass_rows;
    uint64_t p = (rows + per - 1) / per;
    return p < 1 ? 1 : p > 8 ? 8 : (unsigned)p;
}

/* Merges -s table t of every worker into worker 0's (once). */
static cf_err merge_stat_table(run *r, worker *w, unsigned n, size_t t)
{
    cf_err err = CF_OK;
    for (unsigned i = 1; i < n && !r->stat_merged[t] && !err; i++) {
        err = query_table_merge(&w[0].tables[t], &w[i].tables[t]);
        if (w[0].tables4[t].slots)
            query_itable_merge(&w[0].tables4[t], &w[i].tables4[t]);
    }
    if (!err)
        r->stat_merged[t] = true;
    return err;
}

/* The rows of -s number i: from the workers' top lists when they prove the
 * result, else from the merged tables. */
static cf_err stat_rows(run *r, worker *w, unsigned n, size_t i, size_t t, query_row **rows, size_t *n_rows)
{
    const query_options *o = r->o;
    size_t k = query_top_count(o, true);
    bool exact = false;
    cf_err err = CF_OK;
    if (n > 1 && !r->stat_merged[t])
        err = query_stat_rows_topk(w, n, i, t, o->stat_order[i], k, rows, n_rows, &exact);
    if (err || exact)
        return err;
    err = merge_stat_table(r, w, n, t);
    if (!err)
        err = query_stat_rows(&w[0], t, o->stat_order[i], k, rows, n_rows);
    return err;
}

static double cpu_seconds(void) { return (double)clock() / CLOCKS_PER_SEC; }

static cf_err report(run *r, worker *w, unsigned n_workers, FILE *out, bool any, uint64_t bytes_read, double wall)
{
    worker *w0 = &w[0];
    const query_options *o = r->o;
    cf_err err = CF_OK;
    if (o->info) {
        query_report_info(out, &w0->tot);
        return CF_OK;
    }
    for (size_t i = 0; i < r->n_rec && !err; i++) { /* nfdump prints them before the element tables */
        if (!o->quiet && r->printer.format != QUERY_OUT_CSV && r->printer.format != QUERY_OUT_JSON &&
            r->printer.format != QUERY_OUT_NDJSON)
            fprintf(out, "Top %zu flows ordered by %s:\n", query_top_count(o, true),
                    query_order_name(r->rec_order[i]));
        err = query_print_aggregated(r, w0, r->rec_order[i], query_top_count(o, true), out);
    }
    if (err)
        return err;
    for (size_t i = 0; i < o->n_stats; i++) {
        size_t t;
        for (t = 0; t < r->n_tables; t++)
            if (r->table_elem[t] == o->stat_elem[i])
                break;
        query_row *rows = NULL;
        size_t n_rows = 0;
        err = stat_rows(r, w, n_workers, i, t, &rows, &n_rows);
        if (err)
            return err;
        query_report_stat(out, o, o->stat_elem[i], o->stat_order[i], rows, n_rows, &w0->tot);
        free(rows);
    }
    if (o->aggregate && !o->n_stats && !r->n_rec && r->printer.format != QUERY_OUT_NULL)
        err = query_print_aggregated(r, w0, o->order == QUERY_ORDER_NONE ? QUERY_ORDER_TSTART : o->order,
                                     query_top_count(o, false), out);
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

/* The time series of a finished scan: collected into *series (the caller's,
 * or a local one printed to out when series is NULL). */
static cf_err finish_series(run *r, worker *w, unsigned n_workers, FILE *out, FILE *errout, query_series *series,
                            uint64_t bytes_read, double wall)
{
    query_series local;
    query_series *s = series ? series : &local;
    cf_err err = query_series_collect(r, w, n_workers, s);
    if (err == CF_ERR_RANGE) {
        fprintf(errout, "cloudflow query: the time series would have more than %u bins: give a longer --interval "
                        "or a -t window\n", QUERY_SERIES_MAX_BINS);
        return CF_ERR_USAGE;
    }
    if (err || series)
        return err;
    err = query_series_print(s, r->o, out);
    const query_format f = r->o->format;
    if (!err && !r->o->quiet && f != QUERY_OUT_CSV && f != QUERY_OUT_JSON && f != QUERY_OUT_NDJSON)
        query_report_summary(out, r->o, &w[0].tot, bytes_read, wall);
    query_series_free(s);
    return err;
}

/* The options the scan works with: -s record/ORDER is taken out of the -s
 * list into r->rec_order and turns aggregation on (the 5-tuple of -a unless
 * -A gives keys), as nfdump's "aggregated netflow records". */
static void effective_options(const query_options *o, query_options *eff, run *r)
{
    *eff = *o;
    eff->n_stats = 0;
    for (size_t i = 0; i < o->n_stats; i++) {
        if (o->stat_elem[i] == QUERY_EL_RECORD) {
            bool seen = false;
            for (size_t j = 0; j < r->n_rec; j++)
                seen = seen || r->rec_order[j] == o->stat_order[i];
            if (!seen)
                r->rec_order[r->n_rec++] = o->stat_order[i];
            continue;
        }
        eff->stat_elem[eff->n_stats] = o->stat_elem[i];
        eff->stat_order[eff->n_stats++] = o->stat_order[i];
    }
    if (r->n_rec)
        eff->aggregate = true;
    /* nfdump prints each order once, flows before packets before bytes ... */
    for (size_t i = 1; i < r->n_rec; i++)
        for (size_t j = i; j > 0 && r->rec_order[j] < r->rec_order[j - 1]; j--) {
            query_order t = r->rec_order[j];
            r->rec_order[j] = r->rec_order[j - 1];
            r->rec_order[j - 1] = t;
        }
}

/* query_run() and query_series_run(): series NULL prints to out. */
static cf_err execute(const query_options *o, FILE *out, FILE *errout, query_result *res, query_series *series)
{
    uint64_t t0 = cf_time_mono_ns();
    double c0 = cpu_seconds();
    run r;
    memset(&r, 0, sizeof(r));
    query_options eff;
    effective_options(o, &eff, &r);
    o = &eff;
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
    r.agg_passes = agg_passes(&r, o, n_workers, bytes_read);
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
    if (err == CF_ERR_RANGE && r.series) {
        fprintf(errout, "cloudflow query: the time series would have more than %u bins: give a longer --interval "
                        "or a -t window\n", QUERY_SERIES_MAX_BINS);
        err = CF_ERR_USAGE;
    }
    if (err)
        goto out;
    if (r.series) {
        err = finish_series(&r, w, n_workers, out, errout, series, bytes_read,
                            (double)(cf_time_mono_ns() - t0) / 1e9);
        if (!err && w[0].tot.corrupt)
            err = CF_ERR_CORRUPT;
        goto out;
    }
    for (unsigned i = 0; i < (r.partitioned ? n_workers : 1); i++)
        untracked += w[i].agg.untracked + w[i].agg4.untracked;
    double wall = (double)(cf_time_mono_ns() - t0) / 1e9;
    (void)c0;
    err = report(&r, w, n_workers, out, any, bytes_read, wall);
    for (size_t t = 0; t < r.n_tables; t++) /* a merged table holds the untracked flows of every worker */
        for (unsigned i = 0; i < (r.stat_merged[t] ? 1 : n_workers); i++)
            untracked += w[i].tables[t].untracked + w[i].tables4[t].untracked;
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
    if (out) /* NULL for query_series_run() */
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
    query_printer_free(&r.printer);
    query_filter_free(r.filter);
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
    return err;
}

cf_err query_run(const query_options *o, FILE *out, FILE *errout, query_result *res)
{
    return execute(o, out, errout, res, NULL);
}

cf_err query_series_run(const query_options *o, query_series *out, FILE *errout, query_result *res)
{
    if (!o->interval_ms) {
        fprintf(errout, "cloudflow query: the time series needs an interval\n");
        if (res)
            memset(res, 0, sizeof(*res));
        return CF_ERR_USAGE;
    }
    query_series s;
    memset(&s, 0, sizeof(s));
    cf_err err = execute(o, NULL, errout, res, &s);
    if (err == CF_OK || err == CF_ERR_CORRUPT)
        *out = s;
    else
        query_series_free(&s);
    return err;
}
