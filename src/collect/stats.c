/* collect/stats.c - statistics snapshots: log line, stats file write/read
 * (format in stats.h). */
#include "collect/stats.h"

#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "core/array.h"
#include "core/log.h"
#include "flow/flow.h"

/* A named uint64_t counter at an offset of a struct. */
typedef struct stats_counter {
    const char *name;
    size_t offset;
} stats_counter;

#define TOTAL(name_) {#name_, offsetof(collect_totals, name_)}
static const stats_counter total_counters[] = {
    TOTAL(version),
    TOTAL(time_ms),
    TOTAL(started_ms),
    TOTAL(datagrams),
    TOTAL(datagram_bytes),
    TOTAL(exporters),
    TOTAL(exporter_limit_drops),
    TOTAL(records),
    TOTAL(queue_drop_batches),
    TOTAL(queue_drop_records),
    TOTAL(store_records),
    TOTAL(store_written),
    TOTAL(store_lost),
    TOTAL(store_write_errors),
    TOTAL(store_segments_closed),
    TOTAL(kernel_drops),
    TOTAL(lost_sequence),
    TOTAL(templates_loaded),
    TOTAL(templates_load_errors),
    TOTAL(templates_saved),
    TOTAL(templates_save_errors),
    TOTAL(names_loaded),
    TOTAL(names_load_errors),
    TOTAL(names_saved),
    TOTAL(names_save_errors),
    TOTAL(counters_received),
    TOTAL(counters_stored),
    TOTAL(counters_queue_drops),
    TOTAL(counters_lost),
    TOTAL(retention_segments),
    TOTAL(retention_bytes),
    TOTAL(refused),
    TOTAL(ring_full_waits),
    TOTAL(forwarded),
    TOTAL(forward_errors),
    TOTAL(tcp_connections),
    TOTAL(tcp_messages),
    TOTAL(tcp_bad_streams),
    TOTAL(rss_bytes),
    TOTAL(rss_peak_bytes),
};
#define N_TOTAL_COUNTERS (sizeof(total_counters) / sizeof(total_counters[0]))

static const stats_counter exporter_counters[] = {
    {"packets", offsetof(decode_stats, packets)},
    {"bytes", offsetof(decode_stats, bytes)},
    {"records", offsetof(decode_stats, records)},
    {"lost_sequence", offsetof(decode_stats, lost)},
    {"seq_resets", offsetof(decode_stats, seq_resets)},
    {"last_seen_ms", offsetof(decode_stats, last_seen_ms)},
    {"sampling", offsetof(decode_stats, sampling)},
};
#define N_EXPORTER_COUNTERS (sizeof(exporter_counters) / sizeof(exporter_counters[0]))

#define TPL(name_) {#name_, offsetof(decode_tpl_stats, name_)}
static const stats_counter tpl_counters[] = {
    TPL(templates_added),  TPL(templates_replaced), TPL(templates_refreshed), TPL(templates_withdrawn),
    TPL(refused_full),     TPL(refused_fields),     TPL(bad_template_id),     TPL(bad_template),
    TPL(bad_set_id),       TPL(bad_data_sets),      TPL(unknown_template),    TPL(pending_decoded),
    TPL(pending_expired),  TPL(pending_overflow),   TPL(refused_domains),     TPL(refused_samplers),
    TPL(options_records),  TPL(enterprise_fields),  TPL(biflow_records),      TPL(sampling_unknown),
    TPL(frame_sections),   TPL(names_records),      TPL(refused_names),       TPL(bad_names),
};
#define N_TPL_COUNTERS (sizeof(tpl_counters) / sizeof(tpl_counters[0]))

#define SFL(name_) {"sflow_" #name_, offsetof(decode_sflow_stats, name_)}
static const stats_counter sflow_counters[] = {
    SFL(datagrams),       SFL(flow_samples),    SFL(counter_samples), SFL(counters_emitted), SFL(drops),
    SFL(unknown_samples), SFL(unknown_records), SFL(hdr_truncated),   SFL(hdr_unparsed),
};
#define N_SFLOW_COUNTERS (sizeof(sflow_counters) / sizeof(sflow_counters[0]))

static uint64_t *counter_at(void *base, size_t offset) { return (uint64_t *)((char *)base + offset); }

/* True when any counter of the uint64_t-only struct base (size bytes) is non-zero. */
static bool any_nonzero(const void *base, size_t size)
{
    const uint64_t *v = base;
    for (size_t i = 0; i < size / sizeof(uint64_t); i++)
        if (v[i])
            return true;
    return false;
}

