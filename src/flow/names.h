/*
 * flow/names.h - names of an exporter's applications and interfaces, and
 * the text file that keeps them.
 *
 * Where it sits: NetFlow v9 / IPFIX exporters announce, in options data,
 * the name and description of an application id (IE 95 -> 96, 94) and of an
 * interface index (IE 10 / 14 -> 82, 83).  The decoder (src/decode) keeps
 * one flow_names table per exporter; the collector (src/collect/tplstore.c)
 * saves it as a names file in the data directory; the query
 * (src/query/names.c) reads those files to print names beside the numbers
 * the flows carry (flow_record.app_id, in_if, out_if).  It lives in
 * src/flow because all three stages share it and it describes flow fields.
 *
 * A table is a sorted array of (kind, key) -> (name, description).  Text is
 * always kept *sanitised* (flow_names_sanitize): printable ASCII only, at
 * most FLOW_NAME_MAX_TEXT bytes, so it can be printed and written to a file
 * without further care (JSON still needs '"' and '\' escaped).
 *
 * Ownership: the table owns its entries and their strings; flow_names_free()
 * releases them.  Pointers returned by flow_names_find() stay valid until
 * the next call that changes the table.  Not thread safe: one thread
 * changes or reads a table at a time.
 *
 * Names file, version 1 (text, ASCII, lines ending in '\n', fields
 * separated by one TAB):
 *
 *   LINE  CONTENT
 *   1     "cloudflow-names" TAB "1"                       magic and version
 *   2     "exporter" TAB ADDRESS TAB PORT                  exporter address
 *                                                          (IPv4 or IPv6 text) and
 *                                                          UDP source port
 *   3..   KIND TAB KEY TAB NAME TAB DESCRIPTION            one per entry
 *   last  "end" TAB N                                      N entries above
 *
 * KIND is "app" (KEY = engine << 24 | selector, as flow_record.app_id) or
 * "if" (KEY = ifIndex).  KEY is decimal, 0..4294967295, without leading
 * zeros.  Entries are in strictly ascending (kind, key) order (app before
 * if), so no key appears twice.  NAME and DESCRIPTION are sanitised text
 * (may be empty): bytes 0x20..0x7e except '\', plus the escapes "\\" and
 * "\xHH" (two lower-case hex digits), at most FLOW_NAME_MAX_TEXT bytes each.
 * Nothing may follow the end line.  Files are at most FLOW_NAMES_MAX_FILE
 * bytes.
 */
#ifndef CF_FLOW_NAMES_H
#define CF_FLOW_NAMES_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define FLOW_NAMES_VERSION 1
#define FLOW_NAME_MAX_TEXT 128u          /* bytes of sanitised name or description */
#define FLOW_NAMES_MAX_FILE (4u << 20)   /* larger names files are refused */
#define FLOW_NAMES_DEFAULT_MAX 4096u     /* entries per exporter by default */

typedef enum flow_name_kind {
    FLOW_NAME_APP = 1, /* application: key = engine << 24 | selector */
    FLOW_NAME_IF = 2,  /* interface: key = ifIndex */
} flow_name_kind;

typedef struct flow_name {
    uint8_t kind;  /* flow_name_kind */
    uint32_t key;
    char *name;    /* sanitised, NUL-terminated, owned ("" when unknown) */
    char *desc;    /* sanitised, NUL-terminated, owned ("" when unknown) */
} flow_name;

typedef struct flow_names {
    flow_name *e;        /* sorted by (kind, key) */
    size_t n, cap;
    size_t max;          /* entries allowed (0: FLOW_NAMES_DEFAULT_MAX) */
    uint64_t generation; /* +1 each time an entry is added or changed */
} flow_names;

/* An empty table of at most max entries (0: the default). */
void flow_names_init(flow_names *t, size_t max);

/* Frees the entries; t is then empty and may be reused. */
void flow_names_free(flow_names *t);

/*
 * Writes the sanitised form of len bytes at p to out (size out_size >= 1,
 * always NUL-terminated) and returns its length.  The value ends at the
 * first NUL byte (fixed-length fields are NUL padded); bytes outside 0x20..0x7e become "\xHH", '\' becomes "\\"; the
 * result is cut (never inside an escape) at min(out_size - 1,
 * FLOW_NAME_MAX_TEXT) bytes.
 */
size_t flow_names_sanitize(const uint8_t *p, size_t len, char *out, size_t out_size);

/*
 * Sets the entry (kind, key): name and desc are sanitised text (NULL: keep
 * what the entry had, "" for a new one).  Returns CF_OK (added, changed or
 * unchanged; generation counts the first two), CF_ERR_FULL (a new key
 * while the table holds max entries: nothing changed), CF_ERR_RANGE (a
 * text longer than FLOW_NAME_MAX_TEXT or a bad kind), CF_ERR_NOMEM.
 */
cf_err flow_names_set(flow_names *t, flow_name_kind kind, uint32_t key, const char *name, const char *desc);

/* The entry (kind, key), or NULL. */
const flow_name *flow_names_find(const flow_names *t, flow_name_kind kind, uint32_t key);

/*
 * Serialises t as a names file for the exporter addr (16 bytes, IPv4-mapped
 * for IPv4) and port into a malloc'ed buffer (*out, *out_len; the caller
 * frees it).  CF_OK, CF_ERR_NOMEM.
 */
cf_err flow_names_save(const flow_names *t, const uint8_t addr[16], uint16_t port, char **out, size_t *out_len);

/*
 * Parses and checks a whole names file (buf, len) into out (initialised by
 * the caller with its max; replaced only on success), *addr and *port.
 * Returns CF_OK; CF_ERR_CORRUPT (layout, with "line N: what" in err);
 * CF_ERR_VERSION (another version); CF_ERR_FULL (more entries than
 * out->max); CF_ERR_RANGE (larger than FLOW_NAMES_MAX_FILE); CF_ERR_NOMEM.
 * On failure out, addr and port are unchanged.
 */
cf_err flow_names_parse(const char *buf, size_t len, flow_names *out, uint8_t addr[16], uint16_t *port, char *err,
                        size_t err_len);

#endif
