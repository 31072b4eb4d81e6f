/*
 * tests/decode/test_sflow_captures.c - sFlow v5 decoding of the real captures.
 *
 * Every capture whose protocols in expected/SUMMARY.tsv include sflow5 is
 * read with the capture module; each UDP payload goes to decode_packet()
 * with the exporter of its (source address, source port).  Every emitted
 * flow record is compared with the next row of expected/<name>.tsv (tshark's
 * decode of the flow samples): exporter, agent, sampling rate, interfaces,
 * frame length (bytes = frame length * rate), addresses, protocol, ports.
 * Per file, the flow and counter samples decoded must equal SUMMARY's
 * sflow_flow_samples and sflow_samples - sflow_flow_samples.  A file whose
 * SUMMARY says malformed_frames > 0 must have those frames rejected.
 * Every valid datagram is then cut to every shorter length, each of which
 * must fail cleanly: nothing emitted, no counters passed to the sink.
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
#include "core/bytes.h"
#include "decode/decode.h"
#include "decode_testlib.h"
#include "testutil.h"

#define MAX_EXPORTERS 16
#define MAX_RECORDS 256

typedef struct collected {
    flow_record recs[MAX_RECORDS];
    size_t n;
    size_t n_counters;
    decode_counters last_counters;
} collected;

static void collect(void *ctx, const flow_record *rec)
{
    collected *c = ctx;
    assert_true(c->n < MAX_RECORDS);
    c->recs[c->n++] = *rec;
}

static void collect_counters(void *ctx, const decode_counters *k)
{
    collected *c = ctx;
    c->n_counters++;
    c->last_counters = *k;
}

static void count_only(void *ctx, const flow_record *rec)
{
    (void)rec;
    (*(size_t *)ctx)++;
}

static void count_counters(void *ctx, const decode_counters *k)
{
    (void)k;
    (*(size_t *)ctx)++;
}

typedef struct columns {
    int frame, exporter, agent, rate, in_if, out_if, frame_len, src_addr, dst_addr, protocol;
    int src_port, dst_port;
} columns;

static void find_columns(const tu_tsv *t, columns *c)
{
    c->frame = tu_tsv_col(t, "frame");
    c->exporter = tu_tsv_col(t, "exporter");
    c->agent = tu_tsv_col(t, "agent");
    c->rate = tu_tsv_col(t, "sampling_rate");
    c->in_if = tu_tsv_col(t, "input_if");
    c->out_if = tu_tsv_col(t, "output_if");
    c->frame_len = tu_tsv_col(t, "frame_length");
    c->src_addr = tu_tsv_col(t, "src_addr");
    c->dst_addr = tu_tsv_col(t, "dst_addr");
    c->protocol = tu_tsv_col(t, "protocol");
    c->src_port = tu_tsv_col(t, "src_port");
    c->dst_port = tu_tsv_col(t, "dst_port");
    int *all = &c->frame;
    for (size_t i = 0; i < sizeof(*c) / sizeof(int); i++)
        assert_true(all[i] >= 0);
}

/* A decimal or 0x-hex number (tshark prints output_if in hex). */

static int is_ipv6_ext_header(uint64_t proto)
{
    return proto == 0 || proto == 43 || proto == 44 || proto == 60;
}

