/*
 * tests/query/test_query_names.c - names in query output.  Captures with
 * names in their options data are imported with `cloudflow import`; the
 * expected names are read back from the names file the import wrote
 * (DATADIR/.names, checked against tshark by the decode tests), so nothing
 * here is hard-coded from the captures.
 *
 *   - every name tag (%inn %outn %ind %outd %appn %appd %nbnam %inam %onam)
 *     prints the entry of the flow's exporter and key, and its "unknown"
 *     text otherwise; %samp the sampling interval;
 *   - long / extended get In/Out interface and Application columns, json /
 *     ndjson the keys in_ifname ... app_desc; csv stays nfdump's;
 *   - a segment file, a day directory, a source directory and the data
 *     directory all find the names;
 *   - a damaged names file is reported and ignored; the query succeeds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <cmocka.h>

#include "flow/names.h"
#include "qtest.h"
#include "testutil.h"

#define NBAR "pcap/cisco/wrapped-logstash_cisco_nbar_v9.pcap"
#define ASR9K "pcap/cisco/wrapped-logstash_cisco_asr9k_v9.pcap"

typedef struct imported {
    char *dir;       /* temporary directory */
    char data[4200]; /* its data directory */
    char names_file[4800];
    flow_names t;    /* the names file's entries */
} imported;

static void import(const char *rel, imported *im)
{
    im->dir = tu_mkdtemp("qnames");
    assert_non_null(im->dir);
    snprintf(im->data, sizeof(im->data), "%s/d", im->dir);
    char pcap[4096], cmd[8400];
    snprintf(cmd, sizeof(cmd), "'%s' import '%s' --data '%s' >/dev/null 2>&1", tu_binary(),
             tu_testdata(rel, pcap, sizeof(pcap)), im->data);
    assert_int_equal(tu_run(cmd, NULL), 0);
    char nd[4300];
    snprintf(nd, sizeof(nd), "%s/.names", im->data);
    DIR *d = opendir(nd);
    assert_non_null(d);
    struct dirent *de;
    im->names_file[0] = '\0';
    while ((de = readdir(d)) != NULL)
        if (strstr(de->d_name, ".names"))
            snprintf(im->names_file, sizeof(im->names_file), "%s/%s", nd, de->d_name);
    closedir(d);
    size_t len;
    char *text = tu_read_file(im->names_file, &len);
    assert_non_null(text);
    flow_names_init(&im->t, 100000);
    uint8_t addr[16];
    uint16_t port;
    char err[128];
    assert_int_equal(flow_names_parse(text, len, &im->t, addr, &port, err, sizeof(err)), CF_OK);
    assert_true(im->t.n > 0);
    free(text);
}

static void done(imported *im)
{
    flow_names_free(&im->t);
    tu_rm_rf(im->dir);
    free(im->dir);
}

/* Splits line at '|' into at most n cells (in place); returns the count. */
static size_t cells(char *line, char **out, size_t n)
{
    size_t k = 0;
    for (char *save = NULL, *c = strtok_r(line, "|", &save); c && k < n; c = strtok_r(NULL, "|", &save))
        out[k++] = c;
    return k;
}

static const char *trim(char *s)
{
    while (*s == ' ')
        s++;
    size_t l = strlen(s);
    while (l && s[l - 1] == ' ')
        s[--l] = '\0';
    return s;
}

static const char *if_text(const flow_name *e) { return !e ? "-" : *e->name ? e->name : *e->desc ? e->desc : "-"; }

static void test_interface_tags(void **state)
{
    (void)state;
    imported im;
    import(ASR9K, &im);
    char args[4600], *out = NULL;
    snprintf(args, sizeof(args), "-r %s -q -o 'fmt:%%in|%%out|%%inn|%%outn|%%ind|%%outd|%%inam|%%onam|%%samp'",
             im.data);
    assert_int_equal(qt_query(args, &out, NULL), 0);
    size_t n_lines = 0, n_named = 0;
    for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *c[9];
        assert_int_equal(cells(l, c, 9), 9);
        uint32_t in = (uint32_t)strtoul(c[0], NULL, 10), outif = (uint32_t)strtoul(c[1], NULL, 10);
        const flow_name *ei = flow_names_find(&im.t, FLOW_NAME_IF, in);
        const flow_name *eo = flow_names_find(&im.t, FLOW_NAME_IF, outif);
        assert_string_equal(trim(c[2]), if_text(ei));
        assert_string_equal(trim(c[3]), if_text(eo));
        assert_string_equal(c[4], ei && *ei->desc ? ei->desc : "-");
        assert_string_equal(c[5], eo && *eo->desc ? eo->desc : "-");
        /* nfdump's: " name", or " <ingress not found>" for both directions */
        char want[200];
        snprintf(want, sizeof(want), " %s", ei ? if_text(ei) : "<ingress not found>");
        assert_string_equal(c[6], want);
        snprintf(want, sizeof(want), " %s", eo ? if_text(eo) : "<ingress not found>");
        assert_string_equal(c[7], want);
        assert_true(strtoul(c[8], NULL, 10) >= 1);
        n_lines++;
        n_named += ei || eo;
    }
    assert_true(n_lines > 0 && n_named > 0 && n_named < n_lines); /* both cases seen */
    free(out);
    done(&im);
}

