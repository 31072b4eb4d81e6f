/* tests/store/test_writer.c - rotation into time windows, -N suffixes,
 * max_open, tick closing, flush_ms visibility to a concurrent reader, and
 * which columns the writer stores without LZ4. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "store/segment_format.h"
#include "store_testlib.h"
#include "testutil.h"

#define T0 UINT64_C(1704067200000) /* 2024-01-01 00:00 UTC */
#define WIN UINT64_C(300000)

static store_writer *open_writer(const char *dir, uint32_t max_open)
{
    store_options o;
    st_options(&o, STORE_CODEC_LZ4, 100);
    o.max_open = max_open;
    store_writer *w = NULL;
    assert_int_equal(store_writer_open(dir, &o, &w), CF_OK);
    return w;
}

static void append_window(store_writer *w, st_rng *r, uint64_t win_start, size_t n)
{
    flow_record *recs = malloc(n * sizeof(*recs));
    st_random_records(r, win_start, win_start + WIN, recs, n);
    assert_int_equal(store_writer_append(w, recs, n), CF_OK);
    free(recs);
}

static bool ends_with(const char *s, const char *suffix)
{
    size_t a = strlen(s), b = strlen(suffix);
    return a >= b && strcmp(s + a - b, suffix) == 0;
}

static void test_records_land_in_their_window(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("store-rot");
    store_writer *w = open_writer(dir, 8);
    st_rng r = {1};
    enum { N = 3000 };
    flow_record *recs = malloc(N * sizeof(*recs));
    st_random_records(&r, T0, T0 + 3 * WIN, recs, N); /* interleaved over three windows */
    assert_int_equal(store_writer_append(w, recs, N), CF_OK);
    assert_int_equal(store_writer_close(w), CF_OK);
    store_segment *segs;
    assert_int_equal(st_list(dir, &segs), 3);
    static const char *names[] = {"2024/01/01/cf-202401010000.seg", "2024/01/01/cf-202401010005.seg",
                                  "2024/01/01/cf-202401010010.seg"};
    size_t total = 0;
    for (size_t i = 0; i < 3; i++) {
        assert_true(ends_with(segs[i].path, names[i]));
        assert_int_equal(segs[i].window_start_ms, T0 + i * WIN);
        assert_int_equal(segs[i].window_end_ms, T0 + (i + 1) * WIN);
        flow_record *back;
        size_t n;
        assert_int_equal(st_read_all(segs[i].path, &back, &n, NULL, NULL), CF_OK);
        size_t expect = 0;
        for (size_t k = 0; k < N; k++)
            expect += recs[k].last_ms >= segs[i].window_start_ms && recs[k].last_ms < segs[i].window_end_ms;
        assert_int_equal(n, expect);
        for (size_t k = 0; k < n; k++) {
            assert_true(back[k].last_ms >= segs[i].window_start_ms);
            assert_true(back[k].last_ms < segs[i].window_end_ms);
        }
        total += n;
        free(back);
    }
    assert_int_equal(total, N);
    store_segments_free(segs, 3);
    free(recs);
    tu_rm_rf(dir);
    free(dir);
}

static void test_reopened_window_gets_suffix(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("store-suffix");
    st_rng r = {2};
    store_writer *w = open_writer(dir, 1);
    append_window(w, &r, T0, 10);
    append_window(w, &r, T0 + WIN, 10); /* max_open 1: closes the first window */
    append_window(w, &r, T0, 5);        /* a late flow for the closed window */
    assert_int_equal(store_writer_close(w), CF_OK);
    w = open_writer(dir, 8); /* a restarted writer gets the next suffix */
    append_window(w, &r, T0, 3);
    assert_int_equal(store_writer_close(w), CF_OK);
    store_segment *segs;
    assert_int_equal(st_list(dir, &segs), 4);
    assert_true(ends_with(segs[0].path, "cf-202401010000-1.seg"));
    assert_true(ends_with(segs[1].path, "cf-202401010000-2.seg"));
    assert_true(ends_with(segs[2].path, "cf-202401010000.seg"));
    assert_true(ends_with(segs[3].path, "cf-202401010005.seg"));
    size_t counts[4] = {5, 3, 10, 10};
    for (size_t i = 0; i < 4; i++) {
        flow_record *back;
        size_t n;
        assert_int_equal(st_read_all(segs[i].path, &back, &n, NULL, NULL), CF_OK);
        assert_int_equal(n, counts[i]);
        free(back);
    }
    store_segments_free(segs, 4);
    tu_rm_rf(dir);
    free(dir);
}

