/* tests/collect/test_collect_config.c - the option table, config files (errors
 * name file:line and the key) and the exit status of bad options. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect/config.h"
#include "testutil.h"

static char *write_file(const char *dir, const char *name, const char *text)
{
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = malloc(len);
    assert_non_null(path);
    snprintf(path, len, "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(text, f);
    fclose(f);
    return path;
}

static void test_defaults(void **state)
{
    (void)state;
    collect_config c;
    collect_config_default(&c);
    assert_int_equal(c.n_listen, 1);
    assert_string_equal(c.listen[0], "[::]:2055");
    assert_string_equal(c.data_dir, "/var/lib/cloudflow");
    assert_int_equal(c.rotate_s, 300);
    assert_int_equal(c.flush_ms, 1000);
    assert_int_equal(c.compress, STORE_CODEC_LZ4);
    assert_int_equal(c.rcvbuf, 16u << 20);
    /* every key of the table has a default that parses */
    for (size_t i = 0; i < collect_n_options; i++)
        assert_non_null(collect_option_find(collect_options[i].key));
}

static void test_values_and_errors(void **state)
{
    (void)state;
    collect_config c;
    char err[512];
    collect_config_default(&c);
    assert_int_equal(collect_config_set(&c, "rotate", "1h", COLLECT_ORIGIN_CLI, err, sizeof(err)), CF_OK);
    assert_int_equal(c.rotate_s, 3600);
    assert_int_equal(collect_config_set(&c, "rcvbuf", "32M", COLLECT_ORIGIN_CLI, err, sizeof(err)), CF_OK);
    assert_int_equal(c.rcvbuf, 32u << 20);
    assert_int_equal(collect_config_set(&c, "compress", "zstd", COLLECT_ORIGIN_CLI, err, sizeof(err)), CF_OK);
    assert_int_equal(c.compress, STORE_CODEC_ZSTD);

    assert_int_equal(collect_config_set(&c, "rotate", "7", COLLECT_ORIGIN_CLI, err, sizeof(err)), CF_ERR_USAGE);
    assert_non_null(strstr(err, "rotate"));
    assert_int_equal(collect_config_set(&c, "rotate", "7m", COLLECT_ORIGIN_CLI, err, sizeof(err)), CF_ERR_USAGE);
    assert_non_null(strstr(err, "divide"));
    assert_int_equal(c.rotate_s, 3600); /* unchanged on failure */
    assert_int_equal(collect_config_set(&c, "compress", "lzo", COLLECT_ORIGIN_CLI, err, sizeof(err)), CF_ERR_USAGE);
    assert_int_equal(collect_config_set(&c, "queue-size", "0", COLLECT_ORIGIN_CLI, err, sizeof(err)), CF_ERR_USAGE);
    assert_int_equal(collect_config_set(&c, "flush", "12x", COLLECT_ORIGIN_CLI, err, sizeof(err)), CF_ERR_USAGE);
    assert_int_equal(collect_config_set(&c, "listen", "[::1", COLLECT_ORIGIN_CLI, err, sizeof(err)), CF_ERR_USAGE);
    assert_int_equal(collect_config_set(&c, "listen", "1.2.3.4:99999", COLLECT_ORIGIN_CLI, err, sizeof(err)),
                     CF_ERR_USAGE);
    assert_int_equal(collect_config_set(&c, "nosuchkey", "1", COLLECT_ORIGIN_CLI, err, sizeof(err)),
                     CF_ERR_NOT_FOUND);
    assert_non_null(strstr(err, "nosuchkey"));
}

static void test_user_and_log_keys(void **state)
{
    (void)state;
    collect_config c;
    char err[256];
    collect_config_default(&c);
    assert_string_equal(c.user, "");
    assert_string_equal(c.log_to, "stderr");
    assert_int_equal(collect_config_set(&c, "log", "syslog", COLLECT_ORIGIN_FILE, err, sizeof(err)), CF_OK);
    assert_string_equal(c.log_to, "syslog");
    assert_int_equal(collect_config_set(&c, "log", "file", COLLECT_ORIGIN_FILE, err, sizeof(err)), CF_ERR_USAGE);
    assert_non_null(strstr(err, "'log'"));
    assert_string_equal(c.log_to, "syslog");
    assert_int_equal(collect_config_set(&c, "user", "nobody", COLLECT_ORIGIN_FILE, err, sizeof(err)), CF_OK);
    assert_string_equal(c.user, "nobody");
    assert_int_equal(collect_config_set(&c, "user", "bad/name", COLLECT_ORIGIN_FILE, err, sizeof(err)), CF_ERR_USAGE);
    assert_non_null(strstr(err, "'user'"));
    assert_string_equal(c.user, "nobody");
}

static void test_listen_origins_replace(void **state)
{
    (void)state;
    collect_config c;
    char err[512];
    collect_config_default(&c);
    assert_int_equal(collect_config_set(&c, "listen", "127.0.0.1:9995", COLLECT_ORIGIN_FILE, err, sizeof(err)), 0);
    assert_int_equal(collect_config_set(&c, "listen", "[::1]:9996", COLLECT_ORIGIN_FILE, err, sizeof(err)), 0);
    assert_int_equal(c.n_listen, 2); /* the default was replaced, the file's accumulate */
    assert_string_equal(c.listen[0], "127.0.0.1:9995");
    assert_int_equal(collect_config_set(&c, "listen", "9997", COLLECT_ORIGIN_CLI, err, sizeof(err)), 0);
    assert_int_equal(c.n_listen, 1); /* the command line replaces the file */
    assert_string_equal(c.listen[0], "9997");
}

