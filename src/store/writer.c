/*
 * store/writer.c - the segment writer: routes records to the segment of
 * their `last` time window, buffers them column by column, writes a block
 * per block_records (or when the oldest buffered record is flush_ms old),
 * rotates and seals segments.
 *
 * Memory: each open segment buffers at most block_records records in one
 * array per field (grown by doubling).  Every write is bounded: one block,
 * one trailer or one header.
 */
#include "store/segment_format.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"

typedef struct open_seg {
    uint64_t start_ms, end_ms;  /* window [start, end) */
    int fd;
    char *path;
    uint64_t off;               /* where the next block goes */
    uint32_t n_blocks;
    uint64_t n_records;         /* records in written blocks */
    uint64_t min_last, max_last;
    uint64_t last_rec_ms;       /* writer clock when the latest record came */
    uint64_t buf_since_ms;      /* writer clock when the oldest buffered record came */
    uint32_t n_buf, cap;        /* records in the columns, their capacity */
    uint8_t *cols[FLOW_FIELD_MAX_ID + 1]; /* one array per field */
    /* Constant columns are not written out: while every buffered value of a
     * field equals the one in ref (the first buffered record), varies[id]
     * is 0 and its array holds nothing; the first different value fills it
     * (rows so far from ref) and sets varies[id].  A batch's constant
     * columns stay constant here as long as they agree with ref. */
    uint8_t varies[FLOW_FIELD_MAX_ID + 1];
    flow_record ref;
} open_seg;

/* store_writer_append() splits rows through a column batch of this many. */
#define ROW_BATCH 4096

struct store_writer {
    char *dir;                  /* source directory */
    store_options opt;
    int lock_fd;                /* flock'ed: one writer per source */
    open_seg *segs;             /* opt.max_open slots */
    uint32_t n_open;            /* segs[0 .. n_open) are open */
    uint32_t hot;               /* index of the segment used last */
    uint64_t now_ms;            /* clock of the last tick (wall, ms) */
    uint64_t newest_last_ms;    /* newest `last` appended */
    store_writer_stats st;
    store_codec_ctx cx;
    uint8_t *blk;               /* block being assembled */
    size_t blk_cap;
    uint8_t *spare[FLOW_FIELD_MAX_ID + 1]; /* columns of a closed segment, for the next one */
    uint32_t spare_cap;
    flow_batch rows;        /* store_writer_append()'s rows as columns (allocated on first use) */
    uint8_t lz4_skip[FLOW_FIELD_MAX_ID + 1]; /* blocks left in which the column is stored without LZ4 */
    cf_ratelimit rl;
};

void store_options_default(store_options *o)
{
    o->rotate_s = 300;
    o->flush_ms = 1000;
    o->block_records = 65536;
    o->codec = STORE_CODEC_LZ4;
    o->zstd_level = 3;
    o->max_open = 8;
}

cf_err store_codec_parse(const char *text, store_codec *out)
{
    static const char *names[] = {"none", "lz4", "zstd"};
    for (int i = 0; i < 3; i++) {
        if (strcmp(text, names[i]) == 0) {
            *out = (store_codec)i;
            return CF_OK;
        }
    }
    return CF_ERR_USAGE;
}

const char *store_codec_name(store_codec c)
{
    switch (c) {
    case STORE_CODEC_NONE: return "none";
    case STORE_CODEC_LZ4: return "lz4";
    case STORE_CODEC_ZSTD: return "zstd";
    }
    return "?";
}

static cf_err errno_err(int e) { return e == ENOSPC || e == EDQUOT ? CF_ERR_NOSPACE : CF_ERR_IO; }

/* mkdir -p of the directory part of path (everything before the last '/'). */
static cf_err mkdirs_for(const char *path)
{
    char buf[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof(buf))
        return CF_ERR_USAGE;
    memcpy(buf, path, len + 1);
    for (char *p = buf + 1; *p; p++) {
        if (*p != '/')
            continue;
        *p = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return errno_err(errno);
        *p = '/';
    }
    return CF_OK;
}

/* Writes all of buf at off; CF_OK or the errno-derived error. */
static cf_err pwrite_all(int fd, const uint8_t *buf, size_t len, uint64_t off)
{
    size_t done = 0;
    while (done < len) {
        ssize_t r = pwrite(fd, buf + done, len - done, (off_t)(off + done));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return errno_err(r < 0 ? errno : ENOSPC);
        done += (size_t)r;
    }
    return CF_OK;
}

