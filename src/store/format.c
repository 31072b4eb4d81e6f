/*
 * store/format.c - file header, trailer and block parsing shared by the
 * writer (sealing) and the reader.  Every length read from a file is checked
 * against the file's limit and the format's sanity limits before use.
 */
#include "store/segment_format.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

void store_file_header_put(uint8_t out[STORE_FILE_HEADER_LEN], uint32_t rotate_s, uint64_t start_ms,
                           uint64_t end_ms, uint64_t created_ms)
{
    memset(out, 0, STORE_FILE_HEADER_LEN);
    memcpy(out, STORE_FILE_MAGIC, 8);
    store_put_le16(out + 8, STORE_FORMAT_VERSION);
    store_put_le16(out + 10, STORE_FILE_HEADER_LEN);
    store_put_le32(out + 12, rotate_s);
    store_put_le64(out + 16, start_ms);
    store_put_le64(out + 24, end_ms);
    store_put_le64(out + 32, created_ms);
    store_put_le64(out + 56, store_hash(out, 56));
}

cf_err store_file_header_check(const uint8_t *p, size_t len, uint64_t *start_ms, uint64_t *end_ms)
{
    if (len < STORE_FILE_HEADER_LEN || memcmp(p, STORE_FILE_MAGIC, 8) != 0)
        return CF_ERR_CORRUPT;
    if (store_le64(p + 56) != store_hash(p, 56))
        return CF_ERR_CORRUPT;
    if (store_le16(p + 8) != STORE_FORMAT_VERSION)
        return CF_ERR_VERSION;
    if (store_le16(p + 10) != STORE_FILE_HEADER_LEN)
        return CF_ERR_CORRUPT;
    uint64_t s = store_le64(p + 16), e = store_le64(p + 24);
    if (e <= s)
        return CF_ERR_CORRUPT;
    *start_ms = s;
    *end_ms = e;
    return CF_OK;
}

void store_trailer_put(uint8_t out[STORE_TRAILER_LEN], const store_trailer *t)
{
    memset(out, 0, STORE_TRAILER_LEN);
    store_put_le32(out, STORE_TRAILER_MAGIC);
    store_put_le32(out + 4, t->n_blocks);
    store_put_le64(out + 8, t->n_records);
    store_put_le64(out + 16, t->min_last);
    store_put_le64(out + 24, t->max_last);
    store_put_le64(out + 32, t->data_end);
    store_put_le64(out + 40, store_hash(out, 40));
}

bool store_trailer_get(const uint8_t *p, store_trailer *t)
{
    if (store_le32(p) != STORE_TRAILER_MAGIC || store_le64(p + 40) != store_hash(p, 40))
        return false;
    t->n_blocks = store_le32(p + 4);
    t->n_records = store_le64(p + 8);
    t->min_last = store_le64(p + 16);
    t->max_last = store_le64(p + 24);
    t->data_end = store_le64(p + 32);
    return true;
}

