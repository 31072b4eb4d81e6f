/* collect/pipeline.c - exporter table, decode into batches, bounded queue,
 * the writer thread that owns the store (contract in pipeline.h). */
#include "collect/pipeline.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "collect/ctrsink.h"
#include "collect/tplstore.h"
#include "core/log.h"
#include "core/timeutil.h"
#include "decode/decode.h"

#define PIPE_RETENTION_MS 60000  /* retention is checked this often (and once at start) */
#define PIPE_TICK_MS 50          /* writer thread calls store_writer_tick at least this often */
#define PIPE_MAX_EXPORTERS 1000000u
#define PIPE_MAX_QUEUE 1000000u
#define PIPE_MAX_BATCH 65536u
#define PIPE_MAX_SOURCES 32      /* "default" and the names of the source rules */

/* A batch of records of one source, handed from producer to writer by
 * pointer.  The producer splits the records into columns (flow_batch)
 * while they are hot in its cache, so the writer only copies the columns
 * that vary into its segments. */
typedef struct pipe_batch {
    uint32_t source; /* index into the writer's stores */
    uint64_t first_mono_ms; /* when the first record was added (CLOCK_MONOTONIC) */
    flow_batch cb;      /* the records; cb.n of them */
} pipe_batch;

/* The producer gathers decoded records in a chunk this long (~17 KB, stays
 * in L1) and splits each full chunk into the current batch's columns. */
#define PIPE_CHUNK 64

#define PIPE_TPL_SWEEP_MS 1000   /* producer looks for unsaved template changes this often */
#define PIPE_TPL_WRITE_MS 100    /* the template saver writes queued files this often */

/* One exporter: the decoder's state plus where its records go. */
typedef struct pipe_exporter {
    decode_exporter dx;
    uint32_t source;
    collect_tpl_mark tplmark;      /* template save state (tplstore.h) */
    struct collect_pipeline *pipe; /* for the counter sink */
} pipe_exporter;

/* Counters written by the producer thread only; read by any thread. */
typedef struct pipe_counters {
    _Atomic uint64_t datagrams;
    _Atomic uint64_t datagram_bytes;
    _Atomic uint64_t exporter_limit_drops;
    _Atomic uint64_t records;
    _Atomic uint64_t queue_drop_batches;
    _Atomic uint64_t queue_drop_records;
    _Atomic uint64_t kernel_drops;
    /* the listener's, copied by collect_pipeline_set_listener_counts */
    _Atomic uint64_t refused, ring_full_waits, forwarded, forward_errors;
    _Atomic uint64_t tcp_connections, tcp_messages, tcp_bad_streams;
} pipe_counters;

struct collect_pipeline {
    const char *source_names[PIPE_MAX_SOURCES]; /* [0] "default", then the rules' names */
    int n_sources;
    _Atomic uint64_t retention_segments; /* removed by retention (writer thread) */
    _Atomic uint64_t retention_bytes;
    collect_pipeline_options opt;
    char *data_dir;
    char *stats_path;
    uint64_t started_ms;

    /* producer side (one thread) */
    pipe_exporter **index;   /* open-addressing hash table, index_mask + 1 slots */
    size_t index_mask;
    pipe_exporter *last;     /* exporter of the previous packet (fast path) */
    pipe_batch *cur;         /* batch being filled */
    flow_record rows[PIPE_CHUNK]; /* records not yet in cur (same source as cur) */
    uint32_t n_rows;
    uint64_t rows_mono_ms;   /* when rows[0] was added */
    pipe_counters c;
    cf_ratelimit rl_limit;   /* "exporter table full" */
    cf_ratelimit rl_bad;     /* stats file errors */
    cf_ratelimit rl_drop;    /* "queue full" */

    /* published exporters, in creation order; read by any thread */
    pipe_exporter **list;    /* max_exporters slots */
    _Atomic size_t n_list;

    /* queue (under mu) */
    pthread_mutex_t mu;
    pthread_cond_t not_empty; /* writer waits for batches */
    pthread_cond_t not_full;  /* producer waits (block_when_full) */
    pipe_batch **ring;        /* queue_size slots */
    size_t head, n_queued;
    pipe_batch **free_list;   /* queue_size + 2 slots */
    size_t n_free;
    int stopping;
    int stalled;              /* the last full_wait_ms wait timed out */
    store_writer_stats store_stats; /* last copy made by the writer thread */

    /* templates (tplstore.h) and interface counters (ctrsink.h); NULL when off */
    collect_tplstore *tpl;
    collect_ctrsink *ctr;
    uint64_t tpl_sweep_mono; /* producer: last sweep for unsaved template changes */

