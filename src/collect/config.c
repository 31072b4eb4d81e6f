/* collect/config.c - the option table, value parsers, the config file reader. */
#include "collect/config.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collect/acl.h"
#include "collect/forward.h"
#include "collect/listener.h"
#include "core/timeutil.h"

#define OPT(key_, type_, member_, def_, min_, max_, arg_, help_)                                           \
    {key_, type_, offsetof(collect_config, member_), def_, min_, max_, arg_, help_}

const collect_option collect_options[] = {
    OPT("listen", COLLECT_T_LISTEN, listen, "[::]:2055", 0, 0, "[ADDR]:PORT",
        "UDP address to receive on (repeatable); [::] also receives IPv4"),
    OPT("data", COLLECT_T_PATH, data_dir, "/var/lib/cloudflow", 0, 0, "DIR",
        "data directory: segments under DIR/<source>/, stats in DIR/stats.tsv"),
    OPT("rcvbuf", COLLECT_T_SIZE, rcvbuf, "16M", 0, UINT64_C(1) << 31, "BYTES",
        "socket receive buffer (k/M/G suffixes; 0 = system default)"),
    OPT("rotate", COLLECT_T_DURATION, rotate_s, "5m", 60, 86400, "DURATION",
        "segment window (300, 5m, 1h); must divide a day"),
    OPT("retention-age", COLLECT_T_AGE, retention_age_s, "0", 0, UINT64_C(100) * 366 * 86400, "DURATION",
        "remove segments whose window ended longer ago than this, oldest first (0: keep forever)"),
    OPT("retention-size", COLLECT_T_SIZE, retention_bytes, "0", 0, UINT64_C(1) << 60, "BYTES",
        "remove the oldest segments of each source while it takes more than this (0: no limit)"),
    OPT("flush", COLLECT_T_UINT, flush_ms, "1000", 10, 60000, "MS",
        "records reach disk at most this many ms after they arrive"),
    OPT("compress", COLLECT_T_CODEC, compress, "lz4", 0, 0, "lz4|zstd|none", "column compression of segments"),
    OPT("log-level", COLLECT_T_LOGLEVEL, log_level, "info", 0, 0, "error|warn|info|debug",
        "least important log lines written"),
    OPT("max-exporters", COLLECT_T_UINT, max_exporters, "4096", 1, 1000000, "N",
        "exporters (address + source port) tracked; packets of more are dropped and counted"),
    OPT("queue-size", COLLECT_T_UINT, queue_size, "128", 1, 100000, "N",
        "batches of 1024 records queued for the writer; when full, batches are dropped and counted"),
    OPT("max-templates", COLLECT_T_UINT, max_templates, "512", 1, 65536, "N",
        "v9/IPFIX templates kept per exporter; further ones are refused and counted"),
    OPT("max-template-fields", COLLECT_T_UINT, max_template_fields, "128", 1, 65535, "N",
        "fields per v9/IPFIX template; longer templates are refused and counted"),
    OPT("max-names", COLLECT_T_UINT, max_names, "4096", 1, 1000000, "N",
        "application + interface names kept per exporter (v9/IPFIX options data); further ones are refused "
        "and counted"),
    OPT("template-pending-bytes", COLLECT_T_SIZE, template_pending_bytes, "64k", 1, UINT64_C(1) << 30, "BYTES",
        "data sets kept per exporter while their template is unknown (k/M/G suffixes)"),
    OPT("template-pending-ms", COLLECT_T_UINT, template_pending_ms, "600000", 1, 86400000, "MS",
        "how long such data sets wait for their template before they are dropped and counted"),
    OPT("receive-threads", COLLECT_T_UINT, receive_threads, "1", 0, 64, "N",
        "UDP receive threads, each with its own SO_REUSEPORT socket per address (0 = number of cores)"),
    OPT("forward", COLLECT_T_LIST, forward, "", 0, 0, "HOST/PORT",
        "also send every datagram received, unchanged, to this collector (repeatable; nfcapd -R)"),
    OPT("tcp-listen", COLLECT_T_LIST, tcp_listen, "", 0, 0, "[ADDR]:PORT",
        "receive IPFIX over TCP on this address (repeatable; port 4739 when omitted)"),
    OPT("allow", COLLECT_T_LIST, allow, "", 0, 0, "ADDR[/LEN]",
        "accept export packets only from these exporters (repeatable); others are counted as refused"),
    OPT("source", COLLECT_T_LIST, source, "", 0, 0, "NAME=ADDR[/LEN]",
        "store these exporters under DATADIR/NAME instead of DATADIR/default (repeatable; nfcapd -n)"),
    OPT("sampling-default", COLLECT_T_LIST, sampling_default, "", 0, 0, "[ADDR[/LEN]=]N",
        "sampling interval for exporters that announce none (repeatable; first match wins)"),
    OPT("sampling-override", COLLECT_T_LIST, sampling_override, "", 0, 0, "[ADDR[/LEN]=]N",
        "sampling interval applied whatever the exporter announces (repeatable; first match wins)"),
    OPT("user", COLLECT_T_NAME, user, "", 0, 0, "NAME",
        "run as this user once the sockets are bound and the data directory is open (root only)"),
    OPT("log", COLLECT_T_NAME, log_to, "stderr", 0, 0, "stderr|syslog", "where log lines go"),
};

