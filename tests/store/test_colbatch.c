/* tests/store/test_colbatch.c - column batches (flow_batch_*) and the
 * column codec on edge cases: every field through a batch and through the
 * store, constant, all-zero and all-ones columns, columns that start
 * varying late, address columns of every length around the 16-value
 * transpose. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "store/segment_format.h"
#include "store_testlib.h"
#include "testutil.h"

#define T0 UINT64_C(1704067200000) /* 2024-01-01 00:00 UTC, a window start */

static void assert_same(const flow_record *a, const flow_record *b, size_t i)
{
    for (size_t k = 0; k < flow_n_fields; k++) {
        const flow_field *f = &flow_fields[k];
        if (memcmp((const uint8_t *)a + f->offset, (const uint8_t *)b + f->offset, f->width) != 0) {
            print_error("record %zu: field %s differs\n", i, f->name);
            fail();
        }
    }
}

/* Every field of random records comes back out of a batch, whatever the
 * sizes of the adds. */
static void test_batch_every_field(void **state)
{
    (void)state;
    enum { N = 1000 };
    flow_record *recs = malloc(N * sizeof(*recs));
    st_rng r = {7};
    st_random_records(&r, T0, T0 + 600000, recs, N);
    flow_batch b;
    assert_int_equal(flow_batch_init(&b, N), CF_OK);
    static const size_t steps[] = {1, 63, 64, 65, 200, 7};
    size_t done = 0;
    for (size_t s = 0; done < N; s++) {
        size_t m = steps[s % 6] < N - done ? steps[s % 6] : N - done;
        flow_batch_add(&b, recs + done, m);
        done += m;
    }
    assert_int_equal(b.n, N);
    for (size_t i = 0; i < N; i++) {
        flow_record got;
        flow_batch_get(&b, i, &got);
        assert_same(&recs[i], &got, i);
    }
    flow_batch_free(&b);
    free(recs);
}

/* Identical records leave every column but `last` out; a field that
 * changes at row 100 is filled from the reference for rows 0..99. */
static void test_batch_constant_then_varying(void **state)
{
    (void)state;
    enum { N = 300 };
    flow_record *recs = calloc(N, sizeof(*recs));
    for (size_t i = 0; i < N; i++) {
        recs[i].last_ms = T0 + 5;
        recs[i].src_port = 1234;
        memset(recs[i].exporter, 0xff, 16);
        recs[i].packets = UINT64_MAX;
    }
    flow_batch b;
    assert_int_equal(flow_batch_init(&b, N), CF_OK);
    flow_batch_add(&b, recs, 100);
    assert_true(b.varies == (UINT64_C(1) << FLOW_FIELD_LAST));
    for (size_t i = 100; i < N; i++) {
        recs[i].src_port = (uint16_t)i;
        recs[i].dst_addr[3] = (uint8_t)i;
    }
    flow_batch_add(&b, recs + 100, N - 100);
    assert_true(b.varies & (UINT64_C(1) << FLOW_FIELD_SRC_PORT));
    assert_true(b.varies & (UINT64_C(1) << FLOW_FIELD_DST_ADDR));
    assert_false(b.varies & (UINT64_C(1) << FLOW_FIELD_PACKETS));
    for (size_t i = 0; i < N; i++) {
        flow_record got;
        flow_batch_get(&b, i, &got);
        assert_same(&recs[i], &got, i);
    }
    flow_batch_clear(&b);
    assert_int_equal(b.n, 0);
    flow_batch_free(&b);
    free(recs);
}

static void test_batch_init_limits(void **state)
{
    (void)state;
    flow_batch b;
    assert_int_equal(flow_batch_init(&b, 0), CF_ERR_RANGE);
    flow_batch_free(&b);
    assert_int_equal(flow_batch_init(&b, STORE_MAX_BLOCK_RECORDS + 1), CF_ERR_RANGE);
    flow_batch_free(&b);
}

/* Batches through store_writer_append_batch() into segments and back:
 * batches mixing constant and varying columns, crossing a window, and
 * a column constant in each batch but different between batches. */
static void test_append_batch_roundtrip(void **state)
{
    (void)state;
    enum { N = 5000, PER = 700 };
    flow_record *recs = malloc(N * sizeof(*recs));
    st_rng r = {11};
    st_random_records(&r, T0, T0 + 290000, recs, N);
    for (size_t i = 0; i < N; i++) {
        if ((i / PER) % 2 == 0) { /* every other batch: constant columns */
            recs[i].in_if = (uint32_t)(i / PER); /* constant in the batch, not between */
            memset(recs[i].next_hop, 0, 16);
            recs[i].tos = 0;
            recs[i].bytes = UINT64_MAX;
        }
        if (i >= 4000)
            recs[i].last_ms = T0 + 300000 + i; /* the next window */
    }
    char *dir = tu_mkdtemp("store-cb");
    store_options o;
    st_options(&o, STORE_CODEC_LZ4, 1024);
    store_writer *w;
    assert_int_equal(store_writer_open(dir, &o, &w), CF_OK);
    flow_batch b;
    assert_int_equal(flow_batch_init(&b, PER), CF_OK);
    for (size_t k = 0; k < N; k += PER) {
        flow_batch_clear(&b);
        flow_batch_add(&b, recs + k, N - k < PER ? N - k : PER);
        assert_int_equal(store_writer_append_batch(w, &b), CF_OK);
    }
    flow_batch_free(&b);
    assert_int_equal(store_writer_close(w), CF_OK);
    store_segment *segs;
    size_t n_segs = st_list(dir, &segs);
    assert_int_equal(n_segs, 2);
    size_t at = 0;
    for (size_t s = 0; s < n_segs; s++) {
        flow_record *back;
        size_t got, bad;
        bool torn = true;
        assert_int_equal(st_read_all(segs[s].path, &back, &got, &bad, &torn), CF_OK);
        assert_int_equal(bad, 0);
        for (size_t i = 0; i < got; i++)
            assert_same(&recs[at + i], &back[i], at + i);
        at += got;
        free(back);
    }
    assert_int_equal(at, N);
    store_segments_free(segs, n_segs);
    tu_rm_rf(dir);
    free(dir);
    free(recs);
}

