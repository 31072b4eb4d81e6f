/*
 * store/reader.c - reads a segment block by block, decoding only the columns
 * asked for.  Works on sealed segments and on segments still being written
 * (then the file size, re-read at every block, is the limit and a block not
 * yet whole is "the end for now").
 */
#include "store/segment_format.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"

struct store_reader {
    int fd;
    char *path;
    uint64_t window_start_ms, window_end_ms;
    bool sealed;                /* the file has a valid trailer */
    uint64_t data_end;          /* sealed: offset of the trailer */
    bool torn;                  /* stopped at an incomplete block */
    uint64_t pos;               /* offset of the next block */
    uint32_t index;             /* number of the next block */
    bool have_block;            /* blk holds a verified block header and directory */
    uint64_t blk_off;           /* offset of the current block in the file */
    store_block_buf blk;        /* header and directory only: columns are read when decoded */
    uint8_t *col;               /* stored bytes of the column being decoded */
    size_t col_cap;
    int col_of[FLOW_FIELD_MAX_ID + 1]; /* directory index of each field, -1 if absent */
    uint64_t decoded;           /* field bits decoded whole for the current block */
    uint64_t decoded4;          /* field bits decoded whole as 32-bit addresses (out4) */
    uint8_t *out[FLOW_FIELD_MAX_ID + 1];
    size_t out_cap[FLOW_FIELD_MAX_ID + 1];
    uint32_t *out4[FLOW_FIELD_MAX_ID + 1]; /* 32-bit form of IPv4-only address columns */
    size_t out4_cap[FLOW_FIELD_MAX_ID + 1];
    store_codec_ctx cx;
};

static cf_err read_exact(int fd, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return r == 0 ? CF_ERR_CORRUPT : CF_ERR_IO;
        got += (size_t)r;
    }
    return CF_OK;
}

/* Looks for a trailer at the end of the file; sets sealed/data_end. */
static void detect_trailer(store_reader *r, uint64_t size)
{
    uint8_t tr[STORE_TRAILER_LEN];
    store_trailer t;
    if (size >= STORE_FILE_HEADER_LEN + STORE_TRAILER_LEN &&
        read_exact(r->fd, tr, sizeof(tr), size - STORE_TRAILER_LEN) == CF_OK && store_trailer_get(tr, &t) &&
        t.data_end == size - STORE_TRAILER_LEN) {
        r->sealed = true;
        r->data_end = t.data_end;
    }
}

cf_err store_reader_open(const char *path, store_reader **out)
{
    cf_err err = CF_OK;
    store_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return CF_ERR_NOMEM;
    r->fd = -1;
    r->path = strdup(path);
    if (!r->path) {
        err = CF_ERR_NOMEM;
        goto out;
    }
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (r->fd < 0 || fstat(r->fd, &st) != 0) {
        err = CF_ERR_IO;
        goto out;
    }
    uint8_t hdr[STORE_FILE_HEADER_LEN];
    if ((uint64_t)st.st_size < STORE_FILE_HEADER_LEN) {
        err = CF_ERR_CORRUPT;
        goto out;
    }
    err = read_exact(r->fd, hdr, sizeof(hdr), 0);
    if (!err)
        err = store_file_header_check(hdr, sizeof(hdr), &r->window_start_ms, &r->window_end_ms);
    if (err)
        goto out;
    detect_trailer(r, (uint64_t)st.st_size);
    r->pos = STORE_FILE_HEADER_LEN;
    *out = r;
    r = NULL;
out:
    store_reader_close(r);
    return err;
}

/* Fills *info from the verified current block. */
static void describe_block(store_reader *r, uint64_t offset, store_block_info *info)
{
    const store_block_buf *b = &r->blk;
    memset(info, 0, sizeof(*info));
    info->n_records = b->n_records;
    info->index = r->index;
    info->offset = offset;
    for (size_t id = 0; id <= FLOW_FIELD_MAX_ID; id++)
        r->col_of[id] = -1;
    for (uint32_t i = 0; i < b->n_columns; i++) {
        const store_col_entry *e = &b->ents[i];
        if (e->field_id > 0 && e->field_id <= FLOW_FIELD_MAX_ID && flow_field_by_id(e->field_id))
            r->col_of[e->field_id] = (int)i;
    }
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        if (f->width == 16)
            continue;
        int c = r->col_of[f->id];
        info->has_minmax[f->id] = true; /* an absent column reads as zeros: min = max = 0 */
        if (c >= 0) {
            info->min[f->id] = b->ents[c].min;
            info->max[f->id] = b->ents[c].max;
        }
    }
}

