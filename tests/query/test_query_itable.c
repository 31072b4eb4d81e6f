/*
 * tests/query/test_query_itable.c - the compact hash table of IPv4 keys
 * (query_itable, agg.h) through many doublings, in place past 4 MB: every
 * key keeps its counters, clear and merge still work.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "query/agg.h"

static void test_grows_in_place_and_keeps_every_key(void **state)
{
    (void)state;
    enum { KEYS = 400000 };
    query_itable t;
    assert_int_equal(query_itable_init(&t, 0), CF_OK);
    /* every key k gets k % 7 + 1 flows of k packets, in an order that mixes old and new keys */
    for (uint64_t round = 0; round < 7; round++)
        for (uint64_t i = 0; i < KEYS; i++) {
            uint64_t k = (i * 2654435761u) % KEYS + 1; /* a permutation of 1 .. KEYS */
            if (round <= k % 7)
                query_itable_add(&t, k << 3, query_ihash(k << 3), k, 2 * k, 1000 + round, 2000 + round);
        }
    assert_int_equal(t.n, KEYS);
    assert_true(t.n_slots * sizeof(query_ient) > (UINT64_C(8) << 20)); /* grew past the in-place threshold */
    for (uint64_t k = 1; k <= KEYS; k++) {
        const query_counts *c = query_itable_find(&t, k << 3);
        assert_non_null(c);
        uint64_t f = k % 7 + 1;
        assert_int_equal(c->flows, f);
        assert_int_equal(c->packets, f * k);
        assert_int_equal(c->bytes, 2 * f * k);
        assert_int_equal(c->first, 1000);
        assert_int_equal(c->last, 2000 + f - 1);
    }
    assert_null(query_itable_find(&t, (uint64_t)(KEYS + 1) << 3));
    query_itable u;
    assert_int_equal(query_itable_init(&u, 0), CF_OK);
    query_itable_merge(&u, &t);
    assert_int_equal(u.n, KEYS);
    assert_int_equal(query_itable_find(&u, 77 << 3)->packets, (77 % 7 + 1) * 77);
    query_itable_clear(&t);
    assert_int_equal(t.n, 0);
    assert_null(query_itable_find(&t, 77 << 3));
    query_itable_free(&t);
    query_itable_free(&u);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_in_place_and_keeps_every_key),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
