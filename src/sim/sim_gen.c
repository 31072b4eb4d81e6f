/* sim/sim_gen.c - the flow generator: Zipf-popular hosts and services,
 * Pareto packet counts, exponential durations (model described in sim.h). */
#include "sim/sim.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define SIM_N_INTERNAL 200000u /* internal hosts */
#define SIM_N_EXTERNAL 100000u /* popular external servers */
#define SIM_N_SCANNERS 50000000u /* address space scanners are drawn from */
#define SIM_MAX_PACKETS 1000000u /* cap of the Pareto draw: bytes stay < 2^32 */
#define SIM_MAX_DURATION_MS 600000u
#define SIM_MEAN_DURATION_MS 8000.0

typedef struct sim_service {
    uint16_t port;
    uint8_t proto;
} sim_service;

/* Popular services, most popular first (rank drawn by Zipf); port 0 with
 * proto 1 is ICMP echo. */
static const sim_service sim_services[] = {
    {443, 6},  {80, 6},    {53, 17},   {443, 17},  {22, 6},    {123, 17},  {993, 6},  {8080, 6},
    {25, 6},   {587, 6},   {3389, 6},  {5222, 6},  {8443, 6},  {1194, 17}, {3478, 17}, {110, 6},
    {143, 6},  {465, 6},   {5060, 17}, {9000, 6},  {1935, 6},  {5353, 17}, {161, 17}, {445, 6},
    {21, 6},   {23, 6},    {3306, 6},  {5432, 6},  {6379, 6},  {27017, 6}, {0, 1},
};
#define SIM_N_SERVICES (sizeof(sim_services) / sizeof(sim_services[0]))

/* A Zipf distribution over ranks 0..n-1 as a cumulative table. */
typedef struct sim_zipf {
    uint32_t n;
    double *cdf; /* cdf[i] = P(rank <= i) */
} sim_zipf;

/* The generator: RNG state (xoshiro256**) and the three popularity tables. */
struct sim_gen {
    uint64_t s[4];
    sim_gen_options opt;
    sim_zipf internal;
    sim_zipf external;
    sim_zipf service;
};

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

static uint64_t rng_next(sim_gen *g)
{
    uint64_t *s = g->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

/* Uniform in [0, 1). */
static double rng_unit(sim_gen *g) { return (double)(rng_next(g) >> 11) * (1.0 / 9007199254740992.0); }

/* Uniform in [0, n). */
static uint32_t rng_below(sim_gen *g, uint32_t n) { return (uint32_t)(((rng_next(g) >> 32) * (uint64_t)n) >> 32); }

/* Seed-independent mixer: the address of a popularity rank. */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 33;
    x *= UINT64_C(0xff51afd7ed558ccd);
    x ^= x >> 33;
    x *= UINT64_C(0xc4ceb9fe1a85ec53);
    x ^= x >> 33;
    return x;
}

static cf_err zipf_init(sim_zipf *z, uint32_t n, double exponent)
{
    z->cdf = malloc(sizeof(double) * n);
    if (!z->cdf)
        return CF_ERR_NOMEM;
    z->n = n;
    double sum = 0;
    for (uint32_t i = 0; i < n; i++) {
        sum += 1.0 / pow((double)i + 1.0, exponent);
        z->cdf[i] = sum;
    }
    for (uint32_t i = 0; i < n; i++)
        z->cdf[i] /= sum;
    return CF_OK;
}

