/*
 * collect/stats.h - the collector's statistics: totals, per exporter, and
 * the stats file DATADIR/stats.tsv.
 *
 * Where it sits: the pipeline (collect/pipeline.h) takes snapshots of its
 * counters; this module formats them as a log line and as the stats file,
 * and reads the file back for `cloudflow stats`.
 *
 * The stats file, version 1: UTF-8 text, tab-separated, one header line
 * "scope\tcounter\tvalue" then one line per counter:
 *
 *   scope     "total" for the collector as a whole, or the exporter as
 *             ADDR:PORT (IPv4) / [ADDR]:PORT (IPv6), ADDR as in flow records
 *   counter   a name from the tables below
 *   value     an unsigned decimal integer
 *
 *   total counters
 *     version               format version of this file (1)
 *     time_ms               when the file was written (ms since the epoch)
 *     started_ms            when the collector started
 *     datagrams             export packets received (all exporters)
 *     datagram_bytes        their UDP payload bytes
 *     exporters             exporters in the table
 *     exporter_limit_drops  packets dropped because the table was full (max-exporters)
 *     records               flow records decoded
 *     queue_drop_batches    batches dropped because the writer queue was full
 *     queue_drop_records    records in them
 *     store_records         records handed to the store
 *     store_written         records in blocks written to disk
 *     store_lost            records the store could not write (I/O error, disk full)
 *     store_write_errors    failed writes
 *     store_segments_closed segments closed (sealed)
 *     kernel_drops          datagrams the kernel dropped on our sockets (SO_RXQ_OVFL)
 *     lost_sequence         records missing according to sequence numbers (sum of exporters)
 *     malformed_<reason>    bad packets by decode_reason_name() (sum of exporters)
 *     templates_loaded      exporters whose saved v9/IPFIX templates were loaded
 *     templates_load_errors template files unreadable or corrupt (ignored)
 *     templates_saved       template files written (DATADIR/.templates/)
 *     templates_save_errors template files that could not be written
 *     counters_received     sFlow interface counter samples decoded
 *     counters_stored       ... written to the counter store
 *     counters_queue_drops  ... dropped because the counter queue was full
 *     counters_lost         ... the counter store could not write
 *     retention_segments    segments removed by retention (age or size)
 *     retention_bytes       their bytes
 *     refused               datagrams / TCP messages refused by the allow-list
 *     ring_full_waits       times a receive thread paused for a full ring
 *     forwarded             datagrams forwarded (counted per target)
 *     forward_errors        forwards that failed (per target)
 *     tcp_connections       IPFIX-over-TCP connections accepted
 *     tcp_messages          IPFIX messages received over TCP
 *     tcp_bad_streams       TCP connections closed for a bad message header
 *     <template counter>    sum over exporters of each decode_tpl_stats counter
 *     sflow_<counter>       sum over exporters of each decode_sflow_stats counter
 *
 *   exporter counters
 *     packets, bytes, records, lost_sequence, seq_resets,
 *     malformed_<reason> (one per decode_reason), last_seen_ms,
 *     sampling (last sampling interval announced; 0: none);
 *     only for an exporter with a non-zero one among them: every
 *     decode_tpl_stats counter under its member name (templates_added,
 *     unknown_template, pending_decoded, ...) and every decode_sflow_stats
 *     counter as sflow_<member> (sflow_drops, sflow_unknown_samples, ...);
 *     a missing counter reads as 0
 *
 * Readers must ignore counters they do not know (later versions add some).
 * The file is replaced atomically (written to stats.tsv.tmp, then renamed).
 *
 * Thread safety: the functions work on caller-owned values only.
 */
#ifndef CF_COLLECT_STATS_H
#define CF_COLLECT_STATS_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "decode/decode.h"

#define COLLECT_STATS_VERSION 1
#define COLLECT_STATS_FILE "stats.tsv"

