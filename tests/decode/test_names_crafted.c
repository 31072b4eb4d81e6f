/*
 * tests/decode/test_names_crafted.c - names out of crafted options data:
 * IPFIX variable-length strings, sanitising, the max_names bound, names
 * without a key, the v9 Interface scope, and application keys equal to the
 * flows' app_id whatever the length of applicationId.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "core/bytes.h"
#include "decode/decode.h"

#define T_SECS 1700000000u

typedef struct msg {
    uint8_t b[4096];
    size_t n, set_start;
    int ipfix;
} msg;

static void put8(msg *m, uint8_t v) { m->b[m->n++] = v; }
static void put16(msg *m, uint16_t v) { cf_put_be16(m->b + m->n, v), m->n += 2; }
static void put32(msg *m, uint32_t v) { cf_put_be32(m->b + m->n, v), m->n += 4; }
static void putn(msg *m, const void *p, size_t n) { memcpy(m->b + m->n, p, n), m->n += n; }

static void begin(msg *m, int ipfix)
{
    memset(m, 0, sizeof(*m));
    m->ipfix = ipfix;
    if (ipfix)
        put16(m, 10), put16(m, 0), put32(m, T_SECS), put32(m, 0), put32(m, 1);
    else
        put16(m, 9), put16(m, 0), put32(m, 1000), put32(m, T_SECS), put32(m, 0), put32(m, 1);
}

static void set_begin(msg *m, uint16_t id) { m->set_start = m->n, put16(m, id), put16(m, 0); }
static void set_end(msg *m) { cf_put_be16(m->b + m->set_start + 2, (uint16_t)(m->n - m->set_start)); }

static void send_msg(decode_exporter *ex, msg *m)
{
    if (m->ipfix)
        cf_put_be16(m->b + 2, (uint16_t)m->n);
    else
        cf_put_be16(m->b + 2, 1); /* count: v9 accepts more records than count */
    assert_int_equal(decode_packet(ex, m->b, m->n, (uint64_t)T_SECS * 1000, NULL, NULL), CF_OK);
}

/* An IPFIX varlen string: short form (< 255) or 255 + 2-byte length. */
static void varstr(msg *m, const char *s, size_t n)
{
    if (n < 255) {
        put8(m, (uint8_t)n);
    } else {
        put8(m, 255);
        put16(m, (uint16_t)n);
    }
    putn(m, s, n);
}

/* IPFIX options template 300: scope ingressInterface(10), then 82, 83 varlen. */
static void ipfix_if_template(msg *m)
{
    set_begin(m, 3);
    put16(m, 300), put16(m, 3), put16(m, 1);
    put16(m, 10), put16(m, 4), put16(m, 82), put16(m, 0xffff), put16(m, 83), put16(m, 0xffff);
    set_end(m);
}

static void if_record(msg *m, uint32_t ifindex, const char *name, size_t name_len, const char *desc)
{
    put32(m, ifindex);
    varstr(m, name, name_len);
    varstr(m, desc, strlen(desc));
}

static void fresh(decode_exporter *ex, uint32_t max_names)
{
    uint8_t a[16] = {0};
    a[10] = a[11] = 0xff, a[12] = 192, a[15] = 1;
    decode_exporter_init(ex, a, 4739);
    decode_config c;
    decode_config_default(&c);
    if (max_names)
        c.max_names = max_names;
    decode_exporter_set_config(ex, &c);
}

static void test_ipfix_varlen_and_sanitising(void **state)
{
    (void)state;
    decode_exporter ex;
    fresh(&ex, 0);
    msg m;
    begin(&m, 1);
    ipfix_if_template(&m);
    set_begin(&m, 300);
    if_record(&m, 7, "eth0", 4, "uplink to core");
    if_record(&m, 8, "a\tb\\c\xff\0zz", 9, "");
    char longname[300];
    memset(longname, 'x', sizeof(longname));
    if_record(&m, 9, longname, sizeof(longname), "long");
    set_end(&m);
    send_msg(&ex, &m);
    const flow_names *t = decode_names(&ex);
    assert_non_null(t);
    assert_int_equal(t->n, 3);
    const flow_name *e = flow_names_find(t, FLOW_NAME_IF, 7);
    assert_non_null(e);
    assert_string_equal(e->name, "eth0");
    assert_string_equal(e->desc, "uplink to core");
    e = flow_names_find(t, FLOW_NAME_IF, 8);
    assert_string_equal(e->name, "a\\x09b\\\\c\\xff"); /* ends at the NUL */
    assert_string_equal(e->desc, "");
    e = flow_names_find(t, FLOW_NAME_IF, 9);
    assert_int_equal(strlen(e->name), FLOW_NAME_MAX_TEXT);
    decode_tpl_stats st;
    decode_tpl_stats_snapshot(&ex, &st);
    assert_int_equal(st.names_records, 3);
    assert_int_equal(st.bad_names, 0);
    decode_exporter_free(&ex);
}

