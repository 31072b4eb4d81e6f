/*
 * store/segment_format.h - internal: the on-disk layout of a segment file and
 * the functions the store's files share (column codec, block parsing).
 *
 * Not a public header: only the .c files of src/store include it.  docs/FORMAT.md is the
 * specification; this file must agree with it.  All integers on disk are
 * little-endian.  Checksums are XXH3 64-bit with seed 0.
 *
 * A segment file:
 *
 *   +-------------------+  offset 0
 *   | file header (64)  |
 *   +-------------------+  offset 64
 *   | block 0           |  block header + column directory + header checksum,
 *   | block 1           |  then the column payloads, in directory order
 *   | ...               |
 *   +-------------------+  data_end
 *   | trailer (48)      |  only once the segment is closed ("sealed")
 *   +-------------------+
 *
 * File header:
 *   OFFSET SIZE MEANING
 *   0      8    magic "CFLOWSEG"
 *   8      2    format version (STORE_FORMAT_VERSION)
 *   10     2    header length (64)
 *   12     4    rotate_s of the writer
 *   16     8    window start, ms since epoch
 *   24     8    window end (exclusive), ms
 *   32     8    creation time (wall clock), ms
 *   40     16   reserved, zero
 *   56     8    XXH3 of bytes 0..55
 *
 * Block header:
 *   OFFSET SIZE MEANING
 *   0      4    magic "CFBK"
 *   4      4    n_records (1 .. STORE_MAX_BLOCK_RECORDS)
 *   8      4    n_columns (1 .. STORE_MAX_COLUMNS)
 *   12     4    payload length (sum of the columns' stored lengths)
 *   16     4    block index in the segment
 *   20     4    reserved, zero
 *   24     48*n_columns   column directory (below)
 *   24+48n 8    XXH3 of bytes 0 .. 24+48n-1 of this block
 *   then the payload.
 *
 * Column directory entry:
 *   OFFSET SIZE MEANING
 *   0      2    field id (flow/flow.h); unknown ids are skipped by readers
 *   2      1    encoding (STORE_ENC_*)
 *   3      1    codec of the stored bytes (store_codec)
 *   4      1    width of one value in memory (1, 2, 4, 8, 16)
 *   5      1    nbytes: bytes kept per value (FOR/DELTA/REF), planes (PLANES, PLANESX),
 *               bits per code (SMALLDICT)
 *   6      2    aux: PLANES, PLANESX: mask of byte positions that vary; REF: reference
 *               field id; SMALLDICT: number of dictionary values
 *   8      4    stored length (bytes in the payload)
 *   12     4    raw length (bytes after decompression)
 *   16     8    minimum (integer fields); PLANES, PLANESX: bytes 0..7 of the pattern
 *   24     8    maximum (integer fields); PLANES, PLANESX: bytes 8..15 of the pattern
 *   32     8    base: REF: minimum of (ref - value); PLANESX: number of exception
 *               rows; other encodings: zero
 *   40     8    XXH3 of the stored bytes
 *
 * Trailer:
 *   OFFSET SIZE MEANING
 *   0      4    magic "CFTR"
 *   4      4    number of blocks
 *   8      8    number of records
 *   16     8    minimum `last` of all records (0 when none)
 *   24     8    maximum `last`
 *   32     8    data_end: offset of this trailer
 *   40     8    XXH3 of bytes 0..39
 */
#ifndef CF_STORE_SEGMENT_FORMAT_H
#define CF_STORE_SEGMENT_FORMAT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"
#include "flow/flow.h"
#include "store/store.h"

#define STORE_FORMAT_VERSION 1
#define STORE_FILE_MAGIC "CFLOWSEG"
#define STORE_FILE_HEADER_LEN 64
#define STORE_BLOCK_MAGIC 0x4b424643u   /* "CFBK" read as little-endian u32 */
#define STORE_TRAILER_MAGIC 0x52544643u /* "CFTR" */
#define STORE_BLOCK_FIXED_LEN 24
#define STORE_DIR_ENTRY_LEN 48
#define STORE_TRAILER_LEN 48

/* Sanity limits a reader checks before trusting a count from the file. */
#define STORE_MAX_BLOCK_RECORDS (1u << 18)
#define STORE_MAX_COLUMNS 256u
#define STORE_MAX_PAYLOAD (1u << 30)

/* Column encodings.  Values are stable (on disk). */
enum {
    STORE_ENC_CONST = 0,  /* every value equals min; no payload */
    STORE_ENC_FOR = 1,    /* value - min, low nbytes bytes, one byte plane each */
    STORE_ENC_DELTA = 2,  /* zigzag(value - previous), previous starts at min; planes */
    STORE_ENC_REF = 3,    /* (ref value - value) - base, planes; ref = field aux */
    STORE_ENC_PLANES = 4, /* 16-byte values: varying byte positions stored as planes */
    STORE_ENC_DICT = 5,   /* reserved: dictionary-encoded text (not yet written) */
    STORE_ENC_SMALLDICT = 6, /* at most 16 distinct values: the values, then nbytes-bit codes */
    STORE_ENC_PLANESX = 7,   /* 16-byte values: a bitmap of exception rows, PLANES of every row
                              * (aux, nbytes, pattern as PLANES), then the exceptions whole;
                              * base = number of exceptions */
};
/* Flag on FOR / DELTA / REF: "sparse" layout: a bitmap of the values whose
 * transformed value is not zero, then the planes of those values only. */