/* Counters of the collector as a whole. */
typedef struct collect_totals {
    uint64_t version;               /* COLLECT_STATS_VERSION */
    uint64_t time_ms;               /* when the snapshot was taken */
    uint64_t started_ms;            /* when the pipeline was opened */
    uint64_t datagrams;             /* export packets received */
    uint64_t datagram_bytes;        /* their bytes */
    uint64_t exporters;             /* exporters in the table */
    uint64_t exporter_limit_drops;  /* packets of exporters beyond max-exporters */
    uint64_t records;               /* records decoded */
    uint64_t queue_drop_batches;    /* batches dropped, queue full */
    uint64_t queue_drop_records;    /* records in those batches */
    uint64_t store_records;         /* records appended to the store */
    uint64_t store_written;         /* records written to disk */
    uint64_t store_lost;            /* records the store failed to write */
    uint64_t store_write_errors;    /* failed writes */
    uint64_t store_segments_closed; /* segments closed */
    uint64_t kernel_drops;          /* kernel socket drops (SO_RXQ_OVFL) */
    uint64_t lost_sequence;         /* sum over exporters */
    uint64_t malformed[DECODE_N_REASONS]; /* sum over exporters, by reason */
    uint64_t templates_loaded;      /* exporters whose saved templates were loaded */
    uint64_t templates_load_errors; /* template files unreadable or corrupt (ignored) */
    uint64_t templates_saved;       /* template files written */
    uint64_t templates_save_errors; /* template files that could not be written */
    uint64_t names_loaded;          /* exporters whose saved names were loaded */
    uint64_t names_load_errors;     /* names files unreadable or corrupt (ignored) */
    uint64_t names_saved;           /* names files written */
    uint64_t names_save_errors;     /* names files that could not be written */
    uint64_t counters_received;     /* sFlow interface counter samples decoded */
    uint64_t counters_stored;       /* ... written to the counter store */
    uint64_t counters_queue_drops;  /* ... dropped: counter queue full */
    uint64_t counters_lost;         /* ... the counter store could not write */
    uint64_t retention_segments;    /* segments removed by retention (age or size) */
    uint64_t retention_bytes;       /* their bytes */
    uint64_t refused;               /* datagrams / TCP messages refused by the allow-list */
    uint64_t ring_full_waits;       /* times a receive thread paused for a full ring */
    uint64_t forwarded;             /* datagrams forwarded (per target) */
    uint64_t forward_errors;        /* forwards that failed (per target) */
    uint64_t tcp_connections;       /* IPFIX-over-TCP connections accepted */
    uint64_t tcp_messages;          /* IPFIX messages received over TCP */
    uint64_t tcp_bad_streams;       /* TCP connections closed for a bad message header */
    uint64_t rss_bytes;             /* the collector's resident memory when the snapshot was taken */
    uint64_t rss_peak_bytes;        /* its highest resident memory since start */
    decode_tpl_stats tpl;           /* sum over exporters */
    decode_sflow_stats sflow;       /* sum over exporters */
} collect_totals;

/* The listener's counters (collect/listener.h), as the pipeline keeps them
 * for its snapshots (collect_pipeline_set_listener_counts). */
typedef struct collect_listener_counts {
    uint64_t kernel_drops;    /* sum over sockets of SO_RXQ_OVFL */
    uint64_t refused;         /* refused by the allow-list */
    uint64_t ring_full_waits; /* receive thread paused for a full ring */
    uint64_t forwarded;       /* datagrams forwarded (per target) */
    uint64_t forward_errors;  /* forwards that failed */
    uint64_t tcp_connections; /* TCP connections accepted */
    uint64_t tcp_messages;    /* IPFIX messages over TCP */
    uint64_t tcp_bad_streams; /* TCP connections closed for a bad header */
} collect_listener_counts;

/* One exporter's counters. */
typedef struct collect_exporter_stats {
    uint8_t addr[16];  /* as in flow_record */
    uint16_t port;     /* UDP source port */
    decode_stats s;    /* the decoder's counters */
    decode_tpl_stats tpl;       /* v9/IPFIX template machinery */
    decode_sflow_stats sflow;   /* sFlow */
} collect_exporter_stats;

/* Fills t->rss_bytes and t->rss_peak_bytes from /proc/self/statm and
 * getrusage(); left 0 where the system does not tell. */
void collect_totals_memory(collect_totals *t);

/* Adds the tpl and sflow counters of e to the sums in t. */
void collect_totals_add(collect_totals *t, const collect_exporter_stats *e);

/* A snapshot: totals plus every exporter.  exporters is malloc'ed. */
typedef struct collect_snapshot {
    collect_totals totals;
    collect_exporter_stats *exporters;
    size_t n_exporters;
} collect_snapshot;

/* Frees s->exporters and zeroes *s. */
void collect_snapshot_free(collect_snapshot *s);

/* "ADDR:PORT" or "[ADDR]:PORT" into buf (len >= 56). */
void collect_exporter_name(const uint8_t addr[16], uint16_t port, char *buf, size_t len);

/* Writes s in the stats file format to out.  CF_ERR_IO on a write error. */
cf_err collect_stats_print(const collect_snapshot *s, FILE *out);

/* Writes s to path atomically (path.tmp, fsync-free rename).  CF_ERR_IO
 * (the old file stays as it was; the tmp file is removed). */
cf_err collect_stats_write(const char *path, const collect_snapshot *s);

/*
 * Reads a stats file.  CF_ERR_IO when it cannot be opened; CF_ERR_CORRUPT
 * when a line is not "scope<TAB>counter<TAB>number" or the header is
 * missing (line number in errbuf).  Unknown counters are skipped.  *out
 * (collect_snapshot_free() it) untouched on failure.
 */
cf_err collect_stats_read(const char *path, collect_snapshot *out, char *errbuf, size_t errlen);

/* Logs one line summarising s at INFO level, starting with what ("stats", "final stats"). */
void collect_stats_log(const collect_snapshot *s, const char *what);

#endif
