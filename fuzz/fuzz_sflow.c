/*
 * fuzz/fuzz_sflow.c - libFuzzer target for the sFlow v5 decoder and the
 * sampled-packet-header parser.
 *
 * Each input is one datagram, decoded twice by the same exporter (so that
 * sequence and drop accounting run against state), with a counter sink.
 * Invariants checked: every datagram is counted once; a failed decode emits
 * no record and no counters; a successful one emits what it counts.  The
 * same bytes are also parsed as a sampled Ethernet / IPv4 / IPv6 header.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "decode/decode.h"
#include "decode/decode_pkthdr.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

typedef struct fuzz_sink {
    size_t n, n_counters;
    uint64_t checksum; /* reads every field so that sanitizers see them */
} fuzz_sink;

static void fuzz_emit(void *ctx, const flow_record *rec)
{
    fuzz_sink *s = ctx;
    s->n++;
    s->checksum += rec->packets + rec->bytes + rec->src_port + rec->dst_port + rec->proto +
                   rec->sampling + rec->src_addr[15] + rec->in_if + rec->out_if + rec->src_mac +
                   rec->dst_as + rec->src_vlan;
}

static void fuzz_counters(void *ctx, const decode_counters *k)
{
    fuzz_sink *s = ctx;
    s->n_counters++;
    s->checksum += k->in_octets + k->out_packets + k->if_index + k->eth_symbol_errors;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const uint8_t addr[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, 1};
    decode_exporter ex;
    decode_exporter_init(&ex, addr, 6343);
    cf_log_set_level(CF_LOG_ERROR);
    uint8_t *buf = malloc(size ? size : 1); /* exactly size bytes, so ASan catches over-reads */
    if (!buf)
        return 0;
    if (size)
        memcpy(buf, data, size);
    fuzz_sink s = {0, 0, 0};
    decode_set_counter_sink(&ex, fuzz_counters, &s);
    for (int round = 0; round < 2; round++) {
        size_t n0 = s.n, k0 = s.n_counters;
        decode_stats before, after;
        decode_sflow_stats sbefore, safter;
        decode_stats_snapshot(&ex, &before);
        decode_sflow_stats_snapshot(&ex, &sbefore);
        cf_err err = decode_packet(&ex, buf, size, 1700000000000ull, fuzz_emit, &s);
        decode_stats_snapshot(&ex, &after);
        decode_sflow_stats_snapshot(&ex, &safter);
        if (after.packets != before.packets + 1)
            abort();
        if (err != CF_OK && (s.n != n0 || s.n_counters != k0))
            abort();
        if (after.records - before.records != s.n - n0)
            abort();
        if (size >= 4 && data[0] == 0 && data[1] == 0 && data[2] == 0 && data[3] == 5 &&
            safter.counters_emitted - sbefore.counters_emitted != s.n_counters - k0)
            abort();
    }
    decode_pkthdr h;
    static const decode_pkthdr_link links[] = {DECODE_PKTHDR_ETHERNET, DECODE_PKTHDR_IPV4,
                                               DECODE_PKTHDR_IPV6};
    for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
        decode_pkthdr_status st = decode_pkthdr_parse(links[i], buf, size, &h);
        if (st > DECODE_PKTHDR_UNSUPPORTED || (h.family != 0 && h.family != 4 && h.family != 6))
            abort();
    }
    decode_exporter_free(&ex);
    free(buf);
    return 0;
}
