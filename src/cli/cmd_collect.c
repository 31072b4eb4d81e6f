/*
 * cli/cmd_collect.c - `cloudflow collect`: the collector daemon.
 *
 * Configuration: built-in defaults, then --config FILE, then the other
 * command-line options (the keys of collect/config.h, plus nfcapd's short
 * aliases).  SIGTERM/SIGINT: stop receiving, drain the queue, close every
 * segment, log the final stats, exit 0.  --demo adds an in-process
 * simulated exporter sending to the first listener over loopback.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <dirent.h>
#include <getopt.h>
#include <grp.h>
#include <netinet/in.h>
#include <pthread.h>
#include <pwd.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli/commands.h"
#include "collect/config.h"
#include "collect/listener.h"
#include "collect/pipeline.h"
#include "core/log.h"
#include "sim/sim.h"

#define DEMO_RATE 200.0 /* flows per second of --demo */
#define MAX_CLI_VALUES 64

enum { OPT_CONFIG = 1000, OPT_DEMO, OPT_HELP, OPT_PRINT_CONFIG, OPT_TABLE = 2000 };

/* A key = value given on the command line, applied after the config file. */
typedef struct cli_value {
    const char *key;
    const char *value;
} cli_value;

/* What the command line asked for. */
typedef struct collect_args {
    const char *config_file;
    int demo;
    int print_config;
    cli_value values[MAX_CLI_VALUES];
    size_t n_values;
    const char *alias_port; /* -p */
    const char *alias_bind; /* -b */
} collect_args;

/* The in-process simulated exporter of --demo. */
typedef struct demo_sender {
    pthread_t thread;
    atomic_bool stop;
    sim_send_options opt;
    sim_send_result res;
    int started; /* the thread was started */
    int stopped; /* ... and has been stopped and joined */
} demo_sender;

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cloudflow collect [OPTIONS]\n"
            "Receives NetFlow v5 (later v9/IPFIX/sFlow) over UDP and stores the flows.\n\n"
            "  --config FILE                      read `key = value` lines (docs/CONFIG.md) first\n");
    collect_config_print_help(out);
    fprintf(out,
            "  --demo                             also run a simulated exporter sending ~%.0f flows/s\n"
            "                                     to the first listener until a real exporter sends\n"
            "  --print-config                     print the effective configuration and exit\n"
            "  --help                             this text\n"
            "nfcapd aliases: -p PORT, -b ADDR (listen on ADDR:PORT), -w DIR (--data),\n"
            "  -B BYTES (--rcvbuf), -t SECONDS (--rotate), -R HOST/PORT (--forward)\n"
            "SIGTERM or SIGINT: stop, write every buffered record, close the segments, exit 0.\n"
            "SIGHUP: re-read --config FILE; log-level and allow apply at once, other keys at restart.\n",
            DEMO_RATE);
}

static int add_value(collect_args *a, const char *key, const char *value)
{
    if (a->n_values == MAX_CLI_VALUES) {
        fprintf(stderr, "cloudflow collect: too many options\n");
        return -1;
    }
    a->values[a->n_values++] = (cli_value){key, value};
    return 0;
}

/* nfcapd's "-n ident,IP[,flowdir]" as the source key's "ident=IP", in place
 * (cloudflow keeps every source under DATADIR/ident: flowdir is ignored). */
static const char *nfcapd_source(char *arg)
{
    char *comma = strchr(arg, ',');
    if (comma) {
        *comma = '=';
        char *dir = strchr(comma + 1, ',');
        if (dir) {
            *dir = '\0';
            CF_INFO("-n: source '%s' is stored under the data directory; the flow directory '%s' is ignored",
                    arg, dir + 1);
        }
    }
    return arg;
}

