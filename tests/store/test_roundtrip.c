/* tests/store/test_roundtrip.c - every registry field through every codec,
 * column encodings, block min/max information. */
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

static void assert_records_equal(const flow_record *a, const flow_record *b, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        for (size_t k = 0; k < flow_n_fields; k++) {
            const flow_field *f = &flow_fields[k];
            if (memcmp((const uint8_t *)&a[i] + f->offset, (const uint8_t *)&b[i] + f->offset, f->width) != 0) {
                print_error("record %zu: field %s differs\n", i, f->name);
                fail();
            }
        }
    }
}

/* Writes recs with codec into a fresh dir and reads the single segment back. */
static void roundtrip(store_codec codec, uint32_t block_records, const flow_record *recs, size_t n)
{
    char *dir = tu_mkdtemp("store-rt");
    store_options o;
    st_options(&o, codec, block_records);
    store_writer *w;
    assert_int_equal(store_writer_open(dir, &o, &w), CF_OK);
    assert_int_equal(store_writer_append(w, recs, n), CF_OK);
    assert_int_equal(store_writer_close(w), CF_OK);
    store_segment *segs;
    assert_int_equal(st_list(dir, &segs), 1);
    flow_record *back;
    size_t got, bad;
    bool torn = true;
    assert_int_equal(st_read_all(segs[0].path, &back, &got, &bad, &torn), CF_OK);
    assert_int_equal(got, n);
    assert_int_equal(bad, 0);
    assert_false(torn);
    assert_records_equal(recs, back, n);
    free(back);
    store_segments_free(segs, 1);
    tu_rm_rf(dir);
    free(dir);
}

static void random_roundtrip(store_codec codec)
{
    enum { N = 2500 };
    flow_record *recs = malloc(N * sizeof(*recs));
    st_rng r = {42 + codec};
    st_random_records(&r, T0, T0 + 300000, recs, N);
    roundtrip(codec, 1000, recs, N); /* three blocks, the last partial */
    free(recs);
}

static void test_roundtrip_random_none(void **state) { (void)state; random_roundtrip(STORE_CODEC_NONE); }
static void test_roundtrip_random_lz4(void **state) { (void)state; random_roundtrip(STORE_CODEC_LZ4); }
static void test_roundtrip_random_zstd(void **state) { (void)state; random_roundtrip(STORE_CODEC_ZSTD); }

/* Structured columns that take every encoding path: constant, few values,
 * mostly equal, sorted times, first close to last, small address sets. */
static void structured(flow_record *recs, size_t n)
{
    st_rng r = {7};
    for (size_t i = 0; i < n; i++) {
        flow_record *f = &recs[i];
        st_random_record(&r, T0 + i * 100, f);
        f->first_ms = i % 5 ? f->last_ms - st_rand(&r) % 20000 : f->last_ms;
        f->proto = (uint8_t[]){6, 17, 1}[st_rand(&r) % 3];
        f->tos = 7;
        f->src_as = st_rand(&r) % 2 ? 0 : (uint32_t)(st_rand(&r) % 70000);
        f->in_if = 100000 + (uint32_t)(st_rand(&r) % 9);
        f->dst_as = (uint32_t[]){0, 65000, 4200000000u}[st_rand(&r) % 3];
        flow_addr_from_v4(f->next_hop, 0x0a000001u + (uint32_t)(st_rand(&r) % 4));
        flow_addr_from_v4(f->exporter, 0x7f000001u);
        f->packets = st_rand(&r) % 10 ? 1 : st_rand(&r) % 5000000;
        f->src_mac = 0x001122334455ull;
        f->bytes = 1 + st_rand(&r) % (UINT64_C(1) << 40);
    }
}

static void test_roundtrip_structured_each_codec(void **state)
{
    (void)state;
    enum { N = 3000 };
    flow_record *recs = malloc(N * sizeof(*recs));
    structured(recs, N);
    for (int c = STORE_CODEC_NONE; c <= STORE_CODEC_ZSTD; c++)
        roundtrip((store_codec)c, 1024, recs, N);
    free(recs);
}