void store_segment_relpath(uint64_t start_ms, unsigned n, char *buf, size_t len)
{
    time_t t = (time_t)(start_ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char suffix[16] = "";
    if (n > 0)
        snprintf(suffix, sizeof(suffix), "-%u", n);
    snprintf(buf, len, "%04d/%02d/%02d/cf-%04d%02d%02d%02d%02d%s.seg", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, suffix);
}

/* pread of exactly len bytes; CF_ERR_EOF when the file is shorter. */
static cf_err read_at(int fd, void *buf, size_t len, uint64_t off)
{
    size_t got = 0;
    while (got < len) {
        ssize_t r = pread(fd, (uint8_t *)buf + got, len - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            return CF_ERR_IO;
        if (r == 0)
            return CF_ERR_EOF;
        got += (size_t)r;
    }
    return CF_OK;
}

void store_block_buf_free(store_block_buf *b)
{
    free(b->data);
    free(b->ents);
    free(b->col_off);
    memset(b, 0, sizeof(*b));
}

static cf_err block_reserve(store_block_buf *b, size_t len, size_t n_cols)
{
    if (len > b->cap) {
        uint8_t *p = realloc(b->data, len);
        if (!p)
            return CF_ERR_NOMEM;
        b->data = p;
        b->cap = len;
    }
    if (n_cols > b->ents_cap) {
        store_col_entry *e = realloc(b->ents, n_cols * sizeof(*e));
        if (!e)
            return CF_ERR_NOMEM;
        b->ents = e;
        size_t *o = realloc(b->col_off, n_cols * sizeof(*o));
        if (!o)
            return CF_ERR_NOMEM;
        b->col_off = o;
        b->ents_cap = n_cols;
    }
    return CF_OK;
}

/* Parses the directory of a block whose header checksum is valid; checks the
 * column lengths add up and every known column is consistent. */
static cf_err parse_directory(store_block_buf *b, uint32_t payload_len)
{
    uint64_t off = b->header_len;
    uint64_t seen = 0;
    for (uint32_t i = 0; i < b->n_columns; i++) {
        store_col_entry *e = &b->ents[i];
        store_col_entry_get(b->data + STORE_BLOCK_FIXED_LEN + (size_t)i * STORE_DIR_ENTRY_LEN, e);
        if (e->stored_len > payload_len || off + e->stored_len > (uint64_t)b->header_len + payload_len)
            return CF_ERR_CORRUPT;
        b->col_off[i] = (size_t)off;
        off += e->stored_len;
        const flow_field *f = flow_field_by_id(e->field_id);
        if (!f)
            continue; /* a newer writer's field: skipped */
        if (f->id < 64) {
            if (seen & (UINT64_C(1) << f->id))
                return CF_ERR_CORRUPT;
            seen |= UINT64_C(1) << f->id;
        }
        cf_err err = store_col_validate(e, f, b->n_records);
        if (err == CF_ERR_VERSION)
            continue; /* an encoding this reader does not know: reported when decoded */
        if (err)
            return err;
    }
    if (off != (uint64_t)b->header_len + payload_len)
        return CF_ERR_CORRUPT;
    return CF_OK;
}

cf_err store_block_load_header(int fd, uint64_t off, uint64_t limit, store_block_buf *b, uint64_t *skip_to)
{
    uint8_t fixed[STORE_BLOCK_FIXED_LEN];
    *skip_to = 0;
    if (off >= limit || limit - off < 4)
        return CF_ERR_EOF;
    size_t want = limit - off < sizeof(fixed) ? (size_t)(limit - off) : sizeof(fixed);
    cf_err err = read_at(fd, fixed, want, off);
    if (err)
        return err;
    uint32_t magic = store_le32(fixed);
    if (magic == STORE_TRAILER_MAGIC)
        return CF_ERR_EOF;
    if (magic != STORE_BLOCK_MAGIC)
        return CF_ERR_CORRUPT;
    if (want < sizeof(fixed))
        return CF_ERR_EOF;
    uint32_t n_rec = store_le32(fixed + 4), n_cols = store_le32(fixed + 8);
    uint32_t payload = store_le32(fixed + 12);
    if (n_rec == 0 || n_rec > STORE_MAX_BLOCK_RECORDS || n_cols == 0 || n_cols > STORE_MAX_COLUMNS ||
        payload > STORE_MAX_PAYLOAD)
        return CF_ERR_CORRUPT;
    size_t hlen = STORE_BLOCK_FIXED_LEN + (size_t)n_cols * STORE_DIR_ENTRY_LEN + 8;
    if (limit - off < hlen)
        return CF_ERR_EOF;
    bool complete = limit - off >= hlen + (uint64_t)payload;
    /* Read the header only until the checksum vouches for the payload length. */
    err = block_reserve(b, hlen, n_cols);
    if (!err)
        err = read_at(fd, b->data, hlen, off);
    if (err)
        return err;
    if (store_le64(b->data + hlen - 8) != store_hash(b->data, hlen - 8))
        return CF_ERR_CORRUPT;
    if (!complete)
        return CF_ERR_EOF;
    *skip_to = off + hlen + payload;
    b->header_len = hlen;
    b->len = hlen + payload;
    b->n_records = n_rec;
    b->n_columns = n_cols;
    b->index = store_le32(fixed + 16);
    return parse_directory(b, payload);
}

cf_err store_block_load(int fd, uint64_t off, uint64_t limit, store_block_buf *b, uint64_t *skip_to)
{
    cf_err err = store_block_load_header(fd, off, limit, b, skip_to);
    if (err)
        return err;
    size_t hlen = b->header_len, payload = b->len - b->header_len;
    err = block_reserve(b, hlen + payload, b->n_columns);
    if (!err && payload > 0)
        err = read_at(fd, b->data + hlen, payload, off + hlen);
    if (err)
        return err;
    for (uint32_t i = 0; i < b->n_columns; i++)
        if (store_hash(b->data + b->col_off[i], b->ents[i].stored_len) != b->ents[i].checksum)
            return CF_ERR_CORRUPT;
    return CF_OK;
}

/* True when a block header with a valid checksum starts at off. */
static bool header_ok_at(int fd, uint64_t off, uint64_t limit)
{
    uint8_t fixed[STORE_BLOCK_FIXED_LEN];
    if (limit - off < sizeof(fixed) || read_at(fd, fixed, sizeof(fixed), off) != CF_OK)
        return false;
    uint32_t n_cols = store_le32(fixed + 8);
    if (store_le32(fixed) != STORE_BLOCK_MAGIC || n_cols == 0 || n_cols > STORE_MAX_COLUMNS)
        return false;
    size_t hlen = STORE_BLOCK_FIXED_LEN + (size_t)n_cols * STORE_DIR_ENTRY_LEN + 8;
    if (limit - off < hlen)
        return false;
    uint8_t *h = malloc(hlen);
    if (!h)
        return false;
    bool ok = read_at(fd, h, hlen, off) == CF_OK && store_le64(h + hlen - 8) == store_hash(h, hlen - 8);
    free(h);
    return ok;
}

uint64_t store_block_find(int fd, uint64_t from, uint64_t limit)
{
    enum { CHUNK = 65536 };
    uint8_t *buf = malloc(CHUNK + 3);
    if (!buf)
        return limit;
    uint64_t pos = from, found = limit;
    while (pos + 4 <= limit && found == limit) {
        size_t want = limit - pos < CHUNK + 3 ? (size_t)(limit - pos) : CHUNK + 3;
        if (read_at(fd, buf, want, pos) != CF_OK)
            break;
        for (size_t i = 0; i + 4 <= want; i++) {
            if (store_le32(buf + i) == STORE_BLOCK_MAGIC && header_ok_at(fd, pos + i, limit)) {
                found = pos + i;
                break;
            }
        }
        pos += want - 3; /* overlap so a magic across chunks is seen */
        if (want < 4)
            break;
    }
    free(buf);
    return found;
}

cf_err store_segment_scan(int fd, store_trailer *t, bool *sealed)
{
    struct stat st;
    if (fstat(fd, &st) != 0)
        return CF_ERR_IO;
    uint64_t size = (uint64_t)st.st_size;
    uint8_t hdr[STORE_FILE_HEADER_LEN];
    cf_err err = read_at(fd, hdr, sizeof(hdr), 0);
    if (err)
        return err == CF_ERR_EOF ? CF_ERR_CORRUPT : err;
    uint64_t ws, we;
    err = store_file_header_check(hdr, sizeof(hdr), &ws, &we);
    if (err)
        return err;
    uint8_t tr[STORE_TRAILER_LEN];
    store_trailer got;
    if (size >= STORE_FILE_HEADER_LEN + STORE_TRAILER_LEN &&
        read_at(fd, tr, sizeof(tr), size - STORE_TRAILER_LEN) == CF_OK && store_trailer_get(tr, &got) &&
        got.data_end == size - STORE_TRAILER_LEN) {
        *t = got;
        *sealed = true;
        return CF_OK;
    }
    store_trailer acc = {0, 0, UINT64_MAX, 0, STORE_FILE_HEADER_LEN};
    store_block_buf b = {0};
    for (;;) {
        uint64_t skip;
        err = store_block_load(fd, acc.data_end, size, &b, &skip);
        if (err == CF_ERR_CORRUPT) {
            /* Keep what follows a damaged block (readers skip the damage);
             * damage with no whole block after it is a tail to cut. */
            uint64_t next = skip ? skip : store_block_find(fd, acc.data_end + 1, size);
            if (next >= size || store_block_load(fd, next, size, &b, &skip) != CF_OK)
                break;
            acc.data_end = next;
            err = CF_OK;
        }
        if (err)
            break;
        acc.n_blocks++;
        acc.n_records += b.n_records;
        for (uint32_t i = 0; i < b.n_columns; i++) {
            const store_col_entry *e = &b.ents[i];
            if (e->field_id == FLOW_FIELD_LAST) {
                acc.min_last = e->min < acc.min_last ? e->min : acc.min_last;
                acc.max_last = e->max > acc.max_last ? e->max : acc.max_last;
            }
        }
        acc.data_end += b.len;
    }
    store_block_buf_free(&b);
    if (err == CF_ERR_IO || err == CF_ERR_NOMEM)
        return err;
    if (acc.n_records == 0)
        acc.min_last = 0;
    *t = acc;
    *sealed = false;
    return CF_OK;
}
