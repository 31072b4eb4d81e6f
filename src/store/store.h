/*
 * store/store.h - the embedded flow store: segment writer and reader.
 *
 * Where it sits: the collector's writer thread appends flow records; the
 * query engine reads them back, column by column.  The store knows nothing
 * of export protocols; it knows flow_record and the field registry
 * (flow/flow.h), and stores every registry field as one column.
 *
 * On disk (docs/FORMAT.md has the byte layout):
 *   DATADIR/<source>/YYYY/MM/DD/cf-YYYYMMDDhhmm.seg   (suffix -N when a
 *   window is reopened after it was closed).  A segment holds the flows whose
 *   `last` time falls in its window [start, start + rotate_s); it is a header
 *   followed by self-describing column blocks, each with its own checksum and
 *   per-column minimum/maximum, and a trailer once the segment is closed.
 *
 * Crash safety: a block is written with one write(2) and only whole blocks
 * are ever referenced, so after kill -9 every closed segment is intact and an
 * open one loses at most the records not yet written as a block (at most
 * flush_ms old).  Segments are fsync'ed when closed.  A segment without
 * trailer (the collector died) is readable up to its last whole block;
 * store_writer_open() seals such segments of its source (cuts a torn tail,
 * appends the trailer).  A segment being written can be read at any time.
 */
#ifndef CF_STORE_STORE_H
#define CF_STORE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"
#include "flow/batch.h"
#include "flow/flow.h"

typedef enum store_codec {
    STORE_CODEC_NONE = 0,
    STORE_CODEC_LZ4 = 1,  /* default */
    STORE_CODEC_ZSTD = 2,
} store_codec;

/* Parses "none", "lz4", "zstd" (CF_ERR_USAGE otherwise). */
cf_err store_codec_parse(const char *text, store_codec *out);
const char *store_codec_name(store_codec c);

typedef struct store_options {
    uint32_t rotate_s;      /* segment window, seconds; default 300; 60..86400 and divides 86400 */
    uint32_t flush_ms;      /* buffered records are written as a block at most this old; default 1000 */
    uint32_t block_records; /* records per block at most; default 65536, 1..262144 */
    store_codec codec;      /* default STORE_CODEC_LZ4 */
    int zstd_level;         /* default 3 */
    uint32_t max_open;      /* segments open at once per writer; default 8 (oldest closed first), 1..1024 */
} store_options;

void store_options_default(store_options *o);

/* ---- writer ------------------------------------------------------------- */

typedef struct store_writer store_writer;

typedef struct store_writer_stats {
    uint64_t records;         /* records appended */
    uint64_t records_written; /* records in blocks written to disk */
    uint64_t records_lost;    /* records that could not be written (I/O error, disk full); counted, never silent */
    uint64_t blocks;          /* blocks written */
    uint64_t bytes;           /* bytes written */
    uint64_t segments_opened;
    uint64_t segments_closed;
    uint64_t write_errors;    /* failed writes (each also logged, rate limited) */
} store_writer_stats;

/*
 * Opens a writer for one source directory (created if missing), first sealing
 * segments left open by a crash under it.  Single-threaded: one thread calls
 * every writer function.  *out is owned by the caller, freed by
 * store_writer_close().  opt NULL means the defaults.
 *
 * One writer per source: the writer holds flock() on <source_dir>/.writer.lock
 * until closed.  Returns CF_OK; CF_ERR_USAGE (an option out of range, path too
 * long); CF_ERR_IO (cannot create the directory, or another writer holds the
 * lock); CF_ERR_NOMEM.  *out is untouched on failure.
 *
 * Memory: each open segment buffers up to block_records records (about
 * 180 bytes each) until they are written as a block.
 */
cf_err store_writer_open(const char *source_dir, const store_options *opt, store_writer **out);

/* Buffers n records; writes blocks as they fill.  On an I/O error the
 * records concerned are counted in records_lost and the error is returned
 * (CF_ERR_IO, CF_ERR_NOSPACE when the disk is full, CF_ERR_NOMEM); the
 * segment is cut back to its last whole block and the writer stays usable
 * (it retries on the next block). */