/* Columns LZ4 cannot shrink are stored without it for a few blocks, then
 * tried again: many blocks of random values (incompressible ports,
 * counters), then of repetitive ones, through the writer and back. */
static void test_lz4_skipped_columns_roundtrip(void **state)
{
    (void)state;
    enum { BLK = 4096, N = BLK * 40 };
    flow_record *recs = malloc(N * sizeof(*recs));
    st_rng r = {23};
    st_random_records(&r, T0, T0 + 290000, recs, N);
    for (size_t i = N / 2; i < N; i++) { /* second half: LZ4 pays again */
        recs[i].src_port = (uint16_t)(1000 + (i / 7) % 600);
        recs[i].bytes = 40 + (i / 5) % 300 * 1000;
    }
    char *dir = tu_mkdtemp("store-lz4skip");
    store_options o;
    st_options(&o, STORE_CODEC_LZ4, BLK);
    store_writer *w;
    assert_int_equal(store_writer_open(dir, &o, &w), CF_OK);
    assert_int_equal(store_writer_append(w, recs, N), CF_OK);
    assert_int_equal(store_writer_close(w), CF_OK);
    store_segment *segs;
    size_t n_segs = st_list(dir, &segs), at = 0;
    for (size_t s = 0; s < n_segs; s++) {
        flow_record *back;
        size_t got, bad;
        bool torn = true;
        assert_int_equal(st_read_all(segs[s].path, &back, &got, &bad, &torn), CF_OK);
        assert_int_equal(bad, 0);
        for (size_t i = 0; i < got; i++)
            assert_same(&recs[at + i], &back[i], at + i);
        at += got;
        free(back);
    }
    assert_int_equal(at, N);
    store_segments_free(segs, n_segs);
    tu_rm_rf(dir);
    free(dir);
    free(recs);
}

/* One column of n values through encode and decode with every codec. */
static void codec_roundtrip(const flow_field *f, const uint8_t *vals, size_t n, const uint64_t *last)
{
    size_t cap = store_col_bound(f, n);
    uint8_t *out = malloc(cap), *dec = malloc(n * f->width + 16);
    store_codec_ctx cx = {0};
    for (int c = STORE_CODEC_NONE; c <= STORE_CODEC_ZSTD; c++) {
        store_col_entry e;
        assert_int_equal(store_col_encode(&cx, f, vals, n, last, (store_codec)c, 3, out, cap, &e), CF_OK);
        assert_int_equal(store_col_validate(&e, f, n), CF_OK);
        assert_int_equal(store_col_decode(&cx, &e, out, n, last, dec), CF_OK);
        if (memcmp(dec, vals, n * f->width) != 0) {
            print_error("field %s, n %zu, codec %d, encoding %u: values differ\n", f->name, n, c, e.encoding);
            fail();
        }
    }
    store_codec_ctx_free(&cx);
    free(out);
    free(dec);
}

/* Patterns of every field: all zero, all ones (maximum), alternating zero
 * and maximum, one maximum among zeros (sparse), small ranges (dictionary),
 * random; lengths around the 16-value transposes and the 8-value bitmap
 * bytes. */
static void test_codec_edge_columns(void **state)
{
    (void)state;
    static const size_t lens[] = {1, 2, 7, 8, 9, 15, 16, 17, 31, 33, 100, 1000, 4099};
    enum { MAXN = 4099, PATTERNS = 7 };
    uint8_t *vals = malloc(MAXN * 16);
    uint64_t *last = malloc(MAXN * 8);
    st_rng r = {3};
    for (size_t k = 0; k < flow_n_fields; k++) {
        const flow_field *f = &flow_fields[k];
        for (size_t li = 0; li < sizeof(lens) / sizeof(lens[0]); li++) {
            size_t n = lens[li];
            for (int pat = 0; pat < PATTERNS; pat++) {
                for (size_t i = 0; i < n; i++) {
                    last[i] = T0 + (st_rand(&r) % 300000);
                    uint8_t *v = vals + i * f->width;
                    for (unsigned j = 0; j < f->width; j++) {
                        uint8_t rb = (uint8_t)st_rand(&r);
                        switch (pat) {
                        case 0: v[j] = 0; break;
                        case 1: v[j] = 0xff; break;
                        case 2: v[j] = i % 2 ? 0xff : 0; break;
                        case 3: v[j] = i == n / 2 ? 0xff : 0; break;
                        case 4: v[j] = j == 0 ? (uint8_t)(rb % 5) : 0; break;
                        case 5: v[j] = rb; break;
                        default: v[j] = j < 2 ? rb : 0xff; break; /* low bytes vary, high bytes max */
                        }
                    }
                    if (f->id == FLOW_FIELD_LAST)
                        memcpy(&last[i], v, 8);
                }
                codec_roundtrip(f, vals, n, last);
            }
        }
    }
    free(vals);
    free(last);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_batch_every_field),
        cmocka_unit_test(test_batch_constant_then_varying),
        cmocka_unit_test(test_batch_init_limits),
        cmocka_unit_test(test_append_batch_roundtrip),
        cmocka_unit_test(test_codec_edge_columns),
        cmocka_unit_test(test_lz4_skipped_columns_roundtrip),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
