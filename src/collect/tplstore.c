/* collect/tplstore.c - saved v9/IPFIX templates and names: read at open,
 * loaded when an exporter is first seen, saved by the writer thread
 * (contract in tplstore.h). */
#include "collect/tplstore.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdbool.h>
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
#define NAMES_SUFFIX ".names"

/* A file read at open, waiting for its exporter. */
typedef struct tpl_file {
    char name[TPL_NAME_LEN]; /* "<exporter>.tpl" */
    uint8_t *buf;
    size_t len;
} tpl_file;

/* A names file read and checked at open, waiting for its exporter. */
typedef struct names_file {
    char name[TPL_NAME_LEN]; /* "<exporter>.names" */
    flow_names names;
    bool loaded;             /* handed to its exporter (names freed) */
} names_file;

/* A save waiting for the writer thread. */
typedef struct tpl_save {
    const char *dir;          /* ts->dir or ts->names_dir */
    char name[TPL_NAME_LEN];
    uint8_t *buf;
    size_t len;
} tpl_save;

struct collect_tplstore {
    char *dir;            /* DATADIR/.templates */
    char *names_dir;      /* DATADIR/.names */
    tpl_file *files;      /* read at open; buf NULL once loaded */
    size_t n_files;
    names_file *nfiles;   /* names files read at open */
    size_t n_nfiles;
    pthread_mutex_t mu;   /* guards saves */
    tpl_save *saves;
    size_t n_saves, cap_saves;
    _Atomic uint64_t loaded, load_errors, saved, save_errors;
    _Atomic uint64_t names_loaded, names_load_errors, names_saved, names_save_errors;
    cf_ratelimit rl;
};

static void bump(_Atomic uint64_t *v) { atomic_fetch_add_explicit(v, 1, memory_order_relaxed); }

/* "<addr>_<port><suffix>", ':' written as '-'. */
static void file_name_sfx(const uint8_t addr[16], uint16_t port, const char *suffix, char *buf, size_t len)
{
    char a[64];
    flow_addr_format(addr, a, sizeof(a));
    for (char *c = a; *c; c++)
        if (*c == ':')
            *c = '-';
    snprintf(buf, len, "%s_%u%s", a, (unsigned)port, suffix);
}

static void file_name(const uint8_t addr[16], uint16_t port, char *buf, size_t len)
{
    file_name_sfx(addr, port, TPL_SUFFIX, buf, len);
}

/* The generation of dx's names table (0 when it has none). */
static uint64_t names_generation(const decode_exporter *dx)
{
    const flow_names *t = decode_names(dx);
    return t ? t->generation : 0;
}

static uint64_t generation(const decode_exporter *dx)
{
    return dx->tpl_stats.templates_added + dx->tpl_stats.templates_replaced + dx->tpl_stats.templates_withdrawn;
}

/* Reads path (at most max bytes) into a malloc'ed buffer. */
static cf_err read_file(const char *path, size_t max, uint8_t **out, size_t *out_len)
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
    if (st.st_size > (off_t)max)
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
    cf_err err = ts->n_files >= max_files ? CF_ERR_FULL : read_file(path, COLLECT_TPL_MAX_FILE, &buf, &len);
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

/* Reads and checks one names file; keeps it in ts->nfiles when good. */
static void preload_names_one(collect_tplstore *ts, const char *name, const decode_config *cfg, size_t max_files)
{
    char path[4200], why[160] = "";
    snprintf(path, sizeof(path), "%s/%s", ts->names_dir, name);
    uint8_t *buf = NULL;
    size_t len = 0;
    names_file *f = &ts->nfiles[ts->n_nfiles];
    /* the file's size bounds its entries; max-names applies when they are
     * restored into the exporter (the rest refused and counted there) */
    (void)cfg;
    flow_names_init(&f->names, FLOW_NAMES_MAX_FILE);
    cf_err err = ts->n_nfiles >= max_files ? CF_ERR_FULL : read_file(path, FLOW_NAMES_MAX_FILE, &buf, &len);
    if (err == CF_ERR_IO)
        snprintf(why, sizeof(why), "%s", strerror(errno));
    else if (err == CF_ERR_RANGE)
        snprintf(why, sizeof(why), "larger than %u bytes", FLOW_NAMES_MAX_FILE);
    else if (err == CF_ERR_FULL)
        snprintf(why, sizeof(why), "more files than max-exporters");
    else if (err)
        snprintf(why, sizeof(why), "%s", cf_err_str(err));
    uint8_t addr[16];
    uint16_t port;
    if (!err)
        err = flow_names_parse((const char *)buf, len, &f->names, addr, &port, why, sizeof(why));
    free(buf);
    if (!err) {
        char want[TPL_NAME_LEN];
        file_name_sfx(addr, port, NAMES_SUFFIX, want, sizeof(want));
        if (strcmp(want, name) != 0) {
            snprintf(why, sizeof(why), "line 2: exporter does not match the file name");
            err = CF_ERR_CORRUPT;
        }
    }
    if (err) {
        bump(&ts->names_load_errors);
        CF_WARN("names file %s: %s; ignored (the exporter's next options data replace it)", path, why);
        flow_names_free(&f->names);
        return;
    }
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->loaded = false;
    ts->n_nfiles++;
}

