/*
 * tests/flow/test_names.c - the name table (order, bound, updates) and the
 * names file: round trip, every truncation refused with its line, crafted
 * damage refused with the line named, another version told apart.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flow/flow.h"
#include "flow/names.h"

static const uint8_t addr4[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 7};

static void fill(flow_names *t)
{
    flow_names_init(t, 0);
    assert_int_equal(flow_names_set(t, FLOW_NAME_IF, 74, "TenGigE0_0_1_0", ""), CF_OK);
    assert_int_equal(flow_names_set(t, FLOW_NAME_APP, 1u << 24 | 8, "egp", "Exterior Gateway Protocol"), CF_OK);
    assert_int_equal(flow_names_set(t, FLOW_NAME_IF, 0, "", "a\\\\b\\x09"), CF_OK);
    assert_int_equal(flow_names_set(t, FLOW_NAME_APP, UINT32_MAX, "x", ""), CF_OK);
}

static void test_table_order_and_updates(void **state)
{
    (void)state;
    flow_names t;
    fill(&t);
    assert_int_equal(t.n, 4);
    assert_int_equal(t.generation, 4);
    for (size_t i = 1; i < t.n; i++)
        assert_true(((uint64_t)t.e[i - 1].kind << 32 | t.e[i - 1].key) < ((uint64_t)t.e[i].kind << 32 | t.e[i].key));
    /* NULL keeps, equal text changes nothing, other text changes */
    assert_int_equal(flow_names_set(&t, FLOW_NAME_IF, 74, NULL, "core"), CF_OK);
    assert_int_equal(t.generation, 5);
    assert_int_equal(flow_names_set(&t, FLOW_NAME_IF, 74, "TenGigE0_0_1_0", NULL), CF_OK);
    assert_int_equal(t.generation, 5);
    const flow_name *e = flow_names_find(&t, FLOW_NAME_IF, 74);
    assert_string_equal(e->name, "TenGigE0_0_1_0");
    assert_string_equal(e->desc, "core");
    assert_null(flow_names_find(&t, FLOW_NAME_APP, 74));
    flow_names_free(&t);
}

static void test_table_bound(void **state)
{
    (void)state;
    flow_names t;
    flow_names_init(&t, 3);
    for (uint32_t k = 0; k < 3; k++)
        assert_int_equal(flow_names_set(&t, FLOW_NAME_IF, k, "n", ""), CF_OK);
    assert_int_equal(flow_names_set(&t, FLOW_NAME_IF, 3, "n", ""), CF_ERR_FULL);
    assert_int_equal(flow_names_set(&t, FLOW_NAME_IF, 2, "m", ""), CF_OK); /* known keys still change */
    assert_int_equal(t.n, 3);
    char big[FLOW_NAME_MAX_TEXT + 2];
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(flow_names_set(&t, FLOW_NAME_IF, 1, big, ""), CF_ERR_RANGE);
    assert_int_equal(flow_names_set(&t, (flow_name_kind)7, 1, "", ""), CF_ERR_RANGE);
    flow_names_free(&t);
}

static void test_sanitize(void **state)
{
    (void)state;
    char out[FLOW_NAME_MAX_TEXT + 1];
    assert_int_equal(flow_names_sanitize((const uint8_t *)"Gi0/1\0junk", 10, out, sizeof(out)), 5);
    assert_string_equal(out, "Gi0/1");
    flow_names_sanitize((const uint8_t *)"a\nb\\\x80 ", 6, out, sizeof(out));
    assert_string_equal(out, "a\\x0ab\\\\\\x80 ");
    /* an escape is never cut: 7 bytes of room, "ab" then \x01 (4) fits, the next does not */
    char small[8];
    flow_names_sanitize((const uint8_t *)"ab\x01\x02", 4, small, sizeof(small));
    assert_string_equal(small, "ab\\x01");
    uint8_t raw[600];
    memset(raw, 0xff, sizeof(raw));
    assert_true(flow_names_sanitize(raw, sizeof(raw), out, sizeof(out)) <= FLOW_NAME_MAX_TEXT);
}

static void test_file_round_trip(void **state)
{
    (void)state;
    flow_names t, back;
    fill(&t);
    char *buf;
    size_t len;
    assert_int_equal(flow_names_save(&t, addr4, 2055, &buf, &len), CF_OK);
    flow_names_init(&back, 0);
    uint8_t a[16];
    uint16_t port = 0;
    char err[128];
    assert_int_equal(flow_names_parse(buf, len, &back, a, &port, err, sizeof(err)), CF_OK);
    assert_memory_equal(a, addr4, 16);
    assert_int_equal(port, 2055);
    assert_int_equal(back.n, t.n);
    for (size_t i = 0; i < t.n; i++) {
        assert_int_equal(back.e[i].kind, t.e[i].kind);
        assert_int_equal(back.e[i].key, t.e[i].key);
        assert_string_equal(back.e[i].name, t.e[i].name);
        assert_string_equal(back.e[i].desc, t.e[i].desc);
    }
    /* an empty table and an IPv6 exporter */
    flow_names empty;
    flow_names_init(&empty, 0);
    uint8_t a6[16] = {0x20, 0x01, 0x0d, 0xb8, [15] = 1};
    char *b2;
    size_t l2;
    assert_int_equal(flow_names_save(&empty, a6, 4739, &b2, &l2), CF_OK);
    assert_int_equal(flow_names_parse(b2, l2, &back, a, &port, err, sizeof(err)), CF_OK);
    assert_int_equal(back.n, 0);
    assert_memory_equal(a, a6, 16);
    free(b2);
    free(buf);
    flow_names_free(&back);
    flow_names_free(&t);
}

