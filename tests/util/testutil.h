/*
 * tests/util/testutil.h - small helpers shared by the test programs.
 *
 * Not thread safe; test programs are single-threaded around these calls.
 */
#ifndef CF_TESTUTIL_H
#define CF_TESTUTIL_H

#include <stddef.h>

/* A fresh empty directory under $TMPDIR (or /tmp); malloc'ed path. */
char *tu_mkdtemp(const char *tag);
/* Removes a directory tree (best effort). */
void tu_rm_rf(const char *path);
/* Absolute path of a file under the shared testdata dir ($CF_TESTDATA) into buf. */
const char *tu_testdata(const char *rel, char *buf, size_t len);
/* Path of the cloudflow binary ($CF_BINARY). */
const char *tu_binary(void);
/* Runs a shell command, returns its exit status (or -1); its stdout is
 * malloc'ed into *out when out is not NULL. */
int tu_run(const char *cmd, char **out);
/* Reads a whole file; malloc'ed, NUL-terminated; NULL on error. */
char *tu_read_file(const char *path, size_t *len);

/* A TSV file split into rows of cells (first row = header). */
typedef struct tu_tsv {
    char *text;       /* the file, with tabs/newlines replaced by NULs */
    char ***rows;     /* rows[i][j] */
    size_t n_rows;
    size_t n_cols;    /* of the header */
} tu_tsv;
int tu_tsv_load(const char *path, tu_tsv *out);
/* Column index of name in the header, or -1. */
int tu_tsv_col(const tu_tsv *t, const char *name);
void tu_tsv_free(tu_tsv *t);

#endif
