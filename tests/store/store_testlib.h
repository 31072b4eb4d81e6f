/*
 * tests/store/store_testlib.h - helpers shared by the store tests: random
 * flow records covering every registry field, and whole-segment readers.
 */
#ifndef CF_STORE_TESTLIB_H
#define CF_STORE_TESTLIB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flow/flow.h"
#include "store/store.h"

/* Deterministic generator state. */
typedef struct st_rng {
    uint64_t s;
} st_rng;

uint64_t st_rand(st_rng *r);

/* A record with every field random (extremes included, IPv4 or IPv6,
 * 48-bit MACs) and last_ms = last. */
void st_random_record(st_rng *r, uint64_t last, flow_record *out);

/* Fills n records with last_ms spread over [from, to). */
void st_random_records(st_rng *r, uint64_t from, uint64_t to, flow_record *out, size_t n);

/* Reads every block of a segment into a malloc'ed array (*out, *n).
 * Returns CF_OK or the first error of open/next/records; counts blocks that
 * were CF_ERR_CORRUPT in *n_corrupt (when not NULL) and goes on past them. */
cf_err st_read_all(const char *path, flow_record **out, size_t *n, size_t *n_corrupt, bool *torn);

/* Number of records in every segment under dir (store_list + st_read_all). */
size_t st_count_dir(const char *dir, size_t *n_segments);

/* Options for tests: defaults, codec as given, small blocks. */
void st_options(store_options *o, store_codec codec, uint32_t block_records);

/* Paths of the segment files under dir, sorted (store_list). */
size_t st_list(const char *dir, store_segment **segs);

#endif