cf_err store_writer_append(store_writer *w, const flow_record *recs, size_t n);

/* Column batches (flow_batch) are defined in flow/batch.h. */

/* store_writer_append() for the records of a column batch (same rules,
 * same errors); b is not changed. */
cf_err store_writer_append_batch(store_writer *w, const flow_batch *b);

/* Call at least every 100 ms: writes blocks whose oldest record is older than
 * flush_ms, and closes segments whose window ended more than rotate_s ago by
 * both the newest flow time seen and the wall clock (now_ms), or that got no
 * record for rotate_s.  The age of buffered records is measured with the
 * now_ms of the ticks (a record is stamped with the last tick's time, or the
 * open time before the first tick).  Returns the first error met (as
 * store_writer_append); every segment is still processed. */
cf_err store_writer_tick(store_writer *w, uint64_t now_ms);

/* Writes every buffered record now (used on SIGTERM and by tests). */
cf_err store_writer_flush(store_writer *w);

void store_writer_get_stats(const store_writer *w, store_writer_stats *out);

/* Flushes, closes (fsync + trailer) every open segment and frees w.  NULL is a no-op. */
cf_err store_writer_close(store_writer *w);

/* ---- listing ------------------------------------------------------------ */

typedef struct store_segment {
    char *path;               /* malloc'ed */
    uint64_t window_start_ms; /* from the file name */
    uint64_t window_end_ms;   /* exclusive */
} store_segment;

/*
 * Lists segment files under path (a segment file, a source directory or a
 * data directory holding several sources; searched recursively) whose window
 * may hold flows with `last` in [from_ms, to_ms], sorted by window start then
 * path.  *out is malloc'ed; free with store_segments_free().  Directories
 * and files whose names start with '.' are skipped; recursion stops 8 levels
 * deep.  Windows come from the names cf-YYYYMMDDhhmm[-N].seg and the file
 * header (its end); a file whose header cannot be read is listed (with an end
 * a day after its start) so that its reader reports the problem; a single
 * file path is listed whatever its name.  CF_ERR_NOT_FOUND when path does
 * not exist, CF_ERR_IO, CF_ERR_NOMEM.  Thread safe.
 */
cf_err store_list(const char *path, uint64_t from_ms, uint64_t to_ms, store_segment **out, size_t *n_out);
void store_segments_free(store_segment *segs, size_t n);

/* ---- retention ---------------------------------------------------------- */

typedef struct store_retention_stats {
    uint64_t segments_removed; /* segment files removed */
    uint64_t bytes_removed;    /* their size */
    uint64_t bytes_kept;       /* size of the segments left */
    uint64_t skipped_open;     /* due for removal but not sealed (being written): kept */
    uint64_t errors;           /* segments that could not be removed (logged) */
} store_retention_stats;

/*
 * Applies retention to one source directory: removes, oldest window first,
 * every sealed segment whose window ended more than max_age_ms before now_ms
 * (0: no age limit), then more until the segments left take at most
 * max_bytes (0: no size limit), and the day directories left empty.  A
 * segment without trailer (being written) is never removed.  Safe while a
 * writer appends to the source.  *st describes what was done.  Returns CF_OK;
 * CF_ERR_IO when a segment could not be removed (the others still were);
 * CF_ERR_NOMEM; a missing directory is not an error.
 */
cf_err store_retention_apply(const char *source_dir, uint64_t now_ms, uint64_t max_age_ms, uint64_t max_bytes,
                             store_retention_stats *st);

/* ---- reader ------------------------------------------------------------- */

typedef struct store_reader store_reader;

/* What a block header tells without decompressing anything. */
typedef struct store_block_info {
    uint32_t n_records;
    uint32_t index;      /* 0-based block number in the segment */
    uint64_t offset;     /* byte offset of the block in the file */
    uint64_t min[FLOW_FIELD_MAX_ID + 1]; /* per field id: minimum value (integer and time fields) */
    uint64_t max[FLOW_FIELD_MAX_ID + 1]; /* per field id: maximum value */
    bool has_minmax[FLOW_FIELD_MAX_ID + 1]; /* min/max present for this id */
} store_block_info;