static size_t block_bound(size_t n)
{
    size_t len = STORE_BLOCK_FIXED_LEN + flow_n_fields * STORE_DIR_ENTRY_LEN + 8;
    for (size_t i = 0; i < flow_n_fields; i++)
        len += store_col_bound(&flow_fields[i], n);
    return len;
}

/* A column that LZ4 shrinks by less than 1/WRITER_LZ4_MIN_GAIN (random low
 * bytes of counters, ports, interfaces, the planes of addresses) is stored
 * uncompressed for the next WRITER_LZ4_SKIP blocks, then tried again: LZ4
 * spends most of its time on such input for little.  Only columns of at
 * least WRITER_LZ4_MIN_RAW transformed bytes are judged.  The format is
 * unchanged (each column names its codec). */
#define WRITER_LZ4_MIN_GAIN 16
#define WRITER_LZ4_SKIP 15
#define WRITER_LZ4_MIN_RAW 4096

/* The codec for column f of the next block (w->opt.codec, or none while
 * LZ4 is skipped for it). */
static store_codec column_codec(store_writer *w, const flow_field *f)
{
    if (w->opt.codec != STORE_CODEC_LZ4 || !w->lz4_skip[f->id])
        return w->opt.codec;
    w->lz4_skip[f->id]--;
    return STORE_CODEC_NONE;
}

/* Learns from column e, encoded with codec c, whether LZ4 pays for it. */
static void column_judge(store_writer *w, const store_col_entry *e, store_codec c)
{
    if (c != STORE_CODEC_LZ4 || e->raw_len < WRITER_LZ4_MIN_RAW)
        return;
    bool poor = e->codec == STORE_CODEC_NONE || /* LZ4 output not smaller */
                e->raw_len - e->stored_len < e->raw_len / WRITER_LZ4_MIN_GAIN;
    w->lz4_skip[e->field_id] = poor ? WRITER_LZ4_SKIP : 0;
}

/* Encodes the buffered records of s into w->blk; *len_out is the block size. */
static cf_err assemble_block(store_writer *w, open_seg *s, size_t *len_out, uint64_t *min_last,
                             uint64_t *max_last)
{
    size_t n = s->n_buf, bound = block_bound(n);
    if (bound > w->blk_cap) {
        uint8_t *p = realloc(w->blk, bound);
        if (!p)
            return CF_ERR_NOMEM;
        w->blk = p;
        w->blk_cap = bound;
    }
    size_t hlen = STORE_BLOCK_FIXED_LEN + flow_n_fields * STORE_DIR_ENTRY_LEN + 8;
    size_t pos = hlen;
    const uint64_t *last = (const uint64_t *)(const void *)s->cols[FLOW_FIELD_LAST];
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        store_col_entry e;
        cf_err err = CF_OK;
        if (s->varies[f->id]) {
            store_codec c = column_codec(w, f);
            err = store_col_encode(&w->cx, f, s->cols[f->id], n, last, c, w->opt.zstd_level, w->blk + pos,
                                   w->blk_cap - pos, &e);
            if (!err)
                column_judge(w, &e, c);
        } else
            store_col_encode_const(f, (const uint8_t *)&s->ref + f->offset, &e);
        if (err)
            return err;
        store_col_entry_put(w->blk + STORE_BLOCK_FIXED_LEN + i * STORE_DIR_ENTRY_LEN, &e);
        pos += e.stored_len;
        if (f->id == FLOW_FIELD_LAST) {
            *min_last = e.min;
            *max_last = e.max;
        }
    }
    uint8_t *h = w->blk;
    store_put_le32(h, STORE_BLOCK_MAGIC);
    store_put_le32(h + 4, (uint32_t)n);
    store_put_le32(h + 8, (uint32_t)flow_n_fields);
    store_put_le32(h + 12, (uint32_t)(pos - hlen));
    store_put_le32(h + 16, s->n_blocks);
    store_put_le32(h + 20, 0);
    store_put_le64(h + hlen - 8, store_hash(h, hlen - 8));
    *len_out = pos;
    return CF_OK;
}

