/* tests/util/testutil.c - helpers for test programs. */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

char *tu_mkdtemp(const char *tag)
{
    const char *base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    size_t len = strlen(base) + strlen(tag) + 32;
    char *path = malloc(len);
    if (!path)
        return NULL;
    snprintf(path, len, "%s/cf-%s-XXXXXX", base, tag);
    if (!mkdtemp(path)) {
        free(path);
        return NULL;
    }
    return path;
}

void tu_rm_rf(const char *path)
{
    if (!path || !*path || strcmp(path, "/") == 0)
        return;
    char cmd[4200];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
    int rc = system(cmd);
    (void)rc;
}

const char *tu_testdata(const char *rel, char *buf, size_t len)
{
    const char *base = getenv("CF_TESTDATA");
    snprintf(buf, len, "%s/%s", base ? base : "../shared/testdata", rel);
    return buf;
}

const char *tu_binary(void)
{
    const char *b = getenv("CF_BINARY");
    return b ? b : "build/cloudflow";
}

int tu_run(const char *cmd, char **out)
{
    FILE *p = popen(cmd, "r");
    if (!p)
        return -1;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len - 1, p)) > 0) {
        len += n;
        if (cap - len < 2048) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
    }
    int status = pclose(p);
    if (buf)
        buf[len] = '\0';
    if (out)
        *out = buf;
    else
        free(buf);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = size >= 0 ? malloc((size_t)size + 1) : NULL;
    if (buf && fread(buf, 1, (size_t)size, f) != (size_t)size) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[size] = '\0';
        if (len)
            *len = (size_t)size;
    }
    return buf;
}

int tu_tsv_load(const char *path, tu_tsv *out)
{
    memset(out, 0, sizeof(*out));
    size_t len;
    out->text = tu_read_file(path, &len);
    if (!out->text)
        return -1;
    size_t n_lines = 0;
    for (size_t i = 0; i < len; i++)
        if (out->text[i] == '\n')
            n_lines++;
    out->rows = calloc(n_lines + 1, sizeof(char **));
    char *line = out->text;
    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        size_t n_cells = 1;
        for (char *c = line; *c; c++)
            if (*c == '\t')
                n_cells++;
        char **cells = calloc(n_cells + 1, sizeof(char *));
        size_t j = 0;
        char *cell = line;
        for (char *c = line;; c++) {
            if (*c == '\t' || *c == '\0') {
                int end = *c == '\0';
                *c = '\0';
                cells[j++] = cell;
                cell = c + 1;
                if (end)
                    break;
            }
        }
        if (out->n_rows == 0)
            out->n_cols = n_cells;
        out->rows[out->n_rows++] = cells;
        line = nl ? nl + 1 : NULL;
    }
    return 0;
}

int tu_tsv_col(const tu_tsv *t, const char *name)
{
    if (t->n_rows == 0)
        return -1;
    for (size_t j = 0; j < t->n_cols; j++)
        if (strcmp(t->rows[0][j], name) == 0)
            return (int)j;
    return -1;
}

void tu_tsv_free(tu_tsv *t)
{
    for (size_t i = 0; i < t->n_rows; i++)
        free(t->rows[i]);
    free(t->rows);
    free(t->text);
    memset(t, 0, sizeof(*t));
}
