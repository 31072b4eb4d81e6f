/*
 * core/log.h - logging to stderr (or syslog) with a per-call-site rate limit.
 *
 * Thread safety: every function may be called from any thread; one line is
 * written with one write(2), so lines of different threads never interleave.
 *
 * Rate limiting: bad outside input must be logged without letting a flood of
 * bad packets flood the log.  A cf_ratelimit lets at most `burst` lines through
 * per `interval_ms`; the lines it suppressed are counted and reported in the
 * next line that goes through ("(N similar messages suppressed)").
 */
#ifndef CF_CORE_LOG_H
#define CF_CORE_LOG_H

#include <stdint.h>
#include <stdatomic.h>

typedef enum cf_log_level {
    CF_LOG_ERROR = 0,
    CF_LOG_WARN = 1,
    CF_LOG_INFO = 2,
    CF_LOG_DEBUG = 3,
} cf_log_level;

/* Lines above this level are not written.  Default CF_LOG_INFO. */
void cf_log_set_level(cf_log_level level);
/* Send lines to syslog(3) with this ident instead of stderr (ident NULL: back to stderr). */
void cf_log_use_syslog(const char *ident);

void cf_log(cf_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* A rate limiter; zero-initialise it, then set interval_ms and burst
 * (defaults when zero: 10000 ms, 5 lines). */
typedef struct cf_ratelimit {
    uint32_t interval_ms;
    uint32_t burst;
    _Atomic uint64_t window_start_ms;
    _Atomic uint32_t in_window;
    _Atomic uint64_t suppressed;
} cf_ratelimit;

/* Like cf_log, but silent when rl's budget for the current interval is spent. */
void cf_log_limited(cf_ratelimit *rl, cf_log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define CF_ERROR(...) cf_log(CF_LOG_ERROR, __VA_ARGS__)
#define CF_WARN(...) cf_log(CF_LOG_WARN, __VA_ARGS__)
#define CF_INFO(...) cf_log(CF_LOG_INFO, __VA_ARGS__)

#endif