/* Number of segments under dir that have no trailer yet. */
static size_t count_unsealed(const char *dir)
{
    store_segment *segs;
    size_t n = st_list(dir, &segs), open = 0;
    for (size_t i = 0; i < n; i++) {
        store_reader *rd;
        assert_int_equal(store_reader_open(segs[i].path, &rd), CF_OK);
        open += store_reader_unsealed(rd);
        store_reader_close(rd);
    }
    store_segments_free(segs, n);
    return open;
}

static void test_max_open_is_honoured(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("store-maxopen");
    st_rng r = {3};
    store_writer *w = open_writer(dir, 2);
    for (int i = 0; i < 6; i++) {
        append_window(w, &r, T0 + (uint64_t)i * WIN, 4);
        append_window(w, &r, T0 + (uint64_t)(i / 2) * WIN, 1); /* keeps an older window busy too */
        assert_true(count_unsealed(dir) <= 2);
        store_writer_stats st;
        store_writer_get_stats(w, &st);
        assert_true(st.segments_opened - st.segments_closed <= 2);
    }
    assert_int_equal(store_writer_close(w), CF_OK);
    assert_int_equal(count_unsealed(dir), 0);
    assert_int_equal(st_count_dir(dir, NULL), 30);
    tu_rm_rf(dir);
    free(dir);
}

static void test_tick_closes_ended_and_idle_windows(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("store-tick");
    st_rng r = {4};
    store_writer *w = open_writer(dir, 8);
    uint64_t now = cf_time_now_ms();
    assert_int_equal(store_writer_tick(w, now), CF_OK);
    append_window(w, &r, T0, 5);
    append_window(w, &r, T0 + 2 * WIN, 5); /* flow time now past T0's end + rotate */
    assert_int_equal(store_writer_tick(w, now + 1), CF_OK);
    store_writer_stats st;
    store_writer_get_stats(w, &st);
    assert_int_equal(st.segments_closed, 1);
    assert_int_equal(count_unsealed(dir), 1);
    /* No record for rotate_s: the remaining window closes too. */
    assert_int_equal(store_writer_tick(w, now + WIN - 1), CF_OK);
    assert_int_equal(count_unsealed(dir), 1);
    assert_int_equal(store_writer_tick(w, now + WIN + 1), CF_OK);
    assert_int_equal(count_unsealed(dir), 0);
    store_writer_get_stats(w, &st);
    assert_int_equal(st.segments_closed, 2);
    assert_int_equal(st.records_written, 10);
    assert_int_equal(st.records_lost, 0);
    assert_int_equal(store_writer_close(w), CF_OK);
    tu_rm_rf(dir);
    free(dir);
}

static void test_flush_ms_makes_records_visible(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("store-flush");
    st_rng r = {5};
    store_options o;
    st_options(&o, STORE_CODEC_LZ4, 65536);
    o.flush_ms = 1000;
    store_writer *w;
    assert_int_equal(store_writer_open(dir, &o, &w), CF_OK);
    uint64_t now = cf_time_now_ms();
    assert_int_equal(store_writer_tick(w, now), CF_OK);
    append_window(w, &r, T0, 10);
    assert_int_equal(store_writer_tick(w, now + 999), CF_OK);
    assert_int_equal(st_count_dir(dir, NULL), 0); /* still buffered */
    assert_int_equal(store_writer_tick(w, now + 1000), CF_OK);
    store_segment *segs;
    assert_int_equal(st_list(dir, &segs), 1);
    flow_record *back;
    size_t n;
    bool torn = true;
    assert_int_equal(st_read_all(segs[0].path, &back, &n, NULL, &torn), CF_OK);
    assert_int_equal(n, 10);
    assert_false(torn);
    free(back);
    store_reader *rd;
    assert_int_equal(store_reader_open(segs[0].path, &rd), CF_OK);
    assert_true(store_reader_unsealed(rd));
    store_block_info info;
    assert_int_equal(store_reader_next(rd, &info), CF_OK);
    assert_int_equal(store_reader_next(rd, &info), CF_ERR_EOF);
    /* More records while the reader is open: it sees the new block. */
    append_window(w, &r, T0, 7);
    assert_int_equal(store_writer_flush(w), CF_OK);
    assert_int_equal(store_reader_next(rd, &info), CF_OK);
    assert_int_equal(info.n_records, 7);
    assert_int_equal(info.index, 1);
    assert_int_equal(store_writer_close(w), CF_OK);
    assert_int_equal(store_reader_next(rd, &info), CF_ERR_EOF);
    assert_false(store_reader_unsealed(rd));
    store_reader_close(rd);
    store_segments_free(segs, 1);
    tu_rm_rf(dir);
    free(dir);
}

