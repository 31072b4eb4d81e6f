/* tests/store/test_decode_rows.c - decoding a column at selected rows only
 * (store_col_decode_rows), IPv4-only address columns as 32-bit addresses
 * (store_col_decode_v4), and the reader's store_reader_columns_rows: every
 * encoding, random and edge selections, against the whole decode. */
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

#define N 3000
#define T0 UINT64_C(1704067200000)

static const uint8_t v4pfx[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

static void put_w(uint8_t *vals, unsigned w, size_t i, uint64_t v)
{
    uint8_t b[8];
    memcpy(b, &v, 8); /* little-endian hosts only, as the store */
    memcpy(vals + (size_t)w * i, b, w);
}

/* An encoded column and its whole decode. */
typedef struct col {
    const flow_field *f;
    store_col_entry e;
    uint8_t *stored;
    uint8_t *full;
    uint64_t *ref;
} col;

static void col_make(col *c, store_codec_ctx *cx, flow_field_id id, const uint8_t *vals, uint64_t *ref,
                     store_codec codec)
{
    c->f = flow_field_by_id(id);
    c->ref = ref;
    size_t bound = store_col_bound(c->f, N);
    c->stored = malloc(bound);
    c->full = malloc((size_t)N * c->f->width);
    assert_non_null(c->stored);
    assert_int_equal(store_col_encode(cx, c->f, vals, N, ref, codec, 3, c->stored, bound, &c->e), CF_OK);
    assert_int_equal(store_col_validate(&c->e, c->f, N), CF_OK);
    assert_int_equal(store_col_decode(cx, &c->e, c->stored, N, ref, c->full), CF_OK);
    assert_memory_equal(c->full, vals, (size_t)N * c->f->width);
}

static void col_free(col *c)
{
    free(c->stored);
    free(c->full);
}

/* Selections: empty, all, first, last, first and last, sparse and dense random. */
static size_t selection(unsigned kind, st_rng *rng, uint32_t *rows)
{
    size_t m = 0;
    switch (kind) {
    case 0: return 0;
    case 1: for (uint32_t i = 0; i < N; i++) rows[m++] = i; return m;
    case 2: rows[0] = 0; return 1;
    case 3: rows[0] = N - 1; return 1;
    case 4: rows[0] = 0; rows[1] = N - 1; return 2;
    default: {
        unsigned per_mille = kind == 5 ? 30 : 500;
        for (uint32_t i = 0; i < N; i++)
            if (st_rand(rng) % 1000 < per_mille)
                rows[m++] = i;
        return m;
    }
    }
}

#define N_KINDS 7

/* decode_rows of c at every kind of selection equals the whole decode at
 * those rows and leaves the other rows alone (unless DELTA / sparse). */
static void check_rows(store_codec_ctx *cx, const col *c)
{
    st_rng rng = {0x5eed};
    uint32_t *rows = malloc(N * sizeof(*rows));
    unsigned w = c->f->width;
    uint8_t *out = malloc((size_t)N * w), *fill = malloc((size_t)N * w);
    bool whole = c->e.encoding == (STORE_ENC_DELTA | STORE_ENC_F_SPARSE);
    for (unsigned kind = 0; kind < N_KINDS; kind++) {
        size_t m = selection(kind, &rng, rows);
        memset(fill, 0xa5, (size_t)N * w);
        memcpy(out, fill, (size_t)N * w);
        assert_int_equal(store_col_decode_rows(cx, &c->e, c->stored, N, c->ref, rows, m, out), CF_OK);
        for (size_t j = 0; j < m; j++)
            assert_memory_equal(out + (size_t)rows[j] * w, c->full + (size_t)rows[j] * w, w);
        if (whole) {
            assert_memory_equal(out, c->full, (size_t)N * w);
        } else {
            size_t j = 0;
            for (uint32_t i = 0; i < N; i++) {
                if (j < m && rows[j] == i) {
                    j++;
                    continue;
                }
                assert_memory_equal(out + (size_t)i * w, fill + (size_t)i * w, w);
            }
        }
    }
    rows[0] = N; /* out of range */
    assert_int_equal(store_col_decode_rows(cx, &c->e, c->stored, N, c->ref, rows, 1, out),
                     whole ? CF_OK : CF_ERR_USAGE);
    free(rows);
    free(out);
    free(fill);
}

static uint32_t u32_of(const uint8_t *a)
{
    return (uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 | (uint32_t)a[14] << 8 | a[15];
}

/* The 32-bit decode of an address column equals the 16-byte one (whole and
 * at rows); a column with an IPv6 value has no 32-bit form. */
static void check_v4(store_codec_ctx *cx, const col *c, bool expect_v4)
{
    assert_int_equal(store_col_is_v4(&c->e), expect_v4);
    uint32_t *out = malloc(N * sizeof(*out));
    if (!expect_v4) {
        assert_int_equal(store_col_decode_v4(cx, &c->e, c->stored, N, NULL, 0, out), CF_ERR_USAGE);
        free(out);
        return;
    }
    assert_int_equal(store_col_decode_v4(cx, &c->e, c->stored, N, NULL, 0, out), CF_OK);
    for (size_t i = 0; i < N; i++) {
        assert_memory_equal(c->full + 16 * i, v4pfx, 12);
        assert_int_equal(out[i], u32_of(c->full + 16 * i));
    }
    st_rng rng = {77};
    uint32_t *rows = malloc(N * sizeof(*rows));
    for (unsigned kind = 0; kind < N_KINDS; kind++) {
        size_t m = selection(kind, &rng, rows);
        memset(out, 0xa5, N * sizeof(*out));
        assert_int_equal(store_col_decode_v4(cx, &c->e, c->stored, N, rows, m, out), CF_OK);
        size_t j = 0;
        for (uint32_t i = 0; i < N; i++) {
            if (j < m && rows[j] == i) {
                assert_int_equal(out[i], u32_of(c->full + 16 * i));
                j++;
            } else {
                assert_int_equal(out[i], 0xa5a5a5a5u);
            }
        }
    }
    free(rows);
    free(out);
}

/* ---- integer encodings ----------------------------------------------------- */

static void int_case(flow_field_id id, unsigned expect_enc, void (*gen)(st_rng *, unsigned, uint8_t *, uint64_t *))
{
    store_codec codecs[] = {STORE_CODEC_NONE, STORE_CODEC_LZ4, STORE_CODEC_ZSTD};
    const flow_field *f = flow_field_by_id(id);
    for (size_t k = 0; k < 3; k++) {
        store_codec_ctx cx = {0};
        st_rng rng = {1234 + k};
        uint8_t *vals = calloc(N, f->width);
        uint64_t *ref = malloc(N * sizeof(*ref));
        gen(&rng, f->width, vals, ref);
        col c;
        col_make(&c, &cx, id, vals, ref, codecs[k]);
        assert_int_equal(c.e.encoding, expect_enc);
        check_rows(&cx, &c);
        col_free(&c);
        free(vals);
        free(ref);
        store_codec_ctx_free(&cx);
    }
}

static void gen_const(st_rng *r, unsigned w, uint8_t *v, uint64_t *ref)
{
    (void)r, (void)ref;
    for (size_t i = 0; i < N; i++)
        put_w(v, w, i, 42);
}

static void gen_for(st_rng *r, unsigned w, uint8_t *v, uint64_t *ref)
{
    (void)ref;
    uint64_t lim = w >= 4 ? 1000000 : w == 2 ? 60000 : 250;
    for (size_t i = 0; i < N; i++)
        put_w(v, w, i, 7 + st_rand(r) % lim);
}

static void gen_sparse(st_rng *r, unsigned w, uint8_t *v, uint64_t *ref)
{
    (void)ref;
    for (size_t i = 0; i < N; i++)
        put_w(v, w, i, st_rand(r) % 20 == 0 ? 100 + st_rand(r) % 60000 : 100);
}

static void gen_dict(st_rng *r, unsigned w, uint8_t *v, uint64_t *ref)
{
    (void)ref;
    static const uint64_t vals[3] = {5, 70000, 9000000000ull};
    for (size_t i = 0; i < N; i++)
        put_w(v, w, i, vals[st_rand(r) % 3]);
}

static void gen_delta(st_rng *r, unsigned w, uint8_t *v, uint64_t *ref)
{
    (void)ref;
    uint64_t t = T0;
    for (size_t i = 0; i < N; i++) {
        t += st_rand(r) % 200;
        put_w(v, w, i, t);
    }
}

/* first = last - a small duration, last random over a wide range: REF */
static void gen_ref(st_rng *r, unsigned w, uint8_t *v, uint64_t *ref)
{
    for (size_t i = 0; i < N; i++) {
        ref[i] = T0 + st_rand(r) % 300000000;
        put_w(v, w, i, ref[i] - st_rand(r) % 60000);
    }
}

static void gen_ref_sparse(st_rng *r, unsigned w, uint8_t *v, uint64_t *ref)
{
    for (size_t i = 0; i < N; i++) {
        ref[i] = T0 + st_rand(r) % 300000000;
        put_w(v, w, i, ref[i] - (st_rand(r) % 25 == 0 ? st_rand(r) % 60000 : 0));
    }
}

static void test_const(void **s) { (void)s; int_case(FLOW_FIELD_PACKETS, STORE_ENC_CONST, gen_const); }
static void test_for_w1(void **s) { (void)s; int_case(FLOW_FIELD_PROTO, STORE_ENC_FOR, gen_for); }
static void test_for_w2(void **s) { (void)s; int_case(FLOW_FIELD_SRC_PORT, STORE_ENC_FOR, gen_for); }
static void test_for_w4(void **s) { (void)s; int_case(FLOW_FIELD_IN_IF, STORE_ENC_FOR, gen_for); }
static void test_for_w8(void **s) { (void)s; int_case(FLOW_FIELD_PACKETS, STORE_ENC_FOR, gen_for); }
static void test_for_sparse(void **s)
{
    (void)s;
    int_case(FLOW_FIELD_PACKETS, STORE_ENC_FOR | STORE_ENC_F_SPARSE, gen_sparse);
}
static void test_dict(void **s) { (void)s; int_case(FLOW_FIELD_BYTES, STORE_ENC_SMALLDICT, gen_dict); }
static void test_delta(void **s) { (void)s; int_case(FLOW_FIELD_FIRST, STORE_ENC_DELTA, gen_delta); }
/* time steps mostly equal: the zigzag deltas are sparse */
static void gen_delta_sparse(st_rng *r, unsigned w, uint8_t *v, uint64_t *ref)
{
    (void)ref;
    uint64_t t = T0;
    for (size_t i = 0; i < N; i++) {
        t += st_rand(r) % 30 == 0 ? 1 + st_rand(r) % 100 : 0;
        put_w(v, w, i, t);
    }
}

static void test_delta_sparse(void **s)
{
    (void)s;
    int_case(FLOW_FIELD_FIRST, STORE_ENC_DELTA | STORE_ENC_F_SPARSE, gen_delta_sparse);
}
static void test_ref(void **s) { (void)s; int_case(FLOW_FIELD_FIRST, STORE_ENC_REF, gen_ref); }
static void test_ref_sparse(void **s)
{
    (void)s;
    int_case(FLOW_FIELD_FIRST, STORE_ENC_REF | STORE_ENC_F_SPARSE, gen_ref_sparse);
}

/* ---- address encodings --------------------------------------------------- */

static void addr_v4(uint8_t *a, uint32_t v)
{
    memcpy(a, v4pfx, 12);
    a[12] = (uint8_t)(v >> 24);
    a[13] = (uint8_t)(v >> 16);
    a[14] = (uint8_t)(v >> 8);
    a[15] = (uint8_t)v;
}

static void addr_case(unsigned kind, unsigned expect_enc, bool expect_v4)
{
    store_codec codecs[] = {STORE_CODEC_NONE, STORE_CODEC_LZ4, STORE_CODEC_ZSTD};
    for (size_t k = 0; k < 3; k++) {
        store_codec_ctx cx = {0};
        st_rng rng = {99 + k};
        uint8_t *vals = calloc(N, 16);
        for (size_t i = 0; i < N; i++) {
            uint8_t *a = vals + 16 * i;
            switch (kind) {
            case 0: addr_v4(a, (uint32_t)st_rand(&rng)); break;                     /* PLANES 0xf000 */
            case 1: addr_v4(a, 0x0a010200u | (uint32_t)(st_rand(&rng) % 256)); break; /* PLANES 0x8000 */
            case 2: addr_v4(a, 0xc0a80001u); break;                                  /* CONST */
            case 3: addr_v4(a, i % 3 == 0 ? 0x0a000001u : 0x0a000002u); break;        /* SMALLDICT */
            case 4: /* IPv6 */
                for (int b = 0; b < 16; b++)
                    a[b] = (uint8_t)st_rand(&rng);
                break;
            case 5: /* IPv4 with one IPv6 row */
                addr_v4(a, (uint32_t)st_rand(&rng));
                if (i == N / 2)
                    a[0] = 0x20;
                break;
            case 6: /* IPv4 with 5 % IPv6 rows, the first and the last among them */
                if (i == 0 || i == N - 1 || st_rand(&rng) % 20 == 0) {
                    static const uint8_t p6[4] = {0x20, 0x01, 0x0d, 0xb8};
                    memcpy(a, p6, 4);
                    for (int b = 4; b < 16; b++)
                        a[b] = (uint8_t)st_rand(&rng);
                } else {
                    addr_v4(a, 0x0a000000u | (uint32_t)(st_rand(&rng) % 0x100000));
                }
                break;
            case 8: /* one IPv4 address and a few IPv6 ones: no planes, the bitmap and the exceptions */
                if (i % 97 == 3) {
                    memset(a, 0x20, 16);
                    a[15] = (uint8_t)i;
                } else {
                    addr_v4(a, 0xc0000201u);
                }
                break;
            default: /* IPv6 in one /64 with 10 % IPv4 rows: the IPv4 ones are the exceptions */
                if (st_rand(&rng) % 10 == 0) {
                    addr_v4(a, (uint32_t)st_rand(&rng));
                } else {
                    static const uint8_t p6[8] = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1};
                    memcpy(a, p6, 8);
                    for (int b = 8; b < 16; b++)
                        a[b] = (uint8_t)st_rand(&rng);
                }
                break;
            }
        }
        col c;
        col_make(&c, &cx, FLOW_FIELD_SRC_ADDR, vals, NULL, codecs[k]);
        assert_int_equal(c.e.encoding, expect_enc);
        if (kind == 8)
            assert_int_equal(c.e.nbytes, 0); /* the regular rows are one address */
        check_rows(&cx, &c);
        check_v4(&cx, &c, expect_v4);
        col_free(&c);
        free(vals);
        store_codec_ctx_free(&cx);
    }
}

static void test_addr_v4_planes(void **s) { (void)s; addr_case(0, STORE_ENC_PLANES, true); }
static void test_addr_v4_last_byte(void **s) { (void)s; addr_case(1, STORE_ENC_PLANES, true); }
static void test_addr_v4_const(void **s) { (void)s; addr_case(2, STORE_ENC_CONST, true); }
static void test_addr_dict(void **s) { (void)s; addr_case(3, STORE_ENC_SMALLDICT, false); }
static void test_addr_v6(void **s) { (void)s; addr_case(4, STORE_ENC_PLANES, false); }
static void test_addr_mixed(void **s) { (void)s; addr_case(5, STORE_ENC_PLANESX, false); }
static void test_addr_mixed_v4_most(void **s) { (void)s; addr_case(6, STORE_ENC_PLANESX, false); }
static void test_addr_mixed_v6_most(void **s) { (void)s; addr_case(7, STORE_ENC_PLANESX, false); }
static void test_addr_mixed_no_planes(void **s) { (void)s; addr_case(8, STORE_ENC_PLANESX, false); }

/* A PLANESX column whose bitmap names one row more or fewer than its
 * exception count, or a row past the block, is refused whole and at rows. */
static void test_corrupt_planesx_bitmap(void **s)
{
    (void)s;
    enum { M = 1003 }; /* not a multiple of 8: the bitmap's last byte has spare bits */
    store_codec_ctx cx = {0};
    const flow_field *f = flow_field_by_id(FLOW_FIELD_DST_ADDR);
    uint8_t *vals = calloc(M, 16), *stored = malloc(store_col_bound(f, M)), *out = malloc(M * 16);
    for (size_t i = 0; i < M; i++) {
        addr_v4(vals + 16 * i, 0xc0a80000u | (uint32_t)i);
        if (i % 50 == 7)
            vals[16 * i] = 0xfe;
    }
    store_col_entry e;
    assert_int_equal(store_col_encode(&cx, f, vals, M, NULL, STORE_CODEC_NONE, 3, stored, store_col_bound(f, M), &e),
                     CF_OK);
    assert_int_equal(e.encoding, STORE_ENC_PLANESX);
    assert_int_equal(e.base, 20);
    assert_int_equal(e.aux, 0xc000); /* 192.168.x.y: two bytes vary */
    assert_int_equal(store_col_validate(&e, f, M), CF_OK);
    uint32_t rows[3] = {0, 7, M - 1};
    for (int k = 0; k < 2; k++) {
        uint8_t *bm = stored + (k ? (M + 7) / 8 - 1 : 0);
        uint8_t bit = k ? 0x80 : 0x01; /* row 1007, past the end; row 0 */
        *bm ^= bit;
        assert_int_equal(store_col_decode(&cx, &e, stored, M, NULL, out), CF_ERR_CORRUPT);
        assert_int_equal(store_col_decode_rows(&cx, &e, stored, M, NULL, rows, 3, out), CF_ERR_CORRUPT);
        *bm ^= bit;
    }
    assert_int_equal(store_col_decode(&cx, &e, stored, M, NULL, out), CF_OK);
    assert_memory_equal(out, vals, M * 16);
    store_col_entry bad = e;
    bad.base = 0;
    assert_int_equal(store_col_validate(&bad, f, M), CF_ERR_CORRUPT);
    bad.base = M + 1;
    assert_int_equal(store_col_validate(&bad, f, M), CF_ERR_CORRUPT);
    bad = e;
    bad.encoding |= STORE_ENC_F_SPARSE;
    assert_int_equal(store_col_validate(&bad, f, M), CF_ERR_CORRUPT);
    free(vals), free(stored), free(out);
    store_codec_ctx_free(&cx);
}

/* Corrupt compressed bytes are still found when only some rows are asked for. */
static void test_corrupt_detected(void **s)
{
    (void)s;
    store_codec codecs[] = {STORE_CODEC_LZ4, STORE_CODEC_ZSTD};
    for (size_t k = 0; k < 2; k++) {
        store_codec_ctx cx = {0};
        uint8_t *vals = calloc(N, 16);
        for (size_t i = 0; i < N; i++)
            addr_v4(vals + 16 * i, 0x0a000000u | (uint32_t)(i % 64) << 8 | (uint32_t)(i % 200));
        col c;
        col_make(&c, &cx, FLOW_FIELD_SRC_ADDR, vals, NULL, codecs[k]);
        assert_int_equal(c.e.codec, codecs[k]);
        store_col_entry bad = c.e;
        bad.stored_len = c.e.stored_len / 2; /* truncated: cannot decompress to raw_len */
        uint32_t rows[2] = {0, 1};
        uint8_t *out = malloc(N * 16);
        uint32_t *o4 = malloc(N * sizeof(*o4));
        assert_int_equal(store_col_decode_rows(&cx, &bad, c.stored, N, NULL, rows, 2, out), CF_ERR_CORRUPT);
        assert_int_equal(store_col_decode_v4(&cx, &bad, c.stored, N, rows, 2, o4), CF_ERR_CORRUPT);
        assert_int_equal(store_col_decode_v4(&cx, &bad, c.stored, N, NULL, 0, o4), CF_ERR_CORRUPT);
        free(out);
        free(o4);
        col_free(&c);
        free(vals);
        store_codec_ctx_free(&cx);
    }
}

/* A sparse column whose bitmap does not match its length is refused at
 * selected rows as it is whole. */
static void test_corrupt_sparse_bitmap(void **s)
{
    (void)s;
    store_codec_ctx cx = {0};
    const flow_field *f = flow_field_by_id(FLOW_FIELD_PACKETS);
    uint8_t *vals = calloc(N, f->width);
    st_rng rng = {8};
    gen_sparse(&rng, f->width, vals, NULL);
    col c;
    col_make(&c, &cx, FLOW_FIELD_PACKETS, vals, NULL, STORE_CODEC_NONE);
    assert_int_equal(c.e.encoding, STORE_ENC_FOR | STORE_ENC_F_SPARSE);
    assert_int_equal(c.e.codec, STORE_CODEC_NONE);
    c.stored[0] ^= 0x01; /* one more or one fewer value than stored */
    uint32_t rows[3] = {0, 1, N - 1};
    uint8_t *out = malloc((size_t)N * f->width);
    assert_int_equal(store_col_decode(&cx, &c.e, c.stored, N, NULL, out), CF_ERR_CORRUPT);
    assert_int_equal(store_col_decode_rows(&cx, &c.e, c.stored, N, NULL, rows, 3, out), CF_ERR_CORRUPT);
    assert_int_equal(store_col_decode_rows(&cx, &c.e, c.stored, N, NULL, rows, 0, out), CF_ERR_CORRUPT);
    free(out);
    col_free(&c);
    free(vals);
    store_codec_ctx_free(&cx);
}

/* ---- through the reader ---------------------------------------------------- */

static void test_reader_rows(void **s)
{
    (void)s;
    enum { M = 20000 };
    char *dir = tu_mkdtemp("store-rows");
    store_options o;
    st_options(&o, STORE_CODEC_LZ4, 8192);
    flow_record *recs = malloc(M * sizeof(*recs));
    st_rng rng = {31};
    st_random_records(&rng, T0, T0 + 200000, recs, M);
    for (size_t i = 0; i < M; i++) /* most blocks IPv4 only; the last one also IPv6 sources */
        if (i < 16384 || i % 7)
            addr_v4(recs[i].src_addr, (uint32_t)st_rand(&rng));
    store_writer *w;
    assert_int_equal(store_writer_open(dir, &o, &w), CF_OK);
    assert_int_equal(store_writer_append(w, recs, M), CF_OK);
    assert_int_equal(store_writer_close(w), CF_OK);
    store_segment *segs;
    assert_int_equal(st_list(dir, &segs), 1);
    store_reader *rd;
    assert_int_equal(store_reader_open(segs[0].path, &rd), CF_OK);
    store_block_info bi;
    size_t base = 0, n_v4 = 0;
    uint32_t *rows = malloc(8192 * sizeof(*rows));
    uint64_t addr = STORE_FIELD_BIT(FLOW_FIELD_SRC_ADDR) | STORE_FIELD_BIT(FLOW_FIELD_DST_ADDR);
    while (store_reader_next(rd, &bi) == CF_OK) {
        const void *cols[FLOW_FIELD_MAX_ID + 1] = {0};
        uint64_t v4 = 0;
        size_t m = 0;
        for (uint32_t i = 0; i < bi.n_records; i++)
            if (st_rand(&rng) % 10 == 0)
                rows[m++] = i;
        assert_int_equal(store_reader_columns_rows(rd, STORE_ALL_FIELDS, rows, m, addr, cols, &v4), CF_OK);
        assert_int_equal(v4 & ~addr, 0);
        n_v4 += (v4 & STORE_FIELD_BIT(FLOW_FIELD_SRC_ADDR)) != 0;
        for (size_t j = 0; j < m; j++) {
            const flow_record *rec = &recs[base + rows[j]];
            for (size_t k = 0; k < flow_n_fields; k++) {
                const flow_field *f = &flow_fields[k];
                const uint8_t *want = (const uint8_t *)rec + f->offset;
                if (v4 & STORE_FIELD_BIT(f->id)) {
                    assert_memory_equal(want, v4pfx, 12);
                    assert_int_equal(((const uint32_t *)cols[f->id])[rows[j]], u32_of(want));
                } else {
                    assert_memory_equal((const uint8_t *)cols[f->id] + (size_t)f->width * rows[j], want, f->width);
                }
            }
        }
        /* then whole, without the 32-bit form: every row */
        assert_int_equal(store_reader_columns_rows(rd, STORE_ALL_FIELDS, NULL, 0, 0, cols, &v4), CF_OK);
        assert_int_equal(v4, 0);
        for (size_t i = 0; i < bi.n_records; i++)
            assert_memory_equal((const uint8_t *)cols[FLOW_FIELD_SRC_ADDR] + 16 * i, recs[base + i].src_addr, 16);
        rows[0] = bi.n_records;
        assert_int_equal(store_reader_columns_rows(rd, STORE_ALL_FIELDS, rows, 1, 0, cols, &v4), CF_ERR_USAGE);
        base += bi.n_records;
    }
    assert_int_equal(base, M);
    assert_int_equal(n_v4, 2); /* the two IPv4-only blocks */
    free(rows);
    store_reader_close(rd);
    store_segments_free(segs, 1);
    free(recs);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_const),          cmocka_unit_test(test_for_w1),
        cmocka_unit_test(test_for_w2),         cmocka_unit_test(test_for_w4),
        cmocka_unit_test(test_for_w8),         cmocka_unit_test(test_for_sparse),
        cmocka_unit_test(test_dict),           cmocka_unit_test(test_delta),
        cmocka_unit_test(test_delta_sparse),
        cmocka_unit_test(test_ref),            cmocka_unit_test(test_ref_sparse),
        cmocka_unit_test(test_addr_v4_planes), cmocka_unit_test(test_addr_v4_last_byte),
        cmocka_unit_test(test_addr_v4_const),  cmocka_unit_test(test_addr_dict),
        cmocka_unit_test(test_addr_v6),        cmocka_unit_test(test_addr_mixed),
        cmocka_unit_test(test_addr_mixed_v4_most), cmocka_unit_test(test_addr_mixed_v6_most),
        cmocka_unit_test(test_addr_mixed_no_planes),
        cmocka_unit_test(test_corrupt_planesx_bitmap),
        cmocka_unit_test(test_corrupt_detected),
        cmocka_unit_test(test_corrupt_sparse_bitmap), cmocka_unit_test(test_reader_rows),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