    /* writer thread */
    store_writer *stores[PIPE_MAX_SOURCES];
    pthread_t writer;
    int writer_started;
    /* template saver thread: writes the queued template files (each with an
     * fsync) so that the writer thread never waits for them */
    pthread_t tpl_thread;
    int tpl_started;
    int tpl_stop;             /* under mu */
    pthread_cond_t tpl_wake;  /* tpl_stop set */
    cf_err close_err;          /* first error of store_writer_close */
};

static void sweep_templates(collect_pipeline *p, int force);

void collect_pipeline_options_default(collect_pipeline_options *o)
{
    memset(o, 0, sizeof(*o));
    store_options_default(&o->store);
    o->max_exporters = 4096;
    o->queue_size = 128;
    o->batch_records = 1024;
    o->stats_interval_ms = 10000;
    o->log_interval_ms = 60000;
    o->write_stats_file = 1;
    o->full_wait_ms = 1000;
    decode_config_default(&o->decode);
    o->persist_templates = 1;
    o->store_counters = 1;
}

/* mkdir -p; 0 or -1 with errno. */
static int make_dirs(const char *path)
{
    char buf[4096];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof(buf)) {
        errno = ENAMETOOLONG;
        return -1;
    }
    memcpy(buf, path, len + 1);
    for (size_t i = 1; i <= len; i++) {
        if (buf[i] != '/' && buf[i] != '\0')
            continue;
        char saved = buf[i];
        buf[i] = '\0';
        if (mkdir(buf, 0755) != 0 && errno != EEXIST)
            return -1;
        buf[i] = saved;
    }
    struct stat st;
    if (stat(path, &st) != 0)
        return -1;
    if (!S_ISDIR(st.st_mode)) {
        errno = ENOTDIR;
        return -1;
    }
    return 0;
}

static char *join_path(const char *dir, const char *name)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *p = malloc(len);
    if (p)
        snprintf(p, len, "%s/%s", dir, name);
    return p;
}

static uint64_t load(_Atomic uint64_t *v) { return atomic_load_explicit(v, memory_order_relaxed); }

/* Single-writer increment: a relaxed load + store, no locked instruction. */
static void bump(_Atomic uint64_t *v, uint64_t by)
{
    atomic_store_explicit(v, atomic_load_explicit(v, memory_order_relaxed) + by, memory_order_relaxed);
}

/* ---- retention ----------------------------------------------------------- */

/* Applies retention to every source (writer thread). */
static void writer_retention(collect_pipeline *p)
{
    if (!p->opt.retention_age_ms && !p->opt.retention_bytes)
        return;
    for (int i = 0; i < p->n_sources; i++) {
        char dir[4200];
        snprintf(dir, sizeof(dir), "%s/%s", p->data_dir, p->source_names[i]);
        store_retention_stats st;
        cf_err err = store_retention_apply(dir, cf_time_now_ms(), p->opt.retention_age_ms, p->opt.retention_bytes,
                                           &st);
        if (err)
            cf_log_limited(&p->rl_drop, CF_LOG_ERROR, "retention of source %s: %s", p->source_names[i],
                           cf_err_str(err));
        if (st.segments_removed) {
            CF_INFO("retention: source %s: removed %llu segments (%llu bytes), %llu bytes kept",
                    p->source_names[i], (unsigned long long)st.segments_removed,
                    (unsigned long long)st.bytes_removed, (unsigned long long)st.bytes_kept);
            bump(&p->retention_segments, st.segments_removed);
            bump(&p->retention_bytes, st.bytes_removed);
        }
    }
}

/* ---- snapshot ------------------------------------------------------------ */

/* The template-file and counter-store counters. */
static void snapshot_extras(collect_pipeline *p, collect_totals *t)
{
    if (p->tpl) {
        collect_tpl_counts tc;
        collect_tplstore_counts(p->tpl, &tc);
        t->templates_loaded = tc.loaded;
        t->templates_load_errors = tc.load_errors;
        t->templates_saved = tc.saved;
        t->templates_save_errors = tc.save_errors;
        t->names_loaded = tc.names_loaded;
        t->names_load_errors = tc.names_load_errors;
        t->names_saved = tc.names_saved;
        t->names_save_errors = tc.names_save_errors;
    }
    if (p->ctr) {
        collect_ctr_counts cc;
        collect_ctrsink_counts(p->ctr, &cc);
        t->counters_received = cc.received;
        t->counters_stored = cc.stored;
        t->counters_queue_drops = cc.queue_drops;
        t->counters_lost = cc.lost;
    }
    collect_totals_memory(t);
    {
        t->retention_segments = atomic_load_explicit(&p->retention_segments, memory_order_relaxed);
        t->retention_bytes = atomic_load_explicit(&p->retention_bytes, memory_order_relaxed);
    }
}

