/* tests/collect/test_tplstate.c - the templates state file parser
 * (collect_tplstore_parse_state): whole files pass every section, broken
 * ones stop with the byte and the reason, after passing what came before. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "collect/tplstore.h"
#include "testutil.h"

typedef struct seen {
    int n;
    char names[4][100];
    size_t lens[4];
} seen;

static int collect(void *ctx, const char *name, const uint8_t *buf, size_t len)
{
    (void)buf;
    seen *s = ctx;
    if (s->n < 4) {
        snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
        s->lens[s->n] = len;
    }
    s->n++;
    return 0;
}

static cf_err parse(const char *text, size_t len, seen *s, char *why)
{
    memset(s, 0, sizeof(*s));
    return collect_tplstore_parse_state((const uint8_t *)text, len, collect, s, why, 200);
}

#define P(lit, s, why) parse(lit, sizeof(lit) - 1, s, why)

static void test_whole_files(void **state)
{
    (void)state;
    seen s;
    char why[200];
    assert_int_equal(P("cloudflow-templates 1\nend 0\n", &s, why), CF_OK);
    assert_int_equal(s.n, 0);
    /* bodies are bytes: newlines and spaces inside them are data */
    assert_int_equal(P("cloudflow-templates 1\n192.0.2.1_2055.tpl 3\na\nb\n2001-db8--1_4739.tpl 0\n\nend 2\n", &s,
                       why),
                     CF_OK);
    assert_int_equal(s.n, 2);
    assert_string_equal(s.names[0], "192.0.2.1_2055.tpl");
    assert_int_equal(s.lens[0], 3);
    assert_string_equal(s.names[1], "2001-db8--1_4739.tpl");
    assert_int_equal(s.lens[1], 0);
}

static void test_broken_files(void **state)
{
    (void)state;
    seen s;
    char why[200];
    assert_int_equal(P("", &s, why), CF_ERR_CORRUPT);
    assert_non_null(strstr(why, "not a templates state file"));
    assert_int_equal(P("cloudflow-templates 2\nend 0\n", &s, why), CF_ERR_CORRUPT);
    /* cut short after a good section: the good one was passed */
    assert_int_equal(P("cloudflow-templates 1\na_1.tpl 2\nxy\nb_2.tpl 9\nabc", &s, why), CF_ERR_CORRUPT);
    assert_int_equal(s.n, 1);
    assert_string_equal(why, "byte 35: section 2 (b_2.tpl): 9 bytes announced, fewer left");
    assert_int_equal(P("cloudflow-templates 1\na_1.tpl 2\nxy\n", &s, why), CF_ERR_CORRUPT);
    assert_non_null(strstr(why, "no \"end\" line"));
    /* bad names, lengths, separators, counts, trailing bytes */
    assert_int_equal(P("cloudflow-templates 1\n../x.tpl 1\nx\nend 1\n", &s, why), CF_ERR_CORRUPT);
    assert_non_null(strstr(why, "byte 22: section 1: header is not"));
    assert_int_equal(P("cloudflow-templates 1\na_1.names 1\nx\nend 1\n", &s, why), CF_ERR_CORRUPT);
    assert_int_equal(P("cloudflow-templates 1\na_1.tpl -1\nx\nend 1\n", &s, why), CF_ERR_CORRUPT);
    assert_int_equal(P("cloudflow-templates 1\na_1.tpl 99999999999\nx\nend 1\n", &s, why), CF_ERR_CORRUPT);
    assert_int_equal(P("cloudflow-templates 1\na_1.tpl 1\nxyend 1\n", &s, why), CF_ERR_CORRUPT);
    assert_non_null(strstr(why, "no newline after them"));
    assert_int_equal(P("cloudflow-templates 1\na_1.tpl 1\nx\nend 2\n", &s, why), CF_ERR_CORRUPT);
    assert_non_null(strstr(why, "does not give the 1 sections read"));
    assert_int_equal(P("cloudflow-templates 1\nend 0\nmore", &s, why), CF_ERR_CORRUPT);
    assert_non_null(strstr(why, "4 bytes after the \"end\" line"));
    /* a header line without end within bounds */
    char big[600];
    memset(big, 'a', sizeof(big));
    memcpy(big, "cloudflow-templates 1\n", 22);
    assert_int_equal(parse(big, sizeof(big), &s, why), CF_ERR_CORRUPT);
    assert_non_null(strstr(why, "too long"));
}

/* A state file with more exporters than max-exporters: the least recently
 * updated (first) ones are dropped and counted, the newest loaded. */
static void test_state_keeps_the_newest_exporters(void **state)
{
    (void)state;
    char blob_path[4200];
    snprintf(blob_path, sizeof(blob_path), "%s/fuzz/corpus/template_file/juniper_ipfix", getenv("CF_SOURCE_DIR"));
    size_t blen = 0;
    char *blob = tu_read_file(blob_path, &blen);
    assert_non_null(blob);
    char *dir = tu_mkdtemp("tplstate");
    assert_non_null(dir);
    char tdir[4300], path[4400];
    snprintf(tdir, sizeof(tdir), "%s/.templates", dir);
    assert_int_equal(mkdir(tdir, 0755), 0);
    snprintf(path, sizeof(path), "%s/templates.state", tdir);
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    fputs("cloudflow-templates 1\n", f);
    for (int i = 1; i <= 3; i++) {
        fprintf(f, "192.0.2.%d_2055.tpl %zu\n", i, blen);
        fwrite(blob, 1, blen, f);
        fputc('\n', f);
    }
    fputs("end 3\n", f);
    fclose(f);

    collect_tplstore *ts = NULL;
    char err[256];
    assert_int_equal(collect_tplstore_open(dir, 2, NULL, &ts, err, sizeof(err)), CF_OK);
    collect_tpl_counts c;
    collect_tplstore_counts(ts, &c);
    assert_int_equal(c.load_errors, 1);
    for (int i = 1; i <= 3; i++) {
        decode_exporter dx;
        uint8_t addr[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 192, 0, 2, (uint8_t)i};
        decode_exporter_init(&dx, addr, 2055);
        collect_tpl_mark m = {0};
        collect_tplstore_first_seen(ts, &dx, &m);
        assert_int_equal(decode_template_count(&dx) > 0, i > 1); /* 192.0.2.1 was dropped */
        decode_exporter_free(&dx);
    }
    collect_tplstore_counts(ts, &c);
    assert_int_equal(c.loaded, 2);
    collect_tplstore_close(ts);
    /* closing rewrote the file with the two kept */
    size_t len = 0;
    char *text = tu_read_file(path, &len);
    assert_non_null(text);
    assert_null(memmem(text, len, "192.0.2.1_2055.tpl", 18));
    assert_non_null(memmem(text, len, "192.0.2.3_2055.tpl", 18));
    assert_non_null(memmem(text, len, "\nend 2\n", 7));
    free(text);
    free(blob);
    tu_rm_rf(dir);
    free(dir);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_whole_files),
        cmocka_unit_test(test_broken_files),
        cmocka_unit_test(test_state_keeps_the_newest_exporters),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
