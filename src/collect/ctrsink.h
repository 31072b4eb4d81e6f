/*
 * collect/ctrsink.h - sFlow interface counter samples from the receive
 * thread to the counter store (store/counters.h), through the writer thread.
 *
 * Where it sits: the pipeline registers a counter sink on every exporter
 * (decode_set_counter_sink); the sink calls collect_ctrsink_push(), which
 * converts the sample into a counters_record and puts it in a bounded queue
 * (a mutex held for a copy; never a disk access).  The pipeline's writer
 * thread calls collect_ctrsink_drain(), which appends the queued records
 * to DATADIR/<source>/counters/... with one counters_writer per source.
 *
 * Full queue: the sample is dropped and counted (queue_drops), unless
 * block_when_full (import), where the producer waits for the writer.
 *
 * Threads: push from the one producer thread; drain from the one writer
 * thread; counts from any thread; close after both stopped.
 */
#ifndef CF_COLLECT_CTRSINK_H
#define CF_COLLECT_CTRSINK_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "decode/decode.h"

#define COLLECT_CTR_QUEUE 4096 /* samples queued between the threads */

typedef struct collect_ctrsink collect_ctrsink;

/* Prepares the queue and a counters_writer for each of the n_sources
 * source names (DATADIR/<name>).  CF_ERR_NOMEM, CF_ERR_USAGE (path too long). */
cf_err collect_ctrsink_open(const char *data_dir, const char *const *sources, size_t n_sources,
                            int block_when_full, collect_ctrsink **out);

/* Queues sample c of source (index into sources). */
void collect_ctrsink_push(collect_ctrsink *q, uint32_t source, const decode_counters *c);

/* Writes every queued sample (writer thread). */
void collect_ctrsink_drain(collect_ctrsink *q);

typedef struct collect_ctr_counts {
    uint64_t received;    /* samples pushed */
    uint64_t stored;      /* written to disk */
    uint64_t queue_drops; /* dropped: queue full */
    uint64_t lost;        /* the store could not write them */
} collect_ctr_counts;
void collect_ctrsink_counts(collect_ctrsink *q, collect_ctr_counts *out);

/* Drains, closes the writers (fsync), frees.  CF_ERR_IO when a close failed.
 * NULL is a no-op. */
cf_err collect_ctrsink_close(collect_ctrsink *q);

#endif
