/* tests/store/test_list.c - store_list: recursion, ordering, window filter,
 * single files, several sources. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store_testlib.h"
#include "testutil.h"

#define T0 UINT64_C(1704067200000)
#define WIN UINT64_C(300000)

/* A data dir with sources "b" (windows 0, 2, 4) and "a" (windows 1, 2), plus
 * files that are not segments. */
static char *make_data_dir(void)
{
    char *dir = tu_mkdtemp("store-list");
    static const struct { const char *src; int win; } plan[] = {{"b", 4}, {"b", 0}, {"a", 2}, {"b", 2}, {"a", 1}};
    char path[4096];
    st_rng r = {31};
    for (size_t i = 0; i < sizeof(plan) / sizeof(plan[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", dir, plan[i].src);
        store_writer *w;
        assert_int_equal(store_writer_open(path, NULL, &w), CF_OK);
        flow_record rec;
        st_random_record(&r, T0 + (uint64_t)plan[i].win * WIN + 1000, &rec);
        assert_int_equal(store_writer_append(w, &rec, 1), CF_OK);
        assert_int_equal(store_writer_close(w), CF_OK);
    }
    snprintf(path, sizeof(path), "%s/b/2024/01/01/notes.txt", dir);
    FILE *f = fopen(path, "w");
    fputs("not a segment\n", f);
    fclose(f);
    snprintf(path, sizeof(path), "%s/a/2024/01/01/cf-2024010100.seg", dir); /* bad name: ignored */
    f = fopen(path, "w");
    fclose(f);
    return dir;
}

static void test_lists_all_sources_sorted(void **state)
{
    (void)state;
    char *dir = make_data_dir();
    store_segment *segs;
    size_t n = 0;
    assert_int_equal(store_list(dir, 0, UINT64_MAX, &segs, &n), CF_OK);
    assert_int_equal(n, 5);
    static const struct { int win; const char *src; } want[] = {{0, "/b/"}, {1, "/a/"}, {2, "/a/"}, {2, "/b/"}, {4, "/b/"}};
    for (size_t i = 0; i < n; i++) {
        assert_int_equal(segs[i].window_start_ms, T0 + (uint64_t)want[i].win * WIN);
        assert_int_equal(segs[i].window_end_ms, segs[i].window_start_ms + WIN);
        assert_non_null(strstr(segs[i].path, want[i].src));
    }
    store_segments_free(segs, n);
    tu_rm_rf(dir);
    free(dir);
}

static void test_filters_by_window(void **state)
{
    (void)state;
    char *dir = make_data_dir();
    store_segment *segs;
    size_t n = 0;
    /* [window 2 start, window 2 start + 1 ms]: both window-2 segments only. */
    assert_int_equal(store_list(dir, T0 + 2 * WIN, T0 + 2 * WIN + 1, &segs, &n), CF_OK);
    assert_int_equal(n, 2);
    store_segments_free(segs, n);
    /* The last ms of window 1 and the first of window 2. */
    assert_int_equal(store_list(dir, T0 + 2 * WIN - 1, T0 + 2 * WIN, &segs, &n), CF_OK);
    assert_int_equal(n, 3);
    store_segments_free(segs, n);
    /* Only source b, from window 3 on. */
    char path[4096];
    snprintf(path, sizeof(path), "%s/b", dir);
    assert_int_equal(store_list(path, T0 + 3 * WIN, UINT64_MAX, &segs, &n), CF_OK);
    assert_int_equal(n, 1);
    assert_int_equal(segs[0].window_start_ms, T0 + 4 * WIN);
    store_segments_free(segs, n);
    /* Nothing before the data. */
    assert_int_equal(store_list(dir, 0, T0 - 1, &segs, &n), CF_OK);
    assert_int_equal(n, 0);
    store_segments_free(segs, n);
    tu_rm_rf(dir);
    free(dir);
}

static void test_single_file_and_missing_path(void **state)
{
    (void)state;
    char *dir = make_data_dir();
    char path[4096];
    snprintf(path, sizeof(path), "%s/a/2024/01/01/cf-202401010005.seg", dir);
    store_segment *segs = NULL;
    size_t n = 0;
    assert_int_equal(store_list(path, 0, UINT64_MAX, &segs, &n), CF_OK);
    assert_int_equal(n, 1);
    assert_string_equal(segs[0].path, path);
    assert_int_equal(segs[0].window_start_ms, T0 + WIN);
    store_segments_free(segs, n);
    assert_int_equal(store_list(path, T0 + 2 * WIN, UINT64_MAX, &segs, &n), CF_OK);
    assert_int_equal(n, 0);
    store_segments_free(segs, n);
    snprintf(path, sizeof(path), "%s/nope", dir);
    segs = NULL;
    assert_int_equal(store_list(path, 0, UINT64_MAX, &segs, &n), CF_ERR_NOT_FOUND);
    assert_null(segs);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lists_all_sources_sorted),
        cmocka_unit_test(test_filters_by_window),
        cmocka_unit_test(test_single_file_and_missing_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
