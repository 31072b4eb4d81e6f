/*
 * flow/batch.h - flow records held column by column.
 *
 * Where it sits: the decoders write records into a batch (straight into its
 * columns on their fast paths, a flow_record at a time otherwise), the
 * collector hands full batches to its writer thread, and the store writer
 * encodes blocks from them.  A batch is the one form in which records travel
 * from decoder to store: no row -> column work is left for the writer, and
 * only the columns that vary cross between threads.
 *
 * A column whose values all equal those of `ref` (the first record added)
 * has its bit clear in `varies` and nothing in its array; the first record
 * that differs fills it (rows so far from ref) and sets the bit.  The `last`
 * column is always filled (the writer routes records by it).
 *
 * Two ways in:
 *   flow_batch_add()  rows given as flow_record (general decoders, tests);
 *   flow_batch_run()  a run of rows that share every value of one record
 *                     except in the columns the caller names, which the
 *                     caller then writes itself (fast decoders): a row costs
 *                     only the bytes of its varying columns.
 *
 * Memory: flow_batch_init() allocates room for cap records (cap *
 * sizeof(flow_record) bytes in all); flow_batch_free() releases it;
 * flow_batch_init_mem() uses the caller's memory instead.
 * Threads: a batch is used by one thread at a time.
 */
#ifndef CF_FLOW_BATCH_H
#define CF_FLOW_BATCH_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "flow/flow.h"

/* Records a batch can hold at most. */
#define FLOW_BATCH_MAX (1u << 18)

typedef struct flow_batch {
    uint32_t n;                            /* records held */
    uint32_t cap;                          /* records each column can hold */
    uint64_t varies;                       /* bit id set: column id is filled */
    flow_record ref;                       /* first record; the value of every other column */
    uint8_t *cols[FLOW_FIELD_MAX_ID + 1];  /* per field id: cap * width bytes */
    int owned;                             /* 1: the columns were malloc'ed by flow_batch_init */
    int run_valid;                         /* run_c is the record of the last flow_batch_run */
    flow_record run_c;                     /* (its columns outside `varies` all equal ref's) */
} flow_batch;

/* Bit of field id in a column mask. */
#define FLOW_BATCH_BIT(id) (UINT64_C(1) << (id))

/* Allocates the columns of b for cap (1 .. FLOW_BATCH_MAX) records; b is
 * empty.  CF_ERR_RANGE, CF_ERR_NOMEM (b is then freeable). */
cf_err flow_batch_init(flow_batch *b, uint32_t cap);
/* Bytes flow_batch_init_mem() needs for cap records. */
size_t flow_batch_mem_size(uint32_t cap);
/* As flow_batch_init, with the columns in mem (len >= flow_batch_mem_size(cap),
 * 16-byte aligned), which must outlive b.  CF_ERR_RANGE when too small. */
cf_err flow_batch_init_mem(flow_batch *b, uint32_t cap, void *mem, size_t len);
/* Releases what flow_batch_init allocated (not caller memory). */
void flow_batch_free(flow_batch *b);
/* Empties b (keeps its memory). */
static inline void flow_batch_clear(flow_batch *b) { b->n = 0; }
/* Appends recs[0 .. m) to b; m <= b->cap - b->n (an assert). */
void flow_batch_add(flow_batch *b, const flow_record *recs, size_t m);
/* Copies record i of b out (tests, slow paths). */
void flow_batch_get(const flow_batch *b, size_t i, flow_record *out);

/*
 * Prepares rows [b->n, b->n + m) (m <= b->cap - b->n, an assert) for a run
 * of records equal to *c except in the columns of `vary` (FLOW_BATCH_BIT per
 * field id; bits of ids not in the registry are ignored):
 *   - every column of vary is filled up to row b->n and its bit set in
 *     b->varies: the caller writes its values for the m rows at
 *     b->cols[id] + row * width, for every row of the run;
 *   - every other column holds c's value at the m rows afterwards (nothing
 *     written while it equals ref's);
 * then the caller adds m to b->n.  The `last` column is filled from c when
 * it is not in vary.  Returns the first row of the run (b->n).
 */
uint32_t flow_batch_run(flow_batch *b, const flow_record *c, uint64_t vary, size_t m);

/* Adds the columns of `cols` to those the caller writes in the current run
 * (after flow_batch_run, before b->n grows): each is filled up to row b->n
 * and its bit set; the caller then writes every row of the run. */
void flow_batch_vary(flow_batch *b, uint64_t cols);

#endif
