/*
 * query/bidir.h - internal: nfdump's bidirectional aggregation (-b, -B).
 *
 * Where it sits: a variant of the -a aggregation of aggregate.c.  The scan
 * (engine.c) counts the selected rows of a block with
 * query_count_agg_bidir() instead of the plain 5-tuple; the report prints
 * each aggregated record through query_bidir_record().
 *
 * How: a TCP or UDP flow and its reverse share one key of the worker's -A
 * table (run.agg_key_len bytes, the 5-tuple layout of -a): the 5-tuple with
 * the smaller (address, port) end first.  Other protocols keep their own
 * direction (nfdump only pairs TCP and UDP).  The entry's counters hold the
 * flows, the packets and bytes of both directions and the time span; the
 * table's extra bytes (query_table_set_extra) hold a query_bidir_ext: the
 * orientation of the first flow read (the record's orientation, as in
 * nfdump, whose hash keeps the first flow's record), the out packets and
 * bytes (flows against that orientation), the TCP flags ORed over the flows
 * along it and the first flow's ToS.  The orders of -O (packets, bytes,
 * pps, bps, bpp) so work on in + out, as nfdump's.
 *
 * Partitions and passes: the key does not depend on the direction, so both
 * directions fall into the same worker partition; a worker reads the
 * segments in order, so "the first flow read" is the same for any number of
 * workers and passes.  Saved pass tops (query_save_pass_top) keep the
 * query_bidir_ext after each key (QUERY_BIDIR_EXT_LEN more bytes).
 *
 * Thread safety: query_count_agg_bidir() touches only its worker.
 */
#ifndef CF_QUERY_BIDIR_H
#define CF_QUERY_BIDIR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "flow/flow.h"
#include "query/agg.h"
#include "query/query.h"

/* The bidirectional counters of one aggregated record. */
typedef struct query_bidir_ext {
    uint64_t out_packets; /* packets of the flows against the record's orientation */
    uint64_t out_bytes;   /* their bytes */
    uint8_t flags;        /* TCP flags ORed over the flows along the orientation (what nfdump prints) */
    uint8_t tos;          /* ToS of the first flow read */
    uint8_t rev;          /* 1: the first flow ran from the key's second end to its first */
    uint8_t pad[5];
} query_bidir_ext;

#define QUERY_BIDIR_EXT_LEN sizeof(query_bidir_ext)

struct worker;

/* Checks the options of -b / -B (o->bidir set): aggregation by the 5-tuple
 * (no -A keys), no -s (n_rec: -s record tables).  Adds the columns the
 * counting reads (TCP flags, ToS) to *mask.  CF_ERR_USAGE with a message in
 * msg (len bytes); *mask untouched then. */
cf_err query_bidir_plan(const query_options *o, size_t n_rec, uint64_t *mask, char *msg, size_t len);

/* Counts the n_sel selected rows (w->idx) of the decoded columns into w's
 * -A table (its own partition only when the run is partitioned). */
void query_count_agg_bidir(struct worker *w, const void *const *cols, size_t n_sel);

/* Does nfdump's -B turn a record of this protocol and these ports around
 * (TCP, UDP; src < 1024 <= dst, src < 32768 <= dst or src < 49152 <= dst)? */
bool query_bidir_need_swap(uint8_t proto, uint16_t src_port, uint16_t dst_port);

/*
 * Fills rec (whose 5-tuple agg_key_decode set from the key, with the key's
 * orientation) as the record to print: turned to the first flow's
 * orientation, in packets/bytes in rec->packets/bytes, flags and ToS set,
 * then, for QUERY_BIDIR_GUESS, turned client -> server when
 * query_bidir_need_swap() says so (in and out exchanged).  c holds the
 * entry's counters (rec's times and counters are taken from it); *out_packets
 * and *out_bytes receive the out counters.
 */
void query_bidir_record(query_bidir mode, const query_counts *c, const query_bidir_ext *x, flow_record *rec,
                        uint64_t *out_packets, uint64_t *out_bytes);

#endif