const size_t collect_n_options = sizeof(collect_options) / sizeof(collect_options[0]);

const collect_option *collect_option_find(const char *key)
{
    for (size_t i = 0; i < collect_n_options; i++)
        if (strcmp(collect_options[i].key, key) == 0)
            return &collect_options[i];
    return NULL;
}

static void *member(collect_config *c, const collect_option *o) { return (char *)c + o->offset; }

/* Decimal integer with optional size suffix; -1 when malformed. */
static int parse_number(const char *text, int allow_suffix, uint64_t *out)
{
    if (!isdigit((unsigned char)text[0]))
        return -1;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno)
        return -1;
    uint64_t mult = 1;
    if (allow_suffix && *end) {
        switch (*end) {
        case 'k': case 'K': mult = UINT64_C(1) << 10; break;
        case 'm': case 'M': mult = UINT64_C(1) << 20; break;
        case 'g': case 'G': mult = UINT64_C(1) << 30; break;
        default: return -1;
        }
        end++;
        if (*end == 'B' || *end == 'b')
            end++;
    }
    if (*end != '\0' || (mult > 1 && v > UINT64_MAX / mult))
        return -1;
    *out = (uint64_t)v * mult;
    return 0;
}

static cf_err parse_log_level(const char *text, cf_log_level *out)
{
    static const struct {
        const char *name;
        cf_log_level level;
    } levels[] = {{"error", CF_LOG_ERROR}, {"warn", CF_LOG_WARN}, {"warning", CF_LOG_WARN},
                  {"info", CF_LOG_INFO},   {"debug", CF_LOG_DEBUG}};
    for (size_t i = 0; i < sizeof(levels) / sizeof(levels[0]); i++)
        if (strcmp(text, levels[i].name) == 0) {
            *out = levels[i].level;
            return CF_OK;
        }
    return CF_ERR_USAGE;
}

/* Parses and bounds-checks a numeric value of o. */
static cf_err parse_uint_value(const collect_option *o, const char *value, uint64_t *v, char *errbuf,
                               size_t errlen)
{
    int bad;
    if (o->type == COLLECT_T_AGE && strcmp(value, "0") == 0)
        bad = 0, *v = 0;
    else if (o->type == COLLECT_T_DURATION || o->type == COLLECT_T_AGE)
        bad = cf_duration_parse(value, v) != CF_OK;
    else
        bad = parse_number(value, o->type == COLLECT_T_SIZE, v) != 0;
    if (bad) {
        snprintf(errbuf, errlen, "key '%s': '%s' is not a valid %s", o->key, value, o->arg);
        return CF_ERR_USAGE;
    }
    if (*v < o->min || *v > o->max) {
        snprintf(errbuf, errlen, "key '%s': %s is out of range %llu..%llu", o->key, value,
                 (unsigned long long)o->min, (unsigned long long)o->max);
        return CF_ERR_USAGE;
    }
    if (o->type == COLLECT_T_DURATION && 86400 % *v != 0) {
        snprintf(errbuf, errlen, "key '%s': %s does not divide a day (86400 s)", o->key, value);
        return CF_ERR_USAGE;
    }
    return CF_OK;
}

