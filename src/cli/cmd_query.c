/*
 * cli/cmd_query.c - `cloudflow query`: nfdump-style options in, query_run()
 * out.  Only parses the command line; the engine is src/query (query.h).
 */
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "core/timeutil.h"
#include "query/query.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cloudflow query -r FILE|DIR | -R DIR | -M DIR1:DIR2... [options] [FILTER]\n"
            "  -r PATH        read a segment file or a directory of segments\n"
            "  -R DIR         read every source under a data directory\n"
            "  -M D1:D2:...   read several sources\n"
            "  -t FROM[-TO]   time window (2024/01/01.02:00:00 or ISO 8601); flows inside it\n"
            "  -f FILE        read the filter from FILE\n"
            "  -o FORMAT      line (default), long, extended, csv, json, ndjson, null, biline, bilong, fmt:...\n"
            "  -s ELEM[/ORDER]  top-N statistics of an element (several -s allowed); record: top N aggregated flows\n"
            "  -A FIELDS      aggregate by fields (srcip,dstip,srcip4/24,proto,...); -a: 5-tuple\n"
            "  -b, -B         bidirectional flows: a flow and its reverse as one record (in/out counters);\n"
            "                 -B turns records client -> server by their ports\n"
            "  -O ORDER       order listed/aggregated flows: flows packets bytes pps bps bpp tstart tend\n"
            "  -n N           rows of statistics and ordered listings (default 10 for -s; 0: all)\n"
            "  -c N           stop after N matching records\n"
            "  -I             print flow statistics (Flows:, Packets:, Bytes: ...)\n"
            "  -q             no header and no summary\n"
            "  -N             plain numbers (no 1.2 M scaling)\n"
            "  -6             full IPv6 addresses\n"
            "  -T N           worker threads (default: online CPUs)\n"
            "  --max-keys N   keys per statistics table (default 33554432)\n"
            "  --pass-rows N  -A top N: rows per thread and pass over the data (default 8388608)\n"
            "  --interval DUR time series instead of records: flows, packets, bytes per bin of DUR\n"
            "                 (300, 5m, 1h, 1d; UTC-aligned), total and per protocol; -o csv/json\n"
            "  --spread       with --interval: share each flow's packets and bytes over [first, last]\n"
            "docs/QUERY.md describes every option and the output formats.\n");
}

static int parse_u64(const char *s, uint64_t *out)
{
    char *end;
    if (!s || !*s || *s == '-')
        return -1;
    unsigned long long v = strtoull(s, &end, 10);
    if (*end)
        return -1;
    *out = v;
    return 0;
}

/* Reads a filter file into a malloc'ed string (newlines become spaces). */
static char *read_filter_file(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return NULL;
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int c;
    while (buf && (c = fgetc(f)) != EOF) {
        if (len + 2 > cap) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                buf = NULL;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        buf[len++] = (char)(c == '\n' || c == '\r' ? ' ' : c);
    }
    fclose(f);
    if (buf)
        buf[len] = '\0';
    return buf;
}

static int parse_format(const char *arg, query_options *o)
{
    static const struct {
        const char *name;
        query_format f;
    } names[] = {
        {"line", QUERY_OUT_LINE}, {"long", QUERY_OUT_LONG},     {"extended", QUERY_OUT_EXTENDED},
        {"csv", QUERY_OUT_CSV},   {"json", QUERY_OUT_JSON},     {"ndjson", QUERY_OUT_NDJSON},
        {"null", QUERY_OUT_NULL}, {"biline", QUERY_OUT_BILINE}, {"bilong", QUERY_OUT_BILONG},
    };
    if (strncmp(arg, "fmt:", 4) == 0) {
        o->format = QUERY_OUT_FMT;
        o->fmt = arg + 4;
        return 0;
    }
    for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        if (strcmp(arg, names[i].name) == 0) {
            o->format = names[i].f;
            return 0;
        }
    }
    return -1;
}

/* Splits "d1:d2:d3" (modified in place) into o->paths. */
static int add_multi(char *arg, query_options *o)
{
    for (char *s = strtok(arg, ":"); s; s = strtok(NULL, ":")) {
        if (o->n_paths == QUERY_MAX_PATHS)
            return -1;
        o->paths[o->n_paths++] = s;
    }
    return 0;
}

typedef struct cli_state {
    query_options o;
    bool format_given;  /* -o was given (else -b / -B print biline) */
    char *filter_file_text;
    char *filter_args;
} cli_state;