/* Compares rec with tsv row r; agent is the datagram's agent address. */
static void check_record(const flow_record *rec, char **r, const columns *c, const uint8_t agent[16])
{
    char buf[64];
    flow_addr_format(rec->exporter, buf, sizeof(buf));
    assert_string_equal(buf, r[c->exporter]);
    flow_addr_format(agent, buf, sizeof(buf));
    assert_string_equal(buf, r[c->agent]);
    uint64_t rate = dt_num(r[c->rate]);
    assert_int_equal(rec->sampling, rate);
    assert_int_equal(rec->packets, rate);
    assert_int_equal(rec->bytes, dt_num(r[c->frame_len]) * rate);
    assert_int_equal(!!(rec->flags & FLOW_F_SAMPLED), rate > 1);
    assert_true(rec->flags & FLOW_F_SFLOW);
    assert_int_equal(rec->exporter_proto, FLOW_PROTO_SFLOW5);
    assert_int_equal(rec->in_if, dt_num(r[c->in_if]));
    assert_int_equal(rec->out_if, dt_num(r[c->out_if]));
    flow_addr_format(rec->src_addr, buf, sizeof(buf));
    assert_string_equal(buf, r[c->src_addr]);
    flow_addr_format(rec->dst_addr, buf, sizeof(buf));
    assert_string_equal(buf, r[c->dst_addr]);
    assert_int_equal(rec->family, strchr(r[c->src_addr], ':') ? 6 : 4);
    uint64_t proto = dt_num(r[c->protocol]);
    if (rec->family == 6 && is_ipv6_ext_header(proto)) {
        /* tshark's column is the IPv6 header's next-header field; the decoder
         * skips extension headers to the upper layer.  The only such sample
         * (telegraf issue 15918) is an MLDv2 report: hop-by-hop, then ICMPv6
         * type 143. */
        assert_int_equal(rec->proto, 58);
        assert_int_equal(rec->icmp_type, 143);
    } else {
        assert_int_equal(rec->proto, proto);
    }
    if (r[c->src_port][0]) {
        assert_int_equal(rec->src_port, dt_num(r[c->src_port]));
        assert_int_equal(rec->dst_port, dt_num(r[c->dst_port]));
    } else {
        assert_int_equal(rec->src_port, 0);
        if (rec->proto == 1 || rec->proto == 58)
            assert_int_equal(rec->dst_port, rec->icmp_type << 8 | rec->icmp_code);
        else
            assert_int_equal(rec->dst_port, 0);
    }
    assert_int_equal(rec->first_ms, rec->last_ms);
}



/* Where the last sample of a valid datagram ends: the datagram header
 * (agent address of 4 or 16 bytes), then n samples of 8 + length bytes.
 * Some captures carry bytes after it, which decoders ignore. */
static size_t samples_end(const uint8_t *p, size_t len)
{
    assert_true(len >= 8);
    size_t off = 8 + (cf_be32(p + 4) == 2 ? 16 : 4) + 16;
    assert_true(off <= len);
    uint32_t n = cf_be32(p + off - 4);
    for (uint32_t i = 0; i < n; i++) {
        assert_true(off + 8 <= len);
        off += 8 + (size_t)cf_be32(p + off + 4);
        assert_true(off <= len);
    }
    return off;
}

/* Every cut of pkt before the end of its last sample fails, emits nothing
 * and is counted; a cut after it (trailing bytes) decodes as the whole. */
static void check_truncations(const uint8_t *pkt, size_t len, size_t n_records)
{
    decode_exporter ex;
    uint8_t addr[16] = {0};
    decode_exporter_init(&ex, addr, 1);
    size_t counters = 0, end = samples_end(pkt, len);
    decode_set_counter_sink(&ex, count_counters, &counters);
    for (size_t cut = 0; cut < len; cut++) {
        uint8_t *exact = malloc(cut ? cut : 1); /* exact size, so ASan sees any over-read */
        assert_non_null(exact);
        memcpy(exact, pkt, cut);
        size_t emitted = 0, counters_before = counters;
        cf_err err = decode_packet(&ex, exact, cut, 0, count_only, &emitted);
        free(exact);
        if (cut >= end) {
            assert_int_equal(err, CF_OK);
            assert_int_equal(emitted, n_records);
            continue;
        }
        assert_int_not_equal(err, CF_OK);
        assert_int_equal(emitted, 0);
        assert_int_equal(counters, counters_before);
    }
    decode_stats st;
    decode_stats_snapshot(&ex, &st);
    assert_int_equal(st.packets, len);
    assert_int_equal(dt_sum_malformed(&st), end);
    assert_int_equal(st.records, (len - end) * n_records);
    decode_sflow_stats ss;
    decode_sflow_stats_snapshot(&ex, &ss);
    assert_int_equal(ss.datagrams, len - end);
}

typedef struct file_facts {
    const char *rel;
    uint64_t samples, flow_samples, malformed_frames;
} file_facts;

typedef struct file_result {
    size_t rows_matched, rejected;
    uint64_t flow_samples, counter_samples, counters_emitted;
} file_result;