void collect_totals_add(collect_totals *t, const collect_exporter_stats *e)
{
    decode_tpl_stats tpl = e->tpl;
    decode_sflow_stats sf = e->sflow;
    for (size_t i = 0; i < N_TPL_COUNTERS; i++)
        *counter_at(&t->tpl, tpl_counters[i].offset) += *counter_at(&tpl, tpl_counters[i].offset);
    for (size_t i = 0; i < N_SFLOW_COUNTERS; i++)
        *counter_at(&t->sflow, sflow_counters[i].offset) += *counter_at(&sf, sflow_counters[i].offset);
}

/* Prints the n counters of table at base under scope; -1 on a write error. */
static int print_table(FILE *out, const char *scope, const stats_counter *table, size_t n, void *base)
{
    for (size_t i = 0; i < n; i++)
        if (fprintf(out, "%s\t%s\t%" PRIu64 "\n", scope, table[i].name, *counter_at(base, table[i].offset)) < 0)
            return -1;
    return 0;
}

void collect_snapshot_free(collect_snapshot *s)
{
    free(s->exporters);
    memset(s, 0, sizeof(*s));
}

void collect_exporter_name(const uint8_t addr[16], uint16_t port, char *buf, size_t len)
{
    char a[64];
    flow_addr_format(addr, a, sizeof(a));
    if (flow_addr_is_v4(addr))
        snprintf(buf, len, "%s:%u", a, (unsigned)port);
    else
        snprintf(buf, len, "[%s]:%u", a, (unsigned)port);
}

static int print_malformed(FILE *out, const char *scope, const uint64_t *malformed)
{
    for (int r = 0; r < DECODE_N_REASONS; r++)
        if (fprintf(out, "%s\tmalformed_%s\t%" PRIu64 "\n", scope, decode_reason_name((decode_reason)r),
                    malformed[r]) < 0)
            return -1;
    return 0;
}

cf_err collect_stats_print(const collect_snapshot *s, FILE *out)
{
    int bad = fprintf(out, "scope\tcounter\tvalue\n") < 0;
    collect_totals t = s->totals;
    for (size_t i = 0; i < N_TOTAL_COUNTERS && !bad; i++)
        bad = fprintf(out, "total\t%s\t%" PRIu64 "\n", total_counters[i].name,
                      *counter_at(&t, total_counters[i].offset)) < 0;
    if (!bad)
        bad = print_malformed(out, "total", t.malformed) != 0;
    if (!bad)
        bad = print_table(out, "total", tpl_counters, N_TPL_COUNTERS, &t.tpl) != 0 ||
              print_table(out, "total", sflow_counters, N_SFLOW_COUNTERS, &t.sflow) != 0;
    for (size_t e = 0; e < s->n_exporters && !bad; e++) {
        char scope[80];
        decode_stats d = s->exporters[e].s;
        decode_tpl_stats tpl = s->exporters[e].tpl;
        decode_sflow_stats sf = s->exporters[e].sflow;
        collect_exporter_name(s->exporters[e].addr, s->exporters[e].port, scope, sizeof(scope));
        for (size_t i = 0; i < N_EXPORTER_COUNTERS && !bad; i++)
            bad = fprintf(out, "%s\t%s\t%" PRIu64 "\n", scope, exporter_counters[i].name,
                          *counter_at(&d, exporter_counters[i].offset)) < 0;
        if (!bad)
            bad = print_malformed(out, scope, d.malformed) != 0;
        if (!bad && any_nonzero(&tpl, sizeof(tpl)))
            bad = print_table(out, scope, tpl_counters, N_TPL_COUNTERS, &tpl) != 0;
        if (!bad && any_nonzero(&sf, sizeof(sf)))
            bad = print_table(out, scope, sflow_counters, N_SFLOW_COUNTERS, &sf) != 0;
    }
    return bad ? CF_ERR_IO : CF_OK;
}

cf_err collect_stats_write(const char *path, const collect_snapshot *s)
{
    char tmp[4200];
    if ((size_t)snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= sizeof(tmp))
        return CF_ERR_IO;
    FILE *f = fopen(tmp, "w");
    if (!f)
        return CF_ERR_IO;
    cf_err err = collect_stats_print(s, f);
    if (fclose(f) != 0)
        err = CF_ERR_IO;
    if (!err && rename(tmp, path) != 0)
        err = CF_ERR_IO;
    if (err)
        unlink(tmp);
    return err;
}

