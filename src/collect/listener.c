/* collect/listener.c - UDP sockets (IPv4/IPv6, dual stack) and the receive
 * thread reading them with recvmmsg (contract in listener.h). */
#include "collect/listener.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/log.h"
#include "core/timeutil.h"
#include "flow/flow.h"

#define RX_BATCH 64            /* datagrams per recvmmsg */
#define RX_BUF_LEN 65536       /* largest UDP payload fits: nothing is ever truncated */
#define RX_ROUNDS 16           /* recvmmsg calls per socket per wake-up (fairness) */
#define RX_POLL_MS 100         /* stop is noticed within this */
#define RX_MAX_BATCH_AGE_MS 50 /* records wait at most this long in a partial batch */
#define RX_CTRL_LEN 64         /* room for the SO_RXQ_OVFL control message */
#define COLLECT_MAX_SOCKETS 64 /* sockets one listener polls */

/* One bound socket. */
typedef struct rx_socket {
    int fd;
    struct sockaddr_storage local;
    socklen_t local_len;
    uint64_t kernel_drops; /* last SO_RXQ_OVFL value seen */
} rx_socket;

struct collect_listener {
    rx_socket *socks;
    size_t n_socks;
    collect_pipeline *pipe;
    pthread_t thread;
    int started;
    atomic_bool stop;
    /* recvmmsg vectors, used by the receive thread only */
    struct mmsghdr msgs[RX_BATCH];
    struct iovec iov[RX_BATCH];
    struct sockaddr_storage from[RX_BATCH];
    uint8_t ctrl[RX_BATCH][RX_CTRL_LEN];
    uint8_t *bufs; /* RX_BATCH * RX_BUF_LEN */
};

static int parse_port(const char *s, uint16_t *port)
{
    if (!*s || strlen(s) > 5)
        return -1;
    unsigned v = 0;
    for (const char *c = s; *c; c++) {
        if (*c < '0' || *c > '9')
            return -1;
        v = v * 10 + (unsigned)(*c - '0');
    }
    if (v > 65535)
        return -1;
    *port = (uint16_t)v;
    return 0;
}

cf_err collect_addr_parse(const char *text, uint16_t default_port, struct sockaddr_storage *out,
                          socklen_t *out_len)
{
    char host[128];
    uint16_t port = default_port;
    const char *colon = strrchr(text, ':');
    size_t tlen = strlen(text);
    if (tlen == 0 || tlen >= sizeof(host))
        return CF_ERR_USAGE;
    if (parse_port(text, &port) == 0) {
        strcpy(host, "::");
    } else if (text[0] == '[') {
        const char *close = strchr(text, ']');
        if (!close || (close[1] != '\0' && (close[1] != ':' || parse_port(close + 2, &port) != 0)))
            return CF_ERR_USAGE;
        memcpy(host, text + 1, (size_t)(close - text - 1));
        host[close - text - 1] = '\0';
    } else if (colon && strchr(text, ':') == colon) {
        /* exactly one colon: HOST:PORT, ":PORT" or "*:PORT" */
        if (parse_port(colon + 1, &port) != 0)
            return CF_ERR_USAGE;
        size_t hl = (size_t)(colon - text);
        memcpy(host, text, hl);
        host[hl] = '\0';
        if (hl == 0 || strcmp(host, "*") == 0)
            strcpy(host, "::");
    } else {
        memcpy(host, text, tlen + 1); /* a bare address */
    }
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (inet_pton(AF_INET, host, &s4->sin_addr) == 1) {
        s4->sin_family = AF_INET;
        s4->sin_port = htons(port);
        *out_len = sizeof(*s4);
    } else if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(port);
        *out_len = sizeof(*s6);
    } else {
        return CF_ERR_USAGE;
    }
    *out = ss;
    return CF_OK;
}

void collect_addr_format(const struct sockaddr *sa, char *buf, size_t len)
{
    char a[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, a, sizeof(a));
        snprintf(buf, len, "%s:%u", a, (unsigned)ntohs(s4->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, a, sizeof(a));
        snprintf(buf, len, "[%s]:%u", a, (unsigned)ntohs(s6->sin6_port));
    } else {
        snprintf(buf, len, "?");
    }
}

