/* store/counters.c - the interface counter store: record and header codec,
 * day-file writer, listing, reader, rates (format and contract in counters.h). */
#include "store/counters.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/array.h"
#include "core/bytes.h"
#include "core/log.h"

#define CTR_MAGIC 0x43464354u /* "CFCT" */
#define CTR_PATH_MAX 4096
#define CTR_MAX_DEPTH 8
#define CTR_DAY_MS UINT64_C(86400000)
#define CTR_READ_RECORDS 512 /* records read from a file at once */

/* CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320), bitwise. */
static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t crc = 0xffffffffu;
    for (size_t i = 0; i < n; i++) {
        crc ^= p[i];
        for (int k = 0; k < 8; k++)
            crc = (crc >> 1) ^ (0xedb88320u & (0u - (crc & 1u)));
    }
    return ~crc;
}

/* ---- codec --------------------------------------------------------------- */

void counters_record_encode(const counters_record *r, uint8_t *out)
{
    memset(out, 0, COUNTERS_RECORD_LEN);
    cf_put_be64(out + 0, r->time_ms);
    memcpy(out + 8, r->agent, 16);
    memcpy(out + 24, r->exporter, 16);
    cf_put_be32(out + 40, r->sub_agent);
    cf_put_be32(out + 44, r->uptime_ms);
    cf_put_be32(out + 48, r->sample_seq);
    out[52] = r->flags;
    cf_put_be32(out + 56, r->if_index);
    cf_put_be32(out + 60, r->if_type);
    cf_put_be64(out + 64, r->if_speed);
    cf_put_be32(out + 72, r->if_direction);
    cf_put_be32(out + 76, r->if_status);
    cf_put_be64(out + 80, r->in_octets);
    cf_put_be64(out + 88, r->in_packets);
    cf_put_be64(out + 96, r->out_octets);
    cf_put_be64(out + 104, r->out_packets);
    cf_put_be32(out + 112, r->in_errors);
    cf_put_be32(out + 116, r->in_discards);
    cf_put_be32(out + 120, r->out_errors);
    cf_put_be32(out + 124, r->out_discards);
    cf_put_be32(out + 132, crc32_ieee(out, 132));
}

cf_err counters_record_decode(const uint8_t *b, counters_record *out)
{
    if (crc32_ieee(b, 132) != cf_be32(b + 132) || b[53] || b[54] || b[55] || cf_be32(b + 128) != 0)
        return CF_ERR_CORRUPT;
    counters_record r;
    memset(&r, 0, sizeof(r));
    r.time_ms = cf_be64(b + 0);
    memcpy(r.agent, b + 8, 16);
    memcpy(r.exporter, b + 24, 16);
    r.sub_agent = cf_be32(b + 40);
    r.uptime_ms = cf_be32(b + 44);
    r.sample_seq = cf_be32(b + 48);
    r.flags = b[52];
    r.if_index = cf_be32(b + 56);
    r.if_type = cf_be32(b + 60);
    r.if_speed = cf_be64(b + 64);
    r.if_direction = cf_be32(b + 72);
    r.if_status = cf_be32(b + 76);
    r.in_octets = cf_be64(b + 80);
    r.in_packets = cf_be64(b + 88);
    r.out_octets = cf_be64(b + 96);
    r.out_packets = cf_be64(b + 104);
    r.in_errors = cf_be32(b + 112);
    r.in_discards = cf_be32(b + 116);
    r.out_errors = cf_be32(b + 120);
    r.out_discards = cf_be32(b + 124);
    *out = r;
    return CF_OK;
}

void counters_header_encode(uint32_t day, uint8_t *out)
{
    cf_put_be32(out, CTR_MAGIC);
    cf_put_be16(out + 4, COUNTERS_VERSION);
    cf_put_be16(out + 6, COUNTERS_RECORD_LEN);
    cf_put_be32(out + 8, day);
    cf_put_be32(out + 12, crc32_ieee(out, 12));
}

