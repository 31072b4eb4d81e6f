/*
 * query/qbuf.h - internal: a growable output buffer and the fast text
 * formatting the record printers use (integers, IP addresses, times).
 *
 * Printing millions of records is bound by formatting, so nothing here calls
 * printf per field: numbers are written digit by digit, IPv4 octets come
 * from a table, dates are cached per second.  A query_buf belongs to one
 * thread.  Internal to the query engine (not installed with query.h).
 */
#ifndef CF_QUERY_QBUF_H
#define CF_QUERY_QBUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "core/error.h"

typedef struct query_buf {
    char *p;        /* text; not NUL-terminated */
    size_t len;     /* bytes used */
    size_t cap;     /* bytes allocated */
    bool failed;    /* an allocation failed: later writes are dropped */
    uint64_t day;   /* cache of the date text: day number it was made for (+1; 0 = none) */
    char day_txt[12]; /* "YYYY-MM-DD " of day - 1 */
} query_buf;

/* Makes room for n more bytes; false (and b->failed) when out of memory. */
bool query_buf_reserve(query_buf *b, size_t n);
void query_buf_free(query_buf *b);

static inline void query_buf_put(query_buf *b, const char *s, size_t n)
{
    if (b->cap - b->len < n && !query_buf_reserve(b, n))
        return;
    memcpy(b->p + b->len, s, n);
    b->len += n;
}
static inline void query_buf_puts(query_buf *b, const char *s) { query_buf_put(b, s, strlen(s)); }
static inline void query_buf_putc(query_buf *b, char c)
{
    if (b->cap == b->len && !query_buf_reserve(b, 1))
        return;
    b->p[b->len++] = c;
}
/* n spaces (n <= 0: nothing). */
void query_buf_spaces(query_buf *b, int n);
/* s right-aligned in width (never truncated). */
void query_buf_pad_left(query_buf *b, const char *s, size_t n, int width);
/* s left-aligned in width. */
void query_buf_pad_right(query_buf *b, const char *s, size_t n, int width);

/* Decimal text of v into out (at least 21 bytes); returns its length. */
size_t query_fmt_u64(uint64_t v, char *out);
/* v right-aligned in width. */
void query_buf_u64(query_buf *b, uint64_t v, int width);
/* nfdump's number format: plain below 1e6, else "%.1f M" / G / T (1000-based);
 * plain always when plain is set.  out >= 32 bytes; returns the length. */
size_t query_fmt_num(uint64_t v, bool plain, char *out);
/* "%.Nf" of a non-negative double with `decimals` digits (0..3), rounded. */
size_t query_fmt_fixed(double v, int decimals, char *out);

/* Address text: dotted quad for mapped IPv4 and for the all-zero (absent)
 * address, RFC 5952 for IPv6.  out >= 46. */
size_t query_fmt_addr(const uint8_t addr[16], char *out);
/* The address cut to 16 characters as nfdump's line format does for IPv6
 * ("2001:db..ab:d997") unless long_v6; returns the length. */
size_t query_fmt_addr_short(const uint8_t addr[16], bool long_v6, char *out);
/* "00:11:22:33:44:55". out >= 18. */
size_t query_fmt_mac(uint64_t mac, char *out);
/* TCP flags as nfdump: 8 characters "CEUAPRSF" with '.' for clear bits. */
void query_fmt_flags(uint8_t flags, char out[9]);
/* nfdump's protocol name ("TCP", "UDP", "ICMP" ...) or the number. */
size_t query_fmt_proto(uint8_t proto, bool numeric, char *out);

/* ---- unchecked writers: the caller reserved room (query_buf_reserve) and
 * writes at a cursor w into b->p; each returns the new end. ---- */

/* Decimal text of v (at most 20 bytes). */
char *query_w_u64(char *w, uint64_t v);
/* Address text as query_fmt_addr (at most 45 bytes). */
char *query_w_addr(char *w, const uint8_t addr[16]);
/* "YYYY-MM-DD hh:mm:ss" of ms (19 bytes); the date part is cached in b. */
char *query_w_date(query_buf *b, char *w, uint64_t ms);
/* "00:11:22:33:44:55" (17 bytes). */
char *query_w_mac(char *w, uint64_t mac);

/* "YYYY-MM-DD hh:mm:ss" of ms (UTC) into b, the date cached per day. */
void query_buf_date(query_buf *b, uint64_t ms);
/* "YYYY-MM-DD hh:mm:ss.mmm". */
void query_buf_time_ms(query_buf *b, uint64_t ms);
/* Duration "HH:MM:SS.mmm" (hours grow past 99) into out; returns length. */
size_t query_fmt_duration(uint64_t ms, char *out);

#endif
