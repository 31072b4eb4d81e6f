/*
 * tests/query/test_query_tags.c - the fmt: tags added with issue 3 against
 * nfdump 1.7.1: each capture of data/tags/tags.txt is imported with
 * `cloudflow import`, queried with its format, and compared with what nfdump
 * printed for the same capture received by nfcapd (data/tags/<name>.expected,
 * made by data/tags/regen.sh): the header line, then the records sorted
 * (the two may order records differently).  Only tags that do not depend on
 * where or when the capture was received are compared (no %ra, %tr).
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

static int cmp_line(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

/* text with its lines after the first sorted. */
static char *sort_records(char *text)
{
    char *lines[4096];
    size_t n = 0;
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l && n < 4096; l = strtok_r(NULL, "\n", &save))
        lines[n++] = l;
    if (n > 1)
        qsort(lines + 1, n - 1, sizeof(*lines), cmp_line);
    size_t len = 1;
    for (size_t i = 0; i < n; i++)
        len += strlen(lines[i]) + 1;
    char *out = malloc(len), *w = out;
    for (size_t i = 0; out && i < n; i++) {
        size_t l = strlen(lines[i]);
        memcpy(w, lines[i], l);
        w += l;
        *w++ = '\n';
    }
    if (out)
        *w = '\0';
    return out;
}

static void check_capture(const char *cap, const char *fmt)
{
    char *dir = tu_mkdtemp("qtags");
    assert_non_null(dir);
    char pcap[4096], cmd[8192], args[4096], path[4096];
    tu_testdata("pcap/", pcap, sizeof(pcap));
    snprintf(cmd, sizeof(cmd), "'%s' import '%s%s.pcap' --data '%s/d' >/dev/null 2>&1", tu_binary(), pcap, cap, dir);
    assert_int_equal(tu_run(cmd, NULL), 0);
    char *head = NULL, *recs = NULL;
    snprintf(args, sizeof(args), "-r %s/d -c 1 -o 'fmt:%s'", dir, fmt);
    assert_int_equal(qt_query(args, &head, NULL), 0);
    snprintf(args, sizeof(args), "-r %s/d -q -o 'fmt:%s'", dir, fmt);
    assert_int_equal(qt_query(args, &recs, NULL), 0);
    char *nl = strchr(head, '\n');
    assert_non_null(nl);
    nl[1] = '\0';
    size_t len = strlen(head) + strlen(recs) + 1;
    char *all = malloc(len);
    assert_non_null(all);
    snprintf(all, len, "%s%s", head, recs);
    char *got = sort_records(all);

    const char *base = strrchr(cap, '/') + 1;
    snprintf(cmd, sizeof(cmd), "tests/query/data/tags/%s.expected", base);
    char *want = tu_read_file(qt_source(cmd, path, sizeof(path)), NULL);
    assert_non_null(want);
    if (strcmp(got, want) != 0) {
        printf("%s: cloudflow:\n%s\nnfdump:\n%s\n", base, got, want);
        fail_msg("%s differs from nfdump", base);
    }
    printf("  %s: matches nfdump\n", base);
    free(want);
    free(got);
    free(all);
    free(head);
    free(recs);
    tu_rm_rf(dir);
    free(dir);
}

static void test_tags_match_nfdump(void **state)
{
    (void)state;
    char path[4096];
    char *list = tu_read_file(qt_source("tests/query/data/tags/tags.txt", path, sizeof(path)), NULL);
    assert_non_null(list);
    size_t n = 0;
    for (char *save = NULL, *l = strtok_r(list, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *tab = strchr(l, '\t');
        assert_non_null(tab);
        *tab = '\0';
        check_capture(l, tab + 1);
        n++;
    }
    assert_true(n >= 4);
    free(list);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tags_match_nfdump),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
