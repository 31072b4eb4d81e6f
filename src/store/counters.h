/*
 * store/counters.h - the interface counter store: sFlow counter samples as
 * a time series, in append-only files of fixed-size, checksummed records.
 *
 * Where it sits: beside the flow store.  The collector's writer thread
 * appends the interface counters the sFlow decoder passes to its counter
 * sink (decode_counters, converted by the pipeline into counters_record);
 * `cloudflow counters` (and later the web UI) reads them back and turns
 * consecutive samples of one interface into rates (counters_rate_compute).
 * The module knows no protocol: a record is a plain value.
 *
 * On disk (docs/FORMAT.md, "Interface counter files"):
 *   DATADIR/<source>/counters/YYYY/MM/DD/ctr-YYYYMMDD.dat
 * one file per source and UTC day of the records' time.  A file is a
 * 16-byte header then COUNTERS_RECORD_LEN-byte records, each with its own
 * CRC-32, appended in arrival order.  Version 1, big endian:
 *
 *   header                               record
 *   OFFSET SIZE MEANING                  OFFSET SIZE MEANING
 *    0      4   magic "CFCT"              0      8   time_ms (receive time)
 *    4      2   format version, 1         8     16   agent address (v4-mapped)
 *    6      2   record length, 136       24     16   exporter (UDP source)
 *    8      4   day: days since epoch    40      4   sub-agent id
 *   12      4   CRC-32 of bytes 0..11    44      4   agent uptime, ms
 *                                        48      4   counter sample sequence
 *                                        52      1   flags: 1 generic, 2 ethernet
 *                                        53      3   reserved, 0
 *                                        56      4   ifIndex
 *                                        60      4   ifType
 *                                        64      8   ifSpeed, bits/s
 *                                        72      4   ifDirection
 *                                        76      4   ifStatus
 *                                        80      8   in octets
 *                                        88      8   in packets
 *                                        96      8   out octets
 *                                       104      8   out packets
 *                                       112      4   in errors
 *                                       116      4   in discards
 *                                       120      4   out errors
 *                                       124      4   out discards
 *                                       128      4   reserved, 0
 *                                       132      4   CRC-32 of bytes 0..131
 *
 * Crash safety: records are appended whole (one write(2) per batch); a
 * torn tail (a partial last record, e.g. after kill -9) is ignored by the
 * reader and cut by the next writer that opens the file.  Files are
 * fsync'ed when closed.  A file can be read while it is written.
 *
 * Threads: a counters_writer is used by one thread (the collector's writer
 * thread); readers are independent and may run in any thread.  One writer
 * per source (the flow store's .writer.lock of the source covers it).
 */
#ifndef CF_STORE_COUNTERS_H
#define CF_STORE_COUNTERS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define COUNTERS_VERSION 1
#define COUNTERS_HEADER_LEN 16
#define COUNTERS_RECORD_LEN 136
#define COUNTERS_DIR "counters"         /* under DATADIR/<source>/ */

#define COUNTERS_F_GENERIC 1u  /* the generic interface record was present */
#define COUNTERS_F_ETHERNET 2u /* the Ethernet record was present */

/* One counter sample of one interface (running totals, not deltas). */
typedef struct counters_record {
    uint64_t time_ms;      /* receive time, ms since the epoch */
    uint8_t agent[16];     /* sFlow agent address (IPv4-mapped; zero when unknown) */
    uint8_t exporter[16];  /* UDP source address of the datagram */
    uint32_t sub_agent;    /* sub-agent id */
    uint32_t uptime_ms;    /* agent uptime when the datagram was sent */
    uint32_t sample_seq;   /* sequence number of the counter sample */
    uint8_t flags;         /* COUNTERS_F_* */
    uint32_t if_index;
    uint32_t if_type;      /* IANAifType */
    uint64_t if_speed;     /* bits per second */
    uint32_t if_direction; /* 0 unknown, 1 full-duplex, 2 half-duplex, 3 in, 4 out */
    uint32_t if_status;    /* bit 0 admin up, bit 1 oper up */
    uint64_t in_octets, in_packets, out_octets, out_packets;
    uint32_t in_errors, in_discards, out_errors, out_discards;
} counters_record;

/* Serialises r into out (COUNTERS_RECORD_LEN bytes, CRC included). */
void counters_record_encode(const counters_record *r, uint8_t *out);

/* Parses COUNTERS_RECORD_LEN bytes.  CF_OK, or CF_ERR_CORRUPT (bad CRC or
 * non-zero reserved bytes) with *out untouched. */
cf_err counters_record_decode(const uint8_t *buf, counters_record *out);

/* Serialises the header of the file of day (days since the epoch). */
void counters_header_encode(uint32_t day, uint8_t *out);

/* Parses a header.  CF_OK; CF_ERR_CORRUPT (magic, CRC, record length);
 * CF_ERR_VERSION; *day untouched on failure. */
cf_err counters_header_decode(const uint8_t *buf, size_t len, uint32_t *day);

/* ---- writer -------------------------------------------------------------- */

typedef struct counters_writer counters_writer;

typedef struct counters_writer_stats {
    uint64_t records;         /* records appended */
    uint64_t records_written; /* records written to disk */
    uint64_t records_lost;    /* records that could not be written (counted, logged) */
    uint64_t write_errors;    /* failed writes or opens */
    uint64_t files_opened;    /* day files opened (created or appended to) */
    uint64_t torn_tails;      /* partial records cut when a file was reopened */
} counters_writer_stats;