static cf_err set_listen(collect_config *c, const collect_option *o, const char *value, collect_origin origin,
                         char *errbuf, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (collect_addr_parse(value, COLLECT_DEFAULT_PORT, &ss, &len) != CF_OK || strlen(value) >= COLLECT_ADDR_LEN) {
        snprintf(errbuf, errlen, "key '%s': '%s' is not an address [ADDR]:PORT", o->key, value);
        return CF_ERR_USAGE;
    }
    size_t n = c->listen_origin == origin ? c->n_listen : 0;
    if (n == COLLECT_MAX_LISTEN) {
        snprintf(errbuf, errlen, "key '%s': more than %d addresses", o->key, COLLECT_MAX_LISTEN);
        return CF_ERR_FULL;
    }
    snprintf(c->listen[n], COLLECT_ADDR_LEN, "%s", value);
    c->n_listen = n + 1;
    c->listen_origin = origin;
    return CF_OK;
}

/* A value of a COLLECT_T_LIST key, checked by key; a later origin
 * replaces the values of an earlier one.  An empty default is no value. */
static cf_err set_list(collect_config *c, const collect_option *o, const char *value, collect_origin origin,
                       char *errbuf, size_t errlen)
{
    collect_list *l = member(c, o);
    struct sockaddr_storage ss;
    socklen_t len;
    if (origin == COLLECT_ORIGIN_DEFAULT && !*value) {
        l->n = 0;
        l->origin = origin;
        return CF_OK;
    }
    bool ok = strlen(value) < COLLECT_ADDR_LEN;
    if (ok && strcmp(o->key, "forward") == 0)
        ok = collect_forward_parse(value, &ss, &len) == CF_OK;
    else if (ok && strcmp(o->key, "tcp-listen") == 0)
        ok = collect_addr_parse(value, 4739, &ss, &len) == CF_OK;
    else if (ok && strcmp(o->key, "source") == 0) {
        collect_source_rule rule;
        ok = collect_source_rule_parse(value, &rule) == CF_OK;
        if (ok)
            free(rule.prefix);
    } else if (ok && strncmp(o->key, "sampling-", 9) == 0) {
        collect_acl *prefix = NULL;
        uint32_t rate;
        ok = collect_sampling_rule_parse(value, &prefix, &rate) == CF_OK;
        free(prefix);
    } else if (ok)
        ok = collect_acl_check(value) == CF_OK;
    if (!ok) {
        snprintf(errbuf, errlen, "key '%s': '%s' is not a valid %s", o->key, value, o->arg);
        return CF_ERR_USAGE;
    }
    size_t n = l->origin == origin ? l->n : 0;
    if (n == COLLECT_MAX_LIST) {
        snprintf(errbuf, errlen, "key '%s': more than %d values", o->key, COLLECT_MAX_LIST);
        return CF_ERR_FULL;
    }
    snprintf(l->v[n], COLLECT_ADDR_LEN, "%s", value);
    l->n = n + 1;
    l->origin = origin;
    return CF_OK;
}

/* A COLLECT_T_NAME value: log is stderr|syslog; user is a user name
 * (letters, digits, '.', '_', '-'; empty: none), looked up when used. */
static cf_err set_name(collect_config *c, const collect_option *o, const char *value, char *errbuf, size_t errlen)
{
    bool ok = strlen(value) < COLLECT_NAME_LEN;
    if (ok && strcmp(o->key, "log") == 0)
        ok = strcmp(value, "stderr") == 0 || strcmp(value, "syslog") == 0;
    else
        for (const char *v = value; ok && *v; v++)
            ok = isalnum((unsigned char)*v) || *v == '.' || *v == '_' || *v == '-';
    if (!ok || (strcmp(o->key, "log") == 0 && !*value)) {
        snprintf(errbuf, errlen, "key '%s': '%s' is not a valid %s", o->key, value, o->arg);
        return CF_ERR_USAGE;
    }
    snprintf(member(c, o), COLLECT_NAME_LEN, "%s", value);
    return CF_OK;
}

