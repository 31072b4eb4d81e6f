/*
 * bench/decode_bench.c - CPU cost of decoding NetFlow v9 and IPFIX data
 * records (decode_packet(): message framing, template lookup, records
 * through their template, emit), on packets shaped like the shared
 * benchmark's (bench/gen/nfgen.c in ../shared/bench):
 *
 *   v9:    18-field templates 256 (IPv4) / 257 (IPv6), 4-byte counters,
 *          FIRST/LAST_SWITCHED (21/22) relative to sysUptime; 28 IPv4 or
 *          16 IPv6 records per packet (one family per packet)
 *   IPFIX: the same fields with 8-byte counters and flowStart/End
 *          Milliseconds (152/153); 19 IPv4 or 12 IPv6 records per packet
 *
 * The flow values come from the project's simulator (sim_gen: Zipf hosts
 * and services, Pareto packets, exponential durations).  The templates are
 * decoded once before timing (nfgen sends them in their own packet every
 * 64 packets, a negligible share).  Each run decodes a fixed set of packets
 * (default 256, ~350 KB: in cache, as a packet just received is) enough
 * times to last about 0.2 s, through decode_packet_out() into a column
 * batch of 1024 records (emptied when full) as the collector does.  Reported per protocol and family mix: thread CPU ns per record,
 * median (and min) of the runs, and records per second from the median.
 * A checksum over every byte of every record (one untimed pass) lets two
 * builds be compared for identical output.
 *
 * usage: decode_bench [-r runs] [-p packets] [-6 v6pct] [-P v9|ipfix] [-m v4|v6|mix]
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/bytes.h"
#include "core/log.h"
#include "decode/decode.h"
#include "sim/sim.h"

#define BOOT_MS UINT64_C(1704000000000)
#define START_MS UINT64_C(1704067200000)
#define PKT_CAP 1500
#define N_FLD 18

typedef struct fld {
    uint16_t type, len;
} fld;

/* nfgen's templates, field for field. */
static const fld v9_t4[N_FLD] = {{1, 4},  {2, 4},  {4, 1},  {5, 1},  {6, 1},  {7, 2},
                                 {8, 4},  {9, 1},  {10, 2}, {11, 2}, {12, 4}, {13, 1},
                                 {14, 2}, {15, 4}, {16, 4}, {17, 4}, {21, 4}, {22, 4}};
static const fld v9_t6[N_FLD] = {{1, 4},  {2, 4},  {4, 1},   {5, 1},  {6, 1},  {7, 2},
                                 {27, 16}, {29, 1}, {10, 2},  {11, 2}, {28, 16}, {30, 1},
                                 {14, 2}, {62, 16}, {16, 4},  {17, 4}, {21, 4}, {22, 4}};
static const fld ipfix_t4[N_FLD] = {{1, 8},  {2, 8},  {4, 1},  {5, 1},  {6, 2},  {7, 2},
                                    {8, 4},  {9, 1},  {10, 4}, {11, 2}, {12, 4}, {13, 1},
                                    {14, 4}, {15, 4}, {16, 4}, {17, 4}, {152, 8}, {153, 8}};
static const fld ipfix_t6[N_FLD] = {{1, 8},  {2, 8},   {4, 1},  {5, 1},   {6, 2},  {7, 2},
                                    {27, 16}, {29, 1}, {10, 4}, {11, 2},  {28, 16}, {30, 1},
                                    {14, 4}, {62, 16}, {16, 4}, {17, 4},  {152, 8}, {153, 8}};

typedef struct packet {
    uint8_t buf[PKT_CAP];
    size_t len;
    size_t n_records;
} packet;

typedef struct bench_cfg {
    int ipfix;
    int v6_pct; /* share of IPv6 packets */
    size_t n_packets;
    int runs;
} bench_cfg;

static size_t rec_len(const fld *t)
{
    size_t n = 0;
    for (int i = 0; i < N_FLD; i++)
        n += t[i].len;
    return n;
}