/* Handles one option; returns 0, or -1 for a usage error (message printed). */
static int handle_opt(int c, char *arg, cli_state *st)
{
    query_options *o = &st->o;
    uint64_t v;
    size_t n;
    switch (c) {
    case 'r':
    case 'R':
        if (o->n_paths == QUERY_MAX_PATHS)
            return -1;
        o->paths[o->n_paths++] = arg;
        return 0;
    case 'M': return add_multi(arg, o);
    case 't':
        if (cf_time_parse_window(arg, &o->from_ms, &o->to_ms) != CF_OK) {
            fprintf(stderr, "cloudflow query: bad time window '%s'\n", arg);
            return -1;
        }
        return 0;
    case 'f':
        free(st->filter_file_text);
        st->filter_file_text = read_filter_file(arg);
        if (!st->filter_file_text) {
            fprintf(stderr, "cloudflow query: cannot read filter file '%s'\n", arg);
            return -1;
        }
        return 0;
    case 'o':
        if (parse_format(arg, o) != 0) {
            fprintf(stderr, "cloudflow query: unknown output format '%s'\n", arg);
            return -1;
        }
        st->format_given = true;
        return 0;
    case 's':
        if (query_stat_parse(arg, o->stat_elem + o->n_stats, o->stat_order + o->n_stats,
                             QUERY_MAX_STATS - o->n_stats, &n) != CF_OK) {
            fprintf(stderr, "cloudflow query: unknown statistic '%s'\n", arg);
            return -1;
        }
        o->n_stats += n;
        return 0;
    case 'A':
        if (query_agg_parse(arg, o->agg, QUERY_MAX_AGG_KEYS, &o->n_agg) != CF_OK) {
            fprintf(stderr, "cloudflow query: bad aggregation '%s'\n", arg);
            return -1;
        }
        o->aggregate = true;
        return 0;
    case 'a': o->aggregate = true; return 0;
    case 'b':
    case 'B':
        o->aggregate = true;
        o->bidir = c == 'b' ? QUERY_BIDIR_ON : QUERY_BIDIR_GUESS;
        return 0;
    case 'O':
        if (query_order_parse(arg, &o->order) != CF_OK) {
            fprintf(stderr, "cloudflow query: unknown order '%s'\n", arg);
            return -1;
        }
        return 0;
    case 'n':
    case 'c':
    case 'T':
    case 'K':
    case 'P':
        if (parse_u64(arg, &v) != 0) {
            fprintf(stderr, "cloudflow query: -%c needs a number, not '%s'\n", c == 'K' || c == 'P' ? '-' : c, arg);
            return -1;
        }
        if (c == 'n')
            o->top_n = (int64_t)v;
        else if (c == 'c')
            o->limit = v;
        else if (c == 'T')
            o->n_threads = (unsigned)v;
        else if (c == 'P')
            o->pass_rows = v;
        else
            o->max_keys = v;
        return 0;
    case 'i':
        if (cf_duration_parse(arg, &v) != CF_OK || v > UINT64_MAX / 1000) {
            fprintf(stderr, "cloudflow query: bad interval '%s' (300, 5m, 1h, 1d)\n", arg);
            return -1;
        }
        o->interval_ms = v * 1000;
        return 0;
    case 'S': o->spread = true; return 0;
    case 'I': o->info = true; return 0;
    case 'q': o->quiet = true; return 0;
    case 'N': o->plain_numbers = true; return 0;
    case '6': o->ipv6_long = true; return 0;
    default: return -1;
    }
}

/* Joins the remaining arguments with spaces (the filter). */
static char *join_args(int argc, char **argv)
{
    size_t len = 1;
    for (int i = 0; i < argc; i++)
        len += strlen(argv[i]) + 1;
    char *s = malloc(len);
    if (!s)
        return NULL;
    s[0] = '\0';
    for (int i = 0; i < argc; i++) {
        if (i)
            strcat(s, " ");
        strcat(s, argv[i]);
    }
    return s;
}

int cmd_query(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"help", no_argument, NULL, 'h'},
        {"max-keys", required_argument, NULL, 'K'},
        {"pass-rows", required_argument, NULL, 'P'},
        {"interval", required_argument, NULL, 'i'},
        {"spread", no_argument, NULL, 'S'},
        {NULL, 0, NULL, 0},
    };
    cli_state st;
    memset(&st, 0, sizeof(st));
    query_options_init(&st.o);
    int rc = CF_EXIT_USAGE;
    int c;
    optind = 1;
    /* GNU getopt moves the filter words (non-options) to the end: options may follow the filter, as with nfdump */
    while ((c = getopt_long(argc, argv, "r:R:M:t:f:o:s:A:abBO:n:c:T:IqN6h", longopts, NULL)) != -1) {
        if (c == 'h') {
            usage(stdout);
            rc = CF_EXIT_OK;
            goto out;
        }
        if (c == '?' || handle_opt(c, optarg, &st) != 0) {
            usage(stderr);
            goto out;
        }
    }
    if (st.o.n_paths == 0) {
        fprintf(stderr, "cloudflow query: no input: give -r, -R or -M\n");
        usage(stderr);
        goto out;
    }
    if (optind < argc && st.filter_file_text) {
        fprintf(stderr, "cloudflow query: give the filter either with -f or as arguments\n");
        goto out;
    }
    if (optind < argc) {
        st.filter_args = join_args(argc - optind, argv + optind);
        if (!st.filter_args) {
            rc = CF_EXIT_FAIL;
            goto out;
        }
    }
    if (st.o.spread && !st.o.interval_ms) {
        fprintf(stderr, "cloudflow query: --spread needs --interval\n");
        goto out;
    }
    st.o.filter = st.filter_args ? st.filter_args : st.filter_file_text;
    if (st.o.bidir && !st.format_given)
        st.o.format = QUERY_OUT_BILINE; /* nfdump's default for -b / -B */
    /* The scan allocates and frees block-sized buffers on every worker thread;
     * glibc would give the freed memory back to the kernel each time
     * (madvise) and fault it in again on the next block, which cost a third
     * of a full scan.  Keep freed memory in the process instead. */
    mallopt(M_TRIM_THRESHOLD, 512 * 1024 * 1024);
    mallopt(M_MMAP_THRESHOLD, 64 * 1024 * 1024);
    query_result res;
    cf_err err = query_run(&st.o, stdout, stderr, &res);
    if (err == CF_OK)
        rc = CF_EXIT_OK;
    else if (err == CF_ERR_USAGE || err == CF_ERR_NOT_FOUND) /* bad option, filter or input path */
        rc = CF_EXIT_USAGE;
    else {
        if (err != CF_ERR_CORRUPT && err != CF_ERR_FULL && err != CF_ERR_NOT_FOUND)
            fprintf(stderr, "cloudflow query: %s\n", cf_err_str(err));
        rc = CF_EXIT_FAIL;
    }
out:
    free(st.filter_file_text);
    free(st.filter_args);
    return rc;
}
