/* collect/rxring.c - SPSC byte ring of datagrams (contract in rxring.h). */
#include "collect/rxring.h"

#include <stdlib.h>
#include <string.h>

#define MIN_CAP (128u * 1024u)

static size_t pad8(size_t n) { return (n + 7) & ~(size_t)7; }

cf_err rxring_init(rxring *r, size_t cap)
{
    memset(r, 0, sizeof(*r));
    cap = pad8(cap < MIN_CAP ? MIN_CAP : cap);
    r->buf = malloc(cap);
    if (!r->buf)
        return CF_ERR_NOMEM;
    r->cap = cap;
    atomic_init(&r->head, 0);
    atomic_init(&r->tail, 0);
    return CF_OK;
}

void rxring_free(rxring *r)
{
    free(r->buf);
    r->buf = NULL;
}

/* Writes an entry header at h. */
static void put_header(uint8_t *h, const uint8_t addr[16], uint16_t port, uint64_t recv_ms, size_t len,
                       uint16_t stride8)
{
    uint32_t l32 = (uint32_t)len;
    memcpy(h, &l32, 4);
    memcpy(h + 4, &port, 2);
    memcpy(h + 6, &stride8, 2);
    memcpy(h + 8, &recv_ms, 8);
    memcpy(h + 16, addr, 16);
}

/* Skips the skip bytes from offset off to the end of the buffer (the
 * consumer reads a WRAP header there, or skips fewer than 32 bytes alone). */
static void wrap_to_start(rxring *r, size_t off, size_t skip)
{
    if (skip >= RXRING_HDR) {
        uint32_t wrap = RXRING_WRAP;
        memcpy(r->buf + off, &wrap, 4);
    }
    r->wpos += skip;
}

bool rxring_put(rxring *r, const uint8_t addr[16], uint16_t port, uint64_t recv_ms, const uint8_t *data,
                size_t len)
{
    size_t need = RXRING_HDR + pad8(len);
    size_t off = (size_t)(r->wpos % r->cap), to_end = r->cap - off;
    size_t skip = to_end < need ? to_end : 0;
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    if (len > 65535 || r->wpos + skip + need - tail > r->cap)
        return false;
    if (skip) {
        wrap_to_start(r, off, skip);
        off = 0;
    }
    uint8_t *h = r->buf + off;
    put_header(h, addr, port, recv_ms, len, 0);
    memcpy(h + RXRING_HDR, data, len);
    r->wpos += need;
    return true;
}

uint8_t *rxring_reserve(rxring *r, size_t slot, size_t max, size_t *n)
{
    size_t need = RXRING_HDR + slot;
    size_t off = (size_t)(r->wpos % r->cap), to_end = r->cap - off;
    uint64_t tail = atomic_load_explicit(&r->tail, memory_order_acquire);
    size_t skip = to_end < need ? to_end : 0;
    size_t free_bytes = r->cap - (size_t)(r->wpos - tail);
    *n = 0;
    if (max == 0 || free_bytes < skip + need)
        return NULL;
    if (skip) {
        wrap_to_start(r, off, skip);
        free_bytes -= skip;
        off = 0;
        to_end = r->cap;
    }
    size_t fit = (to_end < free_bytes ? to_end : free_bytes) / need;
    *n = fit < max ? fit : max;
    return r->buf + off + RXRING_HDR;
}

void rxring_commit(rxring *r, size_t slot, const uint8_t addr[16], uint16_t port, uint64_t recv_ms, size_t len)
{
    size_t need = RXRING_HDR + slot;
    put_header(r->buf + (size_t)(r->wpos % r->cap), addr, port, recv_ms, len, (uint16_t)(need / 8));
    r->wpos += need;
}

void rxring_publish(rxring *r) { atomic_store_explicit(&r->head, r->wpos, memory_order_release); }

bool rxring_peek(rxring *r, rxring_msg *m)
{
    uint64_t head = atomic_load_explicit(&r->head, memory_order_acquire);
    while (r->rpos < head) {
        size_t off = (size_t)(r->rpos % r->cap), to_end = r->cap - off;
        uint32_t len;
        if (to_end < RXRING_HDR) {
            r->rpos += to_end;
            continue;
        }
        memcpy(&len, r->buf + off, 4);
        if (len == RXRING_WRAP) {
            r->rpos += to_end;
            continue;
        }
        const uint8_t *h = r->buf + off;
        uint16_t stride8;
        memcpy(&m->port, h + 4, 2);
        memcpy(&stride8, h + 6, 2);
        memcpy(&m->recv_ms, h + 8, 8);
        memcpy(m->addr, h + 16, 16);
        m->data = h + RXRING_HDR;
        m->len = len;
        r->rpos += stride8 ? 8u * stride8 : RXRING_HDR + pad8(len);
        return true;
    }
    return false;
}

void rxring_release(rxring *r) { atomic_store_explicit(&r->tail, r->rpos, memory_order_release); }

bool rxring_empty(rxring *r)
{
    return atomic_load_explicit(&r->head, memory_order_acquire) == r->rpos;
}