cf_err collect_config_set(collect_config *c, const char *key, const char *value, collect_origin origin,
                          char *errbuf, size_t errlen)
{
    const collect_option *o = collect_option_find(key);
    if (!o) {
        snprintf(errbuf, errlen, "unknown key '%s'", key);
        return CF_ERR_NOT_FOUND;
    }
    uint64_t v;
    cf_err err;
    switch (o->type) {
    case COLLECT_T_LISTEN:
        return set_listen(c, o, value, origin, errbuf, errlen);
    case COLLECT_T_LIST:
        return set_list(c, o, value, origin, errbuf, errlen);
    case COLLECT_T_NAME:
        return set_name(c, o, value, errbuf, errlen);
    case COLLECT_T_PATH:
        if (!*value || strlen(value) >= COLLECT_PATH_LEN) {
            snprintf(errbuf, errlen, "key '%s': path is empty or too long", o->key);
            return CF_ERR_USAGE;
        }
        snprintf(member(c, o), COLLECT_PATH_LEN, "%s", value);
        return CF_OK;
    case COLLECT_T_SIZE:
    case COLLECT_T_DURATION:
    case COLLECT_T_AGE:
    case COLLECT_T_UINT:
        if ((err = parse_uint_value(o, value, &v, errbuf, errlen)) != CF_OK)
            return err;
        *(uint64_t *)member(c, o) = v;
        return CF_OK;
    case COLLECT_T_CODEC:
        if (store_codec_parse(value, (store_codec *)member(c, o)) != CF_OK) {
            snprintf(errbuf, errlen, "key '%s': '%s' is not one of %s", o->key, value, o->arg);
            return CF_ERR_USAGE;
        }
        return CF_OK;
    case COLLECT_T_LOGLEVEL:
        if (parse_log_level(value, (cf_log_level *)member(c, o)) != CF_OK) {
            snprintf(errbuf, errlen, "key '%s': '%s' is not one of %s", o->key, value, o->arg);
            return CF_ERR_USAGE;
        }
        return CF_OK;
    }
    snprintf(errbuf, errlen, "key '%s': unsupported type", o->key);
    return CF_ERR_USAGE;
}

void collect_config_default(collect_config *c)
{
    memset(c, 0, sizeof(*c));
    char err[256];
    for (size_t i = 0; i < collect_n_options; i++) {
        cf_err e = collect_config_set(c, collect_options[i].key, collect_options[i].def, COLLECT_ORIGIN_DEFAULT,
                                      err, sizeof(err));
        if (e != CF_OK) { /* a programming error in the table */
            fprintf(stderr, "cloudflow: built-in default is invalid: %s\n", err);
            abort();
        }
    }
}

/* Strips leading/trailing white space in place. */
static char *trim(char *s)
{
    while (isspace((unsigned char)*s))
        s++;
    size_t n = strlen(s);
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        s[--n] = '\0';
    return s;
}

/* Parses one config line into key and value; NULL key for a blank/comment
 * line.  Returns a message on a syntax error, NULL when fine. */
static const char *parse_line(char *line, char **key, char **value)
{
    *key = NULL;
    char *s = trim(line);
    if (*s == '\0' || *s == '#')
        return NULL;
    char *eq = strchr(s, '=');
    if (!eq)
        return "expected 'key = value'";
    *eq = '\0';
    char *k = trim(s), *v = trim(eq + 1);
    if (*k == '\0')
        return "missing key before '='";
    if (*v == '"') {
        char *close = strchr(v + 1, '"');
        if (!close)
            return "unterminated quoted value";
        if (*trim(close + 1) != '\0' && *trim(close + 1) != '#')
            return "text after the quoted value";
        *close = '\0';
        v++;
    } else {
        for (char *h = v; *h; h++)
            if (*h == '#' && (h == v || isspace((unsigned char)h[-1]))) {
                *h = '\0';
                break;
            }
        v = trim(v);
    }
    *key = k;
    *value = v;
    return NULL;
}

