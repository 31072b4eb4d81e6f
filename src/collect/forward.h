/*
 * collect/forward.h - repeat received export datagrams, unchanged, to other
 * collectors (nfcapd -R, samplicator without source spoofing).
 *
 * Where it sits: each receive thread of the listener (collect/listener.h)
 * owns one collect_forwarder and calls collect_forward_send() with every
 * recvmmsg batch before the datagrams are queued for decoding.  The UDP
 * payload is sent as it came; the source address is this host's.
 *
 * Targets: "HOST/PORT" (nfcapd's -R form), "V4:PORT", "[V6]:PORT"; HOST is
 * a numeric address.  IPv4 targets are sent from an IPv4 socket, IPv6 ones
 * from an IPv6 socket.
 *
 * Never blocking: sends use MSG_DONTWAIT; a datagram that cannot be sent
 * (buffer full, unreachable) is counted in errors, never retried.
 *
 * Ownership / threads: one forwarder per thread; the counters are atomics
 * readable from any thread.
 */
#ifndef CF_COLLECT_FORWARD_H
#define CF_COLLECT_FORWARD_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "core/error.h"

#define COLLECT_MAX_FORWARD 16

typedef struct collect_forwarder {
    size_t n;                                      /* targets */
    struct sockaddr_storage to[COLLECT_MAX_FORWARD];
    socklen_t to_len[COLLECT_MAX_FORWARD];
    int fd4, fd6;                                  /* sending sockets (-1: none needed) */
    _Atomic uint64_t sent;                         /* datagrams sent (all targets) */
    _Atomic uint64_t errors;                       /* datagrams that could not be sent */
} collect_forwarder;

/* Parses one target into *out; CF_ERR_USAGE. */
cf_err collect_forward_parse(const char *text, struct sockaddr_storage *out, socklen_t *out_len);

/* Opens the sockets for n targets.  CF_ERR_USAGE (bad target, too many,
 * message in errbuf), CF_ERR_IO.  f is zeroed (fds -1) on failure. */
cf_err collect_forward_open(collect_forwarder *f, const char *const *targets, size_t n, char *errbuf,
                            size_t errlen);

/* Sends the k datagrams to every target: datagram i is the per buffers
 * iov[i * per .. i * per + per) (the receive thread's two: ring slot and
 * overflow). */
void collect_forward_send(collect_forwarder *f, const struct iovec *iov, size_t per, size_t k);

void collect_forward_close(collect_forwarder *f);

#endif
