/* sim/sim_send.c - the simulated exporter's send loop: generate, encode,
 * send over UDP at a bounded rate, count what was sent. */
#include "sim/sim.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/timeutil.h"

#define SIM_BOOT_BEFORE_MS UINT64_C(86400000) /* exporters "booted" a day before the first flow */
#define SIM_SEND_RETRIES 400                  /* ~20 ms of retries when the kernel is out of buffers */
#define SIM_SLEEP_SLICE_NS 50000000L          /* sleep at most 50 ms at a time to notice *stop */

/* One simulated exporter: its socket (own source port) and encoder. */
typedef struct sim_exporter {
    int fd;
    sim_encoder *enc;
} sim_exporter;

/* Everything one run holds. */
typedef struct sim_run {
    const sim_send_options *opt;
    const atomic_bool *stop;
    sim_gen *gen;
    sim_exporter *ex;
    uint32_t n_ex;
    flow_record *batch;
    size_t batch_cap;
    uint64_t generated; /* flows generated (sent or failed) */
    uint64_t t0_ns;
} sim_run;

void sim_send_options_default(sim_send_options *o)
{
    memset(o, 0, sizeof(*o));
    o->proto = "v5";
    o->count = 10000;
    o->rate = 1000;
    o->exporters = 1;
    sim_gen_options_default(&o->gen);
}

/* Binds fd to the wildcard address of o->to's family, UDP port port. */
static cf_err bind_source(int fd, const sim_send_options *o, uint16_t port, char *errbuf, size_t errlen)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    if (o->to.ss_family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        len = sizeof(*s4);
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&ss, len) != 0) {
        snprintf(errbuf, errlen, "bind to source port %u: %s", port, strerror(errno));
        return CF_ERR_IO;
    }
    return CF_OK;
}

static bool stop_requested(const sim_run *run)
{
    if (run->stop && atomic_load(run->stop))
        return true;
    if (run->opt->max_seconds > 0 &&
        (double)(cf_time_mono_ns() - run->t0_ns) / 1e9 >= run->opt->max_seconds)
        return true;
    return false;
}

/* Sleeps until `flows` flows are due at the configured rate (or a stop). */
static void pace(const sim_run *run, uint64_t flows)
{
    if (run->opt->rate <= 0)
        return;
    uint64_t due_ns = run->t0_ns + (uint64_t)((double)flows / run->opt->rate * 1e9);
    for (;;) {
        uint64_t now = cf_time_mono_ns();
        if (now >= due_ns || stop_requested(run))
            return;
        uint64_t wait = due_ns - now;
        struct timespec ts = {0, (long)(wait < (uint64_t)SIM_SLEEP_SLICE_NS ? wait : (uint64_t)SIM_SLEEP_SLICE_NS)};
        nanosleep(&ts, NULL);
    }
}

/* Sends one datagram; false when it could not be sent. */
static bool send_datagram(const sim_run *run, int fd, const uint8_t *buf, size_t len)
{
    for (int tries = 0; tries < SIM_SEND_RETRIES; tries++) {
        ssize_t r = sendto(fd, buf, len, 0, (const struct sockaddr *)&run->opt->to, run->opt->to_len);
        if (r == (ssize_t)len)
            return true;
        if (r < 0 && (errno == ENOBUFS || errno == EAGAIN || errno == EINTR || errno == ECONNREFUSED)) {
            struct timespec ts = {0, 50000};
            nanosleep(&ts, NULL);
            continue;
        }
        return false;
    }
    return false;
}

