/* core/log.c - line-atomic logging with rate limiting. */
#include "core/log.h"
#include "core/timeutil.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <syslog.h>
#include <unistd.h>

/* Process-wide settings, written once at start-up by main() before threads. */
static _Atomic int log_level = CF_LOG_INFO;
static _Atomic int log_syslog = 0;

void cf_log_set_level(cf_log_level level) { log_level = (int)level; }

void cf_log_use_syslog(const char *ident)
{
    if (ident) {
        openlog(ident, LOG_PID, LOG_DAEMON);
        log_syslog = 1;
    } else {
        log_syslog = 0;
    }
}

static const char *level_name(cf_log_level level)
{
    switch (level) {
    case CF_LOG_ERROR: return "error";
    case CF_LOG_WARN: return "warning";
    case CF_LOG_INFO: return "info";
    case CF_LOG_DEBUG: return "debug";
    }
    return "?";
}

static void log_va(cf_log_level level, const char *suffix, const char *fmt, va_list ap)
{
    if ((int)level > log_level)
        return;
    char msg[1024];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (log_syslog) {
        static const int prio[] = {LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG};
        syslog(prio[level], "%s%s", msg, suffix);
        return;
    }
    char ts[32];
    cf_time_format_iso(cf_time_now_ms(), ts, sizeof(ts));
    char line[1200];
    int n = snprintf(line, sizeof(line), "%s cloudflow %s: %s%s\n", ts, level_name(level), msg, suffix);
    if (n < 0)
        return;
    size_t len = (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1;
    if (len > 0 && line[len - 1] != '\n')
        line[len - 1] = '\n';
    ssize_t w = write(STDERR_FILENO, line, len);
    (void)w;
}

void cf_log(cf_log_level level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_va(level, "", fmt, ap);
    va_end(ap);
}

void cf_log_limited(cf_ratelimit *rl, cf_log_level level, const char *fmt, ...)
{
    uint64_t now = cf_time_now_ms();
    uint32_t interval = rl->interval_ms ? rl->interval_ms : 10000;
    uint32_t burst = rl->burst ? rl->burst : 5;
    uint64_t start = atomic_load(&rl->window_start_ms);
    if (now - start >= interval &&
        atomic_compare_exchange_strong(&rl->window_start_ms, &start, now))
        atomic_store(&rl->in_window, 0);
    if (atomic_fetch_add(&rl->in_window, 1) >= burst) {
        atomic_fetch_add(&rl->suppressed, 1);
        return;
    }
    char suffix[64] = "";
    uint64_t supp = atomic_exchange(&rl->suppressed, 0);
    if (supp)
        snprintf(suffix, sizeof(suffix), " (%llu similar messages suppressed)", (unsigned long long)supp);
    va_list ap;
    va_start(ap, fmt);
    log_va(level, suffix, fmt, ap);
    va_end(ap);
}