static void count_loss(store_writer *w, const open_seg *s, size_t n, cf_err err)
{
    w->st.records_lost += n;
    w->st.write_errors++;
    cf_log_limited(&w->rl, CF_LOG_ERROR, "store: %zu records lost writing %s: %s (%s)", n,
                   s ? s->path : w->dir, cf_err_str(err), strerror(errno));
}

static cf_err seg_grow(store_writer *w, open_seg *s, uint32_t need)
{
    if (s->cap == 0 && w->spare_cap >= need) {
        memcpy(s->cols, w->spare, sizeof(s->cols));
        memset(w->spare, 0, sizeof(w->spare));
        s->cap = w->spare_cap;
        w->spare_cap = 0;
        return CF_OK;
    }
    uint32_t cap = s->cap ? s->cap * 2 : 1024;
    while (cap < need)
        cap *= 2;
    if (cap > w->opt.block_records)
        cap = w->opt.block_records;
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        uint8_t *p = realloc(s->cols[f->id], (size_t)cap * f->width);
        if (!p)
            return CF_ERR_NOMEM;
        s->cols[f->id] = p;
    }
    s->cap = cap;
    return CF_OK;
}

/* dst[0 .. m) = the w-byte value v (w a constant after inlining). */
static inline __attribute__((always_inline)) void fill_w(uint8_t *dst, const uint8_t *v, unsigned w, size_t m)
{
    for (size_t k = 0; k < m; k++)
        memcpy(dst + k * w, v, w);
}

static void fill(uint8_t *dst, const uint8_t *v, unsigned w, size_t m)
{
    switch (w) {
    case 1: memset(dst, v[0], m); break;
    case 2: fill_w(dst, v, 2, m); break;
    case 4: fill_w(dst, v, 4, m); break;
    case 8: fill_w(dst, v, 8, m); break;
    default: fill_w(dst, v, 16, m); break;
    }
}

/* Appends records k .. k+m of batch b to the columns of s (capacity
 * already there).  A column constant in s and in b stays constant while the
 * two agree; otherwise it is filled: rows so far from s->ref, then b's. */
static void seg_put(open_seg *s, const flow_batch *b, size_t k, size_t m)
{
    if (m > 0 && s->n_buf == 0) {
        s->ref = b->ref;
        memset(s->varies, 0, sizeof(s->varies));
        s->varies[FLOW_FIELD_LAST] = 1; /* the REF encoding of other times reads it */
    }
    size_t row = s->n_buf;
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        unsigned w = f->width;
        bool in_b = (b->varies >> f->id) & 1;
        const uint8_t *bv = (const uint8_t *)&b->ref + f->offset;
        if (!s->varies[f->id]) {
            if (!in_b && memcmp(bv, (const uint8_t *)&s->ref + f->offset, w) == 0)
                continue;
            fill(s->cols[f->id], (const uint8_t *)&s->ref + f->offset, w, row);
            s->varies[f->id] = 1;
        }
        uint8_t *dst = s->cols[f->id] + row * w;
        if (in_b)
            memcpy(dst, b->cols[f->id] + k * w, m * w);
        else
            fill(dst, bv, w, m);
    }
    s->n_buf += (uint32_t)m;
}

/* Writes the buffered records of s as one block.  On failure the records
 * are counted as lost and the file is cut back to its last whole block. */
static cf_err write_block(store_writer *w, open_seg *s)
{
    size_t n = s->n_buf, len = 0;
    if (n == 0)
        return CF_OK;
    uint64_t mn = 0, mx = 0;
    cf_err err = assemble_block(w, s, &len, &mn, &mx);
    if (!err)
        err = pwrite_all(s->fd, w->blk, len, s->off);
    s->n_buf = 0;
    if (err) {
        int saved = errno;
        if (ftruncate(s->fd, (off_t)s->off) != 0)
            cf_log_limited(&w->rl, CF_LOG_ERROR, "store: cannot cut %s back to %llu: %s", s->path,
                           (unsigned long long)s->off, strerror(errno));
        errno = saved;
        count_loss(w, s, n, err);
        return err;
    }
    s->off += len;
    s->n_blocks++;
    s->n_records += n;
    if (s->n_records == n || mn < s->min_last)
        s->min_last = mn;
    if (mx > s->max_last)
        s->max_last = mx;
    w->st.records_written += n;
    w->st.blocks++;
    w->st.bytes += len;
    return CF_OK;
}

