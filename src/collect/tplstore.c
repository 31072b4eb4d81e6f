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
#include "core/timeutil.h"
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
/* The newest saved templates of one exporter, as the state file holds them
 * (kept by the saver thread). */
typedef struct state_entry {
    char name[TPL_NAME_LEN]; /* "<exporter>.tpl" */
    uint8_t *buf;
    size_t len;
} state_entry;

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
    state_entry *state;   /* saver thread: every exporter's newest templates (the state file), */
    size_t n_state, cap_state; /* least recently updated first, at most max_state */
    size_t max_state;
    char **legacy;        /* per-exporter files read at open, removed once the state file is written */
    size_t n_legacy;
    bool state_dirty;     /* saver thread: state differs from the file */
    uint64_t unwritten;   /* saver thread: template saves not yet in the file */
    uint64_t state_written_ms; /* CLOCK_MONOTONIC of the last state file write */
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

/* ---- the templates state file ------------------------------------------- */

static const char state_magic[] = "cloudflow-templates 1\n";

/* A section name: "<exporter>.tpl" as file_name() makes it. */
static bool good_name(const char *p, size_t n)
{
    if (n <= strlen(TPL_SUFFIX) || n >= TPL_NAME_LEN || memcmp(p + n - strlen(TPL_SUFFIX), TPL_SUFFIX,
                                                                  strlen(TPL_SUFFIX)) != 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '.' ||
              c == '-' || c == '_'))
            return false;
    }
    return p[0] != '.';
}

/* The decimal number p[0 .. n) into *v (at most max); false when it is not one. */
static bool parse_size(const char *p, size_t n, size_t max, size_t *v)
{
    if (n == 0 || n > 10)
        return false;
    size_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (p[i] < '0' || p[i] > '9')
            return false;
        x = x * 10 + (size_t)(p[i] - '0');
    }
    if (x > max)
        return false;
    *v = x;
    return true;
}

cf_err collect_tplstore_parse_state(const uint8_t *buf, size_t len, collect_tpl_section_fn fn, void *ctx,
                                    char *why, size_t why_len)
{
    size_t ml = strlen(state_magic), pos = ml, count = 0;
    if (len < ml || memcmp(buf, state_magic, ml) != 0) {
        snprintf(why, why_len, "not a templates state file (first line is not \"cloudflow-templates 1\")");
        return CF_ERR_CORRUPT;
    }
    for (;;) {
        size_t end = pos;
        while (end < len && end - pos < 2 * TPL_NAME_LEN && buf[end] != '\n')
            end++;
        if (end >= len || buf[end] != '\n') {
            snprintf(why, why_len, "byte %zu: section %zu: header line %s", pos, count + 1,
                     end >= len ? "cut short (no \"end\" line)" : "too long");
            return CF_ERR_CORRUPT;
        }
        const char *line = (const char *)buf + pos;
        size_t ll = end - pos, v = 0;
        if (ll > 4 && memcmp(line, "end ", 4) == 0) {
            if (!parse_size(line + 4, ll - 4, SIZE_MAX, &v) || v != count) {
                snprintf(why, why_len, "byte %zu: \"end\" line does not give the %zu sections read", pos, count);
                return CF_ERR_CORRUPT;
            }
            if (end + 1 != len) {
                snprintf(why, why_len, "byte %zu: %zu bytes after the \"end\" line", end + 1, len - end - 1);
                return CF_ERR_CORRUPT;
            }
            return CF_OK;
        }
        const char *sp = memchr(line, ' ', ll);
        size_t nl = sp ? (size_t)(sp - line) : ll;
        if (!sp || !good_name(line, nl) || !parse_size(sp + 1, ll - nl - 1, COLLECT_TPL_MAX_FILE, &v)) {
            snprintf(why, why_len, "byte %zu: section %zu: header is not \"<exporter>.tpl <length>\"", pos,
                     count + 1);
            return CF_ERR_CORRUPT;
        }
        char name[TPL_NAME_LEN];
        memcpy(name, line, nl);
        name[nl] = '\0';
        size_t body = end + 1;
        if (len - body < v + 1 || buf[body + v] != '\n') {
            snprintf(why, why_len, "byte %zu: section %zu (%s): %zu bytes announced, %s", pos, count + 1, name, v,
                     len - body < v + 1 ? "fewer left" : "no newline after them");
            return CF_ERR_CORRUPT;
        }
        if (fn)
            fn(ctx, name, buf + body, v);
        count++;
        pos = body + v + 1;
    }
}

