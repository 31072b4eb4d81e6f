/*
 * cli/cmd_stats.c - `cloudflow stats [-w DIR|--data DIR] [--raw]`: prints the
 * statistics a collector keeps in DIR/stats.tsv (format in collect/stats.h),
 * rewritten every 10 s and at exit.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "cli/commands.h"
#include "collect/stats.h"
#include "core/timeutil.h"

enum { OPT_DATA = 1000, OPT_RAW, OPT_HELP };

static void usage(FILE *out)
{
    fprintf(out, "usage: cloudflow stats [--data DIR | -w DIR] [--raw]\n"
                 "Prints the collector statistics of DIR/stats.tsv (default DIR /var/lib/cloudflow).\n\n"
                 "  --data DIR, -w DIR  data directory of the collector\n"
                 "  --raw               print the file as it is (scope, counter, value)\n"
                 "  --help              this text\n");
}

static void print_malformed(const uint64_t *m)
{
    uint64_t sum = 0;
    for (int r = 0; r < DECODE_N_REASONS; r++)
        sum += m[r];
    printf("  %-22s %" PRIu64, "malformed", sum);
    if (sum) {
        printf(" (");
        const char *sep = "";
        for (int r = 0; r < DECODE_N_REASONS; r++)
            if (m[r]) {
                printf("%s%s %" PRIu64, sep, decode_reason_name((decode_reason)r), m[r]);
                sep = ", ";
            }
        printf(")");
    }
    printf("\n");
}

/* The v9/IPFIX and sFlow counters worth a look, printed when non-zero. */
static void print_decoder(const decode_tpl_stats *x, const decode_sflow_stats *f)
{
    const struct {
        const char *name;
        uint64_t v;
    } rows[] = {
        {"templates", x->templates_added + x->templates_replaced},
        {"templates refused", x->refused_full + x->refused_fields},
        {"bad templates", x->bad_template + x->bad_template_id + x->bad_set_id},
        {"bad data sets", x->bad_data_sets},
        {"data before template", x->unknown_template},
        {"  decoded later", x->pending_decoded},
        {"  expired", x->pending_expired},
        {"  no room", x->pending_overflow},
        {"sampling unknown", x->sampling_unknown},
        {"enterprise fields", x->enterprise_fields},
        {"biflow records", x->biflow_records},
        {"sflow datagrams", f->datagrams},
        {"sflow counter samples", f->counter_samples},
        {"sflow agent drops", f->drops},
        {"sflow unknown", f->unknown_samples + f->unknown_records},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        if (rows[i].v)
            printf("  %-22s %" PRIu64 "\n", rows[i].name, rows[i].v);
}

static void print_pretty(const collect_snapshot *s)
{
    const collect_totals *t = &s->totals;
    char when[32], started[32];
    cf_time_format_iso(t->time_ms, when, sizeof(when));
    cf_time_format_iso(t->started_ms, started, sizeof(started));
    printf("collector (written %s, started %s)\n", when, started);
    const struct {
        const char *name;
        uint64_t v;
    } rows[] = {
        {"datagrams", t->datagrams},
        {"datagram bytes", t->datagram_bytes},
        {"records decoded", t->records},
        {"records stored", t->store_written},
        {"exporters", t->exporters},
        {"lost by sequence", t->lost_sequence},
        {"kernel drops", t->kernel_drops},
        {"queue drops (batches)", t->queue_drop_batches},
        {"queue drops (records)", t->queue_drop_records},
        {"exporter limit drops", t->exporter_limit_drops},
        {"store lost", t->store_lost},
        {"store write errors", t->store_write_errors},
        {"segments closed", t->store_segments_closed},
        {"templates loaded", t->templates_loaded},
        {"template file errors", t->templates_load_errors + t->templates_save_errors},
        {"names loaded", t->names_loaded},
        {"names file errors", t->names_load_errors + t->names_save_errors},
        {"counters stored", t->counters_stored},
        {"counters dropped", t->counters_queue_drops + t->counters_lost},
        {"refused (allow-list)", t->refused},
        {"forwarded", t->forwarded},
        {"forward errors", t->forward_errors},
        {"tcp connections", t->tcp_connections},
        {"tcp messages", t->tcp_messages},
        {"tcp bad streams", t->tcp_bad_streams},
        {"memory (bytes)", t->rss_bytes},
        {"memory peak (bytes)", t->rss_peak_bytes},
    };
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        printf("  %-22s %" PRIu64 "\n", rows[i].name, rows[i].v);
    print_malformed(t->malformed);
    print_decoder(&t->tpl, &t->sflow);
    for (size_t i = 0; i < s->n_exporters; i++) {
        const collect_exporter_stats *e = &s->exporters[i];
        char name[80], seen[32];
        collect_exporter_name(e->addr, e->port, name, sizeof(name));
        cf_time_format_iso(e->s.last_seen_ms, seen, sizeof(seen));
        printf("exporter %s (last seen %s)\n", name, seen);
        printf("  %-22s %" PRIu64 "\n  %-22s %" PRIu64 "\n  %-22s %" PRIu64 "\n  %-22s %" PRIu64 "\n", "packets",
               e->s.packets, "bytes", e->s.bytes, "records", e->s.records, "lost by sequence", e->s.lost);
        print_malformed(e->s.malformed);
        print_decoder(&e->tpl, &e->sflow);
    }
}

int cmd_stats(int argc, char **argv)
{
    static const struct option longopts[] = {{"data", required_argument, NULL, OPT_DATA},
                                             {"raw", no_argument, NULL, OPT_RAW},
                                             {"help", no_argument, NULL, OPT_HELP},
                                             {NULL, 0, NULL, 0}};
    const char *dir = "/var/lib/cloudflow";
    int raw = 0, c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":w:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'w':
        case OPT_DATA: dir = optarg; break;
        case OPT_RAW: raw = 1; break;
        case 'h':
        case OPT_HELP: usage(stdout); return CF_EXIT_OK;
        case ':':
            fprintf(stderr, "cloudflow stats: option '%s' needs a value\n", argv[optind - 1]);
            return CF_EXIT_USAGE;
        default:
            fprintf(stderr, "cloudflow stats: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return CF_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cloudflow stats: unexpected argument '%s' (see --help)\n", argv[optind]);
        return CF_EXIT_USAGE;
    }
    char path[4200], err[4400];
    snprintf(path, sizeof(path), "%s/%s", dir, COLLECT_STATS_FILE);
    collect_snapshot s;
    cf_err e = collect_stats_read(path, &s, err, sizeof(err));
    if (e) {
        fprintf(stderr, "cloudflow stats: %s\n", err);
        return CF_EXIT_USAGE;
    }
    if (raw)
        collect_stats_print(&s, stdout);
    else
        print_pretty(&s);
    collect_snapshot_free(&s);
    return CF_EXIT_OK;
}
