/* query/names.c - the names files of the paths a query reads (contract in
 * names.h). */
#include "query/names.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/array.h"
#include "flow/flow.h"

#define NAMES_DIR ".names"
#define NAMES_SUFFIX ".names"

typedef struct exporter_names {
    uint8_t addr[16];
    flow_names t;
} exporter_names;

struct query_names {
    exporter_names *ex; /* sorted by addr */
    size_t n, cap;
    char **dirs;        /* names directories already read (real paths) */
    size_t n_dirs;
};

static int cmp_addr(const void *a, const void *b) { return memcmp(a, b, 16); }

const flow_names *query_names_of(const query_names *qn, const uint8_t exporter[16])
{
    if (!qn)
        return NULL;
    const exporter_names *e = bsearch(exporter, qn->ex, qn->n, sizeof(*qn->ex), cmp_addr);
    return e ? &e->t : NULL;
}

int query_names_has_if(const flow_names *t) { return t && t->n && t->e[t->n - 1].kind == FLOW_NAME_IF; }

void query_names_free(query_names *qn)
{
    if (!qn)
        return;
    for (size_t i = 0; i < qn->n; i++)
        flow_names_free(&qn->ex[i].t);
    free(qn->ex);
    for (size_t i = 0; i < qn->n_dirs; i++)
        free(qn->dirs[i]);
    free(qn->dirs);
    free(qn);
}

/* The table of addr, created (in order) when new; NULL without memory. */
static flow_names *table_of(query_names *qn, const uint8_t addr[16])
{
    size_t lo = 0, hi = qn->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = memcmp(qn->ex[mid].addr, addr, 16);
        if (c == 0)
            return &qn->ex[mid].t;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (cf_array_grow(&qn->ex, &qn->cap, qn->n + 1, sizeof(*qn->ex), 8) != CF_OK)
        return NULL;
    memmove(&qn->ex[lo + 1], &qn->ex[lo], (qn->n - lo) * sizeof(*qn->ex));
    memcpy(qn->ex[lo].addr, addr, 16);
    flow_names_init(&qn->ex[lo].t, FLOW_NAMES_MAX_FILE);
    qn->n++;
    return &qn->ex[lo].t;
}

/* Reads one names file and merges it; problems are reported, not fatal. */
static cf_err read_one(query_names *qn, const char *path, FILE *errout)
{
    char why[200] = "";
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t len = 0;
    if (!f) {
        snprintf(why, sizeof(why), "%s", strerror(errno));
    } else {
        buf = malloc(FLOW_NAMES_MAX_FILE + 1);
        if (!buf) {
            fclose(f);
            return CF_ERR_NOMEM;
        }
        len = fread(buf, 1, FLOW_NAMES_MAX_FILE + 1, f);
        if (ferror(f))
            snprintf(why, sizeof(why), "read error");
        fclose(f);
    }
    flow_names t;
    flow_names_init(&t, FLOW_NAMES_MAX_FILE);
    uint8_t addr[16];
    uint16_t port;
    cf_err err = CF_OK;
    if (!*why)
        err = flow_names_parse(buf, len, &t, addr, &port, why, sizeof(why));
    free(buf);
    if (err == CF_ERR_NOMEM)
        return err;
    if (*why) {
        fprintf(errout, "cloudflow query: %s: %s; names file ignored\n", path, why);
        flow_names_free(&t);
        return CF_OK;
    }
    flow_names *to = table_of(qn, addr);
    for (size_t i = 0; to && i < t.n; i++) {
        const flow_name *e = &t.e[i];
        if (!flow_names_find(to, (flow_name_kind)e->kind, e->key) &&
            flow_names_set(to, (flow_name_kind)e->kind, e->key, e->name, e->desc) == CF_ERR_NOMEM)
            to = NULL;
    }
    flow_names_free(&t);
    return to ? CF_OK : CF_ERR_NOMEM;
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* Reads every *.names file of dir, in name order. */
static cf_err read_dir(query_names *qn, const char *dir, FILE *errout)
{
    DIR *d = opendir(dir);
    if (!d)
        return CF_OK;
    char **names = NULL;
    size_t n = 0, cap = 0;
    cf_err err = CF_OK;
    struct dirent *de;
    while (!err && (de = readdir(d)) != NULL) {
        size_t l = strlen(de->d_name);
        if (de->d_name[0] == '.' || l <= strlen(NAMES_SUFFIX) ||
            strcmp(de->d_name + l - strlen(NAMES_SUFFIX), NAMES_SUFFIX) != 0)
            continue;
        if (cf_array_grow(&names, &cap, n + 1, sizeof(*names), 16) != CF_OK) {
            err = CF_ERR_NOMEM;
            break;
        }
        if (!(names[n] = strdup(de->d_name)))
            err = CF_ERR_NOMEM;
        else
            n++;
    }
    closedir(d);
    if (!err && n)
        qsort(names, n, sizeof(*names), cmp_str);
    for (size_t i = 0; i < n; i++) {
        char path[PATH_MAX + 300];
        snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
        if (!err)
            err = read_one(qn, path, errout);
        free(names[i]);
    }
    free(names);
    return err;
}

/* The names directory for path (see names.h) into out; false when none. */
static bool find_dir(const char *path, char *out, size_t len)
{
    char cur[PATH_MAX];
    struct stat st;
    if (!realpath(path, cur) || stat(cur, &st) != 0)
        return false;
    if (!S_ISDIR(st.st_mode)) {
        char *slash = strrchr(cur, '/');
        if (!slash)
            return false;
        slash[slash == cur ? 1 : 0] = '\0';
    }
    for (int up = 0; up <= QUERY_NAMES_UP; up++) {
        snprintf(out, len, "%s%s%s", cur, strcmp(cur, "/") == 0 ? "" : "/", NAMES_DIR);
        if (stat(out, &st) == 0 && S_ISDIR(st.st_mode))
            return true;
        char *slash = strrchr(cur, '/');
        if (!slash || strcmp(cur, "/") == 0)
            break;
        slash[slash == cur ? 1 : 0] = '\0';
    }
    return false;
}

cf_err query_names_load(const char *const *paths, size_t n, FILE *errout, query_names **out)
{
    query_names *qn = calloc(1, sizeof(*qn));
    if (!qn)
        return CF_ERR_NOMEM;
    cf_err err = CF_OK;
    for (size_t i = 0; i < n && !err; i++) {
        char dir[PATH_MAX + 16];
        if (!find_dir(paths[i], dir, sizeof(dir)))
            continue;
        bool seen = false;
        for (size_t k = 0; k < qn->n_dirs && !seen; k++)
            seen = strcmp(qn->dirs[k], dir) == 0;
        if (seen)
            continue;
        char **nd = realloc(qn->dirs, (qn->n_dirs + 1) * sizeof(*nd));
        if (!nd || !(nd[qn->n_dirs] = strdup(dir))) {
            if (nd)
                qn->dirs = nd;
            err = CF_ERR_NOMEM;
            break;
        }
        qn->dirs = nd;
        qn->n_dirs++;
        err = read_dir(qn, dir, errout);
    }
    if (err || qn->n == 0) {
        query_names_free(qn);
        qn = NULL;
    }
    if (!err)
        *out = qn;
    return err;
}
