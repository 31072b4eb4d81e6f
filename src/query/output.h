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

#include "flow/flow.h"
#include "query/qbuf.h"
#include "query/query.h"

#define QUERY_FMT_MAX_ITEMS 64

typedef struct query_fmt_item {
    int tag;            /* index into the tag table, or -1 for literal text */
    const char *lit;    /* literal text (points into the printer's copy) */
    size_t lit_len;
} query_fmt_item;

typedef struct query_printer {
    query_format format;
    bool plain;          /* -N */
    bool long_v6;        /* -6 */
    bool quiet;          /* -q */
    size_t n_items;
    query_fmt_item items[QUERY_FMT_MAX_ITEMS];
    char text[1024];     /* copy of the format string */
    uint64_t fields;     /* STORE_FIELD_BIT mask of the fields the format prints */
} query_printer;

/* Compiles the printer for format (fmt: the format string for
 * QUERY_OUT_FMT, NULL otherwise).  CF_ERR_USAGE for an unknown tag, with a
 * message in err (len bytes). */
cf_err query_printer_init(query_printer *p, query_format format, const char *fmt, bool plain, bool long_v6,
                          bool quiet, char *err, size_t len);

/* The fmt: string nfdump uses for an -A listing of these keys. */
void query_agg_format(const query_agg_key *keys, size_t n, char *out, size_t len);

/* Header printed once before the records (nothing for csv -q, json -q, ndjson). */
void query_printer_header(const query_printer *p, query_buf *b);
/* One record; flows is the Flows column (aggregated records count > 1).
 * first_record tells json whether a separator is needed. */
void query_printer_record(const query_printer *p, query_buf *b, const flow_record *r, uint64_t flows);
/* Text after the last record (json: "]"). */
void query_printer_footer(const query_printer *p, query_buf *b, bool any_record);

#endif
