/* collect/tplstore.c - saved v9/IPFIX templates: read at open, loaded when
 * an exporter is first seen, saved by the writer thread (contract in
 * tplstore.h). */
#include "collect/tplstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/log.h"
#include "flow/flow.h"

#define TPL_NAME_LEN 96
#define TPL_SUFFIX ".tpl"

/* A file read at open, waiting for its exporter. */
typedef struct tpl_file {
    char name[TPL_NAME_LEN]; /* "<exporter>.tpl" */
    uint8_t *buf;
    size_t len;
} tpl_file;

/* A save waiting for the writer thread. */
typedef struct tpl_save {
    char name[TPL_NAME_LEN];
    uint8_t *buf;
    size_t len;
} tpl_save;

struct collect_tplstore {
    char *dir;            /* DATADIR/.templates */
    tpl_file *files;      /* read at open; buf NULL once loaded */
    size_t n_files;
    pthread_mutex_t mu;   /* guards saves */
    tpl_save *saves;
    size_t n_saves, cap_saves;
    _Atomic uint64_t loaded, load_errors, saved, save_errors;
    cf_ratelimit rl;
};

static void bump(_Atomic uint64_t *v) { atomic_fetch_add_explicit(v, 1, memory_order_relaxed); }

/* "<addr>_<port>.tpl", ':' written as '-'. */
static void file_name(const uint8_t addr[16], uint16_t port, char *buf, size_t len)
{
    char a[64];
    flow_addr_format(addr, a, sizeof(a));
    for (char *c = a; *c; c++)
        if (*c == ':')
            *c = '-';
    snprintf(buf, len, "%s_%u%s", a, (unsigned)port, TPL_SUFFIX);
}

static uint64_t generation(const decode_exporter *dx)
{
    return dx->tpl_stats.templates_added + dx->tpl_stats.templates_replaced + dx->tpl_stats.templates_withdrawn;
}

/* Reads path (at most COLLECT_TPL_MAX_FILE bytes) into a malloc'ed buffer. */
static cf_err read_file(const char *path, uint8_t **out, size_t *out_len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return CF_ERR_IO;
    struct stat st;
    cf_err err = CF_ERR_IO;
    uint8_t *buf = NULL;
    if (fstat(fd, &st) != 0)
        goto out;
    err = CF_ERR_RANGE;
    if (st.st_size > (off_t)COLLECT_TPL_MAX_FILE)
        goto out;
    err = CF_ERR_NOMEM;
    buf = malloc(st.st_size ? (size_t)st.st_size : 1);
    if (!buf)
        goto out;
    err = CF_ERR_IO;
    size_t len = (size_t)st.st_size, got = 0;
    while (got < len) {
        ssize_t r = read(fd, buf + got, len - got);
        if (r <= 0)
            goto out;
        got += (size_t)r;
    }
    *out = buf;
    *out_len = len;
    buf = NULL;
    err = CF_OK;
out:
    free(buf);
    close(fd);
    return err;
}

/* Reads and checks one file; keeps it in ts->files when good. */
static void preload_one(collect_tplstore *ts, const char *name, const decode_config *cfg, size_t max_files)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", ts->dir, name);
    uint8_t *buf = NULL;
    size_t len = 0;
    cf_err err = ts->n_files >= max_files ? CF_ERR_FULL : read_file(path, &buf, &len);
    if (!err) {
        decode_exporter scratch;
        uint8_t zero[16] = {0};
        decode_exporter_init(&scratch, zero, 0);
        if (cfg)
            decode_exporter_set_config(&scratch, cfg);
        err = decode_templates_load(&scratch, buf, len);
        decode_exporter_free(&scratch);
    }
    if (err) {
        bump(&ts->load_errors);
        CF_WARN("template file %s: %s; ignored (the exporter's next templates replace it)", path,
                err == CF_ERR_CORRUPT  ? "truncated or corrupt"
                : err == CF_ERR_RANGE  ? "too large"
                : err == CF_ERR_FULL   ? "more files than max-exporters"
                : err == CF_ERR_IO     ? strerror(errno)
                                       : cf_err_str(err));
        free(buf);
        return;
    }
    tpl_file *f = &ts->files[ts->n_files++];
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->buf = buf;
    f->len = len;
}