static uint32_t zipf_draw(sim_gen *g, const sim_zipf *z)
{
    double u = rng_unit(g);
    uint32_t lo = 0, hi = z->n - 1;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (z->cdf[mid] < u)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void sim_gen_options_default(sim_gen_options *o)
{
    memset(o, 0, sizeof(*o));
    o->seed = 1;
    o->v6_pct = 0;
    o->scan_permille = 30;
}

cf_err sim_gen_open(const sim_gen_options *o, sim_gen **out)
{
    if (o->v6_pct > 100 || o->scan_permille > 1000)
        return CF_ERR_RANGE;
    cf_err err = CF_ERR_NOMEM;
    sim_gen *g = calloc(1, sizeof(*g));
    if (!g)
        return CF_ERR_NOMEM;
    g->opt = *o;
    uint64_t sm = o->seed;
    for (int i = 0; i < 4; i++)
        g->s[i] = splitmix64(&sm);
    if ((err = zipf_init(&g->internal, SIM_N_INTERNAL, 1.05)) != CF_OK)
        goto fail;
    if ((err = zipf_init(&g->external, SIM_N_EXTERNAL, 1.1)) != CF_OK)
        goto fail;
    if ((err = zipf_init(&g->service, (uint32_t)SIM_N_SERVICES, 1.3)) != CF_OK)
        goto fail;
    *out = g;
    return CF_OK;
fail:
    sim_gen_close(g);
    return err;
}

void sim_gen_close(sim_gen *g)
{
    if (!g)
        return;
    free(g->internal.cdf);
    free(g->external.cdf);
    free(g->service.cdf);
    free(g);
}

/* Internal host of popularity rank: 10.0.0.0/12 or fd00:10:X::/48. */
static void addr_internal(uint32_t rank, bool v6, uint8_t out[16])
{
    uint64_t h = mix64(UINT64_C(0x1000000) + rank);
    if (!v6) {
        uint32_t ip = 0x0A000000u | (uint32_t)(h & 0x000FFFFFu);
        if ((ip & 0xFF) == 0 || (ip & 0xFF) == 0xFF)
            ip ^= 1;
        flow_addr_from_v4(out, ip);
        return;
    }
    memset(out, 0, 16);
    out[0] = 0xfd;
    out[3] = 0x10;
    out[5] = (uint8_t)((h >> 40) & 0x0f);
    out[6] = (uint8_t)(h >> 8);
    out[7] = (uint8_t)(h >> 16);
    for (int i = 8; i < 16; i++)
        out[i] = (uint8_t)mix64(h + (uint64_t)i);
}

/* Public IPv4 (no private, loopback, link-local or multicast space) or
 * 2001:db8::/32 for IPv6. */
static void addr_external(uint32_t rank, bool v6, uint8_t out[16])
{
    uint64_t h = mix64(UINT64_C(0x2000000) + rank);
    if (!v6) {
        for (;;) {
            uint32_t ip = (uint32_t)h;
            uint8_t a = (uint8_t)(ip >> 24), b = (uint8_t)(ip >> 16);
            bool private_space = a == 0 || a == 10 || a == 127 || a >= 224 || (a == 172 && (b & 0xF0) == 16) ||
                                 (a == 192 && b == 168) || (a == 169 && b == 254) || (a == 100 && (b & 0xC0) == 64);
            if (!private_space) {
                flow_addr_from_v4(out, ip);
                return;
            }
            h = mix64(h);
        }
    }
    memset(out, 0, 16);
    out[0] = 0x20;
    out[1] = 0x01;
    out[2] = 0x0d;
    out[3] = 0xb8;
    for (int i = 4; i < 16; i++)
        out[i] = (uint8_t)mix64(h + (uint64_t)i);
}

/* Pareto (alpha 1.1) packet count, at least 1. */
static uint64_t draw_packets(sim_gen *g)
{
    double u = rng_unit(g);
    double pk = floor(1.0 / pow(1.0 - u, 1.0 / 1.1));
    if (pk < 1.0)
        return 1;
    if (pk > (double)SIM_MAX_PACKETS)
        return SIM_MAX_PACKETS;
    return (uint64_t)pk;
}

static void set_icmp(flow_record *r, uint8_t type, uint8_t code)
{
    r->dst_port = (uint16_t)(type << 8 | code);
    r->icmp_type = type;
    r->icmp_code = code;
}

void sim_gen_next(sim_gen *g, uint64_t last_ms, flow_record *out)
{
    flow_record r;
    memset(&r, 0, sizeof(r));
    bool v6 = g->opt.v6_pct > 0 && rng_below(g, 100) < g->opt.v6_pct;
    uint32_t kind = rng_below(g, 1000);
    uint32_t r_int = zipf_draw(g, &g->internal), r_ext = zipf_draw(g, &g->external);
    const sim_service *sv = &sim_services[zipf_draw(g, &g->service)];
    uint16_t ephemeral = (uint16_t)(32768 + rng_below(g, 28232));
    uint8_t inside[16], outside[16];
    addr_internal(r_int, v6, inside);
    addr_external(r_ext, v6, outside);
    uint32_t if_in = 1 + (uint32_t)(mix64(r_int) % 8), if_out = 9 + (uint32_t)(mix64(r_ext) % 4);
    uint32_t ext_as = 1000 + (uint32_t)(mix64(r_ext ^ 0xabcdef) % 60000);
    uint64_t pk = draw_packets(g);
    uint32_t psz = rng_below(g, 100) < 35 ? 40 + rng_below(g, 60) : 200 + rng_below(g, 1300);
    bool icmp = sv->proto == 1;

    r.family = v6 ? 6 : 4;
    r.proto = icmp && v6 ? 58 : sv->proto;
    if (kind < g->opt.scan_permille) {
        /* scan noise: one SYN from anywhere to a random inside port */
        addr_external(rng_below(g, SIM_N_SCANNERS), v6, outside);
        memcpy(r.src_addr, outside, 16);
        memcpy(r.dst_addr, inside, 16);
        r.proto = 6;
        r.src_port = (uint16_t)(1024 + rng_below(g, 64000));
        r.dst_port = (uint16_t)(1 + rng_below(g, 65535));
        r.tcp_flags = 0x02;
        pk = 1;
        psz = v6 ? 60 : 40;
        r.in_if = if_out, r.out_if = if_in, r.src_as = ext_as;
    } else if (rng_below(g, 1000) < 500) {
        /* request: inside client -> outside service */
        memcpy(r.src_addr, inside, 16);
        memcpy(r.dst_addr, outside, 16);
        if (icmp)
            set_icmp(&r, v6 ? 128 : 8, 0);
        else
            r.src_port = ephemeral, r.dst_port = sv->port;
        r.in_if = if_in, r.out_if = if_out, r.dst_as = ext_as;
    } else {
        /* response: outside service -> inside client, bigger packets */
        memcpy(r.src_addr, outside, 16);
        memcpy(r.dst_addr, inside, 16);
        if (icmp)
            set_icmp(&r, v6 ? 129 : 0, 0);
        else
            r.src_port = sv->port, r.dst_port = ephemeral;
        if (!icmp && psz < 600)
            psz += 800;
        r.in_if = if_out, r.out_if = if_in, r.src_as = ext_as;
    }
    if (r.proto == 6 && r.tcp_flags == 0)
        r.tcp_flags = pk > 3 ? 0x1b : (rng_below(g, 2) ? 0x12 : 0x02);
    r.packets = pk;
    r.bytes = pk * psz;
    r.tos = rng_below(g, 10) == 0 ? 0xb8 : 0;
    r.src_mask = v6 ? 64 : 24;
    r.dst_mask = v6 ? 48 : (uint8_t)(16 + rng_below(g, 9));
    if (!v6) {
        flow_addr_from_v4(r.next_hop, 0x0AFF0001u + (r.out_if & 3));
    } else {
        r.next_hop[0] = 0xfd;
        r.next_hop[15] = (uint8_t)(1 + (r.out_if & 3));
    }
    uint64_t dur = 0;
    if (pk > 1) {
        double d = -log(1.0 - rng_unit(g)) * SIM_MEAN_DURATION_MS;
        dur = d > SIM_MAX_DURATION_MS ? SIM_MAX_DURATION_MS : (uint64_t)d;
        if (pk < 60 && dur > pk * 1000)
            dur = pk * 1000;
    }
    r.last_ms = last_ms;
    r.first_ms = last_ms >= dur ? last_ms - dur : 0;
    r.sampling = 0;
    *out = r;
}
