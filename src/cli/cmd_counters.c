/*
 * cli/cmd_counters.c - `cloudflow counters`: the sFlow interface counters
 * of the counter store (store/counters.h) as per-interface time series of
 * rates, one row per sample: in/out bits and packets per second since the
 * previous sample of the same agent, sub-agent and ifIndex.
 *
 * Exit status: 0 success; 1 when a file or record was damaged (reported
 * with its path and offset and skipped; the rest is printed); 2 bad
 * options or a data directory that does not exist.
 */
#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/array.h"
#include "core/timeutil.h"
#include "flow/flow.h"
#include "store/counters.h"

enum { OPT_DATA = 1000, OPT_AGENT, OPT_IF, OPT_HELP };

/* What the command line asked for. */
typedef struct ctr_args {
    const char *dir;
    uint64_t from_ms, to_ms;
    uint8_t agent[16];
    int has_agent;
    uint32_t if_index;
    int has_if;
    int csv;
} ctr_args;

/* The samples read, in a growing array. */
typedef struct ctr_set {
    counters_record *v;
    size_t n, cap;
    int damaged; /* a file or record could not be read */
} ctr_set;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cloudflow counters [-R DIR] [-t FROM[-TO]] [--agent ADDR] [--if N] [-o line|csv]\n"
            "Prints the sFlow interface counters of the counter store as time series of rates:\n"
            "one row per sample, with in/out bits/s and packets/s since the previous sample of\n"
            "the same agent, sub-agent and interface (counter wraps and resets handled).\n\n"
            "  -R DIR, --data DIR  data directory, a source directory or one counter file\n"
            "                      (default /var/lib/cloudflow)\n"
            "  -t FROM[-TO]        time window (nfdump form YYYY/MM/DD.hh:mm:ss, ISO or epoch)\n"
            "  --agent ADDR        only this sFlow agent address\n"
            "  --if N              only this ifIndex\n"
            "  -o line|csv         output format (default line)\n"
            "  --help              this text\n"
            "Exit: 0 ok, 1 damaged data met (reported, skipped), 2 bad options or no such directory.\n");
}

static int parse_args(int argc, char **argv, ctr_args *a)
{
    static const struct option longopts[] = {{"data", required_argument, NULL, OPT_DATA},
                                             {"agent", required_argument, NULL, OPT_AGENT},
                                             {"if", required_argument, NULL, OPT_IF},
                                             {"help", no_argument, NULL, OPT_HELP},
                                             {NULL, 0, NULL, 0}};
    int c;
    uint8_t family;
    char *end;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":R:w:t:o:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'R':
        case 'w':
        case OPT_DATA: a->dir = optarg; break;
        case 't':
            if (cf_time_parse_window(optarg, &a->from_ms, &a->to_ms) != CF_OK) {
                fprintf(stderr, "cloudflow counters: -t: '%s' is not a time window FROM[-TO]\n", optarg);
                return CF_EXIT_USAGE;
            }
            break;
        case OPT_AGENT:
            if (flow_addr_parse(optarg, a->agent, &family) != CF_OK) {
                fprintf(stderr, "cloudflow counters: --agent: '%s' is not an address\n", optarg);
                return CF_EXIT_USAGE;
            }
            a->has_agent = 1;
            break;
        case OPT_IF: {
            unsigned long long v = strtoull(optarg, &end, 10);
            if (!optarg[0] || optarg[0] == '-' || *end || v > UINT32_MAX) {
                fprintf(stderr, "cloudflow counters: --if: '%s' is not an ifIndex\n", optarg);
                return CF_EXIT_USAGE;
            }
            a->if_index = (uint32_t)v;
            a->has_if = 1;
            break;
        }
        case 'o':
            if (strcmp(optarg, "csv") != 0 && strcmp(optarg, "line") != 0) {
                fprintf(stderr, "cloudflow counters: -o: '%s' is not line or csv\n", optarg);
                return CF_EXIT_USAGE;
            }
            a->csv = strcmp(optarg, "csv") == 0;
            break;
        case 'h':
        case OPT_HELP: usage(stdout); return -1;
        case ':':
            fprintf(stderr, "cloudflow counters: option '%s' needs a value\n", argv[optind - 1]);
            return CF_EXIT_USAGE;
        default:
            fprintf(stderr, "cloudflow counters: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return CF_EXIT_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "cloudflow counters: unexpected argument '%s' (see --help)\n", argv[optind]);
        return CF_EXIT_USAGE;
    }
    return 0;
}