/* Sets the receive buffer and logs what the kernel granted. */
static void set_rcvbuf(int fd, uint64_t want, const char *name)
{
    int v = want > INT32_MAX / 2 ? INT32_MAX / 2 : (int)want;
    const char *how = "SO_RCVBUFFORCE";
    if (want > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof(v)) != 0) {
        how = "SO_RCVBUF";
        if (setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof(v)) != 0)
            CF_WARN("%s: cannot set the receive buffer: %s", name, strerror(errno));
    }
    int eff = 0;
    socklen_t sl = sizeof(eff);
    getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &eff, &sl);
    if (want == 0) {
        CF_INFO("listening on %s (receive buffer: system default, %d bytes)", name, eff);
        return;
    }
    /* Linux reports twice the size asked for (bookkeeping overhead) */
    CF_INFO("listening on %s (receive buffer: asked %llu bytes, effective %d bytes via %s)", name,
            (unsigned long long)want, eff, how);
    if ((uint64_t)eff < want)
        CF_WARN("%s: receive buffer is smaller than asked; raise net.core.rmem_max or run as root", name);
}

/* Creates and binds one socket for ss; -1 with errno on failure. */
static int bind_socket(const struct sockaddr_storage *ss, socklen_t len)
{
    int fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int zero = 0, one = 1;
    if (ss->ss_family == AF_INET6 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero)) != 0)
        CF_WARN("cannot turn IPV6_V6ONLY off: %s (IPv4 may not be received)", strerror(errno));
    if (setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof(one)) != 0)
        cf_log(CF_LOG_DEBUG, "SO_RXQ_OVFL unavailable: kernel drops are not counted");
    if (bind(fd, (const struct sockaddr *)ss, len) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static cf_err open_one(rx_socket *rs, const char *text, uint64_t rcvbuf, char *errbuf, size_t errlen)
{
    struct sockaddr_storage ss;
    socklen_t len;
    if (collect_addr_parse(text, COLLECT_DEFAULT_PORT, &ss, &len) != CF_OK) {
        snprintf(errbuf, errlen, "listen: '%s' is not an address [ADDR]:PORT", text);
        return CF_ERR_USAGE;
    }
    int fd = bind_socket(&ss, len);
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    if (fd < 0 && ss.ss_family == AF_INET6 && (errno == EAFNOSUPPORT || errno == EADDRNOTAVAIL) &&
        IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr)) {
        uint16_t port = s6->sin6_port;
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        memset(&ss, 0, sizeof(ss));
        s4->sin_family = AF_INET;
        s4->sin_port = port;
        s4->sin_addr.s_addr = htonl(INADDR_ANY);
        len = sizeof(*s4);
        CF_WARN("IPv6 is not available: listening on 0.0.0.0:%u instead of %s", (unsigned)ntohs(port), text);
        fd = bind_socket(&ss, len);
    }
    if (fd < 0) {
        snprintf(errbuf, errlen, "listen %s: %s", text, strerror(errno));
        return CF_ERR_IO;
    }
    rs->fd = fd;
    rs->local_len = sizeof(rs->local);
    if (getsockname(fd, (struct sockaddr *)&rs->local, &rs->local_len) != 0) {
        rs->local = ss;
        rs->local_len = len;
    }
    char name[80];
    collect_addr_format((const struct sockaddr *)&rs->local, name, sizeof(name));
    set_rcvbuf(fd, rcvbuf, name);
    return CF_OK;
}

cf_err collect_listener_open(const char *const *addrs, size_t n, uint64_t rcvbuf, collect_listener **out,
                             char *errbuf, size_t errlen)
{
    if (n == 0) {
        snprintf(errbuf, errlen, "no listen address");
        return CF_ERR_USAGE;
    }
    collect_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return CF_ERR_NOMEM;
    cf_err err = CF_ERR_NOMEM;
    l->socks = calloc(n, sizeof(*l->socks));
    l->bufs = malloc((size_t)RX_BATCH * RX_BUF_LEN);
    if (!l->socks || !l->bufs) {
        snprintf(errbuf, errlen, "out of memory");
        goto fail;
    }
    for (size_t i = 0; i < n; i++) {
        if ((err = open_one(&l->socks[i], addrs[i], rcvbuf, errbuf, errlen)) != CF_OK)
            goto fail;
        l->n_socks = i + 1;
    }
    atomic_init(&l->stop, false);
    *out = l;
    return CF_OK;
fail:
    collect_listener_close(l);
    return err;
}

size_t collect_listener_count(const collect_listener *l) { return l->n_socks; }

void collect_listener_local(const collect_listener *l, size_t i, struct sockaddr_storage *out, socklen_t *len)
{
    *out = l->socks[i].local;
    *len = l->socks[i].local_len;
}

/* The sender of a datagram as a flow_record address and port. */
static void sender_of(const struct sockaddr_storage *ss, uint8_t addr[16], uint16_t *port)
{
    if (ss->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        flow_addr_from_v4(addr, ntohl(s4->sin_addr.s_addr));
        *port = ntohs(s4->sin_port);
    } else if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        memcpy(addr, &s6->sin6_addr, 16);
        *port = ntohs(s6->sin6_port);
    } else {
        memset(addr, 0, 16);
        *port = 0;
    }
}

