/* collect/ctrsink.c - counter samples queued from the receive thread to the
 * counter store (contract in ctrsink.h). */
#include "collect/ctrsink.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/log.h"
#include "store/counters.h"

typedef struct ctr_item {
    uint32_t source;
    counters_record rec;
} ctr_item;

struct collect_ctrsink {
    counters_writer **writers; /* one per source */
    size_t n_sources;
    int block_when_full;
    pthread_mutex_t mu;
    pthread_cond_t not_full;
    ctr_item *ring;            /* COLLECT_CTR_QUEUE items, FIFO from head */
    size_t head, n;
    ctr_item *work;            /* writer-side copy */
    counters_record *recs;     /* writer-side records of one source */
    _Atomic uint64_t received, stored, queue_drops, lost;
    cf_ratelimit rl;
};

static void add(_Atomic uint64_t *v, uint64_t by) { atomic_fetch_add_explicit(v, by, memory_order_relaxed); }

cf_err collect_ctrsink_open(const char *data_dir, const char *const *sources, size_t n_sources,
                            int block_when_full, collect_ctrsink **out)
{
    collect_ctrsink *q = calloc(1, sizeof(*q));
    if (!q)
        return CF_ERR_NOMEM;
    q->block_when_full = block_when_full;
    q->writers = calloc(n_sources ? n_sources : 1, sizeof(*q->writers));
    q->ring = calloc(COLLECT_CTR_QUEUE, sizeof(*q->ring));
    q->work = calloc(COLLECT_CTR_QUEUE, sizeof(*q->work));
    q->recs = calloc(COLLECT_CTR_QUEUE, sizeof(*q->recs));
    cf_err err = CF_ERR_NOMEM;
    if (!q->writers || !q->ring || !q->work || !q->recs || pthread_mutex_init(&q->mu, NULL) != 0) {
        free(q->writers), free(q->ring), free(q->work), free(q->recs), free(q);
        return CF_ERR_NOMEM;
    }
    pthread_cond_init(&q->not_full, NULL);
    q->n_sources = n_sources;
    for (size_t i = 0; i < n_sources; i++) {
        char dir[4200];
        if ((size_t)snprintf(dir, sizeof(dir), "%s/%s", data_dir, sources[i]) >= sizeof(dir)) {
            err = CF_ERR_USAGE;
            goto fail;
        }
        if ((err = counters_writer_open(dir, &q->writers[i])) != CF_OK)
            goto fail;
    }
    *out = q;
    return CF_OK;
fail:
    collect_ctrsink_close(q);
    return err;
}

static void to_record(const decode_counters *c, counters_record *r)
{
    memset(r, 0, sizeof(*r));
    r->time_ms = c->time_ms;
    memcpy(r->agent, c->agent, 16);
    memcpy(r->exporter, c->exporter, 16);
    r->sub_agent = c->sub_agent;
    r->uptime_ms = c->uptime_ms;
    r->sample_seq = c->sample_seq;
    r->flags = (uint8_t)((c->has_generic ? COUNTERS_F_GENERIC : 0) | (c->has_ethernet ? COUNTERS_F_ETHERNET : 0));
    /* an Ethernet-only sample still names its interface by the data source */
    r->if_index = c->has_generic ? c->if_index : c->source_index;
    r->if_type = c->if_type;
    r->if_speed = c->if_speed;
    r->if_direction = c->if_direction;
    r->if_status = c->if_status;
    r->in_octets = c->in_octets;
    r->in_packets = c->in_packets;
    r->out_octets = c->out_octets;
    r->out_packets = c->out_packets;
    r->in_errors = c->in_errors;
    r->in_discards = c->in_discards;
    r->out_errors = c->out_errors;
    r->out_discards = c->out_discards;
}

void collect_ctrsink_push(collect_ctrsink *q, uint32_t source, const decode_counters *c)
{
    add(&q->received, 1);
    if (source >= q->n_sources) {
        add(&q->lost, 1);
        return;
    }
    ctr_item it;
    it.source = source;
    to_record(c, &it.rec);
    pthread_mutex_lock(&q->mu);
    while (q->block_when_full && q->n == COLLECT_CTR_QUEUE)
        pthread_cond_wait(&q->not_full, &q->mu);
    if (q->n == COLLECT_CTR_QUEUE) {
        pthread_mutex_unlock(&q->mu);
        add(&q->queue_drops, 1);
        cf_log_limited(&q->rl, CF_LOG_WARN, "counter queue full: dropped an interface counter sample");
        return;
    }
    q->ring[(q->head + q->n) % COLLECT_CTR_QUEUE] = it;
    q->n++;
    pthread_mutex_unlock(&q->mu);
}

/* Appends the n records of source s. */
static void write_source(collect_ctrsink *q, size_t s, size_t n)
{
    counters_writer_stats before, after;
    counters_writer_get_stats(q->writers[s], &before);
    cf_err err = counters_writer_append(q->writers[s], q->recs, n);
    counters_writer_get_stats(q->writers[s], &after);
    add(&q->stored, after.records_written - before.records_written);
    add(&q->lost, after.records_lost - before.records_lost);
    if (err)
        cf_log_limited(&q->rl, CF_LOG_ERROR, "counter store: %s (samples counted as lost)", cf_err_str(err));
}

void collect_ctrsink_drain(collect_ctrsink *q)
{
    pthread_mutex_lock(&q->mu);
    size_t n = q->n;
    for (size_t i = 0; i < n; i++)
        q->work[i] = q->ring[(q->head + i) % COLLECT_CTR_QUEUE];
    q->head = (q->head + n) % COLLECT_CTR_QUEUE;
    q->n = 0;
    pthread_cond_broadcast(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    for (size_t s = 0; n && s < q->n_sources; s++) {
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
            if (q->work[i].source == s)
                q->recs[k++] = q->work[i].rec;
        if (k)
            write_source(q, s, k);
    }
}

void collect_ctrsink_counts(collect_ctrsink *q, collect_ctr_counts *out)
{
    out->received = atomic_load_explicit(&q->received, memory_order_relaxed);
    out->stored = atomic_load_explicit(&q->stored, memory_order_relaxed);
    out->queue_drops = atomic_load_explicit(&q->queue_drops, memory_order_relaxed);
    out->lost = atomic_load_explicit(&q->lost, memory_order_relaxed);
}

cf_err collect_ctrsink_close(collect_ctrsink *q)
{
    if (!q)
        return CF_OK;
    cf_err first = CF_OK;
    int ready = 1;
    for (size_t i = 0; i < q->n_sources; i++)
        ready &= q->writers[i] != NULL;
    if (ready)
        collect_ctrsink_drain(q);
    for (size_t i = 0; i < q->n_sources; i++) {
        cf_err err = counters_writer_close(q->writers[i]);
        if (err && !first)
            first = err;
    }
    pthread_cond_destroy(&q->not_full);
    pthread_mutex_destroy(&q->mu);
    free(q->writers);
    free(q->ring);
    free(q->work);
    free(q->recs);
    free(q);
    return first;
}
