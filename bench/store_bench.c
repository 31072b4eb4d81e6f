/*
 * bench/store_bench.c - size and speed of the segment store on flows shaped
 * like the shared benchmark's NetFlow v5 dataset (bench/gen/nfgen.c: Zipf
 * popular hosts in 10.0.0.0/12 and public space, Zipf services plus
 * ephemeral ports, Pareto packet counts, exponential durations, 277,778
 * flows per 5-minute window with end times advancing linearly).
 *
 * For each codec: appends the flows through store_writer (CPU ns per flow,
 * compression and write(2) included), then reads every block back decoding
 * all columns (ns per flow), and reports bytes per flow on disk and the
 * stored bytes of each column.
 *
 * usage: store_bench [-n flows] [-d dir] [-c none|lz4|zstd] [-b block_records]
 */
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "store/segment_format.h"
#include "store/store.h"

#define N_INT_HOSTS 200000
#define N_EXT_HOSTS 100000
#define FLOWS_PER_WINDOW 277778
#define START_MS UINT64_C(1704067200000)

typedef struct rng {
    uint64_t s;
} rng;

/* splitmix64: small, fast, good enough for a workload generator. */
static uint64_t rng_next(rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static double rng_unit(rng *r) { return (double)(rng_next(r) >> 11) / 9007199254740992.0; }
static uint32_t rng_below(rng *r, uint32_t n) { return (uint32_t)(((rng_next(r) >> 32) * n) >> 32); }

/* Seed-independent hash of a rank: the host universe is the same everywhere. */
static uint64_t scramble(uint64_t x)
{
    rng r = {x * 0x2545f4914f6cdd1dull + 0x1234567};
    return rng_next(&r);
}

typedef struct zipf {
    double *cdf;
    uint32_t n;
} zipf;

static int zipf_make(zipf *z, uint32_t n, double s)
{
    z->cdf = malloc(n * sizeof(double));
    if (!z->cdf)
        return -1;
    z->n = n;
    double acc = 0;
    for (uint32_t i = 0; i < n; i++)
        z->cdf[i] = acc += pow(i + 1.0, -s);
    for (uint32_t i = 0; i < n; i++)
        z->cdf[i] /= acc;
    return 0;
}

static uint32_t zipf_rank(const zipf *z, rng *r)
{
    double u = rng_unit(r);
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

static uint32_t internal_host(uint32_t rank)
{
    uint32_t a = 0x0a000000u | (uint32_t)(scramble(rank + 7) & 0xfffffu);
    return (a & 0xff) ? a : a | 1;
}

static uint32_t external_host(uint64_t rank)
{
    uint64_t h = scramble(rank + 0x9000000);
    for (;;) {
        uint32_t a = (uint32_t)h, o = a >> 24;
        bool priv = o == 0 || o == 10 || o == 127 || o >= 224 || (o == 172 && ((a >> 20) & 0xf) == 1) ||
                    (o == 192 && ((a >> 16) & 0xff) == 168) || (o == 169 && ((a >> 16) & 0xff) == 254);
        if (!priv)
            return a;
        h = scramble(h);
    }
}

static const struct {
    uint16_t port;
    uint8_t proto;
} services[] = {
    {443, 6},  {80, 6},   {53, 17},   {443, 17},  {22, 6},    {123, 17},  {993, 6},  {8080, 6},
    {25, 6},   {587, 6},  {3389, 6},  {5222, 6},  {8443, 6},  {1194, 17}, {3478, 17}, {110, 6},
    {143, 6},  {465, 6},  {5060, 17}, {9000, 6},  {1935, 6},  {5353, 17}, {161, 17}, {445, 6},
    {21, 6},   {23, 6},   {3306, 6},  {5432, 6},  {6379, 6},  {27017, 6}, {0, 1},
};
#define N_SERVICES (sizeof(services) / sizeof(services[0]))

typedef struct model {
    zipf z_int, z_ext, z_svc;
} model;

/* One flow as the NetFlow v5 decoder stores it (16-bit interfaces and AS). */
static void make_flow(const model *m, rng *r, uint64_t last_ms, flow_record *f)
{
    memset(f, 0, sizeof(*f));
    double kind = rng_unit(r);
    uint32_t ri = zipf_rank(&m->z_int, r), re = zipf_rank(&m->z_ext, r);
    unsigned svc = zipf_rank(&m->z_svc, r);
    uint16_t port = services[svc].port, eph = (uint16_t)(32768 + rng_below(r, 28232));
    uint32_t in = internal_host(ri), ex = external_host(re);
    uint16_t if_in = (uint16_t)(1 + scramble(ri) % 8), if_ext = (uint16_t)(9 + scramble(re) % 4);
    uint16_t ext_as = (uint16_t)(1000 + scramble(re ^ 0x5151) % 60000);
    uint64_t pk = (uint64_t)pow(1.0 - rng_unit(r), -1.0 / 1.1);
    pk = pk < 1 ? 1 : pk > 2000000 ? 2000000 : pk;
    uint32_t psz = rng_below(r, 100) < 35 ? 40 + rng_below(r, 60) : 200 + rng_below(r, 1300);
    f->proto = services[svc].proto;
    if (kind < 0.03) { /* scan noise */
        flow_set_v4(f, external_host(rng_below(r, 50000000)), in);
        f->proto = 6;
        f->src_port = (uint16_t)(1024 + rng_below(r, 64000));
        f->dst_port = (uint16_t)(1 + rng_below(r, 65535));
        f->tcp_flags = 0x02;
        pk = 1;
        psz = 40;
        f->in_if = if_ext, f->out_if = if_in, f->src_as = ext_as;
    } else if (kind < 0.515) { /* internal client -> service */
        flow_set_v4(f, in, ex);
        f->src_port = f->proto == 1 ? 0 : eph;
        f->dst_port = f->proto == 1 ? 0x0800 : port;
        f->in_if = if_in, f->out_if = if_ext, f->dst_as = ext_as;
    } else { /* response */
        flow_set_v4(f, ex, in);
        f->src_port = f->proto == 1 ? 0 : port;
        f->dst_port = f->proto == 1 ? 0 : eph;
        f->in_if = if_ext, f->out_if = if_in, f->src_as = ext_as;
        if (f->proto != 1 && psz < 600)
            psz += 800;
    }
    if (f->proto == 6 && f->tcp_flags == 0)
        f->tcp_flags = pk > 3 ? 0x1b : (rng_below(r, 2) ? 0x12 : 0x02);
    if (f->proto == 1) {
        f->icmp_type = (uint8_t)(f->dst_port >> 8);
        f->icmp_code = (uint8_t)f->dst_port;
    }
    f->packets = pk;
    uint64_t bytes = pk * psz;
    f->bytes = bytes > 0xffffffffu ? 0xffffffffu : bytes;
    f->tos = rng_below(r, 10) == 0 ? 0xb8 : 0;
    f->src_mask = 24;
    f->dst_mask = (uint8_t)(16 + rng_below(r, 9));
    flow_addr_from_v4(f->next_hop, 0x0aff0001u + (f->out_if & 3));
    flow_addr_from_v4(f->exporter, 0x7f000001u);
    uint64_t dur = pk == 1 ? 0 : (uint64_t)(-log(1.0 - rng_unit(r)) * 8000.0);
    dur = dur > 600000 ? 600000 : dur;
    if (pk < 60 && dur > pk * 1000)
        dur = pk * 1000;
    f->last_ms = last_ms;
    f->first_ms = last_ms - dur;
    f->engine_id = 100;
    f->sampling = 1;
    f->exporter_proto = FLOW_PROTO_NETFLOW5;
}

static double cpu_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Stored bytes per column over all segments of dir (reads the directories). */
static void column_sizes(store_segment *segs, size_t n_segs, uint64_t per_field[FLOW_FIELD_MAX_ID + 1])
{
    store_block_buf b = {0};
    for (size_t i = 0; i < n_segs; i++) {
        FILE *fp = fopen(segs[i].path, "rb");
        if (!fp)
            continue;
        int fd = fileno(fp);
        struct stat st;
        fstat(fd, &st);
        uint64_t off = STORE_FILE_HEADER_LEN, skip;
        while (store_block_load(fd, off, (uint64_t)st.st_size, &b, &skip) == CF_OK) {
            for (uint32_t c = 0; c < b.n_columns; c++)
                if (b.ents[c].field_id <= FLOW_FIELD_MAX_ID)
                    per_field[b.ents[c].field_id] += b.ents[c].stored_len + STORE_DIR_ENTRY_LEN;
            off += b.len;
        }
        fclose(fp);
    }
    store_block_buf_free(&b);
}

static int run_codec(const char *dir, store_codec codec, uint32_t block_records, const flow_record *recs,
                     size_t n)
{
    char sub[4096];
    snprintf(sub, sizeof(sub), "%s/%s", dir, store_codec_name(codec));
    store_options o;
    store_options_default(&o);
    o.codec = codec;
    o.block_records = block_records;
    store_writer *w;
    if (store_writer_open(sub, &o, &w) != CF_OK)
        return -1;
    double t0 = cpu_s();
    for (size_t i = 0; i < n; i += 30) /* a v5 packet at a time, as the collector does */
        store_writer_append(w, recs + i, n - i < 30 ? n - i : 30);
    double t_append = cpu_s() - t0;
    store_writer_stats st;
    store_writer_get_stats(w, &st);
    store_writer_close(w);
    double t_write = cpu_s() - t0;

    store_segment *segs;
    size_t n_segs;
    if (store_list(sub, 0, UINT64_MAX, &segs, &n_segs) != CF_OK)
        return -1;
    uint64_t disk = 0, read_n = 0, sum = 0;
    t0 = cpu_s();
    for (size_t i = 0; i < n_segs; i++) {
        struct stat s;
        if (stat(segs[i].path, &s) == 0)
            disk += (uint64_t)s.st_size;
        store_reader *r;
        if (store_reader_open(segs[i].path, &r) != CF_OK)
            continue;
        store_block_info info;
        const void *cols[FLOW_FIELD_MAX_ID + 1];
        while (store_reader_next(r, &info) == CF_OK) {
            if (store_reader_columns(r, STORE_ALL_FIELDS, cols) != CF_OK)
                break;
            read_n += info.n_records;
            sum += ((const uint64_t *)cols[FLOW_FIELD_BYTES])[info.n_records - 1];
        }
        store_reader_close(r);
    }
    double t_read = cpu_s() - t0;
    uint64_t per_field[FLOW_FIELD_MAX_ID + 1] = {0};
    column_sizes(segs, n_segs, per_field);
    printf("codec=%-4s segments=%zu blocks=%llu flows=%zu read=%llu bytes/flow=%.2f append_ns/flow=%.1f write_ns/flow=%.1f "
           "read_all_ns/flow=%.1f (check %llu)\n",
           store_codec_name(codec), n_segs, (unsigned long long)st.blocks, n, (unsigned long long)read_n,
           (double)disk / (double)n, t_append * 1e9 / (double)n, t_write * 1e9 / (double)n, t_read * 1e9 / (double)n,
           (unsigned long long)(sum & 0xffff));
    printf("  column bytes/flow:");
    for (size_t i = 0; i < flow_n_fields; i++)
        if (per_field[flow_fields[i].id] > (uint64_t)n / 100)
            printf(" %s=%.2f", flow_fields[i].name, (double)per_field[flow_fields[i].id] / (double)n);
    printf("\n");
    store_segments_free(segs, n_segs);
    return read_n == n ? 0 : -1;
}

int main(int argc, char **argv)
{
    size_t n = 4 * FLOWS_PER_WINDOW;
    const char *dir = NULL;
    int only = -1;
    uint32_t block_records = 65536;
    int c;
    while ((c = getopt(argc, argv, "n:d:c:b:")) != -1) {
        store_codec cc;
        switch (c) {
        case 'n': n = strtoull(optarg, NULL, 10); break;
        case 'd': dir = optarg; break;
        case 'b': block_records = (uint32_t)strtoul(optarg, NULL, 10); break;
        case 'c':
            if (store_codec_parse(optarg, &cc) != CF_OK)
                return 2;
            only = (int)cc;
            break;
        default:
            fprintf(stderr, "usage: store_bench [-n flows] [-d dir] [-c none|lz4|zstd] [-b block_records]\n");
            return 2;
        }
    }
    char tmp[] = "/tmp/store_bench-XXXXXX";
    if (!dir && !(dir = mkdtemp(tmp)))
        return 1;
    model m;
    flow_record *recs = malloc(n * sizeof(*recs));
    if (!recs || zipf_make(&m.z_int, N_INT_HOSTS, 1.05) || zipf_make(&m.z_ext, N_EXT_HOSTS, 1.1) ||
        zipf_make(&m.z_svc, N_SERVICES, 1.3))
        return 1;
    rng r = {1000};
    for (size_t i = 0; i < n; i++)
        make_flow(&m, &r, START_MS + (i * 300000) / FLOWS_PER_WINDOW, &recs[i]);
    printf("store_bench: %zu flows (%zu per 5-minute window), block_records=%u, dir %s\n", n,
           (size_t)FLOWS_PER_WINDOW, block_records, dir);
    int rc = 0;
    for (int k = 0; k <= 2; k++)
        if (only < 0 || only == k)
            rc |= run_codec(dir, (store_codec)k, block_records, recs, n);
    free(recs);
    free(m.z_int.cdf);
    free(m.z_ext.cdf);
    free(m.z_svc.cdf);
    if (dir == tmp) {
        char cmd[256];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp);
        rc |= system(cmd) != 0;
    }
    return rc ? 1 : 0;
}
