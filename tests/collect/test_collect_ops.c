/* tests/collect/test_collect_ops.c - `cloudflow collect` in production:
 * SIGHUP reloads the allow-list (refused packets counted in stats.tsv,
 * nothing of the allowed traffic lost); a full disk loses records, counted,
 * never corrupts a segment, and the collector resumes by itself once space
 * returns; `user` drops root.  The tests needing root (mount, setuid) skip
 * when they cannot run.  Everything is sent to loopback only. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctest_util.h"
#include "testutil.h"

#define TMPFS_BYTES (3u << 20)
#define FILL_LEAVE (320u << 10) /* bytes left free on the tmpfs by the filler */
#define MAX_ROUNDS 40           /* send rounds until the store reports a loss */

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    assert_true(fputs(text, f) >= 0);
    assert_int_equal(fclose(f), 0);
}

static void test_sighup_reloads_allow_list(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("ops-hup");
    assert_non_null(dir);
    char data[4200], log[4200], conf[4200], listen[64], text[9000];
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/collect.log", dir);
    snprintf(conf, sizeof(conf), "%s/collect.conf", dir);
    uint16_t port = ct_free_port(4);
    assert_true(port != 0);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    snprintf(text, sizeof(text), "listen = %s\ndata = %s\nflush = 100\nallow = 192.0.2.1\n", listen, data);
    write_file(conf, text);
    const char *argv[] = {"collect", "--config", conf, NULL};
    pid_t pid = ct_spawn(argv, log);
    assert_true(pid > 0);
    assert_true(ct_wait_for(log, "collecting into", 5000));

    ct_sent refused;
    assert_int_equal(ct_send(listen, "--count 3000 --rate 20000 --seed 3", &refused), 0);
    assert_true(ct_wait_for(log, "not in the allow-list", 5000));
    usleep(500000); /* every refused datagram has been through the decode thread */

    snprintf(text, sizeof(text), "listen = %s\ndata = %s\nflush = 100\nallow = 127.0.0.0/8\n", listen, data);
    write_file(conf, text);
    assert_int_equal(kill(pid, SIGHUP), 0);
    assert_true(ct_wait_for(log, "SIGHUP: configuration reloaded", 5000));
    usleep(100000); /* the decode thread takes the new list within ~10 ms */

    ct_sent allowed;
    assert_int_equal(ct_send(listen, "--count 5000 --rate 20000 --seed 4", &allowed), 0);
    usleep(500000);
    assert_int_equal(ct_stop(pid, SIGTERM, 10000), 0);

    assert_int_equal(ct_stat(data, "total", "refused"), refused.packets);
    assert_int_equal(ct_stat(data, "total", "datagrams"), allowed.packets);
    assert_int_equal(ct_stat(data, "total", "records"), allowed.flows);
    assert_int_equal(ct_stat(data, "total", "store_written"), allowed.flows);
    assert_int_equal(ct_stat(data, "total", "store_lost"), 0);
    ct_store_sum sum;
    assert_int_equal(ct_store_read(data, &sum), 0);
    assert_int_equal(sum.errors, 0);
    assert_int_equal(sum.flows, allowed.flows);

    /* `cloudflow stats` shows the listener counters too */
    char cmd[9000];
    snprintf(cmd, sizeof(cmd), "'%s' stats --data '%s' | grep -q 'refused (allow-list) *%llu'", tu_binary(), data,
             (unsigned long long)refused.packets);
    assert_int_equal(tu_run(cmd, NULL), 0);
    tu_rm_rf(dir);
    free(dir);
}

/* ---- disk full ------------------------------------------------------------ */

typedef struct disk_state {
    char *dir;
    char mnt[4200];
    int mounted;
} disk_state;

static int disk_teardown(void **state)
{
    disk_state *d = *state;
    if (!d)
        return 0;
    if (d->mounted)
        (void)umount2(d->mnt, MNT_DETACH);
    if (d->dir) {
        tu_rm_rf(d->dir);
        free(d->dir);
    }
    free(d);
    *state = NULL;
    return 0;
}

/* Writes a file of len bytes (stops early, quietly, when the disk is full). */
static void fill(const char *path, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    assert_true(fd >= 0);
    static char buf[65536];
    memset(buf, 0xa5, sizeof(buf));
    for (size_t done = 0; done < len;) {
        size_t n = len - done < sizeof(buf) ? len - done : sizeof(buf);
        ssize_t r = write(fd, buf, n);
        if (r <= 0)
            break;
        done += (size_t)r;
    }
    close(fd);
}