cf_err store_reader_next(store_reader *r, store_block_info *info)
{
    r->have_block = false;
    r->decoded = 0;
    r->decoded4 = 0;
    uint64_t limit = r->data_end;
    if (!r->sealed) {
        struct stat st;
        if (fstat(r->fd, &st) != 0)
            return CF_ERR_IO;
        detect_trailer(r, (uint64_t)st.st_size);
        limit = r->sealed ? r->data_end : (uint64_t)st.st_size;
    }
    if (r->pos >= limit) {
        r->torn = false;
        return CF_ERR_EOF;
    }
    uint64_t at = r->pos, skip = 0;
    cf_err err = store_block_load_header(r->fd, at, limit, &r->blk, &skip);
    if (err == CF_ERR_EOF && !r->sealed) {
        /* A block not yet (or never) whole is the end for now; a trailer
         * being written is not a torn block. */
        uint8_t magic[4];
        r->torn = !(limit - at >= 4 && read_exact(r->fd, magic, 4, at) == CF_OK &&
                    store_le32(magic) == STORE_TRAILER_MAGIC);
        return CF_ERR_EOF;
    }
    if (err == CF_ERR_EOF)
        err = CF_ERR_CORRUPT; /* a sealed segment has only whole blocks */
    if (err == CF_ERR_CORRUPT) {
        r->pos = skip ? skip : store_block_find(r->fd, at + 1, limit);
        memset(info, 0, sizeof(*info));
        info->index = r->index++;
        info->offset = at;
        return CF_ERR_CORRUPT;
    }
    if (err)
        return err;
    r->torn = false;
    r->pos = at + r->blk.len;
    r->have_block = true;
    r->blk_off = at;
    describe_block(r, at, info);
    r->index++;
    return CF_OK;
}

bool store_reader_unsealed(const store_reader *r) { return !r->sealed; }
bool store_reader_torn(const store_reader *r) { return r->torn; }
const char *store_reader_path(const store_reader *r) { return r->path; }

static cf_err out_reserve(store_reader *r, unsigned id, size_t len)
{
    if (len <= r->out_cap[id] && r->out[id])
        return CF_OK;
    uint8_t *p = realloc(r->out[id], len ? len : 1);
    if (!p)
        return CF_ERR_NOMEM;
    r->out[id] = p;
    r->out_cap[id] = len;
    return CF_OK;
}

/* Reads the stored bytes of column c of the current block into r->col and
 * checks them against the directory's checksum. */
static cf_err fetch_column(store_reader *r, int c)
{
    const store_col_entry *e = &r->blk.ents[c];
    size_t len = e->stored_len; /* within the block: checked by store_block_load_header */
    if (len > r->col_cap || !r->col) {
        uint8_t *p = realloc(r->col, len ? len : 1);
        if (!p)
            return CF_ERR_NOMEM;
        r->col = p;
        r->col_cap = len ? len : 1;
    }
    if (len > 0) {
        cf_err err = read_exact(r->fd, r->col, len, r->blk_off + r->blk.col_off[c]);
        if (err)
            return err;
    }
    return store_hash(r->col, len) == e->checksum ? CF_OK : CF_ERR_CORRUPT;
}

/* Decodes field id of the current block into r->out[id] (once per block):
 * reads the column, verifies its checksum, decompresses. */
static cf_err decode_field(store_reader *r, const flow_field *f, int depth)
{
    unsigned id = (unsigned)f->id;
    if (r->decoded & STORE_FIELD_BIT(id))
        return CF_OK;
    size_t n = r->blk.n_records;
    cf_err err = out_reserve(r, id, n * f->width);
    if (err)
        return err;
    int c = r->col_of[id];
    if (c < 0) {
        memset(r->out[id], 0, n * f->width);
    } else {
        const store_col_entry *e = &r->blk.ents[c];
        err = store_col_validate(e, f, n);
        if (err)
            return err;
        const uint64_t *ref = NULL;
        if ((e->encoding & ~STORE_ENC_F_SPARSE) == STORE_ENC_REF) {
            const flow_field *rf = flow_field_by_id(e->aux);
            if (depth > 0 || !rf)
                return CF_ERR_CORRUPT; /* references do not chain */
            err = decode_field(r, rf, depth + 1); /* before r->col is reused for this column */
            if (err)
                return err;
            ref = (const uint64_t *)(const void *)r->out[rf->id];
        }
        err = fetch_column(r, c);
        if (!err)
            err = store_col_decode(&r->cx, e, r->col, n, ref, r->out[id]);
        if (err)
            return err;
    }
    r->decoded |= STORE_FIELD_BIT(id);
    return CF_OK;
}

cf_err store_reader_columns(store_reader *r, uint64_t field_mask, const void *cols[FLOW_FIELD_MAX_ID + 1])
{
    if (!r->have_block)
        return CF_ERR_USAGE;
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        if (!(field_mask & STORE_FIELD_BIT(f->id)))
            continue;
        cf_err err = decode_field(r, f, 0);
        if (err)
            return err;
    }
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        if (field_mask & STORE_FIELD_BIT(f->id))
            cols[f->id] = r->out[f->id];
    }
    return CF_OK;
}