/* Opens a segment for reading.  CF_ERR_IO, CF_ERR_VERSION or CF_ERR_CORRUPT
 * (bad header) with nothing allocated.  Single-threaded per reader; many
 * readers may read one file at once, also while it is written.  A reader
 * holds the header and directory of the current block, and reads a column's
 * stored bytes only when that column is decoded (every length is checked
 * against the file size and the format's limits first). */
cf_err store_reader_open(const char *path, store_reader **out);

/*
 * Advances to the next block and describes it in *info.  Verifies the block's
 * header checksum and its column directory, not the column payloads (each is
 * verified when decoded, see store_reader_columns).  Returns CF_OK;
 * CF_ERR_EOF after the last whole block (a torn tail of an unclosed segment is
 * treated as the end: store_reader_torn() tells); CF_ERR_CORRUPT when the
 * header or directory fails its checks: the reader then has skipped to the
 * next block that can be found, so the caller may report it and call again.
 */
cf_err store_reader_next(store_reader *r, store_block_info *info);

/* True when the segment had no trailer (still written, or its writer died). */
bool store_reader_unsealed(const store_reader *r);
/* True when the reader stopped at a partially written block. */
bool store_reader_torn(const store_reader *r);

/*
 * Decodes the columns named by field_mask (bit id set for field id) of the
 * current block.  On CF_OK, cols[id] points to n_records values of the
 * field's width (native byte order; addresses 16 bytes each) for every id in
 * the mask; the arrays belong to the reader and stay valid until the next
 * store_reader_next() or store_reader_close().  A field the block does not
 * have (older segment) reads as zeros.  Each column is read from the
 * file and its checksum verified the first time it is decoded for the block:
 * CF_ERR_CORRUPT when a column fails its checksum or does not decompress
 * (the caller reports the block; the next block can still be read), CF_ERR_IO
 * when it cannot be read,
 * CF_ERR_VERSION for a column encoding this reader does not know,
 * CF_ERR_USAGE when there is no current block, CF_ERR_NOMEM; cols is left
 * untouched on failure.  Bits of ids not in the registry are ignored.
 */
cf_err store_reader_columns(store_reader *r, uint64_t field_mask, const void *cols[FLOW_FIELD_MAX_ID + 1]);

/*
 * store_reader_columns() for the rows a query kept: every id of field_mask
 * is decoded at least at rows[0 .. n_rows) (ascending, each < n_records;
 * rows NULL: every row); cols[id] points to n_records values of which those
 * rows are valid (a column already decoded whole for the block is returned
 * whole).  Address ids in v4_mask whose block column is all IPv4-mapped
 * (store_col_is_v4 in segment_format.h) are decoded as 32-bit addresses
 * instead (uint32_t, a[12] the highest byte, a[15] the lowest): cols[id]
 * then points to those and bit id is set in *v4 (cleared for every other id
 * of field_mask).  Column checksums are verified as by store_reader_columns,
 * and the whole column is decompressed, so errors are the same;
 * CF_ERR_USAGE also for a row out of range.  Arrays valid until the next
 * call for the same block with other rows, store_reader_next() or
 * store_reader_close().
 */
cf_err store_reader_columns_rows(store_reader *r, uint64_t field_mask, const uint32_t *rows, size_t n_rows,
                                 uint64_t v4_mask, const void *cols[FLOW_FIELD_MAX_ID + 1], uint64_t *v4);

/* Decodes the whole current block into out[0 .. n_records-1]; errors as
 * store_reader_columns. */
cf_err store_reader_records(store_reader *r, flow_record *out);

const char *store_reader_path(const store_reader *r);

void store_reader_close(store_reader *r);

/* Bit for field id in a field mask. */
#define STORE_FIELD_BIT(id) (UINT64_C(1) << (id))
#define STORE_ALL_FIELDS (~UINT64_C(0))

#endif