/* Releases the buffers of s; its columns become the writer's spare set
 * when it has none (saves page faults on the next segment). */
static void seg_free_buffers(store_writer *w, open_seg *s)
{
    bool keep = w->spare_cap < s->cap;
    for (size_t id = 0; id <= FLOW_FIELD_MAX_ID; id++) {
        if (keep) {
            free(w->spare[id]);
            w->spare[id] = s->cols[id];
        } else {
            free(s->cols[id]);
        }
        s->cols[id] = NULL;
    }
    if (keep)
        w->spare_cap = s->cap;
    s->cap = 0;
}

/* Flushes, writes the trailer, fsyncs and closes segment i; removes it from
 * the open set.  Returns the first error met (the segment is closed anyway;
 * without a trailer it stays readable and the next writer seals it). */
static cf_err close_seg(store_writer *w, uint32_t i)
{
    open_seg *s = &w->segs[i];
    cf_err err = write_block(w, s);
    store_trailer t = {s->n_blocks, s->n_records, s->n_records ? s->min_last : 0, s->max_last, s->off};
    uint8_t tr[STORE_TRAILER_LEN];
    store_trailer_put(tr, &t);
    cf_err e2 = pwrite_all(s->fd, tr, sizeof(tr), s->off);
    if (!e2 && ftruncate(s->fd, (off_t)(s->off + sizeof(tr))) != 0)
        e2 = errno_err(errno);
    if (!e2 && fsync(s->fd) != 0)
        e2 = errno_err(errno);
    if (e2) {
        w->st.write_errors++;
        cf_log_limited(&w->rl, CF_LOG_ERROR, "store: cannot seal %s: %s (%s)", s->path, cf_err_str(e2),
                       strerror(errno));
        if (!err)
            err = e2;
    }
    close(s->fd);
    free(s->path);
    seg_free_buffers(w, s);
    w->st.segments_closed++;
    w->segs[i] = w->segs[w->n_open - 1];
    w->n_open--;
    w->hot = 0;
    return err;
}

/* Creates the file of a new segment for window start, with the first free
 * suffix; writes its header. */
static cf_err create_seg(store_writer *w, uint64_t start, open_seg *s)
{
    char rel[64], path[PATH_MAX];
    int fd = -1;
    cf_err err = CF_OK;
    for (unsigned n = 0; n < 10000; n++) {
        store_segment_relpath(start, n, rel, sizeof(rel));
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", w->dir, rel) >= sizeof(path))
            return CF_ERR_USAGE;
        if (n == 0 && (err = mkdirs_for(path)) != CF_OK)
            return err;
        fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd >= 0 || errno != EEXIST)
            break;
    }
    if (fd < 0)
        return errno_err(errno);
    uint64_t rot = (uint64_t)w->opt.rotate_s * 1000;
    uint8_t hdr[STORE_FILE_HEADER_LEN];
    store_file_header_put(hdr, w->opt.rotate_s, start, start + rot, cf_time_now_ms());
    err = pwrite_all(fd, hdr, sizeof(hdr), 0);
    char *p = err ? NULL : strdup(path);
    if (!p) {
        close(fd);
        unlink(path);
        return err ? err : CF_ERR_NOMEM;
    }
    memset(s, 0, sizeof(*s));
    s->start_ms = start;
    s->end_ms = start + rot;
    s->fd = fd;
    s->path = p;
    s->off = STORE_FILE_HEADER_LEN;
    s->last_rec_ms = w->now_ms;
    w->st.segments_opened++;
    return CF_OK;
}

/* The open segment for the window starting at start, opened if needed
 * (closing the oldest when max_open are open). */
static cf_err get_seg(store_writer *w, uint64_t start, open_seg **out)
{
    for (uint32_t i = 0; i < w->n_open; i++) {
        if (w->segs[i].start_ms == start) {
            w->hot = i;
            *out = &w->segs[i];
            return CF_OK;
        }
    }
    if (w->n_open == w->opt.max_open) {
        uint32_t oldest = 0;
        for (uint32_t i = 1; i < w->n_open; i++)
            if (w->segs[i].start_ms < w->segs[oldest].start_ms)
                oldest = i;
        close_seg(w, oldest);
    }
    cf_err err = create_seg(w, start, &w->segs[w->n_open]);
    if (err)
        return err;
    w->hot = w->n_open++;
    *out = &w->segs[w->hot];
    return CF_OK;
}