static void test_application_tags(void **state)
{
    (void)state;
    imported im;
    import(NBAR, &im);
    char args[4600], *out = NULL;
    snprintf(args, sizeof(args), "-r %s -q -o 'fmt:%%nbid|%%appn|%%appd|%%nbnam|%%inam|%%onam'", im.data);
    assert_int_equal(qt_query(args, &out, NULL), 0);
    size_t n_lines = 0, n_named = 0;
    for (char *save = NULL, *l = strtok_r(out, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
        char *c[6];
        size_t k = cells(l, c, 6);
        assert_true(k >= 4); /* %inam %onam print nothing: no interface names */
        unsigned engine, sel;
        assert_int_equal(sscanf(c[0], "%u..%u", &engine, &sel), 2);
        const flow_name *e = flow_names_find(&im.t, FLOW_NAME_APP, engine << 24 | sel);
        assert_string_equal(trim(c[1]), e && *e->name ? e->name : "-");
        assert_string_equal(c[2], e && *e->desc ? e->desc : "-");
        char want[300];
        if (e)
            snprintf(want, sizeof(want), "%s/%s", e->name, e->desc);
        assert_string_equal(c[3], e ? want : "<no info>");
        n_lines++;
        n_named += e != NULL;
    }
    assert_true(n_lines > 0 && n_named > 0 && n_named < n_lines);
    free(out);
    done(&im);
}

static void test_long_extended_json_show_names(void **state)
{
    (void)state;
    imported im;
    import(NBAR, &im);
    const flow_name *e = NULL;
    for (size_t i = 0; i < im.t.n && !e; i++)
        if (im.t.e[i].kind == FLOW_NAME_APP && strcmp(im.t.e[i].name, "icmp") == 0)
            e = &im.t.e[i];
    assert_non_null(e); /* the capture has ICMP flows of engine 1 selector 1 */
    char args[4600], *out = NULL, want[300];
    const char *formats[] = {"long", "extended"};
    for (int f = 0; f < 2; f++) {
        snprintf(args, sizeof(args), "-r %s -o %s 'proto icmp'", im.data, formats[f]);
        assert_int_equal(qt_query(args, &out, NULL), 0);
        assert_non_null(strstr(out, "In interface     Out interface    Application     \n"));
        snprintf(want, sizeof(want), " %-16s\n", e->name);
        assert_non_null(strstr(out, want));
        free(out);
    }
    snprintf(args, sizeof(args), "-r %s -o json 'proto icmp'", im.data);
    assert_int_equal(qt_query(args, &out, NULL), 0);
    snprintf(want, sizeof(want), "\t\"app_name\" : \"%s\",\n\t\"app_desc\" : \"%s\",\n", e->name, e->desc);
    assert_non_null(strstr(out, want));
    free(out);
    snprintf(args, sizeof(args), "-r %s -o ndjson 'proto icmp'", im.data);
    assert_int_equal(qt_query(args, &out, NULL), 0);
    snprintf(want, sizeof(want), "\"app_name\":\"%s\",\"app_desc\":\"%s\",", e->name, e->desc);
    assert_non_null(strstr(out, want));
    free(out);
    /* csv keeps nfdump's 48 columns */
    snprintf(args, sizeof(args), "-r %s -o csv -c 1", im.data);
    assert_int_equal(qt_query(args, &out, NULL), 0);
    assert_null(strstr(out, "icmp,"));
    assert_non_null(strstr(out, ",ra,eng,exid,tr\n"));
    free(out);
    done(&im);
}

/* The first file under dir whose name ends with suffix, into out. */
static int find_file(const char *dir, const char *suffix, char *out, size_t len)
{
    char cmd[4400];
    snprintf(cmd, sizeof(cmd), "find '%s' -name '*%s' | sort | head -1", dir, suffix);
    char *o = NULL;
    if (tu_run(cmd, &o) != 0 || !o || !*o) {
        free(o);
        return -1;
    }
    o[strcspn(o, "\n")] = '\0';
    snprintf(out, len, "%s", o);
    free(o);
    return 0;
}

static void test_every_path_finds_names(void **state)
{
    (void)state;
    imported im;
    import(NBAR, &im);
    char seg[4400], paths[4][4400];
    assert_int_equal(find_file(im.data, ".seg", seg, sizeof(seg)), 0);
    snprintf(paths[0], sizeof(paths[0]), "%s", seg);
    snprintf(paths[1], sizeof(paths[1]), "%.*s", (int)(strrchr(seg, '/') - seg), seg); /* day directory */
    snprintf(paths[2], sizeof(paths[2]), "%s/default", im.data);
    snprintf(paths[3], sizeof(paths[3]), "%s", im.data);
    for (int i = 0; i < 4; i++) {
        char args[4600], *out = NULL;
        snprintf(args, sizeof(args), "-r %.4400s -q -o ndjson 'proto icmp'", paths[i]);
        assert_int_equal(qt_query(args, &out, NULL), 0);
        if (!strstr(out, "\"app_name\":"))
            fail_msg("no names for -r %s", paths[i]);
        free(out);
    }
    done(&im);
}

static void test_damaged_names_file_reported(void **state)
{
    (void)state;
    imported im;
    import(NBAR, &im);
    FILE *f = fopen(im.names_file, "r+b");
    assert_non_null(f);
    assert_int_equal(fseek(f, 40, SEEK_SET), 0);
    fputc('\x01', f);
    fclose(f);
    char args[4600], *out = NULL, *err = NULL;
    snprintf(args, sizeof(args), "-r %s -o long", im.data);
    assert_int_equal(qt_query(args, &out, &err), 0);
    assert_non_null(strstr(err, im.names_file));
    assert_non_null(strstr(err, ": line "));
    assert_non_null(strstr(err, "names file ignored"));
    assert_null(strstr(out, "Application")); /* no names: nfdump's long */
    free(out);
    free(err);
    done(&im);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_interface_tags),
        cmocka_unit_test(test_application_tags),
        cmocka_unit_test(test_long_extended_json_show_names),
        cmocka_unit_test(test_every_path_finds_names),
        cmocka_unit_test(test_damaged_names_file_reported),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
