/*
 * query/query.h - the query engine: filter, list, aggregate and summarise
 * stored flows the way nfdump 1.7.1 does.
 *
 * Where it sits: after the store.  `cloudflow query` (src/cli/cmd_query.c)
 * fills a query_options from its command line and calls query_run(); the web
 * UI and the alert rules will call the same function with their own options
 * and an output stream of their own (a memory stream from open_memstream()).
 *
 * How a query runs (docs/QUERY.md has the details and the measured speed):
 *   1. the filter is compiled once (query/filter.h);
 *   2. the columns needed by the filter, the output format and the
 *      statistics are computed as a field mask;
 *   3. store_list() names the segments that may hold flows of the time window;
 *   4. worker threads take segments in turn; per block they first use the
 *      block's per-column min/max to skip it (time window, then
 *      query_filter_may_match), then decode only the needed columns,
 *      evaluate the filter column-wise into a selection vector and feed the
 *      selected rows to the record printer, the -s tables and the -A table;
 *   5. record listings are written in segment order then record order (the
 *      order of the files, as nfdump); per-thread hash tables are merged and
 *      the top N are chosen by partial sort.
 *
 * Memory: each aggregation table holds at most query_options.max_keys keys
 * (default QUERY_DEFAULT_MAX_KEYS).  Keys first seen when a table is full are
 * not tracked: their flows are counted in query_result.untracked_flows, a
 * warning is printed and query_run() returns CF_ERR_FULL after printing the
 * (then approximate) results.  Record listings keep at most a few segments of
 * formatted text in memory (QUERY_MAX_AHEAD segments ahead of the writer).
 *
 * Thread safety: query_run() may be called from several threads at once with
 * different options; it starts and joins its own worker threads.
 */
#ifndef CF_QUERY_QUERY_H
#define CF_QUERY_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"

/* Record output formats (-o). */
typedef enum query_format {
    QUERY_OUT_LINE = 0,     /* nfdump's "line" (the default) */
    QUERY_OUT_LONG = 1,     /* "line" plus TCP flags and ToS */
    QUERY_OUT_EXTENDED = 2, /* "long" plus pps, bps, Bpp */
    QUERY_OUT_CSV = 3,      /* nfdump 1.7.1's csv columns */
    QUERY_OUT_JSON = 4,     /* nfdump 1.7.1's json array */
    QUERY_OUT_NDJSON = 5,   /* one compact JSON object per line */
    QUERY_OUT_NULL = 6,     /* no records, only the summary */
    QUERY_OUT_FMT = 7,      /* user format with nfdump % tags (query_options.fmt) */
    QUERY_OUT_BILINE = 8,   /* nfdump's "biline": line with out/in packets and bytes (default of -b) */
    QUERY_OUT_BILONG = 9,   /* nfdump's "bilong": biline plus TCP flags and ToS */
} query_format;

/* -b / -B: bidirectional aggregation (docs/QUERY.md, "-b and -B"). */
typedef enum query_bidir {
    QUERY_BIDIR_NONE = 0,
    QUERY_BIDIR_ON = 1,    /* -b: a flow and its reverse (TCP, UDP) are one record, oriented as the
                              first flow read, with in (that direction) and out counters */
    QUERY_BIDIR_GUESS = 2, /* -B: as -b, then printed client -> server when the ports tell (nfdump's rule) */
} query_bidir;

/* Orders of -s and -O. */
typedef enum query_order {
    QUERY_ORDER_FLOWS = 0,
    QUERY_ORDER_PACKETS = 1,
    QUERY_ORDER_BYTES = 2,
    QUERY_ORDER_PPS = 3,
    QUERY_ORDER_BPS = 4,
    QUERY_ORDER_BPP = 5,
    QUERY_ORDER_TSTART = 6, /* -O only: first seen, ascending */
    QUERY_ORDER_TEND = 7,   /* -O only: last seen, ascending */
    QUERY_ORDER_NONE = 8,   /* -O not given */
} query_order;

