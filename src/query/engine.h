/*
 * query/engine.h - internal: state shared by the scan (engine.c) and the
 * report printers (report.c).
 */
#ifndef CF_QUERY_ENGINE_H
#define CF_QUERY_ENGINE_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "flow/flow.h"
#include "query/agg.h"
#include "query/query.h"

/* Description of one -s element. */
typedef struct query_elem_def {
    const char *name;    /* as on the command line */
    const char *title;   /* "Src IP Addr" in "Top 10 Src IP Addr ordered by bytes:" */
    flow_field_id f1;    /* first field counted */
    flow_field_id f2;    /* second field counted (0: none) */
    bool zero_second;    /* count a zero value as second key (MACs not stored) */
    bool is_addr;        /* key is a 16-byte address */
} query_elem_def;

const query_elem_def *query_elem_get(query_elem e);

/* Totals of the flows that matched, and of the scan. */
typedef struct query_totals {
    uint64_t flows, packets, bytes;
    uint64_t first, last;          /* min first / max last of matched flows (first = UINT64_MAX: none) */
    uint64_t by_proto[4][3];       /* tcp, udp, icmp, other x flows, packets, bytes (for -I) */
    uint64_t win_first, win_last;  /* min first / max last of every block listed (time window line) */
    uint64_t processed, blocks_read, blocks_skipped, corrupt;
} query_totals;

void query_totals_init(query_totals *t);
void query_totals_merge(query_totals *dst, const query_totals *src);

/* One row of a -s table: the key (16-byte address, or a value in the
 * first 8 bytes) and its counters. */
typedef struct query_row {
    uint8_t key[16];
    query_counts c;
    uint64_t v; /* the order value */
} query_row;

/* report.c: prints the table of rows (already in order, at most -n). */
void query_report_stat(FILE *out, const query_options *o, query_elem e, query_order order,
                       const query_row *rows, size_t n_rows, const query_totals *tot);
void query_report_summary(FILE *out, const query_options *o, const query_totals *tot, uint64_t bytes_read,
                          double wall_s);
void query_report_info(FILE *out, const query_totals *tot);
const char *query_order_name(query_order o);

#endif