static cf_err preload_names(collect_tplstore *ts, size_t max_files, const decode_config *cfg)
{
    DIR *d = opendir(ts->names_dir);
    if (!d)
        return CF_ERR_IO;
    ts->nfiles = calloc(max_files ? max_files : 1, sizeof(*ts->nfiles));
    if (!ts->nfiles) {
        closedir(d);
        return CF_ERR_NOMEM;
    }
    struct dirent *de;
    while ((de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        if (de->d_name[0] == '.' || n <= strlen(NAMES_SUFFIX) || n >= TPL_NAME_LEN ||
            strcmp(de->d_name + n - strlen(NAMES_SUFFIX), NAMES_SUFFIX) != 0)
            continue;
        preload_names_one(ts, de->d_name, cfg, max_files);
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
    size_t nlen = strlen(data_dir) + sizeof(COLLECT_NAMES_DIR) + 2;
    ts->dir = malloc(len);
    ts->names_dir = malloc(nlen);
    if (!ts->dir || !ts->names_dir || pthread_mutex_init(&ts->mu, NULL) != 0) {
        free(ts->dir);
        free(ts->names_dir);
        free(ts);
        return CF_ERR_NOMEM;
    }
    snprintf(ts->dir, len, "%s/%s", data_dir, COLLECT_TPL_DIR);
    snprintf(ts->names_dir, nlen, "%s/%s", data_dir, COLLECT_NAMES_DIR);
    cf_err err = CF_OK;
    const char *dir = ts->dir;
    if (mkdir(ts->dir, 0755) != 0 && errno != EEXIST)
        err = CF_ERR_IO;
    else
        err = preload(ts, max_files, cfg);
    if (!err) {
        dir = ts->names_dir;
        if (mkdir(ts->names_dir, 0755) != 0 && errno != EEXIST)
            err = CF_ERR_IO;
        else
            err = preload_names(ts, max_files, cfg);
    }
    if (err)
        snprintf(errbuf, errlen, "%s directory %s: %s", dir == ts->dir ? "template" : "names", dir,
                 err == CF_ERR_IO ? strerror(errno) : cf_err_str(err));
    if (err) {
        collect_tplstore_close(ts);
        return err;
    }
    if (ts->n_files)
        CF_INFO("read the saved templates of %zu exporters from %s", ts->n_files, ts->dir);
    if (ts->n_nfiles)
        CF_INFO("read the saved names of %zu exporters from %s", ts->n_nfiles, ts->names_dir);
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
    file_name_sfx(dx->addr, dx->port, NAMES_SUFFIX, name, sizeof(name));
    for (size_t i = 0; i < ts->n_nfiles; i++) {
        names_file *f = &ts->nfiles[i];
        if (f->loaded || strcmp(f->name, name) != 0)
            continue;
        cf_err err = decode_names_restore(dx, &f->names);
        if (err == CF_ERR_NOMEM) {
            bump(&ts->names_load_errors);
            CF_WARN("names file %s/%s: out of memory; ignored", ts->names_dir, name);
        } else {
            bump(&ts->names_loaded);
            CF_INFO("loaded %zu saved names from %s/%s%s", f->names.n, ts->names_dir, name,
                    err == CF_ERR_FULL ? " (some beyond max-names refused)" : "");
        }
        flow_names_free(&f->names);
        f->loaded = true;
        break;
    }
    m->saved_gen = generation(dx);
    m->saved_mono_ms = 0;
    m->names_gen = names_generation(dx);
    m->names_saved_mono_ms = 0;
}

int collect_tplstore_dirty(const decode_exporter *dx, const collect_tpl_mark *m)
{
    return generation(dx) != m->saved_gen || names_generation(dx) != m->names_gen;
}

/* Queues buf (taken over) under name, replacing a queued save of the same file. */
static void queue_save(collect_tplstore *ts, const char *dir, const char *name, uint8_t *buf, size_t len)
{
    pthread_mutex_lock(&ts->mu);
    for (size_t i = 0; i < ts->n_saves; i++)
        if (ts->saves[i].dir == dir && strcmp(ts->saves[i].name, name) == 0) {
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
            bump(dir == ts->names_dir ? &ts->names_save_errors : &ts->save_errors);
            return;
        }
        ts->saves = ns;
        ts->cap_saves = nc;
    }
    tpl_save *s = &ts->saves[ts->n_saves++];
    s->dir = dir;
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->buf = buf;
    s->len = len;
    pthread_mutex_unlock(&ts->mu);
}

/* Queues a save of dx's names when they changed (rule as for templates). */
static void check_names(collect_tplstore *ts, decode_exporter *dx, collect_tpl_mark *m, uint64_t now_mono_ms,
                        int force)
{
    const flow_names *t = decode_names(dx);
    uint64_t gen = t ? t->generation : 0;
    if (!t || gen == m->names_gen)
        return;
    if (!force && m->names_saved_mono_ms && now_mono_ms - m->names_saved_mono_ms < COLLECT_TPL_SAVE_MS)
        return;
    m->names_gen = gen;
    m->names_saved_mono_ms = now_mono_ms ? now_mono_ms : 1;
    char *buf = NULL;
    size_t len = 0;
    if (flow_names_save(t, dx->addr, dx->port, &buf, &len) != CF_OK) {
        bump(&ts->names_save_errors);
        cf_log_limited(&ts->rl, CF_LOG_WARN, "cannot serialise the names of an exporter (out of memory)");
        return;
    }
    char name[TPL_NAME_LEN];
    file_name_sfx(dx->addr, dx->port, NAMES_SUFFIX, name, sizeof(name));
    queue_save(ts, ts->names_dir, name, (uint8_t *)buf, len);
}

void collect_tplstore_check(collect_tplstore *ts, decode_exporter *dx, collect_tpl_mark *m, uint64_t now_mono_ms,
                            int force)
{
    check_names(ts, dx, m, now_mono_ms, force);
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
    queue_save(ts, ts->dir, name, buf, len);
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
        bool names = s.dir == ts->names_dir;
        if (write_atomic(s.dir, s.name, s.buf, s.len) == 0) {
            bump(names ? &ts->names_saved : &ts->saved);
        } else {
            bump(names ? &ts->names_save_errors : &ts->save_errors);
            cf_log_limited(&ts->rl, CF_LOG_WARN, "cannot write %s file %s/%s: %s",
                           s.dir == ts->dir ? "template" : "names", s.dir, s.name, strerror(errno));
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
    out->names_loaded = atomic_load_explicit(&ts->names_loaded, memory_order_relaxed);
    out->names_load_errors = atomic_load_explicit(&ts->names_load_errors, memory_order_relaxed);
    out->names_saved = atomic_load_explicit(&ts->names_saved, memory_order_relaxed);
    out->names_save_errors = atomic_load_explicit(&ts->names_save_errors, memory_order_relaxed);
}

void collect_tplstore_close(collect_tplstore *ts)
{
    if (!ts)
        return;
    collect_tplstore_write_pending(ts);
    for (size_t i = 0; i < ts->n_files; i++)
        free(ts->files[i].buf);
    free(ts->files);
    for (size_t i = 0; i < ts->n_nfiles; i++)
        flow_names_free(&ts->nfiles[i].names);
    free(ts->nfiles);
    free(ts->saves);
    pthread_mutex_destroy(&ts->mu);
    free(ts->dir);
    free(ts->names_dir);
    free(ts);
}
