/*
 * collect/listener.h - UDP sockets and the receive thread.
 *
 * Where it sits: the entry of the data path.  A listener binds one socket
 * per configured address and runs ONE receive thread that reads datagrams in
 * batches (recvmmsg, up to 64 at once) from every socket and hands each to
 * the pipeline (collect/pipeline.h) with its source address and port.  Every
 * socket accepts every protocol: the decoder dispatches by version.
 *
 * Addresses: "[::]:2055" is one IPv6 socket with IPV6_V6ONLY off, so it also
 * receives IPv4, whose senders appear as ::ffff:a.b.c.d (the form of
 * flow_record addresses).  When the host has no IPv6, "[::]:P" falls back to
 * "0.0.0.0:P" (logged).  IPv4 senders on IPv4 sockets are mapped the same way.
 *
 * Receive buffer: SO_RCVBUFFORCE is tried first (works as root, beyond
 * net.core.rmem_max), then SO_RCVBUF; the effective size is logged.  Kernel
 * drops are read from SO_RXQ_OVFL and reported to the pipeline.
 *
 * Ownership / threads: collect_listener_open() in the main thread;
 * collect_listener_start() starts the receive thread, the only producer of
 * the pipeline; collect_listener_stop() (any thread but the receive thread)
 * stops it within ~100 ms; collect_listener_close() frees.
 */
#ifndef CF_COLLECT_LISTENER_H
#define CF_COLLECT_LISTENER_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "collect/pipeline.h"
#include "core/error.h"

#define COLLECT_DEFAULT_PORT 2055

/*
 * Parses a listen address: "[V6]:PORT", "V4:PORT", "[V6]", "V4", ":PORT",
 * "*:PORT" or "PORT" (the last three: any address, i.e. [::]:PORT).  A
 * missing port is default_port.  Returns CF_OK or CF_ERR_USAGE; *out and
 * *out_len untouched on failure.
 */
cf_err collect_addr_parse(const char *text, uint16_t default_port, struct sockaddr_storage *out,
                          socklen_t *out_len);

/* "[ADDR]:PORT" / "ADDR:PORT" of sa into buf (len >= 64). */
void collect_addr_format(const struct sockaddr *sa, char *buf, size_t len);

typedef struct collect_listener collect_listener;

/*
 * Binds a socket for each of the n addrs (text as collect_addr_parse takes
 * it), with receive buffer rcvbuf bytes (0: system default).  Returns CF_OK;
 * CF_ERR_USAGE (bad address), CF_ERR_IO (socket/bind failed), CF_ERR_NOMEM;
 * errbuf names the address.  *out untouched on failure (sockets closed).
 */
cf_err collect_listener_open(const char *const *addrs, size_t n, uint64_t rcvbuf, collect_listener **out,
                             char *errbuf, size_t errlen);

/* Number of sockets, and the address socket i is bound to (the real port
 * when 0 was asked). */
size_t collect_listener_count(const collect_listener *l);
void collect_listener_local(const collect_listener *l, size_t i, struct sockaddr_storage *out, socklen_t *len);

/* Starts the receive thread feeding p.  CF_ERR_NOMEM when it cannot start. */
cf_err collect_listener_start(collect_listener *l, collect_pipeline *p);

/* Stops the receive thread (returns once it has pushed its last batch). */
void collect_listener_stop(collect_listener *l);

/* Stops if needed, closes the sockets, frees l.  NULL is a no-op. */
void collect_listener_close(collect_listener *l);

#endif