/* The codec picks the encodings the structured data calls for. */
static void test_codec_chooses_encodings(void **state)
{
    (void)state;
    enum { N = 2000 };
    flow_record *recs = malloc(N * sizeof(*recs));
    structured(recs, N);
    uint8_t *vals = malloc(N * 16), *out = malloc(N * 32 + 4096), *dec = malloc(N * 16);
    uint64_t *last = malloc(N * 8);
    for (size_t i = 0; i < N; i++)
        last[i] = recs[i].last_ms;
    store_codec_ctx cx = {0};
    struct { flow_field_id id; unsigned enc; } want[] = {
        {FLOW_FIELD_TOS, STORE_ENC_CONST},
        {FLOW_FIELD_PROTO, STORE_ENC_SMALLDICT},
        {FLOW_FIELD_IN_IF, STORE_ENC_SMALLDICT},
        {FLOW_FIELD_DST_AS, STORE_ENC_SMALLDICT},
        {FLOW_FIELD_NEXT_HOP, STORE_ENC_SMALLDICT},
        {FLOW_FIELD_EXPORTER, STORE_ENC_CONST},
        {FLOW_FIELD_SRC_AS, STORE_ENC_FOR | STORE_ENC_F_SPARSE},
        {FLOW_FIELD_PACKETS, STORE_ENC_FOR | STORE_ENC_F_SPARSE},
        {FLOW_FIELD_LAST, STORE_ENC_DELTA},
        {FLOW_FIELD_FIRST, STORE_ENC_REF | STORE_ENC_F_SPARSE},
        {FLOW_FIELD_SRC_ADDR, STORE_ENC_PLANES},
        {FLOW_FIELD_BYTES, STORE_ENC_FOR},
    };
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
        const flow_field *f = flow_field_by_id(want[k].id);
        for (size_t i = 0; i < N; i++)
            memcpy(vals + i * f->width, (uint8_t *)&recs[i] + f->offset, f->width);
        store_col_entry e;
        assert_int_equal(store_col_encode(&cx, f, vals, N, last, STORE_CODEC_LZ4, 3, out, N * 32 + 4096, &e),
                         CF_OK);
        if (e.encoding != want[k].enc) {
            print_error("field %s: encoding %u, expected %u\n", f->name, e.encoding, want[k].enc);
            fail();
        }
        assert_int_equal(store_col_validate(&e, f, N), CF_OK);
        assert_int_equal(store_col_decode(&cx, &e, out, N, last, dec), CF_OK);
        assert_memory_equal(dec, vals, N * f->width);
    }
    store_codec_ctx_free(&cx);
    free(vals), free(out), free(dec), free(last), free(recs);
}

/* Per-block min/max are exact, so a query may skip blocks on them. */
static void test_block_minmax_is_exact(void **state)
{
    (void)state;
    enum { N = 4000 };
    char *dir = tu_mkdtemp("store-mm");
    flow_record *recs = malloc(N * sizeof(*recs)), *blk = malloc(1000 * sizeof(*blk));
    st_rng r = {99};
    for (size_t i = 0; i < N; i++)
        st_random_record(&r, T0 + i * 50, &recs[i]); /* sorted: blocks cover disjoint time ranges */
    store_options o;
    st_options(&o, STORE_CODEC_LZ4, 1000);
    store_writer *w;
    assert_int_equal(store_writer_open(dir, &o, &w), CF_OK);
    assert_int_equal(store_writer_append(w, recs, N), CF_OK);
    assert_int_equal(store_writer_close(w), CF_OK);
    store_segment *segs;
    assert_int_equal(st_list(dir, &segs), 1);
    store_reader *rd;
    assert_int_equal(store_reader_open(segs[0].path, &rd), CF_OK);
    store_block_info info;
    unsigned blocks = 0, skippable = 0;
    uint64_t probe = T0 + 2500 * 50; /* a query for last == probe */
    while (store_reader_next(rd, &info) == CF_OK) {
        assert_int_equal(info.index, blocks);
        assert_int_equal(info.n_records, 1000);
        assert_int_equal(store_reader_records(rd, blk), CF_OK);
        for (size_t k = 0; k < flow_n_fields; k++) {
            const flow_field *f = &flow_fields[k];
            if (f->width == 16) {
                assert_false(info.has_minmax[f->id]);
                continue;
            }
            assert_true(info.has_minmax[f->id]);
            uint64_t mn = UINT64_MAX, mx = 0;
            for (size_t i = 0; i < info.n_records; i++) {
                uint64_t v = flow_get_uint(&blk[i], f);
                mn = v < mn ? v : mn;
                mx = v > mx ? v : mx;
            }
            assert_int_equal(info.min[f->id], mn);
            assert_int_equal(info.max[f->id], mx);
        }
        bool skip = probe < info.min[FLOW_FIELD_LAST] || probe > info.max[FLOW_FIELD_LAST];
        bool has = false;
        for (size_t i = 0; i < info.n_records; i++)
            has |= blk[i].last_ms == probe;
        assert_false(skip && has);
        skippable += skip;
        blocks++;
    }
    assert_int_equal(blocks, 4);
    assert_int_equal(skippable, 3);
    store_reader_close(rd);
    store_segments_free(segs, 1);
    free(recs), free(blk);
    tu_rm_rf(dir);
    free(dir);
}

