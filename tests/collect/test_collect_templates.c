/* tests/collect/test_collect_templates.c - v9/IPFIX templates persist in
 * DATADIR/.templates: a restarted collector decodes data packets sent
 * without templates; a corrupt template file is counted and ignored. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "collect/tplstore.h"
#include "ctest_util.h"
#include "testutil.h"

/* Starts a collector on 127.0.0.1:port into data, logging to log. */
static pid_t start_collector(uint16_t port, const char *data, const char *log)
{
    char listen[64];
    snprintf(listen, sizeof(listen), "127.0.0.1:%u", port);
    const char *argv[] = {"collect", "--listen", listen, "--data", data, "--flush", "100", NULL};
    pid_t pid = ct_spawn(argv, log);
    assert_true(pid > 0);
    assert_true(ct_wait_for(log, "collecting into", 5000));
    return pid;
}

/* One collector run: starts it on port with data and log, sends the
 * simulated exporter's traffic (cloudflow sim args) to it, stops it with
 * SIGTERM once the traffic is in; *sent describes what was sent. */
static void collect_once(uint16_t port, const char *data, const char *log, const char *args, ct_sent *sent)
{
    char to[64];
    snprintf(to, sizeof(to), "127.0.0.1:%u", port);
    pid_t pid = start_collector(port, data, log);
    assert_int_equal(ct_send(to, args, sent), 0);
    usleep(300000);
    assert_int_equal(ct_stop(pid, SIGTERM, 10000), 0);
}

/* A source port for the simulated exporter, free right now. */
static uint16_t exporter_port(uint16_t avoid)
{
    for (int i = 0; i < 20; i++) {
        uint16_t p = ct_free_port(4);
        if (p && p != avoid && p != (uint16_t)(avoid + 1))
            return p;
    }
    fail_msg("no free port");
    return 0;
}

static void restart_decodes(const char *proto)
{
    char *dir = tu_mkdtemp("tpl");
    assert_non_null(dir);
    char data[4200], log1[4200], log2[4200], args[256], scope[64];
    snprintf(data, sizeof(data), "%s/data", dir);
    snprintf(log1, sizeof(log1), "%s/collect1.log", dir);
    snprintf(log2, sizeof(log2), "%s/collect2.log", dir);
    uint16_t port = ct_free_port(4);
    assert_true(port != 0);
    uint16_t src = exporter_port(port);
    snprintf(scope, sizeof(scope), "127.0.0.1:%u", src);

    /* first run: templates then data */
    ct_sent a, b;
    snprintf(args, sizeof(args), "--proto %s --count 100 --rate 5000 --seed 5 --src-port %u", proto, src);
    collect_once(port, data, log1, args, &a);
    assert_int_equal(ct_stat(data, "total", "records"), a.flows);
    assert_true(ct_stat(data, "total", "templates_saved") >= 1);

    /* second run: the exporter sends data only */
    snprintf(args, sizeof(args), "--proto %s --count 100 --rate 5000 --seed 6 --src-port %u --no-templates", proto,
             src);
    collect_once(port, data, log2, args, &b);
    assert_int_equal(ct_stat(data, "total", "templates_loaded"), 1);
    assert_int_equal(ct_stat(data, "total", "templates_load_errors"), 0);
    assert_int_equal(ct_stat(data, "total", "unknown_template"), 0);
    assert_int_equal(ct_stat(data, scope, "unknown_template"), 0);
    assert_int_equal(ct_stat(data, "total", "records"), b.flows);
    assert_int_equal(ct_stat(data, "total", "store_written"), b.flows);

    ct_store_sum sum;
    assert_int_equal(ct_store_read(data, &sum), 0);
    assert_int_equal(sum.errors, 0);
    assert_int_equal(sum.flows, a.flows + b.flows);
    assert_int_equal(sum.bytes, a.rec_bytes + b.rec_bytes);
    tu_rm_rf(dir);
    free(dir);
}

static void test_ipfix_restart_decodes_without_templates(void **state)
{
    (void)state;
    restart_decodes("ipfix");
}

static void test_v9_restart_decodes_without_templates(void **state)
{
    (void)state;
    restart_decodes("v9");
}

/* Writes len bytes of text to path. */
static void write_text(const char *path, const char *text, size_t len)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* A test's directories: dir (temporary), data = dir/data, tdir =
 * data/.templates (created), log = dir/collect.log; a free port and the
 * exporter's source port. */
typedef struct tpl_env {
    char *dir;
    char data[4200], tdir[4300], log[4200];
    uint16_t port, src;
} tpl_env;

static void env_init(tpl_env *e, const char *tag)
{
    e->dir = tu_mkdtemp(tag);
    assert_non_null(e->dir);
    snprintf(e->data, sizeof(e->data), "%s/data", e->dir);
    snprintf(e->tdir, sizeof(e->tdir), "%s/.templates", e->data);
    snprintf(e->log, sizeof(e->log), "%s/collect.log", e->dir);
    e->port = ct_free_port(4);
    assert_true(e->port != 0);
    e->src = exporter_port(e->port);
    char cmd[4400];
    snprintf(cmd, sizeof(cmd), "mkdir -p '%s'", e->tdir);
    assert_int_equal(tu_run(cmd, NULL), 0);
}