static uint8_t *put_n(uint8_t *p, uint64_t v, unsigned len)
{
    for (unsigned i = 0; i < len; i++)
        p[i] = (uint8_t)(v >> (8 * (len - 1 - i)));
    return p + len;
}

static uint8_t *put_addr(uint8_t *p, const uint8_t addr[16], unsigned len)
{
    memcpy(p, len == 4 ? addr + 12 : addr, len);
    return p + len;
}

static uint8_t *encode_record(uint8_t *p, const flow_record *f, const fld *t)
{
    for (int i = 0; i < N_FLD; i++) {
        unsigned l = t[i].len;
        switch (t[i].type) {
        case 1: p = put_n(p, l == 4 && f->bytes > UINT32_MAX ? UINT32_MAX : f->bytes, l); break;
        case 2: p = put_n(p, f->packets, l); break;
        case 4: p = put_n(p, f->proto, l); break;
        case 5: p = put_n(p, f->tos, l); break;
        case 6: p = put_n(p, f->tcp_flags, l); break;
        case 7: p = put_n(p, f->src_port, l); break;
        case 11: p = put_n(p, f->dst_port, l); break;
        case 8: case 27: p = put_addr(p, f->src_addr, l); break;
        case 12: case 28: p = put_addr(p, f->dst_addr, l); break;
        case 15: case 62: p = put_addr(p, f->next_hop, l); break;
        case 9: case 29: p = put_n(p, f->src_mask, l); break;
        case 13: case 30: p = put_n(p, f->dst_mask, l); break;
        case 10: p = put_n(p, f->in_if, l); break;
        case 14: p = put_n(p, f->out_if, l); break;
        case 16: p = put_n(p, f->src_as, l); break;
        case 17: p = put_n(p, f->dst_as, l); break;
        case 21: p = put_n(p, (uint32_t)(f->last_ms - BOOT_MS), l); break;
        case 22: p = put_n(p, (uint32_t)(f->first_ms - BOOT_MS), l); break;
        case 152: p = put_n(p, f->first_ms, l); break;
        case 153: p = put_n(p, f->last_ms, l); break;
        default: memset(p, 0, l); p += l; break;
        }
    }
    return p;
}

/* Header of a v9 packet / IPFIX message of len bytes, count records. */
static void put_header(uint8_t *buf, int ipfix, size_t len, size_t count, uint64_t now_ms, uint32_t seq)
{
    if (ipfix) {
        cf_put_be16(buf, 10);
        cf_put_be16(buf + 2, (uint16_t)len);
        cf_put_be32(buf + 4, (uint32_t)(now_ms / 1000));
        cf_put_be32(buf + 8, seq);
        cf_put_be32(buf + 12, 100);
    } else {
        cf_put_be16(buf, 9);
        cf_put_be16(buf + 2, (uint16_t)count);
        cf_put_be32(buf + 4, (uint32_t)(now_ms - BOOT_MS));
        cf_put_be32(buf + 8, (uint32_t)(now_ms / 1000));
        cf_put_be32(buf + 12, seq);
        cf_put_be32(buf + 16, 100);
    }
}

static void template_packet(int ipfix, packet *pk)
{
    const fld *ts[2] = {ipfix ? ipfix_t4 : v9_t4, ipfix ? ipfix_t6 : v9_t6};
    size_t hdr = ipfix ? 16 : 20;
    uint8_t *p = pk->buf + hdr, *set = p;
    p += 4;
    for (int k = 0; k < 2; k++) {
        cf_put_be16(p, (uint16_t)(256 + k));
        cf_put_be16(p + 2, N_FLD);
        p += 4;
        for (int i = 0; i < N_FLD; i++, p += 4) {
            cf_put_be16(p, ts[k][i].type);
            cf_put_be16(p + 2, ts[k][i].len);
        }
    }
    cf_put_be16(set, ipfix ? 2 : 0);
    cf_put_be16(set + 2, (uint16_t)(p - set));
    pk->len = (size_t)(p - pk->buf);
    pk->n_records = 0;
    put_header(pk->buf, ipfix, pk->len, 2, START_MS, 0);
}

