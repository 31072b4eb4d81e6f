/*
 * collect/rxring.h - single-producer single-consumer byte ring of datagrams.
 *
 * Where it sits: between a receive thread (or the TCP thread) and the
 * decode thread of the listener (collect/listener.h).  The producer copies
 * each datagram with its sender and arrival time into the ring; the
 * consumer reads them in order, in place, and releases them.
 *
 * Layout: a byte buffer of cap bytes; each entry is a 32-byte header
 *
 *   OFFSET SIZE MEANING
 *   0      4    payload length (RXRING_WRAP: skip to the start of the buffer)
 *   4      2    sender port
 *   6      2    entry length / 8 (a slot, see rxring_reserve); 0: 32 + the
 *               payload length padded to 8
 *   8      8    arrival time, ms since the epoch
 *   16     16   sender address (IPv4-mapped for IPv4)
 *
 * followed by the payload, padded to 8 bytes.  An entry never straddles the
 * end of the buffer: when it does not fit, the producer skips the rest
 * (writing a WRAP header when at least 32 bytes are left; fewer bytes are
 * skipped by both sides without a header).
 *
 * Two ways in: rxring_put() copies a datagram; rxring_reserve() hands out
 * consecutive fixed-size slots for the kernel to receive into (recvmmsg
 * straight into the ring, no copy), and rxring_commit() turns the next
 * reserved slot into an entry once its length is known.
 *
 * Threads: exactly one producer thread calls rxring_put, rxring_reserve,
 * rxring_commit and rxring_publish, and one consumer thread rxring_peek and
 * rxring_release.  Positions are monotonic
 * 64-bit counters published with release/acquire atomics.
 */
#ifndef CF_COLLECT_RXRING_H
#define CF_COLLECT_RXRING_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/error.h"

#define RXRING_HDR 32
#define RXRING_WRAP UINT32_MAX

typedef struct rxring {
    uint8_t *buf;
    size_t cap;             /* bytes, a multiple of 8 */
    _Atomic uint64_t head;  /* published end of the entries (producer) */
    _Atomic uint64_t tail;  /* released start (consumer) */
    uint64_t wpos;          /* producer: where the next entry goes (>= head) */
    uint64_t rpos;          /* consumer: next entry to read (>= tail) */
} rxring;

/* One datagram as the consumer sees it (pointers into the ring). */
typedef struct rxring_msg {
    const uint8_t *data;
    size_t len;
    uint8_t addr[16];
    uint16_t port;
    uint64_t recv_ms;
} rxring_msg;

/* Allocates cap bytes (rounded up to 8; at least 128 KiB).  CF_ERR_NOMEM. */
cf_err rxring_init(rxring *r, size_t cap);
void rxring_free(rxring *r);

/* Copies one datagram in (not yet visible).  False when there is no room
 * (nothing written).  len must be at most 65535. */
bool rxring_put(rxring *r, const uint8_t addr[16], uint16_t port, uint64_t recv_ms, const uint8_t *data,
                size_t len);

/* Room for up to max slots of slot payload bytes each (slot a multiple of
 * 8, at most 65528), contiguous at the producer's position: the payload of
 * slot i is at the returned pointer + i * (RXRING_HDR + slot).  *n gets how
 * many fit (0, and NULL, when the ring is full or max is 0).  Reserving writes nothing the
 * consumer sees; a later rxring_put() or rxring_reserve() starts again at
 * the first slot not committed. */
uint8_t *rxring_reserve(rxring *r, size_t slot, size_t max, size_t *n);

/* Makes the next reserved slot (of the latest rxring_reserve(), in order)
 * an entry of len <= slot payload bytes (not yet visible). */
void rxring_commit(rxring *r, size_t slot, const uint8_t addr[16], uint16_t port, uint64_t recv_ms, size_t len);

/* Makes every entry put so far visible to the consumer. */
void rxring_publish(rxring *r);

/* The next entry, or false when the ring is empty.  The entry stays valid
 * until rxring_release(). */
bool rxring_peek(rxring *r, rxring_msg *m);

/* Releases every entry peeked so far (the producer may reuse the room). */
void rxring_release(rxring *r);

/* True when nothing is published and unread. */
bool rxring_empty(rxring *r);

#endif
