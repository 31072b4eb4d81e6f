/* tests/core/test_time.c - parsing and formatting of times and durations. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "core/timeutil.h"

static void test_parse_nfdump_form(void **state)
{
    (void)state;
    uint64_t ms;
    assert_int_equal(cf_time_parse("2024/01/01.02:00:00", &ms), CF_OK);
    assert_int_equal(ms, UINT64_C(1704074400000));
    assert_int_equal(cf_time_parse("2024/01/01", &ms), CF_OK);
    assert_int_equal(ms, UINT64_C(1704067200000));
    assert_int_equal(cf_time_parse("2024/01/01.02", &ms), CF_OK);
    assert_int_equal(ms, UINT64_C(1704074400000));
}

static void test_parse_iso_and_epoch(void **state)
{
    (void)state;
    uint64_t ms;
    assert_int_equal(cf_time_parse("2024-01-01T02:00:00.250Z", &ms), CF_OK);
    assert_int_equal(ms, UINT64_C(1704074400250));
    assert_int_equal(cf_time_parse("2024-01-01 02:00", &ms), CF_OK);
    assert_int_equal(ms, UINT64_C(1704074400000));
    assert_int_equal(cf_time_parse("1704074400", &ms), CF_OK);
    assert_int_equal(ms, UINT64_C(1704074400000));
}

static void test_parse_rejects_garbage(void **state)
{
    (void)state;
    uint64_t ms = 7;
    assert_int_equal(cf_time_parse("yesterday", &ms), CF_ERR_USAGE);
    assert_int_equal(cf_time_parse("2024/13/01", &ms), CF_ERR_USAGE);
    assert_int_equal(cf_time_parse("2024/01/01.02:00:00x", &ms), CF_ERR_USAGE);
    assert_int_equal(cf_time_parse("", &ms), CF_ERR_USAGE);
    assert_int_equal(ms, 7);
}

static void test_window(void **state)
{
    (void)state;
    uint64_t from, to;
    assert_int_equal(cf_time_parse_window("2024/01/01.02:00:00-2024/01/01.03:00:00", &from, &to), CF_OK);
    assert_int_equal(from, UINT64_C(1704074400000));
    assert_int_equal(to, UINT64_C(1704078000000));
    assert_int_equal(cf_time_parse_window("2024/01/01.02:00:00", &from, &to), CF_OK);
    assert_int_equal(to, UINT64_MAX);
    assert_int_equal(cf_time_parse_window("2024/01/01.03:00:00-2024/01/01.02:00:00", &from, &to), CF_ERR_RANGE);
}

static void test_format(void **state)
{
    (void)state;
    char buf[32];
    cf_time_format_nfdump(UINT64_C(1704074400123), buf, sizeof(buf));
    assert_string_equal(buf, "2024-01-01 02:00:00.123");
    cf_time_format_iso(UINT64_C(1704074400123), buf, sizeof(buf));
    assert_string_equal(buf, "2024-01-01T02:00:00.123Z");
}

static void test_duration(void **state)
{
    (void)state;
    uint64_t s;
    assert_int_equal(cf_duration_parse("5m", &s), CF_OK);
    assert_int_equal(s, 300);
    assert_int_equal(cf_duration_parse("300", &s), CF_OK);
    assert_int_equal(s, 300);
    assert_int_equal(cf_duration_parse("1h", &s), CF_OK);
    assert_int_equal(s, 3600);
    assert_int_equal(cf_duration_parse("0", &s), CF_ERR_USAGE);
    assert_int_equal(cf_duration_parse("5x", &s), CF_ERR_USAGE);
    assert_int_equal(cf_duration_parse("-5", &s), CF_ERR_USAGE);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_nfdump_form), cmocka_unit_test(test_parse_iso_and_epoch),
        cmocka_unit_test(test_parse_rejects_garbage), cmocka_unit_test(test_window),
        cmocka_unit_test(test_format), cmocka_unit_test(test_duration),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