#define STORE_ENC_F_SPARSE 0x80u
#define STORE_SMALLDICT_MAX 16

/* Little-endian access to byte buffers (the compiler turns these into loads). */
static inline uint16_t store_le16(const uint8_t *p) { return (uint16_t)(p[0] | (p[1] << 8)); }
static inline uint32_t store_le32(const uint8_t *p)
{
    return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}
static inline uint64_t store_le64(const uint8_t *p)
{
    return (uint64_t)store_le32(p) | ((uint64_t)store_le32(p + 4) << 32);
}
static inline void store_put_le16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}
static inline void store_put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}
static inline void store_put_le64(uint8_t *p, uint64_t v)
{
    for (int i = 0; i < 8; i++)
        p[i] = (uint8_t)(v >> (8 * i));
}

/* One parsed column directory entry. */
typedef struct store_col_entry {
    uint16_t field_id;
    uint8_t encoding;   /* STORE_ENC_* */
    uint8_t codec;      /* store_codec */
    uint8_t width;      /* bytes per value in memory */
    uint8_t nbytes;     /* bytes per value kept, or planes stored */
    uint16_t aux;       /* plane mask (PLANES) or reference field id (REF) */
    uint32_t stored_len;
    uint32_t raw_len;
    uint64_t min, max, base;
    uint64_t checksum;
} store_col_entry;

void store_col_entry_put(uint8_t *p, const store_col_entry *e);
void store_col_entry_get(const uint8_t *p, store_col_entry *e);

/* Scratch buffers a codec user owns (writer or reader); grown on demand. */
typedef struct store_codec_ctx {
    uint8_t *raw;      /* planes before compression / after decompression */
    size_t raw_cap;
    uint64_t *tmp;     /* transformed values of one column */
    size_t tmp_cap;    /* in values */
    uint8_t *codes;    /* dictionary code of each value of one column */
    size_t codes_cap;
    void *zstd_c;      /* ZSTD_CCtx *, created on first use */
    void *zstd_d;      /* ZSTD_DCtx * */
} store_codec_ctx;

void store_codec_ctx_free(store_codec_ctx *c);

/*
 * Encodes one column of n values (vals: n values of f->width bytes, native
 * order) into out (capacity out_cap, at least store_col_bound(f, n)) and
 * fills *e (stored_len, checksum and everything else).  ref: the values of
 * the `last` field (n uint64_t) used for REF encoding of other time fields,
 * or NULL.  CF_ERR_NOMEM, or CF_ERR_FULL when out_cap is too small.
 */
cf_err store_col_encode(store_codec_ctx *cx, const flow_field *f, const void *vals, size_t n,
                        const uint64_t *ref, store_codec codec, int zstd_level, uint8_t *out,
                        size_t out_cap, store_col_entry *e);
/* Fills *e as store_col_encode() does for a column whose every value is
 * val (f->width bytes, native order): a CONST column, nothing stored. */
void store_col_encode_const(const flow_field *f, const void *val, store_col_entry *e);
/* Upper bound of the stored bytes of a column of n values of field f. */
size_t store_col_bound(const flow_field *f, size_t n);

/*
 * Checks an entry against the block (n records) and the registry field it
 * names (f, not NULL): width, encoding, lengths.  CF_ERR_CORRUPT when bad,
 * CF_ERR_VERSION for an encoding this reader does not know.
 */
cf_err store_col_validate(const store_col_entry *e, const flow_field *f, size_t n);

/*
 * Decodes a validated column whose stored bytes are src[0 .. e->stored_len)
 * into out (n values of e->width bytes).  ref: the decoded reference column
 * (uint64_t values) for REF, else NULL.  Does not verify the checksum (the
 * caller did).  CF_ERR_CORRUPT when the bytes do not decompress to raw_len.
 */
cf_err store_col_decode(store_codec_ctx *cx, const store_col_entry *e, const uint8_t *src, size_t n,
                        const uint64_t *ref, void *out);

/*
 * store_col_decode() at selected rows only: rows[0 .. n_rows) (each < n;
 * CF_ERR_USAGE otherwise) get their value at their own position in out (n
 * values of e->width bytes); the other positions of out are left as they
 * were, except for sparse DELTA columns, which are decoded whole.  rows NULL: every row (as
 * store_col_decode).  A REF column needs ref valid at the rows only.  The
 * whole column is still decompressed, so corrupt bytes are still found:
 * CF_ERR_CORRUPT as store_col_decode.
 */
