/* collect/forward.c - repeat datagrams to other collectors (contract in forward.h). */
#include "collect/forward.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "collect/listener.h"

#define FWD_BATCH 64

cf_err collect_forward_parse(const char *text, struct sockaddr_storage *out, socklen_t *out_len)
{
    char buf[160];
    const char *slash = strrchr(text, '/');
    if (slash) { /* HOST/PORT */
        size_t hl = (size_t)(slash - text);
        if (hl == 0 || hl + 8 >= sizeof(buf) || strchr(slash + 1, ':'))
            return CF_ERR_USAGE;
        memcpy(buf, text, hl);
        buf[hl] = '\0';
        char tmp[160];
        snprintf(tmp, sizeof(tmp), strchr(buf, ':') ? "[%s]:%s" : "%s:%s", buf, slash + 1);
        memcpy(buf, tmp, sizeof(buf));
        text = buf;
    }
    struct sockaddr_storage ss;
    socklen_t len;
    if (collect_addr_parse(text, COLLECT_DEFAULT_PORT, &ss, &len) != CF_OK)
        return CF_ERR_USAGE;
    const struct sockaddr_in *s4 = (const struct sockaddr_in *)&ss;
    const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&ss;
    if ((ss.ss_family == AF_INET && (s4->sin_port == 0 || s4->sin_addr.s_addr == htonl(INADDR_ANY))) ||
        (ss.ss_family == AF_INET6 && (s6->sin6_port == 0 || IN6_IS_ADDR_UNSPECIFIED(&s6->sin6_addr))))
        return CF_ERR_USAGE; /* needs a real destination */
    *out = ss;
    *out_len = len;
    return CF_OK;
}

cf_err collect_forward_open(collect_forwarder *f, const char *const *targets, size_t n, char *errbuf,
                            size_t errlen)
{
    memset(f, 0, sizeof(*f));
    f->fd4 = f->fd6 = -1;
    atomic_init(&f->sent, 0);
    atomic_init(&f->errors, 0);
    if (n > COLLECT_MAX_FORWARD) {
        snprintf(errbuf, errlen, "forward: at most %d targets", COLLECT_MAX_FORWARD);
        return CF_ERR_USAGE;
    }
    for (size_t i = 0; i < n; i++) {
        if (collect_forward_parse(targets[i], &f->to[i], &f->to_len[i]) != CF_OK) {
            snprintf(errbuf, errlen, "forward: '%s' is not HOST/PORT or [ADDR]:PORT", targets[i]);
            return CF_ERR_USAGE;
        }
        int *fd = f->to[i].ss_family == AF_INET ? &f->fd4 : &f->fd6;
        if (*fd < 0 && (*fd = socket(f->to[i].ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0) {
            snprintf(errbuf, errlen, "forward %s: socket: %s", targets[i], strerror(errno));
            collect_forward_close(f);
            return CF_ERR_IO;
        }
    }
    f->n = n;
    return CF_OK;
}

void collect_forward_send(collect_forwarder *f, const struct iovec *iov, size_t per, size_t k)
{
    struct mmsghdr mm[FWD_BATCH];
    for (size_t t = 0; t < f->n; t++) {
        int fd = f->to[t].ss_family == AF_INET ? f->fd4 : f->fd6;
        for (size_t done = 0; done < k;) {
            size_t m = k - done < FWD_BATCH ? k - done : FWD_BATCH;
            for (size_t i = 0; i < m; i++) {
                memset(&mm[i], 0, sizeof(mm[i]));
                mm[i].msg_hdr.msg_name = &f->to[t];
                mm[i].msg_hdr.msg_namelen = f->to_len[t];
                mm[i].msg_hdr.msg_iov = (struct iovec *)&iov[(done + i) * per];
                mm[i].msg_hdr.msg_iovlen = per;
            }
            int r = sendmmsg(fd, mm, (unsigned)m, MSG_DONTWAIT);
            if (r < 0 && errno == EINTR)
                continue;
            size_t ok = r > 0 ? (size_t)r : 0;
            atomic_fetch_add_explicit(&f->sent, ok, memory_order_relaxed);
            if (ok < m) { /* the first not sent failed: count it, go on after it */
                atomic_fetch_add_explicit(&f->errors, 1, memory_order_relaxed);
                ok++;
            }
            done += ok;
        }
    }
}

void collect_forward_close(collect_forwarder *f)
{
    if (f->fd4 >= 0)
        close(f->fd4);
    if (f->fd6 >= 0)
        close(f->fd6);
    f->fd4 = f->fd6 = -1;
    f->n = 0;
}