/* Appends records k .. k+n of b, which all fall in the window of s: copies
 * them into the columns and writes a block each time block_records are
 * buffered.  Returns the first error (records that could not be buffered
 * are counted lost). */
static cf_err append_run(store_writer *w, open_seg *s, const flow_batch *b, size_t k, size_t n)
{
    cf_err first = CF_OK;
    s->last_rec_ms = w->now_ms;
    while (n > 0) {
        if (s->n_buf == 0)
            s->buf_since_ms = w->now_ms;
        size_t room = w->opt.block_records - s->n_buf, m = n < room ? n : room;
        if (s->n_buf + m > s->cap) {
            cf_err err = seg_grow(w, s, (uint32_t)(s->n_buf + m));
            if (err) {
                count_loss(w, s, n, err);
                return first ? first : err;
            }
        }
        seg_put(s, b, k, m);
        k += m;
        n -= m;
        if (s->n_buf >= w->opt.block_records) {
            cf_err err = write_block(w, s);
            first = first ? first : err;
        }
    }
    return first;
}

cf_err store_writer_append_batch(store_writer *w, const flow_batch *b)
{
    cf_err first = CF_OK;
    uint64_t rot = (uint64_t)w->opt.rotate_s * 1000;
    const uint64_t *last = (const uint64_t *)(const void *)b->cols[FLOW_FIELD_LAST];
    size_t k = 0, n = b->n;
    while (k < n) {
        /* a run of consecutive records in the same window goes in at once */
        uint64_t start = last[k] - last[k] % rot, newest = last[k];
        size_t j = k + 1;
        while (j < n && last[j] - start < rot) {
            newest = last[j] > newest ? last[j] : newest;
            j++;
        }
        w->st.records += j - k;
        if (newest > w->newest_last_ms)
            w->newest_last_ms = newest;
        open_seg *s = w->n_open > 0 && w->segs[w->hot].start_ms == start ? &w->segs[w->hot] : NULL;
        cf_err err = s ? CF_OK : get_seg(w, start, &s);
        if (!err)
            err = append_run(w, s, b, k, j - k);
        else
            count_loss(w, s, j - k, err);
        first = first ? first : err;
        k = j;
    }
    return first;
}

cf_err store_writer_append(store_writer *w, const flow_record *recs, size_t n)
{
    cf_err first = CF_OK;
    if (n > 0 && w->rows.cap == 0) {
        cf_err err = flow_batch_init(&w->rows, ROW_BATCH);
        if (err) {
            flow_batch_free(&w->rows);
            w->st.records += n;
            count_loss(w, NULL, n, err);
            return err;
        }
    }
    for (size_t k = 0; k < n; k += ROW_BATCH) {
        size_t m = n - k < ROW_BATCH ? n - k : ROW_BATCH;
        flow_batch_clear(&w->rows);
        flow_batch_add(&w->rows, recs + k, m);
        cf_err err = store_writer_append_batch(w, &w->rows);
        first = first ? first : err;
    }
    return first;
}

cf_err store_writer_tick(store_writer *w, uint64_t now_ms)
{
    cf_err first = CF_OK;
    w->now_ms = now_ms;
    uint64_t rot = (uint64_t)w->opt.rotate_s * 1000;
    for (uint32_t i = 0; i < w->n_open; i++) {
        open_seg *s = &w->segs[i];
        if (s->n_buf > 0 && now_ms >= s->buf_since_ms + w->opt.flush_ms) {
            cf_err err = write_block(w, s);
            first = first ? first : err;
        }
    }
    for (uint32_t i = 0; i < w->n_open;) {
        open_seg *s = &w->segs[i];
        bool ended = s->end_ms + rot < w->newest_last_ms && s->end_ms + rot < now_ms;
        bool idle = now_ms >= s->last_rec_ms + rot;
        if (ended || idle) {
            cf_err err = close_seg(w, i); /* moves the last segment into slot i */
            first = first ? first : err;
            continue;
        }
        i++;
    }
    return first;
}