cf_err collect_pipeline_get_snapshot(collect_pipeline *p, collect_snapshot *out)
{
    size_t n = atomic_load_explicit(&p->n_list, memory_order_acquire);
    collect_exporter_stats *ex = calloc(n ? n : 1, sizeof(*ex));
    if (!ex)
        return CF_ERR_NOMEM;
    collect_totals t;
    memset(&t, 0, sizeof(t));
    t.version = COLLECT_STATS_VERSION;
    t.time_ms = cf_time_now_ms();
    t.started_ms = p->started_ms;
    t.datagrams = load(&p->c.datagrams);
    t.datagram_bytes = load(&p->c.datagram_bytes);
    t.exporters = n;
    t.exporter_limit_drops = load(&p->c.exporter_limit_drops);
    t.records = load(&p->c.records);
    t.queue_drop_batches = load(&p->c.queue_drop_batches);
    t.queue_drop_records = load(&p->c.queue_drop_records);
    t.kernel_drops = load(&p->c.kernel_drops);
    t.refused = load(&p->c.refused);
    t.ring_full_waits = load(&p->c.ring_full_waits);
    t.forwarded = load(&p->c.forwarded);
    t.forward_errors = load(&p->c.forward_errors);
    t.tcp_connections = load(&p->c.tcp_connections);
    t.tcp_messages = load(&p->c.tcp_messages);
    t.tcp_bad_streams = load(&p->c.tcp_bad_streams);
    pthread_mutex_lock(&p->mu);
    store_writer_stats ss = p->store_stats;
    pthread_mutex_unlock(&p->mu);
    t.store_records = ss.records;
    t.store_written = ss.records_written;
    t.store_lost = ss.records_lost;
    t.store_write_errors = ss.write_errors;
    t.store_segments_closed = ss.segments_closed;
    for (size_t i = 0; i < n; i++) {
        const pipe_exporter *e = p->list[i];
        memcpy(ex[i].addr, e->dx.addr, 16);
        ex[i].port = e->dx.port;
        decode_stats_snapshot(&e->dx, &ex[i].s);
        decode_tpl_stats_snapshot(&e->dx, &ex[i].tpl);
        decode_sflow_stats_snapshot(&e->dx, &ex[i].sflow);
        collect_totals_add(&t, &ex[i]);
        t.lost_sequence += ex[i].s.lost;
        for (int r = 0; r < DECODE_N_REASONS; r++)
            t.malformed[r] += ex[i].s.malformed[r];
    }
    snapshot_extras(p, &t);
    out->totals = t;
    out->exporters = ex;
    out->n_exporters = n;
    return CF_OK;
}

static void write_stats_file(collect_pipeline *p)
{
    collect_snapshot s;
    if (collect_pipeline_get_snapshot(p, &s) != CF_OK)
        return;
    if (collect_stats_write(p->stats_path, &s) != CF_OK)
        cf_log_limited(&p->rl_bad, CF_LOG_WARN, "cannot write %s: %s", p->stats_path, strerror(errno));
    collect_snapshot_free(&s);
}

static void log_stats(collect_pipeline *p, const char *what)
{
    collect_snapshot s;
    if (collect_pipeline_get_snapshot(p, &s) != CF_OK)
        return;
    collect_stats_log(&s, what);
    collect_snapshot_free(&s);
}

/* ---- writer thread ------------------------------------------------------- */

/* Copies the store counters (sum over sources) where snapshots find them. */
static void publish_store_stats(collect_pipeline *p)
{
    store_writer_stats sum;
    memset(&sum, 0, sizeof(sum));
    for (int i = 0; i < p->n_sources; i++) {
        store_writer_stats s;
        if (!p->stores[i])
            continue;
        store_writer_get_stats(p->stores[i], &s);
        sum.records += s.records;
        sum.records_written += s.records_written;
        sum.records_lost += s.records_lost;
        sum.blocks += s.blocks;
        sum.bytes += s.bytes;
        sum.segments_opened += s.segments_opened;
        sum.segments_closed += s.segments_closed;
        sum.write_errors += s.write_errors;
    }
    pthread_mutex_lock(&p->mu);
    p->store_stats = sum;
    pthread_mutex_unlock(&p->mu);
}

static void writer_store_batch(collect_pipeline *p, pipe_batch *b)
{
    cf_err err = store_writer_append_batch(p->stores[b->source], &b->cb);
    if (err)
        cf_log_limited(&p->rl_drop, CF_LOG_ERROR, "store %s: %s (records counted as lost)",
                       p->source_names[b->source], cf_err_str(err));
}

static void writer_tick(collect_pipeline *p)
{
    uint64_t now = cf_time_now_ms();
    for (int i = 0; i < p->n_sources; i++) {
        cf_err err = store_writer_tick(p->stores[i], now);
        if (err)
            cf_log_limited(&p->rl_drop, CF_LOG_ERROR, "store %s: %s", p->source_names[i], cf_err_str(err));
    }
    publish_store_stats(p);
}

/* Waits at most wait_ms for a batch (unless stopping); returns it or NULL.
 * Called and returns with mu held. */
