/*
 * tests/collect/test_collect_names.c - names persist in DATADIR/.names:
 * the names an exporter announced are written when they change and come
 * back after a restart; a corrupt, truncated or misnamed names file is
 * counted and ignored; the max-names bound holds for restored names too;
 * the names counters reach the stats file.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "capture/capture.h"
#include "collect/stats.h"
#include "collect/tplstore.h"
#include "decode/decode.h"
#include "testutil.h"

#define NBAR "pcap/cisco/wrapped-logstash_cisco_nbar_v9.pcap"

/* Decodes the capture rel into ex (initialised here from its first packet). */
static void decode_capture(const char *rel, decode_exporter *ex, collect_tplstore *ts, collect_tpl_mark *m,
                           uint32_t max_names)
{
    char path[4096], errbuf[256];
    tu_testdata(rel, path, sizeof(path));
    capture *cap = NULL;
    assert_int_equal(capture_open(path, &cap, errbuf, sizeof(errbuf)), CF_OK);
    capture_datagram d;
    int first = 1;
    while (capture_next(cap, &d) == CF_OK) {
        if (first) {
            decode_exporter_init(ex, d.src_addr, d.src_port);
            decode_config c;
            decode_config_default(&c);
            c.max_names = max_names;
            decode_exporter_set_config(ex, &c);
            memset(m, 0, sizeof(*m));
            if (ts)
                collect_tplstore_first_seen(ts, ex, m);
            first = 0;
        }
        (void)decode_packet(ex, d.payload, d.len, d.time_ms, NULL, NULL);
    }
    capture_close(cap);
    assert_false(first);
}

static collect_tplstore *open_store(const char *data, uint32_t max_names)
{
    decode_config c;
    decode_config_default(&c);
    c.max_names = max_names;
    collect_tplstore *ts = NULL;
    char err[256];
    assert_int_equal(collect_tplstore_open(data, 16, &c, &ts, err, sizeof(err)), CF_OK);
    return ts;
}

/* The path of the one names file in data/.names. */
static void names_path(const char *data, const decode_exporter *ex, char *out, size_t len)
{
    char a[64];
    flow_addr_format(ex->addr, a, sizeof(a));
    snprintf(out, len, "%s/.names/%s_%u.names", data, a, (unsigned)ex->port);
}

static void test_names_survive_restart(void **state)
{
    (void)state;
    char *data = tu_mkdtemp("names");
    collect_tplstore *ts = open_store(data, 0);
    decode_exporter ex;
    collect_tpl_mark m;
    decode_capture(NBAR, &ex, ts, &m, 0);
    size_t n = decode_names(&ex)->n;
    assert_true(n > 0);
    assert_true(collect_tplstore_dirty(&ex, &m));
    collect_tplstore_check(ts, &ex, &m, 1000, 1);
    assert_false(collect_tplstore_dirty(&ex, &m));
    collect_tplstore_write_pending(ts);
    collect_tpl_counts tc;
    collect_tplstore_counts(ts, &tc);
    assert_int_equal(tc.saved, 1); /* the template file */
    assert_int_equal(tc.names_saved, 1);
    assert_int_equal(tc.save_errors + tc.names_save_errors, 0);
    collect_tplstore_close(ts);

    /* restart: a new exporter state gets the names at its first packet */
    ts = open_store(data, 0);
    decode_exporter ex2;
    decode_exporter_init(&ex2, ex.addr, ex.port);
    collect_tpl_mark m2 = {0};
    collect_tplstore_first_seen(ts, &ex2, &m2);
    const flow_names *t = decode_names(&ex2);
    assert_non_null(t);
    assert_int_equal(t->n, n);
    for (size_t i = 0; i < n; i++) {
        const flow_name *e = &decode_names(&ex)->e[i];
        const flow_name *g = flow_names_find(t, (flow_name_kind)e->kind, e->key);
        assert_non_null(g);
        assert_string_equal(g->name, e->name);
        assert_string_equal(g->desc, e->desc);
    }
    assert_false(collect_tplstore_dirty(&ex2, &m2)); /* nothing to write back */
    collect_tplstore_counts(ts, &tc);
    assert_int_equal(tc.loaded, 1);
    assert_int_equal(tc.names_loaded, 1);
    assert_int_equal(tc.load_errors + tc.names_load_errors, 0);
    collect_tplstore_close(ts);
    decode_exporter_free(&ex2);
    decode_exporter_free(&ex);
    tu_rm_rf(data);
    free(data);
}

static void write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* A names file damaged by damage(): counted at open, ignored, no names. */
static void check_bad_file(void (*damage)(char *buf, size_t *len, char *path, size_t path_len))
{
    char *data = tu_mkdtemp("names");
    collect_tplstore *ts = open_store(data, 0);
    decode_exporter ex;
    collect_tpl_mark m;
    decode_capture(NBAR, &ex, ts, &m, 0);
    collect_tplstore_check(ts, &ex, &m, 1000, 1);
    collect_tplstore_close(ts);
    char path[4300];
    names_path(data, &ex, path, sizeof(path));
    size_t len;
    char *buf = tu_read_file(path, &len);
    assert_non_null(buf);
    unlink(path);
    damage(buf, &len, path, sizeof(path));
    write_text(path, buf, len);
    free(buf);

    ts = open_store(data, 0);
    collect_tpl_counts tc;
    collect_tplstore_counts(ts, &tc);
    assert_int_equal(tc.names_load_errors, 1);
    assert_int_equal(tc.load_errors, 0); /* the template file is fine */
    decode_exporter ex2;
    decode_exporter_init(&ex2, ex.addr, ex.port);
    collect_tpl_mark m2 = {0};
    collect_tplstore_first_seen(ts, &ex2, &m2);
    assert_null(decode_names(&ex2));
    collect_tplstore_close(ts);
    decode_exporter_free(&ex2);
    decode_exporter_free(&ex);
    tu_rm_rf(data);
    free(data);
}

