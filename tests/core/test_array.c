/* tests/core/test_array.c - cf_array_grow: capacity, contents kept, overflow refused. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <cmocka.h>

#include "core/array.h"

static void test_grows_by_doubling_and_keeps_contents(void **state)
{
    (void)state;
    uint32_t *v = NULL;
    size_t cap = 0;
    assert_int_equal(cf_array_grow(&v, &cap, 0, sizeof(*v), 4), CF_OK); /* no room needed */
    assert_null(v);
    assert_int_equal(cap, 0);
    assert_int_equal(cf_array_grow(&v, &cap, 1, sizeof(*v), 4), CF_OK);
    assert_int_equal(cap, 4);
    for (uint32_t i = 0; i < 1000; i++) {
        assert_int_equal(cf_array_grow(&v, &cap, i + 1, sizeof(*v), 4), CF_OK);
        assert_true(cap >= i + 1);
        v[i] = i * 7u;
    }
    assert_int_equal(cap, 1024); /* 4 doubled until it held 1000 */
    for (uint32_t i = 0; i < 1000; i++)
        assert_int_equal(v[i], i * 7u);
    assert_int_equal(cf_array_grow(&v, &cap, 5000, sizeof(*v), 4), CF_OK); /* one jump */
    assert_int_equal(cap, 8192);
    assert_int_equal(v[999], 999u * 7u);
    free(v);
}

static void test_overflow_refused_array_unchanged(void **state)
{
    (void)state;
    uint64_t *v = NULL;
    size_t cap = 0;
    assert_int_equal(cf_array_grow(&v, &cap, 2, sizeof(*v), 2), CF_OK);
    v[0] = 42;
    uint64_t *before = v;
    assert_int_equal(cf_array_grow(&v, &cap, SIZE_MAX / 4, sizeof(*v), 2), CF_ERR_NOMEM);
    assert_int_equal(cf_array_grow(&v, &cap, SIZE_MAX, 1, 2), CF_ERR_NOMEM);
    assert_ptr_equal(v, before);
    assert_int_equal(cap, 2);
    assert_int_equal(v[0], 42);
    free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_grows_by_doubling_and_keeps_contents),
        cmocka_unit_test(test_overflow_refused_array_unchanged),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
