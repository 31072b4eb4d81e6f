/* tests/collect/ctest_util.c - helpers of the collector tests. */
#include "ctest_util.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "collect/stats.h"
#include "store/store.h"
#include "testutil.h"

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

uint16_t ct_free_port(int family)
{
    int fd = socket(family == 6 ? AF_INET6 : AF_INET, SOCK_DGRAM, 0);
    if (fd < 0)
        return 0;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    socklen_t len;
    if (family == 6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_addr = in6addr_loopback;
        len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
        s4->sin_family = AF_INET;
        s4->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof(*s4);
    }
    uint16_t port = 0;
    if (bind(fd, (struct sockaddr *)&ss, len) == 0 && getsockname(fd, (struct sockaddr *)&ss, &len) == 0)
        port = ntohs(family == 6 ? ((struct sockaddr_in6 *)&ss)->sin6_port : ((struct sockaddr_in *)&ss)->sin_port);
    close(fd);
    return port;
}

bool ct_have_ipv6(void) { return ct_free_port(6) != 0; }

pid_t ct_spawn(const char *const *argv, const char *log_path)
{
    const char *bin = tu_binary();
    size_t n = 0;
    while (argv[n])
        n++;
    pid_t pid = fork();
    if (pid != 0)
        return pid;
    int fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        close(fd);
    }
    char **args = calloc(n + 2, sizeof(char *));
    if (!args)
        _exit(127);
    args[0] = (char *)bin;
    for (size_t i = 0; i < n; i++)
        args[i + 1] = (char *)argv[i];
    execv(bin, args);
    _exit(127);
}

bool ct_wait_for(const char *path, const char *needle, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        char *text = tu_read_file(path, NULL);
        bool found = text && strstr(text, needle);
        free(text);
        if (found)
            return true;
        sleep_ms(20);
    }
    return false;
}

int ct_stop(pid_t pid, int sig, int timeout_ms)
{
    kill(pid, sig);
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
        int status;
        pid_t r = waitpid(pid, &status, WNOHANG);
        if (r == pid)
            return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        sleep_ms(10);
    }
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return -1;
}

static uint64_t field_u64(const char *line, const char *key)
{
    const char *p = strstr(line, key);
    return p ? strtoull(p + strlen(key), NULL, 10) : UINT64_MAX;
}

int ct_send(const char *to, const char *extra_args, ct_sent *out)
{
    char cmd[1024];
    snprintf(cmd, sizeof(cmd), "'%s' send --to '%s' %s", tu_binary(), to, extra_args);
    char *text = NULL;
    int rc = tu_run(cmd, &text);
    const char *line = text ? strstr(text, "sent flows=") : NULL;
    if (rc != 0 || !line) {
        fprintf(stderr, "send failed (rc %d): %s\n", rc, text ? text : "");
        free(text);
        return -1;
    }
    out->flows = field_u64(line, " flows=");
    out->packets = field_u64(line, " packets=");
    out->rec_packets = field_u64(line, " rec_packets=");
    out->rec_bytes = field_u64(line, " rec_bytes=");
    out->send_errors = field_u64(line, " send_errors=");
    free(text);
    return 0;
}

static void read_segment(const char *path, ct_store_sum *s)
{
    store_reader *r = NULL;
    if (store_reader_open(path, &r) != CF_OK) {
        s->errors++;
        return;
    }
    store_block_info info;
    cf_err err;
    while ((err = store_reader_next(r, &info)) != CF_ERR_EOF) {
        if (err) {
            s->errors++;
            continue;
        }
        const void *cols[FLOW_FIELD_MAX_ID + 1] = {0};
        uint64_t mask = STORE_FIELD_BIT(FLOW_FIELD_PACKETS) | STORE_FIELD_BIT(FLOW_FIELD_BYTES);
        if (store_reader_columns(r, mask, cols) != CF_OK) {
            s->errors++;
            continue;
        }
        const uint64_t *pk = cols[FLOW_FIELD_PACKETS], *by = cols[FLOW_FIELD_BYTES];
        for (uint32_t i = 0; i < info.n_records; i++) {
            s->packets += pk[i];
            s->bytes += by[i];
        }
        s->flows += info.n_records;
    }
    s->unsealed += store_reader_unsealed(r);
    s->torn += store_reader_torn(r);
    store_reader_close(r);
}

int ct_store_read(const char *dir, ct_store_sum *out)
{
    memset(out, 0, sizeof(*out));
    store_segment *segs = NULL;
    size_t n = 0;
    if (store_list(dir, 0, UINT64_MAX, &segs, &n) != CF_OK)
        return -1;
    for (size_t i = 0; i < n; i++) {
        out->segments++;
        read_segment(segs[i].path, out);
    }
    store_segments_free(segs, n);
    return 0;
}

uint64_t ct_stat(const char *data_dir, const char *scope, const char *counter)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/stats.tsv", data_dir);
    tu_tsv t;
    if (tu_tsv_load(path, &t) != 0)
        return UINT64_MAX;
    uint64_t v = UINT64_MAX;
    for (size_t i = 1; i < t.n_rows; i++)
        if (t.rows[i][0] && t.rows[i][1] && t.rows[i][2] && strcmp(t.rows[i][0], scope) == 0 &&
            strcmp(t.rows[i][1], counter) == 0)
            v = strtoull(t.rows[i][2], NULL, 10);
    tu_tsv_free(&t);
    return v;
}