/* The state entry of name, or NULL. */
static state_entry *state_find(collect_tplstore *ts, const char *name)
{
    for (size_t i = 0; i < ts->n_state; i++)
        if (strcmp(ts->state[i].name, name) == 0)
            return &ts->state[i];
    return NULL;
}

/* Sets the state of name to buf (taken over; freed on failure).  False
 * when out of memory. */
static bool state_put(collect_tplstore *ts, const char *name, uint8_t *buf, size_t len)
{
    state_entry *e = state_find(ts, name);
    if (e && e != &ts->state[ts->n_state - 1]) {
        /* the newest last: when there are more exporters than max-exporters,
         * the ones not updated for the longest time are dropped first */
        state_entry keep = *e;
        memmove(e, e + 1, (size_t)(&ts->state[ts->n_state - 1] - e) * sizeof(*e));
        ts->state[ts->n_state - 1] = keep;
        e = &ts->state[ts->n_state - 1];
    }
    if (!e && ts->max_state && ts->n_state >= ts->max_state) {
        free(ts->state[0].buf);
        memmove(&ts->state[0], &ts->state[1], (ts->n_state - 1) * sizeof(ts->state[0]));
        ts->n_state--;
    }
    if (!e) {
        if (ts->n_state == ts->cap_state) {
            size_t nc = ts->cap_state ? ts->cap_state * 2 : 64;
            state_entry *ns = realloc(ts->state, nc * sizeof(*ns));
            if (!ns) {
                free(buf);
                return false;
            }
            ts->state = ns;
            ts->cap_state = nc;
        }
        e = &ts->state[ts->n_state++];
        snprintf(e->name, sizeof(e->name), "%s", name);
        e->buf = NULL;
    }
    free(e->buf);
    e->buf = buf;
    e->len = len;
    return true;
}

/* The state file's bytes (malloc'ed), or NULL. */
static uint8_t *state_serialise(const collect_tplstore *ts, size_t *out_len)
{
    size_t len = strlen(state_magic) + 32;
    for (size_t i = 0; i < ts->n_state; i++)
        len += strlen(ts->state[i].name) + 24 + ts->state[i].len;
    uint8_t *buf = malloc(len);
    if (!buf)
        return NULL;
    size_t pos = (size_t)snprintf((char *)buf, len, "%s", state_magic);
    for (size_t i = 0; i < ts->n_state; i++) {
        const state_entry *e = &ts->state[i];
        pos += (size_t)snprintf((char *)buf + pos, len - pos, "%s %zu\n", e->name, e->len);
        memcpy(buf + pos, e->buf, e->len);
        pos += e->len;
        buf[pos++] = '\n';
    }
    pos += (size_t)snprintf((char *)buf + pos, len - pos, "end %zu\n", ts->n_state);
    *out_len = pos;
    return buf;
}

/* Checks saved templates (a file or a state section) by loading them into
 * a scratch exporter with the pipeline's limits. */
static cf_err check_templates(const uint8_t *buf, size_t len, const decode_config *cfg)
{
    decode_exporter scratch;
    uint8_t zero[16] = {0};
    decode_exporter_init(&scratch, zero, 0);
    if (cfg)
        decode_exporter_set_config(&scratch, cfg);
    cf_err err = decode_templates_load(&scratch, buf, len);
    decode_exporter_free(&scratch);
    return err;
}

/* Keeps good saved templates of name for its exporter (ts->files) and for
 * the next state file. */
static void keep_loaded(collect_tplstore *ts, const char *name, uint8_t *buf, size_t len)
{
    uint8_t *copy = malloc(len ? len : 1);
    if (!copy || !state_put(ts, name, copy, len)) {
        bump(&ts->load_errors);
        CF_WARN("saved templates %s: out of memory; ignored", name);
        free(buf);
        return;
    }
    memcpy(copy, buf, len);
    tpl_file *f = &ts->files[ts->n_files++];
    snprintf(f->name, sizeof(f->name), "%s", name);
    f->buf = buf;
    f->len = len;
}