/* The SO_RXQ_OVFL counter carried by msg, if any. */
static void read_drops(struct msghdr *msg, rx_socket *rs)
{
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(msg); cm; cm = CMSG_NXTHDR(msg, cm))
        if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SO_RXQ_OVFL &&
            cm->cmsg_len >= CMSG_LEN(sizeof(uint32_t))) {
            uint32_t v;
            memcpy(&v, CMSG_DATA(cm), sizeof(v));
            rs->kernel_drops = v;
        }
}

/* Reads socket rs until it is empty (or RX_ROUNDS batches were read). */
static void drain_socket(collect_listener *l, rx_socket *rs)
{
    for (int round = 0; round < RX_ROUNDS; round++) {
        for (int i = 0; i < RX_BATCH; i++) {
            struct msghdr *h = &l->msgs[i].msg_hdr;
            l->iov[i].iov_base = l->bufs + (size_t)i * RX_BUF_LEN;
            l->iov[i].iov_len = RX_BUF_LEN;
            memset(h, 0, sizeof(*h));
            h->msg_iov = &l->iov[i];
            h->msg_iovlen = 1;
            h->msg_name = &l->from[i];
            h->msg_namelen = sizeof(l->from[i]);
            h->msg_control = l->ctrl[i];
            h->msg_controllen = RX_CTRL_LEN;
        }
        int k = recvmmsg(rs->fd, l->msgs, RX_BATCH, MSG_DONTWAIT, NULL);
        if (k <= 0) {
            if (k < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
                CF_WARN("recvmmsg: %s", strerror(errno));
            return;
        }
        uint64_t now = cf_time_now_ms();
        for (int i = 0; i < k; i++) {
            uint8_t addr[16];
            uint16_t port;
            sender_of(&l->from[i], addr, &port);
            read_drops(&l->msgs[i].msg_hdr, rs);
            collect_pipeline_packet(l->pipe, addr, port, l->iov[i].iov_base, l->msgs[i].msg_len, now);
        }
        if (k < RX_BATCH)
            return;
    }
}

static void *rx_main(void *arg)
{
    collect_listener *l = arg;
    struct pollfd pfd[COLLECT_MAX_SOCKETS];
    size_t n = l->n_socks;
    for (size_t i = 0; i < n; i++)
        pfd[i] = (struct pollfd){.fd = l->socks[i].fd, .events = POLLIN};
    int timeout = RX_POLL_MS;
    while (!atomic_load_explicit(&l->stop, memory_order_relaxed)) {
        int r = poll(pfd, (nfds_t)n, timeout);
        if (r < 0 && errno != EINTR) {
            CF_ERROR("poll: %s", strerror(errno));
            break;
        }
        for (size_t i = 0; r > 0 && i < n; i++)
            if (pfd[i].revents & POLLIN)
                drain_socket(l, &l->socks[i]);
        uint64_t drops = 0;
        for (size_t i = 0; i < n; i++)
            drops += l->socks[i].kernel_drops;
        collect_pipeline_set_kernel_drops(l->pipe, drops);
        /* a partial batch goes to the writer once RX_MAX_BATCH_AGE_MS old;
         * sleep no longer than that */
        int due = collect_pipeline_push_aged(l->pipe, RX_MAX_BATCH_AGE_MS);
        timeout = due < 0 ? RX_POLL_MS : (due < 1 ? 1 : due);
    }
    collect_pipeline_push(l->pipe);
    return NULL;
}

cf_err collect_listener_start(collect_listener *l, collect_pipeline *p)
{
    if (l->started || l->n_socks > COLLECT_MAX_SOCKETS)
        return CF_ERR_USAGE;
    l->pipe = p;
    atomic_store(&l->stop, false);
    if (pthread_create(&l->thread, NULL, rx_main, l) != 0)
        return CF_ERR_NOMEM;
    l->started = 1;
    return CF_OK;
}

void collect_listener_stop(collect_listener *l)
{
    if (!l || !l->started)
        return;
    atomic_store(&l->stop, true);
    pthread_join(l->thread, NULL);
    l->started = 0;
}

void collect_listener_close(collect_listener *l)
{
    if (!l)
        return;
    collect_listener_stop(l);
    for (size_t i = 0; i < l->n_socks; i++)
        close(l->socks[i].fd);
    free(l->socks);
    free(l->bufs);
    free(l);
}
