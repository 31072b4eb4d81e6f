/*
 * collect/acl.h - exporter allow-list: addresses and prefixes.
 *
 * Where it sits: the listener (collect/listener.h) checks the sender of
 * every datagram and TCP connection against it before anything is decoded;
 * what it refuses is counted (refused) and logged, rate limited.
 *
 * Entries: "192.0.2.1", "10.0.0.0/8", "2001:db8::/32", "::1".  IPv4 entries
 * are held as IPv4-mapped IPv6 prefixes (::ffff:a.b.c.d/96+len), which is
 * how senders are compared (flow_record form).
 *
 * Ownership / threads: a collect_acl is a plain heap value; build it in one
 * thread, then hand it over (collect_listener_set_allow); reading is
 * thread-safe.
 */
#ifndef CF_COLLECT_ACL_H
#define CF_COLLECT_ACL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define COLLECT_ACL_MAX 1024

typedef struct collect_acl_entry {
    uint8_t addr[16]; /* network address, bits beyond bits are zero */
    uint8_t bits;     /* prefix length 0 .. 128 (IPv4: 96 + len) */
} collect_acl_entry;

typedef struct collect_acl {
    size_t n;
    collect_acl_entry e[]; /* n entries */
} collect_acl;

/*
 * Parses n entries into a new list (*out, free() it).  CF_ERR_USAGE with
 * errbuf naming the bad entry (bad address, prefix out of range, more than
 * COLLECT_ACL_MAX entries), CF_ERR_NOMEM; *out untouched on failure.
 */
cf_err collect_acl_parse(const char *const *entries, size_t n, collect_acl **out, char *errbuf, size_t errlen);

/* Checks one entry's syntax (for the configuration); CF_OK or CF_ERR_USAGE. */
cf_err collect_acl_check(const char *entry);

/* True when addr (16 bytes, IPv4-mapped for IPv4) is in the list; a NULL
 * list allows everything. */
bool collect_acl_allows(const collect_acl *acl, const uint8_t addr[16]);

/*
 * A per-exporter sampling rule ("N" for every exporter, or "ADDR[/LEN]=N"),
 * as the keys sampling-default and sampling-override take it.  Parses text
 * into *prefix (one-entry list; NULL for "every exporter"; free() it) and
 * *rate (1 .. 2^24).  CF_ERR_USAGE for a bad rule; outputs untouched then.
 */
cf_err collect_sampling_rule_parse(const char *text, collect_acl **prefix, uint32_t *rate);

/* A parsed sampling rule, as the pipeline applies it to new exporters. */
typedef struct collect_sampling_rule {
    collect_acl *prefix; /* exporters it applies to; NULL: every exporter */
    uint32_t rate;       /* sampling interval */
    bool override;       /* 1: sampling-override, 0: sampling-default */
} collect_sampling_rule;

/* Sets *dflt and *override to the rates of the first default rule and the
 * first override rule of rules[0..n-1] that apply to addr (0 when none). */
void collect_sampling_rules_match(const collect_sampling_rule *rules, size_t n, const uint8_t addr[16],
                                  uint32_t *dflt, uint32_t *override);

/* A source rule: exporters in prefix store under DATADIR/<name> (nfcapd -n). */
typedef struct collect_source_rule {
    char name[40];       /* [A-Za-z0-9_.-], 1..32 characters */
    collect_acl *prefix; /* the exporters it takes */
} collect_source_rule;

/* Parses "NAME=ADDR[/LEN]" into *out (free out->prefix).  CF_ERR_USAGE for a
 * bad name or prefix; *out untouched then. */
cf_err collect_source_rule_parse(const char *text, collect_source_rule *out);

#endif