static cf_err out4_reserve(store_reader *r, unsigned id, size_t n)
{
    if (n <= r->out4_cap[id] && r->out4[id])
        return CF_OK;
    uint32_t *p = realloc(r->out4[id], (n ? n : 1) * sizeof(*p));
    if (!p)
        return CF_ERR_NOMEM;
    r->out4[id] = p;
    r->out4_cap[id] = n;
    return CF_OK;
}

/* decode_field() at rows only (rows NULL: whole; see
 * store_reader_columns_rows); with v4_ok an IPv4-only address column is
 * decoded into r->out4[id] and *is_v4 set. */
static cf_err decode_field_rows(store_reader *r, const flow_field *f, const uint32_t *rows, size_t n_rows,
                                bool v4_ok, int depth, bool *is_v4)
{
    unsigned id = (unsigned)f->id;
    uint64_t bit = STORE_FIELD_BIT(id);
    size_t n = r->blk.n_records;
    int c = r->col_of[id];
    *is_v4 = false;
    if (r->decoded & bit)
        return CF_OK;
    if (v4_ok && (r->decoded4 & bit)) {
        *is_v4 = true;
        return CF_OK;
    }
    if (c < 0)
        return decode_field(r, f, depth);
    const store_col_entry *e = &r->blk.ents[c];
    cf_err err = store_col_validate(e, f, n);
    if (err)
        return err;
    if (v4_ok && store_col_is_v4(e)) {
        if ((err = out4_reserve(r, id, n)) != CF_OK || (err = fetch_column(r, c)) != CF_OK ||
            (err = store_col_decode_v4(&r->cx, e, r->col, n, rows, n_rows, r->out4[id])) != CF_OK)
            return err;
        if (!rows)
            r->decoded4 |= bit;
        *is_v4 = true;
        return CF_OK;
    }
    if (!rows)
        return decode_field(r, f, depth);
    if ((err = out_reserve(r, id, n * f->width)) != CF_OK)
        return err;
    unsigned enc = e->encoding & ~STORE_ENC_F_SPARSE;
    const uint64_t *ref = NULL;
    if (enc == STORE_ENC_REF) {
        const flow_field *rf = flow_field_by_id(e->aux);
        bool rv4;
        if (depth > 0 || !rf)
            return CF_ERR_CORRUPT; /* references do not chain */
        err = decode_field_rows(r, rf, rows, n_rows, false, depth + 1, &rv4); /* before r->col is reused */
        if (err)
            return err;
        ref = (const uint64_t *)(const void *)r->out[rf->id];
    }
    if ((err = fetch_column(r, c)) != CF_OK ||
        (err = store_col_decode_rows(&r->cx, e, r->col, n, ref, rows, n_rows, r->out[id])) != CF_OK)
        return err;
    return CF_OK; /* valid at the rows only: decoded again when asked for whole */
}

cf_err store_reader_columns_rows(store_reader *r, uint64_t field_mask, const uint32_t *rows, size_t n_rows,
                                 uint64_t v4_mask, const void *cols[FLOW_FIELD_MAX_ID + 1], uint64_t *v4)
{
    if (!r->have_block)
        return CF_ERR_USAGE;
    for (size_t j = 0; rows && j < n_rows; j++)
        if (rows[j] >= r->blk.n_records)
            return CF_ERR_USAGE;
    uint64_t got4 = 0;
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        uint64_t bit = STORE_FIELD_BIT(f->id);
        if (!(field_mask & bit))
            continue;
        bool is_v4 = false;
        cf_err err = decode_field_rows(r, f, rows, n_rows, f->width == 16 && (v4_mask & bit), 0, &is_v4);
        if (err)
            return err;
        got4 |= is_v4 ? bit : 0;
    }
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        uint64_t bit = STORE_FIELD_BIT(f->id);
        if (field_mask & bit)
            cols[f->id] = (got4 & bit) ? (const void *)r->out4[f->id] : (const void *)r->out[f->id];
    }
    *v4 = (*v4 & ~field_mask) | got4;
    return CF_OK;
}

cf_err store_reader_records(store_reader *r, flow_record *out)
{
    const void *cols[FLOW_FIELD_MAX_ID + 1] = {0};
    cf_err err = store_reader_columns(r, STORE_ALL_FIELDS, cols);
    if (err)
        return err;
    size_t n = r->blk.n_records;
    memset(out, 0, n * sizeof(*out));
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        const uint8_t *src = cols[f->id];
        uint8_t *dst = (uint8_t *)out + f->offset;
        unsigned w = f->width;
        for (size_t k = 0; k < n; k++)
            memcpy(dst + k * sizeof(flow_record), src + k * w, w);
    }
    return CF_OK;
}

void store_reader_close(store_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    for (size_t id = 0; id <= FLOW_FIELD_MAX_ID; id++) {
        free(r->out[id]);
        free(r->out4[id]);
    }
    store_block_buf_free(&r->blk);
    free(r->col);
    store_codec_ctx_free(&r->cx);
    free(r->path);
    free(r);
}
