/*
 * store/list.c - finds the segment files under a path whose window may hold
 * flows of a time range.  Windows come from the file names
 * (cf-YYYYMMDDhhmm[-N].seg); the exact window end is read from the file
 * header of the segments that pass the name filter.
 */
#include "core/array.h"
#include "store/segment_format.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LIST_MAX_DEPTH 8
#define DAY_MS UINT64_C(86400000)

typedef struct seg_list {
    store_segment *v;
    size_t n, cap;
    uint64_t from_ms, to_ms;
} seg_list;

/* Window start from a name "cf-YYYYMMDDhhmm.seg" or "cf-YYYYMMDDhhmm-N.seg". */
static bool parse_name(const char *name, uint64_t *start_ms)
{
    size_t len = strlen(name);
    if (len < 19 || strncmp(name, "cf-", 3) != 0 || strcmp(name + len - 4, ".seg") != 0)
        return false;
    int f[5] = {0};
    static const int width[5] = {4, 2, 2, 2, 2};
    const char *p = name + 3;
    for (int i = 0; i < 5; i++) {
        for (int k = 0; k < width[i]; k++, p++) {
            if (*p < '0' || *p > '9')
                return false;
            f[i] = f[i] * 10 + (*p - '0');
        }
    }
    if (*p == '-') {
        const char *q = ++p;
        while (*p >= '0' && *p <= '9')
            p++;
        if (p == q || p - q > 6)
            return false;
    }
    if (strcmp(p, ".seg") != 0)
        return false;
    if (f[0] < 1970 || f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59)
        return false;
    struct tm tm = {.tm_year = f[0] - 1900, .tm_mon = f[1] - 1, .tm_mday = f[2], .tm_hour = f[3], .tm_min = f[4]};
    time_t t = timegm(&tm);
    if (t < 0)
        return false;
    *start_ms = (uint64_t)t * 1000;
    return true;
}

/* Window of a segment file from its header; false when unreadable. */
static bool header_window(const char *path, uint64_t *start, uint64_t *end)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    uint8_t hdr[STORE_FILE_HEADER_LEN];
    bool ok = pread(fd, hdr, sizeof(hdr), 0) == (ssize_t)sizeof(hdr) &&
              store_file_header_check(hdr, sizeof(hdr), start, end) == CF_OK;
    close(fd);
    return ok;
}

static cf_err add_file(seg_list *l, const char *path, const char *name, bool explicit_file)
{
    uint64_t start = 0, end = 0, hs, he;
    bool named = parse_name(name, &start);
    if (!named && !explicit_file)
        return CF_OK;
    if (named && (start > l->to_ms || start + DAY_MS <= l->from_ms))
        return CF_OK; /* no window (at most a day) starting there can overlap */
    if (header_window(path, &hs, &he)) {
        start = named ? start : hs;
        end = he;
    } else if (explicit_file && !named) {
        start = 0; /* a file named on purpose: always listed, its reader reports it */
        end = UINT64_MAX;
    } else {
        end = start + DAY_MS; /* unreadable: listed, so that its reader reports it */
    }
    if (end <= start || start > l->to_ms || end <= l->from_ms)
        return CF_OK;
    if (cf_array_grow(&l->v, &l->cap, l->n + 1, sizeof(*l->v), 64) != CF_OK)
        return CF_ERR_NOMEM;
    char *p = strdup(path);
    if (!p)
        return CF_ERR_NOMEM;
    l->v[l->n++] = (store_segment){p, start, end};
    return CF_OK;
}

static cf_err walk(seg_list *l, const char *dir, int depth)
{
    if (depth > LIST_MAX_DEPTH)
        return CF_OK;
    DIR *d = opendir(dir);
    if (!d)
        return depth == 0 ? CF_ERR_IO : CF_OK;
    cf_err err = CF_OK;
    struct dirent *de;
    char path[PATH_MAX];
    while (!err && (de = readdir(d)) != NULL) {
        if (de->d_name[0] == '.')
            continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, de->d_name) >= sizeof(path))
            continue;
        struct stat st;
        if (stat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode))
            err = walk(l, path, depth + 1);
        else if (S_ISREG(st.st_mode))
            err = add_file(l, path, de->d_name, false);
    }
    closedir(d);
    return err;
}

static int cmp_seg(const void *a, const void *b)
{
    const store_segment *x = a, *y = b;
    if (x->window_start_ms != y->window_start_ms)
        return x->window_start_ms < y->window_start_ms ? -1 : 1;
    return strcmp(x->path, y->path);
}

cf_err store_list(const char *path, uint64_t from_ms, uint64_t to_ms, store_segment **out, size_t *n_out)
{
    seg_list l = {NULL, 0, 0, from_ms, to_ms};
    struct stat st;
    cf_err err;
    if (stat(path, &st) != 0)
        return errno == ENOENT ? CF_ERR_NOT_FOUND : CF_ERR_IO;
    if (S_ISDIR(st.st_mode)) {
        err = walk(&l, path, 0);
    } else {
        const char *slash = strrchr(path, '/');
        err = add_file(&l, path, slash ? slash + 1 : path, true);
    }
    if (err) {
        store_segments_free(l.v, l.n);
        return err;
    }
    if (l.n > 1)
        qsort(l.v, l.n, sizeof(*l.v), cmp_seg);
    *out = l.v;
    *n_out = l.n;
    return CF_OK;
}

void store_segments_free(store_segment *segs, size_t n)
{
    for (size_t i = 0; segs && i < n; i++)
        free(segs[i].path);
    free(segs);
}
