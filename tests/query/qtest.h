/*
 * tests/query/qtest.h - helpers of the query tests: build a store from
 * records, load the nfdump fixture, run `cloudflow query` in a child process.
 */
#ifndef CF_TESTS_QTEST_H
#define CF_TESTS_QTEST_H

#include <stddef.h>
#include <stdint.h>

#include "flow/flow.h"

/* Writes recs into DATADIR/src1 with blocks of block_records records;
 * returns 0 on success. */
int qt_write_store(const char *datadir, const flow_record *recs, size_t n, uint32_t block_records);

/* Loads tests/query/data/flows.txt (the fields nfdump printed of an nfcapd
 * file) into a malloc'ed array; returns the count, or -1. */
long qt_load_fixture(const char *path, flow_record **out);

/* Runs cmd_query with the words of `args` (split like sh: spaces, '...')
 * after "query", in a child process; stdout and stderr are malloc'ed into
 * *out / *err (either may be NULL).  Returns the exit status, -1 on failure. */
int qt_query(const char *args, char **out, char **err);

/* Path of a file of the test sources (CF_SOURCE_DIR/rel) into buf. */
const char *qt_source(const char *rel, char *buf, size_t len);

/* A record with the usual defaults: IPv4 src/dst, proto, ports, counters. */
flow_record qt_rec(uint64_t first_ms, uint64_t dur_ms, uint32_t src, uint32_t dst, uint8_t proto,
                   uint16_t sport, uint16_t dport, uint64_t packets, uint64_t bytes);

#endif