cf_err counters_header_decode(const uint8_t *buf, size_t len, uint32_t *day)
{
    if (len < COUNTERS_HEADER_LEN || cf_be32(buf) != CTR_MAGIC || crc32_ieee(buf, 12) != cf_be32(buf + 12))
        return CF_ERR_CORRUPT;
    if (cf_be16(buf + 4) != COUNTERS_VERSION)
        return CF_ERR_VERSION;
    if (cf_be16(buf + 6) != COUNTERS_RECORD_LEN)
        return CF_ERR_CORRUPT;
    *day = cf_be32(buf + 8);
    return CF_OK;
}

/* ---- writer -------------------------------------------------------------- */

struct counters_writer {
    char *dir;          /* DATADIR/<source> */
    int fd;             /* file of `day`, or -1 */
    uint32_t day;
    uint64_t size;      /* bytes in the open file (whole records) */
    uint8_t *buf;       /* encoding buffer */
    size_t buf_cap;     /* in records */
    counters_writer_stats st;
    cf_ratelimit rl;
};

cf_err counters_writer_open(const char *source_dir, counters_writer **out)
{
    if (strlen(source_dir) > CTR_PATH_MAX - 64)
        return CF_ERR_USAGE;
    counters_writer *w = calloc(1, sizeof(*w));
    if (!w)
        return CF_ERR_NOMEM;
    w->dir = strdup(source_dir);
    if (!w->dir) {
        free(w);
        return CF_ERR_NOMEM;
    }
    w->fd = -1;
    *out = w;
    return CF_OK;
}

/* mkdir -p of path; 0 or -1 with errno. */
static int make_dirs(const char *path)
{
    char buf[CTR_PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        buf[i] = saved;
    }
    return 0;
}

static cf_err errno_err(void) { return errno == ENOSPC || errno == EDQUOT ? CF_ERR_NOSPACE : CF_ERR_IO; }

static cf_err close_file(counters_writer *w)
{
    if (w->fd < 0)
        return CF_OK;
    int bad = fsync(w->fd) != 0;
    bad |= close(w->fd) != 0;
    w->fd = -1;
    return bad ? CF_ERR_IO : CF_OK;
}