static cf_err preload(collect_tplstore *ts, size_t max_files, const decode_config *cfg)
{
    DIR *d = opendir(ts->dir);
    if (!d)
        return CF_ERR_IO;
    ts->files = calloc(max_files ? max_files : 1, sizeof(*ts->files));
    if (!ts->files) {
        closedir(d);
        return CF_ERR_NOMEM;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.' || n <= strlen(TPL_SUFFIX) || n >= TPL_NAME_LEN ||
            strcmp(de->d_name + n - strlen(TPL_SUFFIX), TPL_SUFFIX) != 0)
            continue;
        preload_one(ts, de->d_name, cfg, max_files);
    }
    closedir(d);
    return CF_OK;
}

cf_err collect_tplstore_open(const char *data_dir, size_t max_files, const decode_config *cfg,
                             collect_tplstore **out, char *errbuf, size_t errlen)
{
    collect_tplstore *ts = calloc(1, sizeof(*ts));
    if (!ts)
        return CF_ERR_NOMEM;
    size_t len = strlen(data_dir) + sizeof(COLLECT_TPL_DIR) + 2;
    ts->dir = malloc(len);
    if (!ts->dir || pthread_mutex_init(&ts->mu, NULL) != 0) {
        free(ts->dir);
        free(ts);
        return CF_ERR_NOMEM;
    }
    snprintf(ts->dir, len, "%s/%s", data_dir, COLLECT_TPL_DIR);
    cf_err err = CF_OK;
    if (mkdir(ts->dir, 0755) != 0 && errno != EEXIST) {
        snprintf(errbuf, errlen, "template directory %s: %s", ts->dir, strerror(errno));
        err = CF_ERR_IO;
    } else if ((err = preload(ts, max_files, cfg)) != CF_OK) {
        snprintf(errbuf, errlen, "template directory %s: %s", ts->dir,
                 err == CF_ERR_IO ? strerror(errno) : cf_err_str(err));
    }
    if (err) {
        collect_tplstore_close(ts);
        return err;
    }
    if (ts->n_files)
        CF_INFO("read the saved templates of %zu exporters from %s", ts->n_files, ts->dir);
    *out = ts;
    return CF_OK;
}

void collect_tplstore_first_seen(collect_tplstore *ts, decode_exporter *dx, collect_tpl_mark *m)
{
    char name[TPL_NAME_LEN];
    file_name(dx->addr, dx->port, name, sizeof(name));
    for (size_t i = 0; i < ts->n_files; i++) {
        tpl_file *f = &ts->files[i];
        if (!f->buf || strcmp(f->name, name) != 0)
            continue;
        cf_err err = decode_templates_load(dx, f->buf, f->len);
        if (err) {
            bump(&ts->load_errors);
            CF_WARN("template file %s/%s: %s; ignored", ts->dir, name, cf_err_str(err));
        } else {
            bump(&ts->loaded);
            CF_INFO("loaded %zu saved templates from %s/%s", decode_template_count(dx), ts->dir, name);
        }
        free(f->buf);
        f->buf = NULL;
        break;
    }
    m->saved_gen = generation(dx);
    m->saved_mono_ms = 0;
}

int collect_tplstore_dirty(const decode_exporter *dx, const collect_tpl_mark *m)
{
    return generation(dx) != m->saved_gen;
}