static void check_datagram(const capture_datagram *d, decode_exporter *ex, const tu_tsv *t,
                           const columns *c, size_t *row, file_result *res, collected *got)
{
    size_t n_rows = 0;
    while (*row + n_rows < t->n_rows && dt_num(t->rows[*row + n_rows][c->frame]) == d->frame)
        n_rows++;
    got->n = 0;
    size_t counters_before = got->n_counters;
    cf_err err = decode_packet(ex, d->payload, d->len, d->time_ms, collect, got);
    if (err != CF_OK) {
        assert_int_equal(n_rows, 0);
        assert_int_equal(got->n, 0);
        assert_int_equal(got->n_counters, counters_before);
        res->rejected++;
        return;
    }
    assert_int_equal(got->n, n_rows);
    uint8_t agent[16];
    uint32_t sub_agent;
    decode_sflow_last_agent(ex, agent, &sub_agent);
    for (size_t i = 0; i < n_rows; i++) {
        check_record(&got->recs[i], t->rows[*row + i], c, agent);
        assert_int_equal(got->recs[i].obs_domain, sub_agent);
        assert_int_equal(got->recs[i].first_ms, d->time_ms);
    }
    if (got->n_counters > counters_before) {
        assert_memory_equal(got->last_counters.agent, agent, 16);
        assert_int_equal(got->last_counters.time_ms, d->time_ms);
        assert_true(got->last_counters.has_generic || got->last_counters.has_ethernet);
    }
    res->rows_matched += n_rows;
    *row += n_rows;
    check_truncations(d->payload, d->len, n_rows);
}

static void check_file(const file_facts *ff, file_result *res)
{
    char path[4096], tsv_path[4096], errbuf[512], name[512];
    tu_testdata(ff->rel, path, sizeof(path));
    const char *base = strrchr(ff->rel, '/') ? strrchr(ff->rel, '/') + 1 : ff->rel;
    snprintf(name, sizeof(name), "expected/%.*s.tsv", (int)(strlen(base) - 5), base);
    tu_testdata(name, tsv_path, sizeof(tsv_path));
    tu_tsv t;
    assert_int_equal(tu_tsv_load(tsv_path, &t), 0);
    columns c;
    find_columns(&t, &c);
    capture *cap = NULL;
    assert_int_equal(capture_open(path, &cap, errbuf, sizeof(errbuf)), CF_OK);
    decode_exporter *exs = calloc(MAX_EXPORTERS, sizeof(*exs));
    collected *got = calloc(1, sizeof(*got));
    assert_non_null(exs);
    assert_non_null(got);
    size_t n_exs = 0, row = 1;
    memset(res, 0, sizeof(*res));
    capture_datagram d;
    cf_err err;
    while ((err = capture_next(cap, &d)) == CF_OK) {
        bool created;
        decode_exporter *ex = dt_exporter_for(exs, &n_exs, MAX_EXPORTERS, d.src_addr, d.src_port, &created);
        if (created)
            decode_set_counter_sink(ex, collect_counters, got);
        check_datagram(&d, ex, &t, &c, &row, res, got);
    }
    assert_int_equal(err, CF_ERR_EOF);
    assert_int_equal(row, t.n_rows); /* every expected row was matched */
    for (size_t i = 0; i < n_exs; i++) {
        decode_sflow_stats ss;
        decode_sflow_stats_snapshot(&exs[i], &ss);
        res->flow_samples += ss.flow_samples;
        res->counter_samples += ss.counter_samples;
        res->counters_emitted += ss.counters_emitted;
    }
    assert_int_equal(res->counters_emitted, got->n_counters);
    printf("  %s: %zu rows, %llu flow / %llu counter samples, %zu rejected\n", base,
           res->rows_matched, (unsigned long long)res->flow_samples,
           (unsigned long long)res->counter_samples, res->rejected);
    free(got);
    free(exs);
    capture_close(cap);
    tu_tsv_free(&t);
}

/* Every sflow5 capture listed in SUMMARY.tsv decodes to its expected rows and counts. */
static void test_all_sflow_captures(void **state)
{
    (void)state;
    char path[4096];
    tu_tsv sum;
    assert_int_equal(tu_tsv_load(tu_testdata("expected/SUMMARY.tsv", path, sizeof(path)), &sum), 0);
    int c_file = tu_tsv_col(&sum, "file"), c_proto = tu_tsv_col(&sum, "protocols");
    int c_samples = tu_tsv_col(&sum, "sflow_samples"), c_flows = tu_tsv_col(&sum, "sflow_flow_samples");
    int c_bad = tu_tsv_col(&sum, "malformed_frames");
    assert_true(c_file >= 0 && c_proto >= 0 && c_samples >= 0 && c_flows >= 0 && c_bad >= 0);
    size_t n_files = 0, n_rows = 0, n_counters = 0;
    for (size_t i = 1; i < sum.n_rows; i++) {
        char **r = sum.rows[i];
        if (!strstr(r[c_proto], "sflow5"))
            continue;
        file_facts ff = {r[c_file], dt_num(r[c_samples]), dt_num(r[c_flows]), dt_num(r[c_bad])};
        file_result res;
        check_file(&ff, &res);
        assert_int_equal(res.flow_samples, ff.flow_samples);
        assert_int_equal(res.counter_samples, ff.samples - ff.flow_samples);
        assert_int_equal(res.rejected, ff.malformed_frames);
        n_files++;
        n_rows += res.rows_matched;
        n_counters += res.counter_samples;
    }
    assert_true(n_files >= 10);
    assert_true(n_rows > 0 && n_counters > 0);
    tu_tsv_free(&sum);
}