static pipe_batch *writer_wait(collect_pipeline *p, uint64_t wait_ms)
{
    if (p->n_queued == 0 && !p->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + wait_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        pthread_cond_timedwait(&p->not_empty, &p->mu, &ts);
    }
    if (p->n_queued == 0)
        return NULL;
    pipe_batch *b = p->ring[p->head];
    p->head = (p->head + 1) % p->opt.queue_size;
    p->n_queued--;
    return b;
}

/* Template saver: writes queued template files every PIPE_TPL_WRITE_MS.
 * A new collector seeing many exporters at once queues one file each; with
 * an fsync per file that is seconds of disk waits, which must not hold up
 * the writer thread (its queue would fill and drop records). */
static void *tpl_main(void *arg)
{
    collect_pipeline *p = arg;
    for (;;) {
        collect_tplstore_write_pending(p->tpl);
        pthread_mutex_lock(&p->mu);
        if (!p->tpl_stop) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)PIPE_TPL_WRITE_MS * 1000000u;
            ts.tv_sec += (time_t)(ns / 1000000000u);
            ts.tv_nsec = (long)(ns % 1000000000u);
            pthread_cond_timedwait(&p->tpl_wake, &p->mu, &ts);
        }
        int stop = p->tpl_stop;
        pthread_mutex_unlock(&p->mu);
        if (stop)
            return NULL;
    }
}

static void stop_tpl_thread(collect_pipeline *p)
{
    if (!p->tpl_started)
        return;
    pthread_mutex_lock(&p->mu);
    p->tpl_stop = 1;
    pthread_cond_signal(&p->tpl_wake);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->tpl_thread, NULL);
    p->tpl_started = 0;
}

static void *writer_main(void *arg)
{
    collect_pipeline *p = arg;
    uint64_t now = cf_time_mono_ms();
    uint64_t last_tick = now, last_stats = now, last_log = now, last_retention = now;
    writer_retention(p);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        pipe_batch *b = writer_wait(p, PIPE_TICK_MS);
        int done = b == NULL && p->stopping && p->n_queued == 0;
        pthread_mutex_unlock(&p->mu);
        if (b) {
            writer_store_batch(p, b);
            flow_batch_clear(&b->cb);
            pthread_mutex_lock(&p->mu);
            p->free_list[p->n_free++] = b;
            pthread_cond_signal(&p->not_full);
            pthread_mutex_unlock(&p->mu);
        }
        if (p->ctr)
            collect_ctrsink_drain(p->ctr);
        now = cf_time_mono_ms();
        if (now - last_tick >= PIPE_TICK_MS) {
            writer_tick(p);
            last_tick = now;
        }
        if (p->opt.write_stats_file && p->opt.stats_interval_ms && now - last_stats >= p->opt.stats_interval_ms) {
            write_stats_file(p);
            last_stats = now;
        }
        if (now - last_retention >= PIPE_RETENTION_MS) {
            writer_retention(p);
            last_retention = now;
        }
        if (p->opt.log_interval_ms && now - last_log >= p->opt.log_interval_ms) {
            log_stats(p, "stats");
            last_log = now;
        }
        if (done)
            break;
        pthread_mutex_lock(&p->mu);
    }
    /* drained: flush, publish the final counters, then close every segment */
    for (int i = 0; i < p->n_sources; i++) {
        cf_err err = store_writer_flush(p->stores[i]);
        if (err)
            CF_ERROR("store %s: final flush: %s", p->source_names[i], cf_err_str(err));
    }
    publish_store_stats(p);
    for (int i = 0; i < p->n_sources; i++) {
        store_writer_stats before;
        store_writer_get_stats(p->stores[i], &before);
        cf_err err = store_writer_close(p->stores[i]);
        p->stores[i] = NULL;
        if (err) {
            CF_ERROR("store %s: close: %s", p->source_names[i], cf_err_str(err));
            if (!p->close_err)
                p->close_err = err;
        }
        /* close seals every open segment */
        pthread_mutex_lock(&p->mu);
        p->store_stats.segments_closed += before.segments_opened - before.segments_closed;
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

/* ---- producer side ------------------------------------------------------- */

/* Queues the current batch (or drops it when the queue is full) and takes a
 * fresh one; the rows of the chunk are not part of it. */
static void queue_cur(collect_pipeline *p)
{
    pipe_batch *b = p->cur;
    if (b->cb.n == 0)
        return;
    pthread_mutex_lock(&p->mu);
    while (p->opt.block_when_full && p->n_queued == p->opt.queue_size)
        pthread_cond_wait(&p->not_full, &p->mu);
    if (p->n_queued == p->opt.queue_size && p->opt.full_wait_ms && !p->stalled) {
        /* a burst: wait (bounded) for the writer; the listener's receive
         * threads keep the socket buffers meanwhile */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)p->opt.full_wait_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
        while (p->n_queued == p->opt.queue_size && pthread_cond_timedwait(&p->not_full, &p->mu, &ts) == 0)
            ;
    }
    p->stalled = p->n_queued == p->opt.queue_size; /* writer stuck: drop without waiting until it moves */
    if (p->n_queued == p->opt.queue_size) {
        pthread_mutex_unlock(&p->mu);
        bump(&p->c.queue_drop_batches, 1);
        bump(&p->c.queue_drop_records, b->cb.n);
        cf_log_limited(&p->rl_drop, CF_LOG_WARN,
                       "writer queue full: dropped a batch of %u records (the store cannot keep up)", b->cb.n);
        flow_batch_clear(&b->cb);
        return;
    }
    p->ring[(p->head + p->n_queued) % p->opt.queue_size] = b;
    p->n_queued++;
    p->cur = p->free_list[--p->n_free]; /* never empty: queue_size + 2 batches in all */
    pthread_cond_signal(&p->not_empty);
    pthread_mutex_unlock(&p->mu);
    flow_batch_clear(&p->cur->cb);
    p->cur->source = b->source; /* a packet split over batches keeps its source */
}

