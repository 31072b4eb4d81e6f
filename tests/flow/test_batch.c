/* tests/flow/test_batch.c - column batches: runs written column by column
 * (flow_batch_run, flow_batch_vary) mixed with rows (flow_batch_add) read
 * back equal to the records they stand for, whatever the masks. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flow/batch.h"

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint64_t next(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* A record whose fields take one of few values, so that runs often agree
 * with the reference and sometimes not. */
static void random_record(flow_record *r)
{
    memset(r, 0, sizeof(*r));
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        uint8_t v = (next() % 4 == 0) ? (uint8_t)next() : 0;
        memset((uint8_t *)r + f->offset, v, f->width);
    }
}

static void set_field(flow_record *r, const flow_field *f, const uint8_t *v)
{
    memcpy((uint8_t *)r + f->offset, v, f->width);
}

static void check_batch(const flow_batch *b, const flow_record *want)
{
    for (uint32_t i = 0; i < b->n; i++) {
        flow_record got;
        flow_batch_get(b, i, &got);
        for (size_t k = 0; k < flow_n_fields; k++) {
            const flow_field *f = &flow_fields[k];
            if (memcmp((const uint8_t *)&got + f->offset, (const uint8_t *)&want[i] + f->offset, f->width) != 0)
                fail_msg("row %u field %s differs", i, f->name);
        }
    }
    assert_true(b->varies & FLOW_BATCH_BIT(FLOW_FIELD_LAST)); /* the writer routes by it */
}

/* Many batches, each filled by random runs and rows, compared row by row. */
static void test_runs_and_rows_mixed(void **state)
{
    (void)state;
    enum { CAP = 300 };
    flow_batch b;
    assert_int_equal(flow_batch_init(&b, CAP), CF_OK);
    flow_record *want = calloc(CAP, sizeof(flow_record));
    assert_non_null(want);
    for (int round = 0; round < 400; round++) {
        flow_batch_clear(&b);
        while (b.n < b.cap) {
            size_t left = b.cap - b.n, m = 1 + next() % (left < 40 ? left : 40);
            if (next() % 3 == 0) { /* rows */
                for (size_t k = 0; k < m; k++)
                    random_record(&want[b.n + k]);
                flow_batch_add(&b, &want[b.n], m);
                continue;
            }
            static flow_record c; /* half of the runs repeat the last one's record */
            if (round == 0 || next() % 2 == 0)
                random_record(&c);
            uint64_t vary = next() & next(), extra = next() & next() & next();
            uint32_t row = flow_batch_run(&b, &c, vary, m);
            assert_int_equal(row, b.n);
            flow_batch_vary(&b, extra);
            for (size_t k = 0; k < m; k++) {
                want[row + k] = c;
                for (size_t i = 0; i < flow_n_fields; i++) {
                    const flow_field *f = &flow_fields[i];
                    if (!((vary | extra) & FLOW_BATCH_BIT(f->id)))
                        continue;
                    uint8_t v[16];
                    memset(v, (int)(next() % 3), sizeof(v));
                    set_field(&want[row + k], f, v);
                    memcpy(b.cols[f->id] + (size_t)(row + k) * f->width, v, f->width);
                }
            }
            b.n += (uint32_t)m;
        }
        check_batch(&b, want);
    }
    free(want);
    flow_batch_free(&b);
}

/* A run alone keeps the columns it does not vary out of the batch. */
static void test_constant_columns_stay_empty(void **state)
{
    (void)state;
    _Alignas(16) static uint8_t mem[64 * sizeof(flow_record) + 16 * (FLOW_FIELD_MAX_ID + 1)];
    flow_batch b;
    assert_int_equal(flow_batch_init_mem(&b, 64, mem, sizeof(mem)), CF_OK);
    assert_int_equal(flow_batch_init_mem(&b, 64, mem, 100), CF_ERR_RANGE);
    assert_int_equal(flow_batch_init_mem(&b, 64, mem, sizeof(mem)), CF_OK);
    flow_record c;
    memset(&c, 0, sizeof(c));
    c.family = 4;
    c.last_ms = 77;
    uint64_t vary = FLOW_BATCH_BIT(FLOW_FIELD_BYTES);
    for (int k = 0; k < 2; k++) {
        uint32_t row = flow_batch_run(&b, &c, vary, 10);
        for (uint32_t i = 0; i < 10; i++) {
            uint64_t v = row + i;
            memcpy(b.cols[FLOW_FIELD_BYTES] + 8 * (row + i), &v, 8);
        }
        b.n += 10;
    }
    assert_int_equal(b.varies, vary | FLOW_BATCH_BIT(FLOW_FIELD_LAST));
    /* a run that differs in family fills that column, for all rows */
    c.family = 6;
    flow_batch_run(&b, &c, vary, 5);
    b.n += 5;
    assert_true(b.varies & FLOW_BATCH_BIT(FLOW_FIELD_FAMILY));
    flow_record r;
    flow_batch_get(&b, 3, &r);
    assert_int_equal(r.family, 4);
    assert_int_equal(r.bytes, 3);
    assert_int_equal(r.last_ms, 77);
    flow_batch_get(&b, 22, &r);
    assert_int_equal(r.family, 6);
    flow_batch_free(&b); /* caller memory: nothing freed */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_runs_and_rows_mixed),
        cmocka_unit_test(test_constant_columns_stay_empty),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