static void test_file_every_truncation_refused(void **state)
{
    (void)state;
    flow_names t, back;
    fill(&t);
    char *buf;
    size_t len;
    assert_int_equal(flow_names_save(&t, addr4, 2055, &buf, &len), CF_OK);
    flow_names_init(&back, 0);
    assert_int_equal(flow_names_set(&back, FLOW_NAME_IF, 1, "kept", ""), CF_OK);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t a[16];
        uint16_t port = 0;
        char err[128] = "";
        cf_err e = flow_names_parse(buf, cut, &back, a, &port, err, sizeof(err));
        assert_int_equal(e, CF_ERR_CORRUPT);
        assert_true(strncmp(err, "line ", 5) == 0);
        assert_int_equal(back.n, 1); /* untouched on failure */
    }
    free(buf);
    flow_names_free(&back);
    flow_names_free(&t);
}

/* A damaged file: the error and the line it names. */
static void expect_bad(const char *text, cf_err want, const char *line)
{
    flow_names back;
    flow_names_init(&back, 2);
    uint8_t a[16];
    uint16_t port;
    char err[160] = "";
    assert_int_equal(flow_names_parse(text, strlen(text), &back, a, &port, err, sizeof(err)), want);
    if (strncmp(err, line, strlen(line)) != 0)
        fail_msg("\"%s\" does not start with \"%s\"", err, line);
    flow_names_free(&back);
}

#define HDR "cloudflow-names\t1\nexporter\t192.0.2.7\t2055\n"

static void test_file_damage_named(void **state)
{
    (void)state;
    expect_bad("", CF_ERR_CORRUPT, "line 1:");
    expect_bad("cloudflow-nameX\t1\n", CF_ERR_CORRUPT, "line 1:");
    expect_bad("cloudflow-names\t2\nexporter\t192.0.2.7\t2055\nend\t0\n", CF_ERR_VERSION, "line 1:");
    expect_bad("cloudflow-names\t1\nexporter\t192.0.2.777\t2055\nend\t0\n", CF_ERR_CORRUPT, "line 2:");
    expect_bad("cloudflow-names\t1\nexporter\t192.0.2.7\t65536\nend\t0\n", CF_ERR_CORRUPT, "line 2:");
    expect_bad(HDR "app\t1\tx\ty\nend\t2\n", CF_ERR_CORRUPT, "line 4:");
    expect_bad(HDR "app\t01\tx\ty\nend\t1\n", CF_ERR_CORRUPT, "line 3:");
    expect_bad(HDR "app\t4294967296\tx\ty\nend\t1\n", CF_ERR_CORRUPT, "line 3:");
    expect_bad(HDR "net\t1\tx\ty\nend\t1\n", CF_ERR_CORRUPT, "line 3:");
    expect_bad(HDR "if\t1\tx\nend\t1\n", CF_ERR_CORRUPT, "line 3:");
    expect_bad(HDR "if\t1\tx\ty\tz\nend\t1\n", CF_ERR_CORRUPT, "line 3:");
    expect_bad(HDR "if\t2\tx\ty\nif\t1\tx\ty\nend\t2\n", CF_ERR_CORRUPT, "line 4:");
    expect_bad(HDR "if\t1\tx\ty\nif\t1\tx\ty\nend\t2\n", CF_ERR_CORRUPT, "line 4:");
    expect_bad(HDR "if\t1\tx\\q\ty\nend\t1\n", CF_ERR_CORRUPT, "line 3:");
    expect_bad(HDR "if\t1\tx\\xAB\ty\nend\t1\n", CF_ERR_CORRUPT, "line 3:");
    expect_bad(HDR "if\t1\tx\x7f\ty\nend\t1\n", CF_ERR_CORRUPT, "line 3:");
    expect_bad(HDR "end\t0\nif\t1\tx\ty\n", CF_ERR_CORRUPT, "line 4:");
    expect_bad(HDR "if\t1\tx\ty\nif\t2\tx\ty\nif\t3\tx\ty\nend\t3\n", CF_ERR_FULL, "line 5:");
    expect_bad(HDR "if\t1\tx\ty\n", CF_ERR_CORRUPT, "line 4:");
    char nul[] = HDR "if\t1\tx\0y\ty\nend\t1\n";
    flow_names back;
    flow_names_init(&back, 0);
    uint8_t a[16];
    uint16_t port;
    char err[160];
    assert_int_equal(flow_names_parse(nul, sizeof(nul) - 1, &back, a, &port, err, sizeof(err)), CF_ERR_CORRUPT);
    assert_string_equal(err, "line 3: NUL byte");
    char *big = calloc(1, FLOW_NAMES_MAX_FILE + 1);
    assert_non_null(big);
    assert_int_equal(flow_names_parse(big, FLOW_NAMES_MAX_FILE + 1, &back, a, &port, err, sizeof(err)), CF_ERR_RANGE);
    free(big);
    flow_names_free(&back);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table_order_and_updates), cmocka_unit_test(test_table_bound),
        cmocka_unit_test(test_sanitize),                cmocka_unit_test(test_file_round_trip),
        cmocka_unit_test(test_file_every_truncation_refused), cmocka_unit_test(test_file_damage_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
