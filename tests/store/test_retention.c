/* tests/store/test_retention.c - store_retention_apply: by age, by size,
 * oldest first, never a segment that is still being written. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "store_testlib.h"
#include "testutil.h"

#define T0 UINT64_C(1704067200000) /* 2024-01-01 00:00 UTC */
#define WIN UINT64_C(300000)
#define HOUR UINT64_C(3600000)

/* Writes n_windows sealed segments, one per 5-minute window from T0, plus
 * (when open_last) one more segment left open by the returned writer. */
static store_writer *write_windows(const char *dir, int n_windows, int open_last)
{
    store_options o;
    st_options(&o, STORE_CODEC_LZ4, 256);
    store_writer *w = NULL;
    assert_int_equal(store_writer_open(dir, &o, &w), CF_OK);
    st_rng r = {42};
    flow_record recs[500];
    for (int i = 0; i < n_windows; i++) {
        st_random_records(&r, T0 + (uint64_t)i * WIN, T0 + (uint64_t)(i + 1) * WIN, recs, 500);
        assert_int_equal(store_writer_append(w, recs, 500), CF_OK);
    }
    assert_int_equal(store_writer_close(w), CF_OK);
    if (!open_last)
        return NULL;
    assert_int_equal(store_writer_open(dir, &o, &w), CF_OK);
    st_random_records(&r, T0 + (uint64_t)n_windows * WIN, T0 + (uint64_t)(n_windows + 1) * WIN, recs, 500);
    assert_int_equal(store_writer_append(w, recs, 500), CF_OK);
    assert_int_equal(store_writer_flush(w), CF_OK);
    return w;
}

static uint64_t dir_bytes(store_segment *segs, size_t n)
{
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++) {
        struct stat sb;
        assert_int_equal(stat(segs[i].path, &sb), 0);
        total += (uint64_t)sb.st_size;
    }
    return total;
}

static void test_by_age_removes_only_old_windows(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ret-age");
    write_windows(dir, 24, 0); /* two hours of windows */
    store_retention_stats st;
    /* now = T0 + 3 h, keep 1.5 h: windows ending at or before T0 + 1.5 h go */
    assert_int_equal(store_retention_apply(dir, T0 + 3 * HOUR, 3 * HOUR / 2, 0, &st), CF_OK);
    assert_int_equal(st.segments_removed, 18);
    store_segment *segs;
    size_t n = st_list(dir, &segs);
    assert_int_equal(n, 6);
    for (size_t i = 0; i < n; i++)
        assert_true(segs[i].window_end_ms > T0 + 3 * HOUR / 2);
    assert_int_equal(st.bytes_kept, dir_bytes(segs, n));
    store_segments_free(segs, n);
    /* applying again changes nothing */
    assert_int_equal(store_retention_apply(dir, T0 + 3 * HOUR, 3 * HOUR / 2, 0, &st), CF_OK);
    assert_int_equal(st.segments_removed, 0);
    tu_rm_rf(dir);
    free(dir);
}

static void test_by_size_keeps_the_limit_oldest_first(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ret-size");
    write_windows(dir, 12, 0);
    store_segment *segs;
    size_t n = st_list(dir, &segs);
    uint64_t total = dir_bytes(segs, n);
    uint64_t newest_start = segs[n - 1].window_start_ms;
    store_segments_free(segs, n);
    uint64_t limit = total / 3;
    store_retention_stats st;
    assert_int_equal(store_retention_apply(dir, T0, 0, limit, &st), CF_OK);
    assert_true(st.segments_removed > 0);
    n = st_list(dir, &segs);
    assert_true(dir_bytes(segs, n) <= limit);
    assert_int_equal(st.bytes_kept, dir_bytes(segs, n));
    assert_int_equal(st.bytes_removed + st.bytes_kept, total);
    /* what is left is the newest windows, contiguous up to the last one */
    assert_int_equal(segs[n - 1].window_start_ms, newest_start);
    for (size_t i = 1; i < n; i++)
        assert_int_equal(segs[i].window_start_ms, segs[i - 1].window_start_ms + WIN);
    store_segments_free(segs, n);
    tu_rm_rf(dir);
    free(dir);
}

static void test_open_segment_is_never_removed(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ret-open");
    store_writer *w = write_windows(dir, 3, 1);
    store_retention_stats st;
    /* a limit of 1 byte: every sealed segment goes, the open one stays */
    assert_int_equal(store_retention_apply(dir, T0 + 10 * HOUR, 0, 1, &st), CF_OK);
    assert_int_equal(st.segments_removed, 3);
    assert_int_equal(st.skipped_open, 1);
    store_segment *segs;
    size_t n = st_list(dir, &segs);
    assert_int_equal(n, 1);
    assert_int_equal(segs[0].window_start_ms, T0 + 3 * WIN);
    store_segments_free(segs, n);
    /* the writer still writes into it, and it reads back whole */
    assert_int_equal(store_writer_close(w), CF_OK);
    size_t n_seg = 0;
    assert_int_equal(st_count_dir(dir, &n_seg), 500);
    assert_int_equal(n_seg, 1);
    tu_rm_rf(dir);
    free(dir);
}

static void test_empty_day_directories_go_and_missing_dir_is_fine(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ret-dirs");
    write_windows(dir, 2, 0);
    store_retention_stats st;
    assert_int_equal(store_retention_apply(dir, T0 + 48 * HOUR, HOUR, 0, &st), CF_OK);
    assert_int_equal(st.segments_removed, 2);
    char day[4200];
    snprintf(day, sizeof(day), "%s/2024", dir);
    struct stat sb;
    assert_int_not_equal(stat(day, &sb), 0); /* 2024/01/01 removed when empty */
    assert_int_equal(stat(dir, &sb), 0);     /* the source directory stays */
    char missing[4200];
    snprintf(missing, sizeof(missing), "%s/nope", dir);
    assert_int_equal(store_retention_apply(missing, T0, HOUR, 1, &st), CF_OK);
    assert_int_equal(st.segments_removed, 0);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_by_age_removes_only_old_windows),
        cmocka_unit_test(test_by_size_keeps_the_limit_oldest_first),
        cmocka_unit_test(test_open_segment_is_never_removed),
        cmocka_unit_test(test_empty_day_directories_go_and_missing_dir_is_fine),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