static bool wanted(const ctr_args *a, const counters_record *r)
{
    return r->time_ms >= a->from_ms && r->time_ms <= a->to_ms && (!a->has_agent || !memcmp(r->agent, a->agent, 16)) &&
           (!a->has_if || r->if_index == a->if_index);
}

static int add_record(ctr_set *s, const counters_record *r)
{
    if (cf_array_grow(&s->v, &s->cap, s->n + 1, sizeof(*s->v), 256) != CF_OK)
        return -1;
    s->v[s->n++] = *r;
    return 0;
}

/* Reads the wanted records of one file; damage is reported and skipped. */
static int read_file(const ctr_args *a, const char *path, ctr_set *s)
{
    counters_reader *r = NULL;
    cf_err err = counters_reader_open(path, &r);
    if (err) {
        fprintf(stderr, "cloudflow counters: %s: offset 0: %s (file skipped)\n", path,
                err == CF_ERR_CORRUPT ? "not a counter file or damaged header" : cf_err_str(err));
        s->damaged = 1;
        return 0;
    }
    counters_record rec;
    while ((err = counters_reader_next(r, &rec)) != CF_ERR_EOF) {
        if (err == CF_ERR_CORRUPT) {
            fprintf(stderr, "cloudflow counters: %s: offset %" PRIu64 ": damaged record (checksum), skipped\n", path,
                    counters_reader_offset(r));
            s->damaged = 1;
            continue;
        }
        if (err) {
            fprintf(stderr, "cloudflow counters: %s: %s (rest of the file skipped)\n", path, cf_err_str(err));
            s->damaged = 1;
            break;
        }
        if (wanted(a, &rec) && add_record(s, &rec) != 0) {
            counters_reader_close(r);
            return -1;
        }
    }
    counters_reader_close(r);
    return 0;
}

static int cmp_series(const counters_record *x, const counters_record *y)
{
    int c = memcmp(x->agent, y->agent, 16);
    if (c)
        return c;
    if (x->sub_agent != y->sub_agent)
        return x->sub_agent < y->sub_agent ? -1 : 1;
    if (x->if_index != y->if_index)
        return x->if_index < y->if_index ? -1 : 1;
    return 0;
}

static int cmp_sample(const void *a, const void *b)
{
    const counters_record *x = a, *y = b;
    int c = cmp_series(x, y);
    if (c)
        return c;
    if (x->time_ms != y->time_ms)
        return x->time_ms < y->time_ms ? -1 : 1;
    return x->sample_seq < y->sample_seq ? -1 : x->sample_seq > y->sample_seq;
}

static const char *rate_note(const counters_record *prev, const counters_rate *rt)
{
    if (!prev)
        return "first";
    return rt->status == COUNTERS_RATE_RESET ? "reset" : rt->status == COUNTERS_RATE_NO_TIME ? "no-time" : "";
}

static void print_csv(const counters_record *r, const counters_record *prev, const counters_rate *rt)
{
    char t[32], agent[64], exporter[64];
    cf_time_format_iso(r->time_ms, t, sizeof(t));
    flow_addr_format(r->agent, agent, sizeof(agent));
    flow_addr_format(r->exporter, exporter, sizeof(exporter));
    printf("%s,%s,%u,%s,%u,%u,%" PRIu64 ",%u,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",", t, agent,
           r->sub_agent, exporter, r->if_index, r->if_type, r->if_speed, r->if_status, r->in_octets, r->out_octets,
           r->in_packets, r->out_packets);
    if (prev && rt->status == COUNTERS_RATE_OK)
        printf("%.3f,%.0f,%.0f,%.3f,%.3f,%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",%" PRIu64 ",", rt->interval_ms / 1000.0,
               rt->in_bps, rt->out_bps, rt->in_pps, rt->out_pps, rt->in_errors, rt->out_errors, rt->in_discards,
               rt->out_discards);
    else
        printf(",,,,,,,,,");
    printf("%s\n", rate_note(prev, rt));
}