/* store_reader_columns decodes what is asked and leaves other slots alone. */
static void test_columns_subset(void **state)
{
    (void)state;
    enum { N = 500 };
    char *dir = tu_mkdtemp("store-cols");
    flow_record *recs = malloc(N * sizeof(*recs));
    st_rng r = {5};
    st_random_records(&r, T0, T0 + 1000, recs, N);
    store_options o;
    st_options(&o, STORE_CODEC_ZSTD, 65536);
    store_writer *w;
    assert_int_equal(store_writer_open(dir, &o, &w), CF_OK);
    assert_int_equal(store_writer_append(w, recs, N), CF_OK);
    assert_int_equal(store_writer_close(w), CF_OK);
    store_segment *segs;
    assert_int_equal(st_list(dir, &segs), 1);
    store_reader *rd;
    assert_int_equal(store_reader_open(segs[0].path, &rd), CF_OK);
    store_block_info info;
    assert_int_equal(store_reader_next(rd, &info), CF_OK);
    const void *cols[FLOW_FIELD_MAX_ID + 1] = {0};
    uint64_t mask = STORE_FIELD_BIT(FLOW_FIELD_FIRST) | STORE_FIELD_BIT(FLOW_FIELD_DST_ADDR);
    assert_int_equal(store_reader_columns(rd, mask, cols), CF_OK);
    for (unsigned id = 0; id <= FLOW_FIELD_MAX_ID; id++)
        if (!(mask & STORE_FIELD_BIT(id)))
            assert_null(cols[id]);
    const uint64_t *first = cols[FLOW_FIELD_FIRST];
    const uint8_t *dst = cols[FLOW_FIELD_DST_ADDR];
    for (size_t i = 0; i < N; i++) {
        assert_int_equal(first[i], recs[i].first_ms);
        assert_memory_equal(dst + 16 * i, recs[i].dst_addr, 16);
    }
    assert_int_equal(store_reader_next(rd, &info), CF_ERR_EOF);
    assert_false(store_reader_unsealed(rd));
    store_reader_close(rd);
    store_segments_free(segs, 1);
    free(recs);
    tu_rm_rf(dir);
    free(dir);
}

static void test_codec_names(void **state)
{
    (void)state;
    store_codec c = STORE_CODEC_NONE;
    assert_int_equal(store_codec_parse("zstd", &c), CF_OK);
    assert_int_equal(c, STORE_CODEC_ZSTD);
    assert_int_equal(store_codec_parse("lz5", &c), CF_ERR_USAGE);
    assert_int_equal(c, STORE_CODEC_ZSTD);
    assert_string_equal(store_codec_name(STORE_CODEC_LZ4), "lz4");
    store_options o;
    store_options_default(&o);
    assert_int_equal(o.rotate_s, 300);
    assert_int_equal(o.codec, STORE_CODEC_LZ4);
    o.rotate_s = 7;
    store_writer *w = NULL;
    assert_int_equal(store_writer_open("/tmp/never-created-by-cf", &o, &w), CF_ERR_USAGE);
    assert_null(w);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_roundtrip_random_none),
        cmocka_unit_test(test_roundtrip_random_lz4),
        cmocka_unit_test(test_roundtrip_random_zstd),
        cmocka_unit_test(test_roundtrip_structured_each_codec),
        cmocka_unit_test(test_codec_chooses_encodings),
        cmocka_unit_test(test_block_minmax_is_exact),
        cmocka_unit_test(test_columns_subset),
        cmocka_unit_test(test_codec_names),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