/* Fills pks[0 .. n) with data packets: packet i is IPv6 with v6_pct %
 * (evenly spread), records from g. */
static void data_packets(const bench_cfg *c, sim_gen *g, packet *pks)
{
    uint64_t now = START_MS;
    uint32_t seq = 0;
    unsigned acc = 0;
    for (size_t i = 0; i < c->n_packets; i++) {
        acc += (unsigned)c->v6_pct;
        int v6 = acc >= 100;
        if (v6)
            acc -= 100;
        const fld *t = c->ipfix ? (v6 ? ipfix_t6 : ipfix_t4) : (v6 ? v9_t6 : v9_t4);
        size_t hdr = c->ipfix ? 16 : 20, per = (1400 - hdr - 4) / rec_len(t);
        packet *pk = &pks[i];
        uint8_t *p = pk->buf + hdr, *set = p;
        p += 4;
        for (size_t k = 0; k < per;) {
            flow_record f;
            now += 3;
            sim_gen_next(g, now, &f);
            if ((f.family == 6) != v6)
                continue;
            p = encode_record(p, &f, t);
            k++;
        }
        if (!c->ipfix)
            while ((p - set) & 3)
                *p++ = 0;
        cf_put_be16(set, (uint16_t)(256 + v6));
        cf_put_be16(set + 2, (uint16_t)(p - set));
        pk->len = (size_t)(p - pk->buf);
        pk->n_records = per;
        put_header(pk->buf, c->ipfix, pk->len, per, now, seq);
        seq += c->ipfix ? (uint32_t)per : 1u;
    }
}

typedef struct sink {
    uint64_t sum;
    uint64_t n;
} sink;

/* FNV-1a over every byte of every record. */
static void emit_hash(void *ctx, const flow_record *r)
{
    sink *s = ctx;
    const uint8_t *b = (const uint8_t *)r;
    uint64_t h = s->sum ? s->sum : UINT64_C(1469598103934665603);
    for (size_t i = 0; i < sizeof(*r); i++)
        h = (h ^ b[i]) * UINT64_C(1099511628211);
    s->sum = h;
    s->n++;
}

/* decode_out.room of the timed runs: a batch of 1024 records, as the
 * collector's, emptied when full (the records are counted). */
typedef struct batch_sink {
    flow_batch b;
    uint64_t n;
} batch_sink;

static flow_batch *sink_room(void *ctx)
{
    batch_sink *s = ctx;
    if (s->b.n == s->b.cap) {
        s->n += s->b.n;
        flow_batch_clear(&s->b);
    }
    return &s->b;
}

static void sink_emit(void *ctx, const flow_record *r)
{
    batch_sink *s = ctx;
    flow_batch_add(sink_room(s), r, 1);
}

