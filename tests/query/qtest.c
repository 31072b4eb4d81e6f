/* tests/query/qtest.c - helpers of the query tests. */
#include "qtest.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "core/timeutil.h"
#include "store/store.h"
#include "testutil.h"

int cmd_query(int argc, char **argv);

int qt_write_store(const char *datadir, const flow_record *recs, size_t n, uint32_t block_records)
{
    char src[4096];
    snprintf(src, sizeof(src), "%s/src1", datadir);
    store_options o;
    store_options_default(&o);
    o.block_records = block_records;
    o.codec = STORE_CODEC_LZ4;
    store_writer *w = NULL;
    if (store_writer_open(src, &o, &w) != CF_OK)
        return -1;
    int rc = 0;
    /* append in slices so that several blocks form */
    for (size_t i = 0; i < n && rc == 0; i += block_records) {
        size_t k = n - i < block_records ? n - i : block_records;
        if (store_writer_append(w, recs + i, k) != CF_OK)
            rc = -1;
    }
    if (store_writer_close(w) != CF_OK)
        rc = -1;
    return rc;
}

static uint64_t parse_time(const char *s)
{
    /* "YYYY-MM-DD hh:mm:ss.mmm" */
    char buf[32];
    snprintf(buf, sizeof(buf), "%.19s", s);
    uint64_t ms = 0;
    if (cf_time_parse(buf, &ms) != CF_OK)
        return 0;
    return ms + (uint64_t)atoi(s + 20);
}

static void parse_addr(const char *s, uint8_t out[16]) { flow_addr_parse(s, out, NULL); }

long qt_load_fixture(const char *path, flow_record **out)
{
    char *text = tu_read_file(path, NULL);
    if (!text)
        return -1;
    size_t cap = 1024, n = 0;
    flow_record *recs = malloc(cap * sizeof(*recs));
    char *save = NULL;
    for (char *line = strtok_r(text, "\n", &save); line && recs; line = strtok_r(NULL, "\n", &save)) {
        char *f[32];
        size_t nf = 0;
        for (char *p = line; nf < 32;) {
            f[nf++] = p;
            char *bar = strchr(p, '|');
            if (!bar)
                break;
            *bar = '\0';
            p = bar + 1;
        }
        if (nf != 25)
            continue;
        if (n == cap) {
            cap *= 2;
            flow_record *nr = realloc(recs, cap * sizeof(*recs));
            if (!nr)
                break;
            recs = nr;
        }
        flow_record *r = &recs[n++];
        memset(r, 0, sizeof(*r));
        r->first_ms = parse_time(f[0]);
        r->last_ms = parse_time(f[1]);
        r->proto = (uint8_t)atoi(f[2]);
        parse_addr(f[3], r->src_addr);
        parse_addr(f[4], r->dst_addr);
        r->family = flow_addr_is_v4(r->src_addr) ? 4 : 6;
        r->src_port = (uint16_t)atoi(f[5]);
        char *dot = strchr(f[6], '.');
        r->dst_port = dot ? (uint16_t)(atoi(f[6]) * 256 + atoi(dot + 1)) : (uint16_t)atoi(f[6]);
        if (dot) {
            r->icmp_type = (uint8_t)atoi(f[6]);
            r->icmp_code = (uint8_t)atoi(dot + 1);
        }
        r->packets = strtoull(f[7], NULL, 10);
        r->bytes = strtoull(f[8], NULL, 10);
        static const char names[] = "CEUAPRSF";
        for (int b = 0; b < 8 && f[9][b]; b++)
            if (f[9][b] == names[b])
                r->tcp_flags |= (uint8_t)(0x80 >> b);
        r->tos = (uint8_t)atoi(f[10]);
        r->in_if = (uint32_t)atoi(f[11]);
        r->out_if = (uint32_t)atoi(f[12]);
        r->src_as = (uint32_t)atoi(f[13]);
        r->dst_as = (uint32_t)atoi(f[14]);
        r->src_mask = (uint8_t)atoi(f[15]);
        r->dst_mask = (uint8_t)atoi(f[16]);
        parse_addr(f[17], r->next_hop);
        parse_addr(f[18], r->bgp_next_hop);
        parse_addr(f[19], r->exporter);
        r->src_vlan = (uint16_t)atoi(f[20]);
        r->dst_vlan = (uint16_t)atoi(f[21]);
        r->fwd_status = (uint8_t)atoi(f[22]);
        r->direction = f[23][0] == 'E';
        r->engine_type = (uint8_t)atoi(f[24]);
        char *sl = strchr(f[24], '/');
        r->engine_id = sl ? (uint8_t)atoi(sl + 1) : 0;
        r->sampling = 1;
        r->exporter_proto = FLOW_PROTO_NETFLOW9;
    }
    free(text);
    if (!recs)
        return -1;
    *out = recs;
    return (long)n;
}

