/*
 * cli/cmd_import.c - `cloudflow import FILE.pcap --data DIR`: decodes the
 * export packets of a capture into the store, through the same pipeline as
 * live traffic (collect/pipeline.h); the exporter of each packet is its IP
 * source address and UDP source port.
 *
 * Exit status: 0 success; 2 bad options or a file that cannot be read (or is
 * damaged part-way: what was read before the damage is stored); 1 any other
 * failure (store).
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "capture/capture.h"
#include "cli/commands.h"
#include "collect/config.h"
#include "collect/pipeline.h"
#include "core/log.h"

enum { OPT_DATA = 1000, OPT_COMPRESS, OPT_ROTATE, OPT_HELP };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cloudflow import FILE.pcap[ng] [--data DIR] [--compress lz4|zstd|none] [--rotate DURATION]\n"
            "Decodes the NetFlow/IPFIX/sFlow packets of a capture into the store, as if they\n"
            "had been received live (exporter = the packet's source address and port).\n\n"
            "  --data DIR, -w DIR  data directory (default /var/lib/cloudflow)\n"
            "  --compress C        column compression (default lz4)\n"
            "  --rotate DURATION   segment window (default 5m)\n"
            "  --help              this text\n"
            "The store admits one writer per source: importing into the data directory of a\n"
            "running collector fails (stop it first, or import into another directory).\n");
}

/* Parses argv; -1 help, 0 ok, 2 usage error. */
static int parse_args(int argc, char **argv, collect_config *cfg, const char **file)
{
    static const struct option longopts[] = {{"data", required_argument, NULL, OPT_DATA},
                                             {"compress", required_argument, NULL, OPT_COMPRESS},
                                             {"rotate", required_argument, NULL, OPT_ROTATE},
                                             {"help", no_argument, NULL, OPT_HELP},
                                             {NULL, 0, NULL, 0}};
    char err[512];
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":w:h", longopts, NULL)) != -1) {
        const char *key = NULL;
        switch (c) {
        case 'w':
        case OPT_DATA: key = "data"; break;
        case OPT_COMPRESS: key = "compress"; break;
        case OPT_ROTATE: key = "rotate"; break;
        case 'h':
        case OPT_HELP: usage(stdout); return -1;
        case ':':
            fprintf(stderr, "cloudflow import: option '%s' needs a value\n", argv[optind - 1]);
            return CF_EXIT_USAGE;
        default:
            fprintf(stderr, "cloudflow import: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return CF_EXIT_USAGE;
        }
        if (collect_config_set(cfg, key, optarg, COLLECT_ORIGIN_CLI, err, sizeof(err)) != CF_OK) {
            fprintf(stderr, "cloudflow import: option --%s: %s\n", key, err);
            return CF_EXIT_USAGE;
        }
    }
    if (optind + 1 != argc) {
        fprintf(stderr, "cloudflow import: expected exactly one capture file (see --help)\n");
        return CF_EXIT_USAGE;
    }
    *file = argv[optind];
    return 0;
}

static void print_summary(const char *file, const capture_stats *cs, const collect_snapshot *s)
{
    const collect_totals *t = &s->totals;
    printf("file: %s\n", file);
    printf("frames: %" PRIu64 "\n", cs->frames);
    printf("datagrams: %" PRIu64 "\n", t->datagrams);
    printf("exporters: %" PRIu64 "\n", t->exporters);
    printf("records decoded: %" PRIu64 "\n", t->records);
    printf("records stored: %" PRIu64 "\n", t->store_written);
    printf("records lost: %" PRIu64 "\n", t->store_lost + t->queue_drop_records);
    printf("lost by sequence: %" PRIu64 "\n", t->lost_sequence);
    printf("malformed:");
    for (int r = 0; r < DECODE_N_REASONS; r++)
        printf(" %s=%" PRIu64, decode_reason_name((decode_reason)r), t->malformed[r]);
    printf("\nskipped frames: not_udp=%" PRIu64 " fragments=%" PRIu64 " truncated=%" PRIu64 "\n", cs->not_udp,
           cs->fragments, cs->truncated);
}

/* Feeds every datagram of c to p.  CF_OK at the end of the file, or the
 * capture error. */
static cf_err feed(capture *c, collect_pipeline *p)
{
    capture_datagram d;
    cf_err e;
    while ((e = capture_next(c, &d)) == CF_OK)
        collect_pipeline_packet(p, d.src_addr, d.src_port, d.payload, d.len, d.time_ms);
    return e == CF_ERR_EOF ? CF_OK : e;
}

static int run_import(const collect_config *cfg, const char *file)
{
    char err[1200];
    capture *c = NULL;
    if (capture_open(file, &c, err, sizeof(err)) != CF_OK) {
        fprintf(stderr, "cloudflow import: %s\n", err);
        return CF_EXIT_USAGE;
    }
    collect_pipeline_options po;
    collect_pipeline_options_default(&po);
    po.data_dir = cfg->data_dir;
    po.store.rotate_s = (uint32_t)cfg->rotate_s;
    po.store.flush_ms = (uint32_t)cfg->flush_ms;
    po.store.codec = cfg->compress;
    po.max_exporters = (uint32_t)cfg->max_exporters;
    po.block_when_full = 1;
    po.write_stats_file = 0;
    po.stats_interval_ms = 0;
    po.log_interval_ms = 0;
    collect_pipeline *p = NULL;
    if (collect_pipeline_open(&po, &p, err, sizeof(err)) != CF_OK) {
        fprintf(stderr, "cloudflow import: %s\n", err);
        capture_close(c);
        return CF_EXIT_FAIL;
    }
    int rc = CF_EXIT_OK;
    cf_err e = feed(c, p);
    capture_stats cs;
    capture_get_stats(c, &cs);
    if (e) {
        fprintf(stderr, "cloudflow import: %s: damaged after frame %" PRIu64 " (%s); what was read before is stored\n",
                file, cs.frames, cf_err_str(e));
        rc = CF_EXIT_USAGE;
    }
    collect_snapshot s;
    if (collect_pipeline_close(p, &s) != CF_OK) {
        fprintf(stderr, "cloudflow import: the store could not be closed cleanly (see the log)\n");
        rc = CF_EXIT_FAIL;
    }
    print_summary(file, &cs, &s);
    if (rc == CF_EXIT_OK && (s.totals.store_lost || s.totals.queue_drop_records))
        rc = CF_EXIT_FAIL;
    collect_snapshot_free(&s);
    capture_close(c);
    return rc;
}

int cmd_import(int argc, char **argv)
{
    collect_config *cfg = malloc(sizeof(*cfg));
    if (!cfg)
        return CF_EXIT_FAIL;
    collect_config_default(cfg);
    const char *file = NULL;
    int rc = parse_args(argc, argv, cfg, &file);
    if (rc == 0) {
        cf_log_set_level(CF_LOG_WARN);
        rc = run_import(cfg, file);
    }
    free(cfg);
    return rc < 0 ? CF_EXIT_OK : rc;
}