static void cut_half(char *buf, size_t *len, char *path, size_t path_len)
{
    (void)buf, (void)path, (void)path_len;
    *len /= 2;
}

static void bad_byte(char *buf, size_t *len, char *path, size_t path_len)
{
    (void)path, (void)path_len;
    buf[*len / 2] = '\x01';
}

static void other_exporter(char *buf, size_t *len, char *path, size_t path_len)
{
    (void)buf, (void)len;
    char *us = strrchr(path, '_');
    snprintf(us, path_len - (size_t)(us - path), "_1.names"); /* file name says port 1 */
}

static void test_truncated_file_ignored(void **state) { (void)state; check_bad_file(cut_half); }
static void test_bad_byte_file_ignored(void **state) { (void)state; check_bad_file(bad_byte); }

static void test_misnamed_file_ignored(void **state)
{
    (void)state;
    check_bad_file(other_exporter);
}

static void test_restore_respects_max_names(void **state)
{
    (void)state;
    char *data = tu_mkdtemp("names");
    collect_tplstore *ts = open_store(data, 0);
    decode_exporter ex;
    collect_tpl_mark m;
    decode_capture(NBAR, &ex, ts, &m, 0);
    collect_tplstore_check(ts, &ex, &m, 1000, 1);
    collect_tplstore_close(ts);
    /* restarted with max-names 5: the file holds 15 names; 5 are restored,
     * the others refused and counted on the exporter */
    ts = open_store(data, 5);
    decode_exporter ex2;
    decode_exporter_init(&ex2, ex.addr, ex.port);
    decode_config c;
    decode_config_default(&c);
    c.max_names = 5;
    decode_exporter_set_config(&ex2, &c);
    collect_tpl_mark m2 = {0};
    collect_tplstore_first_seen(ts, &ex2, &m2);
    assert_int_equal(decode_names(&ex2)->n, 5);
    decode_tpl_stats st;
    decode_tpl_stats_snapshot(&ex2, &st);
    assert_int_equal(st.refused_names, decode_names(&ex)->n - 5);
    collect_tpl_counts tc;
    collect_tplstore_counts(ts, &tc);
    assert_int_equal(tc.load_errors + tc.names_load_errors, 0);
    assert_int_equal(tc.names_loaded, 1);
    collect_tplstore_close(ts);
    decode_exporter_free(&ex2);
    /* and the decoder itself keeps at most 5, counting the rest */
    decode_exporter ex5;
    decode_capture(NBAR, &ex5, NULL, &m, 5);
    assert_int_equal(decode_names(&ex5)->n, 5);
    decode_tpl_stats_snapshot(&ex5, &st);
    assert_int_equal(st.refused_names, decode_names(&ex)->n - 5);
    decode_exporter_free(&ex5);
    decode_exporter_free(&ex);
    tu_rm_rf(data);
    free(data);
}

static void test_counters_in_stats_file(void **state)
{
    (void)state;
    decode_exporter ex;
    collect_tpl_mark m;
    decode_capture(NBAR, &ex, NULL, &m, 5);
    collect_snapshot s;
    memset(&s, 0, sizeof(s));
    collect_exporter_stats es;
    memset(&es, 0, sizeof(es));
    memcpy(es.addr, ex.addr, 16);
    es.port = ex.port;
    decode_stats_snapshot(&ex, &es.s);
    decode_tpl_stats_snapshot(&ex, &es.tpl);
    s.exporters = &es;
    s.n_exporters = 1;
    collect_totals_add(&s.totals, &es);
    char *dir = tu_mkdtemp("names");
    char path[4200];
    snprintf(path, sizeof(path), "%s/stats.tsv", dir);
    assert_int_equal(collect_stats_write(path, &s), CF_OK);
    char *text = tu_read_file(path, NULL);
    assert_non_null(text);
    char want[256], scope[80];
    collect_exporter_name(ex.addr, ex.port, scope, sizeof(scope));
    snprintf(want, sizeof(want), "%s\trefused_names\t10\n", scope);
    assert_non_null(strstr(text, want));
    snprintf(want, sizeof(want), "%s\tnames_records\t15\n", scope);
    assert_non_null(strstr(text, want));
    assert_non_null(strstr(text, "total\trefused_names\t10\n"));
    assert_non_null(strstr(text, "total\tbad_names\t0\n"));
    free(text);
    decode_exporter_free(&ex);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    cf_log_set_level(CF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_names_survive_restart),      cmocka_unit_test(test_truncated_file_ignored),
        cmocka_unit_test(test_bad_byte_file_ignored),      cmocka_unit_test(test_misnamed_file_ignored),
        cmocka_unit_test(test_restore_respects_max_names), cmocka_unit_test(test_counters_in_stats_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