cf_err collect_config_load(collect_config *c, const char *path, char *errbuf, size_t errlen)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        snprintf(errbuf, errlen, "%s: %s", path, strerror(errno));
        return CF_ERR_IO;
    }
    char line[2048];
    size_t lineno = 0;
    cf_err err = CF_OK;
    while (!err && fgets(line, sizeof(line), f)) {
        lineno++;
        size_t len = strlen(line);
        if (len == sizeof(line) - 1 && line[len - 1] != '\n' && !feof(f)) {
            snprintf(errbuf, errlen, "%s:%zu: line too long", path, lineno);
            err = CF_ERR_CONFIG;
            break;
        }
        char *key, *value;
        const char *syntax = parse_line(line, &key, &value);
        if (syntax) {
            snprintf(errbuf, errlen, "%s:%zu: %s", path, lineno, syntax);
            err = CF_ERR_CONFIG;
        } else if (key) {
            char msg[512];
            if (*value == '\0') {
                snprintf(errbuf, errlen, "%s:%zu: key '%s': missing value", path, lineno, key);
                err = CF_ERR_CONFIG;
            } else if (collect_config_set(c, key, value, COLLECT_ORIGIN_FILE, msg, sizeof(msg)) != CF_OK) {
                snprintf(errbuf, errlen, "%s:%zu: %s", path, lineno, msg);
                err = CF_ERR_CONFIG;
            }
        }
    }
    if (!err && ferror(f)) {
        snprintf(errbuf, errlen, "%s: read error", path);
        err = CF_ERR_IO;
    }
    fclose(f);
    return err;
}

void collect_config_print_help(FILE *out)
{
    for (size_t i = 0; i < collect_n_options; i++) {
        const collect_option *o = &collect_options[i];
        char left[64];
        snprintf(left, sizeof(left), "--%s %s", o->key, o->arg);
        fprintf(out, "  %-34s %s (default %s)\n", left, o->help, o->def);
    }
}

void collect_config_dump(const collect_config *c, FILE *out)
{
    for (size_t i = 0; i < c->n_listen; i++)
        fprintf(out, "listen = %s\n", c->listen[i]);
    fprintf(out, "data = %s\n", c->data_dir);
    fprintf(out, "rcvbuf = %llu\n", (unsigned long long)c->rcvbuf);
    fprintf(out, "rotate = %llu\n", (unsigned long long)c->rotate_s);
    fprintf(out, "flush = %llu\n", (unsigned long long)c->flush_ms);
    fprintf(out, "compress = %s\n", store_codec_name(c->compress));
    static const char *const levels[] = {"error", "warn", "info", "debug"};
    fprintf(out, "log-level = %s\n", levels[c->log_level]);
    fprintf(out, "max-exporters = %llu\n", (unsigned long long)c->max_exporters);
    fprintf(out, "queue-size = %llu\n", (unsigned long long)c->queue_size);
    fprintf(out, "max-templates = %llu\n", (unsigned long long)c->max_templates);
    fprintf(out, "max-template-fields = %llu\n", (unsigned long long)c->max_template_fields);
    fprintf(out, "max-names = %llu\n", (unsigned long long)c->max_names);
    fprintf(out, "template-pending-bytes = %llu\n", (unsigned long long)c->template_pending_bytes);
    fprintf(out, "template-pending-ms = %llu\n", (unsigned long long)c->template_pending_ms);
    fprintf(out, "receive-threads = %llu\n", (unsigned long long)c->receive_threads);
    fprintf(out, "retention-age = %llu\n", (unsigned long long)c->retention_age_s);
    fprintf(out, "retention-size = %llu\n", (unsigned long long)c->retention_bytes);
    if (c->user[0])
        fprintf(out, "user = %s\n", c->user);
    fprintf(out, "log = %s\n", c->log_to);
    const collect_list *lists[] = {&c->forward, &c->tcp_listen, &c->allow, &c->sampling_default,
                                   &c->sampling_override, &c->source};
    const char *const names[] = {"forward", "tcp-listen", "allow", "sampling-default", "sampling-override", "source"};
    for (size_t k = 0; k < 6; k++)
        for (size_t i = 0; i < lists[k]->n; i++)
            fprintf(out, "%s = %s\n", names[k], lists[k]->v[i]);
}
