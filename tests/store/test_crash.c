/* tests/store/test_crash.c - a writer killed without closing, torn blocks,
 * sealing by the next writer, and I/O errors while writing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "store_testlib.h"
#include "testutil.h"

#define T0 UINT64_C(1704067200000)
#define WIN UINT64_C(300000)

/* In a child: writes 250 records of window 0 (closed by max_open when window
 * 1 starts), 250 flushed + 30 buffered records of window 1, then dies. */
static void crash_writer(const char *dir)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        store_options o;
        st_options(&o, STORE_CODEC_LZ4, 100);
        o.max_open = 1;
        store_writer *w;
        if (store_writer_open(dir, &o, &w) != CF_OK)
            _exit(1);
        st_rng r = {11};
        flow_record recs[250];
        st_random_records(&r, T0, T0 + WIN, recs, 250);
        store_writer_append(w, recs, 250);
        st_random_records(&r, T0 + WIN, T0 + 2 * WIN, recs, 250);
        store_writer_append(w, recs, 250);
        store_writer_flush(w);
        store_writer_append(w, recs, 30);
        _exit(0); /* no close: like kill -9 */
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void test_killed_writer_leaves_readable_segments(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("store-crash");
    crash_writer(dir);
    store_segment *segs;
    assert_int_equal(st_list(dir, &segs), 2);
    store_reader *rd;
    assert_int_equal(store_reader_open(segs[0].path, &rd), CF_OK);
    assert_false(store_reader_unsealed(rd)); /* closed before the crash: intact */
    store_reader_close(rd);
    assert_int_equal(store_reader_open(segs[1].path, &rd), CF_OK);
    assert_true(store_reader_unsealed(rd));
    store_reader_close(rd);
    flow_record *back;
    size_t n;
    bool torn = true;
    assert_int_equal(st_read_all(segs[0].path, &back, &n, NULL, NULL), CF_OK);
    assert_int_equal(n, 250);
    free(back);
    assert_int_equal(st_read_all(segs[1].path, &back, &n, NULL, &torn), CF_OK);
    assert_int_equal(n, 250); /* the 30 unflushed records are lost, nothing else */
    assert_false(torn);
    free(back);
    store_segments_free(segs, 2);
    tu_rm_rf(dir);
    free(dir);
}

static off_t file_size(const char *path)
{
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_size;
}

static void test_torn_block_is_end_of_data_and_sealed_on_open(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("store-torn");
    crash_writer(dir);
    store_segment *segs;
    assert_int_equal(st_list(dir, &segs), 2);
    const char *open_seg = segs[1].path;
    off_t size = file_size(open_seg);
    assert_int_equal(truncate(open_seg, size - 10), 0); /* the last block loses its tail */
    flow_record *back;
    size_t n;
    bool torn = false;
    assert_int_equal(st_read_all(open_seg, &back, &n, NULL, &torn), CF_OK);
    assert_int_equal(n, 200);
    assert_true(torn);
    free(back);
    /* The next writer seals it: tail cut, trailer appended. */
    store_writer *w;
    assert_int_equal(store_writer_open(dir, NULL, &w), CF_OK);
    assert_int_equal(store_writer_close(w), CF_OK);
    store_reader *rd;
    assert_int_equal(store_reader_open(open_seg, &rd), CF_OK);
    assert_false(store_reader_unsealed(rd));
    store_reader_close(rd);
    torn = true;
    assert_int_equal(st_read_all(open_seg, &back, &n, NULL, &torn), CF_OK);
    assert_int_equal(n, 200);
    assert_false(torn);
    free(back);
    assert_true(file_size(open_seg) < size - 10);
    assert_int_equal(st_read_all(segs[0].path, &back, &n, NULL, NULL), CF_OK);
    assert_int_equal(n, 250);
    free(back);
    store_segments_free(segs, 2);
    tu_rm_rf(dir);
    free(dir);
}

/* The file size limit makes writes fail (EFBIG) like a full disk would. */
static void test_write_errors_are_counted_and_writer_stays_usable(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("store-ioerr");
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        signal(SIGXFSZ, SIG_IGN);
        store_options o;
        st_options(&o, STORE_CODEC_NONE, 100);
        store_writer *w;
        if (store_writer_open(dir, &o, &w) != CF_OK)
            _exit(10);
        st_rng r = {12};
        flow_record recs[100];
        st_random_records(&r, T0, T0 + WIN, recs, 100);
        if (store_writer_append(w, recs, 100) != CF_OK) /* header + one block fit */
            _exit(11);
        struct rlimit lim, saved;
        getrlimit(RLIMIT_FSIZE, &saved);
        lim = saved;
        lim.rlim_cur = 20000; /* soft limit only, so that it can be raised again */
        setrlimit(RLIMIT_FSIZE, &lim);
        int failures = 0;
        for (int i = 0; i < 5; i++)
            failures += store_writer_append(w, recs, 100) != CF_OK;
        store_writer_stats st;
        store_writer_get_stats(w, &st);
        if (failures == 0 || st.records_lost != (uint64_t)failures * 100 || st.write_errors == 0)
            _exit(12);
        if (st.records_written + st.records_lost != 600)
            _exit(13);
        setrlimit(RLIMIT_FSIZE, &saved);
        if (store_writer_append(w, recs, 100) != CF_OK) /* usable again */
            _exit(14);
        store_writer_close(w);
        _exit(0);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (!WIFEXITED(status))
        print_error("child status %#x\n", status);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    store_segment *segs;
    assert_int_equal(st_list(dir, &segs), 1);
    flow_record *back;
    size_t n, bad = 9;
    assert_int_equal(st_read_all(segs[0].path, &back, &n, &bad, NULL), CF_OK);
    assert_int_equal(bad, 0); /* no corrupt block left behind */
    assert_true(n >= 200 && n % 100 == 0);
    free(back);
    store_segments_free(segs, 1);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_killed_writer_leaves_readable_segments),
        cmocka_unit_test(test_torn_block_is_end_of_data_and_sealed_on_open),
        cmocka_unit_test(test_write_errors_are_counted_and_writer_stays_usable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