cf_err store_writer_flush(store_writer *w)
{
    cf_err first = CF_OK;
    for (uint32_t i = 0; i < w->n_open; i++) {
        cf_err err = write_block(w, &w->segs[i]);
        first = first ? first : err;
    }
    return first;
}

void store_writer_get_stats(const store_writer *w, store_writer_stats *out) { *out = w->st; }

/* Seals one segment left open by a crash: cuts a torn tail, appends the trailer. */
static void seal_crashed(store_writer *w, const char *path)
{
    int fd = open(path, O_RDWR | O_CLOEXEC);
    if (fd < 0)
        return;
    store_trailer t;
    bool sealed = true;
    cf_err err = store_segment_scan(fd, &t, &sealed);
    if (!err && !sealed) {
        uint8_t tr[STORE_TRAILER_LEN];
        store_trailer_put(tr, &t);
        if (ftruncate(fd, (off_t)t.data_end) != 0 || pwrite_all(fd, tr, sizeof(tr), t.data_end) != CF_OK ||
            fsync(fd) != 0)
            err = CF_ERR_IO;
        else
            cf_log(CF_LOG_INFO, "store: sealed %s left open (%u blocks, %llu records)", path, t.n_blocks,
                   (unsigned long long)t.n_records);
    }
    if (err)
        cf_log_limited(&w->rl, CF_LOG_WARN, "store: cannot seal %s: %s", path, cf_err_str(err));
    close(fd);
}

static cf_err check_options(const store_options *o)
{
    if (o->rotate_s < 60 || o->rotate_s > 86400 || 86400 % o->rotate_s != 0)
        return CF_ERR_USAGE;
    if (o->block_records == 0 || o->block_records > STORE_MAX_BLOCK_RECORDS || o->max_open == 0 ||
        o->max_open > 1024 || o->codec > STORE_CODEC_ZSTD || o->flush_ms == 0)
        return CF_ERR_USAGE;
    return CF_OK;
}

cf_err store_writer_open(const char *source_dir, const store_options *opt, store_writer **out)
{
    store_options def;
    store_options_default(&def);
    if (!opt)
        opt = &def;
    cf_err err = check_options(opt);
    if (err)
        return err;
    store_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return CF_ERR_NOMEM;
    w->lock_fd = -1;
    w->opt = *opt;
    char lock[PATH_MAX];
    w->dir = strdup(source_dir);
    w->segs = calloc(opt->max_open, sizeof(*w->segs));
    if (!w->dir || !w->segs) {
        err = CF_ERR_NOMEM;
        goto out;
    }
    if (snprintf(lock, sizeof(lock), "%s/.writer.lock", source_dir) >= (int)sizeof(lock)) {
        err = CF_ERR_USAGE;
        goto out;
    }
    if ((err = mkdirs_for(lock)) != CF_OK)
        goto out;
    w->lock_fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->lock_fd < 0 || flock(w->lock_fd, LOCK_EX | LOCK_NB) != 0) {
        CF_ERROR("store: cannot lock %s (another writer on this source?): %s", lock, strerror(errno));
        err = CF_ERR_IO;
        goto out;
    }
    store_segment *segs = NULL;
    size_t n_segs = 0;
    if (store_list(source_dir, 0, UINT64_MAX, &segs, &n_segs) == CF_OK) {
        for (size_t i = 0; i < n_segs; i++)
            seal_crashed(w, segs[i].path);
        store_segments_free(segs, n_segs);
    }
    w->now_ms = cf_time_now_ms();
    *out = w;
    w = NULL;
out:
    if (w) {
        if (w->lock_fd >= 0)
            close(w->lock_fd);
        free(w->segs);
        free(w->dir);
        free(w);
    }
    return err;
}

cf_err store_writer_close(store_writer *w)
{
    if (!w)
        return CF_OK;
    cf_err first = CF_OK;
    while (w->n_open > 0) {
        cf_err err = close_seg(w, w->n_open - 1);
        first = first ? first : err;
    }
    store_codec_ctx_free(&w->cx);
    flow_batch_free(&w->rows);
    for (size_t id = 0; id <= FLOW_FIELD_MAX_ID; id++)
        free(w->spare[id]);
    free(w->blk);
    free(w->segs);
    free(w->dir);
    close(w->lock_fd);
    free(w);
    return first;
}