/* Moves the chunk's rows into the current batch, queueing it when full. */
static void flush_rows(collect_pipeline *p)
{
    uint32_t done = 0;
    while (done < p->n_rows) {
        flow_batch *cb = &p->cur->cb;
        if (cb->n == cb->cap) {
            queue_cur(p);
            continue;
        }
        if (cb->n == 0)
            p->cur->first_mono_ms = p->rows_mono_ms;
        uint32_t room = cb->cap - cb->n, m = p->n_rows - done < room ? p->n_rows - done : room;
        flow_batch_add(cb, p->rows + done, m);
        done += m;
    }
    p->n_rows = 0;
}

static void push_batch(collect_pipeline *p)
{
    flush_rows(p);
    queue_cur(p);
}

void collect_pipeline_push(collect_pipeline *p) { push_batch(p); }

int collect_pipeline_push_aged(collect_pipeline *p, uint32_t max_age_ms)
{
    sweep_templates(p, 0);
    if (p->cur->cb.n == 0 && p->n_rows == 0)
        return -1;
    uint64_t since = p->cur->cb.n ? p->cur->first_mono_ms : p->rows_mono_ms;
    uint64_t age = cf_time_mono_ms() - since;
    if (age < max_age_ms)
        return (int)(max_age_ms - age);
    push_batch(p);
    return -1;
}

/* *dst = *src by 16-byte moves: the struct assignment compiles to
 * `rep movsq`, whose start-up cost is most of a 264-byte copy. */
static inline __attribute__((always_inline)) void copy_record(flow_record *dst, const flow_record *src)
{
    enum { N16 = sizeof(flow_record) / 16, TAIL = sizeof(flow_record) % 16 };
    uint8_t *d = (uint8_t *)dst;
    const uint8_t *s = (const uint8_t *)src;
#pragma GCC unroll 32
    for (size_t i = 0; i < N16; i++) {
        uint8_t t[16];
        memcpy(t, s + 16 * i, 16);
        memcpy(d + 16 * i, t, 16);
    }
    if (TAIL)
        memcpy(d + 16 * N16, s + 16 * N16, TAIL);
}

/* decode_out.emit: a record of a general decoder, into the chunk of rows. */
static void emit_record(void *ctx, const flow_record *rec)
{
    collect_pipeline *p = ctx;
    if (p->n_rows == 0)
        p->rows_mono_ms = cf_time_mono_ms();
    copy_record(&p->rows[p->n_rows++], rec);
    if (p->n_rows == PIPE_CHUNK)
        flush_rows(p);
}

/* decode_out.room: the current batch, after the rows emitted so far, with
 * room for at least one record (a full one is queued first). */
static flow_batch *batch_room(void *ctx)
{
    collect_pipeline *p = ctx;
    flush_rows(p);
    if (p->cur->cb.n == p->cur->cb.cap)
        queue_cur(p);
    if (p->cur->cb.n == 0)
        p->cur->first_mono_ms = cf_time_mono_ms();
    return &p->cur->cb;
}

/* The source index of the exporter at addr: the first source rule that
 * takes it, else 0 ("default"). */
static uint16_t source_of(const collect_pipeline *p, const uint8_t addr[16])
{
    for (size_t r = 0; r < p->opt.n_source_rules; r++) {
        if (!collect_acl_allows(p->opt.source_rules[r].prefix, addr))
            continue;
        for (int i = 0; i < p->n_sources; i++)
            if (strcmp(p->source_names[i], p->opt.source_rules[r].name) == 0)
                return (uint16_t)i;
    }
    return 0;
}

