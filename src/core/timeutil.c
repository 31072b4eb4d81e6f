/* core/timeutil.c - time in ms, formatting and parsing (UTC only). */
#include "core/timeutil.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

uint64_t cf_time_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

uint64_t cf_time_mono_ms(void) { return cf_time_mono_ns() / 1000000u; }

uint64_t cf_time_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void split(uint64_t ms, struct tm *tm)
{
    time_t secs = (time_t)(ms / 1000u);
    gmtime_r(&secs, tm);
}

void cf_time_format_iso(uint64_t ms, char *buf, size_t len)
{
    struct tm tm;
    split(ms, &tm);
    snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000u));
}

void cf_time_format_nfdump(uint64_t ms, char *buf, size_t len)
{
    struct tm tm;
    split(ms, &tm);
    snprintf(buf, len, "%04d-%02d-%02d %02d:%02d:%02d.%03u", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (unsigned)(ms % 1000u));
}

/* Reads exactly `digits` decimal digits at *p into *out; advances *p. */
static int take_digits(const char **p, int digits, int *out)
{
    int v = 0;
    for (int i = 0; i < digits; i++) {
        if (!isdigit((unsigned char)(*p)[i]))
            return -1;
        v = v * 10 + ((*p)[i] - '0');
    }
    *p += digits;
    *out = v;
    return 0;
}

/* Parses a date-time whose date separator is `dsep` and date/time separator
 * is one of `tsep`; stores the end of what was parsed in *end. */
static cf_err parse_datetime(const char *s, char dsep, const char *tsep, uint64_t *out, const char **end)
{
    int f[6] = {0, 1, 1, 0, 0, 0};
    int ms = 0;
    const char *p = s;
    if (take_digits(&p, 4, &f[0]) || *p != dsep)
        return CF_ERR_USAGE;
    p++;
    if (take_digits(&p, 2, &f[1]) || *p != dsep)
        return CF_ERR_USAGE;
    p++;
    if (take_digits(&p, 2, &f[2]))
        return CF_ERR_USAGE;
    if (*p && strchr(tsep, *p)) {
        p++;
        if (take_digits(&p, 2, &f[3]))
            return CF_ERR_USAGE;
        for (int i = 4; i < 6 && *p == ':'; i++) {
            p++;
            if (take_digits(&p, 2, &f[i]))
                return CF_ERR_USAGE;
        }
        if (*p == '.' && isdigit((unsigned char)p[1])) {
            p++;
            int scale = 100;
            while (isdigit((unsigned char)*p)) {
                ms += (*p - '0') * scale;
                scale /= 10;
                p++;
            }
        }
    }
    if (*p == 'Z')
        p++;
    if (f[1] < 1 || f[1] > 12 || f[2] < 1 || f[2] > 31 || f[3] > 23 || f[4] > 59 || f[5] > 60)
        return CF_ERR_USAGE;
    struct tm tm = {0};
    tm.tm_year = f[0] - 1900;
    tm.tm_mon = f[1] - 1;
    tm.tm_mday = f[2];
    tm.tm_hour = f[3];
    tm.tm_min = f[4];
    tm.tm_sec = f[5];
    time_t t = timegm(&tm);
    if (t < 0)
        return CF_ERR_USAGE;
    *out = (uint64_t)t * 1000u + (uint64_t)ms;
    *end = p;
    return CF_OK;
}

static cf_err parse_prefix(const char *text, uint64_t *out_ms, const char **end)
{
    if (strlen(text) >= 5 && text[4] == '/')
        return parse_datetime(text, '/', ".", out_ms, end);
    if (strlen(text) >= 5 && text[4] == '-')
        return parse_datetime(text, '-', "T ", out_ms, end);
    const char *p = text;
    while (isdigit((unsigned char)*p))
        p++;
    if (p - text < 9 || p - text > 12)
        return CF_ERR_USAGE;
    errno = 0;
    unsigned long long secs = strtoull(text, NULL, 10);
    if (errno)
        return CF_ERR_USAGE;
    *out_ms = (uint64_t)secs * 1000u;
    *end = p;
    return CF_OK;
}

cf_err cf_time_parse(const char *text, uint64_t *out_ms)
{
    uint64_t v;
    const char *end;
    cf_err err = parse_prefix(text, &v, &end);
    if (err)
        return err;
    if (*end)
        return CF_ERR_USAGE;
    *out_ms = v;
    return CF_OK;
}

cf_err cf_time_parse_window(const char *text, uint64_t *from_ms, uint64_t *to_ms)
{
    uint64_t from, to = UINT64_MAX;
    const char *end;
    cf_err err = parse_prefix(text, &from, &end);
    if (err)
        return err;
    if (*end == '-') {
        err = cf_time_parse(end + 1, &to);
        if (err)
            return err;
        if (to < from)
            return CF_ERR_RANGE;
    } else if (*end) {
        return CF_ERR_USAGE;
    }
    *from_ms = from;
    *to_ms = to;
    return CF_OK;
}

cf_err cf_duration_parse(const char *text, uint64_t *out_s)
{
    char *end;
    errno = 0;
    unsigned long long v = strtoull(text, &end, 10);
    if (errno || end == text || v == 0 || text[0] == '-')
        return CF_ERR_USAGE;
    uint64_t mult = 1;
    if (*end == 's')
        end++;
    else if (*end == 'm')
        mult = 60, end++;
    else if (*end == 'h')
        mult = 3600, end++;
    else if (*end == 'd')
        mult = 86400, end++;
    if (*end || v > UINT64_MAX / mult)
        return CF_ERR_USAGE;
    *out_s = (uint64_t)v * mult;
    return CF_OK;
}