/* The crafted datagram that crashed tcpdump is rejected as too short. */
static void test_tcpdump_segv_rejected(void **state)
{
    (void)state;
    char path[4096], errbuf[512];
    capture *cap = NULL;
    assert_int_equal(capture_open(tu_testdata("pcap/edge-cases/tcpdump_sflow_print-segv.pcap", path,
                                              sizeof(path)),
                                  &cap, errbuf, sizeof(errbuf)),
                     CF_OK);
    capture_datagram d;
    assert_int_equal(capture_next(cap, &d), CF_OK);
    decode_exporter ex;
    decode_exporter_init(&ex, d.src_addr, d.src_port);
    size_t emitted = 0;
    assert_int_equal(decode_packet(&ex, d.payload, d.len, d.time_ms, count_only, &emitted),
                     CF_ERR_TRUNCATED);
    assert_int_equal(emitted, 0);
    decode_stats st;
    decode_stats_snapshot(&ex, &st);
    assert_int_equal(st.malformed[DECODE_BAD_SHORT], 1);
    assert_int_equal(capture_next(cap, &d), CF_ERR_EOF);
    capture_close(cap);
}

/* The counter sample of telegraf issue 15918, field by field as tshark decodes it. */
static void test_telegraf_counters(void **state)
{
    (void)state;
    char path[4096], errbuf[512];
    capture *cap = NULL;
    assert_int_equal(
        capture_open(tu_testdata("pcap/unknown-sflow/wrapped-telegraf_sflow_macs_issue15918.pcap",
                                 path, sizeof(path)),
                     &cap, errbuf, sizeof(errbuf)),
        CF_OK);
    collected *got = calloc(1, sizeof(*got));
    assert_non_null(got);
    capture_datagram d;
    assert_int_equal(capture_next(cap, &d), CF_OK);
    decode_exporter ex;
    decode_exporter_init(&ex, d.src_addr, d.src_port);
    decode_set_counter_sink(&ex, collect_counters, got);
    assert_int_equal(decode_packet(&ex, d.payload, d.len, d.time_ms, collect, got), CF_OK);
    assert_int_equal(got->n_counters, 1);
    const decode_counters *k = &got->last_counters;
    char buf[64];
    flow_addr_format(k->agent, buf, sizeof(buf));
    assert_string_equal(buf, "192.168.227.2");
    assert_int_equal(k->sample_seq, 300415);
    assert_int_equal(k->source_type, 0);
    assert_int_equal(k->source_index, 101);
    assert_true(k->has_generic && k->has_ethernet);
    assert_int_equal(k->if_index, 101);
    assert_int_equal(k->if_type, 6);
    assert_int_equal(k->if_speed, 1000000000ull);
    assert_int_equal(k->if_direction, 1);
    assert_int_equal(k->if_status, 3);
    assert_int_equal(k->in_octets, 21286022420858ull);
    assert_int_equal(k->in_packets, 1153749508ull + 81495048ull + 2502106ull);
    assert_int_equal(k->out_octets, 8929238553590ull);
    assert_int_equal(k->out_packets, 3892490465ull + 3753944ull + 1251275ull);
    assert_int_equal(k->in_errors + k->in_discards + k->out_errors + k->out_discards, 0);
    assert_int_equal(k->time_ms, d.time_ms);
    free(got);
    capture_close(cap);
}

int main(void)
{
    cf_log_set_level(CF_LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_all_sflow_captures),
        cmocka_unit_test(test_tcpdump_segv_rejected),
        cmocka_unit_test(test_telegraf_counters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