/* Parses argv into *a.  Returns -1 (exit 0: help printed), 0 ok, 2 usage error. */
static int parse_args(int argc, char **argv, collect_args *a)
{
    struct option longopts[40];
    size_t n = 0;
    for (size_t i = 0; i < collect_n_options && n < 35; i++)
        longopts[n++] = (struct option){collect_options[i].key, required_argument, NULL, OPT_TABLE + (int)i};
    longopts[n++] = (struct option){"config", required_argument, NULL, OPT_CONFIG};
    longopts[n++] = (struct option){"demo", no_argument, NULL, OPT_DEMO};
    longopts[n++] = (struct option){"print-config", no_argument, NULL, OPT_PRINT_CONFIG};
    longopts[n++] = (struct option){"help", no_argument, NULL, OPT_HELP};
    longopts[n] = (struct option){NULL, 0, NULL, 0};
    int c;
    optind = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":p:b:w:B:t:R:n:h", longopts, NULL)) != -1) {
        int rc = 0;
        switch (c) {
        case OPT_CONFIG: a->config_file = optarg; break;
        case OPT_DEMO: a->demo = 1; break;
        case OPT_PRINT_CONFIG: a->print_config = 1; break;
        case OPT_HELP:
        case 'h': usage(stdout); return -1;
        case 'p': a->alias_port = optarg; break;
        case 'b': a->alias_bind = optarg; break;
        case 'w': rc = add_value(a, "data", optarg); break;
        case 'B': rc = add_value(a, "rcvbuf", optarg); break;
        case 't': rc = add_value(a, "rotate", optarg); break;
        case 'R': rc = add_value(a, "forward", optarg); break;
        case 'n': rc = add_value(a, "source", nfcapd_source(optarg)); break;
        case ':':
            fprintf(stderr, "cloudflow collect: option '%s' needs a value\n", argv[optind - 1]);
            return CF_EXIT_USAGE;
        case '?':
            fprintf(stderr, "cloudflow collect: unknown option '%s' (see --help)\n", argv[optind - 1]);
            return CF_EXIT_USAGE;
        default:
            if (c >= OPT_TABLE && (size_t)(c - OPT_TABLE) < collect_n_options)
                rc = add_value(a, collect_options[c - OPT_TABLE].key, optarg);
            break;
        }
        if (rc)
            return CF_EXIT_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "cloudflow collect: unexpected argument '%s' (see --help)\n", argv[optind]);
        return CF_EXIT_USAGE;
    }
    return 0;
}

/* Defaults, then the file, then the command line, into *cfg.  0 or 2. */
static int build_config(const collect_args *a, collect_config *cfg)
{
    char err[1200];
    collect_config_default(cfg);
    if (a->config_file) {
        cf_err e = collect_config_load(cfg, a->config_file, err, sizeof(err));
        if (e) {
            fprintf(stderr, "cloudflow collect: %s\n", err);
            return CF_EXIT_USAGE;
        }
    }
    for (size_t i = 0; i < a->n_values; i++)
        if (collect_config_set(cfg, a->values[i].key, a->values[i].value, COLLECT_ORIGIN_CLI, err, sizeof(err))) {
            fprintf(stderr, "cloudflow collect: option --%s: %s\n", a->values[i].key, err);
            return CF_EXIT_USAGE;
        }
    if (a->alias_port || a->alias_bind) {
        char addr[COLLECT_ADDR_LEN + 8];
        const char *bind = a->alias_bind ? a->alias_bind : "::";
        const char *port = a->alias_port ? a->alias_port : "2055";
        if (strchr(bind, ':'))
            snprintf(addr, sizeof(addr), "[%s]:%s", bind, port);
        else
            snprintf(addr, sizeof(addr), "%s:%s", bind, port);
        if (collect_config_set(cfg, "listen", addr, COLLECT_ORIGIN_CLI, err, sizeof(err))) {
            fprintf(stderr, "cloudflow collect: options -b/-p: %s\n", err);
            return CF_EXIT_USAGE;
        }
    }
    return 0;
}

static void *demo_main(void *arg)
{
    demo_sender *d = arg;
    char err[256];
    cf_err e = sim_send_run(&d->opt, &d->stop, &d->res, err, sizeof(err));
    if (e)
        CF_ERROR("demo exporter stopped: %s", err);
    return NULL;
}

/* Destination of the demo exporter: the first listener, over loopback. */
static void demo_target(const collect_listener *l, sim_send_options *o)
{
    collect_listener_local(l, 0, &o->to, &o->to_len);
    if (o->to.ss_family == AF_INET) {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&o->to;
        if (s4->sin_addr.s_addr == htonl(INADDR_ANY))
            s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&o->to;
        if (IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))
            s6->sin6_addr = in6addr_loopback;
    }
}