static double cpu_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static int run(const bench_cfg *c, const char *label)
{
    sim_gen_options go;
    sim_gen_options_default(&go);
    go.v6_pct = 50;
    sim_gen *g = NULL;
    packet *pks = calloc(c->n_packets, sizeof(*pks));
    double *ns = calloc((size_t)c->runs, sizeof(double));
    if (!pks || !ns || sim_gen_open(&go, &g) != CF_OK) {
        fprintf(stderr, "decode_bench: out of memory\n");
        return 1;
    }
    data_packets(c, g, pks);
    sim_gen_close(g);
    size_t recs_per_pass = 0;
    for (size_t i = 0; i < c->n_packets; i++)
        recs_per_pass += pks[i].n_records;

    const uint8_t addr[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 127, 0, 0, 10};
    decode_exporter ex;
    decode_exporter_init(&ex, addr, 2055);
    packet tp;
    template_packet(c->ipfix, &tp);
    if (decode_packet(&ex, tp.buf, tp.len, START_MS, NULL, NULL) != CF_OK) {
        fprintf(stderr, "decode_bench: template packet rejected\n");
        return 1;
    }
    /* untimed pass: the checksum of the output, and a check that every record decodes */
    sink check = {0, 0};
    for (size_t i = 0; i < c->n_packets; i++)
        if (decode_packet(&ex, pks[i].buf, pks[i].len, START_MS, emit_hash, &check) != CF_OK) {
            fprintf(stderr, "decode_bench: packet %zu rejected\n", i);
            return 1;
        }
    if (check.n != recs_per_pass) {
        fprintf(stderr, "decode_bench: %llu records of %zu\n", (unsigned long long)check.n, recs_per_pass);
        return 1;
    }
    /* passes per run: about 0.2 s at 100 ns per record */
    size_t passes = 2000000 / recs_per_pass + 1;
    batch_sink s = {.n = 0};
    if (flow_batch_init(&s.b, 1024) != CF_OK) {
        fprintf(stderr, "decode_bench: out of memory\n");
        return 1;
    }
    const decode_out out = {sink_emit, sink_room, &s};
    for (int r = 0; r < c->runs; r++) {
        double t0 = cpu_ns();
        for (size_t k = 0; k < passes; k++)
            for (size_t i = 0; i < c->n_packets; i++)
                decode_packet_out(&ex, pks[i].buf, pks[i].len, START_MS, &out);
        ns[r] = (cpu_ns() - t0) / (double)(passes * recs_per_pass);
    }
    qsort(ns, (size_t)c->runs, sizeof(double), cmp_double);
    double med = ns[c->runs / 2];
    printf("%-5s %-3s v6=%3d%% packets=%zu records/pass=%zu runs=%d  ns/record median=%.1f min=%.1f  "
           "records/s=%.2fM  checksum=%016llx\n",
           c->ipfix ? "ipfix" : "v9", label, c->v6_pct, c->n_packets, recs_per_pass, c->runs, med, ns[0],
           1e3 / med, (unsigned long long)check.sum);
    decode_exporter_free(&ex);
    s.n += s.b.n;
    flow_batch_free(&s.b);
    free(ns);
    free(pks);
    return s.n ? 0 : 1;
}

int main(int argc, char **argv)
{
    bench_cfg base = {.ipfix = 0, .v6_pct = 5, .n_packets = 256, .runs = 9};
    const char *only_proto = NULL, *only_mix = NULL;
    int c;
    while ((c = getopt(argc, argv, "r:p:6:P:m:")) != -1) {
        switch (c) {
        case 'r': base.runs = atoi(optarg); break;
        case 'p': base.n_packets = (size_t)atol(optarg); break;
        case '6': base.v6_pct = atoi(optarg); break;
        case 'P': only_proto = optarg; break;
        case 'm': only_mix = optarg; break;
        default:
            fprintf(stderr, "usage: decode_bench [-r runs] [-p packets] [-6 v6pct] [-P v9|ipfix] "
                            "[-m v4|v6|mix]\n");
            return 2;
        }
    }
    if (base.runs < 1 || base.n_packets < 1 || base.v6_pct < 0 || base.v6_pct > 100) {
        fprintf(stderr, "decode_bench: bad option value\n");
        return 2;
    }
    cf_log_set_level(CF_LOG_ERROR);
    static const char *protos[] = {"v9", "ipfix"};
    static const char *mixes[] = {"mix", "v4", "v6"};
    for (int p = 0; p < 2; p++) {
        if (only_proto && strcmp(only_proto, protos[p]) != 0)
            continue;
        for (int m = 0; m < 3; m++) {
            if (only_mix && strcmp(only_mix, mixes[m]) != 0)
                continue;
            bench_cfg cfg = base;
            cfg.ipfix = p;
            cfg.v6_pct = m == 0 ? base.v6_pct : m == 1 ? 0 : 100;
            if (run(&cfg, mixes[m]) != 0)
                return 1;
        }
    }
    return 0;
}
