/*
 * fuzz/fuzz_names_file.c - libFuzzer target for the names file parser
 * (flow_names_parse: the DATADIR/.names/ files the collector reads at start
 * and `cloudflow query` reads for its output).  The input is a names file;
 * if it parses, the table is saved again and the saved bytes must parse to
 * the same entries (round trip), and every entry must satisfy the table's
 * invariants (sorted, unique, sanitised text within bounds).  The raw input
 * is also sanitised as if it were a received string.
 * Seeds: fuzz/corpus/names_file/ (names files of shared captures, imported).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flow/names.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_text(const char *s)
{
    size_t n = strlen(s);
    if (n > FLOW_NAME_MAX_TEXT)
        abort();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char san[FLOW_NAME_MAX_TEXT + 1];
    flow_names_sanitize(data, size, san, sizeof(san));
    check_text(san);

    flow_names t;
    flow_names_init(&t, 64);
    uint8_t addr[16];
    uint16_t port;
    char err[160];
    if (flow_names_parse((const char *)data, size, &t, addr, &port, err, sizeof(err)) != CF_OK) {
        if (strncmp(err, "line ", 5) != 0 && strncmp(err, "file larger", 11) != 0)
            abort(); /* every refusal names its line */
        flow_names_free(&t);
        return 0;
    }
    for (size_t i = 0; i < t.n; i++) {
        check_text(t.e[i].name);
        check_text(t.e[i].desc);
        if (i && ((uint64_t)t.e[i - 1].kind << 32 | t.e[i - 1].key) >= ((uint64_t)t.e[i].kind << 32 | t.e[i].key))
            abort();
    }
    char *buf;
    size_t len;
    if (flow_names_save(&t, addr, port, &buf, &len) != CF_OK)
        abort();
    flow_names back;
    flow_names_init(&back, 64);
    uint8_t a2[16];
    uint16_t p2;
    if (flow_names_parse(buf, len, &back, a2, &p2, err, sizeof(err)) != CF_OK || back.n != t.n || p2 != port ||
        memcmp(a2, addr, 16) != 0)
        abort();
    for (size_t i = 0; i < t.n; i++)
        if (back.e[i].key != t.e[i].key || back.e[i].kind != t.e[i].kind || strcmp(back.e[i].name, t.e[i].name) ||
            strcmp(back.e[i].desc, t.e[i].desc))
            abort();
    free(buf);
    flow_names_free(&back);
    flow_names_free(&t);
    return 0;
}