static void demo_start(demo_sender *d, const collect_listener *l)
{
    sim_send_options_default(&d->opt);
    demo_target(l, &d->opt);
    d->opt.count = 0;
    d->opt.rate = DEMO_RATE;
    d->opt.gen.seed = (uint64_t)time(NULL);
    atomic_init(&d->stop, false);
    char name[80];
    collect_addr_format((const struct sockaddr *)&d->opt.to, name, sizeof(name));
    if (pthread_create(&d->thread, NULL, demo_main, d) != 0) {
        CF_ERROR("demo mode: cannot start the simulated exporter");
        return;
    }
    pthread_setname_np(d->thread, "cf-demo");
    d->started = 1;
    CF_INFO("demo mode is on: a simulated exporter sends ~%.0f NetFlow v5 flows/s to %s", DEMO_RATE, name);
}

static void demo_stop(demo_sender *d)
{
    if (!d->started || d->stopped)
        return;
    d->stopped = 1;
    atomic_store(&d->stop, true);
    pthread_join(d->thread, NULL);
    CF_INFO("demo exporter sent %llu flows in %llu packets", (unsigned long long)d->res.flows,
            (unsigned long long)d->res.packets);
}

/* True once the pipeline has seen an exporter besides the demo exporter. */
static int real_exporter_seen(collect_pipeline *p)
{
    collect_snapshot snap;
    if (collect_pipeline_get_snapshot(p, &snap) != CF_OK)
        return 0;
    int seen = snap.n_exporters > 1;
    collect_snapshot_free(&snap);
    return seen;
}

/* The allow-list of cfg (*out NULL: everyone).  0, or 2 with a message. */
static int make_allow(const collect_config *cfg, collect_acl **out)
{
    char err[256];
    const char *v[COLLECT_MAX_LIST];
    *out = NULL;
    if (cfg->allow.n == 0)
        return 0;
    for (size_t i = 0; i < cfg->allow.n; i++)
        v[i] = cfg->allow.v[i];
    if (collect_acl_parse(v, cfg->allow.n, out, err, sizeof(err)) != CF_OK) {
        CF_ERROR("%s", err);
        return CF_EXIT_USAGE;
    }
    return 0;
}

/* SIGHUP: reads the configuration again (defaults, file, command line) and
 * applies what can change while running, without stopping the receive
 * threads: log-level and the allow-list.  Other keys are compared and
 * reported as needing a restart.  A bad file changes nothing. */
static void reload_config(const collect_args *a, const collect_config *running, collect_listener *l)
{
    collect_config *cfg = malloc(sizeof(*cfg));
    collect_acl *acl = NULL;
    if (!cfg || build_config(a, cfg) != 0 || make_allow(cfg, &acl) != 0) {
        CF_ERROR("SIGHUP: configuration not reloaded (see above); the running one stays");
        free(cfg);
        return;
    }
    cf_log_set_level(cfg->log_level);
    collect_listener_set_allow(l, acl);
    CF_INFO("SIGHUP: configuration reloaded: log-level and allow-list (%zu entries) applied", cfg->allow.n);
    if (cfg->n_listen != running->n_listen || memcmp(cfg->listen, running->listen, sizeof(cfg->listen)) != 0 ||
        strcmp(cfg->data_dir, running->data_dir) != 0 || cfg->receive_threads != running->receive_threads ||
        memcmp(&cfg->forward, &running->forward, sizeof(cfg->forward)) != 0 ||
        memcmp(&cfg->tcp_listen, &running->tcp_listen, sizeof(cfg->tcp_listen)) != 0 ||
        cfg->rotate_s != running->rotate_s || cfg->compress != running->compress || cfg->rcvbuf != running->rcvbuf ||
        strcmp(cfg->user, running->user) != 0 || strcmp(cfg->log_to, running->log_to) != 0 ||
        memcmp(&cfg->source, &running->source, sizeof(cfg->source)) != 0 ||
        memcmp(&cfg->sampling_default, &running->sampling_default, sizeof(cfg->sampling_default)) != 0 ||
        memcmp(&cfg->sampling_override, &running->sampling_override, sizeof(cfg->sampling_override)) != 0 ||
        cfg->retention_age_s != running->retention_age_s || cfg->retention_bytes != running->retention_bytes)
        CF_WARN("SIGHUP: listen, tcp-listen, forward, receive-threads, data, rotate, compress, rcvbuf, user, "
                "log, source, sampling and retention changes take effect only after a restart");
    free(cfg);
}