static void env_free(tpl_env *e)
{
    tu_rm_rf(e->dir);
    free(e->dir);
}

static void test_corrupt_template_file_is_counted_and_ignored(void **state)
{
    (void)state;
    tpl_env e;
    env_init(&e, "tpl-bad");
    char bad[4400], trunc[4400], args[256];
    const char *data = e.data, *tdir = e.tdir, *log = e.log;
    uint16_t port = e.port, src = e.src;
    snprintf(bad, sizeof(bad), "%s/127.0.0.1_%u.tpl", tdir, src);
    write_text(bad, "this is not a template file", 27);
    snprintf(trunc, sizeof(trunc), "%s/127.0.0.1_1.tpl", tdir);
    write_text(trunc, "CFTP\0\1\0\0", 8); /* a header cut short */

    snprintf(args, sizeof(args), "--proto ipfix --count 50 --rate 5000 --src-port %u", src);
    ct_sent a;
    collect_once(port, data, log, args, &a);
    assert_int_equal(ct_stat(data, "total", "templates_load_errors"), 2);
    assert_int_equal(ct_stat(data, "total", "templates_loaded"), 0);
    assert_int_equal(ct_stat(data, "total", "records"), a.flows);
    /* the log names the file */
    size_t len = 0;
    char *text = tu_read_file(log, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, bad));
    assert_non_null(strstr(text, trunc));
    free(text);
    /* the good templates went to the state file, which replaced the old
     * per-exporter files */
    assert_true(ct_stat(data, "total", "templates_saved") >= 1);
    assert_null(tu_read_file(bad, &len));
    assert_null(tu_read_file(trunc, &len));
    char state_path[4400], section[128];
    snprintf(state_path, sizeof(state_path), "%s/templates.state", tdir);
    text = tu_read_file(state_path, &len);
    assert_non_null(text);
    assert_int_equal(collect_tplstore_parse_state((const uint8_t *)text, len, NULL, NULL, section, sizeof(section)),
                     CF_OK);
    snprintf(section, sizeof(section), "\n127.0.0.1_%u.tpl ", src);
    assert_non_null(memmem(text, len, section, strlen(section)));
    free(text);
    env_free(&e);
}

/* A state file cut short: counted and logged with where it goes wrong; the
 * collector runs and writes it whole again, and a restart loads it. */
static void test_truncated_state_file_is_counted_and_rewritten(void **state)
{
    (void)state;
    tpl_env e;
    env_init(&e, "tpl-state");
    char path[4400], log2[4200], args[256];
    const char *data = e.data, *log = e.log;
    uint16_t port = e.port, src = e.src;
    snprintf(path, sizeof(path), "%s/templates.state", e.tdir);
    snprintf(log2, sizeof(log2), "%s/collect2.log", e.dir);
    static const char cut[] = "cloudflow-templates 1\n127.0.0.1_9.tpl 100\nCFTP";
    write_text(path, cut, sizeof(cut) - 1);

    snprintf(args, sizeof(args), "--proto v9 --count 50 --rate 5000 --src-port %u", src);
    ct_sent a;
    collect_once(port, data, log, args, &a);
    assert_int_equal(ct_stat(data, "total", "templates_load_errors"), 1);
    assert_int_equal(ct_stat(data, "total", "records"), a.flows);
    size_t len = 0;
    char *text = tu_read_file(log, &len);
    assert_non_null(text);
    assert_non_null(strstr(text, "templates.state: byte 22: section 1 (127.0.0.1_9.tpl): 100 bytes announced"));
    free(text);
    char why[256];
    text = tu_read_file(path, &len);
    assert_non_null(text);
    assert_int_equal(collect_tplstore_parse_state((const uint8_t *)text, len, NULL, NULL, why, sizeof(why)), CF_OK);
    free(text);

    /* a restart decodes data without templates from the rewritten file */
    snprintf(args, sizeof(args), "--proto v9 --count 50 --rate 5000 --seed 9 --src-port %u --no-templates", src);
    collect_once(port, data, log2, args, &a);
    assert_int_equal(ct_stat(data, "total", "templates_loaded"), 1);
    assert_int_equal(ct_stat(data, "total", "templates_load_errors"), 0);
    assert_int_equal(ct_stat(data, "total", "records"), a.flows);
    env_free(&e);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipfix_restart_decodes_without_templates),
        cmocka_unit_test(test_v9_restart_decodes_without_templates),
        cmocka_unit_test(test_corrupt_template_file_is_counted_and_ignored),
        cmocka_unit_test(test_truncated_state_file_is_counted_and_rewritten),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
