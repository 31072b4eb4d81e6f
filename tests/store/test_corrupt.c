/* tests/store/test_corrupt.c - damaged segments: flipped bytes in a block,
 * bad file headers, every truncation of a small valid segment. */
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

#define T0 UINT64_C(1704067200000)
#define N_PER_BLOCK 5

typedef struct fixture {
    char *dir;
    char *path;           /* the segment: 3 blocks of N_PER_BLOCK records */
    flow_record recs[3 * N_PER_BLOCK];
    uint8_t *bytes;       /* its content */
    size_t len;
    uint64_t block_off[3];
} fixture;

static int setup(void **state)
{
    fixture *fx = calloc(1, sizeof(*fx));
    fx->dir = tu_mkdtemp("store-corrupt");
    st_rng r = {21};
    st_random_records(&r, T0, T0 + 300000, fx->recs, 3 * N_PER_BLOCK);
    store_options o;
    st_options(&o, STORE_CODEC_LZ4, N_PER_BLOCK);
    store_writer *w;
    if (store_writer_open(fx->dir, &o, &w) != CF_OK || store_writer_append(w, fx->recs, 3 * N_PER_BLOCK) ||
        store_writer_close(w))
        return -1;
    store_segment *segs;
    if (st_list(fx->dir, &segs) != 1)
        return -1;
    fx->path = strdup(segs[0].path);
    store_segments_free(segs, 1);
    fx->bytes = (uint8_t *)tu_read_file(fx->path, &fx->len);
    store_reader *rd;
    store_block_info info;
    if (store_reader_open(fx->path, &rd) != CF_OK)
        return -1;
    for (int i = 0; i < 3; i++) {
        if (store_reader_next(rd, &info) != CF_OK)
            return -1;
        fx->block_off[i] = info.offset;
    }
    store_reader_close(rd);
    *state = fx;
    return 0;
}

static int teardown(void **state)
{
    fixture *fx = *state;
    tu_rm_rf(fx->dir);
    free(fx->dir), free(fx->path), free(fx->bytes), free(fx);
    return 0;
}

static void write_bytes(const char *path, const uint8_t *p, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(p, 1, len, f), len);
    fclose(f);
}

/* Writes the segment with byte at off xor'ed and reads it block by block:
 * expects blocks 0 and 2 intact and block 1 corrupt: refused by
 * store_reader_next() when the byte is in its header or directory
 * (in_payload false), else by the decoding of its columns (a payload byte is
 * verified only when its column is decoded, never used unchecked). */
static void expect_middle_block_corrupt(fixture *fx, uint64_t off, bool in_payload)
{
    uint8_t *copy = malloc(fx->len);
    memcpy(copy, fx->bytes, fx->len);
    copy[off] ^= 0x5a;
    write_bytes(fx->path, copy, fx->len);
    store_reader *rd;
    assert_int_equal(store_reader_open(fx->path, &rd), CF_OK);
    store_block_info info;
    flow_record out[N_PER_BLOCK];
    assert_int_equal(store_reader_next(rd, &info), CF_OK);
    assert_int_equal(store_reader_records(rd, out), CF_OK);
    assert_memory_equal(out, fx->recs, sizeof(out));
    if (in_payload) {
        assert_int_equal(store_reader_next(rd, &info), CF_OK);
        assert_int_equal(store_reader_records(rd, out), CF_ERR_CORRUPT);
        assert_int_equal(store_reader_records(rd, out), CF_ERR_CORRUPT); /* not remembered as decoded */
    } else {
        assert_int_equal(store_reader_next(rd, &info), CF_ERR_CORRUPT);
    }
    assert_int_equal(info.offset, fx->block_off[1]);
    assert_int_equal(info.index, 1);
    assert_int_equal(store_reader_next(rd, &info), CF_OK);
    assert_int_equal(info.offset, fx->block_off[2]);
    assert_int_equal(store_reader_records(rd, out), CF_OK);
    assert_memory_equal(out, fx->recs + 2 * N_PER_BLOCK, sizeof(out));
    assert_int_equal(store_reader_next(rd, &info), CF_ERR_EOF);
    store_reader_close(rd);
    free(copy);
}

static void test_flipped_payload_byte_fails_only_its_block(void **state)
{
    fixture *fx = *state;
    expect_middle_block_corrupt(fx, fx->block_off[2] - 5, true); /* the last column bytes of block 1 */
}

static void test_flipped_header_byte_fails_only_its_block(void **state)
{
    fixture *fx = *state;
    expect_middle_block_corrupt(fx, fx->block_off[1] + 9, false); /* n_columns: the reader must scan */
}

static void test_flipped_directory_byte_fails_only_its_block(void **state)
{
    fixture *fx = *state;
    expect_middle_block_corrupt(fx, fx->block_off[1] + STORE_BLOCK_FIXED_LEN + 3 * STORE_DIR_ENTRY_LEN + 17,
                                false);
}

/* A flipped byte in one column fails that column only, when it is decoded:
 * the other columns of the block still decode. */