/* Queues buf (taken over) under name, replacing a queued save of the same file. */
static void queue_save(collect_tplstore *ts, const char *name, uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&ts->mu);
    for (size_t i = 0; i < ts->n_saves; i++)
        if (strcmp(ts->saves[i].name, name) == 0) {
            free(ts->saves[i].buf);
            ts->saves[i].buf = buf;
            ts->saves[i].len = len;
            pthread_mutex_unlock(&ts->mu);
            return;
        }
    if (ts->n_saves == ts->cap_saves) {
        size_t nc = ts->cap_saves ? ts->cap_saves * 2 : 16;
        tpl_save *ns = realloc(ts->saves, nc * sizeof(*ns));
        if (!ns) {
            pthread_mutex_unlock(&ts->mu);
            free(buf);
            bump(&ts->save_errors);
            return;
        }
        ts->saves = ns;
        ts->cap_saves = nc;
    }
    tpl_save *s = &ts->saves[ts->n_saves++];
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->buf = buf;
    s->len = len;
    pthread_mutex_unlock(&ts->mu);
}

void collect_tplstore_check(collect_tplstore *ts, decode_exporter *dx, collect_tpl_mark *m, uint64_t now_mono_ms,
                            int force)
{
    uint64_t gen = generation(dx);
    if (gen == m->saved_gen)
        return;
    if (!force && m->saved_mono_ms && now_mono_ms - m->saved_mono_ms < COLLECT_TPL_SAVE_MS)
        return;
    uint8_t *buf = NULL;
    size_t len = 0;
    m->saved_gen = gen;
    m->saved_mono_ms = now_mono_ms ? now_mono_ms : 1;
    if (decode_templates_save(dx, &buf, &len) != CF_OK) {
        bump(&ts->save_errors);
        cf_log_limited(&ts->rl, CF_LOG_WARN, "cannot serialise the templates of an exporter (out of memory)");
        return;
    }
    char name[TPL_NAME_LEN];
    file_name(dx->addr, dx->port, name, sizeof(name));
    queue_save(ts, name, buf, len);
}

/* Writes one file atomically; 0 or -1 with errno. */
static int write_atomic(const char *dir, const char *name, const uint8_t *buf, size_t len)
{
    char path[4200], tmp[4300];
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -1;
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, buf + done, len - done);
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    int bad = done != len || fsync(fd) != 0;
    int saved_errno = errno;
    bad |= close(fd) != 0;
    if (!bad && rename(tmp, path) == 0)
        return 0;
    saved_errno = errno ? errno : saved_errno;
    unlink(tmp);
    errno = saved_errno;
    return -1;
}

void collect_tplstore_write_pending(collect_tplstore *ts)
{
    for (;;) {
        pthread_mutex_lock(&ts->mu);
        if (ts->n_saves == 0) {
            pthread_mutex_unlock(&ts->mu);
            return;
        }
        tpl_save s = ts->saves[--ts->n_saves];
        pthread_mutex_unlock(&ts->mu);
        if (write_atomic(ts->dir, s.name, s.buf, s.len) == 0) {
            bump(&ts->saved);
        } else {
            bump(&ts->save_errors);
            cf_log_limited(&ts->rl, CF_LOG_WARN, "cannot write template file %s/%s: %s", ts->dir, s.name,
                           strerror(errno));
        }
        free(s.buf);
    }
}

void collect_tplstore_counts(collect_tplstore *ts, collect_tpl_counts *out)
{
    out->loaded = atomic_load_explicit(&ts->loaded, memory_order_relaxed);
    out->load_errors = atomic_load_explicit(&ts->load_errors, memory_order_relaxed);
    out->saved = atomic_load_explicit(&ts->saved, memory_order_relaxed);
    out->save_errors = atomic_load_explicit(&ts->save_errors, memory_order_relaxed);
}

void collect_tplstore_close(collect_tplstore *ts)
{
    if (!ts)
        return;
    collect_tplstore_write_pending(ts);
    for (size_t i = 0; i < ts->n_files; i++)
        free(ts->files[i].buf);
    free(ts->files);
    free(ts->saves);
    pthread_mutex_destroy(&ts->mu);
    free(ts->dir);
    free(ts);
}
