/*
 * core/timeutil.h - wall-clock time in milliseconds and its text forms.
 *
 * All times in cloudflow are milliseconds since the Unix epoch, UTC, held in
 * uint64_t.  Text forms are always UTC.  Thread safe.
 */
#ifndef CF_CORE_TIMEUTIL_H
#define CF_CORE_TIMEUTIL_H

#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

/* Milliseconds since the epoch (CLOCK_REALTIME). */
uint64_t cf_time_now_ms(void);
/* Milliseconds of CLOCK_MONOTONIC, for measuring intervals. */
uint64_t cf_time_mono_ms(void);
/* Nanoseconds of CLOCK_MONOTONIC. */
uint64_t cf_time_mono_ns(void);

/* "2024-01-01T02:00:00.123Z" into buf (at least 25 bytes). */
void cf_time_format_iso(uint64_t ms, char *buf, size_t len);
/* nfdump's form "2024-01-01 02:00:00.123" into buf (at least 24 bytes). */
void cf_time_format_nfdump(uint64_t ms, char *buf, size_t len);

/*
 * Parses one point in time, UTC:
 *   nfdump form  YYYY/MM/DD[.hh[:mm[:ss]]]
 *   ISO 8601     YYYY-MM-DD[Thh[:mm[:ss[.fff]]]][Z]  (also with a space for T)
 *   epoch        a plain number of seconds (at least 9 digits)
 * Missing parts are zero.  Returns CF_ERR_USAGE when text is not one of them.
 */
cf_err cf_time_parse(const char *text, uint64_t *out_ms);

/*
 * Parses a window "FROM[-TO]" as nfdump's -t does (the separator between the
 * two nfdump-form times is '-').  Without TO the window ends at UINT64_MAX.
 * The window is [from, to] inclusive of both ends, in ms.
 */
cf_err cf_time_parse_window(const char *text, uint64_t *from_ms, uint64_t *to_ms);

/* Parses a duration "300", "300s", "5m", "1h", "1d" into seconds (> 0). */
cf_err cf_duration_parse(const char *text, uint64_t *out_s);

#endif