/* Checks (or writes) the header of the open file and cuts a torn tail. */
static cf_err prepare_file(counters_writer *w, const char *path)
{
    struct stat st;
    if (fstat(w->fd, &st) != 0)
        return errno_err();
    uint64_t size = (uint64_t)st.st_size;
    if (size < COUNTERS_HEADER_LEN) {
        /* new, or a crash cut its header: start it afresh */
        uint8_t h[COUNTERS_HEADER_LEN];
        counters_header_encode(w->day, h);
        if (ftruncate(w->fd, 0) != 0 || pwrite(w->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
            return errno_err();
        w->size = COUNTERS_HEADER_LEN;
        return CF_OK;
    }
    uint8_t h[COUNTERS_HEADER_LEN];
    uint32_t day = 0;
    if (pread(w->fd, h, sizeof(h), 0) != (ssize_t)sizeof(h))
        return errno_err();
    cf_err err = counters_header_decode(h, sizeof(h), &day);
    if (err || day != w->day) {
        cf_log_limited(&w->rl, CF_LOG_ERROR, "counter file %s: bad header (%s); not appending to it", path,
                       err ? cf_err_str(err) : "wrong day");
        return err ? err : CF_ERR_CORRUPT;
    }
    uint64_t whole = COUNTERS_HEADER_LEN + (size - COUNTERS_HEADER_LEN) / COUNTERS_RECORD_LEN * COUNTERS_RECORD_LEN;
    if (whole != size) {
        if (ftruncate(w->fd, (off_t)whole) != 0)
            return errno_err();
        w->st.torn_tails++;
        CF_WARN("counter file %s: cut a torn tail of %llu bytes", path, (unsigned long long)(size - whole));
    }
    w->size = whole;
    return CF_OK;
}

static cf_err open_day(counters_writer *w, uint32_t day)
{
    if (w->fd >= 0 && w->day == day)
        return CF_OK;
    cf_err err = close_file(w);
    if (err)
        w->st.write_errors++;
    time_t t = (time_t)day * 86400;
    struct tm tm;
    gmtime_r(&t, &tm);
    char dir[CTR_PATH_MAX], path[CTR_PATH_MAX + 64];
    int y = tm.tm_year + 1900, mo = (tm.tm_mon + 1) % 100, d = tm.tm_mday % 100;
    if (y < 1970 || y > 9999 ||
        (size_t)snprintf(dir, sizeof(dir), "%s/%s/%04d/%02d/%02d", w->dir, COUNTERS_DIR, y, mo, d) >= sizeof(dir))
        return CF_ERR_USAGE;
    snprintf(path, sizeof(path), "%s/ctr-%04d%02d%02d.dat", dir, y, mo, d);
    if (make_dirs(dir) != 0) {
        err = errno_err();
        cf_log_limited(&w->rl, CF_LOG_ERROR, "counter store: cannot create %s: %s", dir, strerror(errno));
        return err;
    }
    w->fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (w->fd < 0) {
        err = errno_err();
        cf_log_limited(&w->rl, CF_LOG_ERROR, "counter store: cannot open %s: %s", path, strerror(errno));
        return err;
    }
    w->day = day;
    err = prepare_file(w, path);
    if (err) {
        close(w->fd);
        w->fd = -1;
        return err;
    }
    w->st.files_opened++;
    return CF_OK;
}

/* Writes recs[0..n) (all of day) at the end of the day's file. */
static cf_err append_day(counters_writer *w, uint32_t day, const counters_record *recs, size_t n)
{
    cf_err err = open_day(w, day);
    if (!err && n > w->buf_cap) {
        uint8_t *nb = realloc(w->buf, n * COUNTERS_RECORD_LEN);
        if (!nb)
            err = CF_ERR_NOMEM;
        else {
            w->buf = nb;
            w->buf_cap = n;
        }
    }
    if (!err) {
        for (size_t i = 0; i < n; i++)
            counters_record_encode(&recs[i], w->buf + i * COUNTERS_RECORD_LEN);
        size_t len = n * COUNTERS_RECORD_LEN;
        ssize_t wr = pwrite(w->fd, w->buf, len, (off_t)w->size);
        if (wr == (ssize_t)len) {
            w->size += len;
            w->st.records_written += n;
            return CF_OK;
        }
        err = wr < 0 ? errno_err() : CF_ERR_NOSPACE;
        cf_log_limited(&w->rl, CF_LOG_ERROR, "counter store %s: write failed: %s (%zu records lost)", w->dir,
                       wr < 0 ? strerror(errno) : "short write", n);
        if (ftruncate(w->fd, (off_t)w->size) != 0)
            (void)close_file(w); /* reopened (and its tail cut) next time */
    }
    w->st.records_lost += n;
    w->st.write_errors++;
    return err;
}

cf_err counters_writer_append(counters_writer *w, const counters_record *recs, size_t n)
{
    cf_err first = CF_OK;
    w->st.records += n;
    for (size_t i = 0; i < n;) {
        uint32_t day = (uint32_t)(recs[i].time_ms / CTR_DAY_MS);
        size_t j = i + 1;
        while (j < n && recs[j].time_ms / CTR_DAY_MS == day)
            j++;
        cf_err err = append_day(w, day, recs + i, j - i);
        if (err && !first)
            first = err;
        i = j;
    }
    return first;
}

void counters_writer_get_stats(const counters_writer *w, counters_writer_stats *out) { *out = w->st; }

cf_err counters_writer_close(counters_writer *w)
{
    if (!w)
        return CF_OK;
    cf_err err = close_file(w);
    free(w->buf);
    free(w->dir);
    free(w);
    return err;
}

/* ---- listing ------------------------------------------------------------- */

typedef struct ctr_entry {
    char *path;
    uint32_t day;
} ctr_entry;

typedef struct ctr_list {
    ctr_entry *v;
    size_t n, cap;
    uint64_t from_ms, to_ms;
} ctr_list;

/* Day of a name "ctr-YYYYMMDD.dat"; false when it is not one. */
static bool parse_ctr_name(const char *name, uint32_t *day)
{
    if (strlen(name) != 16 || strncmp(name, "ctr-", 4) != 0 || strcmp(name + 12, ".dat") != 0)
        return false;
    int v[3] = {0, 0, 0};
    static const int width[3] = {4, 2, 2};
    const char *p = name + 4;
    for (int i = 0; i < 3; i++)
        for (int k = 0; k < width[i]; k++, p++) {
            if (*p < '0' || *p > '9')
                return false;
            v[i] = v[i] * 10 + (*p - '0');
        }
    if (v[0] < 1970 || v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31)
        return false;
    struct tm tm = {.tm_year = v[0] - 1900, .tm_mon = v[1] - 1, .tm_mday = v[2]};
    time_t t = timegm(&tm);
    if (t < 0)
        return false;
    *day = (uint32_t)(t / 86400);
    return true;
}

static cf_err list_add(ctr_list *l, const char *path, uint32_t day)
{
    uint64_t start = (uint64_t)day * CTR_DAY_MS;
    if (start > l->to_ms || start + CTR_DAY_MS <= l->from_ms)
        return CF_OK;
    if (cf_array_grow(&l->v, &l->cap, l->n + 1, sizeof(*l->v), 16) != CF_OK)
        return CF_ERR_NOMEM;
    char *p = strdup(path);
    if (!p)
        return CF_ERR_NOMEM;
    l->v[l->n++] = (ctr_entry){p, day};
    return CF_OK;
}

static cf_err list_dir(ctr_list *l, const char *dir, int depth)
{
    if (depth > CTR_MAX_DEPTH)
        return CF_OK;
    DIR *d = opendir(dir);
    if (!d)
        return CF_ERR_IO;
    cf_err err = CF_OK;
    struct dirent *de;
    while (!err && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        char path[CTR_PATH_MAX];
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
            continue;
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        uint32_t day;
        if (S_ISDIR(st.st_mode))
            err = list_dir(l, path, depth + 1);
        else if (S_ISREG(st.st_mode) && parse_ctr_name(de->d_name, &day))
            err = list_add(l, path, day);
    }
    closedir(d);
    return err;
}

static int cmp_entry(const void *a, const void *b)
{
    const ctr_entry *x = a, *y = b;
    if (x->day != y->day)
        return x->day < y->day ? -1 : 1;
    return strcmp(x->path, y->path);
}

cf_err counters_list(const char *path, uint64_t from_ms, uint64_t to_ms, char ***out, size_t *n_out)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? CF_ERR_NOT_FOUND : CF_ERR_IO;
    ctr_list l = {NULL, 0, 0, from_ms, to_ms};
    cf_err err;
    if (S_ISDIR(st.st_mode)) {
        err = list_dir(&l, path, 0);
    } else {
        char *p = strdup(path);
        err = p ? CF_OK : CF_ERR_NOMEM;
        if (p) {
            l.v = malloc(sizeof(*l.v));
            if (l.v)
                l.v[l.n++] = (ctr_entry){p, 0};
            else {
                free(p);
                err = CF_ERR_NOMEM;
            }
        }
    }
    char **paths = err ? NULL : malloc((l.n ? l.n : 1) * sizeof(*paths));
    if (!err && !paths)
        err = CF_ERR_NOMEM;
    if (err) {
        for (size_t i = 0; i < l.n; i++)
            free(l.v[i].path);
        free(l.v);
        return err;
    }
    if (l.n)
        qsort(l.v, l.n, sizeof(*l.v), cmp_entry);
    for (size_t i = 0; i < l.n; i++)
        paths[i] = l.v[i].path;
    free(l.v);
    *out = paths;
    *n_out = l.n;
    return CF_OK;
}

void counters_paths_free(char **paths, size_t n)
{
    for (size_t i = 0; paths && i < n; i++)
        free(paths[i]);
    free(paths);
}

/* ---- reader -------------------------------------------------------------- */

struct counters_reader {
    char *path;
    int fd;               /* -1 for a memory reader */
    const uint8_t *mem;   /* memory reader: the bytes */
    uint64_t size;        /* bytes in the file when opened (grows are seen by the next open) */
    uint64_t pos;         /* offset of the next record */
    uint64_t last_off;    /* offset of the record last returned or rejected */
    uint32_t day;
    bool torn;
    uint8_t *buf;         /* CTR_READ_RECORDS records read ahead (file reader) */
    uint64_t buf_off;     /* file offset of buf[0] */
    size_t buf_len;       /* valid bytes in buf */
};

static cf_err reader_init(counters_reader *r, const uint8_t *h, size_t hlen, counters_reader **out)
{
    cf_err err = counters_header_decode(h, hlen, &r->day);
    if (err)
        return err;
    r->pos = COUNTERS_HEADER_LEN;
    *out = r;
    return CF_OK;
}

cf_err counters_reader_open(const char *path, counters_reader **out)
{
    counters_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return CF_ERR_NOMEM;
    r->fd = -1;
    cf_err err = CF_ERR_NOMEM;
    uint8_t h[COUNTERS_HEADER_LEN];
    struct stat st;
    r->path = strdup(path);
    r->buf = malloc(CTR_READ_RECORDS * COUNTERS_RECORD_LEN);
    if (!r->path || !r->buf)
        goto fail;
    err = CF_ERR_IO;
    r->fd = open(path, O_RDONLY | O_CLOEXEC);
    if (r->fd < 0 || fstat(r->fd, &st) != 0)
        goto fail;
    r->size = (uint64_t)st.st_size;
    ssize_t got = pread(r->fd, h, sizeof(h), 0);
    if (got < 0)
        goto fail;
    err = reader_init(r, h, (size_t)got, out);
    if (!err)
        return CF_OK;
fail:
    counters_reader_close(r);
    return err;
}

cf_err counters_reader_open_mem(const uint8_t *buf, size_t len, counters_reader **out)
{
    counters_reader *r = calloc(1, sizeof(*r));
    if (!r)
        return CF_ERR_NOMEM;
    r->fd = -1;
    r->mem = buf;
    r->size = len;
    r->path = strdup("<memory>");
    cf_err err = r->path ? reader_init(r, buf, len, out) : CF_ERR_NOMEM;
    if (err)
        counters_reader_close(r);
    return err;
}

/* Points *rec at the COUNTERS_RECORD_LEN bytes at r->pos (whole, checked). */
static cf_err reader_fetch(counters_reader *r, const uint8_t **rec)
{
    if (r->mem) {
        *rec = r->mem + r->pos;
        return CF_OK;
    }
    if (r->pos < r->buf_off || r->pos + COUNTERS_RECORD_LEN > r->buf_off + r->buf_len) {
        uint64_t left = r->size - r->pos;
        size_t want = left < CTR_READ_RECORDS * COUNTERS_RECORD_LEN ? (size_t)left
                                                                     : CTR_READ_RECORDS * COUNTERS_RECORD_LEN;
        ssize_t got = pread(r->fd, r->buf, want, (off_t)r->pos);
        if (got < (ssize_t)COUNTERS_RECORD_LEN)
            return CF_ERR_IO;
        r->buf_off = r->pos;
        r->buf_len = (size_t)got;
    }
    *rec = r->buf + (r->pos - r->buf_off);
    return CF_OK;
}

cf_err counters_reader_next(counters_reader *r, counters_record *out)
{
    if (r->pos >= r->size)
        return CF_ERR_EOF;
    if (r->size - r->pos < COUNTERS_RECORD_LEN) {
        r->torn = true;
        return CF_ERR_EOF;
    }
    const uint8_t *rec;
    cf_err err = reader_fetch(r, &rec);
    if (err)
        return err;
    r->last_off = r->pos;
    r->pos += COUNTERS_RECORD_LEN;
    return counters_record_decode(rec, out);
}

uint64_t counters_reader_offset(const counters_reader *r) { return r->last_off; }
bool counters_reader_torn(const counters_reader *r) { return r->torn; }
uint32_t counters_reader_day(const counters_reader *r) { return r->day; }
const char *counters_reader_path(const counters_reader *r) { return r->path; }

void counters_reader_close(counters_reader *r)
{
    if (!r)
        return;
    if (r->fd >= 0)
        close(r->fd);
    free(r->buf);
    free(r->path);
    free(r);
}

/* ---- rates --------------------------------------------------------------- */

/* Increase of a counter from a to b; false when it is a reset.  wrap32: the
 * counter is (a sum of) 32-bit counters, so a decrease is a 32-bit wrap. */
static bool increase(uint64_t a, uint64_t b, bool wrap32, uint64_t *out)
{
    if (b >= a) {
        *out = b - a;
        return true;
    }
    if (!wrap32)
        return false;
    *out = (uint32_t)(b - a);
    return true;
}

counters_rate_status counters_rate_compute(const counters_record *prev, const counters_record *cur,
                                           counters_rate *out)
{
    memset(out, 0, sizeof(*out));
    bool restarted = cur->uptime_ms < prev->uptime_ms;
    uint64_t dt = cur->uptime_ms > prev->uptime_ms ? (uint64_t)(cur->uptime_ms - prev->uptime_ms)
                  : cur->time_ms > prev->time_ms   ? cur->time_ms - prev->time_ms
                                                   : 0;
    out->interval_ms = dt;
    if (restarted) {
        out->status = COUNTERS_RATE_RESET;
        return out->status;
    }
    if (dt == 0) {
        out->status = COUNTERS_RATE_NO_TIME;
        return out->status;
    }
    uint64_t io = 0, oo = 0, ip = 0, op = 0, ie = 0, oe = 0, id = 0, od = 0;
    bool ok = increase(prev->in_octets, cur->in_octets, prev->in_octets <= UINT32_MAX, &io) &&
              increase(prev->out_octets, cur->out_octets, prev->out_octets <= UINT32_MAX, &oo) &&
              increase(prev->in_packets, cur->in_packets, true, &ip) &&
              increase(prev->out_packets, cur->out_packets, true, &op) &&
              increase(prev->in_errors, cur->in_errors, true, &ie) &&
              increase(prev->out_errors, cur->out_errors, true, &oe) &&
              increase(prev->in_discards, cur->in_discards, true, &id) &&
              increase(prev->out_discards, cur->out_discards, true, &od);
    double secs = (double)dt / 1000.0;
    double in_bps = (double)io * 8.0 / secs, out_bps = (double)oo * 8.0 / secs;
    bool wrapped = cur->in_octets < prev->in_octets || cur->out_octets < prev->out_octets;
    double speed = (double)(cur->if_speed ? cur->if_speed : prev->if_speed);
    if (ok && wrapped && speed > 0 && (in_bps > 2 * speed || out_bps > 2 * speed))
        ok = false;
    if (!ok) {
        out->status = COUNTERS_RATE_RESET;
        return out->status;
    }
    out->in_bps = in_bps;
    out->out_bps = out_bps;
    out->in_pps = (double)ip / secs;
    out->out_pps = (double)op / secs;
    out->in_errors = ie;
    out->out_errors = oe;
    out->in_discards = id;
    out->out_discards = od;
    out->status = COUNTERS_RATE_OK;
    return out->status;
}
