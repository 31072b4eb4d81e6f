/*
 * tests/e2e/mkpcap.c - writes a pcap of synthetic IPv4 traffic for exporters
 * under test (softflowd reads it with -r and exports flows to a collector).
 *
 * usage: mkpcap OUT.pcap [N_FLOWS] [SEED] [START_EPOCH]
 * Flows: TCP, UDP and ICMP between 10.0.0.0/16 clients and a few servers,
 * each 1..20 packets of 40..1500 bytes, spread over 100 s from START_EPOCH
 * (default: 300 s before now, so that exporters reading the file, whose
 * sysUptime counts from the file's first packet, do not wrap it).
 * Deterministic for a given seed and start.
 */
#include <pcap/pcap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint32_t rng_state;
static uint32_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 17;
    rng_state ^= rng_state << 5;
    return rng_state;
}

static uint16_t ip_checksum(const uint8_t *p, size_t len)
{
    uint32_t sum = 0;
    for (size_t i = 0; i + 1 < len; i += 2)
        sum += (uint32_t)(p[i] << 8 | p[i + 1]);
    while (sum >> 16)
        sum = (sum & 0xffff) + (sum >> 16);
    return (uint16_t)~sum;
}

static void put16(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8), p[1] = (uint8_t)v; }
static void put32(uint8_t *p, uint32_t v) { put16(p, (uint16_t)(v >> 16)), put16(p + 2, (uint16_t)v); }

typedef struct pkt_spec {
    uint32_t src, dst;
    uint16_t sport, dport;
    uint8_t proto, tcp_flags;
    uint16_t ip_len;
    uint64_t ts_us;
} pkt_spec;

static int cmp_ts(const void *a, const void *b)
{
    const pkt_spec *x = a, *y = b;
    return x->ts_us < y->ts_us ? -1 : x->ts_us > y->ts_us;
}

static size_t build_frame(const pkt_spec *s, uint8_t *f)
{
    memset(f, 0, 14 + s->ip_len);
    memcpy(f, "\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00", 14);
    uint8_t *ip = f + 14;
    ip[0] = 0x45;
    put16(ip + 2, s->ip_len);
    ip[8] = 64;
    ip[9] = s->proto;
    put32(ip + 12, s->src);
    put32(ip + 16, s->dst);
    put16(ip + 10, ip_checksum(ip, 20));
    uint8_t *l4 = ip + 20;
    if (s->proto == 6) {
        put16(l4, s->sport), put16(l4 + 2, s->dport);
        l4[12] = 0x50;
        l4[13] = s->tcp_flags;
    } else if (s->proto == 17) {
        put16(l4, s->sport), put16(l4 + 2, s->dport);
        put16(l4 + 4, (uint16_t)(s->ip_len - 20));
    } else {
        l4[0] = 8; /* echo request */
    }
    return 14 + s->ip_len;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: mkpcap OUT.pcap [N_FLOWS] [SEED] [START_EPOCH]\n");
        return 2;
    }
    int n_flows = argc > 2 ? atoi(argv[2]) : 200;
    rng_state = argc > 3 ? (uint32_t)strtoul(argv[3], NULL, 10) : 42;
    if (rng_state == 0)
        rng_state = 1;
    pkt_spec *pkts = calloc((size_t)n_flows * 20, sizeof(*pkts));
    size_t n = 0;
    uint64_t start_s = argc > 4 ? strtoull(argv[4], NULL, 10) : (uint64_t)time(NULL) - 300;
    const uint64_t t0 = start_s * 1000000;
    static const uint16_t services[] = {443, 80, 53, 22, 25, 8080};
    for (int i = 0; i < n_flows; i++) {
        uint32_t client = 0x0a000000 | (rnd() & 0xffff);
        uint32_t server = (i % 3 == 0) ? 0xc0000200 | (rnd() % 20) : 0x0a640000 | (rnd() % 50);
        uint8_t proto = (uint8_t)(i % 10 == 9 ? 1 : (i % 4 == 0 ? 17 : 6));
        uint16_t sport = (uint16_t)(32768 + rnd() % 28000);
        uint16_t dport = services[rnd() % 6];
        int count = 1 + (int)(rnd() % 20);
        uint64_t start = t0 + (uint64_t)(rnd() % 100000000);
        for (int k = 0; k < count; k++) {
            pkt_spec *s = &pkts[n++];
            s->src = client, s->dst = server, s->sport = sport, s->dport = dport, s->proto = proto;
            s->tcp_flags = k == 0 ? 0x02 : (k == count - 1 ? 0x11 : 0x10);
            s->ip_len = (uint16_t)(40 + rnd() % 1461);
            s->ts_us = start + (uint64_t)k * (rnd() % 500000);
        }
    }
    qsort(pkts, n, sizeof(*pkts), cmp_ts);
    pcap_t *p = pcap_open_dead(DLT_EN10MB, 65535);
    pcap_dumper_t *d = p ? pcap_dump_open(p, argv[1]) : NULL;
    if (!d) {
        fprintf(stderr, "mkpcap: cannot write %s\n", argv[1]);
        return 1;
    }
    uint8_t frame[1600];
    for (size_t i = 0; i < n; i++) {
        struct pcap_pkthdr h;
        h.caplen = h.len = (bpf_u_int32)build_frame(&pkts[i], frame);
        h.ts.tv_sec = (time_t)(pkts[i].ts_us / 1000000);
        h.ts.tv_usec = (suseconds_t)(pkts[i].ts_us % 1000000);
        pcap_dump((u_char *)d, &h, frame);
    }
    pcap_dump_close(d);
    pcap_close(p);
    free(pkts);
    printf("%zu packets\n", n);
    return 0;
}