typedef struct state_load {
    collect_tplstore *ts;
    const decode_config *cfg;
    size_t max_files;
    const char *path;
    size_t skip; /* oldest sections to drop */
} state_load;

static int count_section(void *ctx, const char *name, const uint8_t *buf, size_t len)
{
    (void)name, (void)buf, (void)len;
    (*(size_t *)ctx)++;
    return 0;
}

static int load_section(void *ctx, const char *name, const uint8_t *buf, size_t len)
{
    state_load *sl = ctx;
    collect_tplstore *ts = sl->ts;
    if (sl->skip > 0) { /* more exporters than max-exporters: the least recently updated go */
        sl->skip--;
        ts->state_dirty = true; /* written again without it */
        bump(&ts->load_errors);
        CF_WARN("template state file %s: exporter %s: more exporters than max-exporters; dropped", sl->path, name);
        return 0;
    }
    cf_err err = ts->n_files >= sl->max_files ? CF_ERR_FULL : check_templates(buf, len, sl->cfg);
    uint8_t *copy = err ? NULL : malloc(len ? len : 1);
    if (!err && !copy)
        err = CF_ERR_NOMEM;
    if (err || state_find(ts, name)) {
        ts->state_dirty = true; /* written again without it */
        bump(&ts->load_errors);
        CF_WARN("template state file %s: exporter %s: %s; ignored (its next templates replace them)", sl->path,
                name, !err ? "appears twice" : err == CF_ERR_FULL ? "more exporters than max-exporters"
                                                                 : "truncated or corrupt");
        free(copy);
        return 0;
    }
    memcpy(copy, buf, len);
    keep_loaded(ts, name, copy, len);
    return 0;
}

/* Reads DATADIR/.templates/templates.state, if any. */
static void preload_state(collect_tplstore *ts, size_t max_files, const decode_config *cfg)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", ts->dir, COLLECT_TPL_STATE);
    uint8_t *buf = NULL;
    size_t len = 0;
    struct stat st;
    if (stat(path, &st) != 0 && errno == ENOENT)
        return;
    cf_err err = read_file(path, (size_t)max_files * COLLECT_TPL_MAX_FILE, &buf, &len);
    if (err) {
        bump(&ts->load_errors);
        CF_WARN("template state file %s: %s; ignored", path, err == CF_ERR_IO ? strerror(errno) : cf_err_str(err));
        return;
    }
    char why[256];
    size_t n_sections = 0;
    (void)collect_tplstore_parse_state(buf, len, count_section, &n_sections, why, sizeof(why));
    state_load sl = {ts, cfg, max_files, path, n_sections > max_files ? n_sections - max_files : 0};
    if (collect_tplstore_parse_state(buf, len, load_section, &sl, why, sizeof(why)) != CF_OK) {
        bump(&ts->load_errors);
        CF_WARN("template state file %s: %s; the sections before it were kept", path, why);
        ts->state_dirty = true; /* rewrite it whole */
    }
    free(buf);
}

/* Reads and checks one per-exporter file of earlier versions; keeps its
 * templates when good and the state file has none for the exporter.  The
 * file is removed once the state file is written. */