static void test_flipped_column_byte_fails_that_column(void **state)
{
    fixture *fx = *state;
    const uint8_t *blk = fx->bytes + fx->block_off[1];
    uint32_t n_cols = store_le32(blk + 8);
    size_t off = STORE_BLOCK_FIXED_LEN + (size_t)n_cols * STORE_DIR_ENTRY_LEN + 8;
    store_col_entry e = {0};
    bool found = false;
    for (uint32_t i = 0; i < n_cols && !found; i++) {
        store_col_entry_get(blk + STORE_BLOCK_FIXED_LEN + (size_t)i * STORE_DIR_ENTRY_LEN, &e);
        if (e.field_id == FLOW_FIELD_BYTES && e.stored_len > 0)
            found = true;
        else
            off += e.stored_len;
    }
    assert_true(found);
    uint8_t *copy = malloc(fx->len);
    memcpy(copy, fx->bytes, fx->len);
    copy[fx->block_off[1] + off + e.stored_len / 2] ^= 0x01;
    write_bytes(fx->path, copy, fx->len);
    store_reader *rd;
    assert_int_equal(store_reader_open(fx->path, &rd), CF_OK);
    store_block_info info;
    const void *cols[FLOW_FIELD_MAX_ID + 1] = {0};
    assert_int_equal(store_reader_next(rd, &info), CF_OK);
    assert_int_equal(store_reader_columns(rd, STORE_FIELD_BIT(FLOW_FIELD_BYTES), cols), CF_OK);
    assert_int_equal(store_reader_next(rd, &info), CF_OK);
    assert_int_equal(info.index, 1);
    assert_int_equal(store_reader_columns(rd, STORE_FIELD_BIT(FLOW_FIELD_SRC_PORT), cols), CF_OK);
    const uint16_t *sp = cols[FLOW_FIELD_SRC_PORT];
    for (size_t k = 0; k < N_PER_BLOCK; k++)
        assert_int_equal(sp[k], fx->recs[N_PER_BLOCK + k].src_port);
    cols[FLOW_FIELD_BYTES] = NULL;
    assert_int_equal(store_reader_columns(rd, STORE_FIELD_BIT(FLOW_FIELD_BYTES), cols), CF_ERR_CORRUPT);
    assert_null(cols[FLOW_FIELD_BYTES]);
    assert_int_equal(store_reader_next(rd, &info), CF_OK);
    assert_int_equal(store_reader_columns(rd, STORE_FIELD_BIT(FLOW_FIELD_BYTES), cols), CF_OK);
    assert_int_equal(store_reader_next(rd, &info), CF_ERR_EOF);
    store_reader_close(rd);
    free(copy);
}

static void test_bad_file_headers_are_refused(void **state)
{
    fixture *fx = *state;
    store_reader *rd = NULL;
    uint8_t *copy = malloc(fx->len);
    memcpy(copy, fx->bytes, fx->len);
    copy[20] ^= 1; /* checksum no longer matches */
    write_bytes(fx->path, copy, fx->len);
    assert_int_equal(store_reader_open(fx->path, &rd), CF_ERR_CORRUPT);
    assert_null(rd);
    memcpy(copy, fx->bytes, fx->len);
    store_put_le16(copy + 8, STORE_FORMAT_VERSION + 1); /* a future version, checksum fixed */
    store_put_le64(copy + 56, store_hash(copy, 56));
    write_bytes(fx->path, copy, fx->len);
    assert_int_equal(store_reader_open(fx->path, &rd), CF_ERR_VERSION);
    st_rng r = {22};
    for (size_t i = 0; i < fx->len; i++)
        copy[i] = (uint8_t)st_rand(&r);
    write_bytes(fx->path, copy, fx->len);
    assert_int_equal(store_reader_open(fx->path, &rd), CF_ERR_CORRUPT);
    write_bytes(fx->path, copy, 0);
    assert_int_equal(store_reader_open(fx->path, &rd), CF_ERR_CORRUPT);
    assert_int_equal(store_reader_open("/nonexistent/cf-x.seg", &rd), CF_ERR_IO);
    assert_null(rd);
    free(copy);
}

/* Every prefix of the segment: no crash, no leak; whole blocks are read. */
static void test_every_truncation_is_safe(void **state)
{
    fixture *fx = *state;
    for (size_t len = 0; len <= fx->len; len++) {
        write_bytes(fx->path, fx->bytes, len);
        store_reader *rd;
        cf_err err = store_reader_open(fx->path, &rd);
        if (len < STORE_FILE_HEADER_LEN) {
            assert_int_equal(err, CF_ERR_CORRUPT);
            continue;
        }
        assert_int_equal(err, CF_OK);
        store_block_info info;
        flow_record out[N_PER_BLOCK];
        size_t blocks = 0;
        while ((err = store_reader_next(rd, &info)) == CF_OK) {
            assert_int_equal(store_reader_records(rd, out), CF_OK);
            assert_memory_equal(out, fx->recs + blocks * N_PER_BLOCK, sizeof(out));
            blocks++;
        }
        assert_int_equal(err, CF_ERR_EOF);
        size_t whole = 0;
        for (int b = 0; b < 3; b++)
            whole += len >= (b < 2 ? fx->block_off[b + 1] : fx->len - STORE_TRAILER_LEN);
        assert_int_equal(blocks, whole);
        /* Past the last block: a trailer being written is not a torn block once
         * its magic is there; fewer bytes than a magic cannot be told apart. */
        size_t data_end = fx->len - STORE_TRAILER_LEN;
        bool at_boundary = len == STORE_FILE_HEADER_LEN || len == fx->block_off[1] || len == fx->block_off[2] ||
                           len == data_end || len >= data_end + 4;
        if (store_reader_torn(rd) != !at_boundary)
            print_error("len %zu of %zu: torn %d\n", len, fx->len, store_reader_torn(rd));
        assert_int_equal(store_reader_torn(rd), !at_boundary);
        assert_int_equal(store_reader_unsealed(rd), len != fx->len);
        store_reader_close(rd);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_flipped_payload_byte_fails_only_its_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_header_byte_fails_only_its_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_directory_byte_fails_only_its_block, setup, teardown),
        cmocka_unit_test_setup_teardown(test_flipped_column_byte_fails_that_column, setup, teardown),
        cmocka_unit_test_setup_teardown(test_bad_file_headers_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(test_every_truncation_is_safe, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