static void test_disk_full_resumes(void **state)
{
    disk_state *d = calloc(1, sizeof(*d));
    assert_non_null(d);
    *state = d;
    d->dir = tu_mkdtemp("ops-full");
    assert_non_null(d->dir);
    snprintf(d->mnt, sizeof(d->mnt), "%s/mnt", d->dir);
    assert_int_equal(mkdir(d->mnt, 0755), 0);
    char opts[64];
    snprintf(opts, sizeof(opts), "size=%u,mode=0755", TMPFS_BYTES);
    if (geteuid() != 0 || mount("tmpfs", d->mnt, "tmpfs", 0, opts) != 0) {
        fprintf(stderr, "SKIP: cannot mount a tmpfs (needs root): disk-full test not run\n");
        skip();
    }
    d->mounted = 1;
    char data[4300], filler[4300], log[4200], listen[64];
    snprintf(data, sizeof(data), "%s/data", d->mnt);
    snprintf(filler, sizeof(filler), "%s/filler", d->mnt);
    snprintf(log, sizeof(log), "%s/collect.log", d->dir);
    fill(filler, TMPFS_BYTES - FILL_LEAVE);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", ct_free_port(4));
    const char *argv[] = {"collect", "--listen", listen, "--data", data, "--flush", "100", NULL};
    pid_t pid = ct_spawn(argv, log);
    assert_true(pid > 0);
    assert_true(ct_wait_for(log, "collecting into", 5000));

    uint64_t sent_before = 0;
    int lost = 0;
    for (int round = 0; round < MAX_ROUNDS && !lost; round++) {
        ct_sent s;
        char args[128];
        snprintf(args, sizeof(args), "--count 5000 --rate 50000 --seed %d", 100 + round);
        assert_int_equal(ct_send(listen, args, &s), 0);
        sent_before += s.flows;
        lost = ct_wait_for(log, "records lost writing", 400);
    }
    if (!lost)
        (void)ct_stop(pid, SIGKILL, 5000);
    assert_true(lost);

    assert_int_equal(unlink(filler), 0);
    usleep(300000);
    ct_sent after;
    assert_int_equal(ct_send(listen, "--count 5000 --rate 50000 --seed 999", &after), 0);
    usleep(600000);
    assert_int_equal(ct_stop(pid, SIGTERM, 10000), 0);

    uint64_t written = ct_stat(data, "total", "store_written");
    uint64_t store_lost = ct_stat(data, "total", "store_lost");
    fprintf(stderr, "disk full: sent %llu before, %llu after; written %llu, lost %llu\n",
            (unsigned long long)sent_before, (unsigned long long)after.flows, (unsigned long long)written,
            (unsigned long long)store_lost);
    assert_true(store_lost > 0 && store_lost != UINT64_MAX);
    assert_int_equal(ct_stat(data, "total", "records"), sent_before + after.flows);
    /* every record is either on disk or counted as lost, and the losses
     * all happened before the space came back */
    assert_int_equal(written + store_lost, sent_before + after.flows);
    assert_true(store_lost <= sent_before);
    assert_true(written >= after.flows);
    ct_store_sum sum;
    assert_int_equal(ct_store_read(data, &sum), 0);
    assert_int_equal(sum.errors, 0);
    assert_int_equal(sum.unsealed, 0);
    assert_int_equal(sum.flows, written);
}

/* ---- dropping privileges -------------------------------------------------- */

/* The real uid of pid from /proc, or -1. */
static long proc_uid(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    long uid = -1;
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "Uid:", 4) == 0) {
            uid = strtol(line + 4, NULL, 10);
            break;
        }
    fclose(f);
    return uid;
}

static void test_user_drops_root(void **state)
{
    (void)state;
    struct passwd *pw = getpwnam("nobody");
    if (geteuid() != 0 || !pw) {
        fprintf(stderr, "SKIP: not root or no user 'nobody': privilege drop not tested\n");
        skip();
    }
    uid_t nobody = pw->pw_uid;
    char *dir = tu_mkdtemp("ops-user");
    assert_non_null(dir);
    assert_int_equal(chmod(dir, 0755), 0); /* nobody must reach DIR/data */
    char data[4200], log[4200], listen[64];
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log, sizeof(log), "%s/collect.log", dir);
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", ct_free_port(4));
    const char *argv[] = {"collect", "--listen", listen, "--data", data, "--user", "nobody", "--flush", "100", NULL};
    pid_t pid = ct_spawn(argv, log);
    assert_true(pid > 0);
    assert_true(ct_wait_for(log, "collecting into", 5000));
    long uid = proc_uid(pid);
    ct_sent sent;
    assert_int_equal(ct_send(listen, "--count 2000 --rate 20000", &sent), 0);
    usleep(400000);
    assert_int_equal(ct_stop(pid, SIGTERM, 10000), 0);
    assert_int_equal(uid, (long)nobody);
    assert_int_equal(ct_stat(data, "total", "store_written"), sent.flows);
    ct_store_sum sum;
    assert_int_equal(ct_store_read(data, &sum), 0);
    assert_int_equal(sum.errors, 0);
    assert_int_equal(sum.flows, sent.flows);

    /* an unknown user is an error naming it */
    const char *bad[] = {"collect", "--listen", listen, "--data", data, "--user", "no-such-user-cf", NULL};
    char badlog[4200];
    snprintf(badlog, sizeof(badlog), "%s/bad.log", dir);
    pid = ct_spawn(bad, badlog);
    assert_true(pid > 0);
    assert_true(ct_wait_for(badlog, "no-such-user-cf", 5000));
    assert_true(ct_stop(pid, SIGTERM, 5000) != 0);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sighup_reloads_allow_list),
        cmocka_unit_test_teardown(test_disk_full_resumes, disk_teardown),
        cmocka_unit_test(test_user_drops_root),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
