/*
 * query/filter.h - nfdump's filter language, compiled to a column program.
 *
 * Where it sits: `cloudflow query` (and later the web UI and the alert rules)
 * compiles a filter expression once, asks which columns it needs, and then
 * evaluates it block by block over the columns the store reader decoded
 * (store_reader_columns), never record by record through a tree.  The same
 * compiled filter can also test one flow_record (alerting, tests).
 *
 * Language: the filter syntax of nfdump 1.7 (`man nfdump`), for every field
 * cloudflow stores; docs/FILTER.md lists what is supported.
 *
 * Ownership: query_filter_compile() returns a filter the caller frees with
 * query_filter_free().  A compiled filter is immutable: several threads may
 * evaluate it at once.
 */
#ifndef CF_QUERY_FILTER_H
#define CF_QUERY_FILTER_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "flow/flow.h"

typedef struct query_filter query_filter;

/* Where and why compilation failed. */
typedef struct query_filter_error {
    size_t pos;        /* byte offset in the text where the error was found */
    char msg[256];     /* what was found and what was expected */
} query_filter_error;

/*
 * Compiles text (NUL-terminated; an empty or blank text, or "any", matches
 * every flow).  Returns CF_OK; CF_ERR_USAGE with *err filled for a syntax or
 * value error; CF_ERR_NOMEM.
 */
cf_err query_filter_compile(const char *text, query_filter **out, query_filter_error *err);

/* Writes the text, a line with a caret under err->pos, and err->msg, as
 * `cloudflow query` prints a bad filter, into buf. */
void query_filter_error_format(const char *text, const query_filter_error *err, char *buf, size_t len);

/* The columns evaluation reads: bit STORE_FIELD_BIT(id) for each field id. */
uint64_t query_filter_fields(const query_filter *f);

/* True when the filter matches every flow (no evaluation needed). */
int query_filter_is_any(const query_filter *f);

/*
 * Evaluates the filter over n rows given as columns: cols[id] points to n
 * values of field id (width of the registry, native order, addresses 16
 * bytes), for at least every id in query_filter_fields().  Writes sel[i] = 1
 * for a matching row and 0 otherwise; returns the number of matches.
 */
size_t query_filter_eval(const query_filter *f, const void *const cols[FLOW_FIELD_MAX_ID + 1], size_t n,
                         uint8_t *sel);

/* query_filter_eval() where, for each address field id with bit
 * STORE_FIELD_BIT(id) set in v4, cols[id] holds n 32-bit IPv4 addresses
 * (uint32_t; a[12] of the mapped 16-byte form ::ffff:a.b.c.d the highest
 * byte) instead of 16-byte ones; the result is the same as with the 16-byte
 * form. */
size_t query_filter_eval_v4(const query_filter *f, const void *const cols[FLOW_FIELD_MAX_ID + 1], uint64_t v4,
                            size_t n, uint8_t *sel);

/* Tests one record. */
int query_filter_match(const query_filter *f, const flow_record *rec);

/*
 * Can a block whose fields lie within [min[id], max[id]] (has_minmax[id]
 * set) hold a match?  Returns 0 only when it certainly cannot, so the caller
 * may skip the block without decompressing it.
 */
int query_filter_may_match(const query_filter *f, const uint64_t *min, const uint64_t *max,
                           const _Bool *has_minmax);

void query_filter_free(query_filter *f);

#endif
