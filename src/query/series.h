/*
 * query/series.h - time series of stored flows: flows, packets and bytes
 * per fixed interval (`cloudflow query --interval 5m`), in total and split
 * by protocol (tcp, udp, icmp, other), as nfsen's graphs show them.
 *
 * Where it sits: beside query_run() (query.h), on the same engine: the
 * filter, the -t window and the inputs of query_options apply, blocks are
 * skipped by their min/max, and only the first, last, packets, bytes and
 * proto columns (plus the filter's) are decoded, on the worker threads.  The
 * web front end calls query_series_run() and draws the bins; the CLI prints
 * them with query_series_print().
 *
 * Placing a flow in time:
 *   - a flow counts in the bin of its first-seen time (flows, packets and
 *     bytes);
 *   - with `spread`, its packets and bytes are shared over the bins that
 *     [first, last] overlaps, in proportion to the milliseconds of the flow
 *     in each bin (integer shares that add up exactly to the flow's packets
 *     and bytes; the flow itself still counts once, in the first bin).
 * Bins are aligned to multiples of the interval since the Unix epoch, i.e.
 * in UTC (5m bins start at :00, :05 ...; 1d bins at midnight UTC).
 *
 * Range: the bins from the one holding -t's FROM to the one holding TO - 1 ms
 * (when -t is given), extended to every bin that received a flow; without -t
 * from the first to the last bin that received a flow.  Bins in between
 * without flows are present with zero counters.  At most
 * QUERY_SERIES_MAX_BINS bins.
 *
 * Memory: the caller owns *out after success and frees it with
 * query_series_free().  Thread safety: as query_run().
 */
#ifndef CF_QUERY_SERIES_H
#define CF_QUERY_SERIES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "query/query.h"

/* Protocol classes of query_bin.proto (the classes of -I). */
enum { QUERY_PROTO_TCP = 0, QUERY_PROTO_UDP = 1, QUERY_PROTO_ICMP = 2 /* ICMP and ICMPv6 */, QUERY_PROTO_OTHER = 3 };
/* Counters of one class. */
enum { QUERY_CNT_FLOWS = 0, QUERY_CNT_PACKETS = 1, QUERY_CNT_BYTES = 2 };

#define QUERY_SERIES_MAX_BINS (1u << 20)

/* One interval. */
typedef struct query_bin {
    uint64_t start_ms;       /* start of the bin (ms since the epoch, a multiple of the interval) */
    uint64_t flows, packets, bytes;
    uint64_t proto[4][3];    /* [QUERY_PROTO_*][QUERY_CNT_*]; the four classes add up to the totals */
} query_bin;

typedef struct query_series {
    uint64_t interval_ms;    /* bin width */
    bool spread;             /* packets and bytes were spread over [first, last] */
    size_t n_bins;
    query_bin *bins;         /* n_bins bins in time order, consecutive (malloc'ed; NULL when n_bins is 0) */
    query_bin total;         /* sums over all bins (start_ms: start of the first bin) */
} query_series;

/*
 * Computes the time series of the flows selected by o (paths, from_ms/to_ms,
 * filter, n_threads; the listing, -s and -A options are ignored) in bins of
 * o->interval_ms (> 0), spreading when o->spread.  Messages (bad filter,
 * corrupt blocks, too many bins) go to errout.  Returns
 *   CF_OK           *out filled;
 *   CF_ERR_USAGE    bad filter, interval 0, or more than QUERY_SERIES_MAX_BINS
 *                   bins (message written); *out untouched;
 *   CF_ERR_CORRUPT  *out filled, but corrupt blocks were skipped (reported);
 *   CF_ERR_NOT_FOUND, CF_ERR_IO, CF_ERR_NOMEM: *out untouched.
 * *res (may be NULL) as query_run() fills it.
 */
cf_err query_series_run(const query_options *o, query_series *out, FILE *errout, query_result *res);

/* Frees the bins; s stays valid (empty).  NULL is a no-op. */
void query_series_free(query_series *s);

/*
 * Prints s in o->format: QUERY_OUT_CSV (header, one row per bin),
 * QUERY_OUT_JSON / QUERY_OUT_NDJSON (an array of objects / one object per
 * line), otherwise a table (numbers scaled unless o->plain_numbers; no
 * header with o->quiet).  CF_ERR_IO when writing fails.
 */
cf_err query_series_print(const query_series *s, const query_options *o, FILE *out);

#endif
