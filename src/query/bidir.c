/* query/bidir.c - nfdump's bidirectional aggregation (-b, -B); bidir.h says how. */
#include "query/bidir.h"

#include <assert.h>
#include <stdio.h>
#include <string.h>

#include "query/scan.h"

/* Offsets in the key: the 5-tuple layout of -a (proto, srcip, dstip, srcport, dstport). */
#define K_PROTO 0
#define K_SRC 1
#define K_DST 17
#define K_SPORT 33
#define K_DPORT 35
#define K_LEN 37

/* Prefetch distances (rows ahead) of the slot and of the entry, as aggregate.c. */
#define PF_SLOT 16
#define PF_ENTRY 8

cf_err query_bidir_plan(const query_options *o, size_t n_rec, uint64_t *mask, char *msg, size_t len)
{
    if (!o->aggregate || o->n_agg) {
        snprintf(msg, len, "-b and -B aggregate by the 5-tuple: they do not combine with -A");
        return CF_ERR_USAGE;
    }
    if (o->n_stats || n_rec) {
        snprintf(msg, len, "-b and -B do not combine with -s");
        return CF_ERR_USAGE;
    }
    *mask |= STORE_FIELD_BIT(FLOW_FIELD_TCP_FLAGS) | STORE_FIELD_BIT(FLOW_FIELD_TOS);
    return CF_OK;
}

bool query_bidir_need_swap(uint8_t proto, uint16_t sp, uint16_t dp)
{
    if (proto != 6 && proto != 17)
        return false;
    return (sp < 1024 && dp >= 1024) || (sp < 32768 && dp >= 32768) || (sp < 49152 && dp >= 49152);
}

/* Partition of a key of hash h (as aggregate.c: the upper 32 bits scaled). */
static inline unsigned key_part(uint64_t h, unsigned n_parts)
{
    return (unsigned)(((h >> 32) * n_parts) >> 32);
}

/* Builds the key of row i into key; returns whether the row runs from the
 * key's second end to its first (TCP and UDP only: the smaller end first). */
static bool build_key(const void *const *cols, size_t i, uint8_t *key)
{
    uint8_t proto = ((const uint8_t *)cols[FLOW_FIELD_PROTO])[i];
    const uint8_t *sa = (const uint8_t *)cols[FLOW_FIELD_SRC_ADDR] + 16 * i;
    const uint8_t *da = (const uint8_t *)cols[FLOW_FIELD_DST_ADDR] + 16 * i;
    uint16_t sp = (uint16_t)col_u(cols[FLOW_FIELD_SRC_PORT], 2, i);
    uint16_t dp = (uint16_t)col_u(cols[FLOW_FIELD_DST_PORT], 2, i);
    bool rev = false;
    if (proto == 6 || proto == 17) {
        int c = memcmp(sa, da, 16);
        rev = c > 0 || (c == 0 && sp > dp);
    }
    key[K_PROTO] = proto;
    memcpy(key + K_SRC, rev ? da : sa, 16);
    memcpy(key + K_DST, rev ? sa : da, 16);
    uint16_t p0 = rev ? dp : sp, p1 = rev ? sp : dp;
    memcpy(key + K_SPORT, &p0, 2);
    memcpy(key + K_DPORT, &p1, 2);
    return rev;
}

/* Adds row i (orientation rev against its key) to the entry c. */
static void add_flow(query_counts *c, bool rev, const void *const *cols, size_t i)
{
    query_bidir_ext *x = query_table_extra(c);
    uint64_t pk = ((const uint64_t *)cols[FLOW_FIELD_PACKETS])[i];
    uint64_t by = ((const uint64_t *)cols[FLOW_FIELD_BYTES])[i];
    uint64_t fs = ((const uint64_t *)cols[FLOW_FIELD_FIRST])[i];
    uint64_t ls = ((const uint64_t *)cols[FLOW_FIELD_LAST])[i];
    if (c->flows == 0) { /* the first flow read gives the record its orientation */
        c->first = fs;
        x->rev = rev;
        x->tos = ((const uint8_t *)cols[FLOW_FIELD_TOS])[i];
    }
    if (fs < c->first)
        c->first = fs;
    if (ls > c->last)
        c->last = ls;
    c->flows++;
    c->packets += pk;
    c->bytes += by;
    if (rev == (x->rev != 0)) {
        x->flags |= ((const uint8_t *)cols[FLOW_FIELD_TCP_FLAGS])[i];
    } else {
        x->out_packets += pk;
        x->out_bytes += by;
    }
}

void query_count_agg_bidir(worker *w, const void *const *cols, size_t n_sel)
{
    const run *r = w->r;
    query_table *t = &w->agg;
    if (t->extra_len != QUERY_BIDIR_EXT_LEN && query_table_set_extra(t, QUERY_BIDIR_EXT_LEN) != CF_OK) {
        t->untracked += n_sel; /* not reached: the table is empty before the first block */
        return;
    }
    size_t kl = r->agg_key_len;
    assert(kl == K_LEN); /* engine.c's default_agg: the 5-tuple of -a */
    for (size_t j = 0; j < n_sel; j++) {
        uint8_t *key = w->keys + j * kl;
        w->k64[j] = build_key(cols, w->idx[j], key);
        w->hash[j] = query_hash(key, kl);
        w->keep[j] = !r->partitioned || key_part(w->hash[j], r->n_parts) == w->part;
    }
    const uint64_t *h = w->hash;
    for (size_t j = 0; j < n_sel && j < PF_SLOT; j++)
        query_table_prefetch(t, h[j]);
    for (size_t j = 0; j < n_sel && j < PF_ENTRY; j++)
        query_table_prefetch_entry(t, h[j]);
    for (size_t j = 0; j < n_sel; j++) {
        if (j + PF_SLOT < n_sel)
            query_table_prefetch(t, h[j + PF_SLOT]);
        if (j + PF_ENTRY < n_sel)
            query_table_prefetch_entry(t, h[j + PF_ENTRY]);
        if (!w->keep[j])
            continue;
        query_counts *c = query_table_get(t, w->keys + j * kl, h[j]);
        if (!c) {
            t->untracked++;
            continue;
        }
        add_flow(c, w->k64[j] != 0, cols, w->idx[j]);
    }
}

/* Exchanges the two ends of rec (addresses and ports). */
static void swap_ends(flow_record *rec)
{
    uint8_t a[16];
    memcpy(a, rec->src_addr, 16);
    memcpy(rec->src_addr, rec->dst_addr, 16);
    memcpy(rec->dst_addr, a, 16);
    uint16_t p = rec->src_port;
    rec->src_port = rec->dst_port;
    rec->dst_port = p;
}

void query_bidir_record(query_bidir mode, const query_counts *c, const query_bidir_ext *x, flow_record *rec,
                        uint64_t *out_packets, uint64_t *out_bytes)
{
    if (x->rev)
        swap_ends(rec);
    uint64_t in_p = c->packets - x->out_packets, in_b = c->bytes - x->out_bytes;
    uint64_t out_p = x->out_packets, out_b = x->out_bytes;
    if (mode == QUERY_BIDIR_GUESS && query_bidir_need_swap(rec->proto, rec->src_port, rec->dst_port)) {
        swap_ends(rec);
        uint64_t t = in_p;
        in_p = out_p, out_p = t;
        t = in_b;
        in_b = out_b, out_b = t;
    }
    rec->first_ms = c->first;
    rec->last_ms = c->last;
    rec->packets = in_p;
    rec->bytes = in_b;
    rec->tcp_flags = x->flags;
    rec->tos = x->tos;
    *out_packets = out_p;
    *out_bytes = out_b;
}