static cf_err run_open(sim_run *run, char *errbuf, size_t errlen)
{
    const sim_send_options *o = run->opt;
    if (!sim_encoder_find(o->proto)) {
        snprintf(errbuf, errlen, "unknown protocol '%s' (known: %s)", o->proto ? o->proto : "", sim_encoder_names());
        return CF_ERR_USAGE;
    }
    if (o->exporters < 1 || o->exporters > 1000) {
        snprintf(errbuf, errlen, "exporters must be 1..1000");
        return CF_ERR_USAGE;
    }
    if (o->start_ms != 0 && o->start_ms <= SIM_BOOT_BEFORE_MS) {
        snprintf(errbuf, errlen, "start time too early");
        return CF_ERR_USAGE;
    }
    cf_err err = sim_gen_open(&o->gen, &run->gen);
    if (err) {
        snprintf(errbuf, errlen, "generator: %s", cf_err_str(err));
        return err;
    }
    run->ex = calloc(o->exporters, sizeof(*run->ex));
    if (!run->ex)
        return CF_ERR_NOMEM;
    uint64_t first_ms = o->start_ms ? o->start_ms : cf_time_now_ms();
    sim_encoder_options eo = {.boot_ms = first_ms - SIM_BOOT_BEFORE_MS, .no_templates = o->no_templates};
    if (o->src_port && (uint32_t)o->src_port + o->exporters - 1 > 65535) {
        snprintf(errbuf, errlen, "source ports %u + %u exporters exceed 65535", o->src_port, o->exporters);
        return CF_ERR_USAGE;
    }
    for (uint32_t i = 0; i < o->exporters; i++) {
        run->ex[i].fd = -1;
        run->n_ex = i + 1;
        eo.engine_id = (uint8_t)i;
        if ((err = sim_encoder_open(o->proto, &eo, &run->ex[i].enc)) != CF_OK) {
            snprintf(errbuf, errlen, "encoder: %s", cf_err_str(err));
            return err;
        }
        run->ex[i].fd = socket(o->to.ss_family, SOCK_DGRAM, 0);
        if (run->ex[i].fd < 0) {
            snprintf(errbuf, errlen, "socket: %s", strerror(errno));
            return CF_ERR_IO;
        }
        if (o->src_port && (err = bind_source(run->ex[i].fd, o, (uint16_t)(o->src_port + i), errbuf, errlen)))
            return err;
        int sndbuf = 4 << 20;
        (void)setsockopt(run->ex[i].fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
        size_t m = sim_encoder_max_records(run->ex[i].enc);
        if (m > run->batch_cap)
            run->batch_cap = m;
    }
    run->batch = calloc(run->batch_cap, sizeof(flow_record));
    return run->batch ? CF_OK : CF_ERR_NOMEM;
}

static void run_close(sim_run *run)
{
    for (uint32_t i = 0; i < run->n_ex; i++) {
        if (run->ex[i].fd >= 0)
            close(run->ex[i].fd);
        sim_encoder_close(run->ex[i].enc);
    }
    free(run->ex);
    free(run->batch);
    sim_gen_close(run->gen);
}

/* Generates, encodes and sends one packet of exporter ex; updates res. */
static cf_err send_one(sim_run *run, sim_exporter *ex, sim_send_result *res)
{
    const sim_send_options *o = run->opt;
    size_t k = sim_encoder_max_records(ex->enc);
    if (o->count && o->count - run->generated < k)
        k = (size_t)(o->count - run->generated);
    uint64_t export_ms = 0;
    for (size_t i = 0; i < k; i++) {
        uint64_t idx = run->generated + i;
        uint64_t last = o->start_ms ? o->start_ms + (o->count ? o->span_ms * idx / o->count : 0) : cf_time_now_ms();
        sim_gen_next(run->gen, last, &run->batch[i]);
        export_ms = last;
    }
    uint8_t buf[SIM_MAX_PACKET];
    size_t len = 0, used = 0;
    cf_err err = sim_encoder_encode(ex->enc, run->batch, k, export_ms, buf, sizeof(buf), &len, &used);
    if (err)
        return err;
    run->generated += used;
    if (!send_datagram(run, ex->fd, buf, len)) {
        res->send_errors++;
        return CF_OK;
    }
    res->flows += used;
    res->packets++;
    res->udp_bytes += len;
    for (size_t i = 0; i < used; i++) {
        res->rec_packets += run->batch[i].packets;
        res->rec_bytes += run->batch[i].bytes;
    }
    return CF_OK;
}

cf_err sim_send_run(const sim_send_options *o, const atomic_bool *stop, sim_send_result *res, char *errbuf,
                    size_t errlen)
{
    memset(res, 0, sizeof(*res));
    sim_run run = {.opt = o, .stop = stop, .t0_ns = cf_time_mono_ns()};
    cf_err err = run_open(&run, errbuf, errlen);
    uint32_t next_ex = 0;
    while (!err && (o->count == 0 || run.generated < o->count) && !stop_requested(&run)) {
        err = send_one(&run, &run.ex[next_ex], res);
        if (err)
            snprintf(errbuf, errlen, "encoding failed: %s", cf_err_str(err));
        next_ex = (next_ex + 1) % run.n_ex;
        pace(&run, run.generated);
    }
    res->elapsed_s = (double)(cf_time_mono_ns() - run.t0_ns) / 1e9;
    run_close(&run);
    return err;
}