/* 1234567 -> "1.23M" */
static void human(double v, char *buf, size_t len)
{
    static const char *const units[] = {"", "k", "M", "G", "T"};
    int u = 0;
    while (v >= 1000.0 && u < 4) {
        v /= 1000.0;
        u++;
    }
    snprintf(buf, len, u ? "%.2f%s" : "%.0f%s", v, units[u]);
}

static void print_line(const counters_record *r, const counters_record *prev, const counters_rate *rt)
{
    char t[32], agent[64], ib[16], ob[16], ip[16], op[16];
    cf_time_format_iso(r->time_ms, t, sizeof(t));
    flow_addr_format(r->agent, agent, sizeof(agent));
    if (prev && rt->status == COUNTERS_RATE_OK) {
        human(rt->in_bps, ib, sizeof(ib)), human(rt->out_bps, ob, sizeof(ob));
        human(rt->in_pps, ip, sizeof(ip)), human(rt->out_pps, op, sizeof(op));
    } else {
        snprintf(ib, sizeof(ib), "-"), snprintf(ob, sizeof(ob), "-");
        snprintf(ip, sizeof(ip), "-"), snprintf(op, sizeof(op), "-");
    }
    printf("%-24s %-16s %4u %8u %10s %10s %10s %10s %s\n", t, agent, r->sub_agent, r->if_index, ib, ob, ip, op,
           rate_note(prev, rt));
}

static void print_all(const ctr_args *a, const ctr_set *s)
{
    if (a->csv)
        printf("time,agent,sub_agent,exporter,if_index,if_type,if_speed,if_status,in_octets,out_octets,"
               "in_packets,out_packets,interval_s,in_bps,out_bps,in_pps,out_pps,in_errors,out_errors,"
               "in_discards,out_discards,note\n");
    else
        printf("%-24s %-16s %4s %8s %10s %10s %10s %10s %s\n", "time", "agent", "sub", "ifIndex", "in bps",
               "out bps", "in pps", "out pps", "note");
    for (size_t i = 0; i < s->n; i++) {
        const counters_record *prev = i > 0 && cmp_series(&s->v[i - 1], &s->v[i]) == 0 ? &s->v[i - 1] : NULL;
        counters_rate rt;
        memset(&rt, 0, sizeof(rt));
        if (prev)
            counters_rate_compute(prev, &s->v[i], &rt);
        if (a->csv)
            print_csv(&s->v[i], prev, &rt);
        else
            print_line(&s->v[i], prev, &rt);
    }
}

int cmd_counters(int argc, char **argv)
{
    ctr_args a;
    memset(&a, 0, sizeof(a));
    a.dir = "/var/lib/cloudflow";
    a.to_ms = UINT64_MAX;
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? CF_EXIT_OK : rc;
    char **paths = NULL;
    size_t n = 0;
    cf_err err = counters_list(a.dir, a.from_ms, a.to_ms, &paths, &n);
    if (err) {
        fprintf(stderr, "cloudflow counters: %s: %s\n", a.dir, cf_err_str(err));
        return err == CF_ERR_NOT_FOUND ? CF_EXIT_USAGE : CF_EXIT_FAIL;
    }
    ctr_set s;
    memset(&s, 0, sizeof(s));
    rc = CF_EXIT_OK;
    for (size_t i = 0; i < n && rc == CF_EXIT_OK; i++)
        if (read_file(&a, paths[i], &s) != 0) {
            fprintf(stderr, "cloudflow counters: out of memory\n");
            rc = CF_EXIT_FAIL;
        }
    counters_paths_free(paths, n);
    if (rc == CF_EXIT_OK) {
        if (s.n)
            qsort(s.v, s.n, sizeof(*s.v), cmp_sample);
        print_all(&a, &s);
        if (s.damaged)
            rc = CF_EXIT_FAIL;
    }
    free(s.v);
    return rc;
}
