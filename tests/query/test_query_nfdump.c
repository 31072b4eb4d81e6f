/*
 * tests/query/test_query_nfdump.c - cloudflow query against nfdump 1.7.1.
 *
 * The 2000 flows of an nfcapd file (tests/query/data/flows.txt, every field
 * cloudflow stores as nfdump printed it) are written to a store; each query
 * of data/queries.txt must then print what nfdump printed for the same
 * flows (data/qN.expected, made by data/regen.sh).  Left out of the
 * comparison: the timing lines ("Sys:", "Total flows processed:"), which
 * differ by nature, and the csv columns exid and tr (exporter sysid and
 * receive time, which the store does not keep).
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

#define N_QUERIES 20

static char *g_dir;
static char g_queries[N_QUERIES][256];

static int setup(void **state)
{
    (void)state;
    char path[4096];
    flow_record *recs = NULL;
    long n = qt_load_fixture(qt_source("tests/query/data/flows.txt", path, sizeof(path)), &recs);
    if (n != 2000)
        return -1;
    g_dir = tu_mkdtemp("qnf");
    if (!g_dir || qt_write_store(g_dir, recs, (size_t)n, 128) != 0)
        return -1;
    free(recs);
    char *q = tu_read_file(qt_source("tests/query/data/queries.txt", path, sizeof(path)), NULL);
    if (!q)
        return -1;
    size_t i = 0;
    for (char *save = NULL, *l = strtok_r(q, "\n", &save); l && i < N_QUERIES; l = strtok_r(NULL, "\n", &save))
        snprintf(g_queries[i++], sizeof(g_queries[0]), "%s", l);
    free(q);
    return i == N_QUERIES ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    tu_rm_rf(g_dir);
    free(g_dir);
    return 0;
}

/* Drops the lines that legitimately differ and the csv columns exid, tr. */
static char *normalize(const char *text, int drop_window)
{
    size_t len = strlen(text);
    char *out = malloc(len + 1), *w = out;
    const char *p = text;
    while (out && *p) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        int drop = (l >= 4 && strncmp(p, "Sys:", 4) == 0) ||
                   (l >= 22 && strncmp(p, "Total flows processed:", 22) == 0) ||
                   (drop_window && l >= 12 && strncmp(p, "Time window:", 12) == 0);
        if (!drop) {
            size_t keep = l;
            int commas = 0;
            for (size_t i = 0; i < l; i++)
                commas += p[i] == ',';
            if (commas == 47) { /* a csv record: cut ",exid,tr" */
                int seen = 0;
                for (size_t i = 0; i < l; i++)
                    if (p[i] == ',' && ++seen == 46) {
                        keep = i;
                        break;
                    }
            }
            memcpy(w, p, keep);
            w += keep;
            *w++ = '\n';
        }
        p += l + (nl ? 1 : 0);
    }
    if (out)
        *w = '\0';
    return out;
}

static void run_query(void **state)
{
    int i = *(int *)*state;
    char args[512], path[4096], name[64];
    snprintf(args, sizeof(args), "-R %s %s", g_dir, g_queries[i]);
    snprintf(name, sizeof(name), "tests/query/data/q%d.expected", i + 1);
    char *want_raw = tu_read_file(qt_source(name, path, sizeof(path)), NULL);
    assert_non_null(want_raw);
    char *got_raw = NULL, *err = NULL;
    int rc = qt_query(args, &got_raw, &err);
    assert_non_null(got_raw);
    int drop_window = strstr(g_queries[i], "-t ") != NULL;
    char *want = normalize(want_raw, drop_window), *got = normalize(got_raw, drop_window);
    if (strcmp(want, got) != 0)
        fprintf(stderr, "query: %s\n--- nfdump\n%s--- cloudflow (exit %d)\n%s--- stderr\n%s", g_queries[i], want,
                rc, got, err ? err : "");
    assert_int_equal(rc, 0);
    assert_string_equal(got, want);
    free(want_raw);
    free(got_raw);
    free(want);
    free(got);
    free(err);
}

int main(void)
{
    static int idx[N_QUERIES];
    struct CMUnitTest tests[N_QUERIES];
    for (int i = 0; i < N_QUERIES; i++) {
        idx[i] = i;
        tests[i] = (struct CMUnitTest){"nfdump_query", run_query, NULL, NULL, &idx[i]};
    }
    return cmocka_run_group_tests(tests, setup, teardown);
}