static void test_file_ok_and_line_errors(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("config");
    assert_non_null(dir);
    char err[1200];
    collect_config c;
    collect_config_default(&c);
    char *good = write_file(dir, "good.conf",
                            "# cloudflow\n\n  listen = 127.0.0.1:9995   # first\nlisten=[::1]:9996\n"
                            "data = \"/tmp/x y\"\nrotate = 10m\nflush = 250\ncompress = none\n"
                            "log-level = debug\nmax-exporters = 10\nqueue-size = 4\nrcvbuf = 1k\n");
    assert_int_equal(collect_config_load(&c, good, err, sizeof(err)), CF_OK);
    assert_int_equal(c.n_listen, 2);
    assert_string_equal(c.listen[1], "[::1]:9996");
    assert_string_equal(c.data_dir, "/tmp/x y");
    assert_int_equal(c.rotate_s, 600);
    assert_int_equal(c.flush_ms, 250);
    assert_int_equal(c.compress, STORE_CODEC_NONE);
    assert_int_equal(c.log_level, CF_LOG_DEBUG);
    assert_int_equal(c.max_exporters, 10);
    assert_int_equal(c.queue_size, 4);
    assert_int_equal(c.rcvbuf, 1024);

    static const struct {
        const char *text;
        const char *want; /* in the message, after "FILE:" */
    } bad[] = {
        {"data = /x\nrotate = 13s\n", ":2: key 'rotate'"},
        {"# c\n\nbogus = 1\n", ":3: unknown key 'bogus'"},
        {"listen 127.0.0.1:1\n", ":1: expected 'key = value'"},
        {"data = /x\nflush =\n", ":2: key 'flush': missing value"},
        {"compress = \"lz4\n", ":1: unterminated"},
        {"max-exporters = -1\n", ":1: key 'max-exporters'"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char *path = write_file(dir, "bad.conf", bad[i].text);
        collect_config_default(&c);
        assert_int_equal(collect_config_load(&c, path, err, sizeof(err)), CF_ERR_CONFIG);
        char want[4400];
        snprintf(want, sizeof(want), "%s%s", path, bad[i].want);
        if (!strstr(err, want))
            fail_msg("message '%s' lacks '%s'", err, want);
        free(path);
    }
    assert_int_equal(collect_config_load(&c, "/nonexistent/cloudflow.conf", err, sizeof(err)), CF_ERR_IO);
    free(good);
    tu_rm_rf(dir);
    free(dir);
}

static void test_cli_bad_options_exit_2(void **state)
{
    (void)state;
    char *dir = tu_mkdtemp("config-cli");
    assert_non_null(dir);
    char *path = write_file(dir, "bad.conf", "listen = 127.0.0.1:0\nqueue-size = lots\n");
    char cmd[4400], *out = NULL;
    const char *bin = tu_binary();

    snprintf(cmd, sizeof(cmd), "'%s' collect --config '%s' --data '%s/d' 2>&1", bin, path, dir);
    assert_int_equal(tu_run(cmd, &out), 2);
    char want[4200];
    snprintf(want, sizeof(want), "%s:2: key 'queue-size'", path);
    assert_non_null(strstr(out, want));
    free(out);

    static const char *const bad_args[] = {
        "--rotate 7", "--compress lzo", "--listen nonsense:port", "--bogus", "--flush", "-p 70000",
        "extra-argument", "--queue-size 0",
    };
    for (size_t i = 0; i < sizeof(bad_args) / sizeof(bad_args[0]); i++) {
        snprintf(cmd, sizeof(cmd), "'%s' collect --data '%s/d' %s 2>&1", bin, dir, bad_args[i]);
        int rc = tu_run(cmd, &out);
        if (rc != 2)
            fail_msg("'%s' exited %d: %s", bad_args[i], rc, out ? out : "");
        free(out);
    }
    snprintf(cmd, sizeof(cmd), "'%s' send --count x 2>&1", bin);
    assert_int_equal(tu_run(cmd, NULL), 2);
    snprintf(cmd, sizeof(cmd), "'%s' send --proto v99 2>&1", bin);
    assert_int_equal(tu_run(cmd, NULL), 2);
    snprintf(cmd, sizeof(cmd), "'%s' stats -w '%s/none' 2>&1", bin, dir);
    assert_int_equal(tu_run(cmd, NULL), 2);

    /* the same table drives --help and --print-config (aliases included) */
    snprintf(cmd, sizeof(cmd), "'%s' collect --help", bin);
    assert_int_equal(tu_run(cmd, &out), 0);
    for (size_t i = 0; i < collect_n_options; i++)
        assert_non_null(strstr(out, collect_options[i].key));
    free(out);
    snprintf(cmd, sizeof(cmd), "'%s' collect --config '%s/none.conf' 2>&1", bin, dir);
    assert_int_equal(tu_run(cmd, NULL), 2);
    snprintf(cmd, sizeof(cmd), "'%s' collect -p 9999 -b 127.0.0.1 -w /tmp/q -t 600 -B 2M --print-config", bin);
    assert_int_equal(tu_run(cmd, &out), 0);
    assert_non_null(strstr(out, "listen = 127.0.0.1:9999\n"));
    assert_non_null(strstr(out, "data = /tmp/q\n"));
    assert_non_null(strstr(out, "rotate = 600\n"));
    assert_non_null(strstr(out, "rcvbuf = 2097152\n"));
    free(out);
    free(path);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values_and_errors),
        cmocka_unit_test(test_user_and_log_keys),
        cmocka_unit_test(test_listen_origins_replace),
        cmocka_unit_test(test_file_ok_and_line_errors),
        cmocka_unit_test(test_cli_bad_options_exit_2),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