/* Blocks until SIGTERM or SIGINT; SIGHUP reloads (reload_config).
 * While the demo exporter runs, checks every second whether a real exporter
 * (any exporter besides the demo) has appeared, and then stops the demo. */
static void wait_for_signal(const sigset_t *set, collect_pipeline *p, demo_sender *demo, collect_listener *l,
                            const collect_args *a, const collect_config *cfg)
{
    for (;;) {
        struct timespec one_second = {1, 0};
        int sig = sigtimedwait(set, NULL, &one_second);
        if (sig < 0) {
            if (demo->started && !demo->stopped && real_exporter_seen(p)) {
                demo_stop(demo);
                CF_INFO("a real exporter is sending: the demo feed is stopped");
            }
            continue;
        }
        if (sig == SIGHUP) {
            reload_config(a, cfg, l);
            continue;
        }
        CF_INFO("%s received: stopping", sig == SIGTERM ? "SIGTERM" : "SIGINT");
        return;
    }
}

/* Listener options of cfg; the string arrays are filled in the caller's storage. */
static void listener_options(const collect_config *cfg, collect_listener_options *lo, const char **addrs,
                             const char **fwd, const char **tcp)
{
    collect_listener_options_default(lo);
    for (size_t i = 0; i < cfg->n_listen; i++)
        addrs[i] = cfg->listen[i];
    for (size_t i = 0; i < cfg->forward.n; i++)
        fwd[i] = cfg->forward.v[i];
    for (size_t i = 0; i < cfg->tcp_listen.n; i++)
        tcp[i] = cfg->tcp_listen.v[i];
    lo->addrs = addrs;
    lo->n_addrs = cfg->n_listen;
    lo->rcvbuf = cfg->rcvbuf;
    lo->threads = (uint32_t)cfg->receive_threads;
    lo->forward = fwd;
    lo->n_forward = cfg->forward.n;
    lo->tcp = tcp;
    lo->n_tcp = cfg->tcp_listen.n;
}

/* ---- dropping privileges (key `user`) ------------------------------------ */

/* Gives path, and when it is a directory everything below it (symbolic
 * links themselves, never what they point to), to uid:gid.  depth bounds
 * the recursion.  Returns the number of entries that could not be changed. */
static int chown_tree(const char *path, uid_t uid, gid_t gid, int depth)
{
    int failed = 0;
    if (lchown(path, uid, gid) != 0) {
        CF_WARN("cannot give %s to the collector's user: %s", path, strerror(errno));
        failed++;
    }
    struct stat st;
    if (depth <= 0 || lstat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return failed;
    DIR *d = opendir(path);
    if (!d)
        return failed + 1;
    struct dirent *e;
    while ((e = readdir(d))) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
            continue;
        char child[COLLECT_PATH_LEN + 256];
        snprintf(child, sizeof(child), "%s/%s", path, e->d_name);
        failed += chown_tree(child, uid, gid, depth - 1);
    }
    closedir(d);
    return failed;
}

/* mkdir -p dir; 0 or -1 with errno. */
static int make_dir_path(const char *dir)
{
    char buf[COLLECT_PATH_LEN];
    snprintf(buf, sizeof(buf), "%s", dir);
    for (size_t i = 1; buf[i]; i++) {
        if (buf[i] != '/')
            continue;
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        buf[i] = '/';
    }
    return mkdir(buf, 0755) != 0 && errno != EEXIST ? -1 : 0;
}

/* Switches to cfg->user (when set): creates the data directory, gives it
 * (and what is in it) to the user when root, then setgroups/setgid/setuid.
 * 0, or CF_EXIT_USAGE / CF_EXIT_FAIL with a message naming the user. */