/* Sets counter `name` of the malformed array from "malformed_<reason>". */
static int set_malformed(uint64_t *malformed, const char *name, uint64_t v)
{
    if (strncmp(name, "malformed_", 10) != 0)
        return -1;
    for (int r = 0; r < DECODE_N_REASONS; r++)
        if (strcmp(name + 10, decode_reason_name((decode_reason)r)) == 0) {
            malformed[r] = v;
            return 0;
        }
    return -1;
}

static bool set_named(const stats_counter *table, size_t n, void *base, const char *name, uint64_t v)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(table[i].name, name) == 0) {
            *counter_at(base, table[i].offset) = v;
            return true;
        }
    return false;
}

/* Sets name in the tpl or sflow counters; unknown names are ignored. */
static void set_decoder_named(decode_tpl_stats *tpl, decode_sflow_stats *sf, const char *name, uint64_t v)
{
    if (!set_named(tpl_counters, N_TPL_COUNTERS, tpl, name, v))
        (void)set_named(sflow_counters, N_SFLOW_COUNTERS, sf, name, v);
}

/* Parses "[addr]:port" / "addr:port" as written by collect_exporter_name. */
static int parse_scope(const char *scope, uint8_t addr[16], uint16_t *port)
{
    char a[64];
    const char *colon = strrchr(scope, ':');
    if (!colon)
        return -1;
    const char *start = scope, *end = colon;
    if (scope[0] == '[') {
        start = scope + 1;
        if (end == scope || end[-1] != ']')
            return -1;
        end--;
    }
    size_t len = (size_t)(end - start);
    if (len == 0 || len >= sizeof(a))
        return -1;
    memcpy(a, start, len);
    a[len] = '\0';
    char *stop;
    errno = 0;
    unsigned long p = strtoul(colon + 1, &stop, 10);
    uint8_t family;
    if (errno || *stop || p > 65535 || flow_addr_parse(a, addr, &family) != CF_OK)
        return -1;
    *port = (uint16_t)p;
    return 0;
}

/* The exporter entry of scope in s, appended when new; NULL on failure. */
static collect_exporter_stats *exporter_entry(collect_snapshot *s, const char *scope, size_t *cap)
{
    uint8_t addr[16];
    uint16_t port;
    if (parse_scope(scope, addr, &port) != 0)
        return NULL;
    for (size_t i = s->n_exporters; i > 0; i--)
        if (s->exporters[i - 1].port == port && memcmp(s->exporters[i - 1].addr, addr, 16) == 0)
            return &s->exporters[i - 1];
    if (cf_array_grow(&s->exporters, cap, s->n_exporters + 1, sizeof(*s->exporters), 16) != CF_OK)
        return NULL;
    collect_exporter_stats *e = &s->exporters[s->n_exporters++];
    memset(e, 0, sizeof(*e));
    memcpy(e->addr, addr, 16);
    e->port = port;
    return e;
}

/* Splits line into three tab-separated fields and a number; -1 when malformed. */
static int split_line(char *line, char **scope, char **name, uint64_t *v)
{
    char *t1 = strchr(line, '\t');
    char *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
    if (!t2)
        return -1;
    *t1 = *t2 = '\0';
    char *end;
    errno = 0;
    if (t2[1] < '0' || t2[1] > '9')
        return -1;
    *v = strtoull(t2 + 1, &end, 10);
    if (errno || (*end != '\0' && *end != '\n'))
        return -1;
    *scope = line;
    *name = t1 + 1;
    return 0;
}

cf_err collect_stats_read(const char *path, collect_snapshot *out, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return CF_ERR_IO;
    }
    collect_snapshot s;
    memset(&s, 0, sizeof(s));
    size_t cap = 0, lineno = 0;
    cf_err err = CF_OK;
    char line[512];
    while (!err && fgets(line, sizeof(line), f)) {
        lineno++;
        char *scope, *name;
        uint64_t v;
        if (lineno == 1) {
            if (strcmp(line, "scope\tcounter\tvalue\n") != 0)
                err = CF_ERR_CORRUPT;
            continue;
        }
        if (split_line(line, &scope, &name, &v) != 0) {
            err = CF_ERR_CORRUPT;
        } else if (strcmp(scope, "total") == 0) {
            if (set_malformed(s.totals.malformed, name, v) != 0 &&
                !set_named(total_counters, N_TOTAL_COUNTERS, &s.totals, name, v))
                set_decoder_named(&s.totals.tpl, &s.totals.sflow, name, v);
        } else {
            collect_exporter_stats *e = exporter_entry(&s, scope, &cap);
            if (!e)
                err = CF_ERR_CORRUPT;
            else if (set_malformed(e->s.malformed, name, v) != 0 &&
                     !set_named(exporter_counters, N_EXPORTER_COUNTERS, &e->s, name, v))
                set_decoder_named(&e->tpl, &e->sflow, name, v);
        }
    }
    if (!err && lineno == 0)
        err = CF_ERR_CORRUPT;
    if (err)
        snprintf(errbuf, errlen, "%s:%zu: not a cloudflow stats file line", path, lineno);
    fclose(f);
    if (err) {
        collect_snapshot_free(&s);
        return err;
    }
    *out = s;
    return CF_OK;
}

