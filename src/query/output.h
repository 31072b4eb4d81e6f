/*
 * query/output.h - internal: the record printers (-o line, long, extended,
 * csv, json, ndjson, fmt:) writing nfdump 1.7.1's text into a query_buf.
 *
 * line/long/extended and -A listings are predefined `fmt:` strings, as in
 * nfdump; a format is compiled once into a list of literals and tags.  A
 * compiled printer is immutable and may be shared by threads.
 */
#ifndef CF_QUERY_OUTPUT_H
#define CF_QUERY_OUTPUT_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "flow/flow.h"
#include "query/qbuf.h"
#include "query/query.h"

#define QUERY_FMT_MAX_ITEMS 64

typedef struct query_fmt_item {
    int tag;            /* index into the tag table, or -1 for literal text */
    const char *lit;    /* literal text (points into the printer's copy) */
    size_t lit_len;
} query_fmt_item;

struct query_names;

typedef struct query_printer {
    query_format format;
    bool plain;          /* -N */
    bool long_v6;        /* -6 */
    bool quiet;          /* -q */
    size_t n_items;
    query_fmt_item items[QUERY_FMT_MAX_ITEMS];
    char text[1024];     /* copy of the format string */
    uint64_t fields;     /* STORE_FIELD_BIT mask of the fields the format prints */
    bool want_names;     /* the format prints names (long, extended, json, ndjson, name tags) */
    struct query_names *names; /* owned; names files of the data read, NULL when none */
} query_printer;

/* Compiles the printer for format (fmt: the format string for
 * QUERY_OUT_FMT, NULL otherwise).  CF_ERR_USAGE for an unknown tag, with a
 * message in err (len bytes). */
cf_err query_printer_init(query_printer *p, query_format format, const char *fmt, bool plain, bool long_v6,
                          bool quiet, char *err, size_t len);

/* Reads the names files of paths (query/names.h) when the format prints
 * names; with names found, long and extended get the columns %inn %outn
 * %appn and the fields they need are added to p->fields.  Problems are
 * reported on errout and never fail: names are then not shown. */
void query_printer_load_names(query_printer *p, const char *const *paths, size_t n, FILE *errout);

/* Frees what query_printer_load_names() loaded. */
void query_printer_free(query_printer *p);

/* The fmt: string nfdump uses for an -A listing of these keys. */
void query_agg_format(const query_agg_key *keys, size_t n, char *out, size_t len);

/* Header printed once before the records (nothing for csv -q, json -q, ndjson). */
void query_printer_header(const query_printer *p, query_buf *b);
/* One record; flows is the Flows column (aggregated records count > 1).
 * The out packets and bytes (%opkt %obyt, csv opkt,obyt) print 0. */
void query_printer_record(const query_printer *p, query_buf *b, const flow_record *r, uint64_t flows);
/* One bidirectional record (-b): r->packets / r->bytes are the in counters,
 * out_packets / out_bytes the counters of the reverse direction. */
void query_printer_record_bi(const query_printer *p, query_buf *b, const flow_record *r, uint64_t flows,
                             uint64_t out_packets, uint64_t out_bytes);
/* Text after the last record (json: "]"). */
void query_printer_footer(const query_printer *p, query_buf *b, bool any_record);

#endif