/* Sets the source names: "default", then each rule's name once. */
static cf_err init_sources(collect_pipeline *p, char *errbuf, size_t errlen)
{
    p->source_names[0] = "default";
    p->n_sources = 1;
    for (size_t r = 0; r < p->opt.n_source_rules; r++) {
        const char *name = p->opt.source_rules[r].name;
        int known = 0;
        for (int i = 0; i < p->n_sources && !known; i++)
            known = strcmp(p->source_names[i], name) == 0;
        if (known)
            continue;
        if (p->n_sources == PIPE_MAX_SOURCES) {
            snprintf(errbuf, errlen, "more than %d sources", PIPE_MAX_SOURCES);
            return CF_ERR_RANGE;
        }
        p->source_names[p->n_sources++] = name;
    }
    return CF_OK;
}

static size_t hash_key(const uint8_t addr[16], uint16_t port)
{
    uint64_t h = UINT64_C(1469598103934665603);
    for (int i = 0; i < 16; i++)
        h = (h ^ addr[i]) * UINT64_C(1099511628211);
    h = (h ^ port) * UINT64_C(1099511628211);
    return (size_t)(h ^ (h >> 29));
}

/* decode_counter_fn of every exporter: queues the sample for the writer. */
static void counter_sink(void *ctx, const decode_counters *c)
{
    pipe_exporter *e = ctx;
    collect_ctrsink_push(e->pipe->ctr, e->source, c);
}

/* Queues saves of templates changed since their last save (producer). */
static void sweep_templates(collect_pipeline *p, int force)
{
    uint64_t now = cf_time_mono_ms();
    if (!p->tpl || (!force && now - p->tpl_sweep_mono < PIPE_TPL_SWEEP_MS))
        return;
    p->tpl_sweep_mono = now;
    size_t n = atomic_load_explicit(&p->n_list, memory_order_relaxed);
    for (size_t i = 0; i < n; i++)
        if (collect_tplstore_dirty(&p->list[i]->dx, &p->list[i]->tplmark))
            collect_tplstore_check(p->tpl, &p->list[i]->dx, &p->list[i]->tplmark, now, force);
}

static bool same_exporter(const pipe_exporter *e, const uint8_t addr[16], uint16_t port)
{
    return e->dx.port == port && memcmp(e->dx.addr, addr, 16) == 0;
}

/* The exporter of addr/port, created when new; NULL when the table is full. */
static pipe_exporter *find_exporter(collect_pipeline *p, const uint8_t addr[16], uint16_t port)
{
    if (p->last && same_exporter(p->last, addr, port))
        return p->last;
    size_t i = hash_key(addr, port) & p->index_mask;
    while (p->index[i]) {
        if (same_exporter(p->index[i], addr, port))
            return p->last = p->index[i];
        i = (i + 1) & p->index_mask;
    }
    size_t n = atomic_load_explicit(&p->n_list, memory_order_relaxed);
    if (n == p->opt.max_exporters)
        return NULL;
    pipe_exporter *e = calloc(1, sizeof(*e));
    if (!e)
        return NULL;
    decode_exporter_init(&e->dx, addr, port);
    decode_config dc = p->opt.decode;
    collect_sampling_rules_match(p->opt.sampling_rules, p->opt.n_sampling_rules, addr, &dc.sampling_default,
                                 &dc.sampling_override);
    decode_exporter_set_config(&e->dx, &dc);
    e->source = source_of(p, addr);
    e->pipe = p;
    if (p->ctr)
        decode_set_counter_sink(&e->dx, counter_sink, e);
    if (p->tpl)
        collect_tplstore_first_seen(p->tpl, &e->dx, &e->tplmark);
    p->index[i] = e;
    p->list[n] = e;
    atomic_store_explicit(&p->n_list, n + 1, memory_order_release);
    char name[80];
    collect_exporter_name(addr, port, name, sizeof(name));
    CF_INFO("new exporter %s", name);
    return p->last = e;
}

void collect_pipeline_packet(collect_pipeline *p, const uint8_t addr[16], uint16_t port, const uint8_t *buf,
                             size_t len, uint64_t recv_ms)
{
    bump(&p->c.datagrams, 1);
    bump(&p->c.datagram_bytes, len);
    pipe_exporter *e = find_exporter(p, addr, port);
    if (!e) {
        char name[80];
        bump(&p->c.exporter_limit_drops, 1);
        collect_exporter_name(addr, port, name, sizeof(name));
        cf_log_limited(&p->rl_limit, CF_LOG_WARN, "exporter table full (max-exporters %u): dropped packet from %s",
                       p->opt.max_exporters, name);
        return;
    }
    if ((p->cur->cb.n > 0 || p->n_rows > 0) && p->cur->source != e->source)
        push_batch(p);
    p->cur->source = e->source;
    uint64_t before = e->dx.stats.records;
    /* a bad packet is counted by reason in e->dx.stats and logged (rate
     * limited) by the decoder itself */
    const decode_out out = {emit_record, batch_room, p};
    (void)decode_packet_out(&e->dx, buf, len, recv_ms, &out);
    bump(&p->c.records, e->dx.stats.records - before);
    if (p->tpl && collect_tplstore_dirty(&e->dx, &e->tplmark))
        collect_tplstore_check(p->tpl, &e->dx, &e->tplmark, cf_time_mono_ms(), 0);
}

