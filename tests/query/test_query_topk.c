/*
 * tests/query/test_query_topk.c - -s tables on several workers: each worker
 * keeps its own table and its top rows, and the report proves the top N from
 * those lists (threshold merge) or merges the tables when it cannot (ties,
 * flat distributions, -n 0, non-additive orders).  Every answer must equal
 * the single-worker one, byte for byte.
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

#define T0 UINT64_C(1704067200000) /* 2024-01-01 00:00:00 UTC */

static uint64_t rnd(uint64_t *x)
{
    *x ^= *x << 13;
    *x ^= *x >> 7;
    *x ^= *x << 17;
    return *x;
}

/* n flows over 40 minutes (8 segments); skewed: a few heavy sources and
 * many light ones, with some IPv6 sources.  flat: every source alike. */
static char *make_store(size_t n, bool flat, uint64_t seed)
{
    flow_record *r = calloc(n, sizeof(*r));
    assert_non_null(r);
    uint64_t x = seed;
    for (size_t i = 0; i < n; i++) {
        uint64_t u = rnd(&x);
        uint32_t src = flat ? 0x0a000000u + (uint32_t)(i % 3000) : 0x0a000000u + (uint32_t)((u % 1000) * (u % 1000) % 5000);
        uint64_t bytes = flat ? 1000 : 40 + rnd(&x) % 100000;
        r[i] = qt_rec(T0 + (uint64_t)i * (40 * 60000 / n), rnd(&x) % 5000, src, (uint32_t)rnd(&x) % 7000,
                      i % 3 ? 6 : 17, (uint16_t)(rnd(&x) % 2000), (uint16_t)(rnd(&x) % 50), 1 + rnd(&x) % 20, bytes);
        if (!flat && i % 17 == 0) {
            uint8_t a[16] = {0x20, 0x01, 0x0d, 0xb8};
            a[15] = (uint8_t)(u % 40);
            memcpy(r[i].src_addr, a, 16);
            r[i].family = 6;
        }
    }
    char *dir = tu_mkdtemp("qt");
    assert_non_null(dir);
    assert_int_equal(qt_write_store(dir, r, n, 512), 0);
    free(r);
    return dir;
}

/* Output without the timing lines. */
static char *run(const char *dir, const char *args)
{
    char cmd[512], *out = NULL;
    snprintf(cmd, sizeof(cmd), "-R %s %s", dir, args);
    assert_int_equal(qt_query(cmd, &out, NULL), 0);
    char *t = strstr(out, "Total flows processed:");
    if (t)
        *t = '\0';
    return out;
}

static void same_as_one_worker(const char *dir, const char *args)
{
    char a[256], b[256];
    snprintf(a, sizeof(a), "-T 1 %s", args);
    snprintf(b, sizeof(b), "-T 2 %s", args);
    char *x = run(dir, a), *y = run(dir, b);
    if (strcmp(x, y) != 0)
        fail_msg("%s: one worker:\n%s\ntwo workers:\n%s", args, x, y);
    free(x);
    free(y);
}

static void test_skewed_keys(void **state)
{
    (void)state;
    char *dir = make_store(40000, false, 0x9e3779b97f4a7c15ull);
    static const char *const q[] = {
        "-s srcip/bytes -n 10", "-s srcip/flows -n 5", "-s srcip/packets -n 50", "-s dstip/bytes",
        "-s ip/bytes/flows -n 7", "-s srcport/bytes -n 10", "-s port/packets -n 10", "-s srcip/bps -n 10",
        "-s srcip/bytes -n 0", "-s srcip/bytes -n 3000", "-s proto/bytes -s dstport/flows -s srcip/bytes -n 4",
        "'proto udp' -s srcip/bytes -n 10", "-s srcip/bytes -s record/bytes -n 5",
    };
    for (size_t i = 0; i < sizeof(q) / sizeof(q[0]); i++)
        same_as_one_worker(dir, q[i]);
    tu_rm_rf(dir);
    free(dir);
}

static void test_flat_keys_fall_back_to_merge(void **state)
{
    (void)state;
    /* 3000 sources with equal counts: no list can prove its top rows */
    char *dir = make_store(30000, true, 12345);
    same_as_one_worker(dir, "-s srcip/bytes -n 10");
    same_as_one_worker(dir, "-s srcip/flows -n 2000");
    same_as_one_worker(dir, "-s srcport/flows -n 10");
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_skewed_keys),
        cmocka_unit_test(test_flat_keys_fall_back_to_merge),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