static void test_second_writer_on_a_source_is_refused(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("store-lock");
    store_writer *w = open_writer(dir, 8), *w2 = NULL;
    assert_int_equal(store_writer_open(dir, NULL, &w2), CF_ERR_IO);
    assert_null(w2);
    assert_int_equal(store_writer_close(w), CF_OK);
    assert_int_equal(store_writer_open(dir, NULL, &w2), CF_OK);
    assert_int_equal(store_writer_close(w2), CF_OK);
    assert_int_equal(store_writer_close(NULL), CF_OK);
    tu_rm_rf(dir);
    free(dir);
}

/* Random bytes in which each 1024-byte chunk repeats `rep` of its own
 * bytes (LZ4 saves about that much of the chunk). */
static void bytes_with_repeats(st_rng *r, uint8_t *out, size_t n, size_t rep)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (uint8_t)st_rand(r);
    for (size_t c = 0; c + 1024 <= n; c += 1024)
        memcpy(out + c + 512, out + c, rep);
}

/* The codec of field id in each block of the segment at path (n blocks). */
static void block_codecs(const char *path, flow_field_id id, uint8_t *codec, size_t n)
{
    int fd = open(path, O_RDONLY);
    assert_true(fd >= 0);
    struct stat st;
    assert_int_equal(fstat(fd, &st), 0);
    store_block_buf b = {0};
    uint64_t off = STORE_FILE_HEADER_LEN, skip = 0;
    for (size_t k = 0; k < n; k++) {
        assert_int_equal(store_block_load_header(fd, off, (uint64_t)st.st_size, &b, &skip), CF_OK);
        codec[k] = 0xff;
        for (uint32_t c = 0; c < b.n_columns; c++)
            if (b.ents[c].field_id == id)
                codec[k] = b.ents[c].codec;
        off += b.len;
    }
    store_block_buf_free(&b);
    close(fd);
}

/* A column that LZ4 shrinks by less than a sixteenth is stored without it
 * for the next 15 blocks, then tried again; one that LZ4 shrinks well keeps
 * it.  Every value reads back either way. */
static void test_lz4_is_skipped_where_it_gains_little(void **state)
{
    (void)state;
    enum { BLK = 8192, NB = 18, N = BLK * NB };
    char *dir = tu_mkdtemp("store-lz4skip");
    st_rng r = {11};
    uint8_t *poor = malloc(N), *good = malloc(N);
    bytes_with_repeats(&r, poor, N, 48);  /* LZ4 saves about 4 % */
    bytes_with_repeats(&r, good, N, 512); /* about 50 % */
    flow_record *recs = calloc(N, sizeof(*recs));
    for (size_t i = 0; i < N; i++) {
        recs[i].family = 4;
        recs[i].first_ms = recs[i].last_ms = T0 + i % 1000;
        recs[i].tos = poor[i];
        recs[i].src_mask = good[i];
    }
    store_options o;
    st_options(&o, STORE_CODEC_LZ4, BLK);
    store_writer *w;
    assert_int_equal(store_writer_open(dir, &o, &w), CF_OK);
    assert_int_equal(store_writer_append(w, recs, N), CF_OK);
    assert_int_equal(store_writer_close(w), CF_OK);
    store_segment *segs;
    assert_int_equal(st_list(dir, &segs), 1);
    uint8_t c_poor[NB], c_good[NB];
    block_codecs(segs[0].path, FLOW_FIELD_TOS, c_poor, NB);
    block_codecs(segs[0].path, FLOW_FIELD_SRC_MASK, c_good, NB);
    for (size_t k = 0; k < NB; k++) {
        bool tried = k == 0 || k == 16; /* judged poor at 0: 1 .. 15 skip, 16 tries again */
        assert_int_equal(c_poor[k], tried ? STORE_CODEC_LZ4 : STORE_CODEC_NONE);
        assert_int_equal(c_good[k], STORE_CODEC_LZ4);
    }
    flow_record *back;
    size_t n;
    assert_int_equal(st_read_all(segs[0].path, &back, &n, NULL, NULL), CF_OK);
    assert_int_equal(n, N);
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(back[i].tos, poor[i]);
        assert_int_equal(back[i].src_mask, good[i]);
    }
    free(back);
    store_segments_free(segs, 1);
    free(recs);
    free(poor);
    free(good);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_records_land_in_their_window),
        cmocka_unit_test(test_reopened_window_gets_suffix),
        cmocka_unit_test(test_max_open_is_honoured),
        cmocka_unit_test(test_tick_closes_ended_and_idle_windows),
        cmocka_unit_test(test_flush_ms_makes_records_visible),
        cmocka_unit_test(test_second_writer_on_a_source_is_refused),
        cmocka_unit_test(test_lz4_is_skipped_where_it_gains_little),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