void collect_pipeline_set_kernel_drops(collect_pipeline *p, uint64_t total)
{
    atomic_store_explicit(&p->c.kernel_drops, total, memory_order_relaxed);
}

void collect_pipeline_set_listener_counts(collect_pipeline *p, const collect_listener_counts *c)
{
    const struct {
        _Atomic uint64_t *to;
        uint64_t v;
    } set[] = {
        {&p->c.kernel_drops, c->kernel_drops},       {&p->c.refused, c->refused},
        {&p->c.ring_full_waits, c->ring_full_waits}, {&p->c.forwarded, c->forwarded},
        {&p->c.forward_errors, c->forward_errors},   {&p->c.tcp_connections, c->tcp_connections},
        {&p->c.tcp_messages, c->tcp_messages},       {&p->c.tcp_bad_streams, c->tcp_bad_streams},
    };
    for (size_t i = 0; i < sizeof(set) / sizeof(set[0]); i++)
        atomic_store_explicit(set[i].to, set[i].v, memory_order_relaxed);
}

/* ---- open / close -------------------------------------------------------- */

static void batch_free(pipe_batch *b)
{
    if (b) {
        flow_batch_free(&b->cb);
        free(b);
    }
}

/* A batch for batch_records records, or NULL. */
static pipe_batch *batch_new(uint32_t batch_records)
{
    pipe_batch *b = calloc(1, sizeof(*b));
    if (b && flow_batch_init(&b->cb, batch_records) != CF_OK) {
        batch_free(b);
        b = NULL;
    }
    return b;
}

static void free_pipeline(collect_pipeline *p)
{
    stop_tpl_thread(p);
    size_t n = atomic_load(&p->n_list);
    for (size_t i = 0; i < n; i++) {
        decode_exporter_free(&p->list[i]->dx);
        free(p->list[i]);
    }
    free(p->list);
    free(p->index);
    if (p->free_list) {
        for (size_t i = 0; i < p->n_free; i++)
            batch_free(p->free_list[i]);
        free(p->free_list);
    }
    for (size_t i = 0; p->ring && i < p->n_queued; i++)
        batch_free(p->ring[(p->head + i) % p->opt.queue_size]);
    free(p->ring);
    batch_free(p->cur);
    for (int i = 0; i < p->n_sources; i++)
        store_writer_close(p->stores[i]);
    collect_tplstore_close(p->tpl);
    (void)collect_ctrsink_close(p->ctr);
    pthread_mutex_destroy(&p->mu);
    pthread_cond_destroy(&p->not_empty);
    pthread_cond_destroy(&p->not_full);
    pthread_cond_destroy(&p->tpl_wake);
    free(p->data_dir);
    free(p->stats_path);
    free(p);
}

static cf_err alloc_queue(collect_pipeline *p)
{
    size_t q = p->opt.queue_size;
    size_t slots = 16;
    while (slots < 2 * (size_t)p->opt.max_exporters)
        slots *= 2;
    p->index = calloc(slots, sizeof(*p->index));
    p->index_mask = slots - 1;
    p->list = calloc(p->opt.max_exporters, sizeof(*p->list));
    p->ring = calloc(q, sizeof(*p->ring));
    p->free_list = calloc(q + 2, sizeof(*p->free_list));
    p->cur = batch_new(p->opt.batch_records);
    if (!p->index || !p->list || !p->ring || !p->free_list || !p->cur)
        return CF_ERR_NOMEM;
    for (size_t i = 0; i < q + 1; i++) {
        pipe_batch *b = batch_new(p->opt.batch_records);
        if (!b)
            return CF_ERR_NOMEM;
        p->free_list[p->n_free++] = b;
    }
    return CF_OK;
}

static cf_err init_sync(collect_pipeline *p)
{
    pthread_condattr_t ca;
    if (pthread_mutex_init(&p->mu, NULL) != 0 || pthread_condattr_init(&ca) != 0)
        return CF_ERR_NOMEM;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    int rc = pthread_cond_init(&p->not_empty, &ca) | pthread_cond_init(&p->not_full, &ca) |
             pthread_cond_init(&p->tpl_wake, &ca);
    pthread_condattr_destroy(&ca);
    return rc ? CF_ERR_NOMEM : CF_OK;
}

