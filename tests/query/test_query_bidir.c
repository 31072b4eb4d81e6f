/*
 * tests/query/test_query_bidir.c - -b and -B (bidirectional aggregation)
 * against nfdump 1.7.1, and their invariants.
 *
 * data/bidir/flows.txt holds 991 flows of the bench v5 data set (39 flow
 * pairs with both directions among them); each line of data/bidir/queries.txt
 * ("sorted" or "exact", a tab, the options) must print what nfdump printed
 * for the same flows (data/bidir/qN.expected, made by data/bidir/regen.sh).
 * "sorted": nfdump prints -b without -O in its hash table's order, cloudflow
 * by first seen, so the record lines are compared sorted.  Left out of the
 * comparison: the timing lines, and of csv records the columns after obyt
 * (nfdump prints the interfaces, AS ... of an aggregate's first flow there,
 * cloudflow prints them empty, as for -a).  Every query runs with one and
 * with two worker threads, and with the data read in several passes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "qtest.h"
#include "testutil.h"

#define MAX_QUERIES 32
#define N_FLOWS 991

static char *g_dir;
static char g_queries[MAX_QUERIES][256];
static int g_sorted[MAX_QUERIES];
static int g_n;

static int setup(void **state)
{
    (void)state;
    char path[4096];
    flow_record *recs = NULL;
    long n = qt_load_fixture(qt_source("tests/query/data/bidir/flows.txt", path, sizeof(path)), &recs);
    if (n != N_FLOWS)
        return -1;
    g_dir = tu_mkdtemp("qbi");
    if (!g_dir || qt_write_store(g_dir, recs, (size_t)n, 128) != 0)
        return -1;
    free(recs);
    char *q = tu_read_file(qt_source("tests/query/data/bidir/queries.txt", path, sizeof(path)), NULL);
    if (!q)
        return -1;
    for (char *save = NULL, *l = strtok_r(q, "\n", &save); l && g_n < MAX_QUERIES; l = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(l, '\t');
        if (!tab)
            return -1;
        g_sorted[g_n] = strncmp(l, "sorted", 6) == 0;
        snprintf(g_queries[g_n++], sizeof(g_queries[0]), "%s", tab + 1);
    }
    free(q);
    return g_n > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rm_rf(g_dir);
    free(g_dir);
    return 0;
}

static int line_cmp(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

static int is_record(const char *l)
{
    return strlen(l) > 20 && l[4] == '-' && l[7] == '-' && l[10] == ' ' && l[13] == ':';
}

/* Drops the timing lines, cuts csv records after obyt and (sorted) sorts
 * the record lines; a malloc'ed copy. */
static char *normalize(const char *text, int sorted)
{
    char *copy = strdup(text);
    assert_non_null(copy);
    size_t n = 0, cap = 64;
    char **lines = malloc(cap * sizeof(*lines));
    assert_non_null(lines);
    for (char *save = NULL, *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        if (strncmp(l, "Sys:", 4) == 0 || strncmp(l, "Total flows processed:", 22) == 0)
            continue;
        int commas = 0;
        for (char *p = l; *p; p++)
            if (*p == ',' && ++commas == 15)
                *p = '\0';
        if (n == cap)
            lines = realloc(lines, (cap *= 2) * sizeof(*lines));
        assert_non_null(lines);
        lines[n++] = l;
    }
    for (size_t i = 0; sorted && i < n;) { /* sort each run of record lines */
        size_t j = i;
        while (j < n && is_record(lines[j]))
            j++;
        if (j > i)
            qsort(lines + i, j - i, sizeof(*lines), line_cmp);
        i = j + (j == i);
    }
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(lines[i]) + 1;
    char *out = malloc(len), *w = out;
    assert_non_null(out);
    for (size_t i = 0; i < n; i++) {
        size_t l = strlen(lines[i]);
        memcpy(w, lines[i], l);
        w += l;
        *w++ = '\n';
    }
    *w = '\0';
    free(lines);
    free(copy);
    return out;
}

static void run_query(void **state)
{
    int i = *(int *)*state;
    char path[4096], name[64];
    snprintf(name, sizeof(name), "tests/query/data/bidir/q%d.expected", i + 1);
    char *want_raw = tu_read_file(qt_source(name, path, sizeof(path)), NULL);
    assert_non_null(want_raw);
    char *want = normalize(want_raw, g_sorted[i]);
    static const char *const ways[] = {"-T 1", "-T 2", "-T 2 --pass-rows 100", "-T 1 --pass-rows 1"};
    for (size_t k = 0; k < sizeof(ways) / sizeof(ways[0]); k++) {
        char args[512];
        snprintf(args, sizeof(args), "-R %s %s %s", g_dir, ways[k], g_queries[i]);
        char *got_raw = NULL, *err = NULL;
        int rc = qt_query(args, &got_raw, &err);
        assert_non_null(got_raw);
        char *got = normalize(got_raw, g_sorted[i]);
        if (strcmp(want, got) != 0)
            fprintf(stderr, "query: %s %s\n--- nfdump\n%s--- cloudflow (exit %d)\n%s--- stderr\n%s", ways[k],
                    g_queries[i], want, rc, got, err ? err : "");
        assert_int_equal(rc, 0);
        assert_string_equal(got, want);
        free(got_raw);
        free(got);
        free(err);
    }
    free(want_raw);
    free(want);
}

int main(void)
{
    static int idx[MAX_QUERIES];
    struct CMUnitTest tests[MAX_QUERIES];
    if (setup(NULL) != 0) {
        fprintf(stderr, "test_query_bidir: cannot load the fixture\n");
        return 1;
    }
    for (int i = 0; i < g_n; i++) {
        idx[i] = i;
        tests[i] = (struct CMUnitTest){"nfdump_bidir", run_query, NULL, NULL, &idx[i]};
    }
    int rc = _cmocka_run_group_tests("bidir", tests, (size_t)g_n, NULL, teardown);
    return rc;
}
