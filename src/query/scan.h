/*
 * query/scan.h - internal: the state of one query run and of its worker
 * threads, shared by the scan (engine.c) and the counting (aggregate.c).
 *
 * A run is set up by query_run() and read by every worker; the fields under
 * "guarded by mu" change while workers run.  A worker belongs to its thread
 * until the threads are joined; then query_run() merges and reports.
 */
#ifndef CF_QUERY_SCAN_H
#define CF_QUERY_SCAN_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "query/agg.h"
#include "query/engine.h"
#include "query/filter.h"
#include "query/output.h"
#include "query/series.h"
#include "store/store.h"

/* Bytes of formatted text handed from a worker to the writer at once. */
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
    uint64_t filter_mask;   /* columns that select the rows (filter, -t window): decoded first, the
                               rest of mask only for blocks where a row matched; 0 when no filter */
    bool window;            /* a -t window is set */
    uint64_t v4_mask;       /* address columns every consumer of which also takes the 32-bit form of an
                               IPv4-only block (filter, -s address tables, compact -A keys) */
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
    bool stat_merged[QUERY_MAX_STATS]; /* -s table t of every worker merged into worker 0's */
    size_t n_rec;           /* -s record/ORDER tables (taken out of the -s list, counted by the -A table) */
    query_order rec_order[QUERY_MAX_STATS];
    bool series;            /* --interval: count into the workers' time bins (series.c), nothing else */
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
    uint64_t v4;            /* current block: address ids whose cols[id] holds 32-bit IPv4 addresses
                               (uint32_t, a[12] highest; see store_reader_columns_rows) */
    uint32_t *idx;          /* selected rows of the current block */
    uint8_t *sel;
    size_t cap;
    uint64_t *hash;         /* hashes of the keys of the selected rows */
    uint8_t *keys;          /* keys of the selected rows (key_cap bytes each) */
    bool *keep;             /* row kept by the -A key (srcip4/N, partition) */
    uint64_t *k64;          /* compact keys of the selected rows (query_itable) */
    uint32_t *rows;         /* scratch: row numbers of the rows add_rows_i keeps */
    size_t key_cap;         /* bytes per key in keys: max(16, -A key length) */
    query_row *topk[QUERY_MAX_STATS]; /* -s i by flows/packets/bytes on several workers: this worker's
                                         top QUERY_TOPK_ROWS(n) rows, made at the end of its scan */
    size_t n_topk[QUERY_MAX_STATS];
    bool topk_done;
    query_bin *bins;      /* --interval: bins bin_lo .. bin_lo + n_bins - 1 (bin number = ms / interval) */
    uint64_t bin_lo;
    size_t n_bins;
} worker;

/* Class of a protocol in the -I lines and the time series: tcp, udp, icmp (v4 and v6), other. */
static inline int query_proto_class(uint8_t p) { return p == 6 ? 0 : p == 17 ? 1 : (p == 1 || p == 58) ? 2 : 3; }

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

static inline unsigned width_of(flow_field_id id) { return flow_field_by_id(id)->width; }

/* Field of each -A element. */
extern const flow_field_id query_agg_field_id[QUERY_AGG_COUNT_];

/* Bytes of element k in an -A key (an address and mask for srcnet/dstnet). */
size_t query_agg_part_len(const query_agg_key *k);
/* Does -s element d count into a direct array (every field at most 16 bits)? */
bool query_elem_direct(const query_elem_def *d);
/* Rows of -s tables (stats) or -A listings by default (-n). */
size_t query_top_count(const query_options *o, bool stats);

/* Per block, over the n_sel selected rows (w->idx) of the decoded columns:
 * the totals, the -s tables, the -A table. */
void query_count_totals(worker *w, query_totals *t, const void *const *cols, size_t n_sel);
void query_count_stats(worker *w, const void *const *cols, size_t n_sel);
void query_count_agg(worker *w, const void *const *cols, size_t n_sel);
/* Totals of a block whose every row matches; cols: packets, bytes, proto (-I). */
void query_count_block_totals(worker *w, query_totals *t, const void *const *cols, const store_block_info *bi);

/* --interval (series.c): counts the selected rows of a block into w's bins;
 * CF_ERR_RANGE when the bins would exceed QUERY_SERIES_MAX_BINS, CF_ERR_NOMEM. */
cf_err query_count_series(worker *w, const void *const *cols, size_t n_sel, const store_block_info *bi);
/* After the scan: the bins of the n workers w into out (the range of series.h). */
cf_err query_series_collect(const run *r, const worker *w, unsigned n, query_series *out);

/* Rows each worker keeps of a -s table for the threshold merge (k: rows printed). */
#define QUERY_TOPK_ROWS(k) ((k) * 16 < 1024 ? 1024 : (k) * 16)
/* At the end of a worker's scan (several workers, not -A partitioned): its
 * direct arrays into its tables, then its top rows of every -s table ordered
 * by flows, packets or bytes (w->topk). */
cf_err query_worker_topk(worker *w);
/* The top k rows of -s number i (table t) over the n workers from their
 * w->topk lists, with each row's exact counters summed over the workers.
 * *exact false (nothing allocated) when the lists cannot prove the result:
 * a key outside every list could still rank (the caller merges the tables). */
cf_err query_stat_rows_topk(const worker *w, unsigned n, size_t i, size_t t, query_order order, size_t k,
                            query_row **out, size_t *n_out, bool *exact);

/* After the scan: moves the direct -s arrays into the tables (CF_ERR_NOMEM). */
cf_err query_flush_direct(worker *w);
/* agg_passes > 1, after each pass: keeps the pass's top N -A keys, empties the tables. */
cf_err query_save_pass_top(worker *w);
/* The top k rows (0: all) of -s table t of w in report order; *out malloc'ed. */
cf_err query_stat_rows(const worker *w, size_t t, query_order order, size_t k, query_row **out, size_t *n_out);
/* Prints the top k (0: all) aggregated records (-a / -A, -s record) of the workers w by order. */
cf_err query_print_aggregated(run *r, const worker *w, query_order order, size_t k, FILE *out);

#endif