/* Appends " name=value" to buf (at *at) when value is non-zero. */
static void append_nonzero(char *buf, size_t len, size_t *at, const char *name, uint64_t v)
{
    if (!v || *at >= len)
        return;
    int n = snprintf(buf + *at, len - *at, " %s=%" PRIu64, name, v);
    if (n > 0)
        *at += (size_t)n;
}

/* The v9/IPFIX, sFlow, template-file and counter-store counters worth a
 * look, as " name=value" for each that is non-zero. */
static void log_suffix(const collect_totals *t, char *buf, size_t len)
{
    size_t at = 0;
    buf[0] = '\0';
    const decode_tpl_stats *x = &t->tpl;
    const struct {
        const char *name;
        uint64_t v;
    } items[] = {
        {"templates", x->templates_added + x->templates_replaced},
        {"templates_refused", x->refused_full + x->refused_fields},
        {"bad_templates", x->bad_template + x->bad_template_id},
        {"bad_data_sets", x->bad_data_sets},
        {"data_before_template", x->unknown_template},
        {"pending_decoded", x->pending_decoded},
        {"pending_dropped", x->pending_expired + x->pending_overflow},
        {"sampling_unknown", x->sampling_unknown},
        {"enterprise_fields", x->enterprise_fields},
        {"biflows", x->biflow_records},
        {"sflow_drops", t->sflow.drops},
        {"sflow_unknown", t->sflow.unknown_samples + t->sflow.unknown_records},
        {"templates_loaded", t->templates_loaded},
        {"template_file_errors", t->templates_load_errors + t->templates_save_errors},
        {"names_loaded", t->names_loaded},
        {"names_file_errors", t->names_load_errors + t->names_save_errors},
        {"counters_stored", t->counters_stored},
        {"counters_dropped", t->counters_queue_drops + t->counters_lost},
        {"refused", t->refused},
        {"forwarded", t->forwarded},
        {"forward_errors", t->forward_errors},
        {"tcp_messages", t->tcp_messages},
        {"tcp_bad_streams", t->tcp_bad_streams},
        {"rss_mb", t->rss_bytes >> 20},
        {"rss_peak_mb", t->rss_peak_bytes >> 20},
    };
    for (size_t i = 0; i < sizeof(items) / sizeof(items[0]); i++)
        append_nonzero(buf, len, &at, items[i].name, items[i].v);
}

void collect_totals_memory(collect_totals *t)
{
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        unsigned long long size = 0, resident = 0;
        long page = sysconf(_SC_PAGESIZE);
        if (fscanf(f, "%llu %llu", &size, &resident) == 2 && page > 0)
            t->rss_bytes = (uint64_t)resident * (uint64_t)page;
        fclose(f);
    }
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) == 0 && ru.ru_maxrss > 0)
        t->rss_peak_bytes = (uint64_t)ru.ru_maxrss * 1024u; /* Linux: kilobytes */
    if (t->rss_peak_bytes < t->rss_bytes) /* the kernel updates its high-water mark lazily */
        t->rss_peak_bytes = t->rss_bytes;
}

void collect_stats_log(const collect_snapshot *s, const char *what)
{
    const collect_totals *t = &s->totals;
    uint64_t malformed = 0;
    for (int r = 0; r < DECODE_N_REASONS; r++)
        malformed += t->malformed[r];
    char suffix[768];
    log_suffix(t, suffix, sizeof(suffix));
    cf_log(CF_LOG_INFO,
           "%s: datagrams=%" PRIu64 " records=%" PRIu64 " stored=%" PRIu64 " exporters=%" PRIu64
           " malformed=%" PRIu64 " lost_sequence=%" PRIu64 " queue_drops=%" PRIu64 " (records %" PRIu64
           ") exporter_limit_drops=%" PRIu64 " kernel_drops=%" PRIu64 " store_lost=%" PRIu64 "%s",
           what, t->datagrams, t->records, t->store_written, t->exporters, malformed, t->lost_sequence,
           t->queue_drop_batches, t->queue_drop_records, t->exporter_limit_drops, t->kernel_drops, t->store_lost,
           suffix);
}
