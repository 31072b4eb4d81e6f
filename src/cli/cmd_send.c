/*
 * cli/cmd_send.c - `cloudflow send`: a simulated exporter (src/sim) sending
 * realistic flows to a collector, bounded by count, rate and time.
 *
 * Prints one line: what was sent, including the sums of the packet and byte
 * counters inside the records, so that a test can compare a collector's
 * totals exactly.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "collect/listener.h"
#include "core/timeutil.h"
#include "sim/sim.h"

enum { OPT_TO = 1000, OPT_COUNT, OPT_RATE, OPT_SEED, OPT_PROTO, OPT_EXPORTERS, OPT_START, OPT_SPAN, OPT_MAX_TIME,
       OPT_SRC_PORT, OPT_NO_TEMPLATES, OPT_HELP };

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cloudflow send [OPTIONS]\n"
            "Simulates exporters: generates realistic flows and sends them as export packets.\n\n"
            "  --to ADDR:PORT      destination (default 127.0.0.1:2055; [::1]:PORT for IPv6)\n"
            "  --count N           flows to send (default 10000)\n"
            "  --rate N            flows per second (default 1000; 0 = as fast as possible)\n"
            "  --seed N            random seed: same seed, same flows (default 1)\n"
            "  --proto P           export protocol: %s (default v5)\n"
            "  --exporters N       simulated exporters, one source port each (default 1)\n"
            "  --start TIME        flow time of the first flow (nfdump, ISO or epoch form);\n"
            "                      default: flows end at the current time\n"
            "  --span DURATION     with --start: spread flow end times over this (default 5m)\n"
            "  --max-time SECONDS  stop after this much wall time (default 3600)\n"
            "  --src-port N        send from UDP source port N (exporter i: N + i); default any\n"
            "  --no-templates      v9/ipfix: send data sets only, never the templates (as an\n"
            "                      exporter whose collector restarted between two refreshes)\n"
            "  --help              this text\n"
            "Output: sent flows=N packets=N udp_bytes=N rec_packets=N rec_bytes=N send_errors=N elapsed=S\n",
            sim_encoder_names());
}

static int parse_u64(const char *opt, const char *text, uint64_t *out)
{
    char *end;
    if (!text[0] || text[0] == '-') {
        fprintf(stderr, "cloudflow send: %s: '%s' is not a number\n", opt, text);
        return -1;
    }
    unsigned long long v = strtoull(text, &end, 10);
    if (*end) {
        fprintf(stderr, "cloudflow send: %s: '%s' is not a number\n", opt, text);
        return -1;
    }
    *out = v;
    return 0;
}

static int parse_double(const char *opt, const char *text, double *out)
{
    char *end;
    double v = strtod(text, &end);
    if (!text[0] || *end || v < 0 || v != v) {
        fprintf(stderr, "cloudflow send: %s: '%s' is not a non-negative number\n", opt, text);
        return -1;
    }
    *out = v;
    return 0;
}

/* Parses argv into *o.  -1: help printed (exit 0); 0 ok; 2 usage error. */
static int parse_args(int argc, char **argv, sim_send_options *o)
{
    static const struct option longopts[] = {
        {"to", required_argument, NULL, OPT_TO},       {"count", required_argument, NULL, OPT_COUNT},
        {"rate", required_argument, NULL, OPT_RATE},   {"seed", required_argument, NULL, OPT_SEED},
        {"proto", required_argument, NULL, OPT_PROTO}, {"exporters", required_argument, NULL, OPT_EXPORTERS},
        {"start", required_argument, NULL, OPT_START}, {"span", required_argument, NULL, OPT_SPAN},
        {"max-time", required_argument, NULL, OPT_MAX_TIME}, {"help", no_argument, NULL, OPT_HELP},
        {"src-port", required_argument, NULL, OPT_SRC_PORT}, {"no-templates", no_argument, NULL, OPT_NO_TEMPLATES},
        {NULL, 0, NULL, 0}};
    const char *to = "127.0.0.1:2055";
    uint64_t v, span_s = 300;
    int c, bad = 0;
    optind = 1;
    opterr = 0;
    while (!bad && (c = getopt_long(argc, argv, ":h", longopts, NULL)) != -1) {
        switch (c) {
        case OPT_TO: to = optarg; break;
        case OPT_COUNT: bad = parse_u64("--count", optarg, &o->count); break;
        case OPT_RATE: bad = parse_double("--rate", optarg, &o->rate); break;
        case OPT_SEED: bad = parse_u64("--seed", optarg, &o->gen.seed); break;
        case OPT_PROTO: o->proto = optarg; break;
        case OPT_EXPORTERS:
            bad = parse_u64("--exporters", optarg, &v);
            if (!bad && (v < 1 || v > 1000)) {
                fprintf(stderr, "cloudflow send: --exporters: must be 1..1000\n");
                bad = 1;
            }
            o->exporters = (uint32_t)v;
            break;
        case OPT_START:
            if (cf_time_parse(optarg, &o->start_ms) != CF_OK) {
                fprintf(stderr, "cloudflow send: --start: '%s' is not a time\n", optarg);
                bad = 1;
            }
            break;
        case OPT_SPAN:
            if (cf_duration_parse(optarg, &span_s) != CF_OK) {
                fprintf(stderr, "cloudflow send: --span: '%s' is not a duration\n", optarg);
                bad = 1;
            }
            break;
        case OPT_MAX_TIME: bad = parse_double("--max-time", optarg, &o->max_seconds); break;
        case OPT_SRC_PORT:
            bad = parse_u64("--src-port", optarg, &v);
            if (!bad && (v < 1 || v > 65535)) {
                fprintf(stderr, "cloudflow send: --src-port: must be 1..65535\n");
                bad = 1;
            }
            o->src_port = (uint16_t)v;
            break;
        case OPT_NO_TEMPLATES: o->no_templates = 1; break;
        case OPT_HELP:
        case 'h': usage(stdout); return -1;
        case ':':
            fprintf(stderr, "cloudflow send: option '%s' needs a value\n", argv[optind - 1]);
            return CF_EXIT_USAGE;
        default:
            fprintf(stderr, "cloudflow send: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return CF_EXIT_USAGE;
        }
    }
    if (bad)
        return CF_EXIT_USAGE;
    if (optind < argc) {
        fprintf(stderr, "cloudflow send: unexpected argument '%s' (see --help)\n", argv[optind]);
        return CF_EXIT_USAGE;
    }
    if (collect_addr_parse(to, 2055, &o->to, &o->to_len) != CF_OK) {
        fprintf(stderr, "cloudflow send: --to: '%s' is not ADDR:PORT\n", to);
        return CF_EXIT_USAGE;
    }
    if (!sim_encoder_find(o->proto)) {
        fprintf(stderr, "cloudflow send: --proto: '%s' is not one of %s\n", o->proto, sim_encoder_names());
        return CF_EXIT_USAGE;
    }
    if (o->count == 0) {
        fprintf(stderr, "cloudflow send: --count: must be at least 1\n");
        return CF_EXIT_USAGE;
    }
    o->span_ms = span_s * 1000;
    return 0;
}

int cmd_send(int argc, char **argv)
{
    sim_send_options o;
    sim_send_options_default(&o);
    o.max_seconds = 3600;
    int rc = parse_args(argc, argv, &o);
    if (rc)
        return rc < 0 ? CF_EXIT_OK : rc;
    sim_send_result res;
    char err[256];
    cf_err e = sim_send_run(&o, NULL, &res, err, sizeof(err));
    printf("sent flows=%llu packets=%llu udp_bytes=%llu rec_packets=%llu rec_bytes=%llu send_errors=%llu "
           "elapsed=%.3f\n",
           (unsigned long long)res.flows, (unsigned long long)res.packets, (unsigned long long)res.udp_bytes,
           (unsigned long long)res.rec_packets, (unsigned long long)res.rec_bytes,
           (unsigned long long)res.send_errors, res.elapsed_s);
    if (e) {
        fprintf(stderr, "cloudflow send: %s\n", err);
        return e == CF_ERR_USAGE ? CF_EXIT_USAGE : CF_EXIT_FAIL;
    }
    if (res.flows < o.count)
        fprintf(stderr, "cloudflow send: stopped early: %llu of %llu flows sent (%llu datagrams failed)\n",
                (unsigned long long)res.flows, (unsigned long long)o.count, (unsigned long long)res.send_errors);
    return res.send_errors ? CF_EXIT_FAIL : CF_EXIT_OK;
}
