/*
 * collect/config.h - the collector's configuration: one declarative table of
 * options used by the config file, the command line and --help.
 *
 * Where it sits: `cloudflow collect` fills a collect_config from defaults,
 * then the config file (--config FILE), then command-line options, and hands
 * it to the listeners and the pipeline.  docs/CONFIG.md documents every key.
 *
 * The table (collect_options[]) names each key once, as nginx's directives
 * or fluent-bit's config maps do: key, value type, the member it sets
 * (offsetof), its default as text, its bounds and a help line.  Command-line
 * options are the same keys (`--listen`, `--data`, ...).
 *
 * Config file syntax: one `key = value` per line; blank lines and lines
 * starting with `#` are ignored, as is anything after ` #`; spaces around key
 * and value are trimmed; a value may be put in double quotes.  Keys marked
 * repeatable (listen) may appear several times and accumulate; the values a
 * later origin (file, then command line) gives replace those of an earlier
 * one instead of adding to them.
 *
 * Thread safety: the table is constant; a collect_config is a plain value.
 */
#ifndef CF_COLLECT_CONFIG_H
#define CF_COLLECT_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "core/error.h"
#include "core/log.h"
#include "store/store.h"

#define COLLECT_MAX_LISTEN 16
#define COLLECT_ADDR_LEN 128
#define COLLECT_PATH_LEN 1024
#define COLLECT_NAME_LEN 64

/* Where a value came from; a later origin replaces repeatable lists. */
typedef enum collect_origin {
    COLLECT_ORIGIN_DEFAULT = 0,
    COLLECT_ORIGIN_FILE = 1,
    COLLECT_ORIGIN_CLI = 2,
} collect_origin;

/* A repeatable key's values (forward, tcp-listen, allow); validated. */
#define COLLECT_MAX_LIST 16
typedef struct collect_list {
    char v[COLLECT_MAX_LIST][COLLECT_ADDR_LEN];
    size_t n;
    collect_origin origin; /* origin of the values */
} collect_list;

typedef struct collect_config {
    char listen[COLLECT_MAX_LISTEN][COLLECT_ADDR_LEN]; /* [ADDR]:PORT, validated */
    size_t n_listen;
    collect_origin listen_origin;     /* origin of the values in listen[] */
    char data_dir[COLLECT_PATH_LEN];  /* data directory */
    uint64_t rcvbuf;                  /* socket receive buffer, bytes (0: system default) */
    uint64_t rotate_s;                /* segment window, seconds */
    uint64_t retention_age_s;         /* remove segments older than this (0: keep) */
    uint64_t retention_bytes;         /* keep each source under this size (0: no limit) */
    uint64_t flush_ms;                /* buffered records reach disk at most this old */
    store_codec compress;             /* column compression */
    cf_log_level log_level;           /* lines above are not logged */
    uint64_t max_exporters;           /* exporter table bound */
    uint64_t queue_size;              /* writer queue, in batches of 1024 records */
    uint64_t max_templates;           /* v9/IPFIX templates per exporter */
    uint64_t max_template_fields;     /* fields per template */
    uint64_t max_names;               /* application + interface names per exporter */
    uint64_t template_pending_bytes;  /* data sets kept per exporter while their template is unknown */
    uint64_t template_pending_ms;     /* ... and how long, ms */
    uint64_t receive_threads;         /* UDP receive threads (SO_REUSEPORT sockets per address); 0: cores */
    collect_list forward;             /* forward targets HOST/PORT */
    collect_list tcp_listen;          /* IPFIX-over-TCP listen addresses */
    collect_list allow;               /* exporter allow-list (empty: everyone) */
    collect_list sampling_default;    /* "N" or "ADDR[/LEN]=N": rate when none is announced */
    collect_list sampling_override;   /* "N" or "ADDR[/LEN]=N": rate whatever is announced */
    collect_list source;              /* "NAME=ADDR[/LEN]": exporters stored under DATADIR/NAME */
    char user[COLLECT_NAME_LEN];      /* run as this user once sockets and data dir are open ("": stay) */
    char log_to[COLLECT_NAME_LEN];    /* "stderr" or "syslog" */
} collect_config;

typedef enum collect_opt_type {
    COLLECT_T_LISTEN = 1,   /* [ADDR]:PORT, repeatable */
    COLLECT_T_PATH = 2,     /* a path */
    COLLECT_T_SIZE = 3,     /* bytes, with optional k/K, m/M, g/G suffix (powers of 1024) */
    COLLECT_T_DURATION = 4, /* seconds: 300, 300s, 5m, 1h, 1d */
    COLLECT_T_UINT = 5,     /* a decimal integer */
    COLLECT_T_CODEC = 6,    /* lz4 | zstd | none */
    COLLECT_T_LOGLEVEL = 7, /* error | warn | info | debug */
    COLLECT_T_LIST = 8,     /* repeatable text values (collect_list), checked by key */
    COLLECT_T_AGE = 9,      /* seconds, any length: 0 (off), 3600, 12h, 30d */
    COLLECT_T_NAME = 10,    /* a short word (< COLLECT_NAME_LEN), checked by key: user, log */
} collect_opt_type;

typedef struct collect_option {
    const char *key;        /* config key and long option name */
    collect_opt_type type;
    size_t offset;          /* member of collect_config */
    const char *def;        /* default, as text ("" for none) */
    uint64_t min, max;      /* bounds of numeric values (inclusive) */
    const char *arg;        /* placeholder for help ("ADDR:PORT") */
    const char *help;       /* one line */
} collect_option;

/* The table and its length. */
extern const collect_option collect_options[];
extern const size_t collect_n_options;

/* The option with this key, or NULL. */
const collect_option *collect_option_find(const char *key);

/* Fills c with every default (listen [::]:2055, data /var/lib/cloudflow, ...). */
void collect_config_default(collect_config *c);

/*
 * Sets key to value (text) as coming from origin.  Returns CF_OK;
 * CF_ERR_NOT_FOUND for an unknown key; CF_ERR_USAGE for a value that does
 * not parse or is out of bounds; CF_ERR_FULL when a repeatable key has too
 * many values.  errbuf gets a message naming the key; c is unchanged on
 * failure.
 */
cf_err collect_config_set(collect_config *c, const char *key, const char *value, collect_origin origin,
                          char *errbuf, size_t errlen);

/*
 * Reads the config file at path (see the syntax above) into c.  Returns
 * CF_OK; CF_ERR_IO when it cannot be read ("path: reason"); CF_ERR_CONFIG for
 * the first bad line, with errbuf "path:LINE: key 'KEY': reason" (or
 * "path:LINE: reason" when there is no key).  c may hold the values of the
 * lines before the bad one.
 */
cf_err collect_config_load(collect_config *c, const char *path, char *errbuf, size_t errlen);

/* Prints every key with its argument, default and help, for --help. */
void collect_config_print_help(FILE *out);

/* Writes the effective value of every key as config-file lines. */
void collect_config_dump(const collect_config *c, FILE *out);

#endif