static int drop_privileges(const collect_config *cfg)
{
    if (!cfg->user[0])
        return 0;
    errno = 0;
    struct passwd *pw = getpwnam(cfg->user);
    if (!pw) {
        CF_ERROR("user '%s' is unknown%s%s", cfg->user, errno ? ": " : "", errno ? strerror(errno) : "");
        return CF_EXIT_USAGE;
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (geteuid() != 0) {
        if (geteuid() == uid)
            return 0;
        CF_ERROR("cannot run as user '%s': the collector was not started as root", cfg->user);
        return CF_EXIT_FAIL;
    }
    if (make_dir_path(cfg->data_dir) != 0) {
        CF_ERROR("cannot create %s: %s", cfg->data_dir, strerror(errno));
        return CF_EXIT_FAIL;
    }
    if (chown_tree(cfg->data_dir, uid, gid, 16) != 0)
        CF_WARN("cannot give all of %s to user '%s'", cfg->data_dir, cfg->user);
    if (setgroups(1, &gid) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
        CF_ERROR("cannot switch to user '%s' (uid %u): %s", cfg->user, (unsigned)uid, strerror(errno));
        return CF_EXIT_FAIL;
    }
    if (uid != 0 && setuid(0) == 0) { /* must not be able to return */
        CF_ERROR("user '%s': root privileges could not be dropped", cfg->user);
        return CF_EXIT_FAIL;
    }
    CF_INFO("running as user '%s' (uid %u, gid %u)", cfg->user, (unsigned)uid, (unsigned)gid);
    return 0;
}

/* The sampling-default and sampling-override rules of cfg, parsed (the
 * configuration checked their syntax).  Returns a malloc'ed array, NULL when
 * there are none; free with free_sampling_rules(). */
static collect_sampling_rule *sampling_rules(const collect_config *cfg, size_t *n_out)
{
    const collect_list *lists[2] = {&cfg->sampling_default, &cfg->sampling_override};
    size_t n = lists[0]->n + lists[1]->n, k = 0;
    *n_out = 0;
    if (n == 0)
        return NULL;
    collect_sampling_rule *rules = calloc(n, sizeof(*rules));
    if (!rules)
        return NULL;
    for (int l = 0; l < 2; l++)
        for (size_t i = 0; i < lists[l]->n; i++) {
            collect_sampling_rule *r = &rules[k];
            if (collect_sampling_rule_parse(lists[l]->v[i], &r->prefix, &r->rate) != CF_OK)
                continue;
            r->override = l == 1;
            k++;
        }
    *n_out = k;
    return rules;
}

/* The source rules of cfg, parsed; NULL when there are none. */
static collect_source_rule *source_rules(const collect_config *cfg, size_t *n_out)
{
    *n_out = 0;
    if (cfg->source.n == 0)
        return NULL;
    collect_source_rule *rules = calloc(cfg->source.n, sizeof(*rules));
    if (!rules)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < cfg->source.n; i++)
        if (collect_source_rule_parse(cfg->source.v[i], &rules[k]) == CF_OK)
            k++;
    *n_out = k;
    return rules;
}

static void free_source_rules(collect_source_rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rules[i].prefix);
    free(rules);
}

static void free_sampling_rules(collect_sampling_rule *rules, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(rules[i].prefix);
    free(rules);
}

