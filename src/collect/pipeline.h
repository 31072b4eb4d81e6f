/*
 * collect/pipeline.h - the one path from an export packet to the store.
 *
 * Where it sits: the UDP listeners (collect/listener.h) and `cloudflow
 * import` hand every export packet to collect_pipeline_packet(), together
 * with the address and port it came from.  The pipeline
 *
 *   1. looks the exporter up in a hash table keyed by address + source port
 *      (a decode_exporter each, created on the first packet; at most
 *      max_exporters of them: packets of further exporters are dropped and
 *      counted in exporter_limit_drops);
 *   2. decodes the packet (decode_packet) into the current batch of records;
 *   3. hands full batches over a bounded queue to ONE writer thread, which
 *      owns the store writers, calls store_writer_tick() every <= 100 ms,
 *      writes DATADIR/stats.tsv every stats_interval_ms and logs a stats line
 *      every log_interval_ms.
 *
 * When the queue is full the producer (the listener's decode thread, never
 * a receive thread) waits at most full_wait_ms for room -- a burst then
 * waits in the socket buffers instead of being lost -- then drops the batch
 * and counts it (queue_drop_*).  With block_when_full set (import from a
 * file, where waiting is right and nothing must be lost) it waits as long
 * as needed.
 *
 * Sources: every exporter maps to a source, a store directory
 * DATADIR/<source>/ with its own store_writer.  Today every exporter maps to
 * source 0, "default"; a batch holds records of one source, so mapping
 * exporters to their own sources later only changes the exporter table.
 *
 * Templates: with persist_templates, every exporter's v9/IPFIX templates are
 * loaded from DATADIR/.templates/ when it is first seen and saved there
 * (by a template saver thread of the pipeline, so that the fsync of each
 * file never holds up the writer thread) when they change, at most every
 * few seconds, and at close (collect/tplstore.h).
 *
 * Interface counters: with store_counters, every exporter's sFlow counter
 * samples go through a bounded queue (collect/ctrsink.h) to the writer
 * thread, which appends them to DATADIR/<source>/counters/
 * (store/counters.h); a full queue drops and counts (counters_queue_drops).
 *
 * Threads: collect_pipeline_packet() and collect_pipeline_push() are called
 * by ONE producer thread (the listener's decode thread, or import's main thread).
 * collect_pipeline_get_snapshot() and collect_pipeline_set_kernel_drops()
 * may be called from any thread.  collect_pipeline_close() is called once,
 * after the producer has stopped.
 */
#ifndef CF_COLLECT_PIPELINE_H
#define CF_COLLECT_PIPELINE_H

#include <stddef.h>
#include <stdint.h>

#include "collect/acl.h"
#include "collect/stats.h"
#include "core/error.h"
#include "store/store.h"

typedef struct collect_pipeline_options {
    const char *data_dir;       /* created if missing (with parents); the string is copied */
    store_options store;        /* for every source's store_writer */
    uint32_t max_exporters;     /* exporter table bound (default 4096) */
    uint32_t queue_size;        /* batches the queue holds (default 128) */
    uint32_t batch_records;     /* records per batch (default 1024) */
    uint32_t stats_interval_ms; /* stats.tsv rewritten this often (default 10000; 0: only at close) */
    uint32_t log_interval_ms;   /* stats line logged this often (default 60000; 0: only at close) */
    int block_when_full;        /* 1: the producer waits for room instead of dropping (import) */
    uint32_t full_wait_ms;      /* queue full: the producer waits at most this long for room, then
                                   drops and counts (default 1000; 0: drop at once).  After a wait
                                   timed out it drops without waiting until the writer frees room. */
    int write_stats_file;       /* 1 (default): keep DATADIR/stats.tsv; 0: never write it (import) */
    decode_config decode;       /* v9/IPFIX template cache limits of every exporter (0: defaults) */
    int persist_templates;      /* 1 (default): keep DATADIR/.templates/ (collect/tplstore.h) */
    int store_counters;         /* 1 (default): sFlow interface counters to the counter store */
    const collect_sampling_rule *sampling_rules; /* per-exporter sampling default/override,
                                 * resolved when an exporter is first seen (the array must
                                 * outlive the pipeline) */
    size_t n_sampling_rules;
    const collect_source_rule *source_rules; /* exporters -> sources DATADIR/<name> (first
                                 * match; others go to "default"); must outlive the pipeline */
    size_t n_source_rules;
    uint64_t retention_age_ms;  /* the writer removes segments older than this (0: keep) */
    uint64_t retention_bytes;   /* ... and the oldest while a source is larger (0: no limit);
                                 * checked every minute, see store_retention_apply() */
} collect_pipeline_options;

void collect_pipeline_options_default(collect_pipeline_options *o);

typedef struct collect_pipeline collect_pipeline;

/*
 * Creates the data directory, opens the store writer of source "default"
 * (which seals segments a crash left open) and starts the writer thread.
 * Returns CF_OK; CF_ERR_RANGE for a bad option; CF_ERR_IO (directory or
 * store cannot be opened; message in errbuf), CF_ERR_NOMEM, or the store's
 * error.  *out untouched on failure.
 */
cf_err collect_pipeline_open(const collect_pipeline_options *o, collect_pipeline **out, char *errbuf,
                             size_t errlen);

/*
 * Decodes one export packet (UDP payload buf, len bytes) from the exporter at
 * addr (16 bytes, IPv4-mapped for IPv4) and port, received at recv_ms.
 * Never fails and never blocks (unless block_when_full): every outcome is
 * counted (per exporter by the decoder, exporter_limit_drops, queue drops).
 * Records may stay in the current batch until it fills or
 * collect_pipeline_push() is called.
 */
void collect_pipeline_packet(collect_pipeline *p, const uint8_t addr[16], uint16_t port, const uint8_t *buf,
                             size_t len, uint64_t recv_ms);

/* Hands the current partial batch (if any) to the writer thread. */
void collect_pipeline_push(collect_pipeline *p);

/*
 * Hands the current partial batch to the writer when its first record is at
 * least max_age_ms old.  Returns the ms until it will be (so a receive loop
 * can sleep that long), or -1 when there is no partial batch.  The producer
 * calls it between packets, so records wait at most ~max_age_ms in a batch.
 */
int collect_pipeline_push_aged(collect_pipeline *p, uint32_t max_age_ms);

/* Records the total number of datagrams the kernel dropped on our sockets. */
void collect_pipeline_set_kernel_drops(collect_pipeline *p, uint64_t total);

/* Records the listener's counters (totals since it opened; kernel_drops
 * included) for the snapshots, stats.tsv and the log line.  Any thread. */
void collect_pipeline_set_listener_counts(collect_pipeline *p, const collect_listener_counts *c);

/* Copies the current statistics into *out (collect_snapshot_free() it).
 * CF_ERR_NOMEM with *out untouched. */
cf_err collect_pipeline_get_snapshot(collect_pipeline *p, collect_snapshot *out);

/*
 * Pushes the partial batch, lets the writer drain the queue, flush and close
 * every segment (store_writer_close), stops the writer thread, writes the
 * final DATADIR/stats.tsv (when write_stats_file), logs the final stats line and frees p.  When
 * final is not NULL it receives the final statistics (collect_snapshot_free()
 * it).  Returns CF_OK, or the first error closing the store or writing the
 * stats file (p is freed either way).  NULL p is a no-op.
 */
cf_err collect_pipeline_close(collect_pipeline *p, collect_snapshot *final);

#endif