/* The elements of -s (statistics of one flow element). */
typedef enum query_elem {
    QUERY_EL_SRCIP, QUERY_EL_DSTIP, QUERY_EL_IP,
    QUERY_EL_SRCPORT, QUERY_EL_DSTPORT, QUERY_EL_PORT,
    QUERY_EL_PROTO,
    QUERY_EL_SRCAS, QUERY_EL_DSTAS, QUERY_EL_AS,
    QUERY_EL_INIF, QUERY_EL_OUTIF, QUERY_EL_IF,
    QUERY_EL_SRCMASK, QUERY_EL_DSTMASK, QUERY_EL_MASK,
    QUERY_EL_SRCVLAN, QUERY_EL_DSTVLAN, QUERY_EL_VLAN,
    QUERY_EL_TOS, QUERY_EL_FLAGS,
    QUERY_EL_NHIP, QUERY_EL_NHBIP, QUERY_EL_ROUTER,
    QUERY_EL_SRCMAC, QUERY_EL_DSTMAC, QUERY_EL_EXPORTER,
    QUERY_EL_DIR,
    QUERY_EL_MPLS1, /* ... QUERY_EL_MPLS1 + 9: mpls1 .. mpls10 */
    QUERY_EL_MPLS10 = QUERY_EL_MPLS1 + 9,
    QUERY_EL_XSRCIP, QUERY_EL_XDSTIP, QUERY_EL_XSRCPORT, QUERY_EL_XDSTPORT, /* NAT (NSEL/NEL) */
    QUERY_EL_RECORD,  /* nfdump's "record": the top N aggregated flows (the 5-tuple of -a, or -A's keys) */
    QUERY_EL_COUNT_ /* number of elements */
} query_elem;

/* Parses "srcip", "dstport/flows", "ip/bytes/packets" ... into up to
 * max_out (element, order) pairs (several orders give several tables).
 * CF_ERR_USAGE for an unknown element or order; outputs untouched then. */
cf_err query_stat_parse(const char *text, query_elem *elem_out, query_order *orders_out, size_t max_out,
                        size_t *n_out);

/* Parses an order name for -O ("flows" ... "bpp", "tstart", "tend"). */
cf_err query_order_parse(const char *text, query_order *out);

/* The fields of -A. */
typedef enum query_agg_field {
    QUERY_AGG_PROTO, QUERY_AGG_SRCIP, QUERY_AGG_DSTIP, QUERY_AGG_SRCPORT, QUERY_AGG_DSTPORT,
    QUERY_AGG_SRCAS, QUERY_AGG_DSTAS, QUERY_AGG_INIF, QUERY_AGG_OUTIF, QUERY_AGG_SRCMASK,
    QUERY_AGG_DSTMASK, QUERY_AGG_SRCVLAN, QUERY_AGG_DSTVLAN, QUERY_AGG_TOS, QUERY_AGG_NEXT,
    QUERY_AGG_BGPNEXT, QUERY_AGG_ROUTER, QUERY_AGG_INSRCMAC, QUERY_AGG_OUTDSTMAC,
    QUERY_AGG_SRCNET, QUERY_AGG_DSTNET, QUERY_AGG_ODID,
    QUERY_AGG_COUNT_
} query_agg_field;

/* One -A element: a field, and for srcip4/N, dstip4/N, srcip6/N, dstip6/N a
 * prefix length (v4_bits / v6_bits; 32 / 128 means the whole address). */
typedef struct query_agg_key {
    query_agg_field field;
    uint8_t v4_bits; /* prefix kept of IPv4 addresses (0..32) */
    uint8_t v6_bits; /* prefix kept of IPv6 addresses (0..128) */
    bool v4_only;    /* srcip4/N, dstip4/N: flows with an IPv6 address are left out (as nfdump);
                        srcip6/N keeps IPv4 flows, all under 0.0.0.0 */
} query_agg_key;