static void test_max_names_refused_and_counted(void **state)
{
    (void)state;
    decode_exporter ex;
    fresh(&ex, 2);
    msg m;
    begin(&m, 1);
    ipfix_if_template(&m);
    set_begin(&m, 300);
    if_record(&m, 1, "one", 3, "");
    if_record(&m, 2, "two", 3, "");
    if_record(&m, 3, "three", 5, ""); /* a third key: refused */
    if_record(&m, 1, "uno", 3, "");   /* a known key: updated */
    set_end(&m);
    send_msg(&ex, &m);
    const flow_names *t = decode_names(&ex);
    assert_int_equal(t->n, 2);
    assert_null(flow_names_find(t, FLOW_NAME_IF, 3));
    assert_string_equal(flow_names_find(t, FLOW_NAME_IF, 1)->name, "uno");
    decode_tpl_stats st;
    decode_tpl_stats_snapshot(&ex, &st);
    assert_int_equal(st.refused_names, 1);
    decode_exporter_free(&ex);
}

static void test_names_without_key_are_bad(void **state)
{
    (void)state;
    decode_exporter ex;
    fresh(&ex, 0);
    msg m;
    begin(&m, 1);
    set_begin(&m, 3); /* 301: scope observationDomainId(149), interfaceName(82) only */
    put16(&m, 301), put16(&m, 2), put16(&m, 1);
    put16(&m, 149), put16(&m, 4), put16(&m, 82), put16(&m, 8);
    set_end(&m);
    set_begin(&m, 301);
    put32(&m, 1), putn(&m, "eth0\0\0\0\0", 8);
    set_end(&m);
    set_begin(&m, 300); /* a key but no text at all */
    if_record(&m, 5, "", 0, "");
    set_end(&m);
    ipfix_if_template(&m); /* (template after its data: the data waits) */
    send_msg(&ex, &m);
    decode_tpl_stats st;
    decode_tpl_stats_snapshot(&ex, &st);
    assert_int_equal(st.bad_names, 2);
    assert_int_equal(st.names_records, 2);
    const flow_names *t = decode_names(&ex);
    assert_true(t == NULL || t->n == 0);
    decode_exporter_free(&ex);
}

static void test_v9_interface_scope(void **state)
{
    (void)state;
    decode_exporter ex;
    fresh(&ex, 0);
    msg m;
    begin(&m, 0);
    set_begin(&m, 1); /* options template 260: scope Interface (2) len 4; 83 len 16 */
    put16(&m, 260), put16(&m, 4), put16(&m, 4);
    put16(&m, 2), put16(&m, 4), put16(&m, 83), put16(&m, 16);
    set_end(&m);
    set_begin(&m, 260);
    put32(&m, 42), putn(&m, "WAN link\0\0\0\0\0\0\0\0", 16);
    set_end(&m);
    send_msg(&ex, &m);
    const flow_name *e = flow_names_find(decode_names(&ex), FLOW_NAME_IF, 42);
    assert_non_null(e);
    assert_string_equal(e->name, "");
    assert_string_equal(e->desc, "WAN link");
    decode_exporter_free(&ex);
}

typedef struct one_rec {
    flow_record r;
    size_t n;
} one_rec;

static void keep(void *ctx, const flow_record *r)
{
    one_rec *o = ctx;
    o->r = *r;
    o->n++;
}

/* applicationId of length len (engine byte + selector) in an options
 * record and in a data record: the name's key is the flow's app_id. */
static void check_app_key(size_t len)
{
    decode_exporter ex;
    fresh(&ex, 0);
    uint8_t id[8] = {3, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77};
    msg m;
    begin(&m, 0);
    set_begin(&m, 1);
    put16(&m, 260), put16(&m, 4), put16(&m, 8);
    put16(&m, 1), put16(&m, 4), put16(&m, 95), put16(&m, (uint16_t)len), put16(&m, 96), put16(&m, 8);
    set_end(&m);
    set_begin(&m, 0);
    put16(&m, 261), put16(&m, 2), put16(&m, 95), put16(&m, (uint16_t)len), put16(&m, 2), put16(&m, 4);
    set_end(&m);
    set_begin(&m, 260);
    put32(&m, 0), putn(&m, id, len), putn(&m, "http\0\0\0\0", 8);
    set_end(&m);
    set_begin(&m, 261);
    putn(&m, id, len), put32(&m, 1);
    set_end(&m);
    if (m.ipfix)
        cf_put_be16(m.b + 2, (uint16_t)m.n);
    else
        cf_put_be16(m.b + 2, 4);
    one_rec o = {0};
    assert_int_equal(decode_packet(&ex, m.b, m.n, (uint64_t)T_SECS * 1000, keep, &o), CF_OK);
    assert_int_equal(o.n, 1);
    const flow_name *e = flow_names_find(decode_names(&ex), FLOW_NAME_APP, o.r.app_id);
    assert_non_null(e);
    assert_string_equal(e->name, "http");
    assert_int_equal(o.r.app_id >> 24, 3);
    decode_exporter_free(&ex);
}

static void test_app_key_equals_flow_app_id(void **state)
{
    (void)state;
    for (size_t len = 2; len <= 8; len++)
        check_app_key(len);
}

int main(void)
{
    cf_log_set_level(CF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipfix_varlen_and_sanitising),
        cmocka_unit_test(test_max_names_refused_and_counted),
        cmocka_unit_test(test_names_without_key_are_bad),
        cmocka_unit_test(test_v9_interface_scope),
        cmocka_unit_test(test_app_key_equals_flow_app_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
