/* tests/flow/test_registry.c - the field registry and address helpers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flow/flow.h"

static void test_ids_are_dense_and_unique(void **state)
{
    (void)state;
    for (size_t i = 0; i < flow_n_fields; i++) {
        assert_int_equal(flow_fields[i].id, i + 1);
        assert_ptr_equal(flow_field_by_id(flow_fields[i].id), &flow_fields[i]);
        assert_ptr_equal(flow_field_by_name(flow_fields[i].name), &flow_fields[i]);
        for (size_t j = i + 1; j < flow_n_fields; j++)
            assert_string_not_equal(flow_fields[i].name, flow_fields[j].name);
    }
    assert_null(flow_field_by_id(0));
    assert_null(flow_field_by_id(FLOW_FIELD_MAX_ID + 1));
    assert_null(flow_field_by_name("nope"));
}

static void test_fields_cover_the_record(void **state)
{
    (void)state;
    /* Every byte of flow_record belongs to exactly one field. */
    uint8_t owner[sizeof(flow_record)] = {0};
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        assert_true(f->width == 1 || f->width == 2 || f->width == 4 || f->width == 8 || f->width == 16);
        assert_true(f->offset + f->width <= sizeof(flow_record));
        assert_true(f->desc && *f->desc);
        for (unsigned b = 0; b < f->width; b++) {
            assert_int_equal(owner[f->offset + b], 0);
            owner[f->offset + b] = 1;
        }
    }
    size_t unowned = 0;
    for (size_t b = 0; b < sizeof(flow_record); b++)
        unowned += owner[b] == 0;
    assert_int_equal(unowned, 0);
}

static void test_get_set_uint(void **state)
{
    (void)state;
    flow_record r;
    memset(&r, 0, sizeof(r));
    for (size_t i = 0; i < flow_n_fields; i++) {
        const flow_field *f = &flow_fields[i];
        if (f->width > 8)
            continue;
        uint64_t v = f->width == 8 ? UINT64_C(0x0123456789abcdef) : (UINT64_C(1) << (8 * f->width)) - 2;
        flow_set_uint(&r, f, v);
        assert_int_equal(flow_get_uint(&r, f), v);
    }
    assert_int_equal(r.dst_port, 0xfffe);
    assert_int_equal(r.bytes, UINT64_C(0x0123456789abcdef));
}

static void test_addresses(void **state)
{
    (void)state;
    uint8_t a[16], fam;
    char buf[64];
    assert_int_equal(flow_addr_parse("10.1.2.3", a, &fam), CF_OK);
    assert_int_equal(fam, 4);
    assert_true(flow_addr_is_v4(a));
    assert_int_equal(flow_addr_v4(a), 0x0a010203);
    flow_addr_format(a, buf, sizeof(buf));
    assert_string_equal(buf, "10.1.2.3");
    assert_int_equal(flow_addr_parse("2001:db8::1", a, &fam), CF_OK);
    assert_int_equal(fam, 6);
    assert_false(flow_addr_is_v4(a));
    flow_addr_format(a, buf, sizeof(buf));
    assert_string_equal(buf, "2001:db8::1");
    assert_int_equal(flow_addr_parse("10.1.2", a, &fam), CF_ERR_USAGE);
}

/* docs/FIELDS.md lists every field of the registry, with its id. */
static void test_fields_doc_is_complete(void **state)
{
    (void)state;
    const char *src = getenv("CF_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof(path), "%s/docs/FIELDS.md", src ? src : ".");
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    static char doc[65536];
    size_t n = fread(doc, 1, sizeof(doc) - 1, f);
    fclose(f);
    doc[n] = '\0';
    for (size_t i = 0; i < flow_n_fields; i++) {
        char row[128];
        snprintf(row, sizeof(row), "| %u | `%s` |", flow_fields[i].id, flow_fields[i].name);
        if (!strstr(doc, row))
            fail_msg("docs/FIELDS.md has no row \"%s\"", row);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ids_are_dense_and_unique),
        cmocka_unit_test(test_fields_cover_the_record),
        cmocka_unit_test(test_get_set_uint),
        cmocka_unit_test(test_addresses),
        cmocka_unit_test(test_fields_doc_is_complete),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