/* Opens the template files and the counter sink (when asked for). */
static cf_err open_extras(collect_pipeline *p, char *errbuf, size_t errlen)
{
    cf_err err = CF_OK;
    if (p->opt.persist_templates)
        err = collect_tplstore_open(p->data_dir, p->opt.max_exporters, &p->opt.decode, &p->tpl, errbuf, errlen);
    if (!err && p->opt.store_counters) {
        err = collect_ctrsink_open(p->data_dir, p->source_names, p->n_sources, p->opt.block_when_full, &p->ctr);
        if (err)
            snprintf(errbuf, errlen, "counter store: %s", cf_err_str(err));
    }
    return err;
}

cf_err collect_pipeline_open(const collect_pipeline_options *o, collect_pipeline **out, char *errbuf,
                             size_t errlen)
{
    if (!o->data_dir || !*o->data_dir || o->max_exporters < 1 || o->max_exporters > PIPE_MAX_EXPORTERS ||
        o->queue_size < 1 || o->queue_size > PIPE_MAX_QUEUE || o->batch_records < 1 ||
        o->batch_records > PIPE_MAX_BATCH) {
        snprintf(errbuf, errlen, "pipeline options out of range");
        return CF_ERR_RANGE;
    }
    collect_pipeline *p = calloc(1, sizeof(*p));
    if (!p)
        return CF_ERR_NOMEM;
    p->opt = *o;
    p->started_ms = cf_time_now_ms();
    cf_err err = init_sync(p);
    if (err) {
        free(p);
        return err;
    }
    p->data_dir = strdup(o->data_dir);
    p->stats_path = join_path(o->data_dir, COLLECT_STATS_FILE);
    if (!p->data_dir || !p->stats_path || (err = alloc_queue(p)) != CF_OK) {
        err = CF_ERR_NOMEM;
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    p->opt.data_dir = p->data_dir;
    if (make_dirs(p->data_dir) != 0) {
        snprintf(errbuf, errlen, "data directory %s: %s", p->data_dir, strerror(errno));
        err = CF_ERR_IO;
        goto fail;
    }
    if ((err = init_sources(p, errbuf, errlen)) != CF_OK)
        goto fail;
    for (int i = 0; i < p->n_sources; i++) {
        char *dir = join_path(p->data_dir, p->source_names[i]);
        err = dir ? store_writer_open(dir, &o->store, &p->stores[i]) : CF_ERR_NOMEM;
        if (err) {
            snprintf(errbuf, errlen, "store %s: %s", dir ? dir : "?", cf_err_str(err));
            free(dir);
            goto fail;
        }
        free(dir);
    }
    if ((err = open_extras(p, errbuf, errlen)) != CF_OK)
        goto fail;
    publish_store_stats(p);
    if (pthread_create(&p->writer, NULL, writer_main, p) != 0) {
        snprintf(errbuf, errlen, "cannot start the writer thread");
        err = CF_ERR_NOMEM;
        goto fail;
    }
    p->writer_started = 1;
    pthread_setname_np(p->writer, "cf-writer");
    if (p->tpl) {
        if (pthread_create(&p->tpl_thread, NULL, tpl_main, p) != 0) {
            snprintf(errbuf, errlen, "cannot start the template saver thread");
            err = CF_ERR_NOMEM;
            goto fail_writer;
        }
        p->tpl_started = 1;
        pthread_setname_np(p->tpl_thread, "cf-templates");
    }
    *out = p;
    return CF_OK;
fail_writer:
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_signal(&p->not_empty);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->writer, NULL);
fail:
    free_pipeline(p);
    return err;
}

cf_err collect_pipeline_close(collect_pipeline *p, collect_snapshot *final)
{
    if (!p)
        return CF_OK;
    push_batch(p);
    pthread_mutex_lock(&p->mu);
    p->stopping = 1;
    pthread_cond_signal(&p->not_empty);
    pthread_mutex_unlock(&p->mu);
    if (p->writer_started)
        pthread_join(p->writer, NULL);
    stop_tpl_thread(p);
    cf_err err = p->close_err;
    /* the producer has stopped: save every template change not saved yet */
    sweep_templates(p, 1);
    if (p->tpl)
        collect_tplstore_flush(p->tpl);
    if (p->ctr) {
        if (collect_ctrsink_close(p->ctr) != CF_OK && !err)
            err = CF_ERR_IO;
        p->ctr = NULL;
    }
    collect_snapshot s;
    if (collect_pipeline_get_snapshot(p, &s) == CF_OK) {
        if (p->opt.write_stats_file && collect_stats_write(p->stats_path, &s) != CF_OK) {
            CF_ERROR("cannot write %s: %s", p->stats_path, strerror(errno));
            if (!err)
                err = CF_ERR_IO;
        }
        collect_stats_log(&s, "final stats");
        if (final)
            *final = s;
        else
            collect_snapshot_free(&s);
    } else if (!err) {
        err = CF_ERR_NOMEM;
    }
    free_pipeline(p);
    return err;
}