/* Splits args like sh does for spaces and single quotes. */
static int split_args(char *s, char **argv, int max)
{
    int argc = 0;
    char *w = s;
    while (*s) {
        while (*s == ' ')
            s++;
        if (!*s)
            break;
        if (argc == max)
            return -1;
        argv[argc++] = w;
        while (*s && *s != ' ') {
            if (*s == '\'') {
                s++;
                while (*s && *s != '\'')
                    *w++ = *s++;
                if (*s)
                    s++;
            } else {
                *w++ = *s++;
            }
        }
        if (*s)
            s++;
        *w++ = '\0';
    }
    return argc;
}

static char *slurp_fd(int fd)
{
    size_t cap = 65536, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    while (buf && (n = read(fd, buf + len, cap - len - 1)) > 0) {
        len += (size_t)n;
        if (cap - len < 4096) {
            char *nb = realloc(buf, cap * 2);
            if (!nb) {
                free(buf);
                return NULL;
            }
            buf = nb;
            cap *= 2;
        }
    }
    if (buf)
        buf[len] = '\0';
    return buf;
}

int qt_query(const char *args, char **out, char **err)
{
    char *dir = tu_mkdtemp("qtq");
    if (!dir)
        return -1;
    char opath[4200], epath[4200];
    snprintf(opath, sizeof(opath), "%s/out", dir);
    snprintf(epath, sizeof(epath), "%s/err", dir);
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
        int fo = open(opath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int fe = open(epath, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fo < 0 || fe < 0)
            _exit(99);
        dup2(fo, 1);
        dup2(fe, 2);
        char *copy = strdup(args);
        char *argv[128];
        argv[0] = "query";
        int argc = copy ? split_args(copy, argv + 1, 126) : -1;
        if (argc < 0)
            _exit(98);
        argv[argc + 1] = NULL;
        int rc = cmd_query(argc + 1, argv);
        fflush(stdout);
        fflush(stderr);
        _exit(rc);
    }
    int status = 0;
    if (pid < 0 || waitpid(pid, &status, 0) < 0) {
        tu_rm_rf(dir);
        free(dir);
        return -1;
    }
    int fd = open(opath, O_RDONLY);
    if (out)
        *out = fd >= 0 ? slurp_fd(fd) : NULL;
    if (fd >= 0)
        close(fd);
    fd = open(epath, O_RDONLY);
    if (err)
        *err = fd >= 0 ? slurp_fd(fd) : NULL;
    if (fd >= 0)
        close(fd);
    tu_rm_rf(dir);
    free(dir);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

const char *qt_source(const char *rel, char *buf, size_t len)
{
    const char *base = getenv("CF_SOURCE_DIR");
    snprintf(buf, len, "%s/%s", base ? base : ".", rel);
    return buf;
}

flow_record qt_rec(uint64_t first_ms, uint64_t dur_ms, uint32_t src, uint32_t dst, uint8_t proto,
                   uint16_t sport, uint16_t dport, uint64_t packets, uint64_t bytes)
{
    flow_record r;
    memset(&r, 0, sizeof(r));
    r.first_ms = first_ms;
    r.last_ms = first_ms + dur_ms;
    flow_set_v4(&r, src, dst);
    r.proto = proto;
    r.src_port = sport;
    r.dst_port = dport;
    r.packets = packets;
    r.bytes = bytes;
    r.sampling = 1;
    flow_addr_from_v4(r.exporter, 0x7f000001);
    return r;
}