/* rules: the sampling and source rules (other members unused). */
static int run_collector(const collect_config *cfg, const collect_args *a, const collect_pipeline_options *rules)
{
    char err[1200];
    collect_pipeline_options po;
    collect_pipeline_options_default(&po);
    po.data_dir = cfg->data_dir;
    po.store.rotate_s = (uint32_t)cfg->rotate_s;
    po.store.flush_ms = (uint32_t)cfg->flush_ms;
    po.store.codec = cfg->compress;
    po.max_exporters = (uint32_t)cfg->max_exporters;
    po.retention_age_ms = cfg->retention_age_s * 1000u;
    po.retention_bytes = cfg->retention_bytes;
    po.queue_size = (uint32_t)cfg->queue_size;
    po.decode.max_templates = (uint32_t)cfg->max_templates;
    po.decode.max_fields = (uint32_t)cfg->max_template_fields;
    po.decode.max_names = (uint32_t)cfg->max_names;
    po.decode.pending_max_bytes = (uint32_t)cfg->template_pending_bytes;
    po.decode.pending_max_ms = (uint32_t)cfg->template_pending_ms;
    po.sampling_rules = rules->sampling_rules;
    po.n_sampling_rules = rules->n_sampling_rules;
    po.source_rules = rules->source_rules;
    po.n_source_rules = rules->n_source_rules;

    /* signals are taken by sigwait() in this thread only: block them first,
     * so every thread started below inherits the mask */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &set, NULL);

    const char *addrs[COLLECT_MAX_LISTEN], *fwd[COLLECT_MAX_LIST], *tcp[COLLECT_MAX_LIST];
    collect_listener_options lo;
    listener_options(cfg, &lo, addrs, fwd, tcp);
    if (make_allow(cfg, &lo.allow) != 0)
        return CF_EXIT_USAGE;
    collect_listener *l = NULL;
    collect_pipeline *p = NULL;
    cf_err e = collect_listener_open_opts(&lo, &l, err, sizeof(err));
    if (e) {
        CF_ERROR("%s", err);
        return e == CF_ERR_USAGE ? CF_EXIT_USAGE : CF_EXIT_FAIL;
    }
    int drop = drop_privileges(cfg);
    if (drop) {
        collect_listener_close(l);
        return drop;
    }
    e = collect_pipeline_open(&po, &p, err, sizeof(err));
    if (e) {
        CF_ERROR("%s", err);
        collect_listener_close(l);
        return CF_EXIT_FAIL;
    }
    CF_INFO("collecting into %s (rotate %llus, flush %llums, %s)", cfg->data_dir,
            (unsigned long long)cfg->rotate_s, (unsigned long long)cfg->flush_ms, store_codec_name(cfg->compress));
    int rc = CF_EXIT_OK;
    if (collect_listener_start(l, p) != CF_OK) {
        CF_ERROR("cannot start the receive thread");
        rc = CF_EXIT_FAIL;
    } else {
        demo_sender sender;
        memset(&sender, 0, sizeof(sender));
        if (a->demo)
            demo_start(&sender, l);
        wait_for_signal(&set, p, &sender, l, a, cfg);
        demo_stop(&sender);
        collect_listener_stop(l);
        collect_listener_stats ls;
        collect_listener_get_stats(l, &ls);
        CF_INFO("listener: %zu sockets, kernel_drops=%llu refused=%llu ring_full_waits=%llu forwarded=%llu "
                "forward_errors=%llu tcp_connections=%llu tcp_messages=%llu tcp_bad_streams=%llu",
                ls.n_sockets, (unsigned long long)ls.kernel_drops, (unsigned long long)ls.refused,
                (unsigned long long)ls.ring_full_waits, (unsigned long long)ls.forwarded,
                (unsigned long long)ls.forward_errors, (unsigned long long)ls.tcp_connections,
                (unsigned long long)ls.tcp_messages, (unsigned long long)ls.tcp_bad_streams);
    }
    if (collect_pipeline_close(p, NULL) != CF_OK)
        rc = CF_EXIT_FAIL;
    collect_listener_close(l);
    return rc;
}

int cmd_collect(int argc, char **argv)
{
    collect_args a;
    memset(&a, 0, sizeof(a));
    int rc = parse_args(argc, argv, &a);
    if (rc)
        return rc < 0 ? CF_EXIT_OK : rc;
    collect_config *cfg = malloc(sizeof(*cfg));
    if (!cfg)
        return CF_EXIT_FAIL;
    rc = build_config(&a, cfg);
    if (!rc && a.print_config)
        collect_config_dump(cfg, stdout);
    else if (!rc) {
        cf_log_set_level(cfg->log_level);
        if (strcmp(cfg->log_to, "syslog") == 0)
            cf_log_use_syslog("cloudflow");
        collect_pipeline_options rules;
        memset(&rules, 0, sizeof(rules));
        collect_sampling_rule *sr = sampling_rules(cfg, &rules.n_sampling_rules);
        collect_source_rule *src = source_rules(cfg, &rules.n_source_rules);
        rules.sampling_rules = sr;
        rules.source_rules = src;
        rc = run_collector(cfg, &a, &rules);
        free_sampling_rules(sr, rules.n_sampling_rules);
        free_source_rules(src, rules.n_source_rules);
    }
    free(cfg);
    return rc;
}