static void preload_one(collect_tplstore *ts, const char *name, const decode_config *cfg, size_t max_files)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s", ts->dir, name);
    if (!good_name(name, strlen(name))) {
        CF_WARN("template file %s: not a name the collector writes; left alone", path);
        return;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    cf_err err = CF_OK;
    if (!state_find(ts, name)) { /* else the state file is newer: the file only goes */
        err = ts->n_files >= max_files ? CF_ERR_FULL : read_file(path, COLLECT_TPL_MAX_FILE, &buf, &len);
        if (!err)
            err = check_templates(buf, len, cfg);
        if (err) {
            bump(&ts->load_errors);
            CF_WARN("template file %s: %s; ignored (the exporter's next templates replace it)", path,
                    err == CF_ERR_CORRUPT  ? "truncated or corrupt"
                    : err == CF_ERR_RANGE  ? "too large"
                    : err == CF_ERR_FULL   ? "more files than max-exporters"
                    : err == CF_ERR_IO     ? strerror(errno)
                                           : cf_err_str(err));
            free(buf);
            if (err != CF_ERR_CORRUPT && err != CF_ERR_RANGE)
                return; /* kept: it may load another time */
        } else {
            keep_loaded(ts, name, buf, len);
        }
    }
    /* migrated into the state (or useless): removed once the state file is written */
    char **nl = realloc(ts->legacy, (ts->n_legacy + 1) * sizeof(*nl));
    if (nl) {
        ts->legacy = nl;
        if ((nl[ts->n_legacy] = strdup(path)) != NULL)
            ts->n_legacy++;
    }
    ts->state_dirty = true;
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
    ts->max_state = max_files;
    preload_state(ts, max_files, cfg);
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

/* Writes the state file when it changed and the last write is at least
 * COLLECT_TPL_STATE_MS old (or force), counting the saves it holds; then
 * removes the per-exporter files of earlier versions. */
static void write_state(collect_tplstore *ts, bool force)
{
    uint64_t now = cf_time_mono_ms();
    if (!ts->state_dirty || (!force && ts->state_written_ms && now - ts->state_written_ms < COLLECT_TPL_STATE_MS))
        return;
    ts->state_written_ms = now;
    size_t len = 0;
    uint8_t *buf = state_serialise(ts, &len);
    if (!buf || write_atomic(ts->dir, COLLECT_TPL_STATE, buf, len) != 0) {
        bump(&ts->save_errors); /* one failed write (retried in a second) */
        cf_log_limited(&ts->rl, CF_LOG_WARN, "cannot write the template state file %s/%s: %s", ts->dir,
                       COLLECT_TPL_STATE, buf ? strerror(errno) : "out of memory");
        free(buf);
        return;
    }
    free(buf);
    atomic_fetch_add_explicit(&ts->saved, ts->unwritten, memory_order_relaxed);
    ts->unwritten = 0;
    ts->state_dirty = false;
    if (ts->n_legacy) { /* the rename on disk before the files it replaces go */
        int dfd = open(ts->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        bool synced = dfd >= 0 && fsync(dfd) == 0;
        if (dfd >= 0)
            close(dfd);
        if (!synced)
            return; /* the old files stay until a later write */
    }
    for (size_t i = 0; i < ts->n_legacy; i++) {
        if (unlink(ts->legacy[i]) != 0 && errno != ENOENT)
            CF_WARN("cannot remove the old template file %s: %s", ts->legacy[i], strerror(errno));
        free(ts->legacy[i]);
    }
    ts->n_legacy = 0;
}

static void write_pending(collect_tplstore *ts, bool force)
{
    for (;;) {
        pthread_mutex_lock(&ts->mu);
        if (ts->n_saves == 0) {
            pthread_mutex_unlock(&ts->mu);
            break;
        }
        tpl_save s = ts->saves[--ts->n_saves];
        pthread_mutex_unlock(&ts->mu);
        if (s.dir == ts->dir) { /* templates: into the state file */
            if (state_put(ts, s.name, s.buf, s.len)) {
                ts->state_dirty = true;
                ts->unwritten++;
            } else {
                bump(&ts->save_errors);
                cf_log_limited(&ts->rl, CF_LOG_WARN, "cannot keep the templates of %s (out of memory)", s.name);
            }
            continue;
        }
        if (write_atomic(s.dir, s.name, s.buf, s.len) == 0) {
            bump(&ts->names_saved);
        } else {
            bump(&ts->names_save_errors);
            cf_log_limited(&ts->rl, CF_LOG_WARN, "cannot write names file %s/%s: %s", s.dir, s.name,
                           strerror(errno));
        }
        free(s.buf);
    }
    write_state(ts, force);
}

void collect_tplstore_write_pending(collect_tplstore *ts) { write_pending(ts, false); }

void collect_tplstore_flush(collect_tplstore *ts) { write_pending(ts, true); }

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
    write_pending(ts, true);
    for (size_t i = 0; i < ts->n_state; i++)
        free(ts->state[i].buf);
    free(ts->state);
    for (size_t i = 0; i < ts->n_legacy; i++)
        free(ts->legacy[i]);
    free(ts->legacy);
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