#define QUERY_MAX_STATS 16
#define QUERY_MAX_AGG_KEYS 16
#define QUERY_MAX_PATHS 64
#define QUERY_DEFAULT_MAX_KEYS (UINT64_C(1) << 25)
#define QUERY_MAX_AHEAD 4
#define QUERY_DEFAULT_PASS_ROWS (UINT64_C(8) << 20)

/* Parses "srcip,dstip4/24,proto" into keys (at most max_out). */
cf_err query_agg_parse(const char *text, query_agg_key *out, size_t max_out, size_t *n_out);

typedef struct query_options {
    const char *paths[QUERY_MAX_PATHS]; /* files or directories (segment, source or data dir) */
    size_t n_paths;
    uint64_t from_ms, to_ms;   /* -t window; flows with first >= from and last <= to (0 / UINT64_MAX: all) */
    const char *filter;        /* filter text (NULL or "" = any) */
    query_format format;
    const char *fmt;           /* format string (without "fmt:") for QUERY_OUT_FMT */
    bool quiet;                /* -q: no header and no summary */
    bool plain_numbers;        /* -N: no scaling (1.2 M) */
    bool ipv6_long;            /* -6: full IPv6 addresses */
    bool info;                 /* -I: print the statistics lines instead of records */
    uint64_t limit;            /* -c: stop after this many matching records (0 = no limit) */
    int64_t top_n;             /* -n: rows of -s tables and ordered/aggregated listings; < 0: default */
    size_t n_stats;            /* -s tables */
    query_elem stat_elem[QUERY_MAX_STATS];
    query_order stat_order[QUERY_MAX_STATS];
    bool aggregate;            /* -a or -A */
    size_t n_agg;              /* -A keys (0 with aggregate: the 5-tuple of -a) */
    query_agg_key agg[QUERY_MAX_AGG_KEYS];
    query_order order;         /* -O (QUERY_ORDER_NONE when not given) */
    query_bidir bidir;         /* -b / -B: needs aggregate with n_agg 0 and no -s (else CF_ERR_USAGE) */
    unsigned n_threads;        /* worker threads (0 = number of online CPUs) */
    uint64_t max_keys;         /* keys per aggregation table (0 = QUERY_DEFAULT_MAX_KEYS) */
    uint64_t pass_rows;        /* -A with a top N: rows per worker and pass before the data is read in
                                  several passes (0 = QUERY_DEFAULT_PASS_ROWS); bounds the memory */
    uint64_t interval_ms;      /* --interval: print a time series in bins of this width instead of records
                                  (query/series.h); 0: no time series */
    bool spread;               /* --spread: share a flow's packets and bytes over the bins of [first, last] */
} query_options;

/* Sets the defaults: everything zero/false, format line, window all,
 * top_n -1, order QUERY_ORDER_NONE. */
void query_options_init(query_options *o);

/* What a run did; filled by query_run() also on failure (as far as it got). */
typedef struct query_result {
    uint64_t flows, packets, bytes; /* flows that matched, and their sums */
    uint64_t processed;             /* records in blocks that were read */
    uint64_t blocks_read, blocks_skipped;
    uint64_t bytes_read;            /* size of the segment files opened */
    uint64_t corrupt_blocks;        /* blocks skipped because they failed their checks */
    uint64_t untracked_flows;       /* flows of keys an aggregation table had no room for */
    size_t n_segments;
} query_result;

/*
 * Runs a query: writes records, tables, the summary or the -I lines to out
 * and messages (a bad filter with a caret, a corrupt block naming the file
 * and block, a full table) to errout.  Returns
 *   CF_OK          done;
 *   CF_ERR_USAGE   bad filter or options (message written to errout, nothing to out);
 *   CF_ERR_CORRUPT the query finished but skipped corrupt blocks or segments;
 *   CF_ERR_FULL    the query finished but an aggregation table was full;
 *   CF_ERR_NOT_FOUND a path does not exist;
 *   CF_ERR_IO, CF_ERR_NOMEM on failure.
 * *res (may be NULL) is filled in every case.
 */
cf_err query_run(const query_options *o, FILE *out, FILE *errout, query_result *res);

#endif
