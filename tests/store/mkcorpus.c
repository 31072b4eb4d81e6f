/*
 * tests/store/mkcorpus.c - writes the seed corpus of fuzz/fuzz_segment.c:
 * small valid segments (each codec, structured and random values), one left
 * unsealed and one with a torn last block.
 *
 * usage: store_mkcorpus OUTDIR   (files OUTDIR/seed-*.seg, each < 20 KB)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store_testlib.h"

#define T0 UINT64_C(1704067200000)

static int copy_file(const char *from, const char *to, long cut)
{
    FILE *in = fopen(from, "rb"), *out = fopen(to, "wb");
    if (!in || !out)
        return -1;
    fseek(in, 0, SEEK_END);
    long len = ftell(in) - cut;
    fseek(in, 0, SEEK_SET);
    for (long i = 0; i < len; i++)
        fputc(fgetc(in), out);
    fclose(in);
    return fclose(out);
}

/* Writes n records (structured when s, else random) with codec; copies the
 * segment to out (minus cut bytes; unsealed when not closed). */
static int make(const char *tmp, const char *out, store_codec codec, bool structured, bool close_it, long cut)
{
    char dir[4096];
    snprintf(dir, sizeof(dir), "%s/%s", tmp, strrchr(out, '/') + 1);
    store_options o;
    st_options(&o, codec, 6);
    store_writer *w;
    if (store_writer_open(dir, &o, &w) != CF_OK)
        return -1;
    st_rng r = {(uint64_t)codec * 7 + structured};
    flow_record recs[15];
    for (int i = 0; i < 15; i++) {
        st_random_record(&r, T0 + (uint64_t)i * 1000, &recs[i]);
        if (structured) {
            recs[i].first_ms = recs[i].last_ms - (i % 3 ? 0 : 5000);
            recs[i].proto = i % 2 ? 6 : 17;
            recs[i].src_as = i % 4 ? 0 : 65001;
            flow_addr_from_v4(recs[i].exporter, 0x7f000001u);
            flow_addr_from_v4(recs[i].next_hop, 0x0a000001u + (uint32_t)(i % 2));
        }
    }
    store_writer_append(w, recs, 15);
    store_writer_flush(w);
    store_segment *segs;
    size_t n = st_list(dir, &segs);
    if (n != 1)
        return -1;
    int rc = close_it ? (store_writer_close(w) == CF_OK ? 0 : -1) : 0;
    if (!rc)
        rc = copy_file(segs[0].path, out, cut);
    if (!close_it)
        store_writer_close(w);
    store_segments_free(segs, n);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: store_mkcorpus OUTDIR\n");
        return 2;
    }
    char tmp[] = "/tmp/cf-mkcorpus-XXXXXX", path[4096];
    if (!mkdtemp(tmp))
        return 1;
    static const struct { const char *name; store_codec c; bool s, close_it; long cut; } seeds[] = {
        {"seed-lz4-structured.seg", STORE_CODEC_LZ4, true, true, 0},
        {"seed-zstd-structured.seg", STORE_CODEC_ZSTD, true, true, 0},
        {"seed-none-random.seg", STORE_CODEC_NONE, false, true, 0},
        {"seed-lz4-random.seg", STORE_CODEC_LZ4, false, true, 0},
        {"seed-unsealed.seg", STORE_CODEC_LZ4, true, false, 0},
        {"seed-torn.seg", STORE_CODEC_LZ4, true, false, 100},
    };
    int rc = 0;
    for (size_t i = 0; i < sizeof(seeds) / sizeof(seeds[0]); i++) {
        snprintf(path, sizeof(path), "%s/%s", argv[1], seeds[i].name);
        if (make(tmp, path, seeds[i].c, seeds[i].s, seeds[i].close_it, seeds[i].cut) != 0) {
            fprintf(stderr, "store_mkcorpus: cannot make %s\n", path);
            rc = 1;
        }
    }
    snprintf(path, sizeof(path), "rm -rf '%s'", tmp);
    rc |= system(path) != 0;
    return rc;
}
