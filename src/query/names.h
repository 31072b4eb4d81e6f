/*
 * query/names.h - internal: the application and interface names the
 * collector saved (flow/names.h files), found for the paths a query reads.
 *
 * Where the files are: the collector writes DATADIR/.names/<exporter>.names
 * (src/collect/tplstore.h).  A query is given segment files, source
 * directories (DATADIR/<source>) or data directories; for each path the
 * names directory is looked for in the path itself (when a directory) and
 * then in up to QUERY_NAMES_UP parent directories, the first found wins
 * (so DATADIR, DATADIR/<source>, DATADIR/<source>/YYYY/MM/DD and a segment
 * file in it all find DATADIR/.names).  Every *.names file of every
 * directory found is read once, in name order; names of one exporter
 * address from several files (several source ports) are merged, the first
 * file read giving a key its text.
 *
 * A file that cannot be read or fails its checks is reported on errout
 * ("cloudflow query: PATH: line N: what; names file ignored") and skipped;
 * it never fails the query.
 *
 * Ownership: query_names_load() allocates; query_names_free() frees.  A
 * loaded query_names is immutable and may be read by several threads.
 */
#ifndef CF_QUERY_NAMES_H
#define CF_QUERY_NAMES_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "flow/names.h"

#define QUERY_NAMES_UP 4 /* parents searched: a segment file's day directory up to DATADIR */

typedef struct query_names query_names;

/* Finds and reads the names files of paths (n of them).  *out is NULL
 * when no names were found.  CF_OK; CF_ERR_NOMEM. */
cf_err query_names_load(const char *const *paths, size_t n, FILE *errout, query_names **out);

/* The names of the exporter address (16 bytes), or NULL. */
const flow_names *query_names_of(const query_names *qn, const uint8_t exporter[16]);

/* True when t holds at least one interface entry. */
int query_names_has_if(const flow_names *t);

void query_names_free(query_names *qn);

#endif