/* Prepares a writer for the source directory source_dir (DATADIR/<source>);
 * nothing is created before the first record.  CF_ERR_NOMEM, CF_ERR_USAGE
 * (path too long); *out untouched on failure.  Free with counters_writer_close(). */
cf_err counters_writer_open(const char *source_dir, counters_writer **out);

/*
 * Appends n records, each to the file of its UTC day (directories created
 * as needed; a file of another day is closed first).  Records of one day are
 * written with one write(2).  Returns CF_OK; on failure (CF_ERR_IO,
 * CF_ERR_NOSPACE, CF_ERR_CORRUPT for an existing file with a bad header,
 * which is never overwritten) the records concerned are counted in
 * records_lost, the file is cut back to its last whole record, the error
 * is logged (rate limited) and returned; the writer stays usable.
 */
cf_err counters_writer_append(counters_writer *w, const counters_record *recs, size_t n);

void counters_writer_get_stats(const counters_writer *w, counters_writer_stats *out);

/* fsyncs and closes the open file, frees w.  NULL is a no-op.  CF_ERR_IO
 * when the final fsync/close failed. */
cf_err counters_writer_close(counters_writer *w);

/* ---- listing ------------------------------------------------------------- */

/*
 * Lists the counter files under path (a file, a source directory, or a data
 * directory with several sources; searched recursively, at most 8 levels;
 * names starting with '.' skipped) named ctr-YYYYMMDD.dat whose day
 * overlaps [from_ms, to_ms], sorted by day then path.  A file path is
 * listed whatever its name.  *out is an array of malloc'ed strings
 * (counters_paths_free()).  CF_ERR_NOT_FOUND when path does not exist,
 * CF_ERR_IO, CF_ERR_NOMEM.
 */
cf_err counters_list(const char *path, uint64_t from_ms, uint64_t to_ms, char ***out, size_t *n_out);
void counters_paths_free(char **paths, size_t n);

/* ---- reader -------------------------------------------------------------- */

typedef struct counters_reader counters_reader;

/* Opens a counter file and checks its header.  CF_ERR_IO (cannot open),
 * CF_ERR_CORRUPT (short or bad header), CF_ERR_VERSION; nothing allocated
 * on failure. */
cf_err counters_reader_open(const char *path, counters_reader **out);

/* A reader over bytes in memory (buf must outlive the reader); as
 * counters_reader_open.  Used by the fuzz target and tests. */
cf_err counters_reader_open_mem(const uint8_t *buf, size_t len, counters_reader **out);

/*
 * Reads the next record into *out.  CF_OK; CF_ERR_EOF after the last whole
 * record (a partial record at the end is a torn tail: counters_reader_torn()
 * then tells); CF_ERR_CORRUPT when the record at counters_reader_offset()
 * fails its checks: it is skipped, the next call reads the one after it;
 * CF_ERR_IO on a read error.  *out untouched unless CF_OK.
 */
cf_err counters_reader_next(counters_reader *r, counters_record *out);

/* Byte offset of the record returned (or rejected) by the last next(). */
uint64_t counters_reader_offset(const counters_reader *r);
/* True when the file ended inside a record. */
bool counters_reader_torn(const counters_reader *r);
/* Day of the file header (days since the epoch). */
uint32_t counters_reader_day(const counters_reader *r);
/* The path given to open ("<memory>" for a memory reader). */
const char *counters_reader_path(const counters_reader *r);

void counters_reader_close(counters_reader *r);

/* ---- rates --------------------------------------------------------------- */

/* What happened between two consecutive samples of one interface. */
typedef enum counters_rate_status {
    COUNTERS_RATE_OK = 0,        /* rates valid */
    COUNTERS_RATE_RESET = 1,     /* counters or uptime went back (agent or interface reset) */
    COUNTERS_RATE_NO_TIME = 2,   /* no time elapsed between the samples */
} counters_rate_status;

typedef struct counters_rate {
    counters_rate_status status;
    uint64_t interval_ms; /* time between the samples */
    double in_bps, out_bps;   /* bits per second */
    double in_pps, out_pps;   /* packets per second */
    uint64_t in_errors, out_errors, in_discards, out_discards; /* increases over the interval */
} counters_rate;

/*
 * Rates between two samples prev and cur of the same interface (same agent,
 * sub-agent and ifIndex, cur after prev).  Interval: the agent uptime
 * difference when uptime grew, else the receive time difference.  Each
 * counter's increase is cur - prev; when a counter went down:
 *   - the agent restarted (uptime went back): RESET;
 *   - packets, errors, discards (sums of 32-bit counters in sFlow), and
 *     octets whose previous value fits 32 bits (agents that implement only
 *     the 32-bit ifInOctets): a 32-bit wrap, increase (cur - prev) mod 2^32;
 *   - otherwise (a 64-bit octet counter going back): RESET.
 * An octet rate above twice the interface speed (when known) after a wrap
 * is taken as a RESET too.  With RESET or NO_TIME the rates are 0.
 * Returns out->status.
 */
counters_rate_status counters_rate_compute(const counters_record *prev, const counters_record *cur,
                                           counters_rate *out);

#endif