cf_err store_col_decode_rows(store_codec_ctx *cx, const store_col_entry *e, const uint8_t *src, size_t n,
                             const uint64_t *ref, const uint32_t *rows, size_t n_rows, void *out);

/* Is e an address column whose every value is IPv4-mapped (::ffff:a.b.c.d),
 * as known from its entry alone: a constant, or PLANES whose varying bytes
 * are among the last four and whose pattern has the mapped prefix. */
bool store_col_is_v4(const store_col_entry *e);

/*
 * Decodes a column for which store_col_is_v4(e) holds as 32-bit addresses:
 * out[i] = a[12] << 24 | a[13] << 16 | a[14] << 8 | a[15] of the 16-byte
 * address a of row i, for i in rows[0 .. n_rows) (rows NULL: every row of
 * the n); other positions of out are untouched.  CF_ERR_USAGE when e is not
 * such a column or a row is out of range; CF_ERR_CORRUPT as store_col_decode.
 */
cf_err store_col_decode_v4(store_codec_ctx *cx, const store_col_entry *e, const uint8_t *src, size_t n,
                           const uint32_t *rows, size_t n_rows, uint32_t *out);

/* 64-bit checksum used everywhere in the format. */
uint64_t store_hash(const void *p, size_t len);

/* File header and trailer. */
void store_file_header_put(uint8_t out[STORE_FILE_HEADER_LEN], uint32_t rotate_s, uint64_t start_ms,
                           uint64_t end_ms, uint64_t created_ms);
/* CF_ERR_CORRUPT (magic, checksum, length) or CF_ERR_VERSION. */
cf_err store_file_header_check(const uint8_t *p, size_t len, uint64_t *start_ms, uint64_t *end_ms);

typedef struct store_trailer {
    uint32_t n_blocks;
    uint64_t n_records;
    uint64_t min_last, max_last;
    uint64_t data_end;
} store_trailer;

void store_trailer_put(uint8_t out[STORE_TRAILER_LEN], const store_trailer *t);
/* True when p holds a valid trailer. */
bool store_trailer_get(const uint8_t *p, store_trailer *t);

/* One block in memory, header parsed: read whole with every checksum verified
 * (store_block_load), or only its header and directory (store_block_load_header). */
typedef struct store_block_buf {
    uint8_t *data;          /* header, directory, payload (payload: store_block_load only) */
    size_t cap;
    size_t len;             /* bytes of the block in the file */
    size_t header_len;      /* 24 + 48 * n_columns + 8 */
    uint32_t n_records, n_columns, index;
    store_col_entry *ents;  /* n_columns entries */
    size_t ents_cap;
    size_t *col_off;        /* offset of each column's bytes in data */
} store_block_buf;

void store_block_buf_free(store_block_buf *b);

/*
 * Reads the block at off, which must end at or before limit, and verifies
 * its header checksum, its directory and every column checksum.  Returns
 * CF_OK; CF_ERR_EOF when the bytes at off are a trailer or the block does
 * not fit before limit (not all written yet); CF_ERR_CORRUPT when a check
 * fails (then *skip_to is the end of the block when its header was intact,
 * else 0); CF_ERR_IO; CF_ERR_NOMEM.  Nothing is allocated beyond what the
 * checked lengths justify.
 */
cf_err store_block_load(int fd, uint64_t off, uint64_t limit, store_block_buf *b, uint64_t *skip_to);

/*
 * As store_block_load(), but reads and verifies only the header and the
 * directory (every entry validated against the block and the registry): the
 * column payloads are neither read nor checksummed.  b->data then holds
 * header_len bytes; a reader fetches column i from the file at
 * off + b->col_off[i] (b->ents[i].stored_len bytes) and must compare it with
 * b->ents[i].checksum before using it.  Returns as store_block_load().
 */
cf_err store_block_load_header(int fd, uint64_t off, uint64_t limit, store_block_buf *b, uint64_t *skip_to);

/* The offset of the first block header at or after from (before limit)
 * whose header checksum is valid, or limit when there is none. */
uint64_t store_block_find(int fd, uint64_t from, uint64_t limit);

/*
 * Finds where the whole blocks of an open file end (for sealing): walks the
 * blocks from the header, checking header checksums and column checksums,
 * and stops at the first block that is incomplete or fails; fills *t
 * (data_end = end of the last good block).  Returns CF_OK, CF_ERR_IO, or the
 * header error.  *sealed tells whether the file already had a trailer.
 */
cf_err store_segment_scan(int fd, store_trailer *t, bool *sealed);

/* Segment file name for window start ms and suffix n (0: none) into buf:
 * "YYYY/MM/DD/cf-YYYYMMDDhhmm[-N].seg". */
void store_segment_relpath(uint64_t start_ms, unsigned n, char *buf, size_t len);

#endif
