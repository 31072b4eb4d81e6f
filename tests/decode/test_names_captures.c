/*
 * tests/decode/test_names_captures.c - application and interface names out
 * of the options data of real captures, compared with tshark.
 *
 * For each capture, `tshark -r FILE -V` is run and its options records are
 * read back: "Classification Engine ID: X (E)" + "Selector ID: HEX" give the
 * application key (E << 24 | selector, as flow_record.app_id),
 * "ApplicationName" / "ApplicationDesc" its texts; "InputInt" (else
 * "OutputInt") the interface key, "IfName" / "IfDescr" its texts.  A later
 * record of a key replaces what an earlier one said.  The table the decoder
 * built for the capture's exporter must hold exactly these entries.  The
 * test is skipped when tshark is not installed.
 *
 * (nprobe_v9_dpi carries applicationName in *data* records, which the
 * decoder never reads for names, so it is not among the captures.)
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "capture/capture.h"
#include "decode/decode.h"
#include "testutil.h"

static const char *const captures[] = {
    "pcap/cisco/wrapped-logstash_cisco_nbar_v9.pcap",
    "pcap/cisco/wrapped-logstash_cisco_asr9k_v9.pcap",
    "pcap/unknown-v9/wrapped-telegraf_netflow_v9_options.pcap",
    "pcap/unknown-ipfix/wrapped-telegraf_ipfix_options.pcap",
};

/* One record of tshark's options data being read. */
typedef struct ts_rec {
    int has_engine, has_sel, has_in, has_out;
    uint32_t engine, sel, in, out;
    const char *text[4]; /* app name, app desc, if name, if desc (NULL: absent) */
} ts_rec;

static const char *const labels[4] = {"ApplicationName: ", "ApplicationDesc: ", "IfName: ", "IfDescr: "};

/* Adds what rec says to t (the expected table). */
static void rec_done(ts_rec *rec, flow_names *t)
{
    if ((rec->text[0] || rec->text[1]) && rec->has_engine && rec->has_sel)
        assert_int_equal(flow_names_set(t, FLOW_NAME_APP, rec->engine << 24 | rec->sel, rec->text[0], rec->text[1]),
                         CF_OK);
    if ((rec->text[2] || rec->text[3]) && (rec->has_in || rec->has_out))
        assert_int_equal(flow_names_set(t, FLOW_NAME_IF, rec->has_in ? rec->in : rec->out, rec->text[2], rec->text[3]),
                         CF_OK);
    memset(rec, 0, sizeof(*rec));
}

/* Reads tshark's verbose text into t. */
static void tshark_names(char *text, flow_names *t)
{
    ts_rec rec;
    memset(&rec, 0, sizeof(rec));
    for (char *save = NULL, *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        size_t indent = strspn(l, " ");
        const char *s = l + indent;
        if (indent <= 8) {
            rec_done(&rec, t);
            continue;
        }
        const char *p;
        if ((p = strstr(s, "Classification Engine ID: ")) == s && (p = strrchr(s, '('))) {
            rec.engine = (uint32_t)strtoul(p + 1, NULL, 10);
            rec.has_engine = 1;
        } else if (strncmp(s, "Selector ID: ", 13) == 0) {
            size_t n = strlen(s + 13);
            rec.sel = (uint32_t)strtoul(s + 13 + (n > 6 ? n - 6 : 0), NULL, 16);
            rec.has_sel = 1;
        } else if (strncmp(s, "InputInt: ", 10) == 0) {
            rec.in = (uint32_t)strtoul(s + 10, NULL, 10);
            rec.has_in = 1;
        } else if (strncmp(s, "OutputInt: ", 11) == 0) {
            rec.out = (uint32_t)strtoul(s + 11, NULL, 10);
            rec.has_out = 1;
        } else {
            for (int k = 0; k < 4; k++)
                if (strncmp(s, labels[k], strlen(labels[k])) == 0)
                    rec.text[k] = s + strlen(labels[k]);
        }
    }
    rec_done(&rec, t);
}

static void check_capture(const char *rel)
{
    char path[4096], cmd[4400], errbuf[256];
    tu_testdata(rel, path, sizeof(path));
    snprintf(cmd, sizeof(cmd), "tshark -r '%s' -V 2>/dev/null", path);
    char *out = NULL;
    assert_int_equal(tu_run(cmd, &out), 0);
    flow_names want;
    flow_names_init(&want, 100000);
    tshark_names(out, &want);
    free(out);
    assert_true(want.n > 0);

    capture *cap = NULL;
    assert_int_equal(capture_open(path, &cap, errbuf, sizeof(errbuf)), CF_OK);
    decode_exporter ex;
    capture_datagram d;
    int have_ex = 0;
    while (capture_next(cap, &d) == CF_OK) {
        if (!have_ex) {
            decode_exporter_init(&ex, d.src_addr, d.src_port);
            have_ex = 1;
        }
        assert_memory_equal(d.src_addr, ex.addr, 16); /* one exporter per capture */
        (void)decode_packet(&ex, d.payload, d.len, d.time_ms, NULL, NULL);
    }
    capture_close(cap);
    assert_true(have_ex);
    const flow_names *got = decode_names(&ex);
    assert_non_null(got);
    printf("  %s: %zu names (tshark %zu)\n", rel, got->n, want.n);
    assert_int_equal(got->n, want.n);
    for (size_t i = 0; i < want.n; i++) {
        const flow_name *w = &want.e[i];
        const flow_name *g = flow_names_find(got, (flow_name_kind)w->kind, w->key);
        assert_non_null(g);
        assert_string_equal(g->name, w->name);
        assert_string_equal(g->desc, w->desc);
    }
    decode_tpl_stats st;
    decode_tpl_stats_snapshot(&ex, &st);
    assert_true(st.names_records >= want.n);
    assert_int_equal(st.refused_names, 0);
    assert_int_equal(st.bad_names, 0);
    flow_names_free(&want);
    decode_exporter_free(&ex);
}

static void test_nbar_v9(void **state) { (void)state; check_capture(captures[0]); }
static void test_asr9k_v9(void **state) { (void)state; check_capture(captures[1]); }
static void test_telegraf_v9(void **state) { (void)state; check_capture(captures[2]); }
static void test_telegraf_ipfix(void **state) { (void)state; check_capture(captures[3]); }

int main(void)
{
    cf_log_set_level(CF_LOG_ERROR);
    if (tu_run("command -v tshark >/dev/null 2>&1", NULL) != 0) {
        printf("tshark not installed: skipped\n");
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_nbar_v9),
        cmocka_unit_test(test_asr9k_v9),
        cmocka_unit_test(test_telegraf_v9),
        cmocka_unit_test(test_telegraf_ipfix),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
